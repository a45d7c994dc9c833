"""Reads of accounts."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from django.contrib.auth import get_user_model

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
def api_token_shapes() -> tuple[rows.Shape, rows.Shape]:
    """The columns an API request reads of its token and of the token's user."""
    return rows.Shape(ApiToken, ("user", "last_used_at")), rows.Shape(
        get_user_model(), API_USER_FIELDS
    )


def api_token_from_row(token_values: Sequence[Any], user_values: Sequence[Any]) -> ApiToken:
    """The token with its user (no further read), from a row read with `api_token_shapes`."""
    token_shape, user_shape = api_token_shapes()
    token = token_shape.build(token_values)
    rows.link(token, "user", user_shape.build(user_values))
    return token


def api_token_leading(row: Sequence[Any]) -> tuple[ApiToken, Sequence[Any]]:
    """The token with its user from the first columns of `row` (a read that selects
    `api_token_shapes()` first, then columns of its own), and the rest of the row."""
    token_shape, user_shape = api_token_shapes()
    at = len(token_shape) + len(user_shape)
    return api_token_from_row(row[: len(token_shape)], row[len(token_shape) : at]), row[at:]


@functools.cache
def _token_read() -> str:
    token, user = api_token_shapes()
    user_table = get_user_model()._meta.db_table
    return f"""
SELECT {token.select("t")}, {user.select("u")}
FROM "{ApiToken._meta.db_table}" t JOIN "{user_table}" u ON u.id = t.user_id
WHERE t.key_hash = %s AND u.is_active = %s
"""  # noqa: S608 (table and column names from the models; values are parameters)


def api_token_of(raw_token: str) -> ApiToken | None:
    """The token with its (active) user, in one statement written by hand: every API
    request of a phone client pays for this read, and through the ORM building it cost
    several times what PostgreSQL spends answering it (key_hash is unique: one row)."""
    row = rows.one_row(_token_read(), [hash_token(raw_token), True])
    if row is None:
        return None
    return api_token_leading(row)[0]
