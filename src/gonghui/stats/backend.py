"""SQL the ORM does not express, for both SQLite and PostgreSQL (tested on both)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection

ADVISORY_LOCK_KEY = 7_411_001  # "gonghui roll-ups"


def lock_rollups() -> None:
    """Serialise folding, moves and rebuilds for the rest of the current transaction.

    PostgreSQL: a transaction-level advisory lock. SQLite: transactions are IMMEDIATE
    (settings), so the writer already holds the database's only write lock.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK_KEY])


def add_to_counts(
    table: str, key_columns: Sequence[str], rows: Iterable[tuple[Any, ...]], batch: int = 500
) -> None:
    """Add each row's last value onto the counter identified by its key columns,
    creating the counter when missing (INSERT .. ON CONFLICT DO UPDATE, which both
    databases understand)."""
    rows = list(rows)
    if not rows:
        return
    columns = [*key_columns, "value"]
    placeholder = "(" + ", ".join(["%s"] * len(columns)) + ")"
    sql_head = f'INSERT INTO "{table}" ({", ".join(columns)}) VALUES '
    sql_tail = (
        f" ON CONFLICT ({', '.join(key_columns)}) "
        f'DO UPDATE SET value = "{table}".value + excluded.value'
    )
    with connection.cursor() as cursor:
        for start in range(0, len(rows), batch):
            chunk = rows[start : start + batch]
            params = [v for row in chunk for v in row]
            cursor.execute(sql_head + ", ".join([placeholder] * len(chunk)) + sql_tail, params)


def append_changes(table: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """Append (org_id, metric, day, delta) rows to the queue of pending changes in one
    statement (the per-fact path of every domain: no ORM objects, one round trip)."""
    if not rows:
        return
    with connection.cursor() as cursor:
        cursor.execute(*append_changes_sql(table, rows))


def append_changes_sql(table: str, rows: Sequence[tuple[Any, ...]]) -> tuple[str, list[Any]]:
    """The INSERT of `append_changes` (rows not empty): (SQL, params), for a caller that
    writes it as a part of a statement of its own (PostgreSQL: a data-modifying CTE)."""
    values = ", ".join(["(%s, %s, %s, %s)"] * len(rows))
    sql = f'INSERT INTO "{table}" (org_id, metric, day, delta) VALUES {values}'
    return sql, [v for row in rows for v in row]


def vacuum(table: str) -> bool:
    """PostgreSQL: VACUUM (ANALYZE) the table, which cannot run inside a transaction;
    whether it ran."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return False
    with connection.cursor() as cursor:
        cursor.execute(f'VACUUM (ANALYZE) "{table}"')
    return True


def create_temp_table(name: str, columns_sql: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f'DROP TABLE IF EXISTS "{name}"')
        suffix = " ON COMMIT DROP" if connection.vendor == "postgresql" else ""
        cursor.execute(f'CREATE TEMPORARY TABLE "{name}" ({columns_sql}){suffix}')


def execute(sql: str, params: Sequence[Any] = ()) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def fetch(sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def insert_new_marks(
    table: str,
    *,
    metric: str,
    key: int,
    org_id: int,
    day: object,
    buckets: Sequence[str],
) -> set[str]:
    """Insert the distinct marks that do not exist yet; return the buckets inserted now.
    A mark inserted meanwhile by a concurrent transaction is skipped (the insert waits
    for it on the unique index), so each key counts once per bucket."""
    if not buckets:
        return set()
    rows = ", ".join(["(%s, %s, %s, %s, %s)"] * len(buckets))
    params: list[Any] = []
    for bucket in buckets:
        params += [metric, bucket, key, org_id, day]
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO "{table}" (metric, bucket, key, org_id, day) VALUES {rows} '
            "ON CONFLICT (metric, bucket, key) DO NOTHING RETURNING bucket",
            params,
        )
        return {row[0] for row in cursor.fetchall()}


def empty_tables(tables: Sequence[str]) -> None:
    """Remove every row. PostgreSQL: TRUNCATE (transactional, leaves no dead rows to vacuum
    after a rebuild of millions of counters)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables))
            return
        for table in tables:
            cursor.execute(f'DELETE FROM "{table}"')


