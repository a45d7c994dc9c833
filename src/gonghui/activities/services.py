"""Scheduling activities, registration and check-in, and what they count.

Every check-in path (QR token, numeric code, roster, attendance sheet, API) ends in
`check_in`, which inserts at most one CheckIn per (activity, member) — INSERT ... ON
CONFLICT DO NOTHING, so a phone's retry or a concurrent double tap counts once — and, only
when the row is new, reports the attendance to the roll-up engine.
"""

from __future__ import annotations

import datetime
import functools
import secrets
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, models, transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from gonghui.accounts.models import ApiToken, hash_token
from gonghui.accounts.services import notify
from gonghui.activities import checkin_sql, figures
from gonghui.activities.models import (
    CHECK_IN_CLOSES_AFTER,
    CHECK_IN_OPENS_BEFORE,
    EVIDENCE_MAX_BYTES,
    EVIDENCE_TYPES,
    Activity,
    ActivityKind,
    ActivityStatus,
    CheckIn,
    CheckInMethod,
    CheckInRefusal,
    Evidence,
    EvidenceKind,
    Registration,
    RegistrationStatus,
    UnitReach,
)
from gonghui.audit.models import AuditAction
from gonghui.audit.services import record
from gonghui.core.errors import ConcurrentEditError
from gonghui.core.request_context import current_ip
from gonghui.orgs import scoping
from gonghui.orgs.identity import id_number_hash, parse_id_number
from gonghui.orgs.models import (
    MEMBER_UNIT_KINDS,
    Member,
    MemberStatus,
    Org,
    OrgKind,
)
from gonghui.orgs.scoping import Perm
from gonghui.stats import services as stats
from gonghui.stats.registry import bucket_metric, buckets_for

# The QR code on the venue's screen changes this often, and a scanned token is good for
# this long (time to point a phone and load the page on a slow network).
QR_ROTATE_SECONDS = 20
QR_TOKEN_SECONDS = 90
# A worker who scanned while signed out has this long to sign in and be checked in.
PENDING_SCAN_SECONDS = 10 * 60
# Numeric codes: at most this many wrong codes per worker per window.
CODE_ATTEMPTS = 10
CODE_WINDOW = datetime.timedelta(minutes=10)

ORG_LEVEL_KINDS = (OrgKind.PROVINCE, OrgKind.CITY, OrgKind.COUNTY, OrgKind.TOWNSHIP)

# The columns a worker's check-in reads (see checkin_sql).
CHECK_IN_ACTIVITY_FIELDS = checkin_sql.CHECK_IN_ACTIVITY_FIELDS
CHECK_IN_MEMBER_FIELDS = checkin_sql.CHECK_IN_MEMBER_FIELDS


