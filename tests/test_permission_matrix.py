"""A cadre of 成都 can neither see nor change 绵阳's data, on any page or API route.

Routes are found by walking the URL resolver and the OpenAPI schema, so a new page or
endpoint joins this matrix by itself; one whose URL parameters the matrix does not know
fails until it is added to OTHER_CITY_OBJECTS / OWN_CITY_OBJECTS below.
"""

from __future__ import annotations

import datetime
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.db.models import Q
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from conftest import Tree, build_tree
from gonghui.accounts.services import issue_api_token
from gonghui.activities import services as activity_services
from gonghui.activities.models import Activity, CheckIn, Evidence, Registration
from gonghui.api.urls import api
from gonghui.cases import services as case_services
from gonghui.cases.models import AidRecord, Case, CaseAttachment, CaseEvent, HardshipFile
from gonghui.competitions import services as competition_services
from gonghui.competitions.models import Competition, Entry, Judge, Mark
from gonghui.learning.models import Attempt, Course, Material, PointsEntry, Question, Quiz
from gonghui.news import services as news_services
from gonghui.news.models import Article, Revision
from gonghui.notices import services as notice_services
from gonghui.notices.models import Dispatch, Notice, Reminder, Report
from gonghui.orgs import services
from gonghui.orgs.models import ImportJob, Member, MemberTransfer, Org, OrgKind, Role
from gonghui.orgs.scoping import SYSTEM
from gonghui.pledges import services as pledge_services
from gonghui.pledges.models import Pledge, PledgeComment, PledgePhoto, PledgeUpdate

# Pages outside the domain apps: Django's own and the API (tested through its schema).
SKIPPED_NAMESPACES = {"admin", "api"}
SKIPPED_ROUTES = {"set_language", "login", "logout", "healthz", "password_change"}

# Words that belong only to 绵阳's data in the fixture: none may appear to a 成都 cadre.
MIANYANG_WORDS = ("绵阳", "涪城", "城厢", "长虹", "刘芳", "510703")


@dataclass
class Fixture:
    tree: Tree
    other: dict[str, Any]  # URL parameter -> value pointing at 绵阳's data
    own: dict[str, Any]  # URL parameter -> value pointing at 成都's data


def _objects(tree: Tree) -> Fixture:
    my_union2 = services.create_org(
        actor=SYSTEM,
        parent=tree.chengxiang,
        name="绵阳九洲电器工会委员会",
        code="510703001002",
        kind=OrgKind.GRASSROOTS,
    )
    my_transfer = MemberTransfer.objects.create(
        member=tree.my_member,
        from_unit=tree.my_union,
        to_unit=my_union2,
        requested_by=tree.users["mianyang_admin"],
    )
    cd_transfer = MemberTransfer.objects.create(
        member=tree.cd_member2,
        from_unit=tree.cd_union,
        to_unit=tree.cd_branch,
        requested_by=tree.users["cd_union_admin"],
    )
    my_role = Role.objects.get(user=tree.users["mianyang_admin"])
    cd_role = Role.objects.get(user=tree.users["cd_union_only"])
    my_job = ImportJob.objects.create(
        kind="members", org=tree.my_union, user=tree.users["mianyang_admin"], file_name="绵阳.csv"
    )
    cd_job = ImportJob.objects.create(
        kind="members", org=tree.cd_union, user=tree.users["chengdu_admin"], file_name="cd.csv"
    )
    my_notice, my_attachment, my_report = _notice_of(tree.mianyang, tree.my_union, "绵阳")
    cd_notice, cd_attachment, cd_report = _notice_of(tree.chengdu, tree.cd_union, "成都")
    # 成都's own copy of a provincial notice: the actions of a receiving union.
    province_notice = notice_services.create_notice(
        actor=SYSTEM, issuer=tree.province, title="省总工会通知", ack_due=DUE, report_due=DUE
    )
    notice_services.issue_notice(actor=SYSTEM, notice=province_notice)
    cd_dispatch = Dispatch.objects.get(notice=province_notice, org=tree.chengdu)
    my_learning = _learning_of(tree, tree.mianyang, tree.my_member, "绵阳")
    cd_learning = _learning_of(tree, tree.chengdu, tree.cd_member, "成都")
    my_activity, my_registration, my_evidence = _activity_of(tree, tree.my_union, "绵阳")
    cd_activity, cd_registration, cd_evidence = _activity_of(tree, tree.cd_union, "成都")
    my_pledge = _pledge_of(tree, tree.mianyang, "绵阳")
    cd_pledge = _pledge_of(tree, tree.chengdu, "成都")
    my_case = _case_of(tree.my_member, tree.my_union, "绵阳")
    cd_case = _case_of(tree.cd_member, tree.cd_union, "成都")
    my_competition = _competition_of(tree, tree.mianyang, tree.my_member, "绵阳", publish=False)
    cd_competition = _competition_of(tree, tree.chengdu, tree.cd_member, "成都", publish=True)
    my_article = _article_of(tree.my_union, "绵阳", publish=False)
    cd_article = _article_of(tree.cd_union, "成都", publish=True)
    common = {"kind": "members", "decision": "accept"}
    other = {
        "org_id": tree.my_union.pk,
        "member_id": tree.my_member.pk,
        "transfer_id": my_transfer.pk,
        "role_id": my_role.pk,
        "job_id": my_job.pk,
        "notice_id": my_notice.pk,
        "attachment_id": my_attachment.pk,
        "dispatch_id": my_report.dispatch_id,
        "report_id": my_report.pk,
        "activity_id": my_activity.pk,
        "registration_id": my_registration.pk,
        "evidence_id": my_evidence.pk,
        "token": activity_services.qr_token(my_activity),
        **my_learning,
        **my_pledge,
        **my_case,
        **my_competition,
        **my_article,
        **common,
    }
    own = {
        "org_id": tree.cd_union.pk,
        "member_id": tree.cd_member2.pk,
        "transfer_id": cd_transfer.pk,
        "role_id": cd_role.pk,
        "job_id": cd_job.pk,
        "notice_id": cd_notice.pk,
        "attachment_id": cd_attachment.pk,
        "dispatch_id": cd_dispatch.pk,
        "report_id": cd_report.pk,
        "activity_id": cd_activity.pk,
        "registration_id": cd_registration.pk,
        "evidence_id": cd_evidence.pk,
        "token": activity_services.qr_token(cd_activity),
        **cd_learning,
        **cd_pledge,
        **cd_case,
        **cd_competition,
        **cd_article,
        **common,
    }
    return Fixture(tree, other, own)


