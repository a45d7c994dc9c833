"""API of activities (活动): what a worker's phone needs (what is for me, register, check in)
and what a cadre's client needs (schedule, edit, held, cancel, registrations, the roster,
the QR code on the venue's screen, who checked in).

Thin callers of `activities.services`. A cadre reaches an activity through the scoping
filter (organiser or venue in scope); a worker reaches the activities whose audience
includes them. Anything else is a 404. Check-in refusals answer with the service's own
code (`not_in_audience`, `expired_token`, `wrong_code`, …): 422, 409 for a cancelled
activity, 429 after too many wrong codes.

POST /activities/{activity_id}/check-in is the hot path: a worker's check-in costs the
queries of the service and nothing more; the question whether the worker may see the
activity at all is asked only when the service refuses.
"""

import datetime
from typing import Any, Literal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Exists, OuterRef, Q, Subquery
from django.http import Http404, HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import LimitOffsetPagination, paginate

from gonghui.activities import services
from gonghui.activities.models import (
    CHECK_IN_CLOSES_AFTER,
    Activity,
    ActivityKind,
    ActivityStatus,
    CheckIn,
    CheckInMethod,
    Registration,
    RegistrationStatus,
)
from gonghui.api import lane
from gonghui.api.lane import Answer
from gonghui.orgs import scoping
from gonghui.orgs.models import Member, MemberStatus, Org
from gonghui.orgs.scoping import Perm, get_in_scope_or_404
from gonghui.orgs.selectors import member_record_of

router = Router(tags=["activities"])


# --- schemas ------------------------------------------------------------------------------


class OrgRef(Schema):
    id: int
    name: str
    kind: str


class ActivityOut(Schema):
    id: int
    org: OrgRef = Field(description="The organising union")
    venue_org: OrgRef = Field(
        description="Where it is held: the organiser, or a union below it (送学上门)"
    )
    kind: str = Field(description="study, training, lecture or other")
    title: str
    description: str
    speaker: str
    place: str
    starts_at: datetime.datetime
    ends_at: datetime.datetime
    check_in_opens_at: datetime.datetime = Field(description="Self check-in from (start − 60 min)")
    check_in_closes_at: datetime.datetime = Field(description="Self check-in until (end + 60 min)")
    status: str = Field(description="planned, held or cancelled")
    held_on: datetime.date | None = Field(description="The day its figures count on, once held")
    cancelled_reason: str
    audience_kinds: list[str] = Field(
        description="Only members of units of these kinds (empty: every unit of the venue)"
    )
    audience_units: list[OrgRef] = Field(
        description="Only members of these units' subtrees (empty: the venue's whole subtree)"
    )
    capacity: int | None = Field(description="Confirmed places (null: no limit)")
    registration_required: bool = Field(
        description="Only members with a confirmed registration may check in themselves"
    )
    requirement_id: int | None = Field(description="The notice requirement it meets")
    version: int = Field(description="Send it back with a change (PUT)")
    created_at: datetime.datetime


class MyPartOut(Schema):
    member_id: int
    registration_id: int | None
    registration_status: str | None = Field(
        description="confirmed, waitlisted, cancelled or null (not registered)"
    )
    checked_in: bool
    checked_in_at: datetime.datetime | None


class ForMeOut(ActivityOut):
    me: MyPartOut = Field(description="The signed-in worker's registration and check-in")


class ActivityDetailOut(ActivityOut):
    registered: int = Field(description="Confirmed registrations")
    waitlisted: int = Field(description="Registrations on the waiting list")
    checkins: int = Field(description="Members checked in (人次 of this activity)")
    may_manage: bool = Field(description="You may edit it, take attendance and show its QR")
    me: MyPartOut | None = Field(
        description="Your registration and check-in (null: your account has no member record)"
    )


