"""A worker's own check-in written in one statement, on PostgreSQL.

`services.check_in` decides what a check-in counts (the business rules stay there); this
module only writes it. For a check-in taken now (QR, code, app) of an activity already
held, everything the ORM path writes in 5–9 statements within a transaction —

- the CheckIn row (INSERT … ON CONFLICT DO NOTHING: a retry or a double tap writes
  nothing more),
- and only when that row is new: the member's distinct marks, the units reached
  (UnitReach) and their marks, the pending figure changes (FactDelta) and the audit
  entry —

is one data-modifying CTE: one round trip, one commit. It writes exactly the rows of
`stats.services.mark_distinct(live=True)`, `services._reach_units` and
`stats.services.emit_counts`, so `stats.services.rebuild(check=True)` judges both paths
alike (activities/tests/test_checkin_sql.py compares them row by row).

SQLite has no data-modifying CTEs and keeps the ORM path.

What a worker's check-in reads — the activity and its venue, the worker's member record
and unit, their check-in there if they have one, and for a numeric code the worker's
recent wrong codes — is one statement too (`read_check_in`), on both databases, written
by hand: building those lookups through the ORM cost more CPU than everything else in a
check-in. A retry (a phone trying again, a second scan: most requests of a crowd) finds
its check-in in that read and writes nothing: one statement in all.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection

from gonghui.accounts.models import ApiToken
from gonghui.accounts.selectors import api_token_leading, api_token_shapes
from gonghui.activities.models import Activity, CheckIn, CheckInRefusal, UnitReach
from gonghui.audit.models import AuditEntry
from gonghui.core import rows
from gonghui.orgs.models import ANCESTOR_FIELDS, Member, Org
from gonghui.stats.models import DistinctMark, FactDelta

# The columns a worker's check-in reads of four wide rows (the activity and its venue, the
# member and their unit): what the checks, the figures and the result pages use (the pages
# show the title, start, place and venue's name). A column left out is read by a query of
# its own when touched: correct, but slow.
UNIT_COLUMNS = ("name", "kind", "depth", *ANCESTOR_FIELDS)
_ACTIVITY_COLUMNS = (
    "org",
    "venue_org",
    "kind",
    "title",
    "place",
    "starts_at",
    "ends_at",
    "audience_kinds",
    "audience_unit_ids",
    "registration_required",
    "requirement",
    "status",
    "held_on",
    "check_in_code",
    "qr_secret",
)
_MEMBER_COLUMNS = ("name", "status", "unit", "user")
_CHECKIN_COLUMNS = ("activity", "member", "unit", "method", "at", "day", "by")
# The same, as `QuerySet.only(...)` arguments with `select_related` of venue and unit.
CHECK_IN_ACTIVITY_FIELDS = (*_ACTIVITY_COLUMNS, *(f"venue_org__{n}" for n in UNIT_COLUMNS))
CHECK_IN_MEMBER_FIELDS = (*_MEMBER_COLUMNS, *(f"unit__{n}" for n in UNIT_COLUMNS))


@dataclass(frozen=True)
class CheckInRead:
    activity: Activity | None  # with venue_org
    member: Member | None  # the user's active member record, with unit
    wrong_codes: int  # the user's wrong codes since the time asked (0 when not asked)
    # That member's check-in at that activity, when there is one: a retry (most of a
    # crowd's requests) is answered from this read, without a write.
    existing: CheckIn | None = None


@functools.cache
def _shapes() -> tuple[rows.Shape, rows.Shape, rows.Shape, rows.Shape, rows.Shape]:
    return (
        rows.Shape(Activity, _ACTIVITY_COLUMNS),
        rows.Shape(Org, UNIT_COLUMNS),
        rows.Shape(Member, _MEMBER_COLUMNS),
        rows.Shape(Org, UNIT_COLUMNS),
        rows.Shape(CheckIn, _CHECKIN_COLUMNS),
    )


@functools.cache
def _read_sql(count_wrong_codes: bool, by_api_token: bool = False) -> str:
    activity, venue, member, unit, checkin = _shapes()
    user_id = "t.user_id" if by_api_token else "%s"
    wrong = (
        f"""(SELECT COUNT(*) FROM "{CheckInRefusal._meta.db_table}" r
             WHERE r.user_id = {user_id} AND r.method = %s AND r.reason = %s AND r.at >= %s)"""  # noqa: S608
        if count_wrong_codes
        else "0"
    )
    columns = f"""{activity.select("a")}, {venue.select("v")}, {member.select("m")},
       {unit.select("u")}, {checkin.select("c")}, {wrong}"""
    if by_api_token:
        # The bearer token and its active user first: no row at all when they are unknown.
        token, user = api_token_shapes()
        source = f"""{token.select("t")}, {user.select("tu")}, {columns}
