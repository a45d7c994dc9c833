"""Pledges (我为职工办实事): drafting, publishing, progress, completion, cancellation,
workers' comments and hiding them.

Every function here is one transaction, checks the actor's permission (``Perm.PLEDGE_MANAGE``
at the pledge's union for cadres; being a member below the union for a worker's comment),
writes the audit log, and reports to the roll-up engine what counts: published (withdrawn
by a cancellation), completed, completed on time.
"""

from __future__ import annotations

import datetime
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from gonghui.audit.models import AuditAction
from gonghui.audit.services import record
from gonghui.core.errors import ConcurrentEditError
from gonghui.core.uploads import IMAGE_TYPES, check_upload
from gonghui.notices.services import sanitise_html
from gonghui.orgs import scoping
from gonghui.orgs.models import Member, Org
from gonghui.orgs.scoping import Perm
from gonghui.orgs.selectors import member_record_of
from gonghui.pledges import figures
from gonghui.pledges.models import (
    COMMENT_MAX_CHARS,
    PHOTO_MAX_BYTES,
    PHOTOS_PER_UPDATE,
    PUBLIC_STATUSES,
    TEXT_MAX_CHARS,
    Pledge,
    PledgeCategory,
    PledgeComment,
    PledgePhoto,
    PledgeStatus,
    PledgeUpdate,
    completed_on_time,
)
from gonghui.stats import services as stats


@dataclass
class PledgeInput:
    title: str
    category: str
    target: str
    deadline: datetime.date | None
    description: str = ""
    target_value: int | None = None
    target_unit: str = ""


# --- permission ---------------------------------------------------------------------------


def can_manage(user: Any, pledge: Pledge) -> bool:
    return scoping.can(user, Perm.PLEDGE_MANAGE, pledge.org)


def _require_manage_org(actor: Any, org: Org) -> None:
    if not scoping.can(actor, Perm.PLEDGE_MANAGE, org):
        raise PermissionDenied(_("You may not manage the pledges of %(org)s.") % {"org": org.name})


def _locked(actor: Any, pledge: Pledge) -> Pledge:
    """The pledge's row, locked for this transaction, after the permission check."""
    locked = Pledge.objects.select_for_update().select_related("org").get(pk=pledge.pk)
    _require_manage_org(actor, locked.org)
    return locked


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def _snapshot(pledge: Pledge) -> dict[str, Any]:
    return {
        "title": pledge.title,
        "category": pledge.category,
        "target": pledge.target,
        "target_value": pledge.target_value,
        "target_unit": pledge.target_unit,
        "deadline": pledge.deadline.isoformat() if pledge.deadline else None,
        "status": pledge.status,
        "progress": pledge.progress,
    }


# --- drafting -----------------------------------------------------------------------------


def _clean(data: PledgeInput) -> PledgeInput:
    title = _one_line(data.title)
    if not title:
        raise ValidationError(_("Give the pledge a title."), code="title")
    data.title = title[:200]
    if data.category not in PledgeCategory.values:
        raise ValidationError(_("Choose a category."), code="category")
    target = _one_line(data.target)
    if not target:
        raise ValidationError(_("Say what will be done and for whom."), code="target")
    data.target = target[:200]
    if data.target_value is not None and data.target_value < 1:
        raise ValidationError(_("The numeric target must be at least 1."), code="target_value")
    data.target_unit = _one_line(data.target_unit)[:20]
    if data.target_unit and data.target_value is None:
        raise ValidationError(
            _("A unit goes with a numeric target: give the number too."), code="target_unit"
        )
    if data.deadline is None:
        raise ValidationError(_("Give the deadline."), code="deadline")
    _require_future(data.deadline)
    data.description = sanitise_html(data.description or "")
    return data


def _require_future(deadline: datetime.date) -> None:
    if deadline < timezone.localdate():
        raise ValidationError(
            _("The deadline %(day)s has passed; choose a later day.") % {"day": deadline},
            code="deadline_past",
        )


@transaction.atomic
def create_pledge(*, actor: Any, org: Org, data: PledgeInput) -> Pledge:
    """A cadre of `org` drafts a pledge; nobody below sees it until it is published."""
    _require_manage_org(actor, org)
    if not org.is_active:
        raise ValidationError(_("%(org)s is dissolved.") % {"org": org.name}, code="org_dissolved")
    data = _clean(data)
    assert data.deadline is not None  # _clean refuses a missing one
    pledge = Pledge.objects.create(
        org=org,
        title=data.title,
        description=data.description,
        category=data.category,
        target=data.target,
        target_value=data.target_value,
        target_unit=data.target_unit,
        deadline=data.deadline,
        created_by=scoping.as_user(actor),
    )
    record(
        actor=actor,
        action=AuditAction.CREATE,
        target=pledge,
        org=org,
        summary=_("Drafted pledge “%(title)s”") % {"title": pledge.title},
        after=_snapshot(pledge),
    )
    return pledge


