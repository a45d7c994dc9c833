"""The learning API (/api/courses/…, /api/quizzes/…, /api/points/…): a worker's phone
(courses and progress, taking a quiz, points) and a cadre's client (materials, courses,
the question bank, quizzes, rankings, leaderboards). Answers never leave the server
before scoring, a submission scores once, tampered answers are refused, everything
outside the caller's scope is a 404 (and nothing changes), and the quiz's hot paths cost
the services' queries plus the bearer token. Runs on SQLite and PostgreSQL.
"""

import datetime
import io
import json
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from openpyxl import Workbook

from conftest import PASSWORD
from gonghui.api.testing import BearerApi
from gonghui.audit.models import AuditEntry
from gonghui.learning import services
from gonghui.learning.models import (
    Attempt,
    AttemptStatus,
    Course,
    CourseCompletion,
    ItemProgress,
    Material,
    MaterialKind,
    PointsBalance,
    PointsEntry,
    PointsRule,
    PublishStatus,
    Question,
    QuestionKind,
    Quiz,
    QuizResult,
)
from gonghui.orgs.models import Member
from gonghui.orgs.scoping import SYSTEM
from gonghui.stats import services as stats

pytestmark = pytest.mark.django_db

MINUTE = datetime.timedelta(minutes=1)
SECRET = "秘密解析"  # every question's explanation: it must not leak before scoring


# A bearer-token client; `wsgi=True` calls the production WSGI application (the lane).
Api = BearerApi


@pytest.fixture
def as_user(tree):
    return lambda username: Api(tree.users[username])


@pytest.fixture(params=["test client", "wsgi"])
def as_phone(request, tree):
    """A contestant's phone: through Django's test client, and through the production WSGI
    application (the API's fast lane), which must answer alike."""
    return lambda username: Api(tree.users[username], wsgi=request.param == "wsgi")


@pytest.fixture(params=["test client", "wsgi"])
def through_wsgi(request) -> bool:
    return request.param == "wsgi"


