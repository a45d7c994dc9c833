"""Backend-specific pieces of bulk writing, each with a test on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from django.db import connection, models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone


@dataclass(frozen=True)
class SharedConnection:
    """The PostgreSQL connection of a transaction that another thread opened through
    Django, for a helper thread writing on its behalf (see importing.import_members).

    Django's connection object belongs to the thread that opened it; the psycopg
    connection under it may be shared, since psycopg serialises the operations of its
    threads on a lock. Queries made through it bypass Django's cursor wrapper (no query
    log, no execute wrappers) and raise psycopg's own exceptions.
    """

    wrapper: BaseDatabaseWrapper
    raw: Any  # psycopg.Connection

    @classmethod
    def of(cls, wrapper: BaseDatabaseWrapper) -> SharedConnection:
        assert wrapper.vendor == "postgresql" and wrapper.in_atomic_block
        wrapper.ensure_connection()
        return cls(wrapper, wrapper.connection)


@contextmanager
def _cursor(shared: SharedConnection | None) -> Iterator[Any]:
    """A psycopg cursor: of the shared connection, or of this thread's Django connection."""
    if shared is not None:
        with shared.raw.cursor() as cursor:
            yield cursor
        return
    with connection.cursor() as cursor, connection.wrap_database_errors:
        yield cursor.cursor


def allocate_ids(
    model: type[models.Model], count: int, *, shared: SharedConnection | None = None
) -> list[int]:
    """Reserve `count` primary keys for rows that will be inserted with explicit ids.

    Tree rows need their own id inside their path before they are written, so bulk loads
    allocate ids first. Call inside a transaction: on SQLite the write lock taken by the
    IMMEDIATE transaction keeps the range ours; on PostgreSQL the sequence hands it out.
    """
    if count <= 0:
        return []
    table = model._meta.db_table
    if shared is not None:
        with _cursor(shared) as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [table, count],
            )
            return [row[0] for row in cursor.fetchall()]
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


# Fields whose Python values psycopg writes as they are; any other field goes through its
# own get_db_prep_save, as bulk_create does.
_PLAIN_FIELDS = (
    models.CharField,
    models.TextField,
    models.IntegerField,
    models.BooleanField,
    models.ForeignKey,
    models.AutoField,
    models.BigAutoField,
    models.SmallAutoField,
)


def _is_plain(field: models.Field) -> bool:
    # Not DateTimeField (a DateField subclass), which adapts naive and aware values itself.
    return isinstance(field, _PLAIN_FIELDS) or type(field) is models.DateField


def _is_auto_now(field: models.Field) -> bool:
    return bool(getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False))


def insert_rows(
    model: type[models.Model],
    rows: Sequence[Mapping[str, Any]],
    *,
    batch_size: int = 2000,
    shared: SharedConnection | None = None,
) -> None:
    """Insert rows given as {field name or attname: value} as `bulk_create` of
    `model(**row)` would: fields left out get their defaults, auto_now(_add) fields the
    current time, and the primary key comes from the database unless given.

    Every row names the same fields. No ids are handed back. On PostgreSQL the rows go in
    through one COPY, several times faster than INSERT for bulk loads; on SQLite through
    bulk_create. `shared`: write through that connection (PostgreSQL only).
    """
    if not rows:
        return
    db = shared.wrapper if shared is not None else connection
    if db.vendor != "postgresql":
        model._default_manager.bulk_create([model(**row) for row in rows], batch_size=batch_size)
        return
    meta = model._meta
    keys = list(rows[0])
    fields: list[Any] = [meta.pk if key == "pk" else meta.get_field(key) for key in keys]
    given = {f.attname for f in fields}
    now = timezone.now()
    extra: list[Any] = []
    constants: list[Any] = []
    for field in meta.concrete_fields:
        if field.attname in given or field.primary_key:
            continue
        if _is_auto_now(field):
            value = now if isinstance(field, models.DateTimeField) else datetime.date.today()
        else:
            value = field.get_default()
        extra.append(field)
        constants.append(field.get_db_prep_save(value, db))
    quote = db.ops.quote_name
    columns = ", ".join(quote(f.column) for f in [*fields, *extra])
    sql = f"COPY {quote(meta.db_table)} ({columns}) FROM STDIN"
    values = itemgetter(*keys) if len(keys) > 1 else (lambda row: (row[keys[0]],))
    tail = tuple(constants)
    prepare = [None if _is_plain(f) else f for f in fields]
    with _cursor(shared) as cursor, cursor.copy(sql) as copy:
        write = copy.write_row
        if all(p is None for p in prepare):
            for row in rows:
                write((*values(row), *tail))
            return
        for row in rows:
            write(
                (
                    *(
                        v if f is None else f.get_db_prep_save(v, db)
                        for v, f in zip(values(row), prepare, strict=True)
                    ),
                    *tail,
                )
            )


def insert_objects(
    model: type[models.Model], objs: Sequence[models.Model], *, batch_size: int = 2000
) -> None:
    """Insert unsaved model instances as `bulk_create` does, through COPY on PostgreSQL
    (see insert_rows). Ids set on the instances are kept; ids the database assigns are not
    set back on them."""
    if not objs:
        return
    if connection.vendor != "postgresql":
        model._default_manager.bulk_create(objs, batch_size=batch_size)
        return
    names = [
        f.attname
        for f in model._meta.concrete_fields
        if not _is_auto_now(f) and not (f.primary_key and objs[0].pk is None)
    ]
    insert_rows(model, [{n: obj.__dict__[n] for n in names} for obj in objs])
