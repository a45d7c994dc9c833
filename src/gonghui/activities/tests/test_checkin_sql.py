"""The one-statement check-in (activities.checkin_sql, PostgreSQL) writes exactly the rows
of the ORM path: the same check-ins, units reached, distinct marks, pending figure changes
and audit entries, for first check-ins, retries, a team member's whole unit chain, a
notice requirement's figures and the system actor. Each scenario runs twice from the same
state, once per path, and the rows are compared (ids and times aside).

SQLite has no data-modifying CTEs and only the ORM path: the module is skipped there.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from gonghui.activities import checkin_sql, services
from gonghui.activities.models import (
    Activity,
    ActivityKind,
    ActivityStatus,
    CheckIn,
    CheckInMethod,
    UnitReach,
)
from gonghui.audit.models import AuditEntry
from gonghui.orgs.scoping import SYSTEM
from gonghui.stats import services as stats
from gonghui.stats.models import DistinctMark, FactDelta

POSTGRES = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.postgres,
    pytest.mark.skipif(
        not POSTGRES,
        reason="needs PostgreSQL (DATABASE_URL=postgres://...): SQLite has only the ORM path",
    ),
]


def held_lecture(tree, *, org, title: str, **extra: Any) -> Activity:
    now = timezone.now()
    activity = services.schedule_activity(
        tree.users["chengdu_admin"],
        org=org,
        data=services.ActivityInput(
            kind=ActivityKind.LECTURE,
            title=title,
            starts_at=now - datetime.timedelta(minutes=10),
            ends_at=now + datetime.timedelta(hours=2),
            **extra,
        ),
    )
    return services.mark_held(tree.users["chengdu_admin"], activity)


def rows() -> dict[str, list[Any]]:
    """Everything a check-in writes, without ids and times (the two runs differ there)."""
    checkins = {
        pk: (activity, member)
        for pk, activity, member in CheckIn.objects.values_list("pk", "activity_id", "member_id")
    }
    return {
        "checkins": sorted(
            CheckIn.objects.values_list(
                "activity_id", "member_id", "unit_id", "method", "day", "by"
            )
        ),
        "reach": sorted(
            UnitReach.objects.values_list("activity_id", "unit_id", "unit_kind", "day")
        ),
        "marks": sorted(
            DistinctMark.objects.values_list("metric", "bucket", "key", "org_id", "day")
        ),
        "facts": sorted(FactDelta.objects.values_list("org_id", "metric", "day", "delta")),
        "audit": sorted(
            (
                checkins.get(int(e.target_id)),
                e.actor_id,
                e.actor_name,
                e.action,
                e.target_repr,
                e.org_id,
                e.summary,
                e.before,
                e.after,
                e.ip_address,
            )
            for e in AuditEntry.objects.filter(target_type="activities.checkin")
        ),
    }


def run(monkeypatch, scenario: Callable[[], list[Any]], *, one_statement: bool) -> Any:
    """The scenario's results and the rows it leaves, then everything rolled back."""
    statements = []
    write = checkin_sql.write_check_in

    def counted(w: checkin_sql.CheckInWrite) -> Any:
        statements.append(w)
        return write(w)

    with monkeypatch.context() as patch:
        patch.setattr(checkin_sql, "write_check_in", counted)
        if not one_statement:
            patch.setattr(services, "_in_one_statement", lambda *a, **k: False)
        with transaction.atomic():
            results = scenario()
            left = rows()
            transaction.set_rollback(True)
    return results, left, len(statements)


