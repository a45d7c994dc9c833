"""The case pages as workers and cadres use them: filing on the phone, following and
rating a request, a union's queue, handling one case, the figures, the ledger, hardship
aid files, and every refusal: a worker never reaches the handlers' page, the employer's
union never sees a case that skipped it, and a refused form keeps what was typed."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from openpyxl import load_workbook

from gonghui.audit.models import AuditAction, AuditEntry
from gonghui.cases import services
from gonghui.cases.models import (
    Case,
    CaseAttachment,
    CaseCategory,
    CaseEvent,
    CaseStatus,
    Channel,
    EventKind,
    HardshipFile,
    HardshipStatus,
    Outcome,
)
from gonghui.orgs import services as org_services
from gonghui.orgs.models import RoleKind
from gonghui.orgs.scoping import SYSTEM

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4 test\n"
DESCRIPTION = "三月份的工资到现在还没有发，车间主任说要等到年底一起结。"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def text(response: Any) -> str:
    return response.content.decode()


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def pdf(name: str = "工资条.pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PDF, content_type="application/pdf")


def file_case(tree: Any, **extra: Any) -> Case:
    """A wage case the worker (张伟 of the 华信 union) files on the phone."""
    data = services.CaseInput(
        category=extra.pop("category", CaseCategory.WAGES),
        title=extra.pop("title", "三月工资未发"),
        description=extra.pop("description", DESCRIPTION),
        conceal_from_employer_union=extra.pop("conceal", False),
    )
    return services.file_case(tree.users["worker"], member=tree.cd_member, data=data, **extra)


def handler(tree: Any) -> Any:
    """A case handler of the 华信 union."""
    user = get_user_model().objects.create_user(username="handler", first_name="赵敏")
    org_services.grant_role(actor=SYSTEM, user=user, org=tree.cd_union, kind=RoleKind.CASE_HANDLER)
    return user


def url(name: str, case: Case) -> str:
    return reverse(f"cases:{name}", kwargs={"case_id": case.pk})


def org_url(name: str, org: Any) -> str:
    return reverse(f"cases:{name}", kwargs={"org_id": org.pk})


def request_form(**overrides: Any) -> dict[str, Any]:
    data = {
        "submission_key": "key-1",
        "category": CaseCategory.WAGES,
        "title": "三月工资未发",
        "description": DESCRIPTION,
        "contact_preference": "message",
        "contact_phone": "",
    }
    data.update(overrides)
    return data


# --- the worker -------------------------------------------------------------------------


def test_my_requests_show_status_and_deadlines(tree):
    case = file_case(tree)
    client = client_for(tree.users["worker"])
    response = client.get(reverse("cases:mine"))
    body = text(response)
    assert response.status_code == 200
    assert "提出诉求" in body and reverse("cases:file") in body
    assert case.number in body and "三月工资未发" in body
    assert "待受理" in body  # the status label
    assert case.resolve_due.strftime("%Y-%m-%d") in body
    # The menu offers the worker's own page.
    assert 'id="nav-my-cases"' in body and "我的诉求" in body


def test_a_worker_files_a_request_through_the_form(tree):
    client = client_for(tree.users["worker"])
    page = client.get(reverse("cases:file"))
    assert page.status_code == 200
    key = page.context["form"].initial["submission_key"]
    assert len(key) >= 20
    assert "不让本单位工会看到（直接交上级工会）" in text(page)
    response = client.post(
        reverse("cases:file"),
        request_form(submission_key=key, attachments=[pdf(), pdf("欠条.pdf")]),
    )
    case = Case.objects.get()
    assert response.status_code == 302
    assert response["Location"] == url("mine_detail", case)
    assert case.member == tree.cd_member and case.channel == Channel.APP
    assert case.handling_org == tree.cd_union and case.submission_key == key
    assert sorted(a.name for a in case.attachments.all()) == ["工资条.pdf", "欠条.pdf"]
    detail = client.get(response["Location"])
    assert case.number in text(detail) and "成都华信机械有限公司工会委员会" in text(detail)
    assert f"您的诉求{case.number}已提交至成都华信机械有限公司工会委员会。" in messages_of(detail)


def test_a_double_submit_files_once(tree):
    client = client_for(tree.users["worker"])
    first = client.post(reverse("cases:file"), request_form(submission_key="same-key"))
    second = client.post(reverse("cases:file"), request_form(submission_key="same-key"))
    assert Case.objects.count() == 1
    assert first["Location"] == second["Location"] == url("mine_detail", Case.objects.get())


def test_a_too_short_description_keeps_what_was_typed(tree):
    client = client_for(tree.users["worker"])
    response = client.post(
        reverse("cases:file"),
        request_form(title="加班费没有算", description="没给钱", contact_phone="13800001234"),
    )
    body = text(response)
    assert response.status_code == 200
    assert not Case.objects.exists()
    assert response.context["form"].errors["description"] == ["请至少用10个字描述事情经过。"]
    assert "加班费没有算" in body and "没给钱" in body and "13800001234" in body
    # The same key comes back, so the corrected form still files once.
    assert 'value="key-1"' in body


def test_a_phone_call_needs_a_number_and_a_wrong_file_is_refused(tree):
    client = client_for(tree.users["worker"])
    response = client.post(
        reverse("cases:file"), request_form(contact_preference="phone", contact_phone="")
    )
    assert response.context["form"].errors["contact_phone"] == ["请留下联系电话。"]
    program = SimpleUploadedFile("工资.exe", b"MZ\x90\x00", content_type="application/pdf")
    response = client.post(reverse("cases:file"), request_form(attachments=[program]))
    assert response.status_code == 200
    assert response.context["form"].errors["attachments"] == [
        "工资.exe：仅接受以下类型的文件：doc, docx, jpeg, jpg, pdf, png。"
    ]
    assert not Case.objects.exists()


def test_without_a_member_record_the_worker_is_told_so(tree):
    client = client_for(tree.users["nobody"])
    for name in ("cases:mine", "cases:file"):
        response = client.get(reverse(name))
        assert response.status_code == 200
        assert "您的账号未关联会员信息。" in text(response)
    response = client.post(reverse("cases:file"), request_form())
    assert response.status_code == 200 and response.context["form"] is None
    assert not Case.objects.exists()


def test_the_worker_timeline_never_shows_internal_notes(tree):
    case = file_case(tree)
    admin = tree.users["cd_union_admin"]
    services.add_note(admin, case, text="内部：车间主任是老板的亲戚")
    services.post_message(admin, case, text="已收到，我们明天联系您")
    response = client_for(tree.users["worker"]).get(url("mine_detail", case))
    body = text(response)
    assert "已收到，我们明天联系您" in body
    assert "车间主任是老板的亲戚" not in body
    assert all(e.kind != EventKind.NOTE for e in response.context["timeline"])


def test_a_worker_cannot_reach_the_handlers_page_of_their_own_case(tree):
    case = file_case(tree)
    client = client_for(tree.users["worker"])
    assert client.get(url("detail", case)).status_code == 404
    for name in ("accept", "note", "close"):
        assert (
            client.post(url(name, case), {"version": case.version, "text": "x"}).status_code == 404
        )
    case.refresh_from_db()
    assert case.status == CaseStatus.NEW
    assert not case.events.filter(kind=EventKind.NOTE).exists()
    # Nor another worker's page, nor someone else's case as "mine".
    other = file_case(tree, title="另一件事")
    assert (
        client_for(tree.users["cd_union_admin"]).get(url("mine_detail", other)).status_code == 404
    )


def test_the_worker_messages_rates_and_reopens(tree):
    case = file_case(tree)
    client = client_for(tree.users["worker"])
    response = client.post(
        url("mine_message", case), {"text": "补充：工资条在附件里", "attachments": [pdf()]}
    )
    assert response.status_code == 302
    event = case.events.get(kind=EventKind.MESSAGE)
    assert event.by_worker and event.attachments.get().name == "工资条.pdf"
    # An empty message is refused with the service's words.
    response = client.post(url("mine_message", case), {"text": "  "})
    assert response.status_code == 200
    assert response.context["message_form"].errors["text"] == ["请先填写内容。"]

    services.close_case(
        tree.users["cd_union_admin"],
        case,
        closing=services.Closing(Outcome.RESOLVED, "已协调企业补发三月工资", money_recovered=4200),
    )
    page = text(client.get(url("mine_detail", case)))
    assert "已协调企业补发三月工资" in page and 'id="rate"' in page and 'id="reopen"' in page
    # No stars: refused, the comment kept.
    response = client.post(url("mine_rate", case), {"comment": "处理很及时"})
    assert response.context["rate_form"].errors["rating"] == ["请选择1至5颗星。"]
    assert "处理很及时" in text(response)
    response = client.post(url("mine_rate", case), {"rating": "5", "comment": "处理很及时"})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.rating == 5 and case.rating_comment == "处理很及时"

    deadline = services.reopen_deadline(case).strftime("%Y-%m-%d")
    assert deadline in text(client.get(url("mine_detail", case)))
    response = client.post(url("mine_reopen", case), {"reason": "只发了一半"})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.status == CaseStatus.IN_PROGRESS and case.reopened
    assert 'id="reopen"' not in text(client.get(url("mine_detail", case)))


def test_the_worker_withdraws_an_open_request(tree):
    case = file_case(tree)
    client = client_for(tree.users["worker"])
    # Every action URL answers GET with the page its form is on.
    assert case.number in text(client.get(url("mine_withdraw", case)))
    response = client.post(url("mine_withdraw", case), {"reason": "工资已经发了"})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.status == CaseStatus.CLOSED and case.outcome == Outcome.WITHDRAWN
    page = text(client.get(url("mine_detail", case)))
    assert 'id="withdraw"' not in page and 'id="rate"' not in page


# --- a union's queue --------------------------------------------------------------------


def test_the_queue_of_a_union(tree):
    wages = file_case(tree)
    safety = file_case(tree, category=CaseCategory.SAFETY, title="车间通风不好")
    services.close_case(
        tree.users["cd_union_admin"], safety, closing=services.Closing(Outcome.RESOLVED, "已整改")
    )
    client = client_for(tree.users["cd_union_admin"])
    queue = org_url("queue", tree.cd_union)
    body = text(client.get(queue))
    assert wages.number in body and "三月工资未发" in body and safety.number not in body
    assert "待受理" in body
    closed = text(client.get(queue, {"show": "closed"}))
    assert safety.number in closed and wages.number not in closed
    everything = client.get(queue, {"show": "all", "category": CaseCategory.SAFETY})
    assert [c.pk for c in everything.context["page"]] == [safety.pk]
    assert [c.pk for c in client.get(queue, {"show": "all", "q": "通风"}).context["page"]] == [
        safety.pk
    ]
    # "Only mine": the admin closed the safety case, so it is theirs.
    mine = client.get(queue, {"show": "all", "mine": "1"}).context["page"]
    assert [c.pk for c in mine] == [safety.pk]
    # From the city: the union's case shows only with the unions below included.
    city = client_for(tree.users["chengdu_admin"])
    assert wages.number not in text(city.get(org_url("queue", tree.chengdu)))
    assert wages.number in text(city.get(org_url("queue", tree.chengdu), {"subtree": "1"}))


def test_the_queue_shows_traffic_lights(tree):
    case = file_case(tree)
    Case.objects.filter(pk=case.pk).update(
        resolve_due=case.filed_on.replace(year=case.filed_on.year - 1)
    )
    page = client_for(tree.users["cd_union_admin"]).get(org_url("queue", tree.cd_union))
    row = page.context["page"].object_list[0]
    assert row.lights["resolve"] == "red"
    assert 'class="due red"' in text(page)


def test_queue_scope_and_permission(tree):
    queue = org_url("queue", tree.cd_union)
    assert client_for(tree.users["mianyang_admin"]).get(queue).status_code == 404
    assert client_for(tree.users["chengdu_viewer"]).get(queue).status_code == 403
    assert client_for(tree.users["worker"]).get(queue).status_code == 404
    # The union page links to the queue for those who handle cases there.
    detail = reverse("org_detail", kwargs={"org_id": tree.cd_union.pk})
    assert 'id="org-cases"' in text(client_for(tree.users["cd_union_admin"]).get(detail))
    assert 'id="org-cases"' not in text(client_for(tree.users["chengdu_viewer"]).get(detail))
    # And the menu opens the queue of the highest union the cadre handles cases at.
    home = text(client_for(tree.users["chengdu_admin"]).get(detail))
    assert f'href="{org_url("queue", tree.chengdu)}" id="nav-cases"' in home


def test_a_concealed_case_is_invisible_to_the_employer_union(tree):
    case = file_case(tree, conceal=True, attachments=[pdf()])
    above = case.handling_org  # a federation above the employer's union
    assert not above.is_descendant_of(tree.cd_union)
    attachment = case.attachments.get()
    client = client_for(tree.users["cd_union_admin"])
    assert client.get(url("detail", case)).status_code == 404
    assert client.get(reverse("cases:attachment", args=[attachment.pk])).status_code == 404
    for params in ({"show": "all"}, {"show": "all", "subtree": "1"}):
        assert case.number not in text(client.get(org_url("queue", tree.cd_union), params))
    # The ledger of the employer's union leaves it out too.
    book = load_workbook(io.BytesIO(b"".join(client.get(org_url("ledger", tree.cd_union)))))
    assert case.number not in [row[0] for row in book.active.iter_rows(values_only=True)]
    # The union above handles it, and says what the worker asked.
    city = client_for(tree.users["chengdu_admin"])
    assert case.number in text(city.get(org_url("queue", above)))
    assert "职工要求本单位工会不得看到此诉求" in text(city.get(url("detail", case)))


# --- handling one case ------------------------------------------------------------------


def test_a_handler_works_a_case_through_the_detail_page(tree):
    case = file_case(tree, attachments=[pdf()])
    user = handler(tree)
    client = client_for(user)
    page = client.get(url("detail", case))
    body = text(page)
    assert page.status_code == 200
    assert "张伟" in body and "成都华信机械有限公司工会委员会" in body and case.number in body
    assert reverse("cases:attachment", args=[case.attachments.get().pk]) in body
    assert all(
        name in page.context
        for name in ("accept_form", "assign_form", "close_form", "escalate_form")
    )

    response = client.post(url("accept", case), {"version": case.version})
    assert response.status_code == 302 and response["Location"].startswith(url("detail", case))
    case.refresh_from_db()
    assert case.status == CaseStatus.IN_PROGRESS and case.handler == user

    client.post(url("contact", case), {"text": "已电话联系张伟，了解欠薪情况"})
    client.post(url("note", case), {"text": "内部：该企业去年也有欠薪记录"})
    client.post(url("message", case), {"text": "您好，我们已经联系企业", "attachments": [pdf()]})
    kinds = list(case.events.values_list("kind", flat=True))
    assert kinds[-3:] == [EventKind.CONTACTED, EventKind.NOTE, EventKind.MESSAGE]
    page = client.get(url("detail", case))
    assert "内部：该企业去年也有欠薪记录" in text(page)
    assert "内部备注已添加。" in messages_of(page)

    # Handed to the union's administrator, the case leaves a plain handler's sight: back
    # to the queue.
    admin = tree.users["cd_union_admin"]
    response = client.post(url("assign", case), {"version": case.version, "handler": admin.pk})
    case.refresh_from_db()
    assert case.handler == admin
    assert response["Location"] == org_url("queue", tree.cd_union)
    assert client.get(url("detail", case)).status_code == 404

    client = client_for(admin)
    response = client.post(
        url("close", case),
        {
            "version": case.version,
            "outcome": Outcome.RESOLVED,
            "note": "企业已补发工资",
            "money_recovered": "4200",
            "aid_paid": "",
        },
    )
    case.refresh_from_db()
    assert response.status_code == 302
    assert case.status == CaseStatus.CLOSED and case.money_recovered == 4200 and case.aid_paid == 0
    closed = client.get(url("detail", case))
    assert "close_form" not in closed.context and "accept_form" not in closed.context
    assert "企业已补发工资" in text(closed)


def test_every_action_url_answers_get_with_the_case_page(tree):
    case = file_case(tree)
    client = client_for(tree.users["cd_union_admin"])
    for name in ("accept", "assign", "contact", "note", "message", "escalate", "transfer", "close"):
        response = client.get(url(name, case))
        assert response.status_code == 200 and 'id="tools"' in text(response)
    assert Case.objects.get().version == case.version


def test_a_change_in_between_is_refused_and_the_typing_kept(tree):
    case = file_case(tree)
    client = client_for(tree.users["cd_union_admin"])
    stale = case.version
    services.accept_case(tree.users["chengdu_admin"], case)
    response = client.post(
        url("close", case),
        {
            "version": stale,
            "outcome": Outcome.RESOLVED,
            "note": "企业承诺月底补发",
            "money_recovered": "0",
        },
    )
    assert response.status_code == 200
    assert "该诉求已被他人修改，请刷新后重试。" in messages_of(response)
    assert "企业承诺月底补发" in text(response)
    case.refresh_from_db()
    assert case.status == CaseStatus.IN_PROGRESS
    # The form now carries the version shown: a second, deliberate submit closes it.
    assert response.context["close_form"].data["version"] == str(case.version)


def test_a_refused_close_keeps_the_note(tree):
    case = file_case(tree)
    client = client_for(tree.users["cd_union_admin"])
    response = client.post(
        url("close", case), {"version": case.version, "outcome": "", "note": "已转劳动监察大队"}
    )
    assert response.status_code == 200
    assert response.context["close_form"].errors["outcome"] == ["请选择办理结果。"]
    assert "已转劳动监察大队" in text(response)
    assert Case.objects.get().status == CaseStatus.NEW


def test_escalating_hands_the_case_up_and_returns_to_the_queue(tree):
    case = file_case(tree)
    client = client_for(tree.users["cd_union_admin"])
    response = client.post(url("escalate", case), {"version": case.version, "reason": ""})
    assert response.context["escalate_form"].errors["reason"] == ["请说明提级办理的原因。"]
    response = client.post(
        url("escalate", case), {"version": case.version, "reason": "涉及企业负责人"}
    )
    case.refresh_from_db()
    assert case.handling_org == tree.chunxilu and case.escalations == 1
    # Out of the union's sight now: back to its queue, with the news.
    assert response["Location"] == org_url("queue", tree.cd_union)
    assert "诉求已提交上级工会办理。" in messages_of(client.get(response["Location"]))


def test_a_supervisor_transfers_a_case(tree):
    case = file_case(tree)
    client = client_for(tree.users["chengdu_admin"])
    page = client.get(url("detail", case))
    targets = list(page.context["transfer_form"].fields["to_org"].queryset)
    assert tree.jinjiang in targets and tree.cd_union not in targets
    assert tree.my_union not in targets  # 绵阳 is not the city's to supervise
    response = client.post(
        url("transfer", case),
        {"version": case.version, "to_org": tree.jinjiang.pk, "reason": "涉及多家企业"},
    )
    case.refresh_from_db()
    assert response.status_code == 302 and case.handling_org == tree.jinjiang
    assert case.events.filter(kind=EventKind.TRANSFERRED, to_org=tree.jinjiang).exists()
    # A concealed case is never offered to the employer's union.
    concealed = file_case(tree, conceal=True, title="举报工会主席")
    targets = client.get(url("detail", concealed)).context["transfer_form"]
    assert tree.cd_union not in targets.fields["to_org"].queryset


def test_a_cadre_files_for_a_worker(tree):
    client = client_for(tree.users["cd_union_admin"])
    new = org_url("file_for", tree.cd_union)
    found = client.get(new, {"q": "张伟"})
    assert [m.pk for m in found.context["matches"]] == [tree.cd_member.pk]
    partial = client.get(new, {"q": "王强"}, HTTP_HX_REQUEST="true")
    assert "王强" in text(partial) and "<html" not in text(partial)
    assert client.get(new, {"q": "刘芳"}).context["matches"] == []  # 绵阳's worker
    key = found.context["form"].initial["submission_key"]
    data = {
        **request_form(submission_key=key, title="工伤认定咨询", category=CaseCategory.SAFETY),
        "member": tree.team_member.pk,
        "channel": Channel.PHONE,
        "handle_here": "on",
    }
    response = client.post(new, data)
    case = Case.objects.get()
    assert response["Location"] == url("detail", case)
    assert case.member == tree.team_member and case.channel == Channel.PHONE
    assert case.handling_org == tree.cd_union and case.filed_by == tree.users["cd_union_admin"]


def test_filing_for_a_worker_outside_the_union_is_refused(tree):
    client = client_for(tree.users["cd_union_admin"])
    data = {**request_form(), "member": tree.my_member.pk, "channel": Channel.VISIT}
    response = client.post(org_url("file_for", tree.cd_union), data)
    assert response.status_code == 200
    assert response.context["form"].errors["member"] == ["请选择本工会或下级工会的职工。"]
    assert "三月工资未发" in text(response)
    assert not Case.objects.exists()
    # A viewer may not file at all.
    viewer = client_for(tree.users["chengdu_viewer"])
    assert viewer.get(org_url("file_for", tree.cd_union)).status_code == 403


def test_attachments_download_only_for_allowed_users(tree):
    case = file_case(tree, attachments=[pdf()])
    attachment = case.attachments.get()
    link = reverse("cases:attachment", args=[attachment.pk])
    response = client_for(tree.users["worker"]).get(link)
    assert response.status_code == 200 and b"".join(response.streaming_content) == PDF
    assert client_for(tree.users["cd_union_admin"]).get(link).status_code == 200
    assert client_for(tree.users["mianyang_admin"]).get(link).status_code == 404
    # A worker of another case: 404.
    other = get_user_model().objects.create_user(username="lina")
    tree.cd_member2.user = other
    tree.cd_member2.save(update_fields=["user"])
    assert client_for(other).get(link).status_code == 404
    assert CaseAttachment.objects.count() == 1


# --- figures and ledger -----------------------------------------------------------------


def test_the_figures_page(tree):
    case = file_case(tree)
    file_case(tree, category=CaseCategory.SAFETY, title="车间通风不好")
    services.close_case(
        tree.users["cd_union_admin"],
        case,
        closing=services.Closing(Outcome.RESOLVED, "已补发", money_recovered=4200),
    )
    response = client_for(tree.users["chengdu_admin"]).get(org_url("figures", tree.jinjiang))
    body = text(response)
    assert response.status_code == 200
    total = response.context["total"]
    assert total.get("cases.filed") == 2 and total.get("cases.closed") == 1
    assert total.by_category[CaseCategory.WAGES] == 1
    assert total.get("cases.money_recovered") == 4200
    assert 'data-figure="filed">2<' in body and 'data-figure="money">4200<' in body
    # Each child row drills down to the child's own figures.
    assert org_url("figures", tree.chunxilu) in body
    assert "办理工会" in body  # figures count at the handling union, and say so
    # Outside scope: 404.
    assert (
        client_for(tree.users["mianyang_admin"]).get(org_url("figures", tree.jinjiang)).status_code
        == 404
    )


def test_the_figures_page_says_30_plus_when_the_median_is_over_the_cap(tree, monkeypatch):
    from gonghui.cases import selectors

    monkeypatch.setattr(selectors.CaseFigures, "median_days", property(lambda self: 31))
    body = text(client_for(tree.users["chengdu_admin"]).get(org_url("figures", tree.chengdu)))
    assert 'data-figure="median_days">30+<' in body


def test_the_ledger_is_an_xlsx_whose_rows_match_and_is_audit_logged(tree):
    wages = file_case(tree)
    services.close_case(
        tree.users["cd_union_admin"],
        wages,
        closing=services.Closing(Outcome.RESOLVED, "已补发", money_recovered=4200),
    )
    file_case(tree, category=CaseCategory.SAFETY, title="车间通风不好")
    response = client_for(tree.users["chengdu_admin"]).get(org_url("ledger", tree.chengdu))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    header, body = rows[0], rows[1:]
    assert header[:4] == ("诉求编号", "类别", "标题", "职工")
    by_number = {row[0]: row for row in body}
    assert set(by_number) == set(Case.objects.values_list("number", flat=True))
    row = by_number[wages.number]
    assert row[1] == "拖欠工资" and row[2] == "三月工资未发"
    assert row[3] == "张*"  # masked: the city admin may not export personal data
    assert row[5] == "成都华信机械有限公司工会委员会" and row[6] == "已办结"
    assert row[12] == "已解决" and row[14] == 4200
    entry = AuditEntry.objects.get(action=AuditAction.EXPORT)
    assert entry.actor == tree.users["chengdu_admin"] and entry.org_id == tree.chengdu.pk
    # A role with the personal-data grant sees the name.
    province = client_for(tree.users["province_admin"]).get(org_url("ledger", tree.province))
    rows = list(
        load_workbook(io.BytesIO(b"".join(province.streaming_content))).active.iter_rows(
            values_only=True
        )
    )
    assert {row[3] for row in rows[1:]} == {"张伟"}
    assert AuditEntry.objects.filter(action=AuditAction.EXPORT).count() == 2
    # No case role there: refused.
    assert (
        client_for(tree.users["chengdu_viewer"]).get(org_url("ledger", tree.chengdu)).status_code
        == 403
    )


# --- hardship aid files -----------------------------------------------------------------


def hardship_form(tree: Any, **overrides: Any) -> dict[str, Any]:
    import datetime

    data = {
        "member": tree.cd_member2.pk,
        "level": "deep",
        "causes": ["illness", "schooling"],
        "family_size": "4",
        "monthly_income_per_capita": "650",
        "situation": "丈夫重病住院，两个孩子上学，家庭收入仅靠本人工资。",
        "review_due": (datetime.date.today() + datetime.timedelta(days=180)).isoformat(),
        "case_number": "",
    }
    data.update(overrides)
    return data


def test_hardship_files_are_opened_reviewed_aided_and_lifted(tree):
    client = client_for(tree.users["cd_union_admin"])
    new = org_url("hardship_new", tree.cd_union)
    assert [m.pk for m in client.get(new, {"q": "李娜"}).context["matches"]] == [tree.cd_member2.pk]
    response = client.post(new, hardship_form(tree))
    file = HardshipFile.objects.get()
    assert response["Location"] == reverse("cases:hardship_detail", args=[file.pk])
    assert file.member == tree.cd_member2 and file.causes == ["illness", "schooling"]

    listing = text(client.get(org_url("hardship_list", tree.cd_union)))
    assert "李娜" in listing and "深度困难" in listing
    detail = client.get(response["Location"])
    assert "丈夫重病住院" in text(detail) and "大病" in text(detail)

    aid = reverse("cases:hardship_aid", args=[file.pk])
    today = detail.context["today"].isoformat()
    response = client.post(
        aid, {"kind": "cash", "amount": "2000", "given_on": today, "org": tree.cd_union.pk}
    )
    assert response.status_code == 302
    assert file.aid.get().amount == 2000

    review = reverse("cases:hardship_review", args=[file.pk])
    data = hardship_form(tree, family_size="3", version=str(file.version))
    assert client.post(review, data).status_code == 302
    file.refresh_from_db()
    assert file.family_size == 3 and file.reviewed_on is not None

    lift = reverse("cases:hardship_lift", args=[file.pk])
    response = client.post(lift, {"version": file.version, "reason": ""})
    assert response.context["lift_form"].errors["reason"] == ["请说明脱困原因。"]
    assert client.post(lift, {"version": file.version, "reason": "丈夫康复返岗"}).status_code == 302
    file.refresh_from_db()
    assert file.status == HardshipStatus.LIFTED


def test_a_refused_hardship_file_keeps_what_was_typed(tree):
    client = client_for(tree.users["cd_union_admin"])
    new = org_url("hardship_new", tree.cd_union)
    response = client.post(new, hardship_form(tree, situation="生病", family_size="5"))
    assert response.status_code == 200
    assert response.context["form"].errors["situation"] == ["请至少用10个字描述家庭情况。"]
    assert "生病" in text(response) and 'value="5"' in text(response)
    assert client.post(new, hardship_form(tree)).status_code == 302
    response = client.post(new, hardship_form(tree))
    assert response.context["form"].errors["member"] == ["李娜已有在档的困难职工档案。"]
    assert HardshipFile.objects.count() == 1


def test_hardship_files_are_opened_from_a_case(tree):
    case = file_case(tree, category=CaseCategory.HARDSHIP, title="家里困难")
    client = client_for(tree.users["cd_union_admin"])
    detail = text(client.get(url("detail", case)))
    link = f"{org_url('hardship_new', tree.cd_union)}?case={case.pk}"
    assert link in detail
    form = client.get(link).context["form"]
    assert form.initial == {"member": tree.cd_member.pk, "case_number": case.number}
    response = client.post(
        org_url("hardship_new", tree.cd_union),
        hardship_form(tree, member=tree.cd_member.pk, case_number=case.number),
    )
    assert response.status_code == 302
    assert HardshipFile.objects.get().case == case


def test_hardship_file_access(tree):
    file = services.open_hardship_file(
        tree.users["cd_union_admin"],
        member=tree.cd_member2,
        org=tree.cd_union,
        data=services.HardshipInput(
            "relative", ["illness"], 3, 900, "本人患病，需长期服药治疗。", _in_days(90)
        ),
    )
    detail = reverse("cases:hardship_detail", args=[file.pk])
    assert client_for(tree.users["mianyang_admin"]).get(detail).status_code == 404
    assert client_for(tree.users["worker"]).get(detail).status_code == 404
    # Staff have no hardship grant: the list is refused, the file is not found.
    staff = client_for(tree.users["chengdu_staff"])
    assert staff.get(org_url("hardship_list", tree.cd_union)).status_code == 403
    assert staff.get(detail).status_code == 404
    assert client_for(tree.users["chengdu_admin"]).get(detail).status_code == 200


def _in_days(days: int) -> Any:
    import datetime

    return datetime.date.today() + datetime.timedelta(days=days)


def test_case_events_are_never_shown_across_cities(tree):
    case = file_case(tree)
    client = client_for(tree.users["mianyang_admin"])
    assert client.get(url("detail", case)).status_code == 404
    assert client.get(url("mine_detail", case)).status_code == 404
    assert client.post(url("note", case), {"text": "x"}).status_code == 404
    assert not CaseEvent.objects.filter(kind=EventKind.NOTE).exists()