DUE = datetime.date.today() + datetime.timedelta(days=10)


def _learning_of(tree: Tree, city: Org, member: Member, name: str) -> dict[str, int]:
    """A city's published article, course, question bank and quiz, and an attempt of one
    of its members."""
    from django.contrib.auth import get_user_model

    from gonghui.learning import services as learning

    if member.user_id is None:
        member.user = get_user_model().objects.create_user(username=f"worker-{city.code}")
        member.save(update_fields=["user"])
    material = learning.create_material(
        SYSTEM,
        org=city,
        data=learning.MaterialInput(
            "document",
            f"{name}学习材料",
            upload=SimpleUploadedFile(f"{name}.pdf", b"%PDF-1.4 x", content_type="application/pdf"),
        ),
    )
    learning.publish_material(SYSTEM, material)
    course = learning.create_course(
        SYSTEM,
        org=city,
        data=learning.CourseInput(f"{name}课程", items=[learning.CourseItemInput(material)]),
    )
    learning.publish_course(SYSTEM, course)
    for n in range(3):
        question = learning.add_question(
            SYSTEM,
            org=city,
            data=learning.QuestionInput(
                "single", f"{name}第{n}题", options=["甲", "乙"], answer=[0], tags=["法"]
            ),
        )
    now = timezone.now()
    quiz = learning.create_quiz(
        SYSTEM,
        org=city,
        data=learning.QuizInput(
            f"{name}竞答",
            rules=[learning.DrawRule(3)],
            opens_at=now - datetime.timedelta(hours=1),
            closes_at=now + datetime.timedelta(days=1),
            attempts_allowed=3,
        ),
    )
    quiz = learning.publish_quiz(SYSTEM, quiz)
    attempt = learning.start_attempt(member.user, quiz)
    return {
        "material_id": material.pk,
        "course_id": course.pk,
        "item_id": course.items.get().pk,
        "question_id": question.pk,
        "quiz_id": quiz.pk,
        "attempt_id": attempt.pk,
    }


def _activity_of(tree: Tree, union: Org, name: str) -> tuple[Any, Any, Any]:
    """A lecture at `union`, open for check-in, with a registration and a photo."""
    now = timezone.now()
    activity = activity_services.schedule_activity(
        SYSTEM,
        org=union,
        data=activity_services.ActivityInput(
            kind="lecture",
            title=f"{name}宣讲",
            starts_at=now + datetime.timedelta(minutes=30),
            ends_at=now + datetime.timedelta(hours=2),
            place=f"{name}会议室",
        ),
    )
    member = Member.objects.filter(unit=union).order_by("pk").last()
    registration = activity_services.register(SYSTEM, activity, member)
    photo = SimpleUploadedFile(f"{name}.png", b"\x89PNG\r\n\x1a\n", content_type="image/png")
    evidence = activity_services.add_evidence(SYSTEM, activity, upload=photo, kind="photo")
    return activity, registration, evidence


def _pledge_of(tree: Tree, city: Org, name: str) -> dict[str, int]:
    """A city's published pledge (我为职工办实事) with a progress photo and a comment of
    one of its workers."""
    from django.contrib.auth import get_user_model

    member = Member.objects.filter(unit__ancestor_1=city.pk).order_by("pk").first()
    if member.user_id is None:
        member.user = get_user_model().objects.create_user(username=f"pledge-worker-{city.code}")
        member.save(update_fields=["user"])
    pledge = pledge_services.create_pledge(
        actor=SYSTEM,
        org=city,
        data=pledge_services.PledgeInput(
            title=f"{name}职工免费体检",
            category="services",
            target=f"为{name}100名一线职工免费体检",
            target_value=100,
            target_unit="人",
            deadline=DUE,
        ),
    )
    pledge = pledge_services.publish_pledge(actor=SYSTEM, pledge=pledge)
    photo = SimpleUploadedFile(f"{name}.png", b"\x89PNG\r\n\x1a\n", content_type="image/png")
    update = pledge_services.add_progress(
        actor=SYSTEM, pledge=pledge, text=f"{name}首批体检完成", progress=40, photos=[photo]
    )
    comment = pledge_services.add_comment(actor=member.user, pledge=pledge, text=f"{name}点赞")
    return {
        "pledge_id": pledge.pk,
        "photo_id": update.photos.get().pk,
        "comment_id": comment.pk,
    }


