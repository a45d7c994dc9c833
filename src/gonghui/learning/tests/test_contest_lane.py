"""A contestant's start and submit in the API's fast lane (gonghui.api.lane): answered
without Django, byte for byte as the full stack answers (the quiz tests of test_api.py
also run through the production WSGI application: `as_phone`). Both databases."""

import datetime
import json
import time
from typing import Any

import pytest
from django.utils import timezone

from gonghui.accounts import services as accounts_services
from gonghui.accounts.services import issue_api_token, token_uses
from gonghui.activities.tests.test_concurrency import run_at_once
from gonghui.api import lane
from gonghui.api.testing import DjangoNotCalled, call_wsgi, not_django
from gonghui.learning.models import Attempt, AttemptStatus, Question, Quiz
from gonghui.learning.tests.test_api import MINUTE, bank, quiz, right_answers
from gonghui.wsgi import django_application

pytestmark = pytest.mark.django_db


def post(app: Any, path: str, key: str, body: Any = None) -> Any:
    raw = b"" if body is None else json.dumps(body).encode()
    return call_wsgi(app, "POST", path, body=raw, headers={"Authorization": f"Bearer {key}"})


def test_start_and_submit_in_the_lane_answer_as_the_full_stack(tree, settings):
    bank(tree)
    q = quiz(tree, count=5, pass_mark=60)
    closed = quiz(tree, title="已结束的竞答")
    Quiz.objects.filter(pk=closed.pk).update(closes_at=timezone.now() - MINUTE)
    key = issue_api_token(user=tree.users["worker"])
    alone = lane.LaneApplication(not_django)
    full = lane.LaneApplication(django_application)

    started = post(alone, f"/api/quizzes/{q.pk}/attempts", key)
    assert started.status_code == 201, started.content
    attempt_id = started.json()["attempt_id"]
    assert len(started.json()["questions"]) == 5
    assert all("answer" not in x for x in started.json()["questions"])  # never the answers
    lane_resume = post(alone, f"/api/quizzes/{q.pk}/attempts", key, {})
    lane_closed = post(alone, f"/api/quizzes/{closed.pk}/attempts", key)
    lane_missing = post(alone, "/api/quizzes/999999/attempts", key)
    answers = right_answers(attempt_id)
    submit_url = f"/api/quizzes/attempts/{attempt_id}/submit"
    lane_submit = post(alone, submit_url, key, {"answers": answers})
    assert lane_submit.status_code == 200
    assert lane_submit.json()["score"] == 100 and lane_submit.json()["passed"] is True

    settings.GONGHUI_API_LANE = False
    stack_used_up = post(full, f"/api/quizzes/{q.pk}/attempts", key, {})
    stack_closed = post(full, f"/api/quizzes/{closed.pk}/attempts", key)
    stack_missing = post(full, "/api/quizzes/999999/attempts", key)
    stack_again = post(full, submit_url, key, {"answers": {}})
    settings.GONGHUI_API_LANE = True
    lane_used_up = post(alone, f"/api/quizzes/{q.pk}/attempts", key)
    lane_again = post(alone, submit_url, key, {"answers": {}})

    # The resumed attempt before scoring equals the first answer (same questions, 200).
    assert lane_resume.status_code == 200 and lane_resume.json() == started.json()
    for ours, theirs, status in (
        (lane_used_up, stack_used_up, 409),  # its one attempt used
        (lane_closed, stack_closed, 422),
        (lane_missing, stack_missing, 404),
        (lane_again, stack_again, 200),
    ):
        assert ours.status_code == theirs.status_code == status
        assert ours.content == theirs.content  # byte for byte
        assert ours.headers == theirs.headers
    assert lane_again.json() == lane_submit.json()  # the first result, counted once
    first = Attempt.objects.get(pk=attempt_id)
    assert first.status == AttemptStatus.SUBMITTED and first.score == 100


