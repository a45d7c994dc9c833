"""Reading figures: every read is O(children) rows whatever the size of the subtree."""

from __future__ import annotations

import datetime
import functools
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from gonghui.core import rows
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


def figures_of(
    orgs: list[Org], names: list[str], *, live: bool = True
) -> dict[int, dict[str, int]]:
    """{org id: {stored metric: subtree total}}: exact now (see live_subtree_figures), or
    with `live` false the folded totals, exact as of the last fold (`Freshness`)."""
    return live_subtree_figures(orgs, names, pending=live)


@dataclass
class Row:
    org: Org
    values: dict[str, int]
    ratios: dict[str, float | None] = field(default_factory=dict)


def _coverage(shown: list[Metric], bucket: str) -> list[tuple[str, str, str]]:
    """(metric, its stored figure, the figure it covers) of the shown coverage metrics."""
    return [(m.code, stored_name(m, bucket), m.coverage_of) for m in shown if m.coverage_of]


def _with_ratios(row: Row, coverage: list[tuple[str, str, str]]) -> Row:
    """`row` with the ratio of each of `coverage` (`_coverage`'s triples)."""
    for code, numerator_name, denominator_name in coverage:
        denominator = row.values.get(denominator_name, 0)
        numerator = row.values.get(numerator_name, 0)
        row.ratios[code] = (numerator / denominator) if denominator else None
    return row


def headline(org: Org, shown: list[Metric], bucket: str = "all", *, live: bool = True) -> Row:
    names = _names(shown, bucket)
    values = figures_of([org], names, live=live)[org.pk]
    return _with_ratios(Row(org, values), _coverage(shown, bucket))


def _names(shown: list[Metric], bucket: str) -> list[str]:
    names = [stored_name(m, bucket) for m in shown]
    names += [m.coverage_of for m in shown if m.coverage_of and m.coverage_of not in names]
    return names


# What a figures table shows of a child: the org model is wide (ten ancestor columns,
# addresses, contacts), and a province has dozens of children.
_CHILD = rows.Shape(Org, ("name", "kind", "code", "depth", "parent", "status"))


def _visible_children(org: Org, user: Any) -> list[Org]:
    # As values, built into instances directly (`rows`): a province's children cost a
    # third of what the ORM's own instances cost.
    found = (
        Org.objects.restrict(user, Perm.ORG_VIEW)
        .filter(parent=org, status=OrgStatus.ACTIVE)
        .order_by("kind", "code")
        .values_list(*_CHILD.attnames)
    )
    return [_CHILD.instance(values) for values in found]


def children_rows(
    org: Org,
    user: Any,
    shown: list[Metric],
    *,
    bucket: str = "all",
    sort: str | None = None,
    descending: bool = True,
    live: bool = True,
) -> list[Row]:
    """The org's visible children with the same figures as the headline, sorted."""
    children = _visible_children(org, user)
    values = figures_of(children, _names(shown, bucket), live=live)
    return _child_rows(children, values, shown, bucket, sort, descending)


@dataclass(frozen=True)
class Dashboard:
    freshness: Freshness
    headline: Row  # the org's whole subtree
    rows: list[Row]  # each visible child's subtree, sorted


def dashboard(
    org: Org,
    user: Any,
    shown: list[Metric],
    *,
    bucket: str = "all",
    sort: str | None = None,
    descending: bool = True,
) -> Dashboard:
    """What a dashboard shows, in three statements (and the user's roles, once per
    request): how fresh the figures are, the children the user may see, and the figures
    of the org and its children together (one snapshot: the headline and the table
    agree)."""
    fresh = freshness()
    children = _visible_children(org, user)
    values = figures_of([org, *children], _names(shown, bucket), live=fresh.live)
    headline = _with_ratios(Row(org, values[org.pk]), _coverage(shown, bucket))
    return Dashboard(
        fresh, headline, _child_rows(children, values, shown, bucket, sort, descending)
    )


def _child_rows(
    children: list[Org],
    values: dict[int, dict[str, int]],
    shown: list[Metric],
    bucket: str,
    sort: str | None,
    descending: bool,
) -> list[Row]:
    """The children's table rows from their figures, with ratios, sorted as asked."""
    coverage = _coverage(shown, bucket)
    rows = [_with_ratios(Row(c, values[c.pk]), coverage) for c in children]
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


# A dashboard adds the changes still pending to the folded totals (exact to the moment)
# while they are at most this many. A longer queue — a province-wide burst the worker
# folds every second — would make each read scan it: the dashboard then shows the folded
# totals, exact as of the last fold, and says so. Its cost stays O(children).
LIVE_PENDING_LIMIT = 1_000


@dataclass(frozen=True)
class Freshness:
    folded_at: datetime.datetime | None
    pending: int  # changes not yet folded (10,001: more than 10,000)

    @property
    def exact(self) -> bool:
        return self.pending == 0

    @property
    def live(self) -> bool:
        """Whether figures read now add the pending changes (exact to the moment)."""
        return self.pending <= LIVE_PENDING_LIMIT


def freshness() -> Freshness:
    # One statement. Counting a short queue is cheap; a long one only needs to be known
    # as "many".
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT (SELECT folded_at FROM "{FoldState._meta.db_table}" WHERE id = 1), '
            f'(SELECT COUNT(*) FROM (SELECT 1 FROM "{FactDelta._meta.db_table}" LIMIT 10001) q)'
        )
        folded_at, pending = cursor.fetchone()
    return Freshness(
        folded_at=rows.db_value(FoldState, "folded_at", folded_at), pending=int(pending)
    )


