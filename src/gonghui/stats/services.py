"""Writing figures: facts in, folded totals out, and a rebuild that proves them.

Domain services call `emit` / `emit_counts` / `mark_distinct` inside their own
transaction; the rows they append are folded later by `fold_pending` (the worker, every
few seconds). Tree moves call `shift_subtree`, member transfers `move_distinct_keys`.
"""

from __future__ import annotations

import datetime
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from gonghui.orgs.bulk import SharedConnection, insert_rows
from gonghui.orgs.models import ANCESTOR_FIELDS, MAX_DEPTH, Org
from gonghui.stats import backend
from gonghui.stats.models import (
    TREND_DEPTH,
    DistinctMark,
    FactDelta,
    FoldState,
    OrgDayCount,
    SubtreeCount,
    SubtreeDayCount,
)
from gonghui.stats.registry import bucket_metric, buckets_for, is_member_keyed, registry

FOLD_BATCH = 20_000

CountKey = tuple[int, str, datetime.date]  # (org id, metric, day)


# --- facts in ---------------------------------------------------------------------------


def emit(*, metric: str, org_id: int, day: datetime.date, delta: int = 1) -> None:
    """One change of one org's own figure on one day."""
    if delta:
        backend.append_changes(FactDelta._meta.db_table, [(org_id, metric, day, delta)])


def emit_counts(counts: Mapping[CountKey, int], *, shared: SharedConnection | None = None) -> None:
    """Many changes at once (a check-in's figures, imports, bulk moves), already summed
    per (org, metric, day). `shared`: written through that connection (an import's
    writer thread, see orgs.bulk)."""
    rows = _change_rows(counts)
    if shared is None and len(rows) <= 200:
        # A handful (one check-in, one scored quiz): one multi-row INSERT, no model objects.
        backend.append_changes(FactDelta._meta.db_table, rows)
    else:
        insert_rows(
            FactDelta,
            [{"org_id": o, "metric": m, "day": d, "delta": v} for o, m, d, v in rows],
            shared=shared,
        )


def counts_insert_sql(counts: Mapping[CountKey, int]) -> tuple[str, list[Any]] | None:
    """`emit_counts` of a handful of changes as one INSERT statement (SQL, params) that the
    caller runs itself, within a statement of its own (PostgreSQL: a data-modifying CTE,
    saving a round trip); None when every delta is 0."""
    rows = _change_rows(counts)
    return backend.append_changes_sql(FactDelta._meta.db_table, rows) if rows else None


def _change_rows(counts: Mapping[CountKey, int]) -> list[tuple[int, str, Any, int]]:
    """(org_id, metric, day, delta) of the non-zero changes."""
    return [
        (org_id, metric, day, delta) for (org_id, metric, day), delta in counts.items() if delta
    ]


def mark_distinct(
    *,
    metric: str,
    key: int,
    org_id: int,
    day: datetime.date,
    counts: Counter[CountKey] | None = None,
    live: bool = False,
) -> list[str]:
    """Count `key` once per bucket of `day` for `metric`; returns the buckets where this
    was its first fact. Retries and repeats count nothing more.

    The figure changes go into `counts` when given (the caller writes them with its other
    facts in one statement), else they are written here. `live`: the caller guarantees no
    fact of this metric is dated after `day` (a check-in happening now), so no existing
    mark can be later and the read of the key's marks is skipped: one INSERT … ON CONFLICT
    DO NOTHING (a concurrent first fact waits on the unique index, then counts nothing).
    """
    buckets = buckets_for(day)
    own: Counter[CountKey] = Counter() if counts is None else counts
    if live:
        existing: dict[str, tuple[int, datetime.date]] = {}
        missing = buckets
    else:
        existing = {
            bucket: (mark_org, mark_day)
            for bucket, mark_org, mark_day in DistinctMark.objects.filter(
                metric=metric, key=key, bucket__in=buckets
            ).values_list("bucket", "org_id", "day")
        }
        missing = [b for b in buckets if b not in existing]
    first = backend.insert_new_marks(
        DistinctMark._meta.db_table, metric=metric, key=key, org_id=org_id, day=day, buckets=missing
    )
    for bucket in first:
        own[(org_id, bucket_metric(metric, bucket), day)] += 1
    earlier = [b for b, (_org, mark_day) in existing.items() if mark_day > day]
    if earlier:
        # A fact recorded late (an attendance sheet uploaded afterwards) that happened
        # earlier: the key was first counted on this earlier day.
        for mark in DistinctMark.objects.select_for_update().filter(
            metric=metric, key=key, bucket__in=earlier, day__gt=day
        ):
            name = bucket_metric(metric, mark.bucket)
            own[(mark.org_id, name, mark.day)] -= 1
            own[(mark.org_id, name, day)] += 1
            DistinctMark.objects.filter(pk=mark.pk).update(day=day)
    if counts is None:
        emit_counts(own)
    return [b for b in buckets if b in first]


