"""Reading figures: every read is O(children) rows whatever the size of the subtree."""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Sum
from django.utils import timezone

from gonghui.orgs.models import Org, OrgStatus, ancestor_field
from gonghui.orgs.scoping import Perm
from gonghui.stats.models import (
    TREND_DEPTH,
    FactDelta,
    FoldState,
    OrgDayCount,
    SubtreeCount,
    SubtreeDayCount,
)
from gonghui.stats.registry import Metric, registry


def metrics(*, headline_only: bool = False) -> list[Metric]:
    return [m for m in registry.ordered() if m.headline or not headline_only]


def stored_name(metric: Metric, bucket: str = "all") -> str:
    """The counter a metric is read from: distinct metrics per bucket."""
    return f"{metric.code}@{bucket}" if metric.distinct else metric.code


def figures_of(org_ids: list[int], names: list[str]) -> dict[int, dict[str, int]]:
    """{org id: {stored metric: subtree total}} for the given orgs, zeros filled in."""
    values: dict[int, dict[str, int]] = {pk: dict.fromkeys(names, 0) for pk in org_ids}
    rows = SubtreeCount.objects.filter(org_id__in=org_ids, metric__in=names).values_list(
        "org_id", "metric", "value"
    )
    for org_id, metric, value in rows:
        values[org_id][metric] = value
    return values


@dataclass
class Row:
    org: Org
    values: dict[str, int]
    ratios: dict[str, float | None] = field(default_factory=dict)


def _with_ratios(row: Row, shown: list[Metric], bucket: str) -> Row:
    for metric in shown:
        if metric.coverage_of:
            denominator = row.values.get(metric.coverage_of, 0)
            numerator = row.values.get(stored_name(metric, bucket), 0)
            row.ratios[metric.code] = (numerator / denominator) if denominator else None
    return row


def headline(org: Org, shown: list[Metric], bucket: str = "all") -> Row:
    names = _names(shown, bucket)
    return _with_ratios(Row(org, figures_of([org.pk], names)[org.pk]), shown, bucket)


def _names(shown: list[Metric], bucket: str) -> list[str]:
    names = [stored_name(m, bucket) for m in shown]
    names += [m.coverage_of for m in shown if m.coverage_of and m.coverage_of not in names]
    return names


def children_rows(
    org: Org,
    user: Any,
    shown: list[Metric],
    *,
    bucket: str = "all",
    sort: str | None = None,
    descending: bool = True,
) -> list[Row]:
    """The org's visible children with the same figures as the headline, sorted."""
    children = list(
        Org.objects.restrict(user, Perm.ORG_VIEW)
        .filter(parent=org, status=OrgStatus.ACTIVE)
        .order_by("kind", "code")
    )
    names = _names(shown, bucket)
    values = figures_of([c.pk for c in children], names)
    rows = [_with_ratios(Row(c, values[c.pk]), shown, bucket) for c in children]
    if sort:
        by_metric = {m.code: m for m in shown}

        def sort_value(row: Row) -> float:
            if sort.endswith(":ratio"):
                ratio = row.ratios.get(sort.removesuffix(":ratio"))
                return ratio if ratio is not None else -1.0
            metric = by_metric.get(sort)
            return row.values.get(stored_name(metric, bucket), 0) if metric else 0

        rows.sort(key=sort_value, reverse=descending)
    return rows


def trend(
    org: Org, metric: Metric, *, days: int, bucket: str = "all", today: datetime.date | None = None
) -> list[tuple[datetime.date, int, int]]:
    """(day, change that day, running total) over the last `days` days of the subtree."""
    today = today or timezone.localdate()
    start = today - datetime.timedelta(days=days - 1)
    name = stored_name(metric, bucket)
    if org.depth <= TREND_DEPTH:
        daily_rows = SubtreeDayCount.objects.filter(org=org, metric=name)
        before = daily_rows.filter(day__lt=start).aggregate(v=Sum("value"))["v"] or 0
        daily = dict(daily_rows.filter(day__gte=start, day__lte=today).values_list("day", "value"))
    else:
        # Deep, small subtrees (a workshop, a team) sum their own counters directly.
        own = OrgDayCount.objects.filter(
            **{f"org__{ancestor_field(org.depth)}": org.pk}, metric=name
        )
        before = own.filter(day__lt=start).aggregate(v=Sum("value"))["v"] or 0
        daily = defaultdict(int)
        for day, value in own.filter(day__gte=start, day__lte=today).values_list("day", "value"):
            daily[day] += value
    points = []
    running = before
    for offset in range(days):
        day = start + datetime.timedelta(days=offset)
        change = daily.get(day, 0)
        running += change
        points.append((day, change, running))
    return points


@dataclass(frozen=True)
class Freshness:
    folded_at: datetime.datetime | None
    pending: int

    @property
    def exact(self) -> bool:
        return self.pending == 0


def freshness() -> Freshness:
    state = FoldState.objects.filter(pk=1).first()
    # Counting a short queue is cheap; a long one only needs to be known as "many".
    pending = FactDelta.objects.all()[:10_001].count()
    return Freshness(folded_at=state.folded_at if state else None, pending=pending)
