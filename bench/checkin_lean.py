"""A proposal, measured by `bench/run.py checkin` (variant `lean:…`): the worker's check-in
in two SQL statements and one commit, no ORM on the hot path. Not product code.

gunicorn serves `checkin_lean:application` (with `--pythonpath bench`): the project's own
WSGI application, in front of which `POST /bench/lean/activities/{id}/check-in` takes the
same body and header as `POST /api/activities/{id}/check-in`, answers the same JSON, and
writes exactly the facts `activities.services.check_in` writes (the CheckIn row, the
member's distinct marks, the unit reached and its marks, the pending figure changes, the
audit entry, the token's last use), so `rebuild(check=True)` judges it like the real
path. It handles the common case only — an activity already held, without a requirement,
registration or narrowed audience, a member of a grassroots union, a right code or a
valid QR token — and hands everything else (refusals included) to the real API view.

1. one read: the token, its user, the member and their unit, and the wrong-code count,
   in one statement (the real path, since it adopted items 1–5 of this proposal: 2 — the
   token and user, then the member and unit with the wrong-code count as a subquery);
2. the activity from a per-process cache of 2 s (the real path reads it per request,
   only the columns it uses: a cancelled activity is refused at once);
3. one write: a data-modifying CTE inserting the check-in and, only when it is new, the
   marks, the unit reached, the figure changes and the audit entry, and updating the
   token's last use when stale — one statement, so one commit (the real path:
   `activities.checkin_sql`, the same shape, which also answers a retry with the
   existing row; the token's last use is written at most hourly, on its own).
"""

from __future__ import annotations

import datetime
import io
import json
import os
import threading
import time
from typing import Any

from gonghui.wsgi import application as django_application  # first: sets up Django

# isort: split
from django.contrib.auth import get_user_model
from django.core import signing
from django.db import connection
from django.utils import timezone, translation
from django.utils.translation import gettext

from gonghui.accounts.models import hash_token
from gonghui.activities import figures
from gonghui.activities.models import (
    CHECK_IN_CLOSES_AFTER,
    CHECK_IN_OPENS_BEFORE,
    Activity,
    ActivityStatus,
    CheckInMethod,
)
from gonghui.activities.services import CODE_WINDOW, QR_TOKEN_SECONDS
from gonghui.stats.registry import bucket_metric, buckets_for

PREFIX = "/bench/lean/activities/"
# GONGHUI_LEAN_PREPARED=1: server-side binding and prepared statements (PostgreSQL plans
# the two statements once per connection), instead of Django's client-side binding.
PREPARED = os.environ.get("GONGHUI_LEAN_PREPARED") == "1"
ACTIVITY_TTL = 2.0
USER_TABLE = get_user_model()._meta.db_table

READ = f"""
SELECT t.id, t.user_id, u.username,
       t.last_used_at IS NULL OR t.last_used_at < %s AS stale,
       m.id, m.unit_id, m.name, o.kind, o.depth,
       o.ancestor_0, o.ancestor_1, o.ancestor_2, o.ancestor_3, o.ancestor_4,
       (SELECT count(*) FROM activities_checkinrefusal r
         WHERE r.user_id = t.user_id AND r.method = 'code' AND r.reason = 'wrong_code'
           AND r.at >= %s) AS wrong
FROM accounts_apitoken t
JOIN "{USER_TABLE}" u ON u.id = t.user_id AND u.is_active
LEFT JOIN orgs_member m ON m.user_id = t.user_id AND m.status = 'active'
LEFT JOIN orgs_org o ON o.id = m.unit_id
WHERE t.key_hash = %s
"""

WRITE = """
WITH c AS (
  INSERT INTO activities_checkin (activity_id, member_id, unit_id, method, at, day, by_id)
  VALUES (%(activity)s, %(member)s, %(unit)s, %(method)s, %(now)s, %(day)s, %(user)s)
  ON CONFLICT (activity_id, member_id) DO NOTHING RETURNING id
), mk AS (
  INSERT INTO stats_distinctmark (metric, bucket, key, org_id, day)
  SELECT %(reached)s, b, %(member)s, %(unit)s, %(day)s::date
  FROM c, unnest(%(buckets)s::text[]) b
  ON CONFLICT (metric, bucket, key) DO NOTHING RETURNING bucket
), ur AS (
  INSERT INTO activities_unitreach (activity_id, unit_id, unit_kind, day)
  SELECT %(activity)s, %(unit)s, %(unit_kind)s, %(day)s::date FROM c
  ON CONFLICT (activity_id, unit_id) DO NOTHING RETURNING unit_id
), um AS (
  INSERT INTO stats_distinctmark (metric, bucket, key, org_id, day)
  SELECT %(units)s, b, %(unit)s, %(unit)s, %(day)s::date
  FROM ur, unnest(%(buckets)s::text[]) b
  ON CONFLICT (metric, bucket, key) DO NOTHING RETURNING bucket
), fd AS (
  INSERT INTO stats_factdelta (org_id, metric, day, delta)
  SELECT %(unit)s, %(checkins)s, %(day)s::date, 1 FROM c
  UNION ALL SELECT %(unit)s, %(reached)s || '@' || bucket, %(day)s::date, 1 FROM mk
  UNION ALL SELECT %(unit)s, %(units)s || '@' || bucket, %(day)s::date, 1 FROM um
), au AS (
  INSERT INTO audit_auditentry (at, actor_id, actor_name, action, target_type, target_id,
                                target_repr, org_id, summary, ip_address)
  SELECT %(now)s::timestamptz, %(user)s, %(username)s, 'create', 'activities.checkin',
         c.id::text, %(repr)s, %(venue)s, %(summary)s, %(ip)s::inet FROM c
), tok AS (
  UPDATE accounts_apitoken SET last_used_at = %(now)s WHERE id = %(token)s AND %(stale)s
)
SELECT id FROM c
"""

