"""The editorial workflow of news articles, scheduled publishing, recommending upward.

Every function is one transaction, checks the role it needs at the article's union
(`Perm.NEWS_WRITE` to write and submit, `NEWS_EDIT` for the editor, `NEWS_APPROVE` for
the responsible editor), keeps a revision of every text it saves and writes the audit
log. Bodies are sanitised before they are stored; titles are plain text.
"""

from __future__ import annotations

import datetime
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import nh3
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from gonghui.audit.models import AuditAction
from gonghui.audit.services import record
from gonghui.core.errors import ConcurrentEditError
from gonghui.core.uploads import IMAGE_TYPES, VIDEO_TYPES, check_upload
from gonghui.news import figures
from gonghui.news.models import (
    DEFAULT_CHANNELS,
    IMAGE_MAX_BYTES,
    VIDEO_MAX_BYTES,
    Article,
    ArticleImage,
    ArticleStatus,
    Channel,
    Revision,
)
from gonghui.notices.services import ALLOWED_ATTRIBUTES, ALLOWED_TAGS
from gonghui.orgs import scoping
from gonghui.orgs.models import Org
from gonghui.orgs.scoping import Perm
from gonghui.stats import services as stats

# Article bodies may also hold images (uploaded ones are served by the app).
BODY_TAGS = ALLOWED_TAGS | {"img", "figure", "figcaption"}
BODY_ATTRIBUTES = {**ALLOWED_ATTRIBUTES, "img": {"src", "alt", "title"}}


def sanitise_body(html: str) -> str:
    return nh3.clean(
        html or "",
        tags=BODY_TAGS,
        attributes=BODY_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
    )


def plain_text(text: str, limit: int) -> str:
    """A title or a byline: no markup at all, one line."""
    cleaned = nh3.clean(text or "", tags=set())
    # nh3 escapes what it keeps; a title is stored as text and escaped by the template.
    cleaned = cleaned.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    cleaned = cleaned.replace("&quot;", '"').replace("&#39;", "'")
    return " ".join(cleaned.replace("<", "").replace(">", "").split())[:limit]


# --- who may do what --------------------------------------------------------------------


def _require(actor: Any, perm: str, org: Org, message: str) -> None:
    if scoping.can(actor, perm, org):
        return
    if scoping.can(actor, Perm.ORG_VIEW, org):
        raise PermissionDenied(message)
    raise Http404


def can_write(user: Any, article: Article) -> bool:
    return scoping.can(user, Perm.NEWS_WRITE, article.org)


def can_edit(user: Any, article: Article) -> bool:
    return scoping.can(user, Perm.NEWS_EDIT, article.org)


def can_approve(user: Any, article: Article) -> bool:
    return scoping.can(user, Perm.NEWS_APPROVE, article.org)


def _locked(article: Article, version: int | None = None) -> Article:
    fresh = Article.objects.select_for_update().select_related("org", "channel").get(pk=article.pk)
    if version is not None and fresh.version != version:
        raise ConcurrentEditError(
            _("Someone else changed this article in the meantime. Reload it and try again."),
            code="stale",
        )
    return fresh


def _audit(actor: Any, article: Article, action: str, summary: str) -> None:
    record(actor=actor, action=action, target=article, org=article.org, summary=summary)


# --- channels ---------------------------------------------------------------------------


def channels_of(org: Org) -> list[Channel]:
    """The union's channels, created with the defaults the first time they are needed."""
    channels = list(Channel.objects.filter(org=org))
    if channels:
        return channels
    for position, (code, name) in enumerate(DEFAULT_CHANNELS):
        Channel.objects.get_or_create(
            org=org, code=code, defaults={"name": name, "position": position}
        )
    return list(Channel.objects.filter(org=org))


@transaction.atomic
def add_channel(actor: Any, *, org: Org, code: str, name: str) -> Channel:
    _require(actor, Perm.NEWS_APPROVE, org, _("Only the responsible editor sets up channels."))
    code = (code or "").strip().lower()
    name = " ".join((name or "").split())[:30]
    if not code.replace("-", "").isalnum() or not name:
        raise ValidationError(
            _("Give the channel a code (letters, digits) and a name."), code="channel"
        )
    channels_of(org)
    try:
        with transaction.atomic():
            channel = Channel.objects.create(
                org=org, code=code[:30], name=name, position=Channel.objects.filter(org=org).count()
            )
    except IntegrityError as exc:
        raise ValidationError(_("This union already has that channel."), code="duplicate") from exc
    record(actor=actor, action=AuditAction.CREATE, target=channel, org=org, summary=name)
    return channel


