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