class ActivityFieldsIn(Schema):
    venue_org_id: int | None = Field(
        None,
        description="Where it is held: a union below the organiser (left out: the organiser)",
    )
    kind: str = Field(description="study, training, lecture or other")
    title: str
    description: str = ""
    speaker: str = ""
    place: str = ""
    starts_at: datetime.datetime = Field(
        description="ISO 8601; without an offset it is Beijing time"
    )
    ends_at: datetime.datetime = Field(description="After the start, at most 31 days later")
    audience_kinds: list[str] = Field(
        [], description="Narrow the audience to units of these kinds: grassroots, branch, team"
    )
    audience_unit_ids: list[int] = Field(
        [], description="Narrow the audience to the subtrees of these units below the venue"
    )
    capacity: int | None = Field(None, description="Confirmed places; more go on a waiting list")
    registration_required: bool = False
    requirement_id: int | None = Field(
        None, description="A requirement of a notice the organiser received"
    )


class ActivityIn(ActivityFieldsIn):
    org_id: int = Field(description="The organising union; you need the right to manage there")


class ActivityUpdateIn(ActivityFieldsIn):
    version: int = Field(description="The version read; a stale one is refused with 409")


class ActivityFilter(Schema):
    org_id: int | None = Field(
        None, description="Organised by or held at this union (default: any in your scope)"
    )
    scope: Literal["own", "subtree"] = Field(
        "subtree",
        description="With org_id: own (the union itself) or subtree (it and every union below)",
    )
    kind: str | None = Field(None, description="study, training, lecture or other")
    status: str | None = Field(None, description="planned, held or cancelled")
    date_from: datetime.date | None = Field(
        None, alias="from", description="Starting on or after this day"
    )
    date_to: datetime.date | None = Field(
        None, alias="to", description="Starting on or before this day"
    )


class CancelIn(Schema):
    reason: str = Field(description="Why; sent to everyone registered")


class RegistrationIn(Schema):
    member_id: int | None = Field(
        None, description="A cadre registers this member; left out: yourself (a worker)"
    )


class RegistrationOut(Schema):
    id: int
    activity_id: int
    member_id: int
    member_name: str
    unit: OrgRef = Field(description="The member's unit")
    status: str = Field(description="confirmed, waitlisted or cancelled")
    registered_at: datetime.datetime
    cancelled_at: datetime.datetime | None


class RegistrationFilter(Schema):
    status: str | None = Field(None, description="confirmed, waitlisted or cancelled")


class CheckInIn(Schema):
    code: str | None = Field(None, description="The 6-digit code read aloud (a worker)")
    token: str | None = Field(None, description="The token of the scanned QR code (a worker)")
    member_ids: list[int] | None = Field(
        None, description="A cadre's roster: every member present (all or nothing)"
    )


class SelfCheckInIn(Schema):
    code: str | None = Field(None, description="The 6-digit code read aloud")
    token: str | None = Field(None, description="The token of the scanned QR code")


class CheckInOut(Schema):
    checked_in: bool = Field(description="Always true: you are counted present")
    created: bool = Field(description="false: you had already checked in (a retry)")
    member_id: int
    activity_id: int
    title: str = Field(description="The activity's title")
    at: datetime.datetime = Field(description="When you first checked in")


class RosterOut(Schema):
    activity_id: int
    created: int = Field(description="Members checked in now")
    already: int = Field(description="Members who had already checked in")


class RefusalItemOut(Schema):
    field: str | None
    code: str
    message: str
    member_id: int | None = Field(None, description="The refused member (roster)")


class RefusalOut(Schema):
    code: str = Field(
        description="not_in_audience, expired_token, bad_token, cancelled, too_early, "
        "too_late, not_registered, wrong_code, too_many_attempts, no_member, member_left"
    )
    message: str = Field(description="For the worker, in their language")
    detail: list[RefusalItemOut]


class CheckInRowOut(Schema):
    id: int
    member_id: int
    member_name: str
    unit: OrgRef = Field(description="The member's unit at check-in")
    method: str = Field(description="qr, code, roster, sheet or api")
    at: datetime.datetime
    day: datetime.date = Field(description="The day it counts on")
    by: str | None = Field(description="Who took it (the worker, or the cadre of a roster)")


class AttendedOut(Schema):
    checkin_id: int
    at: datetime.datetime
    method: str
    activity: ActivityOut


