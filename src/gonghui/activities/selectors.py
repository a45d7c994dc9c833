"""Reads of activities: an org's list and calendar, a worker's own, an activity's audience
roster and counts, and what the activities linked to a notice requirement reached.

Lists go through the scoping filter (``Activity.objects.restrict``); a subtree is one
indexed equality on an ancestor column of the venue, never a recursive query.
"""

from __future__ import annotations

import calendar
import datetime
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

from django.core.paginator import Page, Paginator
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from gonghui.activities import figures
from gonghui.activities.models import (
    Activity,
    ActivityStatus,
    CheckIn,
    Registration,
    RegistrationStatus,
)
from gonghui.orgs import scoping
from gonghui.orgs.models import Member, MemberStatus, Org, OrgStatus, ancestor_field
from gonghui.orgs.scoping import Perm
from gonghui.orgs.search import looks_like_pinyin

OWN = "own"
SUBTREE = "subtree"
ROSTER_PAGE_SIZE = 50
# A worker's "for me" page looks this far ahead, and lists at most this many.
UPCOMING_DAYS = 90
UPCOMING_LIMIT = 50


# --- an org's activities ------------------------------------------------------------------


def visible_activities(user: Any) -> QuerySet[Activity]:
    return cast("QuerySet[Activity]", Activity.objects.restrict(user, Perm.ORG_VIEW))


def activities_of_org(user: Any, org: Org, *, scope: str = OWN) -> QuerySet[Activity]:
    """Activities the user may see that `org` organised or that were held at it (own), or
    that were held anywhere in its subtree (a venue is always in its organiser's subtree,
    so this also holds everything organised in the subtree)."""
    qs = visible_activities(user).select_related("org", "venue_org")
    if scope == SUBTREE:
        return qs.filter(**{f"venue_org__{ancestor_field(org.depth)}": org.pk})
    return qs.filter(Q(org=org) | Q(venue_org=org))


def month_bounds(year: int, month: int) -> tuple[datetime.datetime, datetime.datetime]:
    """The local start of the month and of the next one, as aware datetimes."""
    tz = timezone.get_current_timezone()
    start = datetime.datetime(year, month, 1, tzinfo=tz)
    following = datetime.datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=tz)
    return start, following


def in_month(qs: QuerySet[Activity], year: int, month: int) -> QuerySet[Activity]:
    start, following = month_bounds(year, month)
    return qs.filter(starts_at__gte=start, starts_at__lt=following)


@dataclass
class CalendarDay:
    day: datetime.date
    in_month: bool
    is_today: bool
    activities: list[Activity]


def month_calendar(qs: QuerySet[Activity], year: int, month: int) -> list[list[CalendarDay]]:
    """Weeks (Monday first) of the month, each day with the activities starting on it."""
    by_day: dict[datetime.date, list[Activity]] = defaultdict(list)
    for activity in in_month(qs, year, month).order_by("starts_at", "id"):
        by_day[timezone.localdate(activity.starts_at)].append(activity)
    today = timezone.localdate()
    return [
        [CalendarDay(d, d.month == month, d == today, by_day.get(d, [])) for d in week]
        for week in calendar.Calendar(firstweekday=0).monthdatescalendar(year, month)
    ]


def with_checkin_counts(qs: QuerySet[Activity]) -> QuerySet[Activity]:
    """Each activity with `checkin_count`, counted by one grouped COUNT per page."""
    return qs.annotate(checkin_count=Count("checkins", distinct=True))


# --- one activity -------------------------------------------------------------------------


@dataclass(frozen=True)
class Counts:
    registered: int
    waitlisted: int
    checked_in: int


def counts(activity: Activity) -> Counts:
    """Confirmed and waiting registrations and check-ins, each one COUNT query."""
    registrations = Registration.objects.filter(activity=activity)
    return Counts(
        registered=registrations.filter(status=RegistrationStatus.CONFIRMED).count(),
        waitlisted=registrations.filter(status=RegistrationStatus.WAITLISTED).count(),
        checked_in=CheckIn.objects.filter(activity=activity).count(),
    )