def _case_of(member: Member, union: Org, name: str) -> dict[str, int]:
    """A worker's case with a file, at their grassroots union; a hardship file there."""
    from django.contrib.auth import get_user_model

    if member.user_id is None:
        member.user = get_user_model().objects.create_user(username=f"case-worker-{union.code}")
        member.save(update_fields=["user"])
    payslip = SimpleUploadedFile(f"{name}.png", b"\x89PNG\r\n\x1a\n", content_type="image/png")
    case = case_services.file_case(
        member.user,
        member=member,
        data=case_services.CaseInput("wages", f"{name}欠薪", f"{name}公司拖欠三个月工资未发。"),
        attachments=[payslip],
    )
    hardship = case_services.open_hardship_file(
        SYSTEM,
        member=member,
        org=union,
        data=case_services.HardshipInput(
            "relative", ["illness"], 3, 800, f"{name}家属长期患病，开支较大。", DUE
        ),
    )
    return {
        "case_id": case.pk,
        "case_attachment_id": case.attachments.get().pk,
        "file_id": hardship.pk,
    }


def _competition_of(
    tree: Tree, city: Org, member: Member, name: str, *, publish: bool
) -> dict[str, int]:
    """A city's skill competition: the member entered, judged by the city's administrator
    (who holds a judge role too); 成都's results are published (a public page), 绵阳's
    are still being judged."""
    from decimal import Decimal

    admin = {tree.chengdu.pk: "chengdu_admin", tree.mianyang.pk: "mianyang_admin"}[city.pk]
    judge = tree.users[admin]
    services.grant_role(actor=SYSTEM, user=judge, org=city, kind="judge")
    now = timezone.now()
    competition = competition_services.create_competition(
        SYSTEM,
        org=city,
        data=competition_services.CompetitionInput(
            f"{name}电工技能竞赛",
            now - datetime.timedelta(days=1),
            now + datetime.timedelta(days=5),
            [
                competition_services.DisciplineInput(
                    "电工",
                    [
                        competition_services.CriterionInput(
                            "practical", "接线", Decimal(100), Decimal(100)
                        )
                    ],
                )
            ],
        ),
    )
    competition_services.open_competition(SYSTEM, competition)
    discipline = competition.disciplines.get()
    entry = competition_services.register(
        SYSTEM, competition=competition, discipline=discipline, member=member
    )
    entry = competition_services.decide_entry(SYSTEM, entry, approve=True)
    competition_services.seat_judge(SYSTEM, discipline, user=judge, chief=True)
    competition_services.start_judging(SYSTEM, competition)
    (mark,) = competition_services.enter_marks(
        judge, entry, marks={discipline.criteria.get().pk: 88}
    )
    if publish:
        competition_services.confirm_scores(judge, discipline)
        competition_services.set_awards(
            SYSTEM, discipline, awards=[competition_services.AwardInput("一等奖", 1, 1, "技术能手")]
        )
        competition_services.publish_results(SYSTEM, competition)
    return {
        "competition_id": competition.pk,
        "discipline_id": discipline.pk,
        "entry_id": entry.pk,
        "mark_id": mark.pk,
    }


def _article_of(union: Org, name: str, *, publish: bool) -> dict[str, Any]:
    """A grassroots union's article with an image, through the editorial chain: 成都's is
    published (its public pages open for everyone), 绵阳's waits for the editor."""
    channel = news_services.channels_of(union)[1]
    article = news_services.create_article(
        SYSTEM,
        org=union,
        data=news_services.ArticleInput(
            channel.pk, f"{name}劳模宣讲进车间", f"{name}通讯员", f"<p>{name}宣讲活动。</p>"
        ),
    )
    image = news_services.add_image(
        SYSTEM,
        article,
        upload=SimpleUploadedFile(f"{name}.png", b"\x89PNG\r\n\x1a\n", content_type="image/png"),
    )
    article = news_services.submit_article(SYSTEM, article)
    if publish:
        data = news_services.ArticleInput(
            article.channel_id, article.title, article.byline, article.body + "<p>补充</p>"
        )
        article = news_services.update_article(SYSTEM, article, data=data, version=article.version)
        article = news_services.approve_article(SYSTEM, article)
    return {
        "article_id": article.pk,
        "revision_id": article.revisions.order_by("-number").first().pk,
        "image_id": image.pk,
        "channel_code": channel.code,
    }


def _notice_of(city: Org, union: Org, name: str) -> tuple[Any, Any, Any]:
    """A notice of `city` with an attachment, sent down, and `union`'s report on it."""
    notice = notice_services.create_notice(
        actor=SYSTEM, issuer=city, title=f"{name}市总工会通知", ack_due=DUE, report_due=DUE
    )
    upload = SimpleUploadedFile(f"{name}.pdf", b"%PDF-1.4 test", content_type="application/pdf")
    attachment = notice_services.add_attachment(actor=SYSTEM, notice=notice, upload=upload)
    notice_services.issue_notice(actor=SYSTEM, notice=notice)
    dispatch = Dispatch.objects.get(notice=notice, org=union)
    report = notice_services.submit_report(
        actor=SYSTEM,
        dispatch=dispatch,
        figures_values={},
        narrative=f"{name}的报送",
        submission_key=f"matrix-{name}",
    )
    return notice, attachment, report


