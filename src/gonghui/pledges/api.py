"""API of pledges (我为职工办实事): a cadre's client (list, draft, edit, publish, report
progress with photos, complete, cancel, hide a comment) and a worker's phone (what was
promised to me, a pledge's progress and comments, comment).

Thin callers of `pledges.services`. A cadre reaches a pledge through the scoping filter
(its union in scope); a worker reaches the published and completed pledges of their unit
and of the unions above it. Anything else is a 404. Refusals: 422 with the service's
code, 409 `stale` for an edit of an outdated version, 403 when visible but not allowed.
"""

import datetime
from typing import Any, Literal

from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest
from django.urls import reverse
from django.utils.translation import gettext as _
from ninja import Field, File, Form, Query, Router, Schema, Status, UploadedFile
from ninja.pagination import LimitOffsetPagination, paginate

from gonghui.orgs.models import Member, Org
from gonghui.orgs.scoping import Perm, get_in_scope_or_404
from gonghui.orgs.selectors import member_record_of
from gonghui.pledges import selectors, services
from gonghui.pledges.models import (
    Pledge,
    PledgeComment,
    PledgePhoto,
    PledgeStatus,
    PledgeUpdate,
)

router = Router(tags=["pledges"])


# --- schemas ------------------------------------------------------------------------------


class OrgRef(Schema):
    id: int
    name: str
    kind: str


class PledgeOut(Schema):
    id: int
    org: OrgRef = Field(description="The union that made the pledge")
    title: str
    description: str = Field(description="Sanitised HTML")
    category: str = Field(description="skills, protection, services, hardship, culture, other")
    target: str = Field(description="What will be done, for whom")
    target_value: int | None = Field(description="The number to reach (null: none)")
    target_unit: str
    deadline: datetime.date
    status: str = Field(description="draft, published, completed or cancelled")
    progress: int = Field(description="The latest value reached")
    percent: int | None = Field(description="progress / target_value, 0..100")
    overdue: bool = Field(description="Under way and past its deadline")
    on_time: bool | None = Field(description="Completed on or before the deadline")
    published_on: datetime.date | None
    completed_on: datetime.date | None
    closing_note: str
    cancelled_reason: str
    version: int = Field(description="Send it back with an edit (PUT)")
    created_at: datetime.datetime


class PledgePhotoOut(Schema):
    id: int
    update_id: int
    name: str
    size: int
    content_type: str
    url: str = Field(description="The photo (for a signed-in user who may see the pledge)")


class PledgeProgressOut(Schema):
    id: int
    pledge_id: int
    text: str
    progress: int
    previous: int = Field(description="The value before this update")
    correction: bool = Field(description="A lower value, declared as a correction")
    day: datetime.date
    photos: list[PledgePhotoOut]
    created_at: datetime.datetime


class PledgeDetailOut(PledgeOut):
    updates: list[PledgeProgressOut] = Field(description="Latest first")
    comments: int = Field(description="Comments shown to workers")
    may_manage: bool = Field(description="You may publish, report progress, complete, cancel")
    may_comment: bool = Field(description="You (a worker below the union) may comment")


class PledgeCommentOut(Schema):
    id: int
    pledge_id: int
    member_name: str
    unit_name: str
    text: str
    created_at: datetime.datetime
    hidden: bool
    hidden_reason: str = Field(description="Shown to cadres and to the comment's author")


class PledgeFieldsIn(Schema):
    title: str
    category: str = Field(description="skills, protection, services, hardship, culture, other")
    target: str = Field(description="What will be done, for whom")
    target_value: int | None = Field(None, description="The number to reach, at least 1")
    target_unit: str = Field("", description="e.g. 人, 场, 万元 (with a target_value)")
    deadline: datetime.date = Field(description="Today or later")
    description: str = Field("", description="HTML; sanitised")


class PledgeIn(PledgeFieldsIn):
    org_id: int = Field(description="The union making the pledge; you need the right there")


class PledgeEditIn(PledgeFieldsIn):
    version: int = Field(description="The version read; a stale one is refused with 409")


class PledgeFilter(Schema):
    org_id: int | None = Field(None, description="Of this union (default: any in your scope)")
    scope: Literal["own", "subtree"] = Field(
        "subtree", description="With org_id: the union itself (own) or it and every one below"
    )
    status: str | None = Field(None, description="draft, published, completed or cancelled")


