"""Model instances read by hand-written SQL, for the few hottest reads (a worker's
check-in, a bearer token).

Building and compiling an ORM query costs more CPU than PostgreSQL spends answering it
when the query is a one-row lookup: 1–2 ms per query on this project's wide models. These
reads write their SQL once and build the same model instances the ORM would (through
`Model.from_db`, values converted by the backend's converters, `select_related`'s cache
filled), so everything downstream is unchanged. Column lists come from the models, so a
renamed column cannot drift."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init
from psycopg.types.datetime import TimestamptzLoader

Converter = Callable[[Any, Any, Any], Any]


class Shape:
    """Which columns of `model` a read takes: its primary key and `fields`."""

    def __init__(self, model: type[models.Model], fields: Sequence[str]) -> None:
        meta = model._meta
        pk_name = meta.pk.name  # type: ignore[union-attr]
        wanted = {pk_name, *fields}
        # In the model's own column order: `from_db` fills the columns left out (deferred,
        # read when touched) by walking the model's fields in that order. A field may be
        # named by its name or its attname ("unit" or "unit_id").
        chosen: list[Any] = [
            f for f in meta.concrete_fields if f.name in wanted or f.attname in wanted
        ]
        missing = wanted - {f.name for f in chosen} - {f.attname for f in chosen}
        if missing:
            raise ValueError(f"not columns of {model.__name__}: {sorted(missing)}")
        self.model = model
        self.fields = tuple(chosen)
        self.attnames = [field.attname for field in chosen]
        self.columns = tuple(field.column for field in chosen)
        self._pk_at = chosen.index(meta.pk)
        self._converters: list[tuple[int, list[Converter], Any]] | None = None
        self._plain: bool | None = None

    def __len__(self) -> int:
        return len(self.columns)

    def select(self, alias: str) -> str:
        """The select list for this shape, from the table aliased `alias`."""
        quote = connection.ops.quote_name
        return ", ".join(f"{alias}.{quote(column)}" for column in self.columns)

    def _converters_of(self) -> list[tuple[int, list[Converter], Any]]:
        # The backend's converters per column (SQLite returns datetimes as text, for
        # example); the same for every connection of a process, so found once.
        if self._converters is None:
            found = []
            for i, field in enumerate(self.fields):
                expression = field.get_col(self.model._meta.db_table)
                converters = connection.ops.get_db_converters(expression)
                converters += expression.get_db_converters(connection)
                if converters:
                    found.append((i, converters, expression))
            self._converters = found
        return self._converters

    def convert(self, field_name: str, value: Any) -> Any:
        """A value of one of this shape's fields, as the ORM would convert it."""
        at = next(i for i, f in enumerate(self.fields) if field_name in (f.name, f.attname))
        for i, converters, expression in self._converters_of():
            if i == at:
                for convert in converters:
                    value = convert(value, expression, connection)
        return value

    def build(self, values: Sequence[Any]) -> Any:
        """The instance of this row's values, or None when the row is absent (a LEFT
        JOIN that found nothing)."""
        if values[self._pk_at] is None:
            return None
        found = self._converters_of()
        if found:
            values = list(values)
            db = connections[DEFAULT_DB_ALIAS]  # once, not through the proxy per value
            for i, converters, expression in found:
                for convert in converters:
                    values[i] = convert(values[i], expression, db)
        return self.instance(values)

    def instance(self, values: Sequence[Any]) -> Any:
        """The instance of values converted already (`QuerySet.values_list(*attnames)`)."""
        if self._plain is None:
            # Nothing listens to this model's construction: what `from_db` builds can be
            # built directly, its columns set and the rest left out (deferred, read when
            # touched), for a third of the CPU. Models with listeners take `from_db`.
            self._plain = (
                not (pre_init.has_listeners(self.model) or post_init.has_listeners(self.model))
                and self.model.from_db.__func__ is models.Model.from_db.__func__
            )
        if not self._plain:
            return self.model.from_db(DEFAULT_DB_ALIAS, self.attnames, values)
        instance = self.model.__new__(self.model)
        state = instance._state = ModelState()
        state.adding = False
        state.db = DEFAULT_DB_ALIAS
        instance.__dict__.update(zip(self.attnames, values, strict=True))
        return instance


@functools.cache
def _field_shape(model: type[models.Model], field_name: str) -> Shape:
    return Shape(model, (field_name,))


def db_value(model: type[models.Model], field_name: str, value: Any) -> Any:
    """One value of `model`'s field as the database returned it (an aggregate of the
    column, say), converted as the ORM converts it."""
    # The shape, and the converters it finds, once per field: hot reads ask on every call.
    return _field_shape(model, field_name).convert(field_name, value)


