"""The contest's hot paths, made cheap without changing what they do: the bank cached per
process (never a retired question or an old text), the member's attempts in one read, the
best result in one upsert, points awarded under the member's one lock within the cap,
the figure changes of a scoring in one statement, leaderboards cached after the check."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from gonghui.learning import figures, selectors, services
from gonghui.learning.models import (
    Attempt,
    AttemptStatus,
    PointsBalance,
    PointsEntry,
    PointsRule,
    QuestionKind,
    QuizResult,
)
from gonghui.orgs.scoping import SYSTEM
from gonghui.stats import services as stats
from gonghui.stats.models import FactDelta

pytestmark = pytest.mark.django_db

MINUTE = datetime.timedelta(minutes=1)


def add(tree: Any, n: int, *, start: int = 0, tag: str = "工会法") -> list[Any]:
    return [
        services.add_question(
            SYSTEM,
            org=tree.chengdu,
            data=services.QuestionInput(
                QuestionKind.SINGLE,
                f"第{i}题：工会会员的权利是什么{i}？",
                options=["正确答案", "错误一", "错误二", "错误三"],
                answer=[0],
                tags=[tag],
            ),
        )
        for i in range(start, start + n)
    ]


def quiz(tree: Any, count: int = 5, **extra: Any) -> Any:
    now = timezone.now()
    extra.setdefault("opens_at", now - MINUTE)
    extra.setdefault("closes_at", now + datetime.timedelta(days=1))
    created = services.create_quiz(
        SYSTEM,
        org=tree.chengdu,
        data=services.QuizInput(
            "工会知识竞答", rules=[services.DrawRule(count, tag="工会法")], **extra
        ),
    )
    return services.publish_quiz(SYSTEM, created)


def right(attempt: Attempt) -> dict[str, list[int]]:
    return {str(n): q["answer"] for n, q in enumerate(attempt.snapshot)}


def wrong(attempt: Attempt) -> dict[str, list[int]]:
    return {
        str(n): [(q["answer"][0] + 1) % len(q["options"])] for n, q in enumerate(attempt.snapshot)
    }


def take(user: Any, q: Any, answers: Any = right) -> Attempt:
    attempt = services.start_attempt(user, q)
    return services.submit_attempt(user, attempt, answers(attempt))


def statements(call: Any) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        call()
    return [c["sql"] for c in captured.captured_queries]


# --- the bank, cached per process ------------------------------------------------------------


def test_the_cached_bank_never_draws_a_retired_question_or_an_old_text(tree):
    first = add(tree, 5)
    q = quiz(tree, count=5, attempts_allowed=5)
    user = tree.users["worker"]
    drawn = take(user, q, wrong)  # the bank is in the cache now
    assert {s["id"] for s in drawn.snapshot} == {x.pk for x in first}
    # An edit: the next draw has the new text and version, never the cached one.
    edited = services.edit_question(
        SYSTEM,
        first[0],
        services.QuestionInput(
            QuestionKind.SINGLE,
            "改过的题目：工会会员享有哪项权利？",
            options=["选举权", "无"],
            answer=[0],
            tags=["工会法"],
        ),
        version=first[0].version,
    )
    again = take(user, q, wrong)
    shown = {s["id"]: s for s in again.snapshot}
    assert shown[edited.pk]["text"] == "改过的题目：工会会员享有哪项权利？"
    assert shown[edited.pk]["version"] == edited.version
    assert sorted(shown[edited.pk]["options"]) == ["无", "选举权"]
    # Retired and replaced: the retired question is never drawn again.
    services.retire_question(SYSTEM, first[1])
    (fresh,) = add(tree, 1, start=100)
    third = take(user, q, wrong)
    ids = {s["id"] for s in third.snapshot}
    assert first[1].pk not in ids and fresh.pk in ids
    # The old snapshots are untouched: an edit never changes a past score.
    drawn.refresh_from_db()
    assert edited.pk in {s["id"] for s in drawn.snapshot}
    assert "改过的题目：工会会员享有哪项权利？" not in str(drawn.snapshot)


def test_a_retirement_with_the_same_count_is_seen(tree):
    questions = add(tree, 6)
    bank = services.question_bank(tree.chengdu.pk)
    services.retire_question(SYSTEM, questions[2])
    add(tree, 1, start=50)  # as many active questions as before
    after = services.question_bank(tree.chengdu.pk)
    assert after is not bank
    assert questions[2].pk not in after.questions
    assert len(after.questions) == 6


def test_every_change_of_a_question_draws_a_new_stamp(tree):
    # Whoever writes a question — the services, an import, or plain SQL — its org's
    # stamp changes in the same transaction; another org's does not.
    from gonghui.learning.models import Question

    stamps = [services._bank_stamp(tree.chengdu.pk)]
    other = services._bank_stamp(tree.province.pk)

    def changed() -> None:
        now = services._bank_stamp(tree.chengdu.pk)
        assert now not in stamps
        stamps.append(now)

    questions = add(tree, 3)
    changed()
    services.edit_question(
        SYSTEM,
        questions[0],
        services.QuestionInput(
            QuestionKind.SINGLE, "改过：会员的权利？", options=["甲", "乙"], answer=[0]
        ),
        version=questions[0].version,
    )
    changed()
    services.retire_question(SYSTEM, questions[1])
    changed()
    # A text changed by SQL alone, its version untouched.
    Question.objects.filter(pk=questions[2].pk).update(text="直接改写的题目？")
    changed()
    Question.objects.filter(pk=questions[1].pk).delete()
    changed()
    # A question moved to another org: both banks changed.
    Question.objects.filter(pk=questions[2].pk).update(org=tree.province)
    changed()
    assert services._bank_stamp(tree.province.pk) != other
    assert services._bank_stamp(tree.chengdu.pk) == stamps[-1]  # reading changes nothing


def test_a_cached_bank_sees_a_text_changed_by_sql(tree):
    from gonghui.learning.models import Question

    questions = add(tree, 4)
    bank = services.question_bank(tree.chengdu.pk)
    Question.objects.filter(pk=questions[3].pk).update(text="直接改写的题目？")
    after = services.question_bank(tree.chengdu.pk)
    assert after is not bank
    assert after.questions[questions[3].pk].text == "直接改写的题目？"


def test_a_bank_read_in_a_rolled_back_transaction_is_never_taken_for_a_later_one(tree):
    # A rolled-back change's stamp is never drawn again (a sequence, or 64 random bits):
    # the bank cached under it cannot pass for the bank of a later change.
    from django.db import transaction

    add(tree, 2)

    class RolledBack(Exception):
        pass

    with pytest.raises(RolledBack), transaction.atomic():
        add(tree, 1, start=10)
        doomed = services.question_bank(tree.chengdu.pk)
        assert len(doomed.questions) == 3
        raise RolledBack
    assert len(services.question_bank(tree.chengdu.pk).questions) == 2
    add(tree, 1, start=20)
    bank = services.question_bank(tree.chengdu.pk)
    assert bank.stamp != doomed.stamp
    assert sorted(q.text for q in bank.questions.values()) == sorted(
        f"第{i}题：工会会员的权利是什么{i}？" for i in (0, 1, 20)
    )


def test_an_unchanged_bank_costs_one_statement_per_draw(tree):
    add(tree, 8)
    bank = services.question_bank(tree.chengdu.pk)
    rule = services.DrawRule(3, tag="工会法")
    read = statements(lambda: services.question_bank(tree.chengdu.pk))
    assert len(read) == 1  # the stamp; the rows come from the cache
    assert services.question_bank(tree.chengdu.pk) is bank
    assert len(bank.matching(rule)) == 8
    assert bank.matching(services.DrawRule(1, tag="安全生产")) == ()


def test_a_start_reads_the_members_attempts_once_and_expires_the_late_one(tree):
    add(tree, 5)
    q = quiz(tree, count=5, attempts_allowed=2, time_limit_seconds=60)
    user = tree.users["worker"]
    old = services.start_attempt(user, q)
    services.save_answers(user, old, right(old))
    # Starting again resumes the open attempt.
    assert services.start_attempt(user, q).pk == old.pk
    later = timezone.now() + datetime.timedelta(minutes=5)
    new = services.start_attempt(user, q, now=later)
    old.refresh_from_db()
    assert new.pk != old.pk and new.number == 2
    assert old.status == AttemptStatus.TIMED_OUT and old.score == 100
    assert PointsEntry.objects.filter(source=f"quiz:{q.pk}").count() == 1
    assert stats.rebuild(check=True) == []


# --- scoring: one upsert, one lock, one statement of figure changes ---------------------


def test_a_passed_submit_takes_one_lock_and_writes_its_figures_at_once(tree):
    add(tree, 5)
    q = quiz(tree, count=5)
    user = tree.users["worker"]
    attempt = services.start_attempt(user, q)
    answers = right(attempt)
    pending = list(FactDelta.objects.values_list("pk", flat=True))
    sql = statements(lambda: services.submit_attempt(user, attempt, answers))
    # The submit's own transaction (a savepoint inside the test's): award_points adds none.
    assert sum(s.startswith("SAVEPOINT") for s in sql) == 1
    # One `FOR UPDATE` (the attempt; SQLite has none), the balance locked by its upsert.
    assert sum("FOR UPDATE" in s for s in sql) == (connection.vendor == "postgresql")
    assert sum('INSERT INTO "learning_pointsbalance"' in s for s in sql) == 1
    writes = [s for s in sql if s.startswith(("INSERT", "UPDATE", "WITH"))]
    if connection.vendor == "postgresql":
        # Three writes: the attempt (taking the member's lock), the result (with the
        # attempt's figure change), the points (with the balance and the pass's figures).
        assert len(writes) == 3, writes
        assert writes[0].startswith("WITH member_lock AS") and "UPDATE" in writes[0]
        assert sum('INSERT INTO "stats_factdelta"' in s for s in sql) == 2
    else:
        assert sum(s.startswith('INSERT INTO "stats_factdelta"') for s in sql) == 1
    unit = tree.cd_member.unit_id
    day = timezone.localdate()
    written = FactDelta.objects.exclude(pk__in=pending)
    assert sorted(written.values_list("org_id", "metric", "day", "delta")) == sorted(
        [
            (unit, figures.ATTEMPTS, day, 1),
            (unit, figures.PASSED, day, 1),
            (unit, figures.POINTS, day, 10),
        ]
    )
    # A second submit: the first result, nothing written.
    again = statements(lambda: services.submit_attempt(user, attempt, answers))
    assert not [s for s in again if s.startswith(("INSERT", "UPDATE"))]
    assert stats.rebuild(check=True) == []


def test_the_best_result_is_kept_and_a_pass_counts_once(tree):
    add(tree, 5)
    q = quiz(tree, count=5, attempts_allowed=4)
    user = tree.users["worker"]
    failed = take(user, q, wrong)
    result = QuizResult.objects.get()
    assert (result.attempt_id, result.score, result.passed) == (failed.pk, 0, False)
    passed = take(user, q, right)
    result.refresh_from_db()
    assert (result.attempt_id, result.score, result.passed) == (passed.pk, 100, True)
    # Worse, then as good but later (more time is never better): the best stays.
    take(user, q, wrong)
    take(user, q, right)
    result.refresh_from_db()
    assert result.attempt_id == passed.pk and result.passed
    assert QuizResult.objects.count() == 1
    stats.fold_pending()
    assert PointsEntry.objects.filter(source=f"quiz:{q.pk}").count() == 1
    assert PointsBalance.objects.get(member=tree.cd_member).points == 10
    deltas = FactDelta.objects.filter(metric=figures.PASSED)
    assert not deltas.exists()  # folded
    assert stats.rebuild(check=True) == []


def test_quiz_points_stop_at_the_daily_cap_inside_the_submit(tree):
    add(tree, 5)
    user = tree.users["worker"]
    quizzes = [quiz(tree, count=5) for _ in range(4)]
    for q in quizzes:
        take(user, q, right)
    points, cap = services.points_rules()[PointsRule.QUIZ]
    entries = list(
        PointsEntry.objects.filter(member=tree.cd_member).values_list("points", flat=True)
    )
    assert sum(entries) == cap == 3 * points
    assert PointsBalance.objects.get(member=tree.cd_member).points == cap
    assert QuizResult.objects.filter(passed=True).count() == 4  # all four passes count
    assert stats.rebuild(check=True) == []


def test_award_points_returns_the_entry_and_awards_once(tree):
    member = tree.cd_member
    entry = services.award_points(member, PointsRule.COURSE, "course:7")
    assert entry is not None and entry.pk and entry.points == 5
    assert PointsEntry.objects.get(pk=entry.pk).source == "course:7"
    assert services.award_points(member, PointsRule.COURSE, "course:7") is None
    assert PointsBalance.objects.get(member=member).points == 5


# --- leaderboards, cached after the permission check -------------------------------------


@pytest.fixture
def long_boards(monkeypatch):
    # A board kept long enough that a slow machine cannot make these tests pass by expiry.
    monkeypatch.setattr(selectors, "LEADERBOARD_SECONDS", 300)


def _board(user: Any, org: Any) -> Any:
    client = Client()
    client.force_login(user)
    return client.get(reverse("learning:leaderboards", kwargs={"org_id": org.pk}))


def test_a_leaderboard_is_cached_per_org_and_size_until_forgotten(tree, long_boards):
    services.award_points(tree.cd_member, PointsRule.QUIZ, "quiz:1")
    board = selectors.cached_members_leaderboard(tree.chengdu, limit=20)
    assert [r.points for r in board] == [10]
    services.award_points(tree.cd_member2, PointsRule.QUIZ, "quiz:1")
    # Within its life the board may trail the points …
    assert len(selectors.cached_members_leaderboard(tree.chengdu, limit=20)) == 1
    # … but another size or another org is its own board …
    assert len(selectors.cached_members_leaderboard(tree.chengdu, limit=19)) == 2
    assert len(selectors.cached_members_leaderboard(tree.jinjiang, limit=20)) == 2
    # … and a forgotten board is computed afresh.
    selectors.forget_leaderboards()
    assert len(selectors.cached_members_leaderboard(tree.chengdu, limit=20)) == 2


def test_the_units_board_is_not_shared_with_a_cadre_of_the_union_only(tree, long_boards):
    admin = _board(tree.users["cd_union_admin"], tree.cd_union)
    assert [r.org for r in admin.context["units"]] == [tree.cd_branch]
    # A role at the union only does not see the units below it, cached board or not.
    only = _board(tree.users["cd_union_only"], tree.cd_union)
    assert only.status_code == 200
    assert only.context["units"] == []
    # And the permission check comes first: a worker is refused, whatever is cached.
    assert _board(tree.users["worker"], tree.cd_union).status_code == 404
