"""The learning pages as unions and workers use them: materials, courses and their progress,
the question bank (add, edit with a version, retire, import), quizzes and their rankings,
leaderboards; the worker's study page, course items with the reading clock, taking a quiz
on the phone; and every refusal: scope, audience, answers before scoring."""

from __future__ import annotations

import datetime
import io
import re
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext
from openpyxl import Workbook, load_workbook

from gonghui.audit.models import AuditEntry
from gonghui.learning import figures, services
from gonghui.learning.models import (
    Attempt,
    AttemptStatus,
    Course,
    CourseCompletion,
    ItemProgress,
    Material,
    MaterialKind,
    PointsEntry,
    PublishStatus,
    Question,
    QuestionKind,
    Quiz,
    QuizResult,
)
from gonghui.orgs.scoping import SYSTEM
from gonghui.stats import services as stats
from gonghui.stats.models import SubtreeCount

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4 study material\n"
EXPLANATION = "解析：工会法第六条规定了工会的基本职责"
FILL_ANSWER = "维护职工合法权益"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def text(response: Any) -> str:
    return response.content.decode()


def zh(message: str, **values: Any) -> str:
    """The message as the (Chinese by default) pages show it."""
    with translation.override("zh-hans"):
        shown = gettext(message)
    return shown % values if values else shown


def total(org: Any, metric: str) -> int:
    stats.fold_pending()
    row = SubtreeCount.objects.filter(org=org, metric=metric).first()
    return row.value if row else 0


def article(tree: Any, title: str = "学习贯彻全会精神", org: Any = None) -> Material:
    material = services.create_material(
        tree.users["chengdu_admin"],
        org=org or tree.chengdu,
        data=services.MaterialInput(MaterialKind.ARTICLE, title, body="<p>全会精神正文</p>"),
    )
    return services.publish_material(tree.users["chengdu_admin"], material)


def course(tree: Any, *items: Any, org: Any = None, **extra: Any) -> Course:
    created = services.create_course(
        tree.users["chengdu_admin"],
        org=org or tree.chengdu,
        data=services.CourseInput(extra.pop("title", "全会精神学习"), items=list(items), **extra),
    )
    return services.publish_course(tree.users["chengdu_admin"], created)


def bank(tree: Any, n: int = 4, org: Any = None) -> None:
    for i in range(n):
        services.add_question(
            SYSTEM,
            org=org or tree.chengdu,
            data=services.QuestionInput(
                QuestionKind.SINGLE,
                f"第{i}题：工会会员享有哪项权利{i}？",
                options=["正确答案", "错误一", "错误二"],
                answer=[0],
                explanation=EXPLANATION,
                tags=["工会法"],
            ),
        )
    services.add_question(
        SYSTEM,
        org=org or tree.chengdu,
        data=services.QuestionInput(
            QuestionKind.FILL,
            "工会的基本职责是____。",
            answer=[FILL_ANSWER],
            explanation=EXPLANATION,
            tags=["工会法"],
        ),
    )


def quiz(tree: Any, count: int = 5, org: Any = None, **extra: Any) -> Quiz:
    now = timezone.now()
    created = services.create_quiz(
        tree.users["chengdu_admin"],
        org=org or tree.chengdu,
        data=services.QuizInput(
            extra.pop("title", "工会知识竞答"),
            rules=[services.DrawRule(count, tag="工会法")],
            opens_at=now - datetime.timedelta(minutes=1),
            closes_at=extra.pop("closes_at", now + datetime.timedelta(days=1)),
            **extra,
        ),
    )
    return services.publish_quiz(tree.users["chengdu_admin"], created)


def right_form(attempt: Attempt) -> dict[str, Any]:
    """The quiz form filled in with the right answers (read from the snapshot: the test
    plays a worker who knows them)."""
    data: dict[str, Any] = {}
    for n, q in enumerate(attempt.snapshot):
        if q["kind"] == QuestionKind.FILL:
            data[f"a-{n}"] = q["answer"][0]
        else:
            data[f"a-{n}"] = [str(a) for a in q["answer"]]
    return data


def right_answers(attempt: Attempt) -> dict[str, Any]:
    return {
        str(n): q["answer"][0] if q["kind"] == QuestionKind.FILL else q["answer"]
        for n, q in enumerate(attempt.snapshot)
    }


def url(name: str, **kwargs: Any) -> str:
    return reverse(f"learning:{name}", kwargs=kwargs)


# --- materials --------------------------------------------------------------------------------