class CheckInRefused(Exception):
    """A check-in that must not count, with a reason for the worker and a code for the API."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --- scheduling -------------------------------------------------------------------------


@dataclass
class ActivityInput:
    kind: str
    title: str
    starts_at: datetime.datetime
    ends_at: datetime.datetime
    venue_org: Org | None = None
    description: str = ""
    speaker: str = ""
    place: str = ""
    audience_kinds: list[str] = field(default_factory=list)
    audience_units: list[Org] = field(default_factory=list)
    capacity: int | None = None
    registration_required: bool = False
    requirement_id: int | None = None


def can_manage(user: Any, activity: Activity) -> bool:
    return scoping.can(user, Perm.ACTIVITY_MANAGE, activity.org) or scoping.can(
        user, Perm.ACTIVITY_MANAGE, activity.venue_org
    )


def _require_manage(user: Any, activity: Activity) -> None:
    if not can_manage(user, activity):
        raise PermissionDenied(_("You may not manage this activity."))


def _new_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def _clean(org: Org, data: ActivityInput, *, existing: Activity | None = None) -> ActivityInput:
    title = " ".join((data.title or "").split())
    if not title:
        raise ValidationError(_("Give the activity a title."), code="title")
    data.title = title[:200]
    if data.kind not in ActivityKind.values:
        raise ValidationError(_("Unknown kind of activity."), code="kind")
    if data.starts_at is None or data.ends_at is None:
        raise ValidationError(_("Give the start and the end."), code="times")
    if data.ends_at <= data.starts_at:
        raise ValidationError(_("The activity must end after it starts."), code="times")
    if data.ends_at - data.starts_at > datetime.timedelta(days=31):
        raise ValidationError(_("An activity lasts at most 31 days."), code="times")
    venue = data.venue_org or org
    if not venue.is_descendant_of(org):
        raise ValidationError(
            _("%(venue)s is not %(org)s or a union below it.")
            % {"venue": venue.name, "org": org.name},
            code="venue_outside",
        )
    if not venue.is_active:
        raise ValidationError(
            _("%(venue)s is dissolved.") % {"venue": venue.name}, code="venue_dissolved"
        )
    if org.kind in MEMBER_UNIT_KINDS and venue.kind not in MEMBER_UNIT_KINDS:
        raise ValidationError(_("Choose a workshop or team of this union."), code="venue")
    data.venue_org = venue
    kinds = [k for k in data.audience_kinds if k]
    unknown = [k for k in kinds if k not in MEMBER_UNIT_KINDS]
    if unknown:
        raise ValidationError(
            _("The audience is narrowed by grassroots unions, workshops or teams only."),
            code="audience_kind",
        )
    data.audience_kinds = kinds
    for unit in data.audience_units:
        if not unit.is_descendant_of(venue):
            raise ValidationError(
                _("%(unit)s is not below %(venue)s.") % {"unit": unit.name, "venue": venue.name},
                code="audience_outside",
            )
    if data.capacity is not None and data.capacity < 1:
        raise ValidationError(_("The capacity must be at least 1."), code="capacity")
    if data.requirement_id:
        _check_requirement(org, data.requirement_id)
    if existing is not None and existing.status == ActivityStatus.HELD:
        new_day = timezone.localdate(data.starts_at)
        if new_day != existing.held_on:
            raise ValidationError(
                _("This activity was held on %(day)s; its day cannot change.")
                % {"day": existing.held_on},
                code="held_day",
            )
    return data


def _check_requirement(org: Org, requirement_id: int) -> None:
    from gonghui.notices.models import Dispatch, NoticeStatus, Requirement

    requirement = Requirement.objects.filter(pk=requirement_id).select_related("notice").first()
    if requirement is None or requirement.notice.status != NoticeStatus.ISSUED:
        raise ValidationError(_("That notice requirement does not exist."), code="requirement")
    # The requirement must be one the organiser (or a union above it) received, or issued.
    chain = org.ancestor_ids
    received = Dispatch.objects.filter(notice_id=requirement.notice_id, org_id__in=chain).exists()
    if not received and requirement.notice.issuer_id not in chain:
        raise ValidationError(
            _("%(org)s did not receive the notice of that requirement.") % {"org": org.name},
            code="requirement",
        )


def _snapshot(activity: Activity) -> dict[str, Any]:
    return {
        "kind": activity.kind,
        "title": activity.title,
        "venue": activity.venue_org_id,
        "starts_at": activity.starts_at.isoformat(),
        "ends_at": activity.ends_at.isoformat(),
        "place": activity.place,
        "speaker": activity.speaker,
        "capacity": activity.capacity,
        "registration_required": activity.registration_required,
        "requirement": activity.requirement_id,
        "status": activity.status,
    }


@transaction.atomic
def schedule_activity(actor: Any, *, org: Org, data: ActivityInput) -> Activity:
    """A cadre of `org` schedules an activity held at `org` or a union below it."""
    if not scoping.can(actor, Perm.ACTIVITY_MANAGE, org):
        raise PermissionDenied(_("You may not schedule activities for %(org)s.") % {"org": org})
    data = _clean(org, data)
    venue = data.venue_org or org
    activity = Activity.objects.create(
        org=org,
        venue_org=venue,
        kind=data.kind,
        title=data.title,
        description=data.description or "",
        speaker=(data.speaker or "")[:100],
        place=(data.place or "")[:200],
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        audience_kinds=data.audience_kinds,
        capacity=data.capacity,
        registration_required=data.registration_required,
        requirement_id=data.requirement_id,
        check_in_code=_new_code(),
        qr_secret=secrets.token_hex(16),
        created_by=scoping.as_user(actor),
    )
    _set_audience_units(activity, data.audience_units)
    record(
        actor=actor,
        action=AuditAction.CREATE,
        target=activity,
        org=org,
        summary=_("Scheduled %(kind)s “%(title)s”")
        % {"kind": activity.get_kind_display(), "title": activity.title},
        after=_snapshot(activity),
    )
    return activity


@transaction.atomic
def update_activity(
    actor: Any, activity: Activity, data: ActivityInput, *, version: int
) -> Activity:
    """Edit an activity; its registrations and check-ins stay. A stale form is refused."""
    activity = Activity.objects.select_for_update().get(pk=activity.pk)
    _require_manage(actor, activity)
    if activity.is_cancelled:
        raise ValidationError(_("A cancelled activity cannot be edited."), code="cancelled")
    if activity.version != version:
        raise ConcurrentEditError(
            _("Someone else changed this activity meanwhile. Reload it and edit again."),
            code="stale",
        )
    data = _clean(activity.org, data, existing=activity)
    before = _snapshot(activity)
    moved_requirement = activity.requirement_id != data.requirement_id
    venue_changed = activity.venue_org_id != data.venue_org.pk  # type: ignore[union-attr]
    if activity.status == ActivityStatus.HELD and (moved_requirement or venue_changed):
        raise ValidationError(
            _("This activity was held; its venue and notice requirement cannot change."),
            code="held_fixed",
        )
    if moved_requirement and activity.checkins.exists():
        raise ValidationError(
            _("Members have checked in; the notice requirement cannot change."),
            code="requirement_fixed",
        )
    if activity.status == ActivityStatus.HELD and activity.kind != data.kind:
        # Held counts are per kind: move this one.
        day = activity.held_on or activity.start_day
        stats.emit(
            metric=figures.held_metric(activity.kind),
            org_id=activity.venue_org_id,
            day=day,
            delta=-1,
        )
        stats.emit(metric=figures.held_metric(data.kind), org_id=activity.venue_org_id, day=day)  # type: ignore[arg-type]
    activity.kind = data.kind
    activity.title = data.title
    activity.description = data.description or ""
    activity.speaker = (data.speaker or "")[:100]
    activity.place = (data.place or "")[:200]
    activity.starts_at = data.starts_at
    activity.ends_at = data.ends_at
    activity.venue_org = data.venue_org  # type: ignore[assignment]
    activity.audience_kinds = data.audience_kinds
    activity.capacity = data.capacity
    activity.registration_required = data.registration_required
    activity.requirement_id = data.requirement_id
    activity.version = F("version") + 1
    activity.save()
    activity.refresh_from_db()
    _set_audience_units(activity, data.audience_units)
    _promote_waitlist(activity)
    record(
        actor=actor,
        action=AuditAction.UPDATE,
        target=activity,
        org=activity.org,
        summary=_("Changed activity “%(title)s”") % {"title": activity.title},
        before=before,
        after=_snapshot(activity),
    )
    return activity


def _set_audience_units(activity: Activity, units: Sequence[Org]) -> None:
    activity.audience_units.set(units)
    activity.audience_unit_ids = sorted(u.pk for u in units)
    Activity.objects.filter(pk=activity.pk).update(audience_unit_ids=activity.audience_unit_ids)


def _emit_held(activity: Activity, delta: int) -> None:
    for name in figures.held_metrics(activity):
        stats.emit(
            metric=name, org_id=activity.venue_org_id, day=figures.day_of(activity), delta=delta
        )


def _held_units(venue: Org) -> list[tuple[int, str]]:
    """The venue and the units above it within its enterprise, as (id, kind)."""
    return _unit_chain(venue)


def _unit_chain_candidates(org: Org) -> list[int]:
    """`org` and the ancestors that may be units: of these, the ones whose kind is a
    unit's make the chain. A grassroots union is the top of its chain."""
    if org.kind not in MEMBER_UNIT_KINDS:
        return []
    if org.kind == OrgKind.GRASSROOTS:
        return [org.pk]
    return [org.pk, *org.ancestor_ids[:-1]]