def test_the_lane_hands_a_bad_submission_to_ninja(tree):
    bank(tree)
    q = quiz(tree, count=5)
    key = issue_api_token(user=tree.users["worker"])
    full = lane.LaneApplication(django_application)
    attempt_id = post(full, f"/api/quizzes/{q.pk}/attempts", key).json()["attempt_id"]
    # Not an object of answers: ninja's own 422, nothing scored.
    answer = post(full, f"/api/quizzes/attempts/{attempt_id}/submit", key, {"answers": [1, 2]})
    assert answer.status_code == 422
    assert Attempt.objects.get(pk=attempt_id).status == AttemptStatus.IN_PROGRESS
    with pytest.raises(DjangoNotCalled):
        post(
            lane.LaneApplication(not_django),
            f"/api/quizzes/attempts/{attempt_id}/submit",
            key,
            {"answers": [1, 2]},
        )


def test_the_locked_attempt_read_by_hand_equals_the_orms(tree):
    """Scoring reads the attempt with its quiz and member by a hand-written statement:
    the same values as the ORM's read, related rows included, on both databases."""
    from gonghui.learning import services
    from gonghui.learning.models import Attempt
    from gonghui.orgs.models import Member

    bank(tree)
    q = quiz(tree, count=5)
    key = issue_api_token(user=tree.users["worker"])
    full = lane.LaneApplication(django_application)
    attempt_id = post(full, f"/api/quizzes/{q.pk}/attempts", key).json()["attempt_id"]
    ours = services._locked_attempt(attempt_id)
    orm = Attempt.objects.select_related("quiz", "member").get(pk=attempt_id)
    for field in Attempt._meta.concrete_fields:
        assert getattr(ours, field.attname) == getattr(orm, field.attname), field.name
    for name in services.QUIZ_FIELDS_FOR_SCORING:
        assert getattr(ours.quiz, name) == getattr(orm.quiz, name), name
    for name in services.MEMBER_FIELDS:
        assert getattr(ours.member, name) == getattr(orm.member, name), name
    assert isinstance(ours.member, Member) and ours.snapshot == orm.snapshot
    with pytest.raises(Attempt.DoesNotExist):
        services._locked_attempt(999_999)


@pytest.mark.django_db(transaction=True)
def test_a_scorer_skips_an_attempt_locked_by_another(tree):
    """On PostgreSQL the hand-written read locks the attempt's row: a second transaction
    that skips locked rows does not get it until the first ends."""
    import threading

    from django.db import connection, transaction

    from gonghui.learning import services

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite locks the whole database, not a row")
    bank(tree)
    q = quiz(tree, count=5)
    key = issue_api_token(user=tree.users["worker"])
    attempt_id = post(
        lane.LaneApplication(django_application), f"/api/quizzes/{q.pk}/attempts", key
    )
    attempt_id = attempt_id.json()["attempt_id"]
    seen: list[str] = []

    def other_scorer() -> None:
        try:
            with transaction.atomic():
                services._locked_attempt(attempt_id, skip_locked=True)
                seen.append("got it")
        except Attempt.DoesNotExist:
            seen.append("skipped")
        finally:
            connection.close()

    with transaction.atomic():
        services._locked_attempt(attempt_id)
        thread = threading.Thread(target=other_scorer)
        thread.start()
        thread.join()
    after = threading.Thread(target=other_scorer)
    after.start()
    after.join()
    assert seen == ["skipped", "got it"]


def _second_worker(tree: Any) -> str:
    """A token of a second worker, linked to 成都's second member."""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user("worker2", password="x")
    tree.cd_member2.user = user
    tree.cd_member2.save(update_fields=["user"])
    return issue_api_token(user=user)


