"""Practical things a union publicly promises to do for workers (我为职工办实事).

A union (any org) drafts a Pledge — what it will do, for whom, by when, with an optional
numeric target ("为100名一线职工免费体检": 100 人) — and publishes it: from then on every
member below it sees the promise, its progress and its outcome. Cadres report progress
(PledgeUpdate, with photos), and finally complete it (办结, with a closing note, on time
or late) or cancel it with a reason. Workers comment; a cadre may hide a comment with a
reason, and the comment is kept.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from gonghui.orgs.scoping import ScopedQuerySet

COMMENT_MAX_CHARS = 500
TEXT_MAX_CHARS = 2000
PHOTO_MAX_BYTES = 10 * 1024 * 1024
PHOTOS_PER_UPDATE = 9


class PledgeCategory(models.TextChoices):
    SKILLS = "skills", _("Skills training")
    PROTECTION = "protection", _("Labour protection")
    SERVICES = "services", _("Daily-life services")
    HARDSHIP = "hardship", _("Hardship aid")
    CULTURE = "culture", _("Culture and sports")
    OTHER = "other", _("Other")


class PledgeStatus(models.TextChoices):
    DRAFT = "draft", pgettext_lazy("pledge status", "Draft")
    PUBLISHED = "published", pgettext_lazy("pledge status", "Under way")
    COMPLETED = "completed", pgettext_lazy("pledge status", "Completed")
    CANCELLED = "cancelled", pgettext_lazy("pledge status", "Cancelled")


# What workers see: the promise is public from publication on.
PUBLIC_STATUSES = (PledgeStatus.PUBLISHED, PledgeStatus.COMPLETED)


class Pledge(models.Model):
    # CASCADE: only a union created by mistake is ever deleted (orgs.services.delete_org,
    # which also forgets its figures); a real one is dissolved and keeps its pledges.
    # No index of its own: `pledge_org_status_idx` leads with it.
    org = models.ForeignKey(
        "orgs.Org",
        verbose_name=_("union"),
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
    )
    title = models.CharField(_("title"), max_length=200)
    # Sanitised HTML (notices.services.sanitise_html): shown as it is stored.
    description = models.TextField(pgettext_lazy("pledge", "description"), blank=True, default="")
    category = models.CharField(_("category"), max_length=12, choices=PledgeCategory.choices)
    target = models.CharField(
        _("target"),
        max_length=200,
        help_text=_("What will be done, for whom, e.g. 为100名一线职工免费体检."),
    )
    target_value = models.PositiveIntegerField(
        _("numeric target"),
        null=True,
        blank=True,
        help_text=_("Optional: the number to reach, e.g. 100. Progress is shown against it."),
    )
    target_unit = models.CharField(
        _("unit of the target"),
        max_length=20,
        blank=True,
        default="",
        help_text=_("e.g. 人, 场, 万元"),
    )
    deadline = models.DateField(_("deadline"))
    status = models.CharField(
        _("status"), max_length=10, choices=PledgeStatus.choices, default=PledgeStatus.DRAFT
    )
    # The latest value reached (PledgeUpdate.progress of the latest update).
    progress = models.PositiveIntegerField(_("progress"), default=0, editable=False)
    closing_note = models.TextField(_("closing note"), blank=True, default="", editable=False)
    cancelled_reason = models.CharField(max_length=200, blank=True, default="", editable=False)
    version = models.PositiveIntegerField(default=1, editable=False)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    published_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The local days the figures count on (pledges.published, pledges.completed).
    published_on = models.DateField(null=True, blank=True, editable=False)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    completed_at = models.DateTimeField(null=True, blank=True, editable=False)
    completed_on = models.DateField(null=True, blank=True, editable=False)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    cancelled_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ScopedQuerySet.as_manager()
    scope_org_field = "org"

    class Meta:
        verbose_name = _("pledge")
        verbose_name_plural = _("pledges")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["org", "status"], name="pledge_org_status_idx"),
            models.Index(fields=["status", "deadline"], name="pledge_status_deadline_idx"),
        ]
        constraints = [
            # Published and completed pledges count on their days: the days must be there.
            models.CheckConstraint(
                condition=models.Q(status__in=["draft", "cancelled"])
                | models.Q(published_on__isnull=False),
                name="pledge_public_has_published_on",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="completed") | models.Q(completed_on__isnull=False),
                name="pledge_completed_has_completed_on",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="cancelled") | ~models.Q(cancelled_reason=""),
                name="pledge_cancelled_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_draft(self) -> bool:
        return self.status == PledgeStatus.DRAFT

    @property
    def is_public(self) -> bool:
        return self.status in PUBLIC_STATUSES

    @property
    def percent(self) -> int | None:
        """Progress against the numeric target, 0..100 (None without a target)."""
        if not self.target_value:
            return None
        return min(100, self.progress * 100 // self.target_value)

    @property
    def is_overdue(self) -> bool:
        """Published and past its deadline, not completed yet."""
        return self.status == PledgeStatus.PUBLISHED and self.deadline < timezone.localdate()

    @property
    def days_left(self) -> int:
        return (self.deadline - timezone.localdate()).days

    @property
    def light(self) -> str:
        """Traffic light of a pledge under way: red overdue, yellow within a week, else
        green; completed ones green when on time, else yellow."""
        if self.status == PledgeStatus.COMPLETED:
            return "green" if self.on_time else "yellow"
        if self.status != PledgeStatus.PUBLISHED:
            return ""
        if self.is_overdue:
            return "red"
        return "yellow" if self.days_left <= 7 else "green"

    @property
    def on_time(self) -> bool | None:
        """Completed on or before the deadline (None while not completed)."""
        if self.completed_on is None:
            return None
        return completed_on_time(self.completed_on, self.deadline)


def completed_on_time(completed_on: datetime.date, deadline: datetime.date) -> bool:
    return completed_on <= deadline


class PledgeUpdate(models.Model):
    """A progress report: what was done, the value reached, on which day, by whom."""

    # No index of its own: `pledge_update_day_idx` leads with it.
    pledge = models.ForeignKey(
        Pledge, on_delete=models.CASCADE, related_name="updates", db_index=False
    )
    text = models.TextField(_("what was done"))
    progress = models.PositiveIntegerField(_("progress"))
    # The value before this update: a lower new value is a declared correction.
    previous = models.PositiveIntegerField(default=0, editable=False)
    correction = models.BooleanField(default=False, editable=False)
    day = models.DateField(_("date"))
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-day", "-id"]
        indexes = [models.Index(fields=["pledge", "day"], name="pledge_update_day_idx")]

    def __str__(self) -> str:
        return f"{self.pledge_id}: {self.progress} ({self.day})"


class PledgePhoto(models.Model):
    update = models.ForeignKey(PledgeUpdate, on_delete=models.CASCADE, related_name="photos")
    # Stored under a random name; served only by a view that checks who may see it.
    file = models.FileField(upload_to="pledges/%Y/%m/")
    name = models.CharField(_("file name"), max_length=200)
    size = models.PositiveIntegerField()
    content_type = models.CharField(max_length=100)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class PledgeComment(models.Model):
    """A worker's comment. Hidden by a cadre, it stays (with who, when and why)."""

    # No index of its own: `pledge_comment_idx` leads with it.
    pledge = models.ForeignKey(
        Pledge, on_delete=models.CASCADE, related_name="comments", db_index=False
    )
    member = models.ForeignKey("orgs.Member", on_delete=models.CASCADE, related_name="+")
    text = models.CharField(pgettext_lazy("pledge", "comment"), max_length=COMMENT_MAX_CHARS)
    created_at = models.DateTimeField(default=timezone.now)
    hidden = models.BooleanField(default=False, editable=False)
    hidden_reason = models.CharField(max_length=200, blank=True, default="", editable=False)
    hidden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    hidden_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["pledge", "hidden", "created_at"], name="pledge_comment_idx")
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(hidden=False) | ~models.Q(hidden_reason=""),
                name="pledge_comment_hidden_has_reason",
            )
        ]

    def __str__(self) -> str:
        return f"{self.member_id} on {self.pledge_id}"