def _unit_chain(org: Org) -> list[tuple[int, str]]:
    """`org` and its ancestors that are units (team → workshop → grassroots union)."""
    candidates = _unit_chain_candidates(org)
    if not candidates:
        return []
    chain = [(org.pk, org.kind)]
    above = candidates[1:]
    if above:
        chain += list(
            Org.objects.filter(pk__in=above, kind__in=MEMBER_UNIT_KINDS).values_list("pk", "kind")
        )
    return chain


def _reach_units(
    activity: Activity,
    units: Sequence[tuple[int, str]],
    day: datetime.date,
    *,
    counts: Counter[stats.CountKey] | None = None,
    live: bool = False,
) -> None:
    """Record that the activity reached these units; count each unit the first time."""
    if not units:
        return
    # Always in the same order (by id): concurrent first check-ins of a team member and a
    # workshop member lock the union's row in the same order, never deadlock.
    units = sorted(units)
    table = UnitReach._meta.db_table
    rows = ", ".join(["(%s, %s, %s, %s)"] * len(units))
    params: list[Any] = []
    for unit_id, kind in units:
        params += [activity.pk, unit_id, kind, day]
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO "{table}" (activity_id, unit_id, unit_kind, day) VALUES {rows} '  # noqa: S608
            "ON CONFLICT (activity_id, unit_id) DO NOTHING RETURNING unit_id, unit_kind",
            params,
        )
        new = cursor.fetchall()
    for unit_id, kind in sorted(new):
        for name in figures.unit_metrics(activity, kind):
            stats.mark_distinct(
                metric=name, key=unit_id, org_id=unit_id, day=day, counts=counts, live=live
            )


def _become_held(activity: Activity) -> bool:
    """planned → held, once (concurrent first check-ins race on the WHERE)."""
    # Never a future day (a check-in an hour before a start after midnight): facts are
    # never dated after today, which keeps check-ins on the cheap path of mark_distinct.
    day = min(activity.start_day, timezone.localdate())
    changed = Activity.objects.filter(pk=activity.pk, status=ActivityStatus.PLANNED).update(
        status=ActivityStatus.HELD, held_on=day
    )
    if not changed:
        return False
    activity.status = ActivityStatus.HELD
    activity.held_on = day
    _emit_held(activity, +1)
    _reach_units(activity, _held_units(activity.venue_org), day)
    return True


@transaction.atomic
def mark_held(actor: Any, activity: Activity) -> Activity:
    """The cadre records that the activity took place (with or without check-ins)."""
    activity = Activity.objects.select_for_update().select_related("venue_org").get(pk=activity.pk)
    _require_manage(actor, activity)
    if activity.status != ActivityStatus.PLANNED:
        raise ValidationError(_("Only a planned activity can be marked as held."), code="status")
    if activity.starts_at > timezone.now():
        raise ValidationError(_("The activity has not started yet."), code="not_started")
    _become_held(activity)
    record(
        actor=actor,
        action=AuditAction.UPDATE,
        target=activity,
        org=activity.org,
        summary=_("Marked “%(title)s” as held") % {"title": activity.title},
        after={"status": ActivityStatus.HELD},
    )
    return activity


@transaction.atomic
def cancel_activity(actor: Any, activity: Activity, *, reason: str) -> Activity:
    """Cancel an activity; whatever it counted (held, attendances, reach) is withdrawn."""
    activity = Activity.objects.select_for_update().select_related("venue_org").get(pk=activity.pk)
    _require_manage(actor, activity)
    reason = " ".join((reason or "").split())
    if not reason:
        raise ValidationError(_("Say why the activity is cancelled."), code="reason")
    if activity.is_cancelled:
        return activity  # a retried cancel changes nothing
    was_held = activity.status == ActivityStatus.HELD
    Activity.objects.filter(pk=activity.pk).update(
        status=ActivityStatus.CANCELLED, cancelled_reason=reason[:200], version=F("version") + 1
    )
    if was_held:
        _emit_held(activity, -1)
    _withdraw_attendance(activity)
    activity.refresh_from_db()
    registered = list(
        Registration.objects.filter(
            activity=activity,
            status__in=[RegistrationStatus.CONFIRMED, RegistrationStatus.WAITLISTED],
        ).values_list("member__user", flat=True)
    )
    from django.contrib.auth import get_user_model

    users = list(get_user_model().objects.filter(pk__in=[u for u in registered if u]))
    notify(
        users=users,
        title=_("Cancelled: %(title)s") % {"title": activity.title},
        body=reason,
        link=reverse("activities:mine"),
    )
    record(
        actor=actor,
        action=AuditAction.UPDATE,
        target=activity,
        org=activity.org,
        summary=_("Cancelled “%(title)s”: %(reason)s")
        % {"title": activity.title, "reason": reason},
        after={"status": ActivityStatus.CANCELLED, "reason": reason},
    )
    return activity


def _withdraw_attendance(activity: Activity) -> None:
    """Take a cancelled activity's check-ins and reach out of every figure."""
    counts: Counter[stats.CountKey] = Counter()
    members = []
    for member_id, unit_id, day in CheckIn.objects.filter(activity=activity).values_list(
        "member_id", "unit_id", "day"
    ):
        members.append(member_id)
        for name in figures.checkin_metrics(activity):
            counts[(unit_id, name, day)] -= 1
    stats.emit_counts(counts)
    remaining = CheckIn.objects.filter(status_filter(), member_id__in=members).exclude(
        activity=activity
    )
    requirement = Q(activity__requirement=activity.requirement_id)
    for name in figures.member_metrics(activity):
        facts = remaining if name == figures.REACHED else remaining.filter(requirement)
        stats.recount_distinct(
            metric=name,
            keys=members,
            facts=facts.values_list("member_id", "member__unit_id", "day"),
        )
    reached = list(UnitReach.objects.filter(activity=activity).values_list("unit_id", "unit_kind"))
    by_kind: dict[str, list[int]] = {}
    for unit_id, kind in reached:
        by_kind.setdefault(kind, []).append(unit_id)
    for kind, units in by_kind.items():
        other = UnitReach.objects.filter(status_filter(), unit_id__in=units).exclude(
            activity=activity
        )
        for name in figures.unit_metrics(activity, kind):
            unit_facts = other if name == figures.units_metric(kind) else other.filter(requirement)
            stats.recount_distinct(
                metric=name, keys=units, facts=unit_facts.values_list("unit_id", "unit_id", "day")
            )