def test_a_new_start_in_the_lane_is_one_read_and_one_write(tree, monkeypatch):
    """The common start (no attempt yet) reads its token, the quiz, the member, their
    attempts and the bank's stamp in one statement and writes the attempt in one more: the
    attempt it writes is the one the general path would (number, deadline, draw)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    bank(tree)
    q = quiz(tree, count=5)
    first, key = _second_worker(tree), issue_api_token(user=tree.users["worker"])
    alone = lane.LaneApplication(not_django)
    # The first start of the process reads the quiz's audience and the bank once.
    assert post(alone, f"/api/quizzes/{q.pk}/attempts", first).status_code == 201
    # Tokens' first uses are written in batches, at most once a second (not measured here).
    monkeypatch.setattr(accounts_services, "TOKEN_USE_FLUSH_SECONDS", 60.0)
    monkeypatch.setattr(token_uses, "flushed_at", time.monotonic())
    before = timezone.now()
    with CaptureQueriesContext(connection) as captured:
        started = post(alone, f"/api/quizzes/{q.pk}/attempts", key)
    assert started.status_code == 201, started.content
    statements = [c["sql"].split()[0] for c in captured.captured_queries]
    assert statements == ["SELECT", "INSERT"], captured.captured_queries
    attempt = Attempt.objects.get(pk=started.json()["attempt_id"])
    assert (attempt.quiz_id, attempt.member_id, attempt.unit_id, attempt.number) == (
        q.pk,
        tree.cd_member.pk,
        tree.cd_member.unit_id,
        1,
    )
    assert attempt.status == AttemptStatus.IN_PROGRESS and attempt.answers == {}
    assert before <= attempt.started_at <= timezone.now()
    assert attempt.deadline == attempt.started_at + datetime.timedelta(seconds=q.time_limit_seconds)
    assert [x["text"] for x in started.json()["questions"]] == [x["text"] for x in attempt.snapshot]
    assert {x["id"] for x in attempt.snapshot} <= set(
        Question.objects.filter(org=tree.chengdu).values_list("pk", flat=True)
    )


def test_a_start_that_loses_the_race_resumes_the_winners_attempt(tree):
    """Two starts of one member at one moment both read "no attempt": the second to write
    finds its number taken, writes nothing and answers the first one's attempt (200)."""
    from gonghui.learning import services

    bank(tree)
    q = quiz(tree, count=5)
    key = issue_api_token(user=tree.users["worker"])
    _token, read = services.read_for_lane_start(key, q.pk)
    assert (read.attempts, read.in_progress) == (0, 0)
    winner = post(lane.LaneApplication(not_django), f"/api/quizzes/{q.pk}/attempts", key)
    assert winner.status_code == 201
    assert services.start_new_attempt(read, timezone.now()) is None  # the stale read
    assert Attempt.objects.filter(quiz=q).count() == 1
    again = post(lane.LaneApplication(not_django), f"/api/quizzes/{q.pk}/attempts", key)
    assert again.status_code == 200 and again.json() == winner.json()


def test_the_general_start_resumes_an_attempt_the_lane_wrote_meanwhile(tree, monkeypatch):
    """The lane's start takes no lock: should it write the member's next attempt between
    the general path's read and its write, the general path resumes that attempt instead
    of failing on the unique number."""
    from gonghui.learning import attempt_sql, services

    bank(tree)
    q = quiz(tree, count=5)
    member = services.member_of(tree.users["worker"])
    meanwhile: list[Attempt] = []
    drawn = services._new_attempt

    def lane_writes_first(*args: Any, **kwargs: Any) -> Attempt:
        other = drawn(*args, **kwargs)
        assert attempt_sql.insert_attempt(other)
        meanwhile.append(other)
        return drawn(*args, **kwargs)

    monkeypatch.setattr(services, "_new_attempt", lane_writes_first)
    resumed = services.start_attempt(tree.users["worker"], q)
    assert resumed.pk == meanwhile[0].pk and resumed.snapshot == meanwhile[0].snapshot
    assert list(Attempt.objects.filter(quiz=q, member=member).values_list("pk", flat=True)) == [
        resumed.pk
    ]


def test_the_lane_leaves_every_other_start_to_the_general_path(tree):
    """Refusals, a resume and a quiz outside the audience are not decided from the lane's
    read: they answer exactly as the full stack does (the first test), and write nothing."""
    from gonghui.learning import services
    from gonghui.orgs.scoping import SYSTEM

    bank(tree, n=5)
    bank(tree, n=5, org=tree.mianyang)
    small = quiz(tree, count=5, title="题库不够")
    draft = quiz(tree, publish=False, title="草稿")
    elsewhere = quiz(tree, org=tree.mianyang, title="绵阳的竞答")
    services.retire_question(SYSTEM, Question.objects.filter(org=tree.chengdu).first())
    key = issue_api_token(user=tree.users["worker"])
    now = timezone.now()
    for q in (small, draft, elsewhere):
        _token, read = services.read_for_lane_start(key, q.pk)
        assert services.start_new_attempt(read, now) is None
    _token, read = services.read_for_lane_start(key, 999_999)
    assert read.quiz is None and services.start_new_attempt(read, now) is None
    assert not Attempt.objects.exists()
    assert services.read_for_lane_start("no such token", small.pk) is None