class PledgeProgressIn(Schema):
    text: str = Field(description="What was done")
    progress: int = Field(description="The value reached; lower than before only as a correction")
    day: datetime.date | None = Field(None, description="When (default: today; not later)")
    correction: bool = Field(False, description="A lower value corrects an earlier figure")


class PledgeCompleteIn(Schema):
    note: str = Field(description="The closing note workers read")


class PledgeReasonIn(Schema):
    reason: str


class PledgeCommentIn(Schema):
    text: str = Field(description="At most 500 characters")


# --- conversion ---------------------------------------------------------------------------


def org_ref(org: Org) -> dict[str, Any]:
    return {"id": org.pk, "name": org.name, "kind": org.kind}


def pledge_out(p: Pledge) -> dict[str, Any]:
    return {
        "id": p.pk,
        "org": org_ref(p.org),
        "title": p.title,
        "description": p.description,
        "category": p.category,
        "target": p.target,
        "target_value": p.target_value,
        "target_unit": p.target_unit,
        "deadline": p.deadline,
        "status": p.status,
        "progress": p.progress,
        "percent": p.percent,
        "overdue": p.is_overdue,
        "on_time": p.on_time,
        "published_on": p.published_on,
        "completed_on": p.completed_on,
        "closing_note": p.closing_note,
        "cancelled_reason": p.cancelled_reason,
        "version": p.version,
        "created_at": p.created_at,
    }


def photo_out(photo: PledgePhoto) -> dict[str, Any]:
    return {
        "id": photo.pk,
        "update_id": photo.update_id,
        "name": photo.name,
        "size": photo.size,
        "content_type": photo.content_type,
        "url": reverse("pledges:pledge_photo", kwargs={"photo_id": photo.pk}),
    }


def update_out(u: PledgeUpdate) -> dict[str, Any]:
    return {
        "id": u.pk,
        "pledge_id": u.pledge_id,
        "text": u.text,
        "progress": u.progress,
        "previous": u.previous,
        "correction": u.correction,
        "day": u.day,
        "photos": [photo_out(p) for p in u.photos.all()],
        "created_at": u.created_at,
    }


def comment_out(c: PledgeComment, *, reader: Member | None = None, cadre: bool = True) -> dict:
    """A comment; a worker reads other workers' names masked (张*)."""
    own = reader is not None and c.member_id == reader.pk
    return {
        "id": c.pk,
        "pledge_id": c.pledge_id,
        "member_name": c.member.name if cadre or own else selectors.masked_name(c.member.name),
        "unit_name": c.member.unit.name,
        "text": c.text,
        "created_at": c.created_at,
        "hidden": c.hidden,
        "hidden_reason": c.hidden_reason,
    }


class _PageOf:
    """A queryset for the paginator that converts only the rows of the page it slices."""

    def __init__(self, queryset: Any, convert: Any) -> None:
        self.queryset = queryset
        self.convert = convert

    def __len__(self) -> int:
        return self.queryset.count()

    def __getitem__(self, index: slice) -> list[Any]:
        return [self.convert(row) for row in self.queryset[index]]


# --- fetching through the scoping filter ---------------------------------------------------


def _org(request: HttpRequest, org_id: int) -> Org:
    return get_in_scope_or_404(Org.objects.all(), request.user, Perm.ORG_VIEW, pk=org_id)


def _managed(request: HttpRequest, pledge_id: int) -> Pledge:
    """A pledge whose union is in the cadre's scope (others: 404); the service decides
    whether they may change it (403)."""
    return get_in_scope_or_404(
        Pledge.objects.select_related("org"), request.user, Perm.ORG_VIEW, pk=pledge_id
    )


def _visible(request: HttpRequest, pledge_id: int) -> tuple[Pledge, Member | None, bool]:
    """The pledge as a cadre (in scope) or a worker (published or completed above their
    unit), with the user's member record and whether they see it as a cadre."""
    member = member_record_of(request.user)
    pledge = (
        selectors.visible_pledges(request.user).select_related("org").filter(pk=pledge_id).first()
    )
    if pledge is not None:
        return pledge, member, True
    pledge = selectors.public_pledge(member, pledge_id) if member is not None else None
    if pledge is None:
        raise Http404
    return pledge, member, False