def mianyang_state(tree: Tree) -> list[Any]:
    """Everything of 绵阳 a request could change."""
    city = Q(ancestor_1=tree.mianyang.pk) | Q(pk=tree.mianyang.pk)
    return [
        list(
            Org.objects.filter(city)
            .order_by("pk")
            .values_list("pk", "name", "code", "parent_id", "status", "version", "path")
        ),
        list(
            Member.objects.filter(unit__ancestor_1=tree.mianyang.pk)
            .order_by("pk")
            .values_list("pk", "name", "unit_id", "status", "version", "user_id", "phone")
        ),
        list(
            MemberTransfer.objects.filter(
                Q(from_unit__ancestor_1=tree.mianyang.pk) | Q(to_unit__ancestor_1=tree.mianyang.pk)
            )
            .order_by("pk")
            .values_list("pk", "status", "decided_by")
        ),
        list(
            Role.objects.filter(org__ancestor_1=tree.mianyang.pk)
            .order_by("pk")
            .values_list("pk", "user_id", "kind", "org_only")
        ),
        list(
            Notice.objects.filter(issuer__ancestor_1=tree.mianyang.pk)
            .order_by("pk")
            .values_list("pk", "status", "version", "title")
        ),
        list(
            Dispatch.objects.filter(org__ancestor_1=tree.mianyang.pk)
            .order_by("pk")
            .values_list("pk", "acknowledged_at", "report_status", "planned_at", "version")
        ),
        list(
            Report.objects.filter(dispatch__org__ancestor_1=tree.mianyang.pk)
            .order_by("pk")
            .values_list("pk", "status", "reviewed_at")
        ),
        list(Reminder.objects.filter(dispatch__org__ancestor_1=tree.mianyang.pk).values_list("pk")),
        list(
            Activity.objects.filter(org__ancestor_1=tree.mianyang.pk)
            .order_by("pk")
            .values_list("pk", "status", "version", "title", "qr_secret", "starts_at")
        ),
        list(
            Registration.objects.filter(activity__org__ancestor_1=tree.mianyang.pk)
            .order_by("pk")
            .values_list("pk", "status")
        ),
        list(CheckIn.objects.filter(activity__org__ancestor_1=tree.mianyang.pk).values_list("pk")),
        list(Evidence.objects.filter(activity__org__ancestor_1=tree.mianyang.pk).values_list("pk")),
        *[
            list(
                model.objects.filter(org__ancestor_1=tree.mianyang.pk)
                .order_by("pk")
                .values_list("pk", "status", "version")
            )
            for model in (Material, Course, Quiz)
        ],
        list(
            Question.objects.filter(org__ancestor_1=tree.mianyang.pk)
            .order_by("pk")
            .values_list("pk", "text", "answer", "active", "version")
        ),
        list(
            Attempt.objects.filter(unit__ancestor_1=tree.mianyang.pk)
            .order_by("pk")
            .values_list("pk", "status", "answers", "score")
        ),
        list(PointsEntry.objects.filter(unit__ancestor_1=tree.mianyang.pk).values_list("pk")),
        list(
            Pledge.objects.filter(org__ancestor_1=tree.mianyang.pk)
            .order_by("pk")
            .values_list("pk", "status", "version", "title", "progress", "deadline")
        ),
        list(
            PledgeUpdate.objects.filter(pledge__org__ancestor_1=tree.mianyang.pk)
            .order_by("pk")
            .values_list("pk", "progress")
        ),
        list(
            PledgePhoto.objects.filter(update__pledge__org__ancestor_1=tree.mianyang.pk)
            .order_by("pk")
            .values_list("pk")
        ),
        list(
            PledgeComment.objects.filter(pledge__org__ancestor_1=tree.mianyang.pk)
            .order_by("pk")
            .values_list("pk", "hidden", "hidden_reason")
        ),
        list(
            Case.objects.filter(unit__ancestor_1=tree.mianyang.pk)
            .order_by("pk")
            .values_list("pk", "status", "version", "handling_org", "handler", "rating", "outcome")
        ),
        list(CaseEvent.objects.filter(case__unit__ancestor_1=tree.mianyang.pk).values_list("pk")),
        list(
            CaseAttachment.objects.filter(case__unit__ancestor_1=tree.mianyang.pk).values_list("pk")
        ),
        list(
            HardshipFile.objects.filter(org__ancestor_1=tree.mianyang.pk)
            .order_by("pk")
            .values_list("pk", "status", "version", "review_due")
        ),
        list(AidRecord.objects.filter(file__org__ancestor_1=tree.mianyang.pk).values_list("pk")),
        list(
            Competition.objects.filter(org__ancestor_1=tree.mianyang.pk)
            .order_by("pk")
            .values_list("pk", "status", "version", "title")
        ),
        list(
            Entry.objects.filter(competition__org__ancestor_1=tree.mianyang.pk)
            .order_by("pk")
            .values_list("pk", "status", "number", "total", "rank")
        ),
        list(
            Judge.objects.filter(competition__org__ancestor_1=tree.mianyang.pk).values_list(
                "pk", "user", "chief"
            )
        ),
        list(
            Mark.objects.filter(entry__competition__org__ancestor_1=tree.mianyang.pk).values_list(
                "pk", "value"
            )
        ),
        list(
            Article.objects.filter(org__ancestor_1=tree.mianyang.pk)
            .order_by("pk")
            .values_list("pk", "status", "version", "title", "body", "editor", "chief_editor")
        ),
        list(Revision.objects.filter(article__org__ancestor_1=tree.mianyang.pk).values_list("pk")),
    ]


def response_text(response: Any) -> str:
    """What a reader of the response sees: the page, or every cell of an .xlsx download."""
    if not getattr(response, "streaming", False):
        return response.content.decode()
    data = b"".join(response.streaming_content)
    if data[:2] != b"PK":
        return data.decode()
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(data), read_only=True)
    return " ".join(
        str(cell)
        for sheet in book.worksheets
        for row in sheet.iter_rows(values_only=True)
        for cell in row
    )


# --- the pages ----------------------------------------------------------------------------


def _walk(
    patterns: list[Any], prefix: str = "", namespace: str = ""
) -> Iterator[tuple[str, URLPattern]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = entry.namespace or namespace
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern) and entry.name:
            yield namespace, entry


def page_routes() -> list[URLPattern]:
    routes = []
    for namespace, pattern in _walk(get_resolver().url_patterns):
        if namespace in SKIPPED_NAMESPACES or pattern.name in SKIPPED_ROUTES:
            continue
        if pattern.name.startswith("django") or "static" in pattern.name:
            continue
        # The name to reverse: namespaced for apps with an app_name (activities:mine).
        pattern.qualified_name = f"{namespace}:{pattern.name}" if namespace else pattern.name
        routes.append(pattern)
    return routes