def move_distinct_keys(*, key: int, to_org_id: int, metrics: Iterable[str] | None = None) -> int:
    """A member moved: everything they were counted in moves with them (the metrics
    whose keys are members; others share the key space, e.g. units keyed by org id)."""
    marks = DistinctMark.objects.select_for_update().filter(key=key).exclude(org_id=to_org_id)
    if metrics is not None:
        marks = marks.filter(metric__in=list(metrics))
    counts: Counter[CountKey] = Counter()
    moved = []
    for mark in marks:
        if metrics is None and not is_member_keyed(mark.metric):
            continue
        name = bucket_metric(mark.metric, mark.bucket)
        counts[(mark.org_id, name, mark.day)] -= 1
        counts[(to_org_id, name, mark.day)] += 1
        moved.append(mark.pk)
    if moved:
        DistinctMark.objects.filter(pk__in=moved).update(org_id=to_org_id)
        emit_counts(counts)
    return len(moved)


def recount_distinct(
    *, metric: str, keys: Iterable[int], facts: Iterable[tuple[int, int, datetime.date]]
) -> int:
    """Facts of `keys` were withdrawn (a cancelled activity): make their marks what the
    remaining `facts` (key, org id, day) say, the earliest fact per bucket. Returns how
    many marks changed."""
    keys = list(keys)
    if not keys:
        return 0
    wanted: dict[tuple[int, str], tuple[int, datetime.date]] = {}
    for key, org_id, day in facts:
        for bucket in buckets_for(day):
            current = wanted.get((key, bucket))
            if current is None or day < current[1]:
                wanted[(key, bucket)] = (org_id, day)
    counts: Counter[CountKey] = Counter()
    changed = 0
    existing = {
        (mark.key, mark.bucket): mark
        for mark in DistinctMark.objects.select_for_update().filter(metric=metric, key__in=keys)
    }
    for (key, bucket), mark in existing.items():
        name = bucket_metric(metric, bucket)
        target = wanted.get((key, bucket))
        if target == (mark.org_id, mark.day):
            continue
        counts[(mark.org_id, name, mark.day)] -= 1
        changed += 1
        if target is None:
            DistinctMark.objects.filter(pk=mark.pk).delete()
        else:
            counts[(target[0], name, target[1])] += 1
            DistinctMark.objects.filter(pk=mark.pk).update(org_id=target[0], day=target[1])
    for (key, bucket), (org_id, day) in wanted.items():
        if (key, bucket) in existing:
            continue
        if backend.insert_new_marks(
            DistinctMark._meta.db_table,
            metric=metric,
            key=key,
            org_id=org_id,
            day=day,
            buckets=[bucket],
        ):
            counts[(org_id, bucket_metric(metric, bucket), day)] += 1
            changed += 1
    emit_counts(counts)
    return changed


# --- folding ----------------------------------------------------------------------------


def _ancestors(org_ids: Iterable[int]) -> dict[int, list[int]]:
    rows = Org.objects.filter(pk__in=list(org_ids)).values_list("pk", "depth", *ANCESTOR_FIELDS)
    return {row[0]: list(row[2 : row[1] + 3]) for row in rows}


def _fold_batch(limit: int, after: int = 0) -> tuple[int, int]:
    """Fold the oldest `limit` waiting changes with ids above `after`: summed and spread up
    the tree in SQL (one statement on PostgreSQL), so the cost is the counters' upserts,
    not Python. Returns how many, and the highest id folded."""
    return backend.fold_oldest(
        limit,
        after=after,
        facts=FactDelta._meta.db_table,
        orgs=Org._meta.db_table,
        own=OrgDayCount._meta.db_table,
        subtree=SubtreeCount._meta.db_table,
        subtree_day=SubtreeDayCount._meta.db_table,
        ancestors=ANCESTOR_FIELDS,
        trend_depth=TREND_DEPTH,
    )


