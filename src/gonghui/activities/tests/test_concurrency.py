"""Check-ins under real concurrency, on PostgreSQL.

Threads, each with its own database connection, check the same members in to the same
activity at the same moment — duplicates, retries, a double tap from two phones, and the
cadre's roster racing the worker's own QR scan — through the services the pages and the
API call. Whatever the interleaving: one CheckIn per (activity, member), exactly one
attempt per member reports `created`, the roll-up figures (after folding) equal the facts,
and `rebuild(check=True)` finds nothing to correct. The planned → held transition races
too: concurrent first check-ins count the activity held exactly once.

SQLite has one writer at a time (transactions are IMMEDIATE), so there is no concurrency
to test there: the module is skipped, saying so.
"""

from __future__ import annotations

import datetime
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, connections, transaction
from django.utils import timezone

from conftest import Tree, build_tree, make_id_number
from gonghui.activities import checkin_sql, figures, services
from gonghui.activities.models import (
    Activity,
    ActivityKind,
    ActivityStatus,
    CheckIn,
    CheckInMethod,
    UnitReach,
)
from gonghui.audit.models import AuditEntry
from gonghui.orgs import services as org_services
from gonghui.orgs.models import Member, Org, OrgKind
from gonghui.orgs.scoping import SYSTEM
from gonghui.stats import services as stats
from gonghui.stats.models import DistinctMark, SubtreeCount

POSTGRES = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not POSTGRES,
        reason="needs PostgreSQL (DATABASE_URL=postgres://...): SQLite serialises writers, "
        "so concurrent check-ins cannot race there",
    ),
]

THREADS = 8
ATTEMPTS_PER_MEMBER = 3  # the first tap and two retries, from different threads


# --- helpers --------------------------------------------------------------------------