def test_a_cadre_writes_publishes_and_withdraws_an_article(tree):
    client = client_for(tree.users["chengdu_admin"])
    listing = client.get(url("materials", org_id=tree.chengdu.pk))
    assert listing.status_code == 200
    create = url("material_create", org_id=tree.chengdu.pk)
    page = client.get(create, {"kind": "article"})
    assert page.status_code == 200 and "trix-editor" in text(page)
    assert "vendor/trix/trix.umd.min.js" in text(page)
    # Served from the app: no script, style or link from elsewhere (a CDN). Not a search
    # for "cdn" in the page, which a random CSRF token can contain.
    addresses = re.findall(r'(?:src|href)="([^"]*)"', text(page))
    assert addresses and not [a for a in addresses if a.startswith(("http:", "https:", "//"))]
    # No text: refused on the form, the title kept.
    response = client.post(create, {"kind": "article", "title": "工会法学习", "body": ""})
    assert response.status_code == 200 and "工会法学习" in text(response)
    assert not Material.objects.exists()
    response = client.post(
        create,
        {
            "kind": "article",
            "title": "工会法学习",
            "body": "<p>工会是职工自愿结合的工人阶级群众组织。</p><script>x()</script>",
            "tags": "工会法，全会精神",
        },
    )
    material = Material.objects.get()
    assert response["Location"] == url("material", material_id=material.pk)
    assert material.tags == ["工会法", "全会精神"] and "<script>" not in material.body
    assert material.status == PublishStatus.DRAFT
    client.post(url("material_publish", material_id=material.pk))
    material.refresh_from_db()
    assert material.status == PublishStatus.PUBLISHED
    detail = text(client.get(url("material", material_id=material.pk)))
    assert "工人阶级群众组织" in detail and 'id="withdraw"' in detail
    client.post(url("material_withdraw", material_id=material.pk))
    material.refresh_from_db()
    assert material.status == PublishStatus.WITHDRAWN
    assert AuditEntry.objects.filter(summary__contains="工会法学习").count() == 3


def test_a_pdf_document_and_a_video_link(tree):
    client = client_for(tree.users["chengdu_admin"])
    create = url("material_create", org_id=tree.chengdu.pk)
    fake = SimpleUploadedFile("学习材料.pdf", b"not a pdf", content_type="application/pdf")
    response = client.post(create, {"kind": "document", "title": "学习材料", "file": fake})
    assert response.status_code == 200 and not Material.objects.exists()
    upload = SimpleUploadedFile("学习材料.pdf", PDF, content_type="application/pdf")
    client.post(create, {"kind": "document", "title": "学习材料", "file": upload})
    document = Material.objects.get(kind=MaterialKind.DOCUMENT)
    download = client.get(url("material_file", material_id=document.pk))
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == PDF
    response = client.post(
        create, {"kind": "video", "title": "劳模访谈", "video_url": "ftp://x/video"}
    )
    assert response.status_code == 200
    client.post(
        create,
        {"kind": "video", "title": "劳模访谈", "video_url": "https://video.example.cn/v/1"},
    )
    video = Material.objects.get(kind=MaterialKind.VIDEO)
    assert video.video_url == "https://video.example.cn/v/1"
    # The worker opens the PDF only once it is in a course for them.
    worker = client_for(tree.users["worker"])
    assert worker.get(url("material_file", material_id=document.pk)).status_code == 404
    services.publish_material(tree.users["chengdu_admin"], document)
    course(tree, services.CourseItemInput(document))
    assert worker.get(url("material_file", material_id=document.pk)).status_code == 200


# --- courses -----------------------------------------------------------------------------------