def _fold_batches(limit: int, step: Callable[[int, int], tuple[int, int]]) -> int:
    """Batches in id order until the queue is empty (or `limit` folded). A change whose
    id is below the last batch's but that committed only after it (ids are taken before
    commit) is found by one last pass from the start."""
    folded = after = 0
    while folded < limit:
        n, after_batch = step(min(FOLD_BATCH, limit - folded), after)
        folded += n
        if n:
            after = after_batch
            continue
        if after == 0:
            break
        after = 0
    return folded


def _record_fold(folded: int) -> None:
    state, _created = FoldState.objects.get_or_create(pk=1)
    state.folded_at = timezone.now()
    state.folded_total += folded
    state.save()


def fold_pending(*, max_rows: int = 200_000) -> int:
    """Fold waiting facts into the totals, in batches of one transaction each."""

    def step(limit: int, after: int) -> tuple[int, int]:
        with transaction.atomic():
            backend.lock_rollups()
            n, last = _fold_batch(limit, after)
            _record_fold(n)
        return n, last

    return _fold_batches(max_rows, step)


# Dead rows of folded changes the queue may hold before the worker vacuums it itself.
TIDY_AFTER = 20_000
_folded_since_tidy = 0


def fold_and_tidy(*, max_rows: int = 200_000) -> int:
    """The worker's job: fold, and once many changes have been folded, vacuum the queue.

    Every dashboard read scans the (short) queue; its deleted rows stay in the table until
    a vacuum, and a burst (a notice to the province: 120,000 changes) would leave the
    reads scanning them. Autovacuum does this where it runs (the queue's storage settings
    ask for it by row count); doing it here keeps the reads cheap whatever the server's
    configuration."""
    global _folded_since_tidy
    folded = fold_pending(max_rows=max_rows)
    _folded_since_tidy += folded
    if _folded_since_tidy >= TIDY_AFTER and backend.vacuum(FactDelta._meta.db_table):
        _folded_since_tidy = 0
    return folded


def fold_all_locked() -> None:
    """Inside a transaction that holds the roll-up lock: fold everything now."""
    _fold_batches(10**18, _fold_batch)


# --- tree changes -----------------------------------------------------------------------


def prepare_move() -> None:
    """Before a move rewrites the tree: fold what is pending under the old tree, and keep
    the folding worker out until the move commits."""
    backend.lock_rollups()
    fold_all_locked()


def shift_subtree(*, org: Org, old_chain: list[int], new_chain: list[int]) -> None:
    """`org` moved from under `old_chain` (root..old parent) to under `new_chain`: its whole
    subtree's totals leave the old ancestors and join the new ones. Call inside the move's
    transaction, after `prepare_move` and after the tree columns are rewritten."""
    common = 0
    while common < min(len(old_chain), len(new_chain)) and old_chain[common] == new_chain[common]:
        common += 1
    leaving, joining = old_chain[common:], new_chain[common:]
    totals = list(SubtreeCount.objects.filter(org=org).values_list("metric", "value"))
    sub: Counter[tuple[int, str]] = Counter()
    for metric, value in totals:
        for ancestor in leaving:
            sub[(ancestor, metric)] -= value
        for ancestor in joining:
            sub[(ancestor, metric)] += value
    backend.add_to_counts(
        SubtreeCount._meta.db_table, ["org_id", "metric"], [(*k, v) for k, v in sub.items() if v]
    )
    # Per-day totals: the moved org's own day rows exist only down to TREND_DEPTH; below
    # that its contribution is the sum of its subtree's own counters.
    days = _subtree_days(org)
    sub_day: Counter[CountKey] = Counter()
    for (metric, day), value in days.items():
        for depth, ancestor in enumerate(old_chain):
            if depth >= common and depth <= TREND_DEPTH:
                sub_day[(ancestor, metric, day)] -= value
        for depth, ancestor in enumerate(new_chain):
            if depth >= common and depth <= TREND_DEPTH:
                sub_day[(ancestor, metric, day)] += value
    backend.add_to_counts(
        SubtreeDayCount._meta.db_table,
        ["org_id", "metric", "day"],
        [(*k, v) for k, v in sub_day.items() if v],
    )
    # The moved subtree's own per-day rows: orgs that cross TREND_DEPTH gain or lose them.
    _reset_subtree_day_rows(org)


