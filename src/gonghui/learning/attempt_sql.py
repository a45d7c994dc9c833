"""A contestant's start written by hand: one statement to read, one to write.

A province-wide contest starts at one moment: tens of thousands of phones ask for their
attempt within a minute. `services.start_attempt` decides everything a start may meet (a
refusal, an attempt to resume, one whose time ran out); the common case — a member in the
audience, the quiz open, no attempt in progress, attempts left — needs only

- one read (`read_start_by_api_token`): the bearer token and its user, the quiz and its
  org, the member record and unit, how many attempts the member has of the quiz and how
  many are in progress, and the stamp of the quiz's question bank (the per-process bank
  is reused while the stamp is unchanged);
- one write (`insert_attempt`): `INSERT … ON CONFLICT (quiz, member, number) DO NOTHING
  RETURNING id`, in autocommit. Two starts of one member at the same moment (a double
  tap) both read "no attempt" and both try number n + 1: one row is written, and the
  other start finds nothing returned and takes the general path, which resumes that row.

Through the ORM the same start was nine statements in a transaction, and building them
cost more CPU than PostgreSQL spent answering. Both databases run this module.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection

from gonghui.accounts.models import ApiToken
from gonghui.accounts.selectors import api_token_leading, api_token_shapes
from gonghui.core import rows
from gonghui.learning.models import Attempt, AttemptStatus, QuestionBankStamp, Quiz
from gonghui.orgs.models import Member, MemberStatus, Org

# What a start reads of the quiz: the checks, the drawing, the deadline, the audience
# cache's key and what callers show (a column left out is read when touched).
QUIZ_COLUMNS = (
    "org",
    "title",
    "rules",
    "time_limit_seconds",
    "pass_mark",
    "attempts_allowed",
    "opens_at",
    "closes_at",
    "explanations_after_close",
    "is_contest",
    "requirement",
    "status",
    "audience_kinds",
    "created_at",
    "version",
)
# Of the quiz's org, what `Org.is_descendant_of` asks of the org below which a unit is.
QUIZ_ORG_COLUMNS = ("name", "depth")


@dataclass(frozen=True)
class StartRead:
    quiz: Quiz | None  # with its org
    member: Member | None  # the user's active member record, with unit
    attempts: int  # the member's attempts of the quiz
    in_progress: int  # of those, in progress (to resume, or scored if their time is up)
    # The stamp of the quiz's org's bank, as `services._bank_stamp` reads it.
    bank_stamp: int


@functools.cache
def _shapes() -> tuple[rows.Shape, rows.Shape, rows.Shape, rows.Shape]:
    from gonghui.learning.services import MEMBER_FIELDS, UNIT_FIELDS

    return (
        rows.Shape(Quiz, QUIZ_COLUMNS),
        rows.Shape(Org, QUIZ_ORG_COLUMNS),
        rows.Shape(Member, MEMBER_FIELDS),
        rows.Shape(Org, UNIT_FIELDS),
    )


@functools.cache
def _start_sql() -> str:
    token, user = api_token_shapes()
    quiz, quiz_org, member, unit = _shapes()
    attempts = f'"{Attempt._meta.db_table}"'
    mine = "x.quiz_id = q.id AND x.member_id = m.id"
    return f"""
SELECT {token.select("t")}, {user.select("tu")}, {quiz.select("q")}, {quiz_org.select("qo")},
       {member.select("m")}, {unit.select("u")},
       (SELECT COUNT(*) FROM {attempts} x WHERE {mine}),
       (SELECT COUNT(*) FROM {attempts} x WHERE {mine} AND x.status = %s),
       COALESCE(b.stamp, 0)
FROM "{ApiToken._meta.db_table}" t
JOIN "{get_user_model()._meta.db_table}" tu ON tu.id = t.user_id AND tu.is_active = %s
LEFT JOIN "{Quiz._meta.db_table}" q ON q.id = %s
LEFT JOIN "{Org._meta.db_table}" qo ON qo.id = q.org_id
LEFT JOIN "{Member._meta.db_table}" m ON m.user_id = t.user_id AND m.status = %s
LEFT JOIN "{Org._meta.db_table}" u ON u.id = m.unit_id
LEFT JOIN "{QuestionBankStamp._meta.db_table}" b ON b.org_id = q.org_id
WHERE t.key_hash = %s
"""  # noqa: S608 (table and column names from the models; values are parameters)


def read_start_by_api_token(key_hash: str, quiz_id: int) -> tuple[ApiToken, StartRead] | None:
    """The token with its active user and what a start of quiz `quiz_id` reads, in one
    statement; None when no active user holds the token."""
    params = [AttemptStatus.IN_PROGRESS, True, quiz_id, MemberStatus.ACTIVE]
    row = rows.one_row(_start_sql(), [*params, key_hash])
    if row is None:
        return None
    token, rest = api_token_leading(row)
    return token, _start_read(rest)


def _start_read(row: Sequence[Any]) -> StartRead:
    quiz, quiz_org, member, unit = rows.take(_shapes(), row)
    rows.link(quiz, "org", quiz_org)
    rows.link(member, "unit", unit)
    attempts, in_progress, stamp = row[sum(len(s) for s in _shapes()) :]
    return StartRead(quiz, member, int(attempts or 0), int(in_progress or 0), int(stamp))


# The columns an attempt is written with at its start (the rest keep their defaults).
_INSERTED = ("quiz", "member", "unit", "number", "started_at", "deadline", "snapshot", "answers")


@functools.cache
def _insert_sql() -> str:
    meta = Attempt._meta
    fields = [meta.get_field(name) for name in (*_INSERTED, "status")]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)  # type: ignore[union-attr]
    return (
        f'INSERT INTO "{meta.db_table}" ({columns}) '  # noqa: S608 (names from the model)
        f"VALUES ({', '.join(['%s'] * len(fields))}) "
        "ON CONFLICT (quiz_id, member_id, number) DO NOTHING RETURNING id"
    )


def insert_attempt(attempt: Attempt) -> bool:
    """Write the new `attempt` (its number the member's next) and set its id; False, and
    nothing written, when that number is taken (a start of the same member at the same
    moment wrote it)."""
    fields = [Attempt._meta.get_field(name) for name in _INSERTED]
    params = [
        f.get_db_prep_save(getattr(attempt, f.attname), connection)  # type: ignore[union-attr]
        for f in fields
    ]
    row = rows.one_row(_insert_sql(), [*params, AttemptStatus.IN_PROGRESS])
    if row is None:
        return False
    attempt.pk = row[0]
    attempt.status = AttemptStatus.IN_PROGRESS
    attempt._state.adding = False
    return True