def take(shapes: Sequence[Shape], row: Sequence[Any]) -> list[Any]:
    """Split one row of a read that joins several shapes into their instances, in order;
    what follows the shapes' columns is left to the caller."""
    instances = []
    at = 0
    for s in shapes:
        instances.append(s.build(row[at : at + len(s)]))
        at += len(s)
    return instances


def link(instance: Any, field_name: str, related: Any) -> None:
    """Fill the cache `select_related(field_name)` would: `instance.<field>` reads no row."""
    if instance is not None:
        instance._meta.get_field(field_name).set_cached_value(instance, related)


@functools.lru_cache(maxsize=4096)
def array_literal(values: tuple[str | int, ...]) -> str:
    """A PostgreSQL array literal ('{"a","b"}') of `values`, for a `%s::text[]` or
    `::bigint[]` parameter. The arrays of the hottest statements repeat (a check-in's
    metric and bucket names, a dashboard's metrics): rendered once and sent as one string
    each, not adapted element by element on every request."""
    quoted = (
        str(v) if isinstance(v, int) else '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        for v in values
    )
    return "{" + ",".join(quoted) + "}"


def one_of(
    column: str, values: Sequence[str | int], cast: str, *, constant: bool = False
) -> tuple[str, list[Any]]:
    """`column` is one of `values`: (SQL, params). On PostgreSQL one array parameter
    (`= ANY(%s::<cast>[])`), so the statement's text is the same for any number of values
    (psycopg caches its parsing, PostgreSQL its plan); elsewhere an IN list.

    `constant`: on PostgreSQL the array is written into the statement instead, for a
    set of values that recurs (a dashboard's metrics): a prepared statement's generic plan
    then tests membership by hashing, as for a literal list; given as a parameter, the
    array is searched element by element for every row (a province's dashboard: 1 ms more).
    """
    if connection.vendor == "postgresql":
        literal = array_literal(tuple(values))
        if constant:
            # A string constant: quotes doubled (standard_conforming_strings, PostgreSQL's
            # default since 9.1, keeps backslashes literal); % doubled for the driver.
            quoted = literal.replace("'", "''").replace("%", "%%")
            return f"{column} = ANY('{quoted}'::{cast}[])", []
        return f"{column} = ANY(%s::{cast}[])", [literal]
    return f"{column} IN ({', '.join(['%s'] * len(values))})", list(values)


def one_row(sql: str, params: Sequence[Any] | dict[str, Any]) -> tuple[Any, ...] | None:
    """The first row of a statement (None without one), for the hottest one-row reads and
    writes (a crowd's check-ins, an org's count). On PostgreSQL through one driver cursor
    kept for the connection, not a new cursor and Django's wrapper around it on every
    call, which together cost as much as the round trip itself; errors are still Django's
    and a broken transaction is refused as Django's cursor refuses it. With statements
    logged or wrapped (DEBUG, a test or a benchmark watching them), through Django's
    cursor."""
    # The thread's wrapper looked up once: each attribute read through the module's
    # `connection` proxy looks it up again in a thread-and-task local (~5 µs each here,
    # a third of a one-row read's Python time).
    db = connections[DEFAULT_DB_ALIAS]
    if db.vendor != "postgresql" or db.queries_logged or db.execute_wrappers:
        with db.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()
    driver = db.connection
    if driver is None:
        db.ensure_connection()
        driver = db.connection
    db.validate_no_broken_transaction()
    # The cursor kept with the connection it belongs to (a reconnection makes a new one).
    kept = db.__dict__.get("_gonghui_kept_cursor")
    if kept is None or kept[0] is not driver or kept[1].closed:
        kept = (driver, _kept_cursor(db))
        db._gonghui_kept_cursor = kept
    cursor = kept[1]
    with db.wrap_database_errors:
        cursor.execute(sql, params)
        return cursor.fetchone()


def _kept_cursor(db: Any) -> Any:
    """A driver cursor of `db` (PostgreSQL) whose `timestamptz` values are read by
    psycopg's own loader, in C. Django registers a Python subclass of it, only to give
    each value Django's time zone; in the session's time zone (Django sets it to UTC) the
    C loader gives the same datetimes, `datetime.timezone.utc` included. Parsing them in
    Python took a quarter of the samples of a check-in's retry (its read has several)."""
    cursor = db.create_cursor()
    if db.timezone_name == "UTC":
        cursor.adapters.register_loader("timestamptz", TimestamptzLoader)
    return cursor


def one_value(sql: str, params: Sequence[Any]) -> Any:
    """The first value of `one_row` (None without a row)."""
    row = one_row(sql, params)
    return row[0] if row is not None else None