def test_a_cadre_makes_a_course_from_published_materials(tree):
    from gonghui.notices import services as notices
    from gonghui.notices.models import RequirementKind

    notice = notices.create_notice(
        actor=tree.users["province_admin"],
        issuer=tree.province,
        title="关于开展职工学习的通知",
        requires_ack=False,
        requirements=[notices.RequirementInput(RequirementKind.STUDY, "全员学习全会精神")],
    )
    notices.issue_notice(actor=tree.users["province_admin"], notice=notice)
    requirement = notice.requirements.get()
    first = article(tree, "全会精神解读")
    second = article(tree, "工会法要点")
    draft = services.create_material(
        tree.users["chengdu_admin"],
        org=tree.chengdu,
        data=services.MaterialInput(MaterialKind.ARTICLE, "未发布的草稿", body="<p>x</p>"),
    )
    client = client_for(tree.users["chengdu_admin"])
    create = url("course_create", org_id=tree.chengdu.pk)
    page = client.get(create, {"requirement": requirement.pk})
    assert page.status_code == 200
    assert page.context["form"].initial["requirement"] == requirement.pk
    body = text(page)
    assert "全会精神解读" in body and "未发布的草稿" not in body  # published ones only
    data = {
        "title": "学习全会精神专题课程",
        "description": "请于月底前完成。",
        "due": (timezone.localdate() + datetime.timedelta(days=20)).isoformat(),
        "requirement": requirement.pk,
        "item-TOTAL_FORMS": "3",
        "item-INITIAL_FORMS": "0",
        "item-0-material": first.pk,
        "item-0-min_seconds": "30",
        "item-1-material": second.pk,
        "item-1-min_seconds": "0",
        "item-2-material": "",
        "item-2-min_seconds": "60",
    }
    # A draft material is not among the choices: the form refuses it, nothing typed lost.
    response = client.post(create, {**data, "item-2-material": draft.pk})
    assert response.status_code == 200 and "学习全会精神专题课程" in text(response)
    assert not Course.objects.exists()
    response = client.post(create, data)
    created = Course.objects.get()
    assert response["Location"] == url("course", course_id=created.pk)
    assert [(i.material, i.min_seconds) for i in created.items.all()] == [
        (first, 30),
        (second, 0),
    ]
    assert created.requirement == requirement and created.status == PublishStatus.DRAFT
    client.post(url("course_publish", course_id=created.pk))
    created.refresh_from_db()
    assert created.status == PublishStatus.PUBLISHED
    # The cadre's course page: the audience's progress, filterable.
    services.open_item(tree.cd_member, created.items.get(material=second))
    services.complete_item(tree.cd_member, created.items.get(material=second))
    progress = client.get(url("course", course_id=created.pk))
    assert progress.context["counts"].audience == 3  # 成都's three members
    assert progress.context["counts"].completed == 0
    rows = {m.name: m.done for m in progress.context["progress"]}
    assert rows == {"张伟": 1, "李娜": None, "王强": None}
    assert "1 / 2" in text(progress)


def test_publishing_a_course_with_an_unpublished_material_is_refused(tree):
    draft = services.create_material(
        tree.users["chengdu_admin"],
        org=tree.chengdu,
        data=services.MaterialInput(MaterialKind.ARTICLE, "草稿材料", body="<p>x</p>"),
    )
    created = services.create_course(
        tree.users["chengdu_admin"],
        org=tree.chengdu,
        data=services.CourseInput("草稿课程", items=[services.CourseItemInput(draft)]),
    )
    client = client_for(tree.users["chengdu_admin"])
    response = client.post(url("course_publish", course_id=created.pk), follow=True)
    assert zh("Publish every material of the course first.") in text(response)
    created.refresh_from_db()
    assert created.status == PublishStatus.DRAFT


def test_a_worker_studies_a_course_item_by_item(tree):
    first = article(tree, "全会精神解读")
    second = article(tree, "工会法要点")
    c = course(
        tree,
        services.CourseItemInput(first, min_seconds=120),
        services.CourseItemInput(second),
        title="全会精神学习",
    )
    one, two = list(c.items.order_by("position"))
    worker = client_for(tree.users["worker"])
    mine = worker.get(url("mine"))
    assert mine.status_code == 200 and "全会精神学习" in text(mine)
    page = worker.get(url("course", course_id=c.pk))
    assert page.status_code == 200
    assert 'id="continue"' in text(page)
    # Opening the first item starts the reading clock; done too soon is refused.
    item_page = worker.get(url("item", course_id=c.pk, item_id=one.pk))
    assert item_page.status_code == 200
    body = text(item_page)
    assert "全会精神正文" in body and 'id="reading-countdown"' in body
    assert re.search(r'data-remaining="1[12]\d"', body)
    assert ItemProgress.objects.filter(item=one, member=tree.cd_member).exists()
    done = worker.post(url("item_done", course_id=c.pk, item_id=one.pk), follow=True)
    assert re.search(zh("Read for at least %(n)d seconds more.").split("%")[0], text(done))
    assert not ItemProgress.objects.get(item=one).completed_at
    # Two minutes later (the server's clock) it counts; the next item follows.
    ItemProgress.objects.filter(item=one).update(
        opened_at=timezone.now() - datetime.timedelta(seconds=121)
    )
    response = worker.post(url("item_done", course_id=c.pk, item_id=one.pk))
    assert response["Location"] == url("item", course_id=c.pk, item_id=two.pk)
    worker.get(url("item", course_id=c.pk, item_id=two.pk))
    response = worker.post(url("item_done", course_id=c.pk, item_id=two.pk))
    assert response["Location"] == url("course", course_id=c.pk) + "?as=member"
    assert CourseCompletion.objects.filter(course=c, member=tree.cd_member).count() == 1
    page = text(worker.get(response["Location"]))
    assert 'id="course-completed"' in page
    assert total(tree.chengdu, figures.COMPLETIONS) == 1
    # Points: two readings and the course; the points page shows them and the rank.
    points = worker.get(url("points"))
    assert points.context["balance"] == 7
    assert points.context["rank"] == 1 and points.context["unit_size"] == 2
    assert len(points.context["history"]) == 3