def _subtree_days(org: Org) -> Counter[tuple[str, datetime.date]]:
    rows = OrgDayCount.objects.filter(**{f"org__ancestor_{org.depth}": org.pk}).values_list(
        "metric", "day", "value"
    )
    days: Counter[tuple[str, datetime.date]] = Counter()
    for metric, day, value in rows:
        days[(metric, day)] += value
    return days


def _reset_subtree_day_rows(org: Org) -> None:
    """Recompute SubtreeDayCount for the orgs inside a moved subtree from their own
    counters, since their depth (and so whether they keep trend rows) may have changed."""
    org.refresh_from_db()
    col = f"ancestor_{org.depth}"
    SubtreeDayCount.objects.filter(**{f"org__{col}": org.pk}).delete()
    nodes = dict(Org.objects.filter(**{col: org.pk}).values_list("pk", "depth"))
    chains = _ancestors(nodes)
    rows = OrgDayCount.objects.filter(org_id__in=list(nodes)).values_list(
        "org_id", "metric", "day", "value"
    )
    sub_day: Counter[CountKey] = Counter()
    for org_id, metric, day, value in rows:
        for depth, ancestor in enumerate(chains[org_id]):
            if depth >= org.depth and depth <= TREND_DEPTH:
                sub_day[(ancestor, metric, day)] += value
    backend.add_to_counts(
        SubtreeDayCount._meta.db_table,
        ["org_id", "metric", "day"],
        [(*k, v) for k, v in sub_day.items() if v],
    )


def forget_org(*, org: Org) -> None:
    """Before an org (without children) is deleted: take its own figures out of every
    ancestor's totals."""
    backend.lock_rollups()
    fold_all_locked()
    own = list(OrgDayCount.objects.filter(org=org).values_list("metric", "day", "value"))
    chain = org.ancestor_ids[:-1]
    sub: Counter[tuple[int, str]] = Counter()
    sub_day: Counter[CountKey] = Counter()
    for metric, day, value in own:
        for depth, ancestor in enumerate(chain):
            sub[(ancestor, metric)] -= value
            if depth <= TREND_DEPTH:
                sub_day[(ancestor, metric, day)] -= value
    backend.add_to_counts(
        SubtreeCount._meta.db_table, ["org_id", "metric"], [(*k, v) for k, v in sub.items() if v]
    )
    backend.add_to_counts(
        SubtreeDayCount._meta.db_table,
        ["org_id", "metric", "day"],
        [(*k, v) for k, v in sub_day.items() if v],
    )
    DistinctMark.objects.filter(org_id=org.pk).delete()


# --- rebuilding from the facts ------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    table: str
    org_id: int
    org_name: str
    metric: str
    day: datetime.date | None
    stored: int
    expected: int

    def __str__(self) -> str:
        when = f" on {self.day}" if self.day else ""
        return (
            f"{self.table}: {self.org_name} (id {self.org_id}) {self.metric}{when}: "
            f"stored {self.stored}, facts say {self.expected}"
        )


def _compile(queryset: Any) -> tuple[str, tuple[Any, ...]]:
    sql, params = queryset.query.sql_with_params()
    return sql, tuple(params)


def _expected_own_counts() -> None:
    """Fill temp tables gh_own (org, metric, day, value) and gh_marks from the sources."""
    backend.create_temp_table("gh_own", "org_id bigint, metric varchar(60), day date, value bigint")
    backend.create_temp_table(
        "gh_marks", "metric varchar(60), bucket varchar(16), key bigint, org_id bigint, day date"
    )
    for source in registry.sum_sources:
        for metric, queryset in source():
            if metric is None:
                # The rows name their own metric (e.g. one set of figures per notice).
                sql, params = _compile(
                    queryset.values_list("r_org", "r_metric", "r_day", "r_value")
                )
                backend.execute(
                    "INSERT INTO gh_own (org_id, metric, day, value) "
                    f"SELECT q.r_org, q.r_metric, q.r_day, q.r_value FROM ({sql}) q",
                    params,
                )
                continue
            sql, params = _compile(queryset.values_list("r_org", "r_day", "r_value"))
            backend.execute(
                "INSERT INTO gh_own (org_id, metric, day, value) "
                f"SELECT q.r_org, %s, q.r_day, q.r_value FROM ({sql}) q",
                (metric, *params),
            )
    backend.create_temp_table(
        "gh_marks_raw",
        "metric varchar(60), bucket varchar(16), key bigint, org_id bigint, day date",
    )
    for source in registry.distinct_sources:
        for metric, queryset in source():
            _expected_marks(metric, queryset)
    # One mark per key and bucket, however many sources name the key (an activity reaches
    # a unit by being held there and by its members attending). A key's org is the same in
    # every fact of one metric.
    backend.execute(
        "INSERT INTO gh_marks (metric, bucket, key, org_id, day) "
        "SELECT metric, bucket, key, MIN(org_id), MIN(day) FROM gh_marks_raw "
        "GROUP BY metric, bucket, key"
    )
    backend.execute(
        "INSERT INTO gh_own (org_id, metric, day, value) "
        "SELECT org_id, metric || '@' || bucket, day, COUNT(*) FROM gh_marks "
        "GROUP BY org_id, metric, bucket, day"
    )


