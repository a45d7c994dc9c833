"""Reads of accounts."""

from __future__ import annotations

import functools

from django.contrib.auth import get_user_model
from django.db import connection

from gonghui.accounts.models import ApiToken, hash_token
from gonghui.core import rows

# The user's columns an API request reads (not the password hash, nor the sign-in dates:
# a column left out is read by a query of its own if ever touched).
API_USER_FIELDS = (
    "username",
    "first_name",
    "last_name",
    "email",
    "is_active",
    "is_staff",
    "is_superuser",
)


@functools.cache
def _token_read() -> tuple[str, rows.Shape, rows.Shape]:
    token = rows.Shape(ApiToken, ("user", "last_used_at"))
    user_model = get_user_model()
    user = rows.Shape(user_model, API_USER_FIELDS)
    sql = f"""
SELECT {token.select("t")}, {user.select("u")}
FROM "{ApiToken._meta.db_table}" t JOIN "{user_model._meta.db_table}" u ON u.id = t.user_id
WHERE t.key_hash = %s AND u.is_active = %s
"""  # noqa: S608 (table and column names from the models; values are parameters)
    return sql, token, user


def api_token_of(raw_token: str) -> ApiToken | None:
    """The token with its (active) user, in one statement written by hand: every API
    request of a phone client pays for this read, and through the ORM building it cost
    several times what PostgreSQL spends answering it (key_hash is unique: one row)."""
    sql, token_shape, user_shape = _token_read()
    with connection.cursor() as cursor:
        cursor.execute(sql, [hash_token(raw_token), True])
        row = cursor.fetchone()
    if row is None:
        return None
    token, user = rows.take((token_shape, user_shape), row)
    rows.link(token, "user", user)
    return token