def status_filter() -> Q:
    """Facts of activities that count (not cancelled)."""
    return Q(activity__status__in=[ActivityStatus.PLANNED, ActivityStatus.HELD])


# --- audience and registration ------------------------------------------------------------


def in_audience(activity: Activity, member: Member) -> bool:
    unit = member.unit
    if not unit.is_descendant_of(activity.venue_org):
        return False
    if activity.audience_kinds and unit.kind not in activity.audience_kinds:
        return False
    if not activity.audience_unit_ids:
        return True
    chain = set(unit.ancestor_ids)
    return any(pk in chain for pk in activity.audience_unit_ids)


def _require_audience(activity: Activity, member: Member) -> None:
    if member.status != MemberStatus.ACTIVE:
        raise CheckInRefused("member_left", _("This member has left the union."))
    if not in_audience(activity, member):
        raise CheckInRefused(
            "not_in_audience",
            _("%(name)s is not in the audience of this activity.") % {"name": member.name},
        )


def _may_act_for(actor: Any, activity: Activity, member: Member) -> bool:
    user = scoping.as_user(actor)
    if user is not None and member.user_id == user.pk:
        return True
    return can_manage(actor, activity)


@transaction.atomic
def register(actor: Any, activity: Activity, member: Member) -> Registration:
    """Register a member (themselves, or by a cadre); the waiting list once full.
    Registering again returns the existing registration."""
    activity = Activity.objects.select_for_update().select_related("venue_org").get(pk=activity.pk)
    if not _may_act_for(actor, activity, member):
        raise PermissionDenied(_("You may not register this member."))
    if activity.status != ActivityStatus.PLANNED:
        raise ValidationError(
            _("Registration is closed: the activity is %(status)s.")
            % {"status": activity.get_status_display()},
            code="closed",
        )
    if activity.ends_at <= timezone.now():
        raise ValidationError(_("Registration is closed: the activity is over."), code="closed")
    try:
        _require_audience(activity, member)
    except CheckInRefused as refused:
        raise ValidationError(refused.message, code=refused.code) from refused
    existing = Registration.objects.filter(activity=activity, member=member).first()
    if existing is not None and existing.status != RegistrationStatus.CANCELLED:
        return existing
    confirmed = Registration.objects.filter(
        activity=activity, status=RegistrationStatus.CONFIRMED
    ).count()
    full = activity.capacity is not None and confirmed >= activity.capacity
    status = RegistrationStatus.WAITLISTED if full else RegistrationStatus.CONFIRMED
    now = timezone.now()
    if existing is not None:
        existing.status = status
        existing.registered_at = now
        existing.cancelled_at = None
        existing.save(update_fields=["status", "registered_at", "cancelled_at"])
        registration = existing
    else:
        registration = Registration.objects.create(
            activity=activity, member=member, status=status, registered_at=now
        )
    record(
        actor=actor,
        action=AuditAction.CREATE,
        target=registration,
        target_repr=f"{member.name} → {activity.title}",
        org=activity.org,
        summary=_("%(name)s registered (%(status)s)")
        % {"name": member.name, "status": registration.get_status_display()},
    )
    return registration


@transaction.atomic
def cancel_registration(actor: Any, registration: Registration) -> Registration:
    activity = Activity.objects.select_for_update().get(pk=registration.activity_id)
    registration = (
        Registration.objects.select_for_update().select_related("member").get(pk=registration.pk)
    )
    if not _may_act_for(actor, activity, registration.member):
        raise PermissionDenied(_("You may not cancel this registration."))
    if registration.status == RegistrationStatus.CANCELLED:
        return registration
    registration.status = RegistrationStatus.CANCELLED
    registration.cancelled_at = timezone.now()
    registration.save(update_fields=["status", "cancelled_at"])
    record(
        actor=actor,
        action=AuditAction.UPDATE,
        target=registration,
        target_repr=f"{registration.member.name} → {activity.title}",
        org=activity.org,
        summary=_("%(name)s cancelled the registration") % {"name": registration.member.name},
    )
    _promote_waitlist(activity)
    return registration


def _promote_waitlist(activity: Activity) -> list[Registration]:
    """Fill free places from the waiting list, first come first served (activity locked)."""
    if activity.status != ActivityStatus.PLANNED:
        return []
    confirmed = Registration.objects.filter(
        activity=activity, status=RegistrationStatus.CONFIRMED
    ).count()
    free = None if activity.capacity is None else activity.capacity - confirmed
    waiting = Registration.objects.filter(
        activity=activity, status=RegistrationStatus.WAITLISTED
    ).select_related("member__user")
    promoted = list(waiting if free is None else waiting[: max(free, 0)])
    for registration in promoted:
        registration.status = RegistrationStatus.CONFIRMED
        registration.save(update_fields=["status"])
    notify(
        users=[r.member.user for r in promoted if r.member.user_id],
        title=_("You have a place: %(title)s") % {"title": activity.title},
        link=reverse("activities:mine"),
    )
    return promoted


# --- check-in -----------------------------------------------------------------------------


@dataclass
class CheckInResult:
    checkin: CheckIn
    created: bool
    activity: Activity


def _insert_checkin(
    activity: Activity,
    member: Member,
    method: str,
    by_id: int | None,
    at: datetime.datetime,
    day: datetime.date,
) -> int | None:
    """The new check-in's id, or None when the member was already checked in."""
    table = CheckIn._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO "{table}" (activity_id, member_id, unit_id, method, at, day, by_id) '  # noqa: S608
            "VALUES (%s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (activity_id, member_id) DO NOTHING RETURNING id",
            [activity.pk, member.pk, member.unit_id, method, at, day, by_id],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _check_window(activity: Activity, now: datetime.datetime, method: str) -> None:
    if activity.is_cancelled:
        raise CheckInRefused("cancelled", _("This activity was cancelled."))
    if method in (CheckInMethod.ROSTER, CheckInMethod.SHEET):
        # Attendance taken by the cadre: during the activity or afterwards (a paper sheet
        # typed in later), never before the doors open.
        if now < activity.check_in_opens_at:
            raise CheckInRefused(
                "too_early",
                _("Attendance can be taken from %(time)s.")
                % {
                    "time": timezone.localtime(activity.check_in_opens_at).strftime(
                        "%Y-%m-%d %H:%M"
                    )
                },
            )
        return
    if now < activity.check_in_opens_at:
        raise CheckInRefused(
            "too_early",
            _("Check-in opens at %(time)s.")
            % {"time": timezone.localtime(activity.check_in_opens_at).strftime("%Y-%m-%d %H:%M")},
        )
    if now > activity.check_in_closes_at:
        raise CheckInRefused("too_late", _("Check-in for this activity has closed."))