def test_a_video_item_needs_the_watch_confirmation(tree):
    video = services.publish_material(
        tree.users["chengdu_admin"],
        services.create_material(
            tree.users["chengdu_admin"],
            org=tree.chengdu,
            data=services.MaterialInput(
                MaterialKind.VIDEO, "劳模访谈", video_url="https://video.example.cn/v/1"
            ),
        ),
    )
    c = course(tree, services.CourseItemInput(video, confirm_watched=True))
    item = c.items.get()
    worker = client_for(tree.users["worker"])
    page = text(worker.get(url("item", course_id=c.pk, item_id=item.pk)))
    assert "https://video.example.cn/v/1" in page and 'name="watched"' in page
    refused = worker.post(url("item_done", course_id=c.pk, item_id=item.pk), follow=True)
    assert zh("Confirm that you watched the video to the end.") in text(refused)
    worker.post(url("item_done", course_id=c.pk, item_id=item.pk), {"watched": "on"})
    assert CourseCompletion.objects.filter(course=c).exists()


def test_a_cadre_previews_an_item_without_starting_a_clock(tree):
    c = course(tree, services.CourseItemInput(article(tree), min_seconds=60))
    item = c.items.get()
    client = client_for(tree.users["chengdu_admin"])
    page = client.get(url("item", course_id=c.pk, item_id=item.pk))
    assert page.status_code == 200 and 'id="preview"' in text(page)
    assert 'id="done"' not in text(page)
    assert not ItemProgress.objects.exists()


# --- the question bank ----------------------------------------------------------------------


def question_data(**overrides: Any) -> dict[str, Any]:
    data = {
        "kind": QuestionKind.SINGLE,
        "text": "工会法规定工会的基本职责是什么？",
        "option_0": "维护职工合法权益",
        "option_1": "组织文体活动",
        "option_2": "",
        "correct": ["0"],
        "true_false": "",
        "fill": "",
        "explanation": "维权是工会的基本职责。",
        "tags": "工会法 基本职责",
        "difficulty": "1",
    }
    data.update(overrides)
    return data


def test_the_bank_adds_filters_edits_and_retires_questions(tree):
    client = client_for(tree.users["chengdu_admin"])
    create = url("question_create", org_id=tree.chengdu.pk)
    assert client.get(create).status_code == 200
    # The right answer ticked on a blank option: refused, the text kept.
    response = client.post(create, question_data(correct=["2"]))
    assert response.status_code == 200 and "工会法规定工会的基本职责是什么" in text(response)
    assert not Question.objects.exists()
    assert client.post(create, question_data())["Location"] == url(
        "questions", org_id=tree.chengdu.pk
    )
    client.post(
        create,
        question_data(
            kind=QuestionKind.TRUE_FALSE,
            text="会员有权参加工会组织的活动。",
            true_false="0",
            tags="会员权利",
            difficulty="2",
        ),
    )
    client.post(
        create,
        question_data(
            kind=QuestionKind.FILL, text="工会的基本职责是____。", fill="维护职工合法权益|维权"
        ),
    )
    single, true_false, fill = Question.objects.order_by("pk")
    assert single.answer == [0] and single.options == ["维护职工合法权益", "组织文体活动"]
    assert true_false.answer == [0] and true_false.options == ["正确", "错误"]
    assert fill.answer == ["维护职工合法权益", "维权"]
    # The same text twice: refused.
    response = client.post(create, question_data())
    assert zh("The bank already has this question.") in text(response)
    bank_page = url("questions", org_id=tree.chengdu.pk)
    listed = client.get(bank_page)
    assert listed.context["page"].paginator.count == 3
    assert "工会法" in listed.context["tags"]
    by_tag = client.get(bank_page, {"tag": "会员权利"})
    assert [q.pk for q in by_tag.context["page"]] == [true_false.pk]
    by_kind = client.get(bank_page, {"kind": "fill"})
    assert [q.pk for q in by_kind.context["page"]] == [fill.pk]
    by_difficulty = client.get(bank_page, {"difficulty": "1"})
    assert {q.pk for q in by_difficulty.context["page"]} == {single.pk, fill.pk}
    # Editing with the current version saves; a stale version is refused, input kept.
    edit = url("question_edit", question_id=single.pk)
    form = client.get(edit).context["form"]
    assert form.initial["correct"] == ["0"] and form.initial["version"] == 1
    response = client.post(edit, question_data(version="1", option_1="开展劳动竞赛"))
    assert response.status_code == 302
    single.refresh_from_db()
    assert single.options == ["维护职工合法权益", "开展劳动竞赛"] and single.version == 2
    stale = client.post(edit, question_data(version="1", option_1="被覆盖的选项"))
    assert stale.status_code == 200
    assert zh("Someone else changed this question meanwhile. Reload it and edit again.") in text(
        stale
    )
    assert "被覆盖的选项" in text(stale)
    single.refresh_from_db()
    assert single.options[1] == "开展劳动竞赛"
    # Retiring: confirmed, then gone from the bank (kept among the retired).
    retire = url("question_retire", question_id=true_false.pk)
    assert client.get(retire).status_code == 200
    client.post(retire)
    true_false.refresh_from_db()
    assert not true_false.active
    assert client.get(bank_page).context["page"].paginator.count == 2
    assert client.get(bank_page, {"retired": "on"}).context["page"].paginator.count == 1