# --- writing ----------------------------------------------------------------------------


@dataclass
class ArticleInput:
    channel_id: int
    title: str
    byline: str
    body: str
    subtitle: str = ""
    summary: str = ""
    tags: list[str] = field(default_factory=list)
    source: str = ""
    video_url: str = ""
    cover: Any = None
    video: Any = None
    publish_at: datetime.datetime | None = None


def _clean(org: Org, data: ArticleInput) -> ArticleInput:
    errors: dict[str, list[ValidationError]] = {}

    def fail(name: str, message: str, code: str) -> None:
        errors.setdefault(name, []).append(ValidationError(message, code=code))

    data.title = plain_text(data.title, 120)
    data.subtitle = plain_text(data.subtitle, 160)
    data.byline = plain_text(data.byline, 60)
    data.summary = plain_text(data.summary, 300)
    data.source = plain_text(data.source, 100)
    data.body = sanitise_body(data.body)
    data.tags = sorted({plain_text(t, 20) for t in data.tags if plain_text(t, 20)})[:10]
    if not data.title:
        fail("title", _("Give the article a title."), "title")
    if not data.byline:
        fail("byline", _("Name the author."), "byline")
    if not plain_text(data.body, 10_000):
        fail("body", _("Write the article."), "body")
    if not Channel.objects.filter(pk=data.channel_id, org=org).exists():
        fail("channel_id", _("Choose one of this union's channels."), "channel")
    url = (data.video_url or "").strip()
    if url and urlparse(url).scheme not in ("http", "https"):
        fail("video_url", _("A video link starts with http:// or https://."), "video_url")
    data.video_url = url
    if errors:
        raise ValidationError(errors)
    if data.cover is not None:
        check_upload(data.cover, allowed=IMAGE_TYPES, max_bytes=IMAGE_MAX_BYTES)
    if data.video is not None:
        check_upload(data.video, allowed=VIDEO_TYPES, max_bytes=VIDEO_MAX_BYTES)
    return data


def _save_files(article: Article, data: ArticleInput) -> None:
    if data.cover is not None:
        suffix = Path(data.cover.name or "").suffix.lower()
        article.cover.save(f"{secrets.token_hex(8)}{suffix}", data.cover, save=False)
    if data.video is not None:
        article.video.save(f"{secrets.token_hex(8)}.mp4", data.video, save=False)


def _revision(article: Article, actor: Any, note: str = "") -> Revision:
    number = (
        article.revisions.order_by("-number").values_list("number", flat=True).first() or 0
    ) + 1
    return Revision.objects.create(
        article=article,
        number=number,
        title=article.title,
        subtitle=article.subtitle,
        byline=article.byline,
        body=article.body,
        step=article.status,
        by=scoping.as_user(actor),
        at=timezone.now(),
        note=note[:300],
    )


@transaction.atomic
def create_article(actor: Any, *, org: Org, data: ArticleInput) -> Article:
    _require(actor, Perm.NEWS_WRITE, org, _("You may not write articles for this union."))
    channels_of(org)
    data = _clean(org, data)
    article = Article(
        org=org,
        channel_id=data.channel_id,
        title=data.title,
        subtitle=data.subtitle,
        byline=data.byline,
        body=data.body,
        summary=data.summary,
        tags=data.tags,
        source=data.source,
        video_url=data.video_url,
        created_by=scoping.as_user(actor),
    )
    _save_files(article, data)
    article.save()
    _revision(article, actor)
    _audit(actor, article, AuditAction.CREATE, _("Article drafted"))
    return article