def run_at_once(jobs: list[list[Callable[[], Any]]]) -> list[list[Any]]:
    """Run each list of jobs in its own thread (own database connection), all threads
    released together by a barrier. Returns each job's result or the exception raised."""
    barrier = threading.Barrier(len(jobs))
    results: list[list[Any]] = [[] for _ in jobs]

    def work(n: int) -> None:
        try:
            barrier.wait(timeout=30)
            for job in jobs[n]:
                try:
                    results[n].append(job())
                except Exception as exc:  # collected: the test names every failure
                    results[n].append(exc)
        finally:
            connections.close_all()  # this thread's connection

    threads = [threading.Thread(target=work, args=(n,)) for n in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a check-in thread hung"
    return results


def total(org: Org, metric: str) -> int:
    row = SubtreeCount.objects.filter(org=org, metric=metric).first()
    return row.value if row else 0


def schedule(tree: Tree, *, org: Org, title: str, venue: Org | None = None) -> Activity:
    now = timezone.now()
    return services.schedule_activity(
        tree.users["chengdu_admin"],
        org=org,
        data=services.ActivityInput(
            kind=ActivityKind.LECTURE,
            title=title,
            starts_at=now - datetime.timedelta(minutes=10),
            ends_at=now + datetime.timedelta(hours=2),
            venue_org=venue,
        ),
    )


def crowd(tree: Tree, per_unit: int) -> list[Member]:
    """Members with worker accounts in every kind of unit of 华信 (the grassroots union,
    two workshops, three teams), so first check-ins reach units at every level at once."""
    branch2 = org_services.create_org(
        actor=SYSTEM,
        parent=tree.cd_union,
        name="华信装配车间",
        code="510104001001B2",
        kind="branch",
    )
    team2 = org_services.create_org(
        actor=SYSTEM, parent=tree.cd_branch, name="华信机加车间乙班", code="510104001001B1T2",
        kind="team",
    )  # fmt: skip
    team3 = org_services.create_org(
        actor=SYSTEM, parent=branch2, name="华信装配车间甲班", code="510104001001B2T1", kind="team"
    )
    units = [tree.cd_union, tree.cd_branch, tree.cd_team, branch2, team2, team3]
    User = get_user_model()
    members = []
    seq = 100
    for unit in units:
        for _ in range(per_unit):
            seq += 1
            member = org_services.register_member(
                actor=SYSTEM, unit=unit, name="赵敏", id_number=make_id_number(seq=seq)
            )
            member.user = User.objects.create_user(username=f"w{seq}", password="x")
            member.save(update_fields=["user"])
            members.append(member)
    return members


def attempt(activity_id: int, member_id: int, way: str) -> bool:
    """One check-in as a request makes it: load the activity and the member afresh (as
    every request does), then call the service of that path. Returns `created`."""
    activity = Activity.objects.select_related("venue_org").get(pk=activity_id)
    member = Member.objects.select_related("unit", "user").get(pk=member_id)
    if way == "code":  # the app: POST /api/activities/{id}/check-in {"code": ...}
        result = services.check_in_self(member.user, activity, code=activity.check_in_code)
    elif way == "qr":  # the app with the scanned token
        result = services.check_in_self(member.user, activity, code=services.qr_token(activity))
    elif way == "scan":  # the phone's browser after scanning the screen
        result = services.check_in_with_token(member.user, services.qr_token(activity))
    else:  # the cadre ticks the roster meanwhile
        result = services.check_in(
            activity=activity, member=member, method=CheckInMethod.ROSTER, by=SYSTEM
        )
    return result.created


WAYS = ("code", "qr", "scan", "roster")


def storm(activity_ids: list[int], members: list[Member]) -> list[list[Any]]:
    """Every member checks in to every activity ATTEMPTS_PER_MEMBER times; the attempts
    of one member are spread over different threads at the same position, so they run
    at the same moment (duplicates racing each other), by different paths."""
    jobs: list[list[Callable[[], Any]]] = [[] for _ in range(THREADS)]
    for i, member in enumerate(members):
        for activity_id in activity_ids:
            for k in range(ATTEMPTS_PER_MEMBER):
                way = WAYS[(i + k) % len(WAYS)]
                jobs[(i + k) % THREADS].append(
                    lambda a=activity_id, m=member.pk, w=way: (a, m, attempt(a, m, w))
                )
    return run_at_once(jobs)


def assert_no_failures(results: list[list[Any]]) -> list[tuple[int, int, bool]]:
    flat = [r for thread in results for r in thread]
    failures = [r for r in flat if isinstance(r, BaseException)]
    assert not failures, f"{len(failures)} check-ins failed, e.g. {failures[0]!r}"
    return flat


def assert_exact(tree: Tree, activities: list[Activity], members: list[Member]) -> None:
    """One row per (activity, member); figures equal to the facts, folded and rebuilt."""
    ids = [a.pk for a in activities]
    per_pair = Counter(
        CheckIn.objects.filter(activity_id__in=ids).values_list("activity_id", "member_id")
    )
    assert set(per_pair) == {(a, m.pk) for a in ids for m in members}
    assert set(per_pair.values()) == {1}
    stats.fold_pending()
    attendances = CheckIn.objects.count()
    assert attendances == len(ids) * len(members)
    reached = CheckIn.objects.values("member_id").distinct().count()
    assert reached == len(members)
    for org in (tree.province, tree.chengdu, tree.cd_union):
        assert total(org, figures.CHECKINS) == attendances
        assert total(org, f"{figures.REACHED}@all") == reached
    # Held counts at the venue (华信, or a county or township above it).
    assert total(tree.province, figures.HELD) == len(ids)
    assert total(tree.chengdu, figures.held_metric(ActivityKind.LECTURE)) == len(ids)
    # Units reached: 华信, its two workshops, its three teams.
    assert total(tree.province, f"{figures.units_metric(OrgKind.GRASSROOTS)}@all") == 1
    assert total(tree.province, f"{figures.units_metric(OrgKind.BRANCH)}@all") == 2
    assert total(tree.province, f"{figures.units_metric(OrgKind.TEAM)}@all") == 3
    assert UnitReach.objects.filter(activity_id__in=ids).count() == 6 * len(ids)
    assert Activity.objects.filter(pk__in=ids, status=ActivityStatus.HELD).count() == len(ids)
    # One distinct mark per member and bucket, however many attempts raced.
    marks = Counter(
        DistinctMark.objects.filter(metric=figures.REACHED).values_list("key", "bucket")
    )
    assert set(marks.values()) == {1}
    assert stats.rebuild(check=True) == []


# --- the tests ------------------------------------------------------------------------


@pytest.fixture
def crowded(transactional_db) -> tuple[Tree, list[Member]]:
    tree = build_tree()
    return tree, crowd(tree, per_unit=6)


def test_a_retry_storm_counts_each_member_once(crowded):
    """36 members, 3 attempts each by 4 paths, 8 threads, same moment: one row each,
    exactly one `created` each, figures exact."""
    tree, members = crowded
    activity = schedule(tree, org=tree.cd_union, title="劳模工匠宣讲进车间")
    flat = assert_no_failures(storm([activity.pk], members))
    assert len(flat) == len(members) * ATTEMPTS_PER_MEMBER
    created = Counter(m for _a, m, new in flat if new)
    assert created == Counter({m.pk: 1 for m in members})
    assert_exact(tree, [activity], members)


def test_two_activities_at_once_reach_each_member_once(crowded):
    """The same members into two activities at the same time, both held above the units
    (a county's and a township's lecture, so every unit is first reached by a member's
    check-in, racing the others): two attendances each, one member reached each, every
    unit reached once."""
    tree, members = crowded
    county = schedule(tree, org=tree.jinjiang, title="区总工会送学上门")
    township = schedule(tree, org=tree.chunxilu, title="街道工会微宣讲")
    flat = assert_no_failures(storm([county.pk, township.pk], members))
    created = Counter((a, m) for a, m, new in flat if new)
    assert set(created.values()) == {1}
    assert len(created) == 2 * len(members)
    assert_exact(tree, [county, township], members)


def test_concurrent_first_check_ins_count_the_activity_held_once(crowded):
    """Planned → held happens on the first check-in; eight first check-ins at once, five
    times over: each activity held once, its held figures counted once."""
    tree, members = crowded
    activities = [schedule(tree, org=tree.cd_union, title=f"第{n}期职工学习") for n in range(5)]
    for activity in activities:
        assert activity.status == ActivityStatus.PLANNED
        chosen = members[: THREADS * 2]
        jobs = [
            [
                lambda a=activity.pk, m=member.pk, w=way: (a, m, attempt(a, m, w))
                for member in chosen[n::THREADS]
            ]
            for n, way in zip(range(THREADS), WAYS * THREADS, strict=False)
        ]
        flat = assert_no_failures(run_at_once(jobs))
        assert all(new for _a, _m, new in flat)
        activity.refresh_from_db()
        assert activity.status == ActivityStatus.HELD
        assert activity.held_on == activity.start_day
    stats.fold_pending()
    for org in (tree.province, tree.cd_union):
        assert total(org, figures.HELD) == len(activities)
        assert total(org, figures.held_metric(ActivityKind.LECTURE)) == len(activities)
        assert total(org, figures.CHECKINS) == len(activities) * THREADS * 2
    assert stats.rebuild(check=True) == []


def test_a_burst_on_held_activities_one_statement_each(crowded, monkeypatch):
    """The common case: activities already held, so every self check-in is written in one
    statement (checkin_sql), racing the cadre's roster (the ORM path) on the same members
    and the same units first reached at the same moment. No deadlock, one row and one
    audit entry per (activity, member), figures exact."""
    tree, members = crowded
    activities = [
        schedule(tree, org=tree.jinjiang, title="区总工会送学上门"),
        schedule(tree, org=tree.chunxilu, title="街道工会微宣讲"),
    ]
    for activity in activities:
        services.mark_held(tree.users["chengdu_admin"], activity)
    written = []
    write = checkin_sql.write_check_in

    def counted(w: checkin_sql.CheckInWrite) -> Any:
        written.append(w.member_id)  # list.append: safe across threads
        return write(w)

    monkeypatch.setattr(checkin_sql, "write_check_in", counted)
    flat = assert_no_failures(storm([a.pk for a in activities], members))
    created = Counter((a, m) for a, m, new in flat if new)
    assert set(created.values()) == {1}
    assert len(created) == 2 * len(members)
    # Three in four attempts are the worker's own (code, QR in the app, scanned). A code
    # (the activity given) always writes; a QR token, in the app or scanned, has its
    # activity read by the token with the member's check-in there, and writes only when
    # that read found none yet.
    by_code = len(activities) * sum(
        1
        for i in range(len(members))
        for k in range(ATTEMPTS_PER_MEMBER)
        if WAYS[(i + k) % len(WAYS)] == "code"
    )
    assert by_code <= len(written) <= len(flat) * 3 // 4
    assert_exact(tree, activities, members)
    assert AuditEntry.objects.filter(target_type="activities.checkin").count() == 2 * len(members)


def test_a_double_tap_blocked_on_the_first_answers_with_its_row(crowded, monkeypatch):
    """The second of two taps starts writing while the first's row is written but not yet
    committed: its insert waits, finds the row, and its statement cannot see it (its
    snapshot is older). It reads the row once more and answers it as a retry."""
    tree, members = crowded
    activity = schedule(tree, org=tree.cd_union, title="班前十分钟微宣讲")
    services.mark_held(tree.users["chengdu_admin"], activity)
    member = members[0]
    reread = []
    existing = checkin_sql.existing_check_in

    def counted(activity_id: int, member_id: int) -> Any:
        reread.append(member_id)
        return existing(activity_id, member_id)

    monkeypatch.setattr(checkin_sql, "existing_check_in", counted)
    written = threading.Event()

    def first() -> int:
        with transaction.atomic():
            result = services.check_in(
                activity=Activity.objects.select_related("venue_org").get(pk=activity.pk),
                member=Member.objects.select_related("unit").get(pk=member.pk),
                method=CheckInMethod.API,
                by=member.user,
            )
            written.set()
            # Commit only once the second tap's insert waits on this row.
            with connection.cursor() as cursor:
                for _ in range(500):
                    cursor.execute(
                        "SELECT count(*) FROM pg_locks"
                        " WHERE NOT granted AND pid <> pg_backend_pid()"
                    )
                    if cursor.fetchone()[0]:
                        break
                    time.sleep(0.01)
                else:
                    raise AssertionError("the second tap never waited on the first")
        return result.checkin.pk

    def second() -> tuple[int, bool]:
        assert written.wait(10)
        result = services.check_in(
            activity=Activity.objects.select_related("venue_org").get(pk=activity.pk),
            member=Member.objects.select_related("unit").get(pk=member.pk),
            method=CheckInMethod.API,
            by=member.user,
        )
        return result.checkin.pk, result.created

    results = run_at_once([[first], [second]])
    assert_no_failures(results)
    [[first_pk], [(second_pk, created)]] = results
    assert (second_pk, created) == (first_pk, False)
    assert reread == [member.pk]
    assert CheckIn.objects.filter(activity=activity, member=member).count() == 1
    assert AuditEntry.objects.filter(target_type="activities.checkin").count() == 1