FROM "{ApiToken._meta.db_table}" AS t
JOIN "{get_user_model()._meta.db_table}" AS tu ON tu.id = t.user_id AND tu.is_active = %s"""
    else:
        # One row always (the LEFT JOINs hang off a constant row): absent rows read as NULLs.
        source = f"{columns}\nFROM (SELECT 1 AS one) AS one_row"
    return f"""
SELECT {source}
LEFT JOIN "{Activity._meta.db_table}" a ON a.id = %s
LEFT JOIN "{Org._meta.db_table}" v ON v.id = a.venue_org_id
LEFT JOIN "{Member._meta.db_table}" m ON m.user_id = {user_id} AND m.status = %s
LEFT JOIN "{Org._meta.db_table}" u ON u.id = m.unit_id
LEFT JOIN "{CheckIn._meta.db_table}" c ON c.activity_id = a.id AND c.member_id = m.id
{"WHERE t.key_hash = %s" if by_api_token else ""}
"""


def _check_in_read(row: Sequence[Any]) -> CheckInRead:
    activity, venue, member, unit, existing = rows.take(_shapes(), row)
    if activity is not None:
        rows.link(activity, "venue_org", venue)
    if member is not None:
        rows.link(member, "unit", unit)
    if existing is not None:
        rows.link(existing, "activity", activity)
        rows.link(existing, "member", member)
    return CheckInRead(activity, member, int(row[-1] or 0), existing)


def _wrong_code_params(wrong_codes: tuple[str, str, datetime.datetime] | None) -> list[Any]:
    if wrong_codes is None:
        return []
    method, reason, since = wrong_codes
    return [method, reason, connection.ops.adapt_datetimefield_value(since)]


def read_check_in(
    *,
    activity_id: int | None,
    user_id: int,
    member_status: str,
    wrong_codes: tuple[str, str, datetime.datetime] | None = None,
) -> CheckInRead:
    """The activity `activity_id` (None: none) with its venue, the user's member record in
    `member_status` with its unit, and — when `wrong_codes` gives (method, reason, since) —
    the count of the user's refusals of that kind since then, in one statement."""
    params: list[Any] = []
    if wrong_codes is not None:
        params += [user_id, *_wrong_code_params(wrong_codes)]
    params += [activity_id, user_id, member_status]
    row = rows.one_row(_read_sql(wrong_codes is not None), params)
    assert row is not None  # one row always: the joins hang off a constant row
    return _check_in_read(row)


def read_check_in_by_api_token(
    *,
    key_hash: str,
    activity_id: int,
    member_status: str,
    wrong_codes: tuple[str, str, datetime.datetime] | None = None,
) -> tuple[ApiToken, CheckInRead] | None:
    """`read_check_in` for the user of the bearer token whose hash is `key_hash`, with the
    token and its user (`accounts.selectors.api_token_of`'s), in the same one statement —
    a crowd's check-in in the API's fast lane reads nothing else. None when no active
    user holds that token."""
    params = [*_wrong_code_params(wrong_codes), True, activity_id, member_status, key_hash]
    row = rows.one_row(_read_sql(wrong_codes is not None, by_api_token=True), params)
    if row is None:
        return None
    token, rest = api_token_leading(row)
    return token, _check_in_read(rest)


@dataclass(frozen=True)
class AuditValues:
    """The audit entry's columns, as `audit.services.record` would fill them."""

    actor_id: int | None
    actor_name: str
    action: str
    target_type: str
    target_repr: str
    org_id: int | None
    summary: str
    ip_address: str | None