@transaction.atomic
def update_pledge(*, actor: Any, pledge: Pledge, data: PledgeInput, version: int) -> Pledge:
    """Edit a draft. A form read before someone else's save is refused (nothing lost)."""
    pledge = _locked(actor, pledge)
    if not pledge.is_draft:
        raise ValidationError(
            _("Only a draft can be edited: a published pledge is a public promise."),
            code="not_draft",
        )
    if pledge.version != version:
        raise ConcurrentEditError(
            _("Someone else changed this pledge meanwhile. Reload it and edit again."),
            code="stale",
        )
    data = _clean(data)
    before = _snapshot(pledge)
    pledge.title = data.title
    pledge.description = data.description
    pledge.category = data.category
    pledge.target = data.target
    pledge.target_value = data.target_value
    pledge.target_unit = data.target_unit
    pledge.deadline = data.deadline  # type: ignore[assignment]
    pledge.version = F("version") + 1  # type: ignore[assignment]
    pledge.save()
    pledge.refresh_from_db()
    record(
        actor=actor,
        action=AuditAction.UPDATE,
        target=pledge,
        org=pledge.org,
        summary=_("Changed pledge “%(title)s”") % {"title": pledge.title},
        before=before,
        after=_snapshot(pledge),
    )
    return pledge


# --- publishing, completing, cancelling ---------------------------------------------------


@transaction.atomic
def publish_pledge(*, actor: Any, pledge: Pledge) -> Pledge:
    """draft → published: every member below the union sees it from now on. Publishing
    again changes nothing."""
    pledge = _locked(actor, pledge)
    if pledge.status == PledgeStatus.PUBLISHED:
        return pledge
    if not pledge.is_draft:
        raise ValidationError(_("Only a draft can be published."), code="status")
    _require_future(pledge.deadline)
    now = timezone.now()
    pledge.status = PledgeStatus.PUBLISHED
    pledge.published_at = now
    pledge.published_on = timezone.localdate(now)
    pledge.published_by = scoping.as_user(actor)
    pledge.version = F("version") + 1  # type: ignore[assignment]
    pledge.save()
    pledge.refresh_from_db()
    stats.emit(metric=figures.PUBLISHED, org_id=pledge.org_id, day=pledge.published_on)
    record(
        actor=actor,
        action=AuditAction.UPDATE,
        target=pledge,
        org=pledge.org,
        summary=_("Published pledge “%(title)s”") % {"title": pledge.title},
        after={"status": pledge.status},
    )
    return pledge


@transaction.atomic
def complete_pledge(*, actor: Any, pledge: Pledge, note: str) -> Pledge:
    """published → completed (办结), with a closing note; late is allowed and counts as
    not on time."""
    pledge = _locked(actor, pledge)
    if pledge.status != PledgeStatus.PUBLISHED:
        raise ValidationError(_("Only a pledge under way can be completed."), code="status")
    note = (note or "").strip()
    if not note:
        raise ValidationError(_("Write a closing note: what was done in the end."), code="note")
    if len(note) > TEXT_MAX_CHARS:
        raise ValidationError(
            _("The text is longer than %(n)d characters.") % {"n": TEXT_MAX_CHARS},
            code="note_long",
        )
    now = timezone.now()
    day = timezone.localdate(now)
    pledge.status = PledgeStatus.COMPLETED
    pledge.closing_note = note
    pledge.completed_at = now
    pledge.completed_on = day
    pledge.completed_by = scoping.as_user(actor)
    pledge.version = F("version") + 1  # type: ignore[assignment]
    pledge.save()
    pledge.refresh_from_db()
    stats.emit(metric=figures.COMPLETED, org_id=pledge.org_id, day=day)
    on_time = completed_on_time(day, pledge.deadline)
    if on_time:
        stats.emit(metric=figures.COMPLETED_ON_TIME, org_id=pledge.org_id, day=day)
    record(
        actor=actor,
        action=AuditAction.UPDATE,
        target=pledge,
        org=pledge.org,
        summary=_("Completed pledge “%(title)s”") % {"title": pledge.title},
        after={"status": pledge.status, "on_time": on_time, "progress": pledge.progress},
    )
    return pledge