def _crowd_lane(tree: Any) -> tuple[Quiz, str, Any]:
    """The quiz, the worker's bearer token and the lane of the concurrency tests below,
    which need PostgreSQL (SQLite serialises every writer)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises every writer")
    bank(tree)
    q = quiz(tree, count=5)
    return q, issue_api_token(user=tree.users["worker"]), lane.LaneApplication(not_django)


def _at_once(times: int, call: Any) -> list[Any]:
    """The answers of `call` made `times` at the same moment, each on its own
    connection; none may have raised."""
    answers = [r for rs in run_at_once([[call]] * times) for r in rs]
    assert not [a for a in answers if isinstance(a, Exception)], answers
    return answers


@pytest.mark.django_db(transaction=True)
def test_a_crowd_of_double_taps_writes_one_attempt_per_member(tree):
    """On PostgreSQL: eight starts of one member at the same moment through the lane
    answer one attempt, written once."""
    q, key, app = _crowd_lane(tree)
    url = f"/api/quizzes/{q.pk}/attempts"
    answers = _at_once(8, lambda: post(app, url, key))
    assert sorted(a.status_code for a in answers).count(201) == 1
    assert {a.status_code for a in answers} <= {200, 201}
    assert len({a.json()["attempt_id"] for a in answers}) == 1
    assert Attempt.objects.filter(quiz=q).count() == 1


def test_a_submit_in_the_lane_reads_its_token_with_the_locked_attempt(tree, monkeypatch):
    """A passed submit in the lane: one read (token, user, attempt, quiz, member; locked),
    then on PostgreSQL three writes — the attempt, the result, the points."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    bank(tree)
    q = quiz(tree, count=5)
    key = issue_api_token(user=tree.users["worker"])
    alone = lane.LaneApplication(not_django)
    attempt_id = post(alone, f"/api/quizzes/{q.pk}/attempts", key).json()["attempt_id"]
    monkeypatch.setattr(accounts_services, "TOKEN_USE_FLUSH_SECONDS", 60.0)
    monkeypatch.setattr(token_uses, "flushed_at", time.monotonic())
    body = {"answers": right_answers(attempt_id)}
    with CaptureQueriesContext(connection) as captured:
        answer = post(alone, f"/api/quizzes/attempts/{attempt_id}/submit", key, body)
    assert answer.status_code == 200 and answer.json()["passed"] is True
    # The submit's own transaction (a savepoint in the test's) aside.
    sql = [
        c["sql"]
        for c in captured.captured_queries
        if not c["sql"].startswith(("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE SAVEPOINT"))
    ]
    assert sql[0].lstrip().startswith("SELECT") and "accounts_apitoken" in sql[0]
    assert "learning_attempt" in sql[0]
    assert not any("accounts_apitoken" in s for s in sql[1:])  # the token: read once
    if connection.vendor == "postgresql":
        assert "FOR UPDATE OF a" in sql[0]
        assert len(sql) == 4, sql
    stored = Attempt.objects.get(pk=attempt_id)
    assert (stored.status, stored.score, stored.passed) == (AttemptStatus.SUBMITTED, 100, True)


def test_the_lane_refuses_a_submit_as_the_full_stack_does(tree, settings):
    """Another member's attempt (404), an answer to a question not in the attempt and an
    answer not among the options (422): the lane's answers equal the full stack's, byte
    for byte, and nothing is scored."""
    bank(tree)
    q = quiz(tree, count=5)
    key, other = issue_api_token(user=tree.users["worker"]), _second_worker(tree)
    alone = lane.LaneApplication(not_django)
    full = lane.LaneApplication(django_application)
    attempt_id = post(alone, f"/api/quizzes/{q.pk}/attempts", key).json()["attempt_id"]
    url = f"/api/quizzes/attempts/{attempt_id}/submit"
    cases = [
        (other, {"answers": {"0": [0]}}, 404),
        (key, {"answers": {"9": [0]}}, 422),
        (key, {"answers": {"0": [7]}}, 422),
    ]
    ours = [post(alone, url, k, body) for k, body, _status in cases]
    settings.GONGHUI_API_LANE = False
    theirs = [post(full, url, k, body) for k, body, _status in cases]
    for mine, stack, (_k, _body, status) in zip(ours, theirs, cases, strict=True):
        assert mine.status_code == stack.status_code == status
        assert mine.content == stack.content and mine.headers == stack.headers
    assert Attempt.objects.get(pk=attempt_id).status == AttemptStatus.IN_PROGRESS