_activities: dict[int, tuple[float, dict[str, Any]]] = {}
_lock = threading.Lock()


def _activity(pk: int) -> dict[str, Any] | None:
    now = time.monotonic()
    with _lock:
        cached = _activities.get(pk)
    if cached is not None and cached[0] > now:
        return cached[1]
    activity = Activity.objects.filter(pk=pk).select_related("venue_org").first()
    if activity is None:
        return None
    data = {
        "pk": activity.pk,
        "title": activity.title,
        "code": activity.check_in_code,
        "qr_secret": activity.qr_secret,
        "status": activity.status,
        "opens": activity.starts_at - CHECK_IN_OPENS_BEFORE,
        "closes": activity.ends_at + CHECK_IN_CLOSES_AFTER,
        "venue": activity.venue_org_id,
        "venue_depth": activity.venue_org.depth,
        "simple": (
            activity.status == ActivityStatus.HELD
            and not activity.requirement_id
            and not activity.registration_required
            and not activity.audience_kinds
            and not activity.audience_units.exists()
        ),
    }
    if data["simple"]:  # a planned one is read again: its first check-in makes it held
        with _lock:
            _activities[pk] = (now + ACTIVITY_TTL, data)
    return data


with translation.override("zh-hans"):
    SUMMARY = gettext("Checked in (%(method)s)") % {"method": str(CheckInMethod.API.label)}


def _cursor() -> Any:
    if not PREPARED:
        return connection.cursor()
    import psycopg

    connection.ensure_connection()
    return psycopg.Cursor(connection.connection)  # server-side binding


def _execute(cursor: Any, sql: str, params: Any) -> None:
    if PREPARED:
        cursor.execute(sql, params, prepare=True)
    else:
        cursor.execute(sql, params)


def lean_check_in(environ: dict[str, Any], body: bytes) -> tuple[int, dict[str, Any]] | None:
    """(status, JSON) of a check-in done here, or None to hand the request on."""
    head = environ["PATH_INFO"][len(PREFIX) :]
    activity_id, _, tail = head.partition("/")
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if tail != "check-in" or not activity_id.isdigit() or not auth.startswith("Bearer "):
        return None
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    activity = _activity(int(activity_id))
    if activity is None or not activity["simple"] or activity["venue_depth"] > 4:
        return None
    now = timezone.now()
    if not activity["opens"] <= now <= activity["closes"]:
        return None
    code, token = payload.get("code"), payload.get("token")
    if token:
        try:
            signer = signing.TimestampSigner(salt=f"gonghui.checkin.{activity['qr_secret']}")
            if signer.unsign(token, max_age=QR_TOKEN_SECONDS) != str(activity["pk"]):
                return None
        except signing.BadSignature:
            return None
    elif not (isinstance(code, str) and code.strip() == activity["code"]):
        return None
    with _cursor() as cursor:
        _execute(
            cursor,
            READ,
            [
                now - datetime.timedelta(seconds=60),
                now - CODE_WINDOW,
                hash_token(auth[len("Bearer ") :].strip()),
            ],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    token_id, user_id, username, stale, member_id, unit_id, name, kind, depth, *rest = row
    *ancestors, wrong = rest
    if member_id is None or kind != "grassroots" or (not token and wrong >= 10):
        return None
    if activity["venue_depth"] > depth or ancestors[activity["venue_depth"]] != activity["venue"]:
        return None  # not in the audience: the real view refuses it
    day = timezone.localdate(now)
    units = figures.units_metric("grassroots")
    params = {
        "activity": activity["pk"],
        "member": member_id,
        "unit": unit_id,
        "unit_kind": "grassroots",
        "method": CheckInMethod.API,
        "now": now,
        "day": day,
        "user": user_id,
        "username": username[:150],
        "reached": figures.REACHED,
        "units": units,
        "checkins": figures.CHECKINS,
        "buckets": buckets_for(day),
        "repr": f"{name} @ {activity['title']}"[:200],
        "venue": activity["venue"],
        "summary": SUMMARY[:300],
        "ip": environ.get("REMOTE_ADDR") or None,
        "token": token_id,
        "stale": bool(stale),
    }
    assert bucket_metric(units, "all") == f"{units}@all"  # the names the CTE builds
    with _cursor() as cursor:
        _execute(cursor, WRITE, params)
        created = cursor.fetchone() is not None
        at = now
        if not created:  # a retry: the first check-in's time
            cursor.execute(
                "SELECT at FROM activities_checkin WHERE activity_id = %s AND member_id = %s",
                [activity["pk"], member_id],
            )
            found = cursor.fetchone()
            at = found[0] if found else now
    return 200, {
        "checked_in": True,
        "created": created,
        "member_id": member_id,
        "activity_id": activity["pk"],
        "title": activity["title"],
        "at": at.isoformat(),
    }


def application(environ: dict[str, Any], start_response: Any) -> Any:
    if environ.get("REQUEST_METHOD") == "POST" and environ.get("PATH_INFO", "").startswith(PREFIX):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        try:
            answer = lean_check_in(environ, body)
        except Exception:
            connection.close()  # a broken connection must not serve the next request
            raise
        if answer is not None:
            status, data = answer
            out = json.dumps(data, ensure_ascii=False).encode()
            start_response(
                f"{status} OK",
                [("Content-Type", "application/json"), ("Content-Length", str(len(out)))],
            )
            return [out]
        # Everything else is the real API's: the same request, its body put back.
        environ["wsgi.input"] = io.BytesIO(body)
        environ["PATH_INFO"] = "/api/activities/" + environ["PATH_INFO"][len(PREFIX) :]
    return django_application(environ, start_response)