def live_subtree_figures(
    orgs: list[Org], metrics: list[str], *, pending: bool = True
) -> dict[int, dict[str, int]]:
    """Exact subtree totals right now: the folded totals plus the changes still waiting
    to be folded, read in one statement (one snapshot, so a fold running at the same
    moment is counted exactly once). Costs O(orgs x metrics + pending changes). With
    `pending` false, the folded totals alone: O(orgs x metrics)."""
    figures = {o.pk: dict.fromkeys(metrics, 0) for o in orgs}
    if not orgs or not metrics:
        return figures
    by_depth: dict[int, list[int]] = defaultdict(list)
    for org in orgs:
        by_depth[org.depth].append(org.pk)
    # On PostgreSQL the orgs are one array parameter and the metrics one array constant
    # (a dashboard's few sets of metrics recur): the statement's text depends only on the
    # metrics and the depths read, so its parsing and plan are reused.
    is_metric, metric_params = rows.one_of("metric", metrics, "text", constant=True)
    is_org, org_params = rows.one_of("org_id", list(figures), "bigint")
    parts = [
        f'SELECT org_id AS k, metric AS m, value AS v FROM "{SubtreeCount._meta.db_table}" '
        f"WHERE {is_metric} AND {is_org}"
    ]
    params: list[Any] = [*metric_params, *org_params]
    for depth, ids in sorted(by_depth.items()) if pending else ():
        col = ancestor_field(depth)
        is_key, key_params = rows.one_of("k", ids, "bigint")
        # The pending changes summed by org first, then each org's ancestor looked up by
        # its key (a scalar subquery: one index probe per org with changes). A join would
        # let the planner, misled by the queue's size at its last ANALYZE (a burst's
        # backlog, folded since), read a city's whole subtree of orgs instead.
        parts.append(
            f'SELECT k, m, v FROM (SELECT (SELECT o."{col}" FROM "{Org._meta.db_table}" o '
            f"WHERE o.id = g.org_id) AS k, g.metric AS m, g.v AS v FROM (SELECT org_id, "
            f'metric, CAST(SUM(delta) AS BIGINT) AS v FROM "{FactDelta._meta.db_table}" '
            f"WHERE {is_metric} GROUP BY org_id, metric) g) p WHERE {is_key}"
        )
        params += [*metric_params, *key_params]
    # The folded totals and the pending changes come as rows of their own and are added
    # up here: summing them in the statement sorted every row by org and metric name
    # (a collated text sort), two thirds of the root's read. Sums are bigint (not
    # numeric): psycopg reads ints faster than Decimals.
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        for key, metric, value in cursor.fetchall():
            figures[key][metric] += value
    return figures


def live_subtree_totals(orgs: list[Org], metric: str) -> dict[int, int]:
    return {pk: values[metric] for pk, values in live_subtree_figures(orgs, [metric]).items()}


@functools.cache
def _one_total_sql(depth: int) -> str:
    col = ancestor_field(depth)
    # `live_subtree_figures`' two parts summed into one value, one snapshot: the folded
    # total, and the pending changes summed by org, then each org's ancestor looked up.
    return (
        f'SELECT CAST(COALESCE((SELECT value FROM "{SubtreeCount._meta.db_table}" '
        "WHERE metric = %s AND org_id = %s), 0) + COALESCE((SELECT SUM(g.v) FROM (SELECT "
        f'org_id, SUM(delta) AS v FROM "{FactDelta._meta.db_table}" WHERE metric = %s '
        f'GROUP BY org_id) g WHERE (SELECT o."{col}" FROM "{Org._meta.db_table}" o '
        "WHERE o.id = g.org_id) = %s), 0) AS BIGINT)"
    )


def live_subtree_total(org: Org, metric: str) -> int:
    """One org's exact subtree total of one figure now: `live_subtree_totals` for the
    commonest read (an org's page, `/api/orgs/{id}`), as one value from one statement
    whose text depends only on the org's depth. The read is one index row; its time is
    the round trip and the driver, so nothing else is built around it."""
    return rows.one_value(_one_total_sql(org.depth), [metric, org.pk, metric, org.pk])


def period_total(org: Org, metric: Metric, *, start: datetime.date, end: datetime.date) -> int:
    """The change of a figure in `org`'s subtree over [start, end], exact now (folded
    per-day totals plus what is still pending). Distinct metrics count the keys first
    counted in those days (all-time bucket)."""
    name = stored_name(metric)
    col = ancestor_field(org.depth)
    if org.depth <= TREND_DEPTH:
        folded_sql = (
            f'SELECT value FROM "{SubtreeDayCount._meta.db_table}" '
            "WHERE org_id = %s AND metric = %s AND day >= %s AND day <= %s"
        )
        folded_params: list[Any] = [org.pk, name, start, end]
    else:
        folded_sql = (
            f'SELECT c.value FROM "{OrgDayCount._meta.db_table}" c '
            f'JOIN "{Org._meta.db_table}" o ON o.id = c.org_id '
            f'WHERE o."{col}" = %s AND c.metric = %s AND c.day >= %s AND c.day <= %s'
        )
        folded_params = [org.pk, name, start, end]
    # As in live_subtree_figures: each org with pending changes probed by its key.
    pending_sql = (
        f'SELECT g.v FROM (SELECT org_id, SUM(delta) AS v FROM "{FactDelta._meta.db_table}" '
        "WHERE metric = %s AND day >= %s AND day <= %s GROUP BY org_id) g "
        f'WHERE (SELECT o."{col}" FROM "{Org._meta.db_table}" o WHERE o.id = g.org_id) = %s'
    )
    sql = f"SELECT SUM(value) FROM ({folded_sql} UNION ALL {pending_sql}) t"
    with connection.cursor() as cursor:
        cursor.execute(sql, [*folded_params, name, start, end, org.pk])
        row = cursor.fetchone()
    return int(row[0] or 0)