class QrOut(Schema):
    activity_id: int
    token: str = Field(description="Show it as a QR code; a new one every refresh_seconds")
    code: str = Field(description="The 6-digit code to read aloud")
    scan_url: str = Field(description="The page a phone opens when it scans the code")
    seconds_valid: int = Field(description="How long a scanned token is accepted")
    refresh_seconds: int = Field(description="Fetch a new token this often")
    check_in_opens_at: datetime.datetime
    check_in_closes_at: datetime.datetime


# --- conversion ---------------------------------------------------------------------------


def org_ref(org: Org) -> dict[str, Any]:
    return {"id": org.pk, "name": org.name, "kind": org.kind}


def activity_out(a: Activity) -> dict[str, Any]:
    return {
        "id": a.pk,
        "org": org_ref(a.org),
        "venue_org": org_ref(a.venue_org),
        "kind": a.kind,
        "title": a.title,
        "description": a.description,
        "speaker": a.speaker,
        "place": a.place,
        "starts_at": a.starts_at,
        "ends_at": a.ends_at,
        "check_in_opens_at": a.check_in_opens_at,
        "check_in_closes_at": a.check_in_closes_at,
        "status": a.status,
        "held_on": a.held_on,
        "cancelled_reason": a.cancelled_reason,
        "audience_kinds": list(a.audience_kinds),
        "audience_units": [org_ref(u) for u in a.audience_units.all()],
        "capacity": a.capacity,
        "registration_required": a.registration_required,
        "requirement_id": a.requirement_id,
        "version": a.version,
        "created_at": a.created_at,
    }


def my_part(member: Member, registration: Registration | None, checkin: CheckIn | None) -> dict:
    return {
        "member_id": member.pk,
        "registration_id": registration.pk if registration else None,
        "registration_status": registration.status if registration else None,
        "checked_in": checkin is not None,
        "checked_in_at": checkin.at if checkin else None,
    }


def registration_out(r: Registration) -> dict[str, Any]:
    return {
        "id": r.pk,
        "activity_id": r.activity_id,
        "member_id": r.member_id,
        "member_name": r.member.name,
        "unit": org_ref(r.member.unit),
        "status": r.status,
        "registered_at": r.registered_at,
        "cancelled_at": r.cancelled_at,
    }


def checkin_row_out(c: CheckIn) -> dict[str, Any]:
    return {
        "id": c.pk,
        "member_id": c.member_id,
        "member_name": c.member.name,
        "unit": org_ref(c.unit),
        "method": c.method,
        "at": c.at,
        "day": c.day,
        "by": c.by.get_username() if c.by else None,
    }