@transaction.atomic
def update_article(actor: Any, article: Article, *, data: ArticleInput, version: int) -> Article:
    """The author changes a draft (or a returned article); the editor edits a submitted
    one, which makes it edited. Each save is a revision."""
    article = _locked(article, version)
    if article.status in (ArticleStatus.DRAFT, ArticleStatus.RETURNED):
        _require(actor, Perm.NEWS_WRITE, article.org, _("You may not change this article."))
        step = article.status
    elif article.status in (ArticleStatus.SUBMITTED, ArticleStatus.EDITED):
        _require(
            actor, Perm.NEWS_EDIT, article.org, _("Only an editor changes a submitted article.")
        )
        step = ArticleStatus.EDITED
    else:
        raise ValidationError(
            _("An approved or published article cannot be changed; withdraw it first."),
            code="status",
        )
    data = _clean(article.org, data)
    for name in (
        "channel_id",
        "title",
        "subtitle",
        "byline",
        "body",
        "summary",
        "tags",
        "source",
        "video_url",
    ):
        setattr(article, name, getattr(data, name))
    _save_files(article, data)
    if step == ArticleStatus.EDITED:
        article.editor = scoping.as_user(actor)
        article.edited_at = timezone.now()
    article.status = step
    article.version = F("version") + 1
    article.save()
    article.refresh_from_db()
    _revision(article, actor)
    _audit(
        actor,
        article,
        AuditAction.UPDATE,
        _("Article edited") if step == ArticleStatus.EDITED else _("Article changed"),
    )
    return article


@transaction.atomic
def add_image(actor: Any, article: Article, *, upload: Any) -> ArticleImage:
    _require(actor, Perm.NEWS_WRITE, article.org, _("You may not change this article."))
    name, content_type = check_upload(upload, allowed=IMAGE_TYPES, max_bytes=IMAGE_MAX_BYTES)
    image = ArticleImage(article=article, name=name, content_type=content_type, size=upload.size)
    image.file.save(f"{secrets.token_hex(8)}{Path(name).suffix.lower()}", upload, save=False)
    image.save()
    _audit(actor, article, AuditAction.UPDATE, _("Image added"))
    return image


def _step(
    actor: Any,
    article: Article,
    *,
    perm: str,
    allowed: tuple[str, ...],
    to: str,
    message: str,
    summary: str,
    version: int | None = None,
) -> Article:
    _require(actor, perm, article.org, message)
    article = _locked(article, version)
    if article.status not in allowed:
        raise ValidationError(
            _("This cannot be done while the article is %(status)s.")
            % {"status": article.get_status_display()},
            code="status",
        )
    article.status = to
    article.version += 1
    return article


@transaction.atomic
def submit_article(actor: Any, article: Article, *, version: int | None = None) -> Article:
    article = _step(
        actor,
        article,
        perm=Perm.NEWS_WRITE,
        allowed=(ArticleStatus.DRAFT, ArticleStatus.RETURNED),
        to=ArticleStatus.SUBMITTED,
        message=_("You may not submit this article."),
        summary="",
        version=version,
    )
    article.submitted_at = timezone.now()
    article.return_note = ""
    article.save()
    _audit(actor, article, AuditAction.UPDATE, _("Article submitted"))
    return article


@transaction.atomic
def return_article(actor: Any, article: Article, *, note: str) -> Article:
    """An editor or the responsible editor sends it back to the author, saying why."""
    note = (note or "").strip()
    if not note:
        raise ValidationError(_("Say what the author should change."), code="note")
    article = _step(
        actor,
        article,
        perm=Perm.NEWS_EDIT,
        allowed=(ArticleStatus.SUBMITTED, ArticleStatus.EDITED, ArticleStatus.APPROVED),
        to=ArticleStatus.RETURNED,
        message=_("Only an editor returns an article."),
        summary="",
    )
    article.return_note = note[:300]
    article.publish_at = None
    article.save()
    _revision(article, actor, note=note)
    _audit(
        actor, article, AuditAction.UPDATE, _("Article returned: %(note)s") % {"note": note[:200]}
    )
    return article


@transaction.atomic
def approve_article(
    actor: Any,
    article: Article,
    *,
    publish_at: datetime.datetime | None = None,
    version: int | None = None,
) -> Article:
    """The responsible editor approves an edited article: published now, or by the worker
    at `publish_at`."""
    article = _step(
        actor,
        article,
        perm=Perm.NEWS_APPROVE,
        allowed=(ArticleStatus.EDITED,),
        to=ArticleStatus.APPROVED,
        message=_("Only the responsible editor approves articles."),
        summary="",
        version=version,
    )
    now = timezone.now()
    article.chief_editor = scoping.as_user(actor)
    article.approved_at = now
    article.publish_at = publish_at if publish_at and publish_at > now else None
    article.save()
    _audit(actor, article, AuditAction.UPDATE, _("Article approved"))
    if article.publish_at is None:
        _publish(article, now)
    return article