def check_in(
    *,
    activity: Activity,
    member: Member,
    method: str,
    by: Any = None,
    now: datetime.datetime | None = None,
    existing: CheckIn | None = None,
) -> CheckInResult:
    """Count `member` present at `activity`, once. Refusals raise CheckInRefused.

    The caller has established who may do this (the member themselves through a valid
    token or code, or a cadre who manages the activity). `existing`: the member's
    check-in at the activity, when the caller read it already (a retry is answered with
    it once the rules pass, as the write would answer it)."""
    # Taken at this moment by QR, code or app: "live" (no fact of it can be dated later).
    # A caller passing `now` (a replay, an import) takes the careful path.
    live = now is None and method not in (CheckInMethod.ROSTER, CheckInMethod.SHEET)
    now = now or timezone.now()
    _check_window(activity, now, method)
    _require_audience(activity, member)
    if activity.registration_required and method not in (CheckInMethod.ROSTER, CheckInMethod.SHEET):
        registered = Registration.objects.filter(
            activity=activity, member=member, status=RegistrationStatus.CONFIRMED
        ).exists()
        if not registered:
            raise CheckInRefused(
                "not_registered", _("This activity needs registration, and you have no place.")
            )
    if (
        existing is not None
        and existing.activity_id == activity.pk
        and existing.member_id == member.pk
    ):
        return CheckInResult(existing, False, activity)
    # A roster or a sheet typed in after the day still counts on the day it happened.
    today = timezone.localdate(now)
    # Taken now (QR, code, app): today. Typed in by the cadre: the day it happened.
    taken_now = method not in (CheckInMethod.ROSTER, CheckInMethod.SHEET)
    if taken_now or activity.starts_at <= now <= activity.ends_at:
        day = today
    else:
        day = min(activity.start_day, today)
    by_user = scoping.as_user(by)
    if _in_one_statement(activity, live=live):
        return _check_in_in_one_statement(activity, member, method, by, by_user, now, day)
    with transaction.atomic():
        new_id = _insert_checkin(
            activity, member, method, by_user.pk if by_user else None, now, day
        )
        if new_id is None:
            existing = CheckIn.objects.get(activity=activity, member=member)
            return CheckInResult(existing, False, activity)
        if activity.status == ActivityStatus.PLANNED:
            _become_held(activity)
        counts: Counter[stats.CountKey] = Counter()
        for name in figures.checkin_metrics(activity):
            counts[(member.unit_id, name, day)] += 1
        for name in figures.member_metrics(activity):
            stats.mark_distinct(
                metric=name,
                key=member.pk,
                org_id=member.unit_id,
                day=day,
                counts=counts,
                live=live,
            )
        _reach_units(activity, _unit_chain(member.unit), day, counts=counts, live=live)
        stats.emit_counts(counts)
        checkin = CheckIn(
            pk=new_id,
            activity=activity,
            member=member,
            unit_id=member.unit_id,
            method=method,
            at=now,
            day=day,
            by=by_user,
        )
        record(
            actor=by if by is not None else scoping.SYSTEM,
            action=AuditAction.CREATE,
            target=checkin,
            target_repr=f"{member.name} @ {activity.title}",
            org=activity.venue_org,
            summary=_checked_in_summary(get_language(), checkin.method),
        )
    return CheckInResult(checkin, True, activity)


def _in_one_statement(activity: Activity, *, live: bool) -> bool:
    """The common case, written in one statement: a check-in taken now (a crowd checking
    in to an activity under way) on PostgreSQL. A planned activity's first check-ins take
    the ORM path, which makes it held (with its own facts) before counting the
    attendance; so do the cadre's roster and sheet, which may date facts earlier than
    marks already counted (the late-fact correction of `stats.mark_distinct`)."""
    return live and activity.status == ActivityStatus.HELD and connection.vendor == "postgresql"


@functools.lru_cache(maxsize=256)
def _figure_plan(requirement_id: int | None, day: datetime.date) -> checkin_sql.FigurePlan:
    """What a new check-in of `day` to an activity of `requirement_id` counts in: what
    `figures.checkin_metrics`, `member_metrics` and `unit_metrics` give, per bucket."""
    probe = Activity(requirement_id=requirement_id)  # the figures depend on nothing else
    buckets = buckets_for(day)
    member_marks = tuple((name, b) for name in figures.member_metrics(probe) for b in buckets)
    unit_marks = tuple(
        (kind, name, b)
        for kind in MEMBER_UNIT_KINDS
        for name in figures.unit_metrics(probe, kind)
        for b in buckets
    )
    names = {
        (name, b): bucket_metric(name, b)
        for name, b in [*member_marks, *((m, b) for _k, m, b in unit_marks)]
    }
    return checkin_sql.FigurePlan(
        checkin_metrics=tuple(figures.checkin_metrics(probe)),
        member_marks=member_marks,
        unit_kinds=tuple(MEMBER_UNIT_KINDS),
        unit_marks=unit_marks,
        figures=tuple(names.items()),
    )


@functools.lru_cache(maxsize=64)
def _checked_in_summary(language: str | None, method: str) -> str:
    """The audit entry's summary of a check-in, on both of `check_in`'s paths."""
    with translation.override(language):
        label = CheckInMethod(method).label
        return (_("Checked in (%(method)s)") % {"method": label})[:300]