def checkin_out(result: services.CheckInResult) -> dict[str, Any]:
    return {
        "checked_in": True,
        "created": result.created,
        "member_id": result.checkin.member_id,
        "activity_id": result.activity.pk,
        "title": result.activity.title,
        "at": result.checkin.at,
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


# --- refusals -----------------------------------------------------------------------------

# Check-in refusals that are not a 422: the activity's state, and the rate limit.
REFUSAL_STATUS = {"cancelled": 409, "too_many_attempts": 429}
CHECK_IN_CODES = {
    "not_in_audience",
    "member_left",
    "expired_token",
    "bad_token",
    "cancelled",
    "too_early",
    "too_late",
    "not_registered",
    "wrong_code",
    "too_many_attempts",
    "no_member",
}


def refusal(code: str, message: str, detail: list[dict[str, Any]] | None = None) -> Status:
    items = detail or [{"field": None, "code": code, "message": message}]
    return Status(
        REFUSAL_STATUS.get(code, 422), {"code": code, "message": message, "detail": items}
    )


REFUSALS: dict[int | str, Any] = {409: RefusalOut, 422: RefusalOut, 429: RefusalOut}


# --- fetching through the scoping filter ---------------------------------------------------


def _org(request: HttpRequest, org_id: int) -> Org:
    return get_in_scope_or_404(Org.objects.all(), request.user, Perm.ORG_VIEW, pk=org_id)


def _orgs(request: HttpRequest, ids: list[int]) -> list[Org]:
    wanted = set(ids)
    found = list(Org.objects.restrict(request.user, Perm.ORG_VIEW).filter(pk__in=wanted))
    if len(found) != len(wanted):
        raise Http404
    return found


def _managed(request: HttpRequest, activity_id: int) -> Activity:
    """An activity whose organiser or venue is in the cadre's scope (others: 404)."""
    return get_in_scope_or_404(
        Activity.objects.select_related("org", "venue_org"),
        request.user,
        Perm.ORG_VIEW,
        pk=activity_id,
    )


def _activity(request: HttpRequest, activity_id: int) -> tuple[Activity, Member | None]:
    """An activity the user may see, as a cadre (in scope) or as a worker (in its
    audience), with the user's member record."""
    user = request.user
    member = member_record_of(user)
    qs = Activity.objects.select_related("org", "venue_org").prefetch_related("audience_units")
    found = qs.restrict(user, Perm.ORG_VIEW).filter(pk=activity_id).first()
    if found is None and member is not None:
        found = qs.filter(pk=activity_id).first()
        if found is not None and not services.in_audience(found, member):
            found = None
    if found is None:
        raise Http404
    return found, member


def _visible(user: Any, activity_id: int) -> bool:
    """Whether the user may know that the activity exists (asked after a refusal)."""
    if Activity.objects.restrict(user, Perm.ORG_VIEW).filter(pk=activity_id).exists():
        return True
    member = member_record_of(user)
    activity = Activity.objects.select_related("venue_org").filter(pk=activity_id).first()
    return member is not None and activity is not None and services.in_audience(activity, member)


def _require_member_view(user: Any, activity: Activity) -> None:
    """Lists of the people of an activity: for cadres who may see members there."""
    if not (
        scoping.can(user, Perm.MEMBER_VIEW, activity.org)
        or scoping.can(user, Perm.MEMBER_VIEW, activity.venue_org)
    ):
        raise PermissionDenied


def _aware(moment: datetime.datetime) -> datetime.datetime:
    """A time sent without an offset is local (Beijing) time."""
    if timezone.is_naive(moment):
        return timezone.make_aware(moment)
    return moment


def _day_start(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time()))


def _input(request: HttpRequest, payload: ActivityFieldsIn) -> services.ActivityInput:
    return services.ActivityInput(
        kind=payload.kind,
        title=payload.title,
        starts_at=_aware(payload.starts_at),
        ends_at=_aware(payload.ends_at),
        venue_org=_org(request, payload.venue_org_id) if payload.venue_org_id else None,
        description=payload.description,
        speaker=payload.speaker,
        place=payload.place,
        audience_kinds=list(payload.audience_kinds),
        audience_units=_orgs(request, payload.audience_unit_ids),
        capacity=payload.capacity,
        registration_required=payload.registration_required,
        requirement_id=payload.requirement_id,
    )


def _detail(activity: Activity, user: Any, member: Member | None) -> dict[str, Any]:
    counts = Registration.objects.filter(activity=activity).aggregate(
        registered=Count("pk", filter=Q(status=RegistrationStatus.CONFIRMED)),
        waitlisted=Count("pk", filter=Q(status=RegistrationStatus.WAITLISTED)),
    )
    me = None
    if member is not None:
        me = my_part(
            member,
            Registration.objects.filter(activity=activity, member=member).first(),
            CheckIn.objects.filter(activity=activity, member=member).first(),
        )
    return {
        **activity_out(activity),
        "registered": counts["registered"],
        "waitlisted": counts["waitlisted"],
        "checkins": CheckIn.objects.filter(activity=activity).count(),
        "may_manage": services.can_manage(user, activity),
        "me": me,
    }


def _detail_of(request: HttpRequest, activity_id: int) -> dict[str, Any]:
    activity, member = _activity(request, activity_id)
    return _detail(activity, request.user, member)


# --- a worker's phone ---------------------------------------------------------------------