def test_one_statement_writes_what_the_orm_path_writes(tree, monkeypatch):
    # Held at a county and a township: no unit is reached by the held activity itself, so
    # the members' check-ins reach their units (a team member: team, workshop, union).
    from gonghui.notices import services as notices
    from gonghui.notices.models import RequirementKind

    notice = notices.create_notice(
        actor=tree.users["province_admin"],
        issuer=tree.province,
        title="关于开展宣讲活动的通知",
        requires_ack=False,
        requirements=[notices.RequirementInput(RequirementKind.LECTURE, "宣讲进企业")],
    )
    notices.issue_notice(actor=tree.users["province_admin"], notice=notice)
    county = held_lecture(tree, org=tree.jinjiang, title="区总工会送学上门")
    linked = held_lecture(
        tree,
        org=tree.chunxilu,
        title="街道工会微宣讲",
        requirement_id=notice.requirements.get().pk,
    )
    worker, teamer = tree.users["worker"], tree.users["nobody"]
    tree.team_member.user = teamer
    tree.team_member.save(update_fields=["user"])

    def scenario() -> list[Any]:
        def fresh(activity: Activity) -> Activity:
            found = services.activity_for_check_in(activity.pk)
            assert found is not None and found.status == ActivityStatus.HELD
            return found

        results = [
            services.check_in_self(worker, fresh(county), code=county.check_in_code),
            services.check_in_self(worker, fresh(county), code=county.check_in_code),  # retry
            services.check_in_with_token(teamer, services.qr_token(county)),
            services.check_in_with_token(teamer, services.qr_token(county)),  # retry
            # The requirement's figures; the member is already reached, the units too.
            services.check_in(
                activity=fresh(linked), member=tree.team_member, method="qr", by=SYSTEM
            ),
            services.check_in_self(worker, fresh(linked), code=services.qr_token(linked)),
            # A member without an account, by nobody (the system actor).
            services.check_in(activity=fresh(county), member=tree.cd_member2, method="api"),
        ]
        return [
            (r.created, r.checkin.activity_id, r.checkin.member_id, r.checkin.method, r.checkin.day)
            for r in results
        ]

    orm_results, orm_rows, orm_statements = run(monkeypatch, scenario, one_statement=False)
    one_results, one_rows, one_statements = run(monkeypatch, scenario, one_statement=True)
    assert orm_statements == 0
    # Every check-in took the one statement but the scanned retry, which found its
    # check-in with the activity it read by the token (and so writes nothing).
    assert one_statements == 6
    assert one_results == orm_results
    assert [created for created, *_rest in one_results] == [1, 0, 1, 0, 1, 1, 1]
    for table in orm_rows:
        assert one_rows[table] == orm_rows[table], table
    # What the check-ins added: 5 attendances, 3 members, 4 units (county: union, workshop,
    # team; the linked lecture: the same three once more, but counted only for the
    # requirement), each with its figures.
    assert len(one_rows["checkins"]) == 5
    assert len(one_rows["audit"]) == 5
    assert len(one_rows["reach"]) == 6


def test_a_retry_answers_the_first_check_in(tree):
    """The retry's answer is the row of the first check-in (its method, time, author)."""
    activity = held_lecture(tree, org=tree.cd_union, title="劳模宣讲")
    first = services.check_in(
        activity=activity, member=tree.cd_member, method=CheckInMethod.QR, by=SYSTEM
    )
    again = services.check_in_self(
        tree.users["worker"],
        services.activity_for_check_in(activity.pk),
        code=activity.check_in_code,
    )
    assert first.created and not again.created
    assert (again.checkin.pk, again.checkin.method, again.checkin.at, again.checkin.by_id) == (
        first.checkin.pk,
        CheckInMethod.QR,
        first.checkin.at,
        None,
    )
    assert CheckIn.objects.count() == 1
    assert stats.rebuild(check=True) == []


def test_array_literals_read_back_as_the_arrays(db):
    """The write's arrays are sent as literals: PostgreSQL reads back every value, quotes,
    backslashes, commas and braces included."""
    from django.db import connection

    from gonghui.core import rows

    texts = ("activities.reached@all", 'a "quoted", {braced}', "back\\slash", "", "NULL")
    numbers = (1, 22, 333_000_000_000)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT %s::text[], %s::bigint[], %s::text[]",
            [
                rows.array_literal(texts),
                rows.array_literal(numbers),
                rows.array_literal(()),
            ],
        )
        got_texts, got_numbers, got_empty = cursor.fetchone()
    assert tuple(got_texts) == texts
    assert tuple(got_numbers) == numbers
    assert got_empty == []