def registrations(activity: Activity) -> QuerySet[Registration]:
    """Live registrations: confirmed first, then the waiting list in order of arrival."""
    return (
        Registration.objects.filter(
            activity=activity,
            status__in=[RegistrationStatus.CONFIRMED, RegistrationStatus.WAITLISTED],
        )
        .select_related("member", "member__unit")
        .order_by("status", "registered_at", "id")  # "confirmed" < "waitlisted"
    )


def checkins(activity: Activity) -> QuerySet[CheckIn]:
    return (
        CheckIn.objects.filter(activity=activity)
        .select_related("member", "unit", "by")
        .order_by("-at", "-id")
    )


def audience_q(activity: Activity, prefix: str = "unit__") -> Q:
    """Members (through their unit) in the audience: the venue's subtree, narrowed to
    units of the chosen kinds and to the subtrees of the chosen units."""
    venue = activity.venue_org
    q = Q(**{f"{prefix}{ancestor_field(venue.depth)}": venue.pk})
    if activity.audience_kinds:
        q &= Q(**{f"{prefix}kind__in": list(activity.audience_kinds)})
    units = list(activity.audience_units.all())
    if units:
        within = Q(pk__in=[])
        for unit in units:
            within |= Q(**{f"{prefix}{ancestor_field(unit.depth)}": unit.pk})
        q &= within
    return q


def audience(activity: Activity, user: Any = None, *, query: str = "") -> QuerySet[Member]:
    """Active members of the audience (only those `user` may see, when given), each with
    `checked_in`, ordered by unit and name; `query` matches the name or its pinyin."""
    qs = Member.objects.filter(audience_q(activity), status=MemberStatus.ACTIVE)
    if user is not None:
        qs = qs.filter(scoping.scope_q(user, Perm.MEMBER_VIEW, "unit"))
    query = (query or "").strip()
    if query:
        match = Q(name__icontains=query)
        if looks_like_pinyin(query):
            key = query.replace(" ", "").lower()
            match |= Q(name_initials__startswith=key) | Q(name_pinyin__startswith=key)
        qs = qs.filter(match)
    present = CheckIn.objects.filter(activity=activity, member=OuterRef("pk"))
    return (
        qs.select_related("unit")
        .annotate(checked_in=Exists(present))
        .order_by("unit__path", "name", "id")
    )


def roster_page(
    activity: Activity, user: Any, *, query: str = "", page: Any = None
) -> Page[Member]:
    return Paginator(audience(activity, user, query=query), ROSTER_PAGE_SIZE).get_page(page)


# --- a worker's activities ------------------------------------------------------------------


def in_audience_of(activity: Activity, member: Member) -> bool:
    """Like services.in_audience, using audience units already fetched (prefetch)."""
    unit = member.unit
    if not unit.is_descendant_of(activity.venue_org):
        return False
    if activity.audience_kinds and unit.kind not in activity.audience_kinds:
        return False
    units = list(activity.audience_units.all())
    return not units or any(unit.is_descendant_of(u) for u in units)


def upcoming_for(member: Member, *, now: datetime.datetime | None = None) -> list[Activity]:
    """Activities not over yet whose audience includes the member: those held at the
    member's unit or a union above it (at most ten venues), then narrowed in Python by
    the unit kinds and units chosen (a JSON list the databases query differently)."""
    now = now or timezone.now()
    candidates = (
        Activity.objects.filter(
            venue_org_id__in=member.unit.ancestor_ids,
            status__in=[ActivityStatus.PLANNED, ActivityStatus.HELD],
            ends_at__gte=now,
            starts_at__lte=now + datetime.timedelta(days=UPCOMING_DAYS),
        )
        .select_related("venue_org", "org")
        .prefetch_related("audience_units")
        .order_by("starts_at", "id")[: UPCOMING_LIMIT * 4]
    )
    return [a for a in candidates if in_audience_of(a, member)][:UPCOMING_LIMIT]


def registrations_of(member: Member, activities: Iterable[Activity]) -> dict[int, Registration]:
    """The member's live registration for each of these activities, by activity id."""
    return {
        r.activity_id: r
        for r in Registration.objects.filter(
            member=member,
            activity__in=list(activities),
            status__in=[RegistrationStatus.CONFIRMED, RegistrationStatus.WAITLISTED],
        )
    }