@dataclass(frozen=True)
class FigurePlan:
    """The figures a new check-in counts in, the same for every check-in of one day to
    activities of one notice requirement (or none): decided once, sent as cached arrays."""

    # Figures +1 at the unit on the day when the row is new (attendances, 人次).
    checkin_metrics: tuple[str, ...]
    # (metric, bucket) of the member's distinct marks, in the order mark_distinct inserts.
    member_marks: tuple[tuple[str, str], ...]
    # The kinds of org a check-in reaches as a unit.
    unit_kinds: tuple[str, ...]
    # (unit kind, metric, bucket) of a newly reached unit's distinct marks, in order.
    unit_marks: tuple[tuple[str, str, str], ...]
    # ((metric, bucket), the stored figure a first mark adds 1 to) — stats' naming.
    figures: tuple[tuple[tuple[str, str], str], ...]


@functools.lru_cache(maxsize=256)
def _plan_arrays(plan: FigurePlan) -> dict[str, str]:
    """The plan as the statement's array parameters (PostgreSQL array literals)."""
    arrays = {
        "checkin_metrics": plan.checkin_metrics,
        "member_metric": tuple(metric for metric, _bucket in plan.member_marks),
        "member_bucket": tuple(bucket for _metric, bucket in plan.member_marks),
        "unit_kinds": plan.unit_kinds,
        "unit_kind": tuple(kind for kind, _metric, _bucket in plan.unit_marks),
        "unit_metric": tuple(metric for _kind, metric, _bucket in plan.unit_marks),
        "unit_bucket": tuple(bucket for _kind, _metric, bucket in plan.unit_marks),
        "figure_metric": tuple(metric for (metric, _bucket), _name in plan.figures),
        "figure_bucket": tuple(bucket for (_metric, bucket), _name in plan.figures),
        "figure_name": tuple(name for _key, name in plan.figures),
    }
    return {name: rows.array_literal(values) for name, values in arrays.items()}


@dataclass(frozen=True)
class CheckInWrite:
    """What one check-in writes, decided by `services.check_in`."""

    activity_id: int
    member_id: int
    unit_id: int  # the member's unit: where the attendance and the member's marks count
    method: str
    at: datetime.datetime
    day: datetime.date
    by_id: int | None
    plan: FigurePlan
    # The unit and the ancestors that may be units; those of `plan.unit_kinds` are reached.
    unit_candidates: Sequence[int]
    audit: AuditValues


@dataclass(frozen=True)
class CheckInRow:
    created: bool
    pk: int
    unit_id: int
    method: str
    at: datetime.datetime
    day: datetime.date
    by_id: int | None