def _check_in_in_one_statement(
    activity: Activity,
    member: Member,
    method: str,
    by: Any,
    by_user: Any,
    now: datetime.datetime,
    day: datetime.date,
) -> CheckInResult:
    """A live check-in on PostgreSQL: the same rows as the path in `check_in` — the
    CheckIn row and, only when it is new, what `mark_distinct(live=True)` (the member's
    marks), `_reach_units` (the unit chain, by id) and `emit_counts` (the figure changes)
    write, and the audit entry `record` writes — in one statement (checkin_sql)."""
    checkin = CheckIn(
        activity=activity,
        member=member,
        unit_id=member.unit_id,
        method=method,
        at=now,
        day=day,
        by=by_user,
    )
    actor = by if by is not None else scoping.SYSTEM
    write = checkin_sql.CheckInWrite(
        activity_id=activity.pk,
        member_id=member.pk,
        unit_id=member.unit_id,
        method=method,
        at=now,
        day=day,
        by_id=by_user.pk if by_user else None,
        plan=_figure_plan(activity.requirement_id, day),
        unit_candidates=_unit_chain_candidates(member.unit),
        # As `record(actor=…, target=checkin, …)` in `check_in` fills the entry.
        audit=checkin_sql.AuditValues(
            actor_id=actor.pk if isinstance(actor, models.Model) else None,
            actor_name=actor.get_username()[:150],
            action=AuditAction.CREATE,
            target_type=CheckIn._meta.label_lower,
            target_repr=f"{member.name} @ {activity.title}"[:200],
            org_id=activity.venue_org_id,
            summary=_checked_in_summary(get_language(), method),
            ip_address=current_ip(),
        ),
    )
    row = checkin_sql.write_check_in(write)
    if row is None:  # a double tap: the other one's row, committed while this one waited
        row = checkin_sql.existing_check_in(activity.pk, member.pk)
        if row is None:  # deleted meanwhile with its activity or member (as the ORM's get)
            raise CheckIn.DoesNotExist(f"check-in of member {member.pk} at {activity.pk}")
    checkin.pk = row.pk
    if not row.created:  # a retry: the first check-in's row
        checkin.unit_id = row.unit_id
        checkin.method = row.method
        checkin.at = row.at
        checkin.day = row.day
        checkin.by_id = row.by_id
    return CheckInResult(checkin, row.created, activity)


def _refuse(user: Any, activity: Activity | None, method: str, refused: CheckInRefused) -> None:
    if scoping.as_user(user) is not None:
        CheckInRefusal.objects.create(
            user=user, activity=activity, method=method, reason=refused.code
        )


def _check_in_as_read(
    user: Any, activity: Activity, read: checkin_sql.CheckInRead, method: str
) -> CheckInResult:
    """The worker's own check-in to `activity` (the one `read` found, verified), as the
    member `read` found, answered with their check-in there if `read` found one."""
    return check_in(
        activity=activity,
        member=_require_member(read.member),
        method=method,
        by=user,
        existing=read.existing,
    )


def _require_member(member: Member | None) -> Member:
    if member is None:
        raise CheckInRefused("no_member", _("Your account is not linked to a union member record."))
    return member


def _read(
    user: Any, activity_id: int | None, *, count_wrong_codes: bool = False
) -> checkin_sql.CheckInRead:
    """The activity with its venue, the worker's member record with their unit and, for a
    numeric code, their wrong codes in the window: in one statement."""
    user = scoping.as_user(user)
    if user is None:  # the system: no member record, no limit
        found = activity_for_check_in(activity_id) if activity_id is not None else None
        return checkin_sql.CheckInRead(found, None, 0)
    return checkin_sql.read_check_in(
        activity_id=activity_id,
        user_id=user.pk,
        member_status=MemberStatus.ACTIVE,
        wrong_codes=(CheckInMethod.CODE, "wrong_code", timezone.now() - CODE_WINDOW)
        if count_wrong_codes
        else None,
    )


def read_for_api_check_in(
    api_key: str, activity_id: int, *, by_code: bool
) -> tuple[ApiToken, checkin_sql.CheckInRead] | None:
    """A phone's check-in to `activity_id` with the bearer token `api_key`: the token and
    its user, and what `_read` reads for them (the wrong codes counted when `by_code`), in
    one statement. None when no active user holds that token."""
    return checkin_sql.read_check_in_by_api_token(
        key_hash=hash_token(api_key),
        activity_id=activity_id,
        member_status=MemberStatus.ACTIVE,
        wrong_codes=(CheckInMethod.CODE, "wrong_code", timezone.now() - CODE_WINDOW)
        if by_code
        else None,
    )


def member_of(user: Any) -> Member:
    return _require_member(_read(user, None).member)


def activity_for_check_in(activity_id: int) -> Activity | None:
    """The activity with its venue, the columns a check-in and its result page use."""
    return (
        Activity.objects.select_related("venue_org")
        .only(*CHECK_IN_ACTIVITY_FIELDS)
        .filter(pk=activity_id)
        .first()
    )


def _token_head(token: str) -> int | None:
    head = (token or "").split(":", 1)[0]
    return int(head) if head.isdigit() and len(head) < 19 else None


# QR tokens: "<activity id>:<timestamp>:<signature>", signed with the activity's own secret
# (a new secret invalidates every token shown so far).


def _qr_signer(activity: Activity) -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=f"gonghui.checkin.{activity.qr_secret}")


def qr_token(activity: Activity) -> str:
    return _qr_signer(activity).sign(str(activity.pk))


def activity_of_token(token: str) -> Activity:
    """The activity a scanned token belongs to, checking signature and age."""
    head = _token_head(token)
    return _verify_token(activity_for_check_in(head) if head is not None else None, token)


def _verify_token(activity: Activity | None, token: str) -> Activity:
    """`activity`, read by the token's head, if the token is its own, signed and fresh."""
    if activity is None:
        raise CheckInRefused("bad_token", _("This QR code is not a Gonghui check-in code."))
    try:
        value = _qr_signer(activity).unsign(token, max_age=QR_TOKEN_SECONDS)
    except signing.SignatureExpired as exc:
        raise CheckInRefused(
            "expired_token", _("This QR code has expired. Scan the code on the screen again.")
        ) from exc
    except signing.BadSignature as exc:
        raise CheckInRefused(
            "bad_token", _("This QR code is not a Gonghui check-in code.")
        ) from exc
    if value != str(activity.pk):
        raise CheckInRefused("bad_token", _("This QR code is not a Gonghui check-in code."))
    return activity