def _detail(request: HttpRequest, pledge_id: int) -> dict[str, Any]:
    pledge, member, _as_cadre = _visible(request, pledge_id)
    shown, _hidden = selectors.comment_counts(pledge)
    return {
        **pledge_out(pledge),
        "updates": [update_out(u) for u in selectors.updates_of(pledge)],
        "comments": shown,
        "may_manage": services.can_manage(request.user, pledge),
        "may_comment": member is not None
        and pledge.is_public
        and services.in_audience(pledge, member),
    }


# --- a worker's phone ---------------------------------------------------------------------


@router.get("/for-me", response=list[PledgeOut], summary="Practical things for me (a worker)")
@paginate(LimitOffsetPagination)
def for_me(request: HttpRequest):
    """Published and completed pledges of the worker's unit and of every union above it,
    under way first (nearest deadline first). Empty for an account without a member
    record."""
    member = member_record_of(request.user)
    if member is None:
        return []
    return _PageOf(selectors.pledges_for(member), pledge_out)


# --- pledges ------------------------------------------------------------------------------


@router.get("", response=list[PledgeOut], summary="Pledges in your scope")
@paginate(LimitOffsetPagination)
def pledge_list(request: HttpRequest, filters: Query[PledgeFilter]):
    """Pledges of the unions in your scope; with `org_id`, of that union (`scope=own`) or
    of its subtree (`scope=subtree`). Under way first, then drafts, completed, cancelled."""
    if filters.status and filters.status not in PledgeStatus.values:
        raise ValidationError(_("Unknown status."), code="status")
    if filters.org_id:
        org = _org(request, filters.org_id)
        qs = selectors.pledges_of_org(
            request.user, org, scope=filters.scope, status=filters.status or ""
        )
    else:
        qs = selectors.pledges_in_scope(request.user, status=filters.status or "")
    return _PageOf(qs, pledge_out)


def _input(payload: PledgeFieldsIn) -> services.PledgeInput:
    return services.PledgeInput(
        title=payload.title,
        category=payload.category,
        target=payload.target,
        target_value=payload.target_value,
        target_unit=payload.target_unit,
        deadline=payload.deadline,
        description=payload.description,
    )


@router.post("", response={201: PledgeDetailOut}, summary="Draft a pledge")
def pledge_create(request: HttpRequest, payload: PledgeIn):
    """A draft of the union `org_id` (you need the right to manage pledges there; 403).
    Refusals: `title`, `category`, `target`, `target_value`, `target_unit`, `deadline`,
    `deadline_past`, `org_dissolved`."""
    org = _org(request, payload.org_id)
    pledge = services.create_pledge(actor=request.user, org=org, data=_input(payload))
    return Status(201, _detail(request, pledge.pk))


@router.get("/{pledge_id}", response=PledgeDetailOut, summary="A pledge")
def pledge_detail(request: HttpRequest, pledge_id: int):
    """For a cadre in scope, or a worker below its union once published: with its
    progress updates (latest first) and their photos."""
    return _detail(request, pledge_id)


@router.put("/{pledge_id}", response=PledgeDetailOut, summary="Edit a draft")
def pledge_update(request: HttpRequest, pledge_id: int, payload: PledgeEditIn):
    """Replaces every field of a draft (`not_draft` once published). `version` must be the
    one read (409 `stale`)."""
    pledge = _managed(request, pledge_id)
    services.update_pledge(
        actor=request.user, pledge=pledge, data=_input(payload), version=payload.version
    )
    return _detail(request, pledge_id)


@router.post("/{pledge_id}/publish", response=PledgeDetailOut, summary="Publish a draft")
def pledge_publish(request: HttpRequest, pledge_id: int):
    """Every member below the union sees it from now on. Publishing again changes nothing;
    `status` for a completed or cancelled pledge, `deadline_past`."""
    pledge = _managed(request, pledge_id)
    services.publish_pledge(actor=request.user, pledge=pledge)
    return _detail(request, pledge_id)


@router.post("/{pledge_id}/progress", response={201: PledgeProgressOut}, summary="Report progress")
def pledge_progress(request: HttpRequest, pledge_id: int, payload: PledgeProgressIn):
    """A progress update without photos (add them with …/photos). Refusals: `status`,
    `text`, `text_long`, `progress`, `progress_backwards` (a lower value without
    `correction`), `day_future`, `day_early`."""
    pledge = _managed(request, pledge_id)
    update = services.add_progress(
        actor=request.user,
        pledge=pledge,
        text=payload.text,
        progress=payload.progress,
        day=payload.day,
        correction=payload.correction,
    )
    return Status(201, update_out(update))