def _expected_marks(metric: str | None, queryset: Any) -> None:
    """Distinct facts (r_key, r_org, r_day) to first-day marks per bucket; with metric
    None the facts carry their own (r_metric: a figure per notice requirement...)."""
    from django.db.models import CharField, Min, Value
    from django.db.models.functions import Cast, Concat, ExtractMonth, ExtractYear, LPad

    year = Cast(ExtractYear("r_day"), CharField())
    month = LPad(Cast(ExtractMonth("r_day"), CharField()), 2, Value("0"))
    buckets = {
        "all": Value("all", output_field=CharField()),
        "year": Concat(Value("y"), year, output_field=CharField()),
        "month": Concat(Value("m"), year, Value("-"), month, output_field=CharField()),
    }
    for expression in buckets.values():
        if metric is None:
            grouped = (
                queryset.annotate(r_bucket=expression)
                .values("r_metric", "r_key", "r_org", "r_bucket")
                .annotate(r_first=Min("r_day"))
                .values_list("r_metric", "r_bucket", "r_key", "r_org", "r_first")
            )
            sql, params = _compile(grouped)
            backend.execute(
                "INSERT INTO gh_marks_raw (metric, bucket, key, org_id, day) "
                f"SELECT q.r_metric, q.r_bucket, q.r_key, q.r_org, q.r_first FROM ({sql}) q",
                params,
            )
            continue
        grouped = (
            queryset.annotate(r_bucket=expression)
            .values("r_key", "r_org", "r_bucket")
            .annotate(r_first=Min("r_day"))
            .values_list("r_bucket", "r_key", "r_org", "r_first")
        )
        sql, params = _compile(grouped)
        backend.execute(
            "INSERT INTO gh_marks_raw (metric, bucket, key, org_id, day) "
            f"SELECT %s, q.r_bucket, q.r_key, q.r_org, q.r_first FROM ({sql}) q",
            (metric, *params),
        )


def _expected_totals() -> None:
    backend.create_temp_table("gh_sub", "org_id bigint, metric varchar(60), value bigint")
    backend.create_temp_table(
        "gh_sub_day", "org_id bigint, metric varchar(60), day date, value bigint"
    )
    org_table = Org._meta.db_table
    for depth in range(MAX_DEPTH):
        col = f"ancestor_{depth}"
        backend.execute(
            "INSERT INTO gh_sub (org_id, metric, value) "
            f'SELECT o."{col}", g.metric, SUM(g.value) FROM gh_own g '
            f'JOIN "{org_table}" o ON o.id = g.org_id WHERE o."{col}" IS NOT NULL '
            f'GROUP BY o."{col}", g.metric'
        )
        if depth <= TREND_DEPTH:
            backend.execute(
                "INSERT INTO gh_sub_day (org_id, metric, day, value) "
                f'SELECT o."{col}", g.metric, g.day, SUM(g.value) FROM gh_own g '
                f'JOIN "{org_table}" o ON o.id = g.org_id WHERE o."{col}" IS NOT NULL '
                f'GROUP BY o."{col}", g.metric, g.day'
            )


