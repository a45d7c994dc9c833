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