@router.post("/{pledge_id}/photos", response={201: PledgePhotoOut}, summary="Add a photo")
def pledge_photo_add(
    request: HttpRequest,
    pledge_id: int,
    file: File[UploadedFile] = None,
    update_id: Form[int] = None,
):
    """multipart/form-data: `file` (jpg or png, at most 10 MB) and `update_id` (left out:
    the latest progress update). Refusals: `file_missing`, `file_type`, `file_size`,
    `file_content`, `photo_count` (9 per update), `status`, `no_update`."""
    pledge = _managed(request, pledge_id)
    updates = PledgeUpdate.objects.filter(pledge=pledge).order_by("-day", "-id")
    update = (updates.filter(pk=update_id) if update_id else updates).first()
    if update is None:
        raise ValidationError(
            _("Report progress first: photos go with an update."), code="no_update"
        )
    update.pledge = pledge
    photos = services.add_photos(actor=request.user, update=update, uploads=[file] if file else [])
    return Status(201, photo_out(photos[0]))


@router.get("/photos/{photo_id}", summary="A photo")
def pledge_photo(request: HttpRequest, photo_id: int):
    """The image itself, for whoever may see its pledge."""
    photo = selectors.photo(photo_id)
    if photo is None:
        raise Http404
    _visible(request, photo.update.pledge_id)
    try:
        handle = photo.file.open("rb")
    except FileNotFoundError as exc:
        raise Http404 from exc
    return FileResponse(handle, filename=photo.name, content_type=photo.content_type)


@router.post("/{pledge_id}/complete", response=PledgeDetailOut, summary="Complete (办结)")
def pledge_complete(request: HttpRequest, pledge_id: int, payload: PledgeCompleteIn):
    """Under way → completed, with the closing note; after the deadline it counts as late.
    Refusals: `status`, `note`, `note_long`."""
    pledge = _managed(request, pledge_id)
    services.complete_pledge(actor=request.user, pledge=pledge, note=payload.note)
    return _detail(request, pledge_id)


@router.post("/{pledge_id}/cancel", response=PledgeDetailOut, summary="Cancel a pledge")
def pledge_cancel(request: HttpRequest, pledge_id: int, payload: PledgeReasonIn):
    """A draft or a pledge under way; it no longer counts as published. Cancelling again
    changes nothing. Refusals: `reason`, `status` (completed)."""
    pledge = _managed(request, pledge_id)
    services.cancel_pledge(actor=request.user, pledge=pledge, reason=payload.reason)
    return _detail(request, pledge_id)


# --- comments -----------------------------------------------------------------------------


@router.get("/{pledge_id}/comments", response=list[PledgeCommentOut], summary="Comments")
@paginate(LimitOffsetPagination)
def comment_list(request: HttpRequest, pledge_id: int):
    """Oldest first. Hidden comments: all of them for cadres who manage the pledge, and a
    worker's own (with the reason)."""
    pledge, member, as_cadre = _visible(request, pledge_id)
    qs = selectors.comments_of(
        pledge, include_hidden=services.can_manage(request.user, pledge), member=member
    )
    return _PageOf(qs, lambda c: comment_out(c, reader=member, cadre=as_cadre))


@router.post("/{pledge_id}/comments", response={201: PledgeCommentOut}, summary="Comment")
def comment_create(request: HttpRequest, pledge_id: int, payload: PledgeCommentIn):
    """By a worker whose unit is below the pledge's union, on a published or completed
    pledge. Refusals: `text`, `text_long`, `status`; 403 for anyone else who sees it."""
    pledge, _member, _as_cadre = _visible(request, pledge_id)
    comment = services.add_comment(actor=request.user, pledge=pledge, text=payload.text)
    return Status(201, comment_out(comment))


@router.post("/comments/{comment_id}/hide", response=PledgeCommentOut, summary="Hide a comment")
def comment_hide(request: HttpRequest, comment_id: int, payload: PledgeReasonIn):
    """By a cadre who manages the pledge; the comment is kept, with the reason. Hiding
    again changes nothing. Refusal: `reason`."""
    comment = (
        PledgeComment.objects.select_related("pledge__org", "member__unit")
        .filter(pk=comment_id, pledge__in=selectors.visible_pledges(request.user))
        .first()
    )
    if comment is None:
        raise Http404
    hidden = services.hide_comment(actor=request.user, comment=comment, reason=payload.reason)
    return comment_out(hidden)