def _differences(limit: int) -> list[Difference]:
    """Rows where the stored counters and the facts disagree (zero counts are absent)."""
    found: list[Difference] = []
    tables = [
        (
            "own",
            OrgDayCount._meta.db_table,
            "(SELECT org_id, metric, day, SUM(value) AS value FROM gh_own "
            "GROUP BY org_id, metric, day)",
            True,
        ),
        ("subtree", SubtreeCount._meta.db_table, "gh_sub", False),
        ("subtree_day", SubtreeDayCount._meta.db_table, "gh_sub_day", True),
    ]
    for label, live, expected, has_day in tables:
        keys = "org_id, metric, day" if has_day else "org_id, metric"
        day_sel = "day" if has_day else "NULL"
        live_rows = f'(SELECT {keys}, value FROM "{live}" WHERE value <> 0)'
        exp_rows = f"(SELECT {keys}, value FROM {expected} e WHERE value <> 0)"
        # At most `limit` rows from each side: a broken roll-up may differ everywhere.
        sql = (
            f"SELECT * FROM (SELECT org_id, metric, {day_sel}, value, 's' FROM "
            f"(SELECT * FROM {live_rows} a EXCEPT SELECT * FROM {exp_rows} b) x "
            f"ORDER BY 1, 2, 3 LIMIT {int(limit)}) xs "
            f"UNION ALL SELECT * FROM (SELECT org_id, metric, {day_sel}, value, 'e' FROM "
            f"(SELECT * FROM {exp_rows} c EXCEPT SELECT * FROM {live_rows} d) y "
            f"ORDER BY 1, 2, 3 LIMIT {int(limit)}) ys"
        )
        merged: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0])
        for org_id, metric, day, value, side in backend.fetch(sql):
            if isinstance(day, str):
                day = datetime.date.fromisoformat(day)
            merged[(org_id, metric, day)][0 if side == "s" else 1] = value
        names = dict(Org.objects.filter(pk__in={k[0] for k in merged}).values_list("pk", "name"))
        for (org_id, metric, day), (stored, expected_value) in sorted(
            merged.items(), key=lambda kv: (kv[0][0], kv[0][1], str(kv[0][2]))
        ):
            found.append(
                Difference(
                    label, org_id, names.get(org_id, "?"), metric, day, stored, expected_value
                )
            )
            if len(found) >= limit:
                return found
    # The marks themselves: who is counted where.
    sql = (
        f'SELECT metric, bucket, key, org_id, day FROM "{DistinctMark._meta.db_table}" '
        "EXCEPT SELECT metric, bucket, key, org_id, day FROM gh_marks "
        f"LIMIT {max(0, limit - len(found))}"
    )
    for metric, bucket, key, org_id, _day in backend.fetch(sql):
        found.append(Difference("marks", org_id, "?", f"{metric}@{bucket} key {key}", None, 1, 0))
    return found


def rebuild(*, check: bool, limit: int = 50) -> list[Difference]:
    """Recompute every figure from the facts. With `check`, change nothing and return up
    to `limit` differences (empty when the incremental figures are exact); else replace
    them and return nothing."""
    with transaction.atomic():
        backend.lock_rollups()
        fold_all_locked()
        _expected_own_counts()
        _expected_totals()
        if check:
            differences = _differences(limit)
            transaction.set_rollback(True)
            return differences
        # Replacing, not comparing: listing what differed would read every differing row
        # (all of them on a first build) for nothing.
        backend.empty_tables(
            [
                OrgDayCount._meta.db_table,
                SubtreeCount._meta.db_table,
                SubtreeDayCount._meta.db_table,
                DistinctMark._meta.db_table,
            ]
        )
        backend.execute(
            f'INSERT INTO "{OrgDayCount._meta.db_table}" (org_id, metric, day, value) '
            "SELECT org_id, metric, day, SUM(value) FROM gh_own GROUP BY org_id, metric, day "
            "HAVING SUM(value) <> 0"
        )
        backend.execute(
            f'INSERT INTO "{SubtreeCount._meta.db_table}" (org_id, metric, value) '
            "SELECT org_id, metric, value FROM gh_sub WHERE value <> 0"
        )
        backend.execute(
            f'INSERT INTO "{SubtreeDayCount._meta.db_table}" (org_id, metric, day, value) '
            "SELECT org_id, metric, day, value FROM gh_sub_day WHERE value <> 0"
        )
        backend.execute(
            f'INSERT INTO "{DistinctMark._meta.db_table}" (metric, bucket, key, org_id, day) '
            "SELECT metric, bucket, key, org_id, day FROM gh_marks"
        )
        _record_fold(0)
        if connection.vendor == "sqlite":
            for name in ("gh_own", "gh_marks", "gh_marks_raw", "gh_sub", "gh_sub_day"):
                backend.execute(f'DROP TABLE IF EXISTS "{name}"')
    return []
