"""Figures of competitions, kept by the roll-up engine, counted when results are published:

- ``competitions.held``: competitions whose results were published, at the organiser;
- ``competitions.participants``: people taking part (参赛人次; a team counts its members),
  at the entry's grassroots union;
- ``competitions.units``: grassroots unions taking part (distinct), at the union;

and per notice requirement a competition is linked to (a qualifying round a notice asked
for): ``req.<id>.competitions`` and ``req.<id>.competitors``, shown under the requirement.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from django.db.models import CharField, Count, F, QuerySet, Sum, Value
from django.db.models.functions import Cast, Concat
from django.utils.translation import gettext_lazy as _

from gonghui.competitions.models import Competition, CompetitionStatus, Entry, EntryStatus
from gonghui.stats import services as stats
from gonghui.stats.registry import (
    Metric,
    register_distinct_source,
    register_metric,
    register_sum_source,
)

HELD = "competitions.held"
PARTICIPANTS = "competitions.participants"
UNITS = "competitions.units"


def register() -> None:
    group = _("Competitions")
    register_metric(Metric(HELD, _("Competitions held"), group, _("Results published"), order=70))
    register_metric(
        Metric(
            PARTICIPANTS,
            _("Competitors (人次)"),
            group,
            _("Approved entries; a team counts each member"),
            order=71,
        )
    )
    register_metric(
        Metric(
            UNITS,
            _("Grassroots unions taking part"),
            group,
            distinct=True,
            keyed_by="org",
            order=72,
        )
    )
    register_sum_source(sum_sources)
    register_distinct_source(distinct_sources)


def requirement_metric(requirement_id: int, what: str) -> str:
    """what: competitions (held) or competitors."""
    return f"req.{requirement_id}.{what}"


def _req_metric(field: str, what: str) -> Concat:
    return Concat(
        Value("req."), Cast(field, CharField()), Value(f".{what}"), output_field=CharField()
    )


def _counted() -> QuerySet[Entry]:
    return Entry.objects.filter(
        status=EntryStatus.APPROVED, competition__status=CompetitionStatus.PUBLISHED
    )


def count_published(competition: Competition) -> None:
    """Called by publish_results in its transaction."""
    day = competition.published_on
    assert day is not None
    counts: Counter[tuple[int, str, object]] = Counter()
    counts[(competition.org_id, HELD, day)] += 1
    requirement = competition.requirement_id
    if requirement:
        counts[(competition.org_id, requirement_metric(requirement, "competitions"), day)] += 1
    units = set()
    for unit_id, people in Entry.objects.filter(
        competition=competition, status=EntryStatus.APPROVED
    ).values_list("unit_id", "people"):
        counts[(unit_id, PARTICIPANTS, day)] += people
        if requirement:
            counts[(unit_id, requirement_metric(requirement, "competitors"), day)] += people
        units.add(unit_id)
    for unit_id in sorted(units):
        stats.mark_distinct(metric=UNITS, key=unit_id, org_id=unit_id, day=day, counts=counts)
    stats.emit_counts(counts)


def sum_sources() -> Iterable[tuple[str | None, QuerySet]]:
    published = Competition.objects.filter(status=CompetitionStatus.PUBLISHED)
    yield (
        HELD,
        published.values(r_org=F("org_id"), r_day=F("published_on")).annotate(r_value=Count("id")),
    )
    yield (
        PARTICIPANTS,
        _counted()
        .values(r_org=F("unit_id"), r_day=F("competition__published_on"))
        .annotate(r_value=Sum("people")),
    )
    yield (
        None,
        published.filter(requirement__isnull=False)
        .values(
            r_org=F("org_id"),
            r_metric=_req_metric("requirement_id", "competitions"),
            r_day=F("published_on"),
        )
        .annotate(r_value=Count("id")),
    )
    yield (
        None,
        _counted()
        .filter(competition__requirement__isnull=False)
        .values(
            r_org=F("unit_id"),
            r_metric=_req_metric("competition__requirement_id", "competitors"),
            r_day=F("competition__published_on"),
        )
        .annotate(r_value=Sum("people")),
    )


def distinct_sources() -> Iterable[tuple[str | None, QuerySet]]:
    yield (
        UNITS,
        _counted().values(
            r_key=F("unit_id"), r_org=F("unit_id"), r_day=F("competition__published_on")
        ),
    )