@router.get("/for-me", response=list[ForMeOut], summary="Activities for me (a worker)")
@paginate(LimitOffsetPagination)
def for_me(request: HttpRequest):
    """Activities whose audience includes the signed-in worker and that are still ahead or
    open for check-in, soonest first, each with the worker's registration and check-in.
    Cancelled ones are listed only to those who had registered. Empty for an account
    without a member record."""
    member = member_record_of(request.user)
    if member is None:
        return []
    now = timezone.now()
    mine = Registration.objects.filter(activity=OuterRef("pk"), member=member)
    present = CheckIn.objects.filter(activity=OuterRef("pk"), member=member)
    candidates = (
        Activity.objects.filter(
            venue_org_id__in=member.unit.ancestor_ids,
            ends_at__gte=now - CHECK_IN_CLOSES_AFTER,
        )
        .filter(
            Q(status__in=[ActivityStatus.PLANNED, ActivityStatus.HELD])
            | Q(Exists(mine.exclude(status=RegistrationStatus.CANCELLED)))
        )
        .annotate(
            my_registration_id=Subquery(mine.values("pk")[:1]),
            my_registration_status=Subquery(mine.values("status")[:1]),
            my_checkin_id=Subquery(present.values("pk")[:1]),
            my_checkin_at=Subquery(present.values("at")[:1]),
        )
        .select_related("org", "venue_org")
        .prefetch_related("audience_units")
        .order_by("starts_at", "id")
    )
    return [
        {
            **activity_out(a),
            "me": {
                "member_id": member.pk,
                "registration_id": a.my_registration_id,
                "registration_status": a.my_registration_status,
                "checked_in": a.my_checkin_id is not None,
                "checked_in_at": a.my_checkin_at,
            },
        }
        for a in candidates
        if services.in_audience(a, member)
    ]


@router.get("/mine/attended", response=list[AttendedOut], summary="Activities I attended")
@paginate(LimitOffsetPagination)
def mine_attended(request: HttpRequest):
    """Every activity the signed-in worker checked in to (cancelled ones left out), the
    latest first. Empty for an account without a member record."""
    member = Member.objects.filter(user=request.user).first()
    if member is None:
        return []
    qs = (
        CheckIn.objects.filter(services.status_filter(), member=member)
        .select_related("activity__org", "activity__venue_org")
        .prefetch_related("activity__audience_units")
        .order_by("-at", "-id")
    )
    return _PageOf(
        qs,
        lambda c: {
            "checkin_id": c.pk,
            "at": c.at,
            "method": c.method,
            "activity": activity_out(c.activity),
        },
    )


@router.post(
    "/check-in",
    response={200: CheckInOut, **REFUSALS},
    summary="Check in with a code or a scanned QR token",
)
def check_in_anywhere(request: HttpRequest, payload: SelfCheckInIn):
    """For a worker who does not pick the activity: the QR `token` names it, and a `code`
    opens the activity open for check-in whose audience includes the worker. A retry
    answers 200 with `created` false. Wrong codes are limited per worker (429
    `too_many_attempts`)."""
    user = request.user
    try:
        if payload.token:
            result = services.check_in_with_token(user, payload.token, method=CheckInMethod.API)
        elif payload.code:
            result = services.check_in_with_code(user, payload.code, method=CheckInMethod.API)
        else:
            raise ValidationError(_("Send a code or a token."), code="missing")
    except services.CheckInRefused as refused:
        return refusal(refused.code, refused.message)
    return checkin_out(result)


# --- activities -----------------------------------------------------------------------------


@router.get("", response=list[ActivityOut], summary="Activities in your scope")
@paginate(LimitOffsetPagination)
def activity_list(request: HttpRequest, filters: Query[ActivityFilter]):
    """Activities organised or held by unions in your scope, latest start first; with
    `org_id`, those of that union (`scope=own`) or of its subtree (`scope=subtree`)."""
    qs = Activity.objects.restrict(request.user, Perm.ORG_VIEW)
    if filters.org_id:
        org = _org(request, filters.org_id)
        if filters.scope == "own":
            qs = qs.filter(Q(org=org) | Q(venue_org=org))
        else:
            below = f"ancestor_{org.depth}"
            qs = qs.filter(Q(**{f"org__{below}": org.pk}) | Q(**{f"venue_org__{below}": org.pk}))
    if filters.kind:
        if filters.kind not in ActivityKind.values:
            raise ValidationError(_("Unknown kind of activity."), code="kind")
        qs = qs.filter(kind=filters.kind)
    if filters.status:
        if filters.status not in ActivityStatus.values:
            raise ValidationError(_("Unknown status."), code="status")
        qs = qs.filter(status=filters.status)
    if filters.date_from:
        qs = qs.filter(starts_at__gte=_day_start(filters.date_from))
    if filters.date_to:
        qs = qs.filter(starts_at__lt=_day_start(filters.date_to + datetime.timedelta(days=1)))
    qs = (
        qs.select_related("org", "venue_org")
        .prefetch_related("audience_units")
        .order_by("-starts_at", "-id")
    )
    return _PageOf(qs, activity_out)