def check_in_with_token(
    user: Any,
    token: str,
    *,
    method: str = CheckInMethod.QR,
    read: checkin_sql.CheckInRead | None = None,
) -> CheckInResult:
    """A worker's scanned QR `token`. `read`: what `_read` would read (the token's activity
    and the user's member record), read already with the bearer token (the API's lane)."""
    activity = None
    try:
        if read is None:
            read = _read(user, _token_head(token))
        activity = _verify_token(read.activity, token)
        return _check_in_as_read(user, activity, read, method)
    except CheckInRefused as refused:
        _refuse(user, activity, method, refused)
        raise


def check_in_scanned(
    user: Any, activity: Activity, *, scanned_at: datetime.datetime
) -> CheckInResult:
    """Finish a QR check-in begun while signed out: the token was valid when scanned."""
    if timezone.now() - scanned_at > datetime.timedelta(seconds=PENDING_SCAN_SECONDS):
        raise CheckInRefused(
            "expired_token", _("This QR code has expired. Scan the code on the screen again.")
        )
    member = member_of(user)
    return check_in(activity=activity, member=member, method=CheckInMethod.QR, by=user)


def _refuse_too_many_attempts(wrong: int) -> None:
    if wrong >= CODE_ATTEMPTS:
        raise CheckInRefused(
            "too_many_attempts",
            _("Too many wrong codes. Try again in %(minutes)d minutes.")
            % {"minutes": int(CODE_WINDOW.total_seconds() // 60)},
        )


def _read_with_code_attempts_left(
    user: Any, activity_id: int | None, read: checkin_sql.CheckInRead | None = None
) -> checkin_sql.CheckInRead:
    """`_read` (or `read`, done already with the wrong codes counted), refusing a worker
    with CODE_ATTEMPTS wrong codes in the window (six digits can be guessed). Every code
    is checked against the limit before it is compared, the right one too: else a guesser
    locked out would still learn the code by its success."""
    if read is None:
        read = _read(user, activity_id, count_wrong_codes=True)
    _refuse_too_many_attempts(read.wrong_codes)
    return read


def check_in_with_code(user: Any, code: str, *, method: str = CheckInMethod.CODE) -> CheckInResult:
    """A worker types the code read aloud. Codes are short, so wrong guesses are limited
    per worker, and a code only opens activities whose audience includes them."""
    code = "".join((code or "").split())
    found = _read_with_code_attempts_left(user, None).member
    try:
        member = _require_member(found)
        if not (code.isdigit() and len(code) == 6):
            raise CheckInRefused("wrong_code", _("The check-in code has 6 digits."))
        now = timezone.now()
        candidates = [
            a
            for a in Activity.objects.select_related("venue_org")
            .only(*CHECK_IN_ACTIVITY_FIELDS)
            .filter(
                check_in_code=code,
                status__in=[ActivityStatus.PLANNED, ActivityStatus.HELD],
                starts_at__lte=now + CHECK_IN_OPENS_BEFORE,
                ends_at__gte=now - CHECK_IN_CLOSES_AFTER,
            )
            if in_audience(a, member)
        ]
        if not candidates:
            raise CheckInRefused(
                "wrong_code", _("No activity open for check-in has this code for you.")
            )
        return check_in(activity=candidates[0], member=member, method=method, by=user)
    except CheckInRefused as refused:
        _refuse(user, None, CheckInMethod.CODE, refused)
        raise


def check_in_self(
    user: Any,
    activity: Activity | int,
    *,
    code: str,
    method: str = CheckInMethod.API,
    read: checkin_sql.CheckInRead | None = None,
) -> CheckInResult:
    """The mobile client: a worker checks in to a known activity (or the activity of this
    id, read with the worker's record in one statement; Activity.DoesNotExist when there
    is none) with its QR token or its code. `read`: that statement's result, read already
    with the bearer token (`read_for_api_check_in`)."""
    activity_id = activity if isinstance(activity, int) else activity.pk
    if ":" in code:
        if read is None or read.activity is None or read.activity.pk != _token_head(code):
            read = _read(user, _token_head(code))
        scanned = _verify_token(read.activity, code)
        if scanned.pk != activity_id:
            raise CheckInRefused("bad_token", _("This QR code belongs to another activity."))
        return _check_in_as_read(user, scanned, read, method)
    read = _read_with_code_attempts_left(
        user, activity_id if isinstance(activity, int) else None, read
    )
    if isinstance(activity, int):
        if read.activity is None:
            raise Activity.DoesNotExist(f"no activity {activity_id}")
        activity = read.activity
    if code.strip() != activity.check_in_code:
        refused = CheckInRefused("wrong_code", _("The check-in code is wrong."))
        _refuse(user, activity, CheckInMethod.CODE, refused)
        raise refused
    return _check_in_as_read(user, activity, read, method)


@dataclass
class RosterOutcome:
    checked_in: int
    already: int
    refused: list[tuple[Member, str]]


def roster_check_in(actor: Any, activity: Activity, member_ids: Iterable[int]) -> RosterOutcome:
    """The cadre ticks members present. All or nothing: a refused member checks in nobody."""
    _require_manage(actor, activity)
    ids = sorted({int(i) for i in member_ids})
    members = list(Member.objects.filter(pk__in=ids).select_related("unit"))
    if len(members) != len(ids):
        raise ValidationError(_("Some of the members do not exist."), code="unknown_member")
    return _check_in_many(actor, activity, members, CheckInMethod.ROSTER)


def _check_in_many(
    actor: Any, activity: Activity, members: list[Member], method: str
) -> RosterOutcome:
    now = timezone.now()
    refused: list[tuple[Member, str]] = []
    try:
        _check_window(activity, now, method)
    except CheckInRefused as whole:
        raise ValidationError(whole.message, code=whole.code) from whole
    for member in members:
        try:
            _require_audience(activity, member)
        except CheckInRefused as reason:
            refused.append((member, reason.message))
    if refused:
        return RosterOutcome(0, 0, refused)
    created = already = 0
    with transaction.atomic():
        for member in members:
            result = check_in(activity=activity, member=member, method=method, by=actor, now=now)
            created += result.created
            already += not result.created
    return RosterOutcome(created, already, [])


# --- attendance sheet -------------------------------------------------------------------


@dataclass
class SheetRowError:
    row: int
    values: list[str]
    reasons: list[str]


class AttendanceSheetRejected(Exception):
    def __init__(self, file_error: str = "", row_errors: list[SheetRowError] | None = None) -> None:
        super().__init__(file_error or "rows")
        self.file_error = file_error
        self.row_errors = row_errors or []


def import_attendance_sheet(
    actor: Any, activity: Activity, stream: IO[bytes], file_name: str
) -> RosterOutcome:
    """An attendance sheet (姓名, 身份证号): every row must name a member of the audience,
    else nothing is checked in and every bad row is returned with its reasons."""
    from gonghui.orgs.importing import ImportRejected, read_table

    _require_manage(actor, activity)
    try:
        headers, rows = read_table(stream, file_name)
        normalised = [h.strip().rstrip("*") for h in headers]
        try:
            name_at = normalised.index("姓名")
        except ValueError:
            name_at = None
        id_at = next(
            (
                normalised.index(h)
                for h in ("身份证号", "身份证号码", "公民身份号码")
                if h in normalised
            ),
            None,
        )
        if id_at is None:
            raise AttendanceSheetRejected(
                _("Required columns are missing: %(cols)s. Use the template.")
                % {"cols": "身份证号"}
            )
        parsed: list[tuple[int, list[str], str, str]] = []
        for number, values in rows:
            name = values[name_at] if name_at is not None and name_at < len(values) else ""
            raw_id = values[id_at] if id_at < len(values) else ""
            parsed.append((number, values, name, raw_id))
    except ImportRejected as rejected:
        raise AttendanceSheetRejected(rejected.file_error) from rejected
    if not parsed:
        raise AttendanceSheetRejected(_("The sheet has no rows."))
    if len(parsed) > 20_000:
        raise AttendanceSheetRejected(_("A sheet holds at most 20,000 rows."))
    errors: list[SheetRowError] = []
    hashes: dict[int, str] = {}
    seen: dict[str, int] = {}
    for number, values, _name, raw_id in parsed:
        try:
            id_number = parse_id_number(raw_id)
        except ValidationError as exc:
            errors.append(SheetRowError(number, values, [str(m) for m in exc.messages]))
            continue
        digest = id_number_hash(id_number.value)
        if digest in seen:
            errors.append(
                SheetRowError(
                    number, values, [_("Same person as row %(n)d.") % {"n": seen[digest]}]
                )
            )
            continue
        seen[digest] = number
        hashes[number] = digest
    members = {
        m.id_number_hash: m
        for m in Member.objects.filter(id_number_hash__in=list(hashes.values())).select_related(
            "unit"
        )
    }
    chosen: list[Member] = []
    for number, values, name, _raw in parsed:
        if number not in hashes:
            continue
        member = members.get(hashes[number])
        reasons = []
        if member is None:
            reasons.append(_("No member has this ID number."))
        else:
            if name and name.strip() != member.name:
                reasons.append(_("The name does not match the member with this ID number."))
            try:
                _require_audience(activity, member)
            except CheckInRefused as refused:
                reasons.append(refused.message)
        if reasons:
            errors.append(SheetRowError(number, values, reasons))
        elif member is not None:
            chosen.append(member)
    if errors:
        raise AttendanceSheetRejected(row_errors=sorted(errors, key=lambda e: e.row))
    return _check_in_many(actor, activity, chosen, CheckInMethod.SHEET)


# --- evidence -----------------------------------------------------------------------------


def add_evidence(actor: Any, activity: Activity, *, upload: Any, kind: str) -> Evidence:
    _require_manage(actor, activity)
    if kind not in EvidenceKind.values:
        raise ValidationError(_("Unknown kind of evidence."), code="kind")
    name = Path(upload.name or "").name[:200]
    suffix = Path(name).suffix.lower()
    if suffix not in EVIDENCE_TYPES:
        raise ValidationError(
            _("Only PDF, Word, PowerPoint, JPEG and PNG files can be attached."), code="file_type"
        )
    if upload.size > EVIDENCE_MAX_BYTES:
        raise ValidationError(
            _("A file can be at most %(mb)d MB.") % {"mb": EVIDENCE_MAX_BYTES // (1024 * 1024)},
            code="file_size",
        )
    head = upload.read(8)
    upload.seek(0)
    if suffix == ".pdf" and not head.startswith(b"%PDF"):
        raise ValidationError(_("The file is not a PDF."), code="file_type")
    if suffix in (".jpg", ".jpeg") and not head.startswith(b"\xff\xd8"):
        raise ValidationError(_("The file is not a JPEG image."), code="file_type")
    if suffix == ".png" and not head.startswith(b"\x89PNG"):
        raise ValidationError(_("The file is not a PNG image."), code="file_type")
    with transaction.atomic():
        evidence = Evidence(
            activity=activity,
            kind=kind,
            name=name,
            size=upload.size,
            content_type=EVIDENCE_TYPES[suffix],
            uploaded_by=scoping.as_user(actor),
        )
        evidence.file.save(f"{secrets.token_hex(8)}{suffix}", upload, save=False)
        evidence.save()
        record(
            actor=actor,
            action=AuditAction.CREATE,
            target=evidence,
            org=activity.org,
            summary=_("Evidence added to “%(title)s”") % {"title": activity.title},
        )
    return evidence


@transaction.atomic
def remove_evidence(actor: Any, evidence: Evidence) -> None:
    _require_manage(actor, evidence.activity)
    record(
        actor=actor,
        action=AuditAction.DELETE,
        target=evidence,
        org=evidence.activity.org,
        summary=_("Evidence removed from “%(title)s”") % {"title": evidence.activity.title},
    )
    evidence.file.delete(save=False)
    evidence.delete()


@transaction.atomic
def renew_qr_secret(actor: Any, activity: Activity) -> Activity:
    """Invalidate every QR token shown so far (a photo of the screen was shared)."""
    _require_manage(actor, activity)
    Activity.objects.filter(pk=activity.pk).update(qr_secret=secrets.token_hex(16))
    activity.refresh_from_db()
    record(
        actor=actor,
        action=AuditAction.UPDATE,
        target=activity,
        org=activity.org,
        summary=_("Renewed the QR code of “%(title)s”") % {"title": activity.title},
    )
    return activity
