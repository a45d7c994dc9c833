"""A contestant's start and submit in the API's fast lane (gonghui.api.lane): answered
without Django, byte for byte as the full stack answers (the quiz tests of test_api.py
also run through the production WSGI application: `as_phone`). Both databases."""

import json
from typing import Any

import pytest
from django.utils import timezone

from gonghui.accounts.services import issue_api_token
from gonghui.api import lane
from gonghui.api.testing import DjangoNotCalled, call_wsgi, not_django
from gonghui.learning.models import Attempt, AttemptStatus, Quiz
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