@router.post("", response={201: ActivityDetailOut}, summary="Schedule an activity")
def activity_create(request: HttpRequest, payload: ActivityIn):
    """By a cadre who manages activities at `org_id`; held there or at a union below
    (`venue_outside` otherwise). Refusals: `title`, `kind`, `times`, `venue`,
    `venue_dissolved`, `audience_kind`, `audience_outside`, `capacity`, `requirement`."""
    org = _org(request, payload.org_id)
    activity = services.schedule_activity(request.user, org=org, data=_input(request, payload))
    return Status(201, _detail_of(request, activity.pk))


@router.get("/{activity_id}", response=ActivityDetailOut, summary="An activity")
def activity_detail(request: HttpRequest, activity_id: int):
    """For a cadre in scope, or a worker in its audience (with their registration and
    check-in). The check-in code is not here: see …/qr."""
    return _detail_of(request, activity_id)


@router.put("/{activity_id}", response=ActivityDetailOut, summary="Change an activity")
def activity_update(request: HttpRequest, activity_id: int, payload: ActivityUpdateIn):
    """Replaces every field (a field left out takes its default); registrations and
    check-ins stay. `version` must be the one read (409 `stale`). A held activity keeps
    its day, venue and requirement (`held_day`, `held_fixed`); a cancelled one cannot
    change (`cancelled`)."""
    activity = _managed(request, activity_id)
    services.update_activity(
        request.user, activity, _input(request, payload), version=payload.version
    )
    return _detail_of(request, activity.pk)


@router.post("/{activity_id}/held", response=ActivityDetailOut, summary="Record it as held")
def activity_held(request: HttpRequest, activity_id: int):
    """The activity took place (with or without check-ins; the first check-in does this
    by itself). Only a planned activity that has started (`status`, `not_started`)."""
    activity = _managed(request, activity_id)
    services.mark_held(request.user, activity)
    return _detail_of(request, activity.pk)


@router.post("/{activity_id}/cancel", response=ActivityDetailOut, summary="Cancel an activity")
def activity_cancel(request: HttpRequest, activity_id: int, payload: CancelIn):
    """Everything it counted (held, attendances, reach) is withdrawn and everyone
    registered is told why. Cancelling again changes nothing."""
    activity = _managed(request, activity_id)
    services.cancel_activity(request.user, activity, reason=payload.reason)
    return _detail_of(request, activity.pk)


# --- registration -------------------------------------------------------------------------


@router.get(
    "/{activity_id}/registrations",
    response=list[RegistrationOut],
    summary="Who registered",
)
@paginate(LimitOffsetPagination)
def registration_list(request: HttpRequest, activity_id: int, filters: Query[RegistrationFilter]):
    """In the order they registered (the waiting list moves up in this order)."""
    activity = _managed(request, activity_id)
    _require_member_view(request.user, activity)
    qs = Registration.objects.filter(activity=activity).select_related("member__unit")
    if filters.status:
        qs = qs.filter(status=filters.status)
    return _PageOf(qs.order_by("registered_at", "id"), registration_out)