def checked_in_ids(member: Member, activities: Iterable[Activity]) -> set[int]:
    return set(
        CheckIn.objects.filter(member=member, activity__in=list(activities)).values_list(
            "activity_id", flat=True
        )
    )


def registered_by(member: Member) -> QuerySet[Registration]:
    """The member's live registrations for activities not over yet."""
    return (
        Registration.objects.filter(
            member=member,
            status__in=[RegistrationStatus.CONFIRMED, RegistrationStatus.WAITLISTED],
            activity__ends_at__gte=timezone.now(),
        )
        .exclude(activity__status=ActivityStatus.CANCELLED)
        .select_related("activity", "activity__venue_org")
        .order_by("activity__starts_at", "id")
    )


def attended_by(member: Member) -> QuerySet[CheckIn]:
    return (
        CheckIn.objects.filter(member=member)
        .select_related("activity", "activity__venue_org")
        .order_by("-at", "-id")
    )


def registration_of(activity: Activity, member: Member) -> Registration | None:
    return Registration.objects.filter(activity=activity, member=member).first()


def checkin_of(activity: Activity, member: Member) -> CheckIn | None:
    return CheckIn.objects.filter(activity=activity, member=member).first()


# --- notice requirements --------------------------------------------------------------------


def requirements_for(org: Org) -> list[Any]:
    """Requirements an activity of `org` may meet: those of notices dispatched to `org`
    (the issuer's and those the unions above added when relaying), and those of notices
    `org` issued itself. Open notices only."""
    from gonghui.notices.models import Dispatch, NoticeStatus, Requirement

    received = Dispatch.objects.filter(org=org, notice__status=NoticeStatus.ISSUED).values(
        "notice_id"
    )
    chain = org.ancestor_ids
    return list(
        Requirement.objects.filter(
            Q(notice_id__in=received, relay__isnull=True)
            | Q(notice_id__in=received, relay__org_id__in=chain)
            | Q(notice__issuer=org, notice__status=NoticeStatus.ISSUED, relay__isnull=True)
        )
        .select_related("notice")
        .order_by("-notice__issued_at", "notice_id", "position", "id")
    )


@dataclass(frozen=True)
class Reach:
    """What the activities linked to one requirement reached in one org's subtree."""

    org: Org
    held: int
    checkins: int
    reached: int
    units: int

    @property
    def any(self) -> bool:
        return bool(self.held or self.checkins or self.reached or self.units)


def requirement_names(requirement_id: int) -> dict[str, str]:
    metric = figures.requirement_metric
    return {
        "held": metric(requirement_id, "held"),
        "checkins": metric(requirement_id, "checkins"),
        "reached": metric(requirement_id, "reached") + "@all",
        "units": metric(requirement_id, "units") + "@all",
    }


def reach_of_requirements(requirement_ids: list[int], org: Org) -> dict[int, Reach]:
    """For each requirement, what its linked activities reached in `org`'s subtree, read
    from the roll-ups in one statement."""
    from gonghui.stats.selectors import figures_of

    names_by_req = {pk: requirement_names(pk) for pk in requirement_ids}
    names = [n for names in names_by_req.values() for n in names.values()]
    values = figures_of([org], names)[org.pk] if names else {}
    return {
        pk: Reach(org, **{what: values.get(name, 0) for what, name in req_names.items()})
        for pk, req_names in names_by_req.items()
    }


def requirement_reach(requirement: Any, org: Org, user: Any) -> list[Reach]:
    """For `org` and each active child the user may see: the requirement's held,
    attendances (人次), members reached and units reached, exact now. The first row is
    `org`'s whole subtree."""
    from gonghui.stats.selectors import figures_of

    children = list(
        Org.objects.restrict(user, Perm.ORG_VIEW)
        .filter(parent=org, status=OrgStatus.ACTIVE)
        .order_by("kind", "code")
    )
    names = requirement_names(requirement.pk)
    values = figures_of([org, *children], list(names.values()))
    return [
        Reach(o, **{what: values[o.pk].get(name, 0) for what, name in names.items()})
        for o in [org, *children]
    ]
