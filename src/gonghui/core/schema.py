"""Schema operations our migrations share."""

from __future__ import annotations

from typing import Any

from django.db import migrations


def drop_pattern_indexes(*indexes: tuple[str, str, str]) -> migrations.RunPython:
    """Drop PostgreSQL's varchar_pattern_ops indexes, given as (table, index, column).

    Beside the index of a unique or indexed text field PostgreSQL gets a second one, with
    varchar_pattern_ops, for LIKE 'prefix%'. Where no query searches a field by prefix it
    only costs a write per row. SQLite has none: nothing to do there. Should the field
    change later, Django's schema editor drops it with IF EXISTS. Back: built again."""

    def drop(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            for _table, name, _column in indexes:
                schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')

    def create(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            for table, name, column in indexes:
                schema_editor.execute(
                    f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" '
                    f'("{column}" varchar_pattern_ops)'
                )

    return migrations.RunPython(drop, create, elidable=True)