@functools.cache  # the table names are known once the models are
def _sql() -> str:
    checkin = CheckIn._meta.db_table
    mark = DistinctMark._meta.db_table
    reach = UnitReach._meta.db_table
    fact = FactDelta._meta.db_table
    audit = AuditEntry._meta.db_table
    org = Org._meta.db_table
    # Row locks are taken in the ORM path's order, so that a check-in written here and
    # one written there never wait on each other's rows in opposite orders (a deadlock):
    # the CheckIn row, the member's marks, the units reached by id (`reach` waits for
    # `member_marks` through its one-time filter), then their marks by unit id.
    # `figures` maps each mark back to its stored figure, named by stats in Python.
    # The last SELECT answers a retry with the existing row when this statement's
    # snapshot sees it (a concurrent first tap committed meanwhile is not seen: None).
    return f"""
WITH v AS (
    SELECT %(activity)s::bigint AS activity, %(member)s::bigint AS member,
           %(unit)s::bigint AS unit, %(method)s::text AS method,
           %(at)s::timestamptz AS at, %(day)s::date AS day, %(by)s::bigint AS by_id
), new_checkin AS (
    INSERT INTO "{checkin}" (activity_id, member_id, unit_id, method, at, day, by_id)
    SELECT activity, member, unit, method, at, day, by_id FROM v
    ON CONFLICT (activity_id, member_id) DO NOTHING
    RETURNING id
), figures AS (
    SELECT * FROM unnest(%(figure_metric)s::text[], %(figure_bucket)s::text[],
                         %(figure_name)s::text[]) AS f(metric, bucket, name)
), member_marks AS (
    INSERT INTO "{mark}" (metric, bucket, key, org_id, day)
    SELECT p.metric, p.bucket, v.member, v.unit, v.day
    FROM new_checkin, v,
         unnest(%(member_metric)s::text[], %(member_bucket)s::text[])
             WITH ORDINALITY AS p(metric, bucket, n)
    ORDER BY p.n
    ON CONFLICT (metric, bucket, key) DO NOTHING
    RETURNING metric, bucket
), reach AS (
    INSERT INTO "{reach}" (activity_id, unit_id, unit_kind, day)
    SELECT v.activity, o.id, o.kind, v.day
    FROM new_checkin, v, "{org}" o
    WHERE o.id = ANY(%(units)s::bigint[]) AND o.kind = ANY(%(unit_kinds)s::text[])
      AND (SELECT count(*) FROM member_marks) >= 0
    ORDER BY o.id
    ON CONFLICT (activity_id, unit_id) DO NOTHING
    RETURNING unit_id, unit_kind
), unit_marks AS (
    INSERT INTO "{mark}" (metric, bucket, key, org_id, day)
    SELECT p.metric, p.bucket, r.unit_id, r.unit_id, v.day
    FROM reach r, v,
         unnest(%(unit_kind)s::text[], %(unit_metric)s::text[], %(unit_bucket)s::text[])
             WITH ORDINALITY AS p(kind, metric, bucket, n)
    WHERE p.kind = r.unit_kind
    ORDER BY r.unit_id, p.n
    ON CONFLICT (metric, bucket, key) DO NOTHING
    RETURNING metric, bucket, key
), facts AS (
    INSERT INTO "{fact}" (org_id, metric, day, delta)
    SELECT v.unit, c.metric, v.day, 1
    FROM new_checkin, v, unnest(%(checkin_metrics)s::text[]) AS c(metric)
    UNION ALL
    SELECT v.unit, f.name, v.day, 1 FROM member_marks JOIN figures f USING (metric, bucket), v
    UNION ALL
    SELECT u.key, f.name, v.day, 1 FROM unit_marks u JOIN figures f USING (metric, bucket), v
), audit AS (
    INSERT INTO "{audit}" (at, actor_id, actor_name, action, target_type, target_id,
                           target_repr, org_id, summary, ip_address)
    SELECT v.at, %(actor)s::bigint, %(actor_name)s::text, %(action)s::text,
           %(target_type)s::text, c.id::text, %(target_repr)s::text, %(audit_org)s::bigint,
           %(summary)s::text, %(ip)s::inet
    FROM new_checkin c, v
)
SELECT true, c.id, v.unit, v.method, v.at, v.day, v.by_id FROM new_checkin c, v
UNION ALL
SELECT false, e.id, e.unit_id, e.method, e.at, e.day, e.by_id FROM "{checkin}" e, v
WHERE e.activity_id = v.activity AND e.member_id = v.member
  AND NOT EXISTS (SELECT 1 FROM new_checkin)
"""  # noqa: S608 (table names from our models only; every value is a parameter)


@functools.cache
def _existing_sql() -> str:
    return f"""SELECT false, id, unit_id, method, at, day, by_id FROM "{CheckIn._meta.db_table}"
WHERE activity_id = %s AND member_id = %s"""  # noqa: S608 (our table; values are parameters)


def existing_check_in(activity_id: int, member_id: int) -> CheckInRow | None:
    """The member's check-in at the activity, as `write_check_in` answers a retry: for a
    double tap whose row a concurrent statement committed after `write_check_in` began."""
    row = rows.one_row(_existing_sql(), [activity_id, member_id])
    return _check_in_row(row) if row is not None else None


def _check_in_row(row: Sequence[Any]) -> CheckInRow:
    created, pk, unit_id, method, at, day, by_id = row
    return CheckInRow(bool(created), pk, unit_id, method, at, day, by_id)


def write_check_in(w: CheckInWrite) -> CheckInRow | None:
    """Write the check-in; its row (new or existing), or None when the row exists but was
    committed by a concurrent transaction after this statement began (read it again)."""
    params: dict[str, Any] = {
        "activity": w.activity_id,
        "member": w.member_id,
        "unit": w.unit_id,
        "method": w.method,
        "at": w.at,
        "day": w.day,
        "by": w.by_id,
        "actor": w.audit.actor_id,
        "actor_name": w.audit.actor_name,
        "action": w.audit.action,
        "target_type": w.audit.target_type,
        "target_repr": w.audit.target_repr,
        "audit_org": w.audit.org_id,
        "summary": w.audit.summary,
        "ip": w.audit.ip_address,
        "units": rows.array_literal(tuple(w.unit_candidates)),
        **_plan_arrays(w.plan),
    }
    row = rows.one_row(_sql(), params)
    return _check_in_row(row) if row is not None else None