def route_params(pattern: URLPattern) -> list[str]:
    return list(pattern.pattern.converters.keys())


PAGES = page_routes()
# URL parameters that name a row of some union's data.
OBJECT_PARAMS = {
    "org_id",
    "member_id",
    "transfer_id",
    "role_id",
    "job_id",
    "notice_id",
    "attachment_id",
    "dispatch_id",
    "report_id",
    "activity_id",
    "registration_id",
    "evidence_id",
    "material_id",
    "course_id",
    "item_id",
    "question_id",
    "quiz_id",
    "attempt_id",
    "pledge_id",
    "photo_id",
    "comment_id",
    "case_id",
    "case_attachment_id",
    "file_id",
    "competition_id",
    "entry_id",
    "discipline_id",
    "mark_id",
    "article_id",
    "revision_id",
    "image_id",
}
PAGES_WITH_OBJECTS = [p for p in PAGES if OBJECT_PARAMS & set(route_params(p))]
# Pages of a union's public site as such (not of one article): open for every union;
# test_public_sites_show_only_published covers them.
PUBLIC_SITE_PAGES = {"news:site", "news:channel", "news:search", "news:feed", "news:sitemap"}
PAGES_WITHOUT_OBJECTS = [p for p in PAGES if not OBJECT_PARAMS & set(route_params(p))]


def test_the_matrix_covers_pages():
    names = {p.name for p in PAGES}
    # A sanity floor: the walk found the domain pages, not an empty list.
    assert {"org_detail", "member_detail", "member_list", "transfer_inbox", "audit_list"} <= names


def _kwargs(pattern: URLPattern, values: dict[str, Any]) -> dict[str, Any]:
    unknown = [p for p in route_params(pattern) if p not in values]
    assert not unknown, f"{pattern.name}: add {unknown} to the permission matrix"
    return {p: values[p] for p in route_params(pattern)}


@pytest.fixture(scope="module")
def _matrix_data(django_db_setup: Any, django_db_blocker: Any) -> Iterator[Fixture]:
    """The matrix's unions and objects, built once per module (and per test worker)
    inside a transaction rolled back at the end. Each test runs in a savepoint of it, as
    with Django's setUpTestData, so no test sees another's changes."""
    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=FAST_HASHERS):
        outer = transaction.atomic()
        outer.__enter__()
        try:
            yield _objects(build_tree())
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def matrix(_matrix_data: Fixture, db: Any) -> Fixture:
    return _matrix_data


@pytest.mark.parametrize(
    "pattern",
    [p for p in PAGES_WITH_OBJECTS if p.qualified_name not in PUBLIC_SITE_PAGES],
    ids=lambda p: p.qualified_name,
)
def test_a_chengdu_cadre_gets_404_for_mianyang_objects(matrix, pattern):
    tree = matrix.tree
    client = Client()
    client.force_login(tree.users["chengdu_admin"])
    url = reverse(pattern.qualified_name, kwargs=_kwargs(pattern, matrix.other))
    before = mianyang_state(tree)
    for method in ("get", "post"):
        response = getattr(client, method)(url, {"note": "x", "reason": "x", "name": "x"})
        assert response.status_code in (404, 405), f"{method.upper()} {url}: {response.status_code}"
        if response.status_code == 404:
            body = response_text(response)
            assert not any(word in body for word in MIANYANG_WORDS), f"{url} leaks"
    assert mianyang_state(tree) == before


@pytest.mark.parametrize("pattern", PAGES_WITH_OBJECTS, ids=lambda p: p.qualified_name)
def test_the_same_route_works_for_own_objects(matrix, pattern):
    """The control: the 404 above comes from scoping, not from a broken route."""
    tree = matrix.tree
    client = Client()
    owner = "worker" if pattern.qualified_name in CASE_WORKER_PAGES else "chengdu_admin"
    client.force_login(tree.users[owner])
    url = reverse(pattern.qualified_name, kwargs=_kwargs(pattern, matrix.own))
    response = client.get(url)
    if pattern.qualified_name == "news:upload_image":
        png = SimpleUploadedFile("x.png", b"\x89PNG\r\n\x1a\n", content_type="image/png")
        response = client.post(url, {"file": png})
        assert response.status_code in (200, 201), f"POST {url}: {response.status_code}"
    elif response.status_code == 405:  # POST-only actions
        response = client.post(url, {"note": "ok"})
        assert response.status_code == 302, f"POST {url}: {response.status_code}"
    elif pattern.name == "import_errors":
        assert response.status_code == 404  # the job in the fixture has no error file
    elif pattern.qualified_name in ("news:cover", "news:video"):
        assert response.status_code == 404  # the fixture's article has neither
    elif response.status_code == 302:
        # An action that sends a GET back to its page (edit a published competition,
        # withdraw a judged entry): not a refusal, not the sign-in page.
        assert "/login" not in response["Location"], f"GET {url}: {response['Location']}"
    else:
        assert response.status_code == 200, f"GET {url}: {response.status_code}"