@router.post(
    "/{activity_id}/registrations",
    response={200: RegistrationOut, 201: RegistrationOut},
    summary="Register (报名)",
)
def registration_create(request: HttpRequest, activity_id: int, payload: RegistrationIn):
    """A worker registers themselves; a cadre who manages the activity registers
    `member_id`. `waitlisted` once the capacity is reached. 201 with a new registration;
    200 when the member was already registered. Refusals: `closed`, `not_in_audience`,
    `member_left`, `no_member`."""
    activity, own = _activity(request, activity_id)
    if payload.member_id is not None:
        member = get_in_scope_or_404(
            Member.objects.select_related("unit"),
            request.user,
            Perm.MEMBER_VIEW,
            pk=payload.member_id,
        )
    elif own is not None:
        member = own
    else:
        raise ValidationError(
            _("Your account is not linked to a union member record."), code="no_member"
        )
    seen = (
        Registration.objects.filter(activity=activity, member=member)
        .exclude(status=RegistrationStatus.CANCELLED)
        .exists()
    )
    registration = services.register(request.user, activity, member)
    registration.member = member
    return Status(200 if seen else 201, registration_out(registration))


@router.delete(
    "/{activity_id}/registrations/{registration_id}",
    response=RegistrationOut,
    summary="Cancel a registration",
)
def cancel_registration(request: HttpRequest, activity_id: int, registration_id: int):
    """By the member themselves or a cadre who manages the activity; the first on the
    waiting list takes the place. Again changes nothing."""
    activity, member = _activity(request, activity_id)
    registration = (
        Registration.objects.filter(pk=registration_id, activity=activity)
        .select_related("member__unit")
        .first()
    )
    in_scope = Activity.objects.restrict(request.user, Perm.ORG_VIEW).filter(pk=activity.pk)
    own = registration is not None and member is not None and registration.member_id == member.pk
    if registration is None or not (own or in_scope.exists()):
        raise Http404
    done = services.cancel_registration(request.user, registration)
    done.member = registration.member
    return registration_out(done)


# --- check-in -----------------------------------------------------------------------------


@router.post(
    "/{activity_id}/check-in",
    response={200: CheckInOut | RosterOut, **REFUSALS},
    summary="Check in (签到)",
)
def activity_check_in(request: HttpRequest, activity_id: int, payload: CheckInIn):
    """A worker sends the `code` read aloud or the scanned QR `token` and is checked in
    (`CheckInOut`; a retry answers 200 with `created` false). A cadre who manages the
    activity sends `member_ids`, every member present, all or nothing (`RosterOut`).

    Refusals: `not_in_audience`, `member_left`, `expired_token`, `bad_token`,
    `too_early`, `too_late`, `not_registered`, `wrong_code`, `no_member` (422),
    `cancelled` (409), `too_many_attempts` (429)."""
    if payload.member_ids is not None:
        return _roster(request, activity_id, payload.member_ids)
    if not (payload.token or payload.code):
        _activity(request, activity_id)
        raise ValidationError(_("Send a code or a token."), code="missing")
    answer = self_check_in(request.user, activity_id, code=payload.code, token=payload.token)
    return Status(answer.status, answer.body)


def self_check_in(
    user: Any,
    activity_id: int,
    *,
    code: str | None,
    token: str | None,
    read: services.checkin_sql.CheckInRead | None = None,
) -> Answer:
    """A worker's own check-in by `token` (the scanned QR code) or else `code`: the answer
    of the view above, also served in the API's fast lane (gonghui.api.lane) for a crowd
    checking in at once, which passes what it read with the bearer token (`read`).
    Http404 when the activity is missing or not for the user."""
    try:
        if token:
            if token.split(":", 1)[0] != str(activity_id):
                raise services.CheckInRefused(
                    "bad_token", _("This QR code belongs to another activity.")
                )
            result = services.check_in_with_token(user, token, method=CheckInMethod.API, read=read)
        else:
            try:
                result = services.check_in_self(
                    user, activity_id, code=code or "", method=CheckInMethod.API, read=read
                )
            except Activity.DoesNotExist as missing:
                raise Http404 from missing
    except services.CheckInRefused as refused:
        if not _visible(user, activity_id):
            raise Http404 from refused
        status = refusal(refused.code, refused.message)
        return Answer(status.status_code, RefusalOut.model_validate(status.value).model_dump())
    return Answer(200, checkin_out(result))


# A phone's check-in sent again while the first is still being answered (a retry, a double
# tap) waits for that answer instead of reading and writing again.
_same_check_ins = lane.SameRequests()