def test_a_leaderboard_in_the_lane_answers_as_the_full_stack(tree, settings):
    """The leaderboard a contest's screens and phones watch: its 200 answers come from the
    lane alone, byte for byte the full stack's; refusals and odd queries go to Django."""
    from gonghui.learning import selectors, services
    from gonghui.learning.models import PointsRule
    from gonghui.stats import services as stats

    for member in (tree.cd_member, tree.cd_member2, tree.my_member):
        services.award_points(member, PointsRule.QUIZ, "quiz:1")
    stats.fold_pending()
    cadre = issue_api_token(user=tree.users["province_admin"])
    city = issue_api_token(user=tree.users["chengdu_admin"])
    worker = issue_api_token(user=tree.users["worker"])
    served = [
        (cadre, f"org_id={tree.province.pk}&kind=members"),
        (cadre, f"org_id={tree.province.pk}&kind=units"),
        (cadre, f"org_id={tree.chengdu.pk}&kind=members&limit=1"),
        (city, "kind=units"),
    ]
    handed_on = [
        (city, f"org_id={tree.mianyang.pk}"),  # not in scope: 404
        (worker, ""),  # no scope: 404
        (cadre, "kind=everyone"),  # ninja's 422
        (cadre, "limit=0"),
        (cadre, f"org_id={tree.province.pk}&org_id={tree.chengdu.pk}"),
    ]

    def get(app: Any, key: str, query: str) -> Any:
        url = f"/api/points/leaderboard?{query}"
        return call_wsgi(app, "GET", url, headers={"Authorization": f"Bearer {key}"})

    alone = lane.LaneApplication(not_django)
    full = lane.LaneApplication(django_application)
    ours = [get(alone, key, query) for key, query in served]
    selectors.forget_leaderboards()
    with pytest.raises(DjangoNotCalled):
        get(alone, *handed_on[0])
    mixed = [get(full, key, query) for key, query in handed_on]
    settings.GONGHUI_API_LANE = False
    selectors.forget_leaderboards()
    theirs = [get(full, key, query) for key, query in served]
    stack = [get(full, key, query) for key, query in handed_on]
    for mine, them in zip(ours + mixed, theirs + stack, strict=True):
        assert mine.status_code == them.status_code
        assert mine.content == them.content and mine.headers == them.headers
    assert [r.status_code for r in ours] == [200, 200, 200, 200]
    assert [r.status_code for r in mixed] == [404, 404, 422, 422, 200]
    assert [r["name"] for r in ours[0].json()["members"]] == ["张伟", "李娜", "刘芳"]


@pytest.mark.django_db(transaction=True)
def test_simultaneous_submits_in_the_lane_score_once(tree):
    """On PostgreSQL: six submits of one attempt at the same moment through the lane (a
    phone's retries) answer the same result, and the attempt is scored, ranked, awarded
    and counted once."""

    from gonghui.learning import figures
    from gonghui.learning.models import PointsEntry, QuizResult
    from gonghui.stats.models import FactDelta

    q, key, app = _crowd_lane(tree)
    attempt_id = post(app, f"/api/quizzes/{q.pk}/attempts", key).json()["attempt_id"]
    body = {"answers": right_answers(attempt_id)}
    url = f"/api/quizzes/attempts/{attempt_id}/submit"
    answers = _at_once(6, lambda: post(app, url, key, body))
    assert [a.status_code for a in answers] == [200] * 6
    assert len({a.content for a in answers}) == 1
    assert answers[0].json()["score"] == 100 and answers[0].json()["passed"] is True
    assert QuizResult.objects.filter(quiz=q).count() == 1
    assert PointsEntry.objects.filter(source=f"quiz:{q.pk}").count() == 1
    counted = FactDelta.objects.filter(metric__in=[figures.ATTEMPTS, figures.PASSED])
    assert sorted(counted.values_list("metric", "delta")) == sorted(
        [(figures.ATTEMPTS, 1), (figures.PASSED, 1)]
    )