@pytest.mark.parametrize("pattern", PAGES_WITH_OBJECTS, ids=lambda p: p.qualified_name)
@pytest.mark.parametrize("username", ["nobody", "worker"])
def test_people_without_roles_see_no_union_objects(matrix, pattern, username):
    tree = matrix.tree
    client = Client()
    client.force_login(tree.users[username])
    for values in (matrix.other, matrix.own):
        kwargs = _kwargs(pattern, values)
        if username == "worker" and pattern.name == "member_detail":
            continue  # checked below: a worker sees their own record only
        if username == "worker" and values is matrix.own and pattern.name in WORKER_PAGES:
            continue  # the worker is in the audience of 成都's activity: see below
        if values is matrix.own and pattern.qualified_name in PUBLIC_PAGES:
            continue  # published results: see test_published_results_are_public
        if pattern.qualified_name in PUBLIC_SITE_PAGES:
            continue  # see test_public_sites_show_only_published
        response = client.get(reverse(pattern.qualified_name, kwargs=kwargs))
        assert response.status_code in (404, 405), f"{pattern.name} {kwargs}"


# Activity pages a worker uses for activities whose audience includes them.
WORKER_PAGES = {
    # activities
    "detail",
    "register",
    "cancel_registration",
    # learning
    "material_file",
    "course",
    "item",
    "item_done",
    "quiz",
    "quiz_start",
    "attempt",
    "attempt_save",
    "attempt_submit",
    # pledges: 成都's pledge is published at the worker's city, above their unit
    "for_me_detail",
    "for_me_comment",
    "pledge_photo",
    # competitions: the worker's own entry
    "enter",
    "withdraw",
    "entry_certificate",
    # cases: the worker's own request
    "mine_detail",
    "mine_message",
    "mine_rate",
    "mine_reopen",
    "mine_withdraw",
    "attachment",
}
# The worker's own pages of a case: only its worker opens them, whatever their roles.
CASE_WORKER_PAGES = {"cases:mine_detail", "cases:mine_message", "cases:mine_rate"}
CASE_WORKER_PAGES |= {"cases:mine_reopen", "cases:mine_withdraw"}
# A member's own competition pages, likewise.
CASE_WORKER_PAGES |= {"competitions:enter", "competitions:withdraw"}
# Published results are public: anyone opens 成都's (published); 绵阳's is not published.
PUBLIC_PAGES = {"competitions:public_results"}
# A union's public news site (and its published articles) is open to everybody.
PUBLIC_NEWS_PAGES = {
    "news:site",
    "news:channel",
    "news:public_article",
    "news:search",
    "news:feed",
    "news:sitemap",
    "news:image",
}
PUBLIC_PAGES |= PUBLIC_NEWS_PAGES


def test_a_worker_sees_activities_of_their_audience_only(matrix):
    tree = matrix.tree
    client = Client()
    client.force_login(tree.users["worker"])
    own = client.get(
        reverse("activities:detail", kwargs={"activity_id": matrix.own["activity_id"]})
    )
    assert own.status_code == 200
    other = matrix.other["activity_id"]
    assert (
        client.get(reverse("activities:detail", kwargs={"activity_id": other})).status_code == 404
    )


def test_a_worker_sees_the_pledges_above_their_unit_only(matrix):
    client = Client()
    client.force_login(matrix.tree.users["worker"])
    for name, param in [
        ("pledges:for_me_detail", "pledge_id"),
        ("pledges:for_me_comment", "pledge_id"),
        ("pledges:pledge_photo", "photo_id"),
    ]:
        own = client.get(reverse(name, kwargs={param: matrix.own[param]}))
        assert own.status_code == 200, name
        other = client.get(reverse(name, kwargs={param: matrix.other[param]}))
        assert other.status_code == 404, name


def test_a_worker_sees_only_their_own_member_record(matrix):
    tree = matrix.tree
    client = Client()
    client.force_login(tree.users["worker"])
    own = client.get(reverse("member_detail", kwargs={"member_id": tree.cd_member.pk}))
    assert own.status_code == 200
    assert "张伟" in own.content.decode()
    other = client.get(reverse("member_detail", kwargs={"member_id": tree.cd_member2.pk}))
    assert other.status_code == 404


@pytest.mark.parametrize("pattern", PAGES_WITHOUT_OBJECTS, ids=lambda p: p.qualified_name)
def test_lists_and_searches_never_show_mianyang(matrix, pattern):
    tree = matrix.tree
    client = Client()
    client.force_login(tree.users["chengdu_admin"])
    url = reverse(pattern.qualified_name, kwargs=_kwargs(pattern, matrix.other))
    for query in ({}, {"q": "my"}, {"q": "绵阳"}, {"q": "长虹"}, {"q": "刘芳"}, {"q": "5678"}):
        response = client.get(url, query, follow=True)
        assert response.status_code in (200, 404), f"{url} {query}"
        body = response_text(response)
        # The page may echo the query itself back into the search box; nothing else.
        words = [w for w in MIANYANG_WORDS if w not in query.get("q", "")]
        assert not any(word in body for word in words), f"{url} {query} leaks"


@pytest.mark.parametrize(
    ("route", "param"),
    [("org_search", "within"), ("audit_list", "org")],
)
def test_query_parameters_pointing_at_mianyang_are_404(matrix, route, param):
    client = Client()
    client.force_login(matrix.tree.users["chengdu_admin"])
    response = client.get(reverse(route), {param: matrix.tree.mianyang.pk, "q": "x"})
    assert response.status_code == 404


def test_a_viewer_cannot_change_within_own_city(matrix):
    tree = matrix.tree
    client = Client()
    client.force_login(tree.users["chengdu_viewer"])
    for name, kwargs in [
        ("org_edit", {"org_id": tree.cd_union.pk}),
        ("org_move", {"org_id": tree.cd_union.pk}),
        ("org_dissolve", {"org_id": tree.cd_team.pk}),
        ("org_create_child", {"org_id": tree.cd_union.pk}),
        ("member_create", {"org_id": tree.cd_union.pk}),
        ("member_edit", {"member_id": tree.cd_member.pk}),
        ("member_leave", {"member_id": tree.cd_member.pk}),
        ("member_transfer", {"member_id": tree.cd_member.pk}),
        ("role_list", {"org_id": tree.cd_union.pk}),
    ]:
        response = client.post(reverse(name, kwargs=kwargs), {"name": "x", "reason": "x"})
        assert response.status_code == 403, name
    assert client.get(reverse("org_detail", kwargs={"org_id": tree.cd_union.pk})).status_code == 200


