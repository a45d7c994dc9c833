"""Study on a phone, counted up the tree: the province's notice asks for study; 成都市总工会
publishes a course linked to it and a quiz; a worker, on a phone, reads the course to the
end (the reading clock counts down first) and passes the quiz, answers saved as they go;
then the grassroots union's cadre sees the worker on the union's leaderboard, and the
notice's report comes pre-filled with the completed course."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from conftest import PASSWORD, build_tree
from gonghui.learning import services
from gonghui.learning.models import (
    Attempt,
    AttemptStatus,
    CourseCompletion,
    MaterialKind,
    QuestionKind,
)
from gonghui.notices import services as notices
from gonghui.notices.models import RequirementKind

SHOTS = "var/test/screenshots"
READING_SECONDS = 3


@pytest.fixture
def live_tree(transactional_db):
    return build_tree()


def sign_in(page, live_server, username: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("main button[type=submit]")


def fits(page) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, page.url


def publish_study(tree):
    """The province's notice with a study requirement; 成都's course and quiz for it."""
    province = tree.users["province_admin"]
    notice = notices.create_notice(
        actor=province,
        issuer=tree.province,
        title="关于组织职工学习工会法的通知",
        requires_ack=False,
        requirements=[notices.RequirementInput(RequirementKind.STUDY, "会员职工全员学习")],
    )
    notices.issue_notice(actor=province, notice=notice)
    requirement = notice.requirements.get()
    cadre = tree.users["chengdu_admin"]
    material = services.publish_material(
        cadre,
        services.create_material(
            cadre,
            org=tree.chengdu,
            data=services.MaterialInput(
                MaterialKind.ARTICLE,
                "学习贯彻工会法",
                body="<p>维护职工合法权益、竭诚服务职工群众是工会的基本职责。</p>",
            ),
        ),
    )
    course = services.publish_course(
        cadre,
        services.create_course(
            cadre,
            org=tree.chengdu,
            data=services.CourseInput(
                "工会法专题学习",
                items=[services.CourseItemInput(material, min_seconds=READING_SECONDS)],
                requirement_id=requirement.pk,
            ),
        ),
    )
    for n, text in enumerate(("工会的基本职责是什么？", "工会法是哪年颁布的？", "谁领导工会？")):
        services.add_question(
            cadre,
            org=tree.chengdu,
            data=services.QuestionInput(
                QuestionKind.SINGLE,
                text,
                options=["正确答案", f"干扰项甲{n}", f"干扰项乙{n}"],
                answer=[0],
                explanation="解析只在竞赛结束后显示",
                tags=["工会法"],
            ),
        )
    now = timezone.now()
    quiz = services.publish_quiz(
        cadre,
        services.create_quiz(
            cadre,
            org=tree.chengdu,
            data=services.QuizInput(
                "工会法知识竞答",
                rules=[services.DrawRule(3, tag="工会法")],
                opens_at=now - datetime.timedelta(minutes=5),
                closes_at=now + datetime.timedelta(days=7),
                is_contest=True,
                requirement_id=requirement.pk,
            ),
        ),
    )
    return notice, course, quiz


def test_a_worker_studies_and_passes_and_the_union_sees_it(phone, page, live_server, live_tree):
    tree = live_tree
    notice, course, quiz = publish_study(tree)
    assert notice.dispatches.filter(org=tree.cd_union).exists() and quiz.is_open

    # --- the worker, on a phone: the course ------------------------------------------------
    sign_in(phone, live_server, "worker")
    phone.goto(f"{live_server.url}/me/")
    phone.click("#my-learning")
    phone.wait_for_selector("#my-courses")
    assert "工会法专题学习" in phone.locator("#my-courses").inner_text()
    assert "工会法知识竞答" in phone.locator("#my-quizzes").inner_text()
    fits(phone)
    phone.screenshot(path=f"{SHOTS}/learning-mine-phone.png", full_page=True)
    phone.locator("#my-courses a.title", has_text="工会法专题学习").click()
    phone.click("#continue")
    phone.wait_for_selector("#material-body")
    assert "竭诚服务职工群众" in phone.locator("#material-body").inner_text()
    # The reading clock: "done" waits for it, then the server counts it.
    assert phone.locator("#reading-countdown .waiting").is_visible()
    # The page's script disables "done" once it runs, which may be after #material-body
    # is in the page: wait for it (it enables the button again only at the clock's end).
    phone.wait_for_selector("#done:disabled", timeout=READING_SECONDS * 1000)
    assert phone.locator("#done").is_disabled()
    fits(phone)
    phone.screenshot(path=f"{SHOTS}/learning-item-phone.png", full_page=True)
    phone.wait_for_selector("#done:enabled", timeout=(READING_SECONDS + 10) * 1000)
    assert phone.locator("#reading-countdown .ready").is_visible()
    phone.click("#done")
    phone.wait_for_selector("#course-completed")
    assert "工会法专题学习" in phone.locator(".messages").inner_text()
    assert CourseCompletion.objects.filter(course=course, member=tree.cd_member).exists()

    # --- the quiz: answers saved as the worker goes, scored on the server ------------------
    phone.goto(f"{live_server.url}/learning/mine/")
    phone.locator("#my-quizzes a.title", has_text="工会法知识竞答").click()
    phone.click("#start")
    phone.wait_for_selector("#answers")
    questions = phone.locator("fieldset.question")
    assert questions.count() == 3
    assert "解析只在竞赛结束后显示" not in phone.content()
    assert phone.locator("#countdown .clock").inner_text().startswith(("9:", "10:"))
    for i in range(questions.count()):
        questions.nth(i).locator("label.option", has_text="正确答案").click()
    phone.wait_for_selector("#save-state [data-saved='3']")
    attempt = Attempt.objects.get()
    assert len(attempt.answers) == 3 and attempt.status == AttemptStatus.IN_PROGRESS
    fits(phone)
    phone.screenshot(path=f"{SHOTS}/learning-quiz-phone.png", full_page=True)
    phone.click("#submit-attempt")
    phone.wait_for_selector("#attempt-result[data-passed='yes']")
    assert phone.locator("#score").inner_text() == "100"
    assert "解析只在竞赛结束后显示" not in phone.content()  # the contest is still open
    fits(phone)
    phone.screenshot(path=f"{SHOTS}/learning-result-phone.png", full_page=True)
    phone.goto(f"{live_server.url}/learning/points/")
    assert phone.locator("#balance").inner_text() == "16"  # reading 1, course 5, quiz 10

    # --- the grassroots union's cadre: the leaderboard, the notice's report ----------------
    sign_in(page, live_server, "cd_union_admin")
    page.goto(f"{live_server.url}/orgs/{tree.cd_union.pk}/")
    page.click("#org-learning")
    page.click("#tab-leaderboards")
    page.wait_for_selector("#members-board")
    row = page.locator(f"#members-board tr[data-member='{tree.cd_member.pk}']")
    assert "张伟" in row.inner_text() and "16" in row.inner_text()
    page.screenshot(path=f"{SHOTS}/learning-leaderboards.png", full_page=True)
    page.click("#nav-notices")
    page.locator("#inbox a.title", has_text="关于组织职工学习工会法的通知").click()
    page.wait_for_url("**/dispatches/*/")
    assert page.input_value("input[name='fig_learning.completions']") == "1"
    assert page.input_value("input[name='fig_learning.passed']") == "1"
    page.screenshot(path=f"{SHOTS}/learning-report-prefill.png", full_page=True)