def sheet(rows: list[list[str]], name: str = "题库.xlsx") -> SimpleUploadedFile:
    wb = Workbook()
    ws = wb.active
    ws.append(["题型", "题目", "选项A", "选项B", "选项C", "答案", "解析", "标签", "难度"])
    for row in rows:
        ws.append(row)
    buffer = io.BytesIO()
    wb.save(buffer)
    return SimpleUploadedFile(name, buffer.getvalue())


def test_question_import_is_rejected_with_reasons_then_accepted(tree):
    client = client_for(tree.users["chengdu_admin"])
    template = client.get(url("question_template"))
    assert template.status_code == 200
    book = load_workbook(io.BytesIO(b"".join(template.streaming_content)))
    assert [c.value for c in book.worksheets[0][1]] == services.QUESTION_COLUMNS
    importer = url("question_import", org_id=tree.chengdu.pk)
    assert client.get(importer).status_code == 200
    bad = sheet(
        [
            ["单选", "工会法是哪年颁布的？", "1992", "2001", "2021", "A", "", "工会法", "中"],
            ["单选", "缺答案的题", "甲", "乙", "", "", "", "", "易"],
            ["多选", "答案不在选项中", "甲", "乙", "", "AD", "", "", "难"],
        ]
    )
    response = client.post(importer, {"sheet": bad})
    assert response.status_code == 200
    body = text(response)
    assert 'data-row="3"' in body and 'data-row="4"' in body and 'data-row="2"' not in body
    assert zh("The answer is missing.") in body
    assert not Question.objects.exists()
    good = sheet(
        [
            ["单选", "工会法是哪年颁布的？", "1992", "2001", "2021", "A", "", "工会法", "中"],
            ["判断", "会员有权参加工会活动。", "", "", "", "正确", "", "工会法", "易"],
        ]
    )
    response = client.post(importer, {"sheet": good})
    assert response["Location"] == url("questions", org_id=tree.chengdu.pk)
    assert Question.objects.filter(org=tree.chengdu).count() == 2
    # The template is for cadres who publish.
    assert client_for(tree.users["worker"]).get(url("question_template")).status_code == 404


def test_the_bank_is_for_those_who_publish(tree):
    bank(tree)
    viewer = client_for(tree.users["chengdu_viewer"])
    assert viewer.get(url("questions", org_id=tree.chengdu.pk)).status_code == 403
    question = Question.objects.first()
    assert viewer.get(url("question_edit", question_id=question.pk)).status_code == 403


# --- quizzes -------------------------------------------------------------------------------------