# --- the API ------------------------------------------------------------------------------


def api_operations() -> list[tuple[str, str, dict[str, Any]]]:
    schema = api.get_openapi_schema()
    operations = []
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            operations.append((method, path, operation))
    return operations


API_OPERATIONS = api_operations()
SCHEMA = api.get_openapi_schema()


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = SCHEMA["components"]["schemas"][schema["$ref"].split("/")[-1]]
    return schema


def sample_body(operation: dict[str, Any], values: dict[str, Any]) -> Any:
    """A body that passes validation, so the handler (and its scoping) really runs."""
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        return None
    schema = _resolve(content["application/json"]["schema"])
    if schema.get("type") == "array":
        return []
    body: dict[str, Any] = {}
    for name, prop in schema.get("properties", {}).items():
        prop = _resolve(prop)
        kinds = {prop.get("type")} | {p.get("type") for p in prop.get("anyOf", [])}
        if name.endswith("_id") and name.removesuffix("_id") in (
            "new_parent",
            "transfer_members_to",
        ):
            body[name] = values["org_id"]
        elif name == "version":
            body[name] = 1
        elif name == "id_number":
            from conftest import make_id_number

            body[name] = make_id_number(region="510703", seq=901)
        elif prop.get("format") == "date-time" or any(
            p.get("format") == "date-time" for p in prop.get("anyOf", [])
        ):
            body[name] = "2026-01-05T09:00:00+08:00"
        elif prop.get("format") == "date" or any(
            p.get("format") == "date" for p in prop.get("anyOf", [])
        ):
            body[name] = "2026-01-05"
        elif name == "kind":
            body[name] = "grassroots"
        elif "array" in kinds and name in schema.get("required", []):
            item = _resolve(prop.get("items", {}))
            if item.get("type") == "object" or "properties" in item:
                body[name] = []
            else:
                body[name] = [1] if item.get("type") == "integer" else ["x"]
        elif "object" in kinds:
            body[name] = {}
        elif "number" in kinds or "integer" in kinds:
            body[name] = 1
        elif "boolean" in kinds:
            body[name] = False
        elif "string" in kinds:
            body[name] = "x"
    return body


def send(client: Client, method: str, url: str, operation: dict[str, Any], values: dict) -> Any:
    """Call an operation with a body that passes validation: JSON, or a file upload."""
    content = operation.get("requestBody", {}).get("content", {})
    if "multipart/form-data" in content:
        upload = SimpleUploadedFile("x.png", b"\x89PNG\r\n\x1a\n", content_type="image/png")
        return getattr(client, method)(url, {"file": upload})
    body = sample_body(operation, values)
    return getattr(client, method)(
        url,
        data=json.dumps(body) if body is not None else None,
        content_type="application/json",
    )


def _api_url(path: str, values: dict[str, Any]) -> str:
    def fill(match: re.Match) -> str:
        name = match.group(1)
        assert name in values, f"{path}: add {name} to the permission matrix"
        return str(values[name])

    return re.sub(r"\{(\w+)\}", fill, path)


def test_the_matrix_covers_the_api():
    paths = {path for _m, path, _o in API_OPERATIONS}
    assert "/api/orgs/{org_id}" in paths and "/api/members/{member_id}" in paths