def refused(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code
    assert body["message"]
    assert body["detail"][0]["code"] == code


def article(tree, title="学习二十届四中全会精神", org=None, publish=True):
    material = services.create_material(
        SYSTEM,
        org=org or tree.chengdu,
        data=services.MaterialInput(MaterialKind.ARTICLE, title, body="<p>正文</p>"),
    )
    return services.publish_material(SYSTEM, material) if publish else material


def video(tree, title="劳模讲堂", org=None):
    material = services.create_material(
        SYSTEM,
        org=org or tree.chengdu,
        data=services.MaterialInput(
            MaterialKind.VIDEO, title, video_url="https://video.example.cn/1"
        ),
    )
    return services.publish_material(SYSTEM, material)


def course(tree, *items, org=None, title="全会精神学习", **extra):
    created = services.create_course(
        SYSTEM,
        org=org or tree.chengdu,
        data=services.CourseInput(title, items=list(items), **extra),
    )
    return services.publish_course(SYSTEM, created)


def bank(tree, n=6, org=None):
    for i in range(n):
        services.add_question(
            SYSTEM,
            org=org or tree.chengdu,
            data=services.QuestionInput(
                QuestionKind.SINGLE,
                f"第{i}题：工会会员的权利是什么{i}？",
                options=["正确答案", "错误一", "错误二", "错误三"],
                answer=[0],
                explanation=SECRET,
                tags=["工会法"],
            ),
        )


def quiz(tree, count=5, org=None, publish=True, title="工会知识竞答", **extra):
    now = timezone.now()
    extra.setdefault("opens_at", now - MINUTE)
    extra.setdefault("closes_at", now + datetime.timedelta(days=1))
    created = services.create_quiz(
        SYSTEM,
        org=org or tree.chengdu,
        data=services.QuizInput(title, rules=[services.DrawRule(count, tag="工会法")], **extra),
    )
    return services.publish_quiz(SYSTEM, created) if publish else created


def right_answers(attempt_id: int) -> dict[str, list[int]]:
    attempt = Attempt.objects.get(pk=attempt_id)
    return {str(n): q["answer"] for n, q in enumerate(attempt.snapshot)}


def wrong_answers(attempt_id: int) -> dict[str, list[int]]:
    return {k: [(v[0] + 1) % 4] for k, v in right_answers(attempt_id).items()}


def state() -> list[Any]:
    """Everything a refused request might have changed."""
    return [
        list(Material.objects.order_by("pk").values()),
        list(Course.objects.order_by("pk").values()),
        list(ItemProgress.objects.order_by("pk").values()),
        list(Question.objects.order_by("pk").values()),
        list(Quiz.objects.order_by("pk").values()),
        list(Attempt.objects.order_by("pk").values()),
        list(QuizResult.objects.order_by("pk").values()),
        list(PointsEntry.objects.order_by("pk").values()),
        AuditEntry.objects.count(),
    ]


# --- a worker takes a quiz -----------------------------------------------------------------


def test_worker_takes_a_quiz_with_a_bearer_token(tree, client, through_wsgi):
    bank(tree)
    q = quiz(tree, count=5, pass_mark=60)
    obtained = client.post(
        "/api/auth/token",
        {"username": "worker", "password": PASSWORD, "label": "手机"},
        content_type="application/json",
    )
    assert obtained.status_code == 200
    worker = Api(token=obtained.json()["token"], wsgi=through_wsgi)

    listed = worker.get("/api/quizzes/for-me").json()
    assert listed["count"] == 1
    assert listed["items"][0]["id"] == q.pk
    assert listed["items"][0]["question_count"] == 5
    assert listed["items"][0]["me"] == {
        "attempts": 0,
        "attempts_left": 1,
        "best": None,
        "passed": False,
        "open_attempt_id": None,
    }
    detail = worker.get(f"/api/quizzes/{q.pk}")
    assert detail.status_code == 200
    assert detail.json()["may_manage"] is False

    started = worker.post(f"/api/quizzes/{q.pk}/attempts")
    assert started.status_code == 201, started.content
    body = started.json()
    assert set(body) == {"attempt_id", "number", "deadline", "questions"}
    assert body["number"] == 1
    assert [set(s) for s in body["questions"]] == [{"position", "kind", "text", "options"}] * 5
    assert [s["position"] for s in body["questions"]] == [0, 1, 2, 3, 4]
    attempt_id = body["attempt_id"]
    attempt = Attempt.objects.get(pk=attempt_id)
    assert attempt.member == tree.cd_member
    # The options are shown in the attempt's own (shuffled) order.
    assert [s["options"] for s in body["questions"]] == [q["options"] for q in attempt.snapshot]

    # Resuming (the phone was closed): the same attempt, 200.
    resumed = worker.post(f"/api/quizzes/{q.pk}/attempts")
    assert resumed.status_code == 200
    assert resumed.json() == body
    assert worker.get("/api/quizzes/for-me").json()["items"][0]["me"]["open_attempt_id"] == (
        attempt_id
    )

    answers = right_answers(attempt_id)
    answers["0"] = [(answers["0"][0] + 1) % 4]  # one wrong
    saved = worker.put(
        f"/api/quizzes/attempts/{attempt_id}/answers", {"answers": {"0": answers["0"]}}
    )
    assert saved.status_code == 200, saved.content
    assert saved.json()["given"] == {"0": answers["0"]}
    assert saved.json()["answered"] == 1
    in_progress = worker.get(f"/api/quizzes/attempts/{attempt_id}").json()
    assert in_progress["status"] == "in_progress"
    assert in_progress["score"] is None
    assert in_progress["questions"][0]["given"] == answers["0"]
    assert all(x["answer"] is None and x["right"] is None for x in in_progress["questions"])

    submitted = worker.post(f"/api/quizzes/attempts/{attempt_id}/submit", {"answers": answers})
    assert submitted.status_code == 200, submitted.content
    assert submitted.json() == {
        "attempt_id": attempt_id,
        "status": "submitted",
        "correct": 4,
        "total": 5,
        "score": 80,
        "passed": True,
    }
    mine = worker.get("/api/points/me").json()
    assert mine["points"] == 10
    assert mine["rank"] == 1
    assert mine["member_id"] == tree.cd_member.pk
    assert [(e["rule"], e["source"], e["points"]) for e in mine["history"]] == [
        ("quiz", f"quiz:{q.pk}", 10)
    ]
    # The quiz has not closed: the score, but not the answers.
    result = worker.get(f"/api/quizzes/attempts/{attempt_id}").json()
    assert (result["status"], result["correct"], result["score"]) == ("submitted", 4, 80)
    assert result["answers_shown"] is False
    assert all(x["answer"] is None and x["explanation"] is None for x in result["questions"])
    assert all(x["right"] is None for x in result["questions"])
    assert SECRET not in json.dumps(result, ensure_ascii=False)
    refused(worker.post(f"/api/quizzes/{q.pk}/attempts"), 409, "no_attempts_left")
    # After it closes, the answers and explanations are shown.
    Quiz.objects.filter(pk=q.pk).update(closes_at=timezone.now() - MINUTE)
    after = worker.get(f"/api/quizzes/attempts/{attempt_id}").json()
    assert after["answers_shown"] is True
    assert [x["right"] for x in after["questions"]] == [False, True, True, True, True]
    assert [x["answer"] for x in after["questions"]] == [
        q["answer"] for q in Attempt.objects.get(pk=attempt_id).snapshot
    ]
    assert {x["explanation"] for x in after["questions"]} == {SECRET}


def test_answers_never_leave_the_server_before_scoring(tree, as_user):
    bank(tree)
    q = quiz(tree, count=5)
    worker = as_user("worker")
    started = worker.post(f"/api/quizzes/{q.pk}/attempts")
    attempt_id = started.json()["attempt_id"]
    saved = worker.put(
        f"/api/quizzes/attempts/{attempt_id}/answers", {"answers": {"1": [2], "2": 3}}
    )
    shown = worker.get(f"/api/quizzes/attempts/{attempt_id}")
    for response in (started, worker.post(f"/api/quizzes/{q.pk}/attempts"), saved, shown):
        assert response.status_code in (200, 201)
        assert SECRET not in response.content.decode()
        assert not leaked(response.json())


def leaked(value: Any) -> list[str]:
    """Keys that would give away the answers or the bank: non-empty answer, explanation or
    correctness, question ids and versions."""
    found = []
    if isinstance(value, dict):
        for key, inner in value.items():
            if key in ("answer", "explanation", "right") and inner is not None:
                found.append(key)
            if key in ("id", "version"):
                found.append(key)
            found += leaked(inner)
    elif isinstance(value, list):
        for inner in value:
            found += leaked(inner)
    return found


def test_a_second_submission_returns_the_first_result(tree, as_phone):
    bank(tree)
    q = quiz(tree, count=5)
    worker = as_phone("worker")
    attempt_id = worker.post(f"/api/quizzes/{q.pk}/attempts").json()["attempt_id"]
    first = worker.post(
        f"/api/quizzes/attempts/{attempt_id}/submit", {"answers": wrong_answers(attempt_id)}
    )
    assert first.status_code == 200
    assert first.json()["score"] == 0 and first.json()["passed"] is False
    before = state()
    again = worker.post(
        f"/api/quizzes/attempts/{attempt_id}/submit", {"answers": right_answers(attempt_id)}
    )
    assert again.status_code == 200
    assert again.json() == first.json()
    assert state() == before
    assert QuizResult.objects.get().score == 0
    assert not PointsEntry.objects.exists()
    # Saving answers to a scored attempt is refused.
    refused(
        worker.put(f"/api/quizzes/attempts/{attempt_id}/answers", {"answers": {"0": [0]}}),
        409,
        "submitted",
    )


@pytest.mark.parametrize(
    ("answers", "code"),
    [
        ({"5": [0]}, "unknown_question"),  # positions are 0..4
        ({"99": [0]}, "unknown_question"),
        ({"-1": [0]}, "unknown_question"),
        ({"abc": [0]}, "unknown_question"),
        ({"0": [4]}, "bad_answer"),  # four options: 0..3
        ({"0": [-1]}, "bad_answer"),
        ({"0": "正确答案"}, "bad_answer"),
        ({"0": [0], "7": [1]}, "unknown_question"),  # nothing of it is saved
    ],
)
def test_tampered_answers_are_refused(tree, as_phone, answers, code):
    bank(tree)
    q = quiz(tree, count=5)
    worker = as_phone("worker")
    attempt_id = worker.post(f"/api/quizzes/{q.pk}/attempts").json()["attempt_id"]
    before = state()
    refused(
        worker.put(f"/api/quizzes/attempts/{attempt_id}/answers", {"answers": answers}), 422, code
    )
    refused(
        worker.post(f"/api/quizzes/attempts/{attempt_id}/submit", {"answers": answers}), 422, code
    )
    assert state() == before
    assert Attempt.objects.get(pk=attempt_id).status == AttemptStatus.IN_PROGRESS


def test_a_late_attempt_is_scored_with_what_was_saved(tree, as_phone):
    bank(tree)
    q = quiz(tree, count=5, time_limit_seconds=60)
    worker = as_phone("worker")
    attempt_id = worker.post(f"/api/quizzes/{q.pk}/attempts").json()["attempt_id"]
    right = right_answers(attempt_id)
    worker.put(f"/api/quizzes/attempts/{attempt_id}/answers", {"answers": {"0": right["0"]}})
    Attempt.objects.filter(pk=attempt_id).update(
        started_at=timezone.now() - 10 * MINUTE, deadline=timezone.now() - 5 * MINUTE
    )
    refused(
        worker.put(f"/api/quizzes/attempts/{attempt_id}/answers", {"answers": right}),
        409,
        "timed_out",
    )
    late = worker.post(f"/api/quizzes/attempts/{attempt_id}/submit", {"answers": right})
    assert late.status_code == 200
    assert late.json()["status"] == "timed_out"
    assert late.json()["correct"] == 1  # only what was saved in time


def test_an_abandoned_attempt_is_scored_when_read(tree, as_phone):
    bank(tree)
    q = quiz(tree, count=5, time_limit_seconds=60)
    worker = as_phone("worker")
    attempt_id = worker.post(f"/api/quizzes/{q.pk}/attempts").json()["attempt_id"]
    Attempt.objects.filter(pk=attempt_id).update(deadline=timezone.now() - 5 * MINUTE)
    shown = worker.get(f"/api/quizzes/attempts/{attempt_id}").json()
    assert (shown["status"], shown["score"]) == ("timed_out", 0)


def test_quiz_refusals(tree, as_phone):
    bank(tree)
    worker = as_phone("worker")
    now = timezone.now()
    later = quiz(tree, opens_at=now + datetime.timedelta(hours=1), title="明天的竞答")
    refused(worker.post(f"/api/quizzes/{later.pk}/attempts"), 422, "not_open_yet")
    closed = quiz(tree, title="已结束的竞答")
    Quiz.objects.filter(pk=closed.pk).update(closes_at=now - MINUTE)
    refused(worker.post(f"/api/quizzes/{closed.pk}/attempts"), 422, "closed")
    withdrawn = quiz(tree, title="撤回的竞答")
    Quiz.objects.filter(pk=withdrawn.pk).update(status=PublishStatus.WITHDRAWN)
    refused(worker.post(f"/api/quizzes/{withdrawn.pk}/attempts"), 409, "not_published")
    # A draft is not for workers at all.
    draft = quiz(tree, publish=False, title="草稿")
    assert worker.post(f"/api/quizzes/{draft.pk}/attempts").status_code == 404
    assert worker.get(f"/api/quizzes/{draft.pk}").status_code == 404
    # A cadre in scope without a member record; then with one outside the audience.
    admin = as_phone("chengdu_admin")
    open_quiz = quiz(tree, title="开放的竞答")
    refused(admin.post(f"/api/quizzes/{open_quiz.pk}/attempts"), 422, "no_member")
    Member.objects.filter(pk=tree.cd_member2.pk).update(user=tree.users["chengdu_admin"])
    teams = quiz(tree, title="班组竞答", audience_kinds=["team"])
    refused(admin.post(f"/api/quizzes/{teams.pk}/attempts"), 422, "not_in_audience")
    # The worker outside the audience does not learn that it exists.
    assert worker.post(f"/api/quizzes/{teams.pk}/attempts").status_code == 404
    assert worker.get(f"/api/quizzes/{teams.pk}").status_code == 404
    assert not Attempt.objects.exists()
    assert worker.post("/api/quizzes/999999/attempts").status_code == 404


def test_the_quizs_hot_paths_cost_only_the_services_queries(tree, as_user):
    bank(tree, n=25)
    q = quiz(tree, count=20, attempts_allowed=3)
    worker = as_user("worker")
    user = tree.users["worker"]
    assert worker.get("/api/quizzes/for-me").status_code == 200  # the token's first use

    def queries(call) -> int:
        with CaptureQueriesContext(connection) as captured:
            call()
        return len(captured.captured_queries)

    fetched = Quiz.objects.select_related("org").get(pk=q.pk)
    service_start = queries(lambda: services.start_attempt(user, fetched))
    first = Attempt.objects.get()
    service_save = queries(lambda: services.save_answers(user, first, {"0": [1]}))
    wrong = wrong_answers(first.pk)
    service_submit = queries(lambda: services.submit_attempt(user, first, wrong))

    captured: dict[str, Any] = {}
    api_start = queries(
        lambda: captured.update(r=worker.post(f"/api/quizzes/{q.pk}/attempts").json())
    )
    second = captured["r"]["attempt_id"]
    api_save = queries(
        lambda: worker.put(f"/api/quizzes/attempts/{second}/answers", {"answers": {"0": [1]}})
    )
    wrong = wrong_answers(second)
    api_submit = queries(
        lambda: worker.post(f"/api/quizzes/attempts/{second}/submit", {"answers": wrong})
    )
    assert Attempt.objects.get(pk=second).status == AttemptStatus.SUBMITTED
    assert api_start == service_start + 2  # + bearer token, quiz
    assert api_save == service_save + 1  # + bearer token
    assert api_submit == service_submit + 1  # + bearer token
    print(f"queries: start {api_start}, answers {api_save}, submit {api_submit}")


# --- a worker studies a course -----------------------------------------------------------


def test_worker_studies_a_course(tree, as_user):
    text = article(tree)
    clip = video(tree)
    c = course(
        tree,
        services.CourseItemInput(text, min_seconds=60),
        services.CourseItemInput(clip, confirm_watched=True),
    )
    first, second = list(c.items.order_by("position"))
    worker = as_user("worker")
    listed = worker.get("/api/courses/for-me").json()
    assert listed["count"] == 1
    assert listed["items"][0]["me"] == {"items": 2, "done": 0, "percent": 0, "completed": False}
    detail = worker.get(f"/api/courses/{c.pk}").json()
    assert [i["material"]["title"] for i in detail["items"]] == [
        "学习二十届四中全会精神",
        "劳模讲堂",
    ]
    assert detail["items"][0]["material"]["body"] == "<p>正文</p>"
    assert detail["items"][0]["me"] is None

    url = f"/api/courses/{c.pk}/items"
    refused(worker.post(f"{url}/{first.pk}/complete"), 422, "not_opened")
    opened = worker.post(f"{url}/{first.pk}/open")
    assert opened.status_code == 200, opened.content
    assert opened.json()["completed_at"] is None
    refused(worker.post(f"{url}/{first.pk}/complete"), 422, "too_soon")
    ItemProgress.objects.filter(item=first).update(
        opened_at=timezone.now() - datetime.timedelta(seconds=90)
    )
    done = worker.post(f"{url}/{first.pk}/complete")
    assert done.status_code == 200
    assert done.json()["seconds"] >= 60
    assert done.json()["course_completed"] is False
    assert worker.post(f"{url}/{second.pk}/open").status_code == 200
    refused(worker.post(f"{url}/{second.pk}/complete", {"watched": False}), 422, "not_watched")
    finished = worker.post(f"{url}/{second.pk}/complete", {"watched": True})
    assert finished.json()["course_completed"] is True
    again = worker.post(f"{url}/{second.pk}/complete", {"watched": True})
    assert again.status_code == 200
    assert CourseCompletion.objects.filter(course=c).count() == 1
    me = worker.get(f"/api/courses/{c.pk}").json()["me"]
    assert me == {"items": 2, "done": 2, "percent": 100, "completed": True}
    assert PointsBalance.objects.get(member=tree.cd_member).points == 1 + 1 + 5
    # An item of another course is not found through this one.
    other = course(tree, services.CourseItemInput(article(tree, "另一篇")), title="另一门课")
    assert worker.post(f"{url}/{other.items.get().pk}/open").status_code == 404


def test_course_refusals_and_visibility(tree, as_user):
    c = course(tree, services.CourseItemInput(article(tree)))
    item = c.items.get()
    admin = as_user("chengdu_admin")
    # A cadre in scope sees it, but has no member record to study with.
    assert admin.get(f"/api/courses/{c.pk}").json()["may_manage"] is True
    assert admin.get(f"/api/courses/{c.pk}").json()["me"] is None
    refused(admin.post(f"/api/courses/{c.pk}/items/{item.pk}/open"), 422, "no_member")
    Course.objects.filter(pk=c.pk).update(status=PublishStatus.WITHDRAWN)
    worker = as_user("worker")
    refused(worker.post(f"/api/courses/{c.pk}/items/{item.pk}/open"), 409, "not_published")
    draft = services.create_course(
        SYSTEM,
        org=tree.chengdu,
        data=services.CourseInput("草稿", items=[services.CourseItemInput(article(tree, "x"))]),
    )
    assert worker.get(f"/api/courses/{draft.pk}").status_code == 404
    assert worker.get("/api/courses/for-me").json()["count"] == 0
    # 绵阳's worker: not in the audience, so not found.
    Member.objects.filter(pk=tree.my_member.pk).update(user=tree.users["nobody"])
    c2 = course(tree, services.CourseItemInput(article(tree, "第二篇")), title="第二门课")
    stranger = as_user("nobody")
    assert stranger.get(f"/api/courses/{c2.pk}").status_code == 404
    assert stranger.post(f"/api/courses/{c2.pk}/items/{c2.items.get().pk}/open").status_code == (
        404
    )
    assert not ItemProgress.objects.exists()


# --- a cadre's client ----------------------------------------------------------------------


def test_cadre_publishes_materials_and_courses(tree, as_user):
    admin = as_user("chengdu_admin")
    created = admin.post(
        "/api/courses/materials",
        {
            "org_id": tree.chengdu.pk,
            "kind": "article",
            "title": " 学习  工会法 ",
            "body": "<p>正文<script>alert(1)</script></p>",
            "tags": ["工会法"],
        },
    )
    assert created.status_code == 201, created.content
    material = created.json()
    assert material["title"] == "学习 工会法"
    assert "<script>" not in material["body"]
    assert material["status"] == "draft"
    clip = admin.post(
        "/api/courses/materials",
        {
            "org_id": tree.chengdu.pk,
            "kind": "video",
            "title": "视频",
            "video_url": "https://v.example.cn/2",
        },
    ).json()
    bad = admin.post(
        "/api/courses/materials",
        {"org_id": tree.chengdu.pk, "kind": "video", "title": "坏链接", "video_url": "ftp://x"},
    )
    assert bad.status_code == 422 and bad.json()["code"] == "video_url"
    listed = admin.get("/api/courses/materials", {"org_id": tree.chengdu.pk}).json()
    assert {m["id"] for m in listed["items"]} == {material["id"], clip["id"]}
    body = {
        "org_id": tree.chengdu.pk,
        "title": "工会法学习",
        "items": [
            {"material_id": material["id"], "min_seconds": 30},
            {"material_id": clip["id"], "confirm_watched": True},
        ],
    }
    made = admin.post("/api/courses", body)
    assert made.status_code == 201, made.content
    course_id = made.json()["id"]
    assert [i["min_seconds"] for i in made.json()["items"]] == [30, 0]
    assert made.json()["item_count"] == 2
    refused_publish = admin.post(f"/api/courses/{course_id}/publish")
    assert refused_publish.status_code == 422
    assert refused_publish.json()["code"] == "materials_unpublished"
    for m in (material, clip):
        published = admin.post(f"/api/courses/materials/{m['id']}/publish")
        assert published.json()["status"] == "published"
    assert admin.post(f"/api/courses/{course_id}/publish").json()["status"] == "published"
    courses = admin.get("/api/courses", {"org_id": tree.chengdu.pk}).json()
    assert [(c["id"], c["item_count"]) for c in courses["items"]] == [(course_id, 2)]
    # A viewer sees, but may not publish (403); 绵阳's materials are not found (404).
    viewer = as_user("chengdu_viewer")
    assert viewer.get(f"/api/courses/{course_id}").status_code == 200
    assert viewer.post("/api/courses", body).status_code == 403
    theirs = article(tree, "绵阳的材料", org=tree.mianyang)
    body["items"] = [{"material_id": theirs.pk}]
    assert admin.post("/api/courses", body).status_code == 404
    # A province material may be used by the city below it.
    provincial = article(tree, "省总的材料", org=tree.province)
    body["items"] = [{"material_id": provincial.pk}]
    assert admin.post("/api/courses", body).status_code == 201


def test_cadre_keeps_the_question_bank(tree, as_user):
    admin = as_user("chengdu_admin")
    created = admin.post(
        "/api/quizzes/questions",
        {
            "org_id": tree.chengdu.pk,
            "kind": "single",
            "text": "工会法是哪年颁布的？",
            "options": ["1992", "2001", "2021"],
            "answer": [0],
            "explanation": "1992年",
            "tags": ["工会法"],
        },
    )
    assert created.status_code == 201, created.content
    question = created.json()
    assert question["answer"] == [0] and question["version"] == 1
    duplicate = admin.post(
        "/api/quizzes/questions",
        {
            "org_id": tree.chengdu.pk,
            "kind": "single",
            "text": "工会法 是哪年颁布的",
            "options": ["a", "b"],
            "answer": [0],
        },
    )
    assert duplicate.status_code == 422 and duplicate.json()["code"] == "duplicate"
    not_option = admin.post(
        "/api/quizzes/questions",
        {"org_id": tree.chengdu.pk, "kind": "single", "text": "y", "options": ["a", "b"]},
    )
    assert not_option.json()["code"] == "answer_missing"
    admin.post(
        "/api/quizzes/questions",
        {
            "org_id": tree.chengdu.pk,
            "kind": "truefalse",
            "text": "会员有权参加工会活动。",
            "answer": [0],
            "tags": ["章程"],
        },
    )
    listed = admin.get("/api/quizzes/questions", {"org_id": tree.chengdu.pk}).json()
    assert listed["count"] == 2
    assert [
        x["text"] for x in admin.get("/api/quizzes/questions", {"tag": "章程"}).json()["items"]
    ] == ["会员有权参加工会活动。"]
    assert admin.get("/api/quizzes/questions", {"kind": "single"}).json()["count"] == 1
    assert admin.get("/api/quizzes/questions", {"q": "颁布"}).json()["count"] == 1

    url = f"/api/quizzes/questions/{question['id']}"
    change = {
        "kind": "single",
        "text": "《工会法》是哪年颁布的？",
        "options": ["1992", "2001"],
        "answer": [0],
        "version": 1,
    }
    changed = admin.put(url, change)
    assert changed.status_code == 200, changed.content
    assert changed.json()["version"] == 2
    stale = admin.put(url, change)  # version 1 again
    assert stale.status_code == 409
    assert stale.json()["code"] == "stale"
    retired = admin.delete(url)
    assert retired.status_code == 200
    assert retired.json()["active"] is False
    assert admin.get("/api/quizzes/questions", {"active": "false"}).json()["count"] == 1
    # The bank holds answers: a viewer does not see it, 绵阳's cadre neither.
    assert as_user("chengdu_viewer").get(url).status_code == 404
    assert as_user("chengdu_viewer").get("/api/quizzes/questions").json()["count"] == 0
    assert as_user("mianyang_admin").put(url, {**change, "version": 3}).status_code == 404


def _sheet(rows: list[list[str]]) -> io.BytesIO:
    wb = Workbook()
    ws = wb.active
    ws.append(["题型", "题目", "选项A", "选项B", "选项C", "答案", "解析", "标签", "难度"])
    for row in rows:
        ws.append(row)
    buffer = io.BytesIO()
    wb.save(buffer)
    buffer.seek(0)
    buffer.name = "题库.xlsx"
    return buffer


def test_question_import_answers_every_wrong_row(tree, as_user):
    admin = as_user("chengdu_admin")
    bad = _sheet(
        [
            ["单选", "工会法是哪年颁布的？", "1992", "2001", "2021", "A", "", "工会法", "中"],
            ["单选", "缺答案的题", "甲", "乙", "", "", "", "", "易"],
            ["多选", "答案不在选项中", "甲", "乙", "", "AD", "", "", "难"],
        ]
    )
    response = admin.upload(
        "/api/quizzes/questions/import", {"org_id": tree.chengdu.pk, "file": bad}
    )
    assert response.status_code == 422, response.content
    body = response.json()
    assert body["code"] == "rows"
    assert [r["row"] for r in body["rows"]] == [3, 4]
    assert all(r["reasons"] for r in body["rows"])
    assert not Question.objects.exists()
    good = _sheet(
        [
            ["单选", "工会法是哪年颁布的？", "1992", "2001", "2021", "A", "", "工会法", "中"],
            ["判断", "会员有权参加工会活动。", "", "", "", "正确", "", "工会法", "易"],
        ]
    )
    response = admin.upload(
        "/api/quizzes/questions/import", {"org_id": tree.chengdu.pk, "file": good}
    )
    assert response.status_code == 201, response.content
    assert response.json() == {"imported": 2}
    junk = io.BytesIO(b"not a workbook")
    junk.name = "题库.xlsx"
    response = admin.upload(
        "/api/quizzes/questions/import", {"org_id": tree.chengdu.pk, "file": junk}
    )
    assert response.status_code == 422
    assert response.json()["code"] == "file"
    outside = admin.upload(
        "/api/quizzes/questions/import", {"org_id": tree.mianyang.pk, "file": _sheet([])}
    )
    assert outside.status_code == 404
    assert Question.objects.count() == 2


def test_cadre_creates_and_publishes_a_quiz(tree, as_user):
    bank(tree, n=4)
    admin = as_user("chengdu_admin")
    body = {
        "org_id": tree.chengdu.pk,
        "title": "工会法知识竞赛",
        "rules": [{"count": 3, "tag": "工会法"}],
        "opens_at": "2026-01-05T09:00:00",
        "closes_at": "2026-01-06T09:00:00+08:00",
        "is_contest": True,
    }
    created = admin.post("/api/quizzes", body)
    assert created.status_code == 201, created.content
    quiz_json = created.json()
    assert quiz_json["status"] == "draft"
    assert quiz_json["question_count"] == 3
    opens_at = datetime.datetime.fromisoformat(quiz_json["opens_at"].replace("Z", "+00:00"))
    assert opens_at == datetime.datetime.fromisoformat("2026-01-05T09:00:00+08:00")
    too_many = admin.post("/api/quizzes", {**body, "rules": [{"count": 9}]})
    assert too_many.status_code == 422 and too_many.json()["code"] == "bank_too_small"
    published = admin.post(f"/api/quizzes/{quiz_json['id']}/publish")
    assert published.json()["status"] == "published"
    listed = admin.get("/api/quizzes", {"org_id": tree.chengdu.pk}).json()
    assert [q["id"] for q in listed["items"]] == [quiz_json["id"]]
    assert as_user("chengdu_viewer").post("/api/quizzes", body).status_code == 403
    assert as_user("mianyang_admin").post("/api/quizzes", body).status_code == 404


# --- rankings and leaderboards ------------------------------------------------------------


def _take(user, q, right: bool) -> Attempt:
    attempt = services.start_attempt(user, q)
    answers = right_answers(attempt.pk) if right else wrong_answers(attempt.pk)
    return services.submit_attempt(user, attempt, answers)


def _link(tree, member, username):
    Member.objects.filter(pk=member.pk).update(user=tree.users[username])


def test_contest_rankings_are_scoped(tree, as_user):
    bank(tree, org=tree.province)
    q = quiz(tree, org=tree.province, is_contest=True)
    _link(tree, tree.my_member, "nobody")
    _take(tree.users["worker"], q, right=True)
    _take(tree.users["nobody"], q, right=False)
    province = as_user("province_admin")
    everyone = province.get(f"/api/quizzes/{q.pk}/ranking").json()
    assert [(r["rank"], r["name"], r["score"]) for r in everyone] == [
        (1, "张伟", 100),
        (2, "刘芳", 0),
    ]
    units = province.get(f"/api/quizzes/{q.pk}/ranking/units").json()
    assert [(u["org"]["name"], u["participants"], u["average"]) for u in units] == [
        ("成都市总工会", 1, 100.0),
        ("绵阳市总工会", 1, 0.0),
    ]
    # 成都's cadre: the provincial contest within 成都 only; 绵阳 is not found.
    chengdu = as_user("chengdu_admin")
    assert chengdu.get(f"/api/quizzes/{q.pk}/ranking").status_code == 404
    mine = chengdu.get(f"/api/quizzes/{q.pk}/ranking", {"org_id": tree.chengdu.pk}).json()
    assert [r["name"] for r in mine] == ["张伟"]
    below = chengdu.get(f"/api/quizzes/{q.pk}/ranking/units", {"org_id": tree.chengdu.pk}).json()
    assert [u["org"]["name"] for u in below] == ["锦江区总工会"]
    for tail in ("ranking", "ranking/units"):
        response = chengdu.get(f"/api/quizzes/{q.pk}/{tail}", {"org_id": tree.mianyang.pk})
        assert response.status_code == 404


def test_leaderboards_are_scoped(tree, as_phone):
    as_user = as_phone  # through the full stack and through the production application
    for member in (tree.cd_member, tree.cd_member2, tree.my_member):
        services.award_points(member, PointsRule.QUIZ, "quiz:1")
    services.award_points(tree.cd_member, PointsRule.COURSE, "course:1")
    stats.fold_pending()
    chengdu = as_user("chengdu_admin")
    board = chengdu.get("/api/points/leaderboard").json()
    assert board["org"]["id"] == tree.chengdu.pk
    assert [(r["rank"], r["name"], r["points"]) for r in board["members"]] == [
        (1, "张伟", 15),
        (2, "李娜", 10),
    ]
    units = chengdu.get("/api/points/leaderboard", {"kind": "units"}).json()
    assert units["members"] == []
    assert [u["org"]["name"] for u in units["units"]] == ["锦江区总工会"]
    assert units["units"][0]["points"] == 25
    province = as_user("province_admin").get(
        "/api/points/leaderboard", {"kind": "units", "org_id": tree.province.pk}
    )
    assert {u["org"]["name"] for u in province.json()["units"]} == {"成都市总工会", "绵阳市总工会"}
    for kind in ("members", "units"):
        response = chengdu.get(
            "/api/points/leaderboard", {"org_id": tree.mianyang.pk, "kind": kind}
        )
        assert response.status_code == 404
    assert "刘芳" not in chengdu.get("/api/points/leaderboard").content.decode()
    # A worker has no scope to rank.
    assert as_user("worker").get("/api/points/leaderboard").status_code == 404
    mine = as_user("worker").get("/api/points/me").json()
    assert (mine["points"], mine["rank"], mine["unit_members"]) == (15, 1, 2)
    none = as_user("chengdu_admin").get("/api/points/me").json()
    assert none["member_id"] is None and none["history"] == []


# --- scoping: a 绵阳 cadre on 成都's objects ------------------------------------------------


def test_a_mianyang_cadre_gets_404_for_chengdu_objects(tree, as_user):
    bank(tree)
    q = quiz(tree)
    draft_material = article(tree, "草稿材料", publish=False)
    c = course(tree, services.CourseItemInput(article(tree)))
    item = c.items.get()
    question = Question.objects.filter(org=tree.chengdu).first()
    worker = as_user("worker")
    attempt_id = worker.post(f"/api/quizzes/{q.pk}/attempts").json()["attempt_id"]
    stranger = as_user("mianyang_admin")
    before = state()
    calls = [
        ("get", f"/api/courses/{c.pk}", None),
        ("post", f"/api/courses/{c.pk}/publish", None),
        ("post", f"/api/courses/{c.pk}/items/{item.pk}/open", None),
        ("post", f"/api/courses/{c.pk}/items/{item.pk}/complete", {"watched": True}),
        ("get", f"/api/courses/materials/{draft_material.pk}", None),
        ("post", f"/api/courses/materials/{draft_material.pk}/publish", None),
        ("get", f"/api/quizzes/{q.pk}", None),
        ("post", f"/api/quizzes/{q.pk}/publish", None),
        ("post", f"/api/quizzes/{q.pk}/attempts", None),
        ("get", f"/api/quizzes/{q.pk}/ranking", None),
        ("get", f"/api/quizzes/{q.pk}/ranking/units", None),
        ("get", f"/api/quizzes/attempts/{attempt_id}", None),
        ("put", f"/api/quizzes/attempts/{attempt_id}/answers", {"answers": {"0": [0]}}),
        ("post", f"/api/quizzes/attempts/{attempt_id}/submit", {"answers": {"0": [0]}}),
        ("get", f"/api/quizzes/questions/{question.pk}", None),
        (
            "put",
            f"/api/quizzes/questions/{question.pk}",
            {"kind": "fill", "text": "x", "version": 1},
        ),
        ("delete", f"/api/quizzes/questions/{question.pk}", None),
        ("get", "/api/courses", {"org_id": tree.chengdu.pk}),
        ("get", "/api/courses/materials", {"org_id": tree.chengdu.pk}),
        ("get", "/api/quizzes", {"org_id": tree.chengdu.pk}),
        ("get", "/api/quizzes/questions", {"org_id": tree.chengdu.pk}),
        ("get", "/api/points/leaderboard", {"org_id": tree.chengdu.pk}),
    ]
    for method, url, body in calls:
        if method == "get":
            response = stranger.get(url, body)
        elif method == "delete":
            response = stranger.delete(url)
        else:
            response = getattr(stranger, method)(url, body)
        assert response.status_code == 404, f"{method} {url}: {response.content[:200]}"
    assert state() == before
    # Lists without a union show none of 成都's.
    for url in ("/api/courses", "/api/courses/materials", "/api/quizzes", "/api/quizzes/questions"):
        assert stranger.get(url).json()["count"] == 0, url
    # Another user's attempt is not found either, even within 成都.
    assert as_user("chengdu_admin").get(f"/api/quizzes/attempts/{attempt_id}").status_code == 404


def test_openapi_schema_builds(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert set(paths["/api/quizzes/questions/{question_id}"]) == {"get", "put", "delete"}
    for path in (
        "/api/courses/for-me",
        "/api/courses/{course_id}/items/{item_id}/complete",
        "/api/quizzes/{quiz_id}/attempts",
        "/api/quizzes/attempts/{attempt_id}/answers",
        "/api/quizzes/attempts/{attempt_id}/submit",
        "/api/points/leaderboard",
    ):
        assert path in paths, path
    start = paths["/api/quizzes/{quiz_id}/attempts"]["post"]["responses"]
    assert {"200", "201", "409", "422"} <= set(start)