def quiz_form(**overrides: Any) -> dict[str, Any]:
    now = timezone.localtime()
    data = {
        "title": "工会法知识竞赛",
        "description": "",
        "opens_at": (now - datetime.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M"),
        "closes_at": (now + datetime.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M"),
        "time_limit_minutes": "10",
        "pass_mark": "60",
        "attempts_allowed": "2",
        "explanations_after_close": "on",
        "is_contest": "on",
        "requirement": "",
        "rule-TOTAL_FORMS": "2",
        "rule-INITIAL_FORMS": "0",
        "rule-0-count": "3",
        "rule-0-tag": "工会法",
        "rule-0-difficulty": "",
        "rule-1-count": "",
        "rule-1-tag": "",
        "rule-1-difficulty": "",
    }
    data.update(overrides)
    return data


def test_a_cadre_makes_a_contest_quiz_by_drawing_rules(tree):
    bank(tree, n=2)  # 3 questions tagged 工会法
    client = client_for(tree.users["chengdu_admin"])
    create = url("quiz_create", org_id=tree.chengdu.pk)
    assert client.get(create).status_code == 200
    too_many = client.post(create, quiz_form(**{"rule-0-count": "5"}))
    assert too_many.status_code == 200
    assert "工会法知识竞赛" in text(too_many) and not Quiz.objects.exists()
    response = client.post(create, quiz_form())
    created = Quiz.objects.get()
    assert response["Location"] == url("quiz", quiz_id=created.pk)
    assert created.rules == [{"count": 3, "tag": "工会法", "difficulty": None}]
    assert created.time_limit_seconds == 600 and created.is_contest
    assert created.attempts_allowed == 2
    client.post(url("quiz_publish", quiz_id=created.pk))
    created.refresh_from_db()
    assert created.status == PublishStatus.PUBLISHED
    page = client.get(url("quiz", quiz_id=created.pk))
    assert page.status_code == 200 and page.context["counts"].participants == 0


def test_a_worker_takes_a_quiz_and_never_sees_an_answer_before_scoring(tree):
    bank(tree)
    q = quiz(tree, count=5, pass_mark=60)
    worker = client_for(tree.users["worker"])
    mine = text(worker.get(url("mine")))
    assert "工会知识竞答" in mine
    page = worker.get(url("quiz", quiz_id=q.pk))
    assert page.status_code == 200 and 'id="start"' in text(page)
    response = worker.post(url("quiz_start", quiz_id=q.pk))
    attempt = Attempt.objects.get()
    assert response["Location"] == url("attempt", attempt_id=attempt.pk)
    take = text(worker.get(response["Location"]))
    assert 'id="countdown"' in take and take.count('class="card question"') == 5
    assert "工会的基本职责是____。" in take
    # Neither an explanation nor the fill-in's answer nor the snapshot's keys.
    assert EXPLANATION not in take and FILL_ANSWER not in take
    assert '"answer"' not in take and "explanation" not in take.lower()
    # Answers are saved as the worker goes (htmx posts the form on each change).
    answers = right_form(attempt)
    first_key = next(k for k, v in answers.items() if isinstance(v, list))  # a choice
    saved = worker.post(
        url("attempt_save", attempt_id=attempt.pk),
        {first_key: answers[first_key]},
        HTTP_HX_REQUEST="true",
    )
    assert saved.status_code == 200 and 'data-saved="1"' in text(saved)
    attempt.refresh_from_db()
    assert list(attempt.answers) == [first_key.removeprefix("a-")]
    # The page, reloaded, shows the saved answer and still nothing of the key.
    again = text(worker.get(url("attempt", attempt_id=attempt.pk)))
    assert EXPLANATION not in again and FILL_ANSWER not in again
    # Submitting scores on the server; the result shows no answers while the quiz is open.
    result = worker.post(url("attempt_submit", attempt_id=attempt.pk), answers, follow=True)
    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.SUBMITTED
    assert (attempt.score, attempt.passed, attempt.correct) == (100, True, 5)
    body = text(result)
    assert 'data-passed="yes"' in body and 'id="score">100<' in body
    assert EXPLANATION not in body and 'id="review"' not in body
    # After the quiz closes, the result shows the answers and explanations.
    Quiz.objects.filter(pk=q.pk).update(closes_at=timezone.now() - datetime.timedelta(minutes=1))
    closed = text(worker.get(url("attempt", attempt_id=attempt.pk)))
    assert 'id="review"' in closed and EXPLANATION in closed and FILL_ANSWER in closed


def test_a_double_submit_scores_once(tree):
    bank(tree)
    q = quiz(tree, count=5, requirement_id=None)
    worker = client_for(tree.users["worker"])
    worker.post(url("quiz_start", quiz_id=q.pk))
    attempt = Attempt.objects.get()
    answers = right_form(attempt)
    submit = url("attempt_submit", attempt_id=attempt.pk)
    first = worker.post(submit, answers)
    wrong = {k: ["1"] if isinstance(v, list) else "错" for k, v in answers.items()}
    second = worker.post(submit, wrong)
    assert first.status_code == second.status_code == 302
    attempt.refresh_from_db()
    assert attempt.score == 100 and attempt.status == AttemptStatus.SUBMITTED
    assert QuizResult.objects.get().score == 100
    assert PointsEntry.objects.filter(source=f"quiz:{q.pk}").count() == 1
    assert total(tree.chengdu, figures.ATTEMPTS) == 1
    assert total(tree.chengdu, figures.PASSED) == 1
    # Saving after submitting is refused (and sends the page to the result).
    late = worker.post(url("attempt_save", attempt_id=attempt.pk), wrong, HTTP_HX_REQUEST="true")
    assert late["HX-Redirect"] == url("attempt", attempt_id=attempt.pk)
    attempt.refresh_from_db()
    assert attempt.score == 100


def test_attempts_run_out_and_time_runs_out(tree):
    bank(tree)
    q = quiz(tree, count=5, attempts_allowed=1)
    worker = client_for(tree.users["worker"])
    worker.post(url("quiz_start", quiz_id=q.pk))
    attempt = Attempt.objects.get()
    worker.post(url("attempt_save", attempt_id=attempt.pk), right_form(attempt))
    # The deadline passed without a submission: the page scores what was saved.
    Attempt.objects.filter(pk=attempt.pk).update(
        deadline=timezone.now() - datetime.timedelta(minutes=1)
    )
    page = worker.get(url("attempt", attempt_id=attempt.pk))
    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.TIMED_OUT and attempt.score == 100
    assert 'id="attempt-result"' in text(page)
    again = worker.post(url("quiz_start", quiz_id=q.pk), follow=True)
    assert zh("You have used all your attempts.") in text(again)
    assert Attempt.objects.count() == 1


def test_the_cadre_sees_rankings_of_members_and_units(tree):
    bank(tree)
    q = quiz(tree, count=5, is_contest=True)
    attempt = services.start_attempt(tree.users["worker"], q)
    services.submit_attempt(tree.users["worker"], attempt, right_answers(attempt))
    client = client_for(tree.users["chengdu_admin"])
    page = client.get(url("quiz", quiz_id=q.pk))
    assert [(r.rank, r.name, r.score) for r in page.context["ranking"]] == [(1, "张伟", 100)]
    assert [r.org for r in page.context["unit_ranking"]] == [tree.jinjiang]
    # Drilling down to the district, then to the street.
    page = client.get(url("quiz", quiz_id=q.pk), {"within": tree.jinjiang.pk})
    assert page.context["within"] == tree.jinjiang
    assert [r.org for r in page.context["unit_ranking"]] == [tree.chunxilu]
    # A union outside the quiz (or the cadre's scope) falls back to the organiser.
    page = client.get(url("quiz", quiz_id=q.pk), {"within": tree.mianyang.pk})
    assert page.context["within"] == tree.chengdu
    # The cadre sees the attempt's outcome, never its questions.
    outcome = text(client.get(url("attempt", attempt_id=attempt.pk)))
    assert "张伟" in outcome and "工会会员享有哪项权利" not in outcome


def test_the_leaderboards(tree):
    c = course(tree, services.CourseItemInput(article(tree)))
    item = c.items.get()
    services.open_item(tree.cd_member, item)
    services.complete_item(tree.cd_member, item)
    client = client_for(tree.users["cd_union_admin"])
    page = client.get(url("leaderboards", org_id=tree.cd_union.pk))
    assert page.status_code == 200
    assert [(r.rank, r.name, r.points) for r in page.context["members"]] == [(1, "张伟", 6)]
    assert [r.org for r in page.context["units"]] == [tree.cd_branch]
    city = client_for(tree.users["chengdu_admin"]).get(url("leaderboards", org_id=tree.chengdu.pk))
    assert [r.org for r in city.context["units"]] == [tree.jinjiang]
    assert city.context["units"][0].points == 6


# --- refusals -------------------------------------------------------------------------------


def test_a_mianyang_cadre_gets_404_on_chengdu_learning_pages(tree):
    bank(tree)
    document = services.create_material(
        tree.users["chengdu_admin"],
        org=tree.chengdu,
        data=services.MaterialInput(
            MaterialKind.DOCUMENT,
            "成都学习材料",
            upload=SimpleUploadedFile("a.pdf", PDF, content_type="application/pdf"),
        ),
    )
    services.publish_material(tree.users["chengdu_admin"], document)
    c = course(tree, services.CourseItemInput(document))
    item = c.items.get()
    q = quiz(tree, count=5)
    attempt = services.start_attempt(tree.users["worker"], q)
    question = Question.objects.first()
    targets = [
        url(name, org_id=tree.chengdu.pk)
        for name in (
            "courses",
            "course_create",
            "materials",
            "material_create",
            "questions",
            "question_create",
            "question_import",
            "quizzes",
            "quiz_create",
            "leaderboards",
        )
    ]
    targets += [
        url(name, material_id=document.pk)
        for name in ("material", "material_file", "material_publish", "material_withdraw")
    ]
    targets += [url(name, course_id=c.pk) for name in ("course", "course_publish")]
    targets += [url(n, course_id=c.pk, item_id=item.pk) for n in ("item", "item_done")]
    targets += [url(n, question_id=question.pk) for n in ("question_edit", "question_retire")]
    targets += [url(n, quiz_id=q.pk) for n in ("quiz", "quiz_publish", "quiz_start")]
    targets += [
        url(n, attempt_id=attempt.pk) for n in ("attempt", "attempt_save", "attempt_submit")
    ]
    client = client_for(tree.users["mianyang_admin"])
    for target in targets:
        for method in ("get", "post"):
            response = getattr(client, method)(target, {"title": "x", "a-0": "0"})
            assert response.status_code == 404, f"{method} {target}"
            assert "成都" not in text(response), target
    # Nothing changed.
    question.refresh_from_db()
    assert question.active and Question.objects.filter(active=True).count() == 5
    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.IN_PROGRESS and attempt.answers == {}
    assert not ItemProgress.objects.exists()
    # The city's own pages list nothing of 成都's.
    own = client.get(url("courses", org_id=tree.mianyang.pk))
    assert own.status_code == 200 and "全会精神学习" not in text(own)


def test_a_worker_outside_the_audience_gets_404(tree):
    bank(tree)
    material = article(tree)
    only_team = course(tree, services.CourseItemInput(material), audience_units=[tree.cd_team])
    team_item = only_team.items.get()
    team_quiz = quiz(tree, count=5, audience_units=[tree.cd_team], title="班组专场竞答")
    draft = services.create_course(
        tree.users["chengdu_admin"],
        org=tree.chengdu,
        data=services.CourseInput("未发布的课程", items=[services.CourseItemInput(material)]),
    )
    worker = client_for(tree.users["worker"])  # 张伟, of the grassroots union itself
    for target in (
        url("course", course_id=only_team.pk),
        url("item", course_id=only_team.pk, item_id=team_item.pk),
        url("item_done", course_id=only_team.pk, item_id=team_item.pk),
        url("course", course_id=draft.pk),
        url("quiz", quiz_id=team_quiz.pk),
        url("quiz_start", quiz_id=team_quiz.pk),
    ):
        for method in ("get", "post"):
            assert getattr(worker, method)(target).status_code == 404, f"{method} {target}"
    assert not ItemProgress.objects.exists() and not Attempt.objects.exists()
    mine = text(worker.get(url("mine")))
    assert "班组专场竞答" not in mine and "未发布的课程" not in mine
    # The cadre pages are not for workers.
    for target in (
        url("courses", org_id=tree.cd_union.pk),
        url("course_publish", course_id=draft.pk),
        url("material", material_id=material.pk),
        url("questions", org_id=tree.chengdu.pk),
        url("leaderboards", org_id=tree.cd_union.pk),
    ):
        assert worker.get(target).status_code == 404, target
    # Another member's attempt is not theirs to see or answer.
    team_user = tree.users["nobody"]
    tree.team_member.user = team_user
    tree.team_member.save(update_fields=["user"])
    attempt = services.start_attempt(team_user, team_quiz)
    for name in ("attempt", "attempt_save", "attempt_submit"):
        assert worker.get(url(name, attempt_id=attempt.pk)).status_code == 404, name
        assert worker.post(url(name, attempt_id=attempt.pk)).status_code == 404, name


def test_pages_for_someone_without_a_member_record(tree):
    client = client_for(tree.users["chengdu_admin"])
    assert 'id="my-courses"' not in text(client.get(url("mine")))
    assert client.get(url("points")).status_code == 200
    assert client.get(url("index"))["Location"] == url("courses", org_id=tree.chengdu.pk)
    worker = client_for(tree.users["worker"])
    assert worker.get(url("index"))["Location"] == url("mine")


def test_links_to_the_learning_pages(tree):
    cadre = client_for(tree.users["chengdu_admin"])
    org_page = text(cadre.get(reverse("org_detail", kwargs={"org_id": tree.chengdu.pk})))
    assert url("courses", org_id=tree.chengdu.pk) in org_page and 'id="nav-learning"' in org_page
    worker = client_for(tree.users["worker"])
    me = text(worker.get(reverse("me")))
    assert url("mine") in me and 'id="nav-my-learning"' in me
