"""Backend-specific pieces of bulk writing, each with a test on SQLite and PostgreSQL."""

from __future__ import annotations

from django.db import connection, models


def allocate_ids(model: type[models.Model], count: int) -> list[int]:
    """Reserve `count` primary keys for rows that will be inserted with explicit ids.

    Tree rows need their own id inside their path before they are written, so bulk loads
    allocate ids first. Call inside a transaction: on SQLite the write lock taken by the
    IMMEDIATE transaction keeps the range ours; on PostgreSQL the sequence hands it out.
    """
    if count <= 0:
        return []
    table = model._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [table, count],
            )
            return [row[0] for row in cursor.fetchall()]
        cursor.execute(f'SELECT COALESCE(MAX(id), 0) FROM "{table}"')  # noqa: S608
        high = cursor.fetchone()[0]
        cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
        row = cursor.fetchone()
        start = max(high, row[0] if row else 0) + 1
        # Advance the AUTOINCREMENT counter so ordinary inserts do not reuse the range.
        if row:
            cursor.execute(
                "UPDATE sqlite_sequence SET seq = %s WHERE name = %s", [start + count - 1, table]
            )
        else:
            cursor.execute(
                "INSERT INTO sqlite_sequence (name, seq) VALUES (%s, %s)",
                [table, start + count - 1],
            )
        return list(range(start, start + count))
