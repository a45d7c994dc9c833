"""`core.rows.one_of`: the same rows whether the values go as a parameter or a constant."""

from __future__ import annotations

import pytest
from django.db import connection

from gonghui.core import rows

pytestmark = pytest.mark.django_db

ODD = ("it's", 'a "quoted", {braced}', "back\\slash", "50%", "", "NULL", "activities.reached@all")


@pytest.mark.parametrize("constant", [False, True])
def test_one_of_matches_exactly_the_values_however_written(constant):
    wanted = ODD[:4] + ODD[5:]  # all but the empty string
    test, params = rows.one_of("v", wanted, "text", constant=constant)
    if constant and connection.vendor == "postgresql":
        assert params == []  # written into the statement
    union = " UNION ALL ".join(["SELECT %s AS v"] * len(ODD))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT v FROM ({union}) t WHERE {test}", [*ODD, *params])  # noqa: S608
        found = [v for (v,) in cursor.fetchall()]
    assert sorted(found) == sorted(wanted)


def test_one_value_reads_on_a_kept_cursor_with_djangos_errors_and_logging():
    from django.db import DatabaseError, transaction
    from django.db.transaction import TransactionManagementError
    from django.test.utils import CaptureQueriesContext

    assert rows.one_value("SELECT %s + 1", [41]) == 42
    assert rows.one_value("SELECT 1 WHERE 1 = %s", [2]) is None  # no row
    if connection.vendor == "postgresql":
        kept = connection._gonghui_kept_cursor[1]
        assert rows.one_value("SELECT %s", ["again"]) == "again"
        assert connection._gonghui_kept_cursor[1] is kept  # the same driver cursor
    # A driver error is Django's, and the connection goes on serving.
    with pytest.raises(DatabaseError), transaction.atomic():
        rows.one_value("SELECT x FROM no_such_table WHERE x = %s", [0])
    assert rows.one_value("SELECT %s", [7]) == 7
    # In a transaction already broken: refused as Django's cursor refuses it.
    with transaction.atomic():
        with pytest.raises(DatabaseError), transaction.atomic(savepoint=False):
            rows.one_value("SELECT x FROM no_such_table WHERE x = %s", [0])
        with pytest.raises(TransactionManagementError):
            rows.one_value("SELECT %s", [1])
    # Statements watched (a test counting them, DEBUG): through Django's cursor, logged.
    with CaptureQueriesContext(connection) as captured:
        assert rows.one_value("SELECT %s * 2", [21]) == 42
    assert [q["sql"] for q in captured.captured_queries] == ["SELECT 21 * 2"]


@pytest.mark.django_db(transaction=True)
def test_one_value_after_the_connection_was_closed_reads_on_a_new_cursor():
    assert rows.one_value("SELECT %s", [1]) == 1
    connection.close()
    assert rows.one_value("SELECT %s", [2]) == 2
    if connection.vendor == "postgresql":
        driver, cursor = connection._gonghui_kept_cursor
        assert driver is connection.connection and not cursor.closed


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the kept cursor is PostgreSQL's (SQLite: Django's)"
)
def test_a_kept_cursor_reads_datetimes_as_djangos_cursor_does_in_c():
    """The kept cursor's `timestamptz` values come from psycopg's loader in C, not from
    Django's Python subclass of it: the same datetimes, in UTC (`datetime.timezone.utc`)."""
    import datetime

    from django.test.utils import CaptureQueriesContext

    sql = "SELECT %s::timestamptz, %s::timestamptz, NULL::timestamptz"
    values = [
        datetime.datetime(2026, 12, 7, 13, 5, 9, 123456, tzinfo=datetime.UTC),
        datetime.datetime(
            2024, 2, 29, 23, 59, 59, tzinfo=datetime.timezone(datetime.timedelta(hours=8))
        ),
    ]
    kept = rows.one_row(sql, values)
    with CaptureQueriesContext(connection):  # through Django's cursor and its loader
        django = rows.one_row(sql, values)
    assert kept == django == (*values, None)
    assert [v.tzinfo for v in kept[:2]] == [v.tzinfo for v in django[:2]] == [datetime.UTC] * 2
    assert kept[1].isoformat() == django[1].isoformat() == "2024-02-29T15:59:59+00:00"
    cursor = connection._gonghui_kept_cursor[1]
    loader = cursor.adapters.get_loader(cursor.adapters.types["timestamptz"].oid, 0)
    assert loader.__module__.startswith(("psycopg_binary", "psycopg_c"))