def _publish(article: Article, now: datetime.datetime) -> None:
    article.status = ArticleStatus.PUBLISHED
    article.published_at = now
    article.published_on = timezone.localdate(now)
    article.save(update_fields=["status", "published_at", "published_on", "version"])
    stats.emit_counts(figures.published_counts(article, +1))
    record(
        actor=scoping.SYSTEM if article.chief_editor_id is None else article.chief_editor,
        action=AuditAction.UPDATE,
        target=article,
        org=article.org,
        summary=_("Article published"),
    )


def publish_due(now: datetime.datetime | None = None) -> int:
    """Run by `gonghui worker`: publish approved articles whose time has come — each once,
    under a row lock, whatever restarts or runs twice."""
    now = now or timezone.now()
    published = 0
    due = Article.objects.filter(status=ArticleStatus.APPROVED, publish_at__lte=now)
    for pk in due.values_list("pk", flat=True):
        with transaction.atomic():
            article = Article.objects.select_for_update().filter(pk=pk).first()
            if article is None or article.status != ArticleStatus.APPROVED:
                continue
            if article.publish_at is None or article.publish_at > now:
                continue
            _publish(article, now)
            published += 1
    return published


@transaction.atomic
def withdraw_article(actor: Any, article: Article, *, reason: str) -> Article:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(_("Say why the article is withdrawn."), code="reason")
    _require(
        actor, Perm.NEWS_APPROVE, article.org, _("Only the responsible editor withdraws articles.")
    )
    article = _locked(article)
    # Read under the lock: a concurrent publish or withdrawal is seen here.
    was_published = article.status == ArticleStatus.PUBLISHED
    if article.status not in (ArticleStatus.PUBLISHED, ArticleStatus.APPROVED):
        raise ValidationError(
            _("This cannot be done while the article is %(status)s.")
            % {"status": article.get_status_display()},
            code="status",
        )
    article.status = ArticleStatus.WITHDRAWN
    article.version += 1
    article.withdrawn_at = timezone.now()
    article.withdrawn_reason = reason[:300]
    article.save()
    if was_published:
        stats.emit_counts(figures.published_counts(article, -1))
    _audit(
        actor,
        article,
        AuditAction.UPDATE,
        _("Article withdrawn: %(reason)s") % {"reason": reason[:200]},
    )
    return article


@transaction.atomic
def recommend_upward(actor: Any, article: Article, *, channel: Channel | None = None) -> Article:
    """Offer a published article to the parent union: a submitted copy in the parent's
    channel (基层动态 unless chosen), linked to its origin."""
    _require(actor, Perm.NEWS_WRITE, article.org, _("You may not recommend this article."))
    if article.status != ArticleStatus.PUBLISHED:
        raise ValidationError(_("Only a published article can be recommended."), code="status")
    parent = article.org.parent
    if parent is None:
        raise ValidationError(_("There is no union above this one."), code="no_parent")
    channels = channels_of(parent)
    if channel is None:
        channel = next((c for c in channels if c.code == "grassroots"), channels[0])
    elif channel.org_id != parent.pk:
        raise ValidationError(_("Choose one of the parent union's channels."), code="channel")
    today = timezone.localdate()
    try:
        with transaction.atomic():
            copy = Article.objects.create(
                org=parent,
                channel=channel,
                title=article.title,
                subtitle=article.subtitle,
                byline=article.byline,
                body=article.body,
                summary=article.summary,
                tags=article.tags,
                source=article.org.name,
                video_url=article.video_url,
                cover=article.cover.name if article.cover else "",
                origin=article,
                status=ArticleStatus.SUBMITTED,
                submitted_at=timezone.now(),
                recommended_on=today,
                created_by=scoping.as_user(actor),
            )
    except IntegrityError as exc:
        raise ValidationError(_("This article was recommended already."), code="duplicate") from exc
    _revision(copy, actor, note=_("Recommended by %(org)s") % {"org": article.org.name})
    stats.emit(metric=figures.RECOMMENDED, org_id=article.org_id, day=today)
    _audit(actor, article, AuditAction.CREATE, _("Recommended to %(org)s") % {"org": parent.name})
    return copy
