"""What figures exist and where their facts are.

Each domain app registers, in its AppConfig.ready():

- its metrics (code, label, group), which the dashboards show without knowing the domain;
- its sources: querysets over its own fact tables that say what every org's own figure
  per day must be. `gonghui rebuild_rollups` recomputes everything from these, and
  `--check` compares them with what the incremental path produced.

A *sum* source yields rows (r_org, r_day, r_value) for a named metric, or, named None,
rows (r_org, r_metric, r_day, r_value) that carry their metric (a set per notice...).
A *distinct* source yields raw facts (r_key, r_org, r_day), e.g. (member, member's unit,
day of a check-in); the figure is the number of distinct keys per bucket (all time,
year, month), counted at the key's org.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.db.models import QuerySet
from django.utils.functional import Promise


@dataclass(frozen=True)
class Metric:
    code: str
    label: str | Promise
    group: str | Promise
    description: str | Promise = ""
    distinct: bool = False
    # What a distinct metric's keys are: "member" keys move with a member's transfer.
    keyed_by: str = "member"
    # Shown among the headline figures and in the children table.
    headline: bool = True
    # The denominator of a coverage ratio, e.g. members reached / members.
    coverage_of: str = ""
    # Offered as a pre-filled figure in notice reports (counted over the notice's period).
    reportable: bool = False
    order: int = 100


@dataclass
class Registry:
    metrics: dict[str, Metric] = field(default_factory=dict)
    sum_sources: list[Callable[[], Iterable[tuple[str | None, QuerySet]]]] = field(
        default_factory=list
    )
    distinct_sources: list[Callable[[], Iterable[tuple[str | None, QuerySet]]]] = field(
        default_factory=list
    )
    # Distinct metrics not registered one by one (one per notice requirement...) say here
    # whether their keys are members.
    member_keyed_matchers: list[Callable[[str], bool]] = field(default_factory=list)

    def add_metric(self, metric: Metric) -> None:
        self.metrics[metric.code] = metric

    def ordered(self) -> list[Metric]:
        return sorted(self.metrics.values(), key=lambda m: (m.order, m.code))


registry = Registry()


def register_metric(metric: Metric) -> Metric:
    registry.add_metric(metric)
    return metric


def register_sum_source(source: Callable[[], Iterable[tuple[str | None, QuerySet]]]) -> None:
    registry.sum_sources.append(source)


def register_distinct_source(
    source: Callable[[], Iterable[tuple[str | None, QuerySet]]],
) -> None:
    registry.distinct_sources.append(source)


def buckets_for(day: datetime.date) -> list[str]:
    """The periods a distinct fact of `day` counts in."""
    return ["all", f"y{day:%Y}", f"m{day:%Y-%m}"]


def bucket_metric(metric: str, bucket: str) -> str:
    """The stored figure of a distinct metric in one bucket, e.g. members_reached@y2026."""
    return f"{metric}@{bucket}"


def register_member_keyed(matcher: Callable[[str], bool]) -> None:
    registry.member_keyed_matchers.append(matcher)


def is_member_keyed(metric: str) -> bool:
    """Whether a distinct metric's keys are members (they follow a member who moves)."""
    known = registry.metrics.get(metric)
    if known is not None:
        return known.distinct and known.keyed_by == "member"
    return any(matcher(metric) for matcher in registry.member_keyed_matchers)