def fold_oldest(
    limit: int,
    *,
    after: int = 0,
    facts: str,
    orgs: str,
    own: str,
    subtree: str,
    subtree_day: str,
    ancestors: Sequence[str],
    trend_depth: int,
) -> tuple[int, int]:
    """Move the oldest `limit` pending changes with ids above `after` into the counters:
    the org's own per-day counter, and every ancestor's (the org included) total and, down
    to `trend_depth`, per-day total. Returns how many changes were folded and the highest
    id folded (`after` when none).

    Callers folding batch after batch pass the last batch's highest id: the queue's index
    still holds the rows deleted before (inside one transaction, or until a vacuum), and
    starting from the lowest id every time would walk all of them again.

    Changes of orgs that no longer exist are dropped (forget_org took their figures out).
    Each counter appears once per statement (grouped), as ON CONFLICT DO UPDATE requires.
    """
    upsert = 'ON CONFLICT ({keys}) DO UPDATE SET value = "{table}".value + excluded.value'
    if connection.vendor == "postgresql":
        # One statement, one snapshot: the rows deleted are exactly the rows summed, even
        # while writers commit changes with lower ids than the newest seen.
        chain = ", ".join(f'({depth}, o."{col}")' for depth, col in enumerate(ancestors))
        sql = f"""
        WITH batch AS (
            DELETE FROM "{facts}" WHERE id IN (
                SELECT id FROM "{facts}" WHERE id > %s ORDER BY id LIMIT %s
            ) RETURNING id, org_id, metric, day, delta
        ), summed AS (
            SELECT b.org_id, b.metric, b.day, SUM(b.delta) AS delta
            FROM batch b JOIN "{orgs}" o ON o.id = b.org_id
            GROUP BY b.org_id, b.metric, b.day HAVING SUM(b.delta) <> 0
        ), spread AS (
            SELECT a.depth, a.ancestor, s.metric, s.day, s.delta
            FROM summed s JOIN "{orgs}" o ON o.id = s.org_id
            CROSS JOIN LATERAL (VALUES {chain}) AS a(depth, ancestor)
            WHERE a.ancestor IS NOT NULL
        ), own_rows AS (
            INSERT INTO "{own}" (org_id, metric, day, value)
            SELECT org_id, metric, day, delta FROM summed ORDER BY 1, 2, 3
            {upsert.format(keys="org_id, metric, day", table=own)}
        ), subtree_rows AS (
            INSERT INTO "{subtree}" (org_id, metric, value)
            SELECT ancestor, metric, SUM(delta) FROM spread
            GROUP BY ancestor, metric HAVING SUM(delta) <> 0 ORDER BY 1, 2
            {upsert.format(keys="org_id, metric", table=subtree)}
        ), subtree_day_rows AS (
            INSERT INTO "{subtree_day}" (org_id, metric, day, value)
            SELECT ancestor, metric, day, SUM(delta) FROM spread WHERE depth <= %s
            GROUP BY ancestor, metric, day HAVING SUM(delta) <> 0 ORDER BY 1, 2, 3
            {upsert.format(keys="org_id, metric, day", table=subtree_day)}
        )
        SELECT COUNT(*), COALESCE(MAX(id), %s) FROM batch
        """
        with connection.cursor() as cursor:
            cursor.execute(sql, [after, limit, trend_depth, after])
            count, last = cursor.fetchone()
            return int(count), int(last)
    # SQLite: one writer at a time (the caller holds the write lock), so the batch is
    # simply every change up to an id.
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT MAX(id), COUNT(*) FROM (SELECT id FROM "{facts}" WHERE id > %s '
            "ORDER BY id LIMIT %s)",
            [after, limit],
        )
        last, count = cursor.fetchone()
        if not count:
            return 0, after
        batch = (
            f'SELECT f.org_id, f.metric, f.day, f.delta FROM "{facts}" f '
            f'JOIN "{orgs}" o ON o.id = f.org_id WHERE f.id > %s AND f.id <= %s'
        )
        cursor.execute(
            f'INSERT INTO "{own}" (org_id, metric, day, value) '
            f"SELECT org_id, metric, day, SUM(delta) FROM ({batch}) WHERE true "
            "GROUP BY org_id, metric, day HAVING SUM(delta) <> 0 "
            + upsert.format(keys="org_id, metric, day", table=own),
            [after, last],
        )
        spread = " UNION ALL ".join(
            f'SELECT {depth} AS depth, o."{col}" AS ancestor, f.metric, f.day, f.delta '
            f'FROM "{facts}" f JOIN "{orgs}" o ON o.id = f.org_id '
            f'WHERE f.id > %s AND f.id <= %s AND o."{col}" IS NOT NULL'
            for depth, col in enumerate(ancestors)
        )
        params = [after, last] * len(ancestors)
        cursor.execute(
            f'INSERT INTO "{subtree}" (org_id, metric, value) '
            f"SELECT ancestor, metric, SUM(delta) FROM ({spread}) WHERE true "
            "GROUP BY ancestor, metric HAVING SUM(delta) <> 0 "
            + upsert.format(keys="org_id, metric", table=subtree),
            params,
        )
        cursor.execute(
            f'INSERT INTO "{subtree_day}" (org_id, metric, day, value) '
            f"SELECT ancestor, metric, day, SUM(delta) FROM ({spread}) WHERE depth <= %s "
            "GROUP BY ancestor, metric, day HAVING SUM(delta) <> 0 "
            + upsert.format(keys="org_id, metric, day", table=subtree_day),
            [*params, trend_depth],
        )
        cursor.execute(f'DELETE FROM "{facts}" WHERE id > %s AND id <= %s', [after, last])
        return int(count), int(last)