@transaction.atomic
def cancel_pledge(*, actor: Any, pledge: Pledge, reason: str) -> Pledge:
    """A draft or a pledge under way is cancelled, with the reason workers will read; a
    published one no longer counts as published. Cancelling again changes nothing."""
    pledge = _locked(actor, pledge)
    reason = _one_line(reason)
    if not reason:
        raise ValidationError(_("Say why the pledge is cancelled."), code="reason")
    if pledge.status == PledgeStatus.CANCELLED:
        return pledge
    if pledge.status == PledgeStatus.COMPLETED:
        raise ValidationError(_("A completed pledge cannot be cancelled."), code="status")
    was_published = pledge.status == PledgeStatus.PUBLISHED
    pledge.status = PledgeStatus.CANCELLED
    pledge.cancelled_reason = reason[:200]
    pledge.cancelled_at = timezone.now()
    pledge.cancelled_by = scoping.as_user(actor)
    pledge.version = F("version") + 1  # type: ignore[assignment]
    pledge.save()
    pledge.refresh_from_db()
    if was_published and pledge.published_on is not None:
        stats.emit(
            metric=figures.PUBLISHED, org_id=pledge.org_id, day=pledge.published_on, delta=-1
        )
    record(
        actor=actor,
        action=AuditAction.UPDATE,
        target=pledge,
        org=pledge.org,
        summary=_("Cancelled “%(title)s”: %(reason)s")
        % {"title": pledge.title, "reason": pledge.cancelled_reason},
        after={"status": pledge.status, "reason": pledge.cancelled_reason},
    )
    return pledge


# --- progress -----------------------------------------------------------------------------


def _check_photos(uploads: Sequence[Any], *, already: int = 0) -> list[tuple[Any, str, str]]:
    """Every photo checked before any is stored: jpg or png, ≤ 10 MB, really an image."""
    if already + len(uploads) > PHOTOS_PER_UPDATE:
        raise ValidationError(
            _("At most %(n)d photos per progress update.") % {"n": PHOTOS_PER_UPDATE},
            code="photo_count",
        )
    return [
        (upload, *check_upload(upload, allowed=IMAGE_TYPES, max_bytes=PHOTO_MAX_BYTES))
        for upload in uploads
    ]


def _store_photos(
    actor: Any, update: PledgeUpdate, checked: list[tuple[Any, str, str]]
) -> list[PledgePhoto]:
    photos = []
    for upload, name, content_type in checked:
        photo = PledgePhoto(
            update=update,
            name=name,
            size=upload.size,
            content_type=content_type,
            uploaded_by=scoping.as_user(actor),
        )
        # A random name: the original name may say who is in the picture.
        suffix = Path(name).suffix.lower()
        photo.file.save(f"{secrets.token_hex(16)}{suffix}", upload, save=False)
        photo.save()
        photos.append(photo)
    return photos


@transaction.atomic
def add_progress(
    *,
    actor: Any,
    pledge: Pledge,
    text: str,
    progress: int,
    day: datetime.date | None = None,
    photos: Sequence[Any] = (),
    correction: bool = False,
) -> PledgeUpdate:
    """Report progress on a pledge under way: what was done and the value reached.

    The value may not go backwards unless the update says it corrects an earlier figure
    (`correction`), so a figure shown to workers never shrinks silently."""
    pledge = _locked(actor, pledge)
    if pledge.status != PledgeStatus.PUBLISHED:
        raise ValidationError(
            _("Progress can be reported only while the pledge is under way."), code="status"
        )
    text = (text or "").strip()
    if not text:
        raise ValidationError(_("Say what was done."), code="text")
    if len(text) > TEXT_MAX_CHARS:
        raise ValidationError(
            _("The text is longer than %(n)d characters.") % {"n": TEXT_MAX_CHARS},
            code="text_long",
        )
    if progress is None or progress < 0:
        raise ValidationError(_("The progress cannot be negative."), code="progress")
    if progress < pledge.progress and not correction:
        raise ValidationError(
            _(
                "The progress was %(old)d; %(new)d would go backwards. If the earlier figure "
                "was wrong, mark this update as a correction and say why."
            )
            % {"old": pledge.progress, "new": progress},
            code="progress_backwards",
        )
    today = timezone.localdate()
    day = day or today
    if day > today:
        raise ValidationError(_("The date cannot be in the future."), code="day_future")
    if pledge.published_on is not None and day < pledge.published_on:
        raise ValidationError(
            _("The date cannot be before the pledge was published (%(day)s).")
            % {"day": pledge.published_on},
            code="day_early",
        )
    checked = _check_photos(photos)
    previous = pledge.progress
    update = PledgeUpdate.objects.create(
        pledge=pledge,
        text=text,
        progress=progress,
        previous=previous,
        correction=correction and progress < previous,
        day=day,
        by=scoping.as_user(actor),
    )
    _store_photos(actor, update, checked)
    pledge.progress = progress
    pledge.version = F("version") + 1  # type: ignore[assignment]
    pledge.save(update_fields=["progress", "version", "updated_at"])
    pledge.refresh_from_db()
    record(
        actor=actor,
        action=AuditAction.UPDATE,
        target=pledge,
        org=pledge.org,
        summary=_("Progress of “%(title)s”: %(old)d → %(new)d")
        % {"title": pledge.title, "old": previous, "new": progress},
        before={"progress": previous},
        after={"progress": progress, "correction": update.correction, "day": day.isoformat()},
    )
    return update


