"""No table of the project's own apps carries an index that another index already
provides; above all none of the tables a crowd writes to."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import connection

pytestmark = pytest.mark.django_db

# What a crowd's check-in and a contest's start and submit write: every index on them is
# one more write per row.
CROWD_WRITTEN = {
    "activities_checkin",
    "activities_unitreach",
    "audit_auditentry",
    "learning_attempt",
    "learning_pointsbalance",
    "learning_pointsentry",
    "learning_quizresult",
    "stats_distinctmark",
    "stats_factdelta",
}


def redundant_indexes(tables: set[str]) -> list[str]:
    """Plain indexes whose columns lead another index or a unique constraint of the same
    table, which serves every lookup they serve. Not counted: PostgreSQL's `_like` indexes
    (another operator class, for LIKE on text) and partial indexes as the wider one."""
    found = []
    models = {m._meta.db_table: m for m in apps.get_models()}
    with connection.cursor() as cursor:
        for table in sorted(tables):
            model = models[table]
            partial = {
                item.name
                for item in (*model._meta.indexes, *model._meta.constraints)
                if getattr(item, "condition", None) is not None
            }
            constraints = connection.introspection.get_constraints(cursor, table)
            indexed = {
                name: tuple(info["columns"])
                for name, info in constraints.items()
                if (info["index"] or info["unique"] or info["primary_key"])
                and info["columns"]
                and not name.endswith("_like")
            }
            for name, columns in indexed.items():
                if constraints[name]["unique"] or constraints[name]["primary_key"]:
                    continue
                wider = [
                    other
                    for other, more in indexed.items()
                    if other not in partial
                    and len(more) > len(columns)
                    and more[: len(columns)] == columns
                ]
                if wider:
                    found.append(f"{table}.{name} {columns}: led by {wider[0]}")
    return found


def own_tables() -> set[str]:
    """The tables of the project's own apps' models."""
    return {m._meta.db_table for m in apps.get_models() if m.__module__.startswith("gonghui.")}


def test_no_index_of_a_crowd_written_table_is_the_leading_columns_of_another():
    assert redundant_indexes(CROWD_WRITTEN) == []


def test_no_index_of_an_own_table_is_the_leading_columns_of_another():
    assert redundant_indexes(own_tables()) == []


def test_no_own_table_has_a_pattern_index_no_query_uses():
    """PostgreSQL builds a varchar_pattern_ops index (for LIKE 'prefix%') beside the index
    of every unique or indexed text field; no query of ours searches by prefix (the
    searches that use LIKE look inside the text, which such an index cannot serve)."""
    if connection.vendor != "postgresql":
        pytest.skip("pattern indexes exist on PostgreSQL only")
    own = own_tables()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename, indexname FROM pg_indexes"
            " WHERE schemaname = current_schema() AND indexdef LIKE '%%pattern_ops%%'"
        )
        found = sorted(f"{table}.{name}" for table, name in cursor.fetchall() if table in own)
    assert found == []