@lane.route("POST", r"/api/activities/(\d+)/check-in", CheckInIn)
def lane_check_in(api_key: str, ids: tuple[int, ...], payload: CheckInIn) -> Answer | None:
    """The view's worker check-in, its bearer token read with the activity and the
    worker's member record in one statement. An identical check-in in flight in this
    process answers this one: as a retry (`created` false); a refusal as it is (a wrong
    code sent twice at once counts once toward the limit on wrong codes)."""
    code, token = payload.code, payload.token
    if payload.member_ids is not None or not (code or token):
        return None  # the cadre's roster, or the view's "missing" answer
    activity_id = ids[0]
    key = (api_key, activity_id, code, token, get_language())
    answer, theirs = _same_check_ins.answer(
        key, lambda: _lane_check_in(api_key, activity_id, code, token)
    )
    if theirs and answer is not None and answer.status == 200 and answer.body["created"]:
        return Answer(200, {**answer.body, "created": False})  # as the retry it is
    return answer


def _lane_check_in(
    api_key: str, activity_id: int, code: str | None, token: str | None
) -> Answer | None:
    found = services.read_for_api_check_in(api_key, activity_id, by_code=not token)
    if found is None:
        return None  # no active user holds this token: Django's answer (401 or 403)
    api_token, read = found
    lane.token_used(api_token)
    return self_check_in(api_token.user, activity_id, code=code, token=token, read=read)


def _roster(request: HttpRequest, activity_id: int, member_ids: list[int]) -> Any:
    activity = _managed(request, activity_id)
    wanted = set(member_ids)
    if not wanted:
        raise ValidationError(_("Tick at least one member."), code="member_ids")
    members = Member.objects.restrict(request.user, Perm.MEMBER_VIEW).filter(pk__in=wanted)
    if members.count() != len(wanted):
        raise Http404
    try:
        outcome = services.roster_check_in(request.user, activity, sorted(wanted))
    except ValidationError as exc:
        code = getattr(exc, "code", None)
        if code in CHECK_IN_CODES:
            return refusal(code, " ".join(exc.messages))
        raise
    if outcome.refused:
        detail = [
            {
                "field": "member_ids",
                "code": "member_left"
                if member.status != MemberStatus.ACTIVE
                else "not_in_audience",
                "message": message,
                "member_id": member.pk,
            }
            for member, message in outcome.refused
        ]
        return refusal(detail[0]["code"], detail[0]["message"], detail)
    return {"activity_id": activity.pk, "created": outcome.checked_in, "already": outcome.already}


@router.get("/{activity_id}/checkins", response=list[CheckInRowOut], summary="Who checked in")
@paginate(LimitOffsetPagination)
def checkin_list(request: HttpRequest, activity_id: int):
    """Every member checked in, in the order they came, with how and by whom."""
    activity = _managed(request, activity_id)
    _require_member_view(request.user, activity)
    qs = (
        CheckIn.objects.filter(activity=activity)
        .select_related("member", "unit", "by")
        .order_by("at", "id")
    )
    return _PageOf(qs, checkin_row_out)


@router.get("/{activity_id}/qr", response=QrOut, summary="The QR code and the code to show")
def activity_qr(request: HttpRequest, activity_id: int):
    """For the venue's screen: a fresh token to show as a QR code (fetch again every
    `refresh_seconds`; a scanned token is accepted for `seconds_valid`) and the 6-digit
    code to read aloud. Only for cadres who manage the activity (403 for the others)."""
    activity = _managed(request, activity_id)
    if not services.can_manage(request.user, activity):
        raise PermissionDenied(_("You may not manage this activity."))
    token = services.qr_token(activity)
    return {
        "activity_id": activity.pk,
        "token": token,
        "code": activity.check_in_code,
        "scan_url": request.build_absolute_uri(reverse("activities:scan", kwargs={"token": token})),
        "seconds_valid": services.QR_TOKEN_SECONDS,
        "refresh_seconds": services.QR_ROTATE_SECONDS,
        "check_in_opens_at": activity.check_in_opens_at,
        "check_in_closes_at": activity.check_in_closes_at,
    }