@transaction.atomic
def add_photos(*, actor: Any, update: PledgeUpdate, uploads: Sequence[Any]) -> list[PledgePhoto]:
    """Photos added to an earlier progress update (a phone uploads them one by one)."""
    pledge = _locked(actor, update.pledge)
    if pledge.status not in PUBLIC_STATUSES:
        raise ValidationError(_("Photos can be added only to a published pledge."), code="status")
    if not uploads:
        raise ValidationError(_("Choose a photo."), code="file_missing")
    checked = _check_photos(uploads, already=update.photos.count())
    photos = _store_photos(actor, update, checked)
    record(
        actor=actor,
        action=AuditAction.UPDATE,
        target=pledge,
        org=pledge.org,
        summary=_("Photos added to “%(title)s”: %(names)s")
        % {"title": pledge.title, "names": "、".join(p.name for p in photos)},
    )
    return photos


# --- workers' comments --------------------------------------------------------------------


def in_audience(pledge: Pledge, member: Member) -> bool:
    """A pledge is for the members of its union's subtree."""
    return member.unit.is_descendant_of(pledge.org)


@transaction.atomic
def add_comment(*, actor: Any, pledge: Pledge, text: str) -> PledgeComment:
    """A worker below the pledge's union comments on a published or completed pledge."""
    member = member_record_of(actor)
    if member is None:
        raise PermissionDenied(_("Your account is not linked to a union member record."))
    pledge = Pledge.objects.select_related("org").get(pk=pledge.pk)
    if not in_audience(pledge, member):
        raise PermissionDenied(
            _("Only members of %(org)s and the unions below it may comment.")
            % {"org": pledge.org.name}
        )
    if pledge.status not in PUBLIC_STATUSES:
        raise ValidationError(_("Comments are open only on published pledges."), code="status")
    text = (text or "").strip()
    if not text:
        raise ValidationError(_("Write a comment."), code="text")
    if len(text) > COMMENT_MAX_CHARS:
        raise ValidationError(
            _("A comment has at most %(n)d characters.") % {"n": COMMENT_MAX_CHARS},
            code="text_long",
        )
    comment = PledgeComment.objects.create(
        pledge=pledge, member=member, text=text, created_at=timezone.now()
    )
    record(
        actor=actor,
        action=AuditAction.CREATE,
        target=comment,
        target_repr=f"{member.name} → {pledge.title}",
        org=pledge.org,
        summary=_("Commented on “%(title)s”") % {"title": pledge.title},
    )
    return comment


@transaction.atomic
def hide_comment(*, actor: Any, comment: PledgeComment, reason: str) -> PledgeComment:
    """A cadre hides a comment from workers, saying why; the comment is kept. Hiding
    again changes nothing."""
    comment = (
        PledgeComment.objects.select_for_update()
        .select_related("pledge__org", "member")
        .get(pk=comment.pk)
    )
    _require_manage_org(actor, comment.pledge.org)
    reason = _one_line(reason)
    if not reason:
        raise ValidationError(_("Say why the comment is hidden."), code="reason")
    if comment.hidden:
        return comment
    comment.hidden = True
    comment.hidden_reason = reason[:200]
    comment.hidden_at = timezone.now()
    comment.hidden_by = scoping.as_user(actor)
    comment.save(update_fields=["hidden", "hidden_reason", "hidden_at", "hidden_by"])
    record(
        actor=actor,
        action=AuditAction.UPDATE,
        target=comment,
        target_repr=f"{comment.member.name} → {comment.pledge.title}",
        org=comment.pledge.org,
        summary=_("Hid a comment on “%(title)s”: %(reason)s")
        % {"title": comment.pledge.title, "reason": comment.hidden_reason},
        before={"text": comment.text},
    )
    return comment
