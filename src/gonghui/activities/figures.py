"""Reach figures of activities, kept by the roll-up engine.

Global figures, for every org and period:

- ``activities.held`` and ``activities.held.<kind>``: activities held, at the venue, on
  the day they were held;
- ``activities.checkins``: attendances (人次; one person at three sessions is three), at
  the member's unit at check-in;
- ``activities.reached``: members reached (distinct people), at the member's unit, with
  coverage over members;
- ``activities.units.<kind>``: grassroots unions, workshops and teams reached (an
  activity was held there, or one of their members attended), with coverage over units.

And the same per notice requirement an activity was linked to (``req.<id>.held``,
``.checkins``, ``.reached``, ``.units``), so a notice's report shows what its own
activities reached. Facts of cancelled activities count nothing.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from django.db.models import CharField, Count, F, QuerySet, Value
from django.db.models.functions import Cast, Concat
from django.utils.translation import gettext_lazy as _

from gonghui.activities.models import (
    Activity,
    ActivityKind,
    ActivityStatus,
    CheckIn,
    UnitReach,
)
from gonghui.orgs.figures import MEMBERS, org_metric
from gonghui.orgs.models import MEMBER_UNIT_KINDS, OrgKind
from gonghui.stats.registry import (
    Metric,
    register_distinct_source,
    register_metric,
    register_sum_source,
)

HELD = "activities.held"
CHECKINS = "activities.checkins"
REACHED = "activities.reached"


def held_metric(kind: str) -> str:
    return f"{HELD}.{kind}"


def units_metric(unit_kind: str) -> str:
    return f"activities.units.{unit_kind}"


def requirement_metric(requirement_id: int, what: str) -> str:
    """what: held, checkins, reached (distinct members) or units (distinct units)."""
    return f"req.{requirement_id}.{what}"


UNIT_LABELS = {
    OrgKind.GRASSROOTS: _("Grassroots unions reached"),
    OrgKind.BRANCH: _("Workshops reached"),
    OrgKind.TEAM: _("Teams reached"),
}


def register() -> None:
    group = _("Activities")
    register_metric(
        Metric(
            HELD,
            _("Activities held"),
            group,
            _("Study sessions, trainings, lectures and other activities held"),
            reportable=True,
            order=40,
        )
    )
    for order, kind in enumerate(ActivityKind, start=41):
        register_metric(
            Metric(
                held_metric(kind),
                _("%(kind)s held") % {"kind": kind.label},
                group,
                headline=False,
                order=order,
            )
        )
    register_metric(
        Metric(
            CHECKINS,
            _("Attendances (人次)"),
            group,
            _("Check-ins: one person at three sessions counts three times"),
            reportable=True,
            order=46,
        )
    )
    register_metric(
        Metric(
            REACHED,
            _("Members reached"),
            group,
            _("Distinct people who attended at least one activity"),
            distinct=True,
            coverage_of=MEMBERS,
            reportable=True,
            order=47,
        )
    )
    for order, kind in enumerate(MEMBER_UNIT_KINDS, start=48):
        register_metric(
            Metric(
                units_metric(kind),
                UNIT_LABELS[kind],
                group,
                _("Held there, or one of its members attended"),
                distinct=True,
                keyed_by="org",
                coverage_of=org_metric(kind),
                headline=kind == OrgKind.GRASSROOTS,
                reportable=kind == OrgKind.GRASSROOTS,
                order=order,
            )
        )
    register_sum_source(sum_sources)
    register_distinct_source(distinct_sources)


def _counting() -> dict[str, object]:
    return {"activity__status__in": [ActivityStatus.PLANNED, ActivityStatus.HELD]}


def _req_metric(field: str, what: str) -> Concat:
    return Concat(
        Value("req."), Cast(field, CharField()), Value(f".{what}"), output_field=CharField()
    )


def sum_sources() -> Iterable[tuple[str | None, QuerySet]]:
    held = Activity.objects.filter(status=ActivityStatus.HELD)
    yield (
        HELD,
        held.values(r_org=F("venue_org_id"), r_day=F("held_on")).annotate(r_value=Count("id")),
    )
    for kind in ActivityKind:
        yield (
            held_metric(kind),
            held.filter(kind=kind)
            .values(r_org=F("venue_org_id"), r_day=F("held_on"))
            .annotate(r_value=Count("id")),
        )
    yield (
        None,
        held.filter(requirement__isnull=False)
        .values(
            r_org=F("venue_org_id"),
            r_metric=_req_metric("requirement_id", "held"),
            r_day=F("held_on"),
        )
        .annotate(r_value=Count("id")),
    )
    checkins = CheckIn.objects.filter(**_counting())
    yield (
        CHECKINS,
        checkins.values(r_org=F("unit_id"), r_day=F("day")).annotate(r_value=Count("id")),
    )
    yield (
        None,
        checkins.filter(activity__requirement__isnull=False)
        .values(
            r_org=F("unit_id"),
            r_metric=_req_metric("activity__requirement_id", "checkins"),
            r_day=F("day"),
        )
        .annotate(r_value=Count("id")),
    )


def distinct_sources() -> Iterable[tuple[str | None, QuerySet]]:
    checkins = CheckIn.objects.filter(**_counting())
    # Members are counted at their unit now: a transfer moves them (stats.move_distinct_keys).
    yield REACHED, checkins.values(r_key=F("member_id"), r_org=F("member__unit_id"), r_day=F("day"))
    reach = UnitReach.objects.filter(**_counting())
    for kind in MEMBER_UNIT_KINDS:
        yield (
            units_metric(kind),
            reach.filter(unit_kind=kind).values(
                r_key=F("unit_id"), r_org=F("unit_id"), r_day=F("day")
            ),
        )
    yield (
        None,
        checkins.filter(activity__requirement__isnull=False).values(
            r_metric=_req_metric("activity__requirement_id", "reached"),
            r_key=F("member_id"),
            r_org=F("member__unit_id"),
            r_day=F("day"),
        ),
    )
    yield (
        None,
        reach.filter(activity__requirement__isnull=False).values(
            r_metric=_req_metric("activity__requirement_id", "units"),
            r_key=F("unit_id"),
            r_org=F("unit_id"),
            r_day=F("day"),
        ),
    )


def member_metrics(activity: Activity) -> list[str]:
    """The member-keyed distinct figures one check-in of this activity counts in."""
    names = [REACHED]
    if activity.requirement_id:
        names.append(requirement_metric(activity.requirement_id, "reached"))
    return names


def unit_metrics(activity: Activity, unit_kind: str) -> list[str]:
    names = [units_metric(unit_kind)]
    if activity.requirement_id:
        names.append(requirement_metric(activity.requirement_id, "units"))
    return names


def held_metrics(activity: Activity) -> list[str]:
    names = [HELD, held_metric(activity.kind)]
    if activity.requirement_id:
        names.append(requirement_metric(activity.requirement_id, "held"))
    return names


def checkin_metrics(activity: Activity) -> list[str]:
    names = [CHECKINS]
    if activity.requirement_id:
        names.append(requirement_metric(activity.requirement_id, "checkins"))
    return names


def member_keyed(metric: str) -> bool:
    return metric == REACHED or (metric.startswith("req.") and metric.endswith(".reached"))


def day_of(activity: Activity) -> datetime.date:
    return activity.held_on or activity.start_day