@pytest.mark.parametrize(
    ("method", "path", "operation"),
    [op for op in API_OPERATIONS if "{" in op[1]],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_api_routes_answer_404_for_mianyang_objects(matrix, method, path, operation):
    tree = matrix.tree
    token = issue_api_token(user=tree.users["chengdu_admin"])
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    before = mianyang_state(tree)
    response = send(client, method, _api_url(path, matrix.other), operation, matrix.other)
    assert response.status_code == 404, f"{method.upper()} {path}: {response.content[:300]}"
    assert mianyang_state(tree) == before


@pytest.mark.parametrize(
    ("method", "path", "operation"),
    [op for op in API_OPERATIONS if "{" not in op[1] and op[0] == "get"],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_api_lists_never_show_mianyang(matrix, method, path, operation):
    tree = matrix.tree
    token = issue_api_token(user=tree.users["chengdu_admin"])
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    params: dict[str, Any] = {}
    for param in operation.get("parameters", []):
        if param["in"] == "query" and param["name"] == "q":
            params["q"] = "my"
    response = client.get(path, params)
    assert response.status_code == 200, path
    text = json.dumps(response.json(), ensure_ascii=False)
    assert not any(word in text for word in MIANYANG_WORDS), path
    # Query parameters that name an org must be scoped too (public endpoints, without
    # authentication, read any union's public site by design).
    public = "security" not in operation
    for param in [] if public else operation.get("parameters", []):
        if param["in"] == "query" and param["name"].endswith("_id"):
            response = client.get(path, {param["name"]: tree.my_union.pk})
            assert response.status_code == 404, f"{path}?{param['name']}"


# --- the privacy rule of worker cases -----------------------------------------------------

CASE_PARAMS = {"case_id", "case_attachment_id"}
CASE_PAGES = [p for p in PAGES if CASE_PARAMS & set(route_params(p))]
CASE_API = [op for op in API_OPERATIONS if CASE_PARAMS & set(re.findall(r"\{(\w+)\}", op[1]))]
SECRET_TITLE = "车间主任克扣加班费"


@dataclass
class Concealed:
    tree: Tree
    case: Any
    values: dict[str, Any]


@pytest.fixture
def concealed(matrix) -> Concealed:
    """The worker's request that skips their employer's union (华信), handled by 锦江区."""
    tree = matrix.tree
    case = case_services.file_case(
        tree.users["worker"],
        member=tree.cd_member,
        data=case_services.CaseInput(
            "wages",
            SECRET_TITLE,
            "车间主任长期克扣加班费，不想让厂里工会知道。",
            "message",
            "",
            True,
        ),
        attachments=[SimpleUploadedFile("加班记录.pdf", b"%PDF-1.4 x", "application/pdf")],
    )
    assert case.handling_org == tree.jinjiang
    values = {
        **matrix.own,
        "case_id": case.pk,
        "case_attachment_id": case.attachments.get().pk,
    }
    return Concealed(tree, case, values)


def case_state(case: Any) -> list[Any]:
    return [
        list(Case.objects.filter(pk=case.pk).values_list("status", "version", "handling_org")),
        list(CaseEvent.objects.filter(case=case).values_list("pk")),
    ]


def test_the_privacy_matrix_covers_case_routes():
    assert {p.qualified_name for p in CASE_PAGES} >= {"cases:detail", "cases:mine_detail"}
    assert len(CASE_API) >= 10


@pytest.mark.parametrize("pattern", CASE_PAGES, ids=lambda p: p.qualified_name)
def test_the_employer_union_cannot_reach_a_case_that_skipped_it(concealed, pattern):
    client = Client()
    client.force_login(concealed.tree.users["cd_union_admin"])
    url = reverse(pattern.qualified_name, kwargs=_kwargs(pattern, concealed.values))
    before = case_state(concealed.case)
    for method in ("get", "post"):
        response = getattr(client, method)(url, {"text": "x", "reason": "x", "note": "x"})
        assert response.status_code == 404, f"{method.upper()} {url}: {response.status_code}"
        assert SECRET_TITLE not in response_text(response)
    assert case_state(concealed.case) == before


@pytest.mark.parametrize(
    ("method", "path", "operation"), CASE_API, ids=lambda v: v if isinstance(v, str) else ""
)
def test_the_employer_union_cannot_reach_it_through_the_api(concealed, method, path, operation):
    token = issue_api_token(user=concealed.tree.users["cd_union_admin"])
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    before = case_state(concealed.case)
    url = _api_url(path, concealed.values)
    response = send(client, method, url, operation, concealed.values)
    assert response.status_code == 404, f"{method.upper()} {path}: {response.content[:300]}"
    assert case_state(concealed.case) == before


def test_the_employer_union_sees_it_in_no_list_ledger_or_figure(concealed):
    tree = concealed.tree
    union = tree.cd_union.pk
    client = Client()
    client.force_login(tree.users["cd_union_admin"])
    token = issue_api_token(user=tree.users["cd_union_admin"])
    api_client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    responses = [
        client.get(reverse("cases:queue", kwargs={"org_id": union}), {"show": "all", "subtree": 1}),
        client.get(reverse("cases:queue", kwargs={"org_id": union}), {"q": "克扣"}),
        client.get(reverse("cases:ledger", kwargs={"org_id": union})),
        client.get(reverse("cases:figures", kwargs={"org_id": union})),
        client.get(reverse("notifications")),
        client.get(reverse("audit_list")),
        api_client.get("/api/cases", {"show": "all"}),
        api_client.get("/api/cases", {"org_id": union, "show": "all", "subtree": True}),
        api_client.get("/api/cases/figures", {"org_id": union}),
    ]
    for response in responses:
        assert response.status_code == 200
        text = response_text(response)
        assert SECRET_TITLE not in text and concealed.case.number not in text
    figures = api_client.get("/api/cases/figures", {"org_id": union}).json()
    assert figures["subtree"]["filed"] == 1  # the matrix's other, ordinary request


def test_the_handling_county_and_the_worker_do_see_it(concealed):
    tree = concealed.tree
    for username, route in [("chengdu_admin", "cases:detail"), ("worker", "cases:mine_detail")]:
        client = Client()
        client.force_login(tree.users[username])
        response = client.get(reverse(route, kwargs={"case_id": concealed.case.pk}))
        assert response.status_code == 200, username
        assert SECRET_TITLE in response.content.decode()


def test_published_results_are_public_and_others_are_not(matrix):
    client = Client()
    own = client.get(
        reverse(
            "competitions:public_results", kwargs={"competition_id": matrix.own["competition_id"]}
        )
    )
    assert own.status_code == 200 and "技术能手" in own.content.decode()
    assert "510104199003070" not in own.content.decode()  # never an ID number
    other = client.get(
        reverse(
            "competitions:public_results", kwargs={"competition_id": matrix.other["competition_id"]}
        )
    )
    assert other.status_code == 404


def test_public_sites_show_only_published(matrix):
    """A union's public news site opens for everyone, and shows only what was published:
    绵阳's article waits for its editor, 成都's is published."""
    client = Client()
    for values, title, shown in [
        (matrix.other, "绵阳劳模宣讲进车间", False),
        (matrix.own, "成都劳模宣讲进车间", True),
    ]:
        for name in sorted(PUBLIC_SITE_PAGES):
            pattern = next(p for p in PAGES if p.qualified_name == name)
            url = reverse(name, kwargs=_kwargs(pattern, values))
            response = client.get(url, {"q": title[:2]} if name == "news:search" else {})
            assert response.status_code == 200, url
            # The sitemap lists addresses, the other pages titles.
            mark = f"/articles/{values['article_id']}/" if name == "news:sitemap" else title
            assert (mark in response_text(response)) is shown, url
