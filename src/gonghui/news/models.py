"""News and publicity (新闻 / 宣传): articles of a union's site, through its editorial chain.

An `Article` belongs to a union and one of its `Channel`s (要闻, 基层动态, 视讯, 通知公告…,
configurable per union). It goes draft → submitted → edited (an editor, who may change
the text; every saved version is a `Revision`, so any two can be compared) → approved by
the responsible editor → published (now, or at a set time by the worker) → withdrawn with
a reason if needed. The published page names 作者 (a byline), 编辑 and 责任编辑.

A lower union's article can be recommended to its parent's channel: a new article of the
parent, linked to its origin (`origin`), which the parent's editors take through their
own workflow.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from gonghui.orgs.scoping import ScopedQuerySet

IMAGE_MAX_BYTES = 5 * 1024 * 1024
VIDEO_MAX_BYTES = 200 * 1024 * 1024

# Channels every union's site starts with (code, name); a union may add its own.
DEFAULT_CHANNELS = (
    ("news", "要闻"),
    ("grassroots", "基层动态"),
    ("video", "视讯"),
    ("notices", "通知公告"),
)


class Channel(models.Model):
    # No index of its own: `one_channel_code_per_org` leads with it.
    org = models.ForeignKey(
        "orgs.Org",
        verbose_name=_("union"),
        on_delete=models.CASCADE,
        related_name="channels",
        db_index=False,
    )
    code = models.SlugField(_("code"), max_length=30)
    name = models.CharField(_("name"), max_length=30)
    position = models.PositiveSmallIntegerField(default=0)

    objects = ScopedQuerySet.as_manager()
    scope_org_field = "org"

    class Meta:
        verbose_name = _("channel")
        verbose_name_plural = _("channels")
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["org", "code"], name="one_channel_code_per_org")
        ]

    def __str__(self) -> str:
        return self.name


class ArticleStatus(models.TextChoices):
    DRAFT = "draft", pgettext_lazy("article status", "Draft")
    SUBMITTED = "submitted", pgettext_lazy("article status", "Submitted")
    EDITED = "edited", pgettext_lazy("article status", "Edited")
    APPROVED = "approved", pgettext_lazy("article status", "Approved")
    PUBLISHED = "published", pgettext_lazy("article status", "Published")
    WITHDRAWN = "withdrawn", pgettext_lazy("article status", "Withdrawn")
    RETURNED = "returned", pgettext_lazy("article status", "Returned")


class Article(models.Model):
    org = models.ForeignKey(
        "orgs.Org", verbose_name=_("union"), on_delete=models.PROTECT, related_name="+"
    )
    # No index of its own: `article_channel_idx` leads with it.
    channel = models.ForeignKey(
        Channel,
        verbose_name=_("channel"),
        on_delete=models.PROTECT,
        related_name="articles",
        db_index=False,
    )
    title = models.CharField(_("title"), max_length=120)
    subtitle = models.CharField(_("subtitle"), max_length=160, blank=True, default="")
    byline = models.CharField(_("author"), max_length=60)
    body = models.TextField(_("body"), blank=True, default="")
    summary = models.CharField(_("summary"), max_length=300, blank=True, default="")
    cover = models.ImageField(_("cover image"), upload_to="news/covers/%Y/%m/", blank=True)
    video = models.FileField(_("video"), upload_to="news/videos/%Y/%m/", blank=True)
    video_url = models.URLField(_("video link"), blank=True, default="")
    tags = models.JSONField(_("tags"), default=list, blank=True)
    source = models.CharField(
        _("source"), max_length=100, blank=True, default="", help_text=_("When reprinted.")
    )
    status = models.CharField(
        _("status"), max_length=10, choices=ArticleStatus.choices, default=ArticleStatus.DRAFT
    )
    # Recommended upward: this article is the parent's copy of `origin`.
    origin = models.ForeignKey(
        "self",
        verbose_name=_("recommended from"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="recommendations",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    recommended_on = models.DateField(null=True, blank=True, editable=False)
    submitted_at = models.DateTimeField(null=True, blank=True)
    editor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("editor"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    edited_at = models.DateTimeField(null=True, blank=True)
    chief_editor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("responsible editor"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    # Published now, or by the worker once this moment has passed.
    publish_at = models.DateTimeField(_("publish at"), null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    published_on = models.DateField(null=True, blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_reason = models.CharField(max_length=300, blank=True, default="")
    return_note = models.CharField(max_length=300, blank=True, default="")
    version = models.PositiveIntegerField(default=1, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ScopedQuerySet.as_manager()
    scope_org_field = "org"

    class Meta:
        verbose_name = _("article")
        verbose_name_plural = _("articles")
        ordering = ["-published_at", "-created_at", "-id"]
        indexes = [
            models.Index(fields=["channel", "status", "-published_at"], name="article_channel_idx"),
            models.Index(fields=["status", "publish_at"], name="article_schedule_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["origin", "org"],
                condition=Q(origin__isnull=False),
                name="one_recommendation_per_parent",
            )
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_public(self) -> bool:
        return self.status == ArticleStatus.PUBLISHED


class Revision(models.Model):
    """One saved version of an article's text, by whom and in which step."""

    # No index of its own: `one_revision_number` leads with it.
    article = models.ForeignKey(
        Article, on_delete=models.CASCADE, related_name="revisions", db_index=False
    )
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=120)
    subtitle = models.CharField(max_length=160, blank=True, default="")
    byline = models.CharField(max_length=60)
    body = models.TextField(blank=True, default="")
    step = models.CharField(max_length=10, choices=ArticleStatus.choices)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField()
    note = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(fields=["article", "number"], name="one_revision_number")
        ]

    def __str__(self) -> str:
        return f"{self.article_id} r{self.number}"


class ArticleImage(models.Model):
    """An image uploaded for an article's body (served only while it may be read)."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="images")
    file = models.ImageField(upload_to="news/images/%Y/%m/")
    name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=50)
    size = models.PositiveIntegerField()
    uploaded_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name
