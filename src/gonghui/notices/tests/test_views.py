"""The notice pages as the unions use them: an org's notices, composing and issuing, a
union's copy (acknowledge, relay, plan, report, review), supervision, the ledger and the
messages. Each page for the right people, each refusal, nothing typed lost."""

from __future__ import annotations

import datetime
import io
import zipfile
from decimal import Decimal
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from openpyxl import load_workbook

from gonghui.accounts.models import Notification
from gonghui.audit.models import AuditAction, AuditEntry
from gonghui.notices import services
from gonghui.notices.models import (
    Attachment,
    Dispatch,
    Evidence,
    Measure,
    Notice,
    NoticeStatus,
    Relay,
    Reminder,
    Report,
    ReportStatus,
)
from gonghui.notices.services import RequirementInput
from gonghui.orgs import services as org_services
from gonghui.orgs.models import OrgKind
from gonghui.orgs.scoping import SYSTEM

PDF = b"%PDF-1.4 test\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 16


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def day(n: int) -> datetime.date:
    return datetime.date.today() + datetime.timedelta(days=n)


def pdf(name: str = "方案.pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PDF, content_type="application/pdf")


def text(response: Any) -> str:
    return response.content.decode()


def draft(tree: Any, **overrides: Any) -> Notice:
    kwargs: dict[str, Any] = {
        "actor": tree.users["province_admin"],
        "issuer": tree.province,
        "title": "关于开展职工技能培训的通知",
        "doc_number": "川工发〔2026〕12号",
        "body": "<p>各市（州）总工会：</p>",
        "ack_due": day(5),
        "report_due": day(20),
        "requirements": [
            RequirementInput("lecture", "宣讲进企业", Measure.PER_UNIT, Decimal(1), "grassroots"),
            RequirementInput("study", "干部学习", Measure.SHARE, Decimal(80)),
        ],
    }
    kwargs.update(overrides)
    return services.create_notice(**kwargs)


def issued(tree: Any, **overrides: Any) -> Notice:
    return services.issue_notice(
        actor=tree.users["province_admin"], notice=draft(tree, **overrides)
    )


def at(notice: Notice, org: Any) -> Dispatch:
    return Dispatch.objects.get(notice=notice, org=org)


def notice_post(**overrides: Any) -> dict[str, Any]:
    data = {
        "title": "关于开展劳动和技能竞赛的通知",
        "doc_number": "川工发〔2026〕30号",
        "body": "<div>请<strong>认真组织</strong><script>alert(1)</script></div>",
        "audience_kinds": ["city", "grassroots"],
        "audience_codes": "",
        "requires_ack": "on",
        "ack_due": day(3).isoformat(),
        "report_due": day(30).isoformat(),
        "req-TOTAL_FORMS": "2",
        "req-INITIAL_FORMS": "0",
        "req-MIN_NUM_FORMS": "0",
        "req-MAX_NUM_FORMS": "50",
        "req-0-kind": "competition",
        "req-0-title": "每个基层工会举办一次技能比武",
        "req-0-measure": "per_unit",
        "req-0-threshold": "1",
        "req-0-unit_kind": "grassroots",
        "req-0-due": day(25).isoformat(),
        "req-1-kind": "study",
        "req-1-title": "",
        "req-1-measure": "none",
    }
    data.update(overrides)
    return data


# --- an org's notices --------------------------------------------------------------------------


def test_inbox_puts_unread_first_and_shows_status_badges(tree):
    first = issued(tree, title="第一份通知", doc_number="川工发〔2026〕1号")
    second = issued(
        tree, title="第二份通知", doc_number="川工发〔2026〕2号", ack_due=day(1), report_due=day(2)
    )
    client = client_for(tree.users["chengdu_admin"])
    # Opening the first one marks it read for 成都; acknowledging it shows as a badge.
    client.get(reverse("dispatch_detail", args=[at(first, tree.chengdu).pk]))
    client.post(reverse("dispatch_acknowledge", args=[at(first, tree.chengdu).pk]))
    response = client.get(reverse("org_notices", args=[tree.chengdu.pk]))
    assert response.status_code == 200
    inbox = list(response.context["inbox"])
    assert [d.notice.title for d in inbox] == ["第二份通知", "第一份通知"]
    assert [[b.label for b in d.badges] for d in inbox] == [
        ["未读", "即将截止签收", "即将截止报送"],
        ["已签收"],
    ]
    body = text(response)
    assert "川工发〔2026〕2号" in body and "四川省总工会" in body
    assert f'href="/dispatches/{at(second, tree.chengdu).pk}/"' in body
    # 成都 issued nothing; the page says so and offers a new notice.
    assert response.context["issued"].paginator.count == 0
    assert reverse("notice_create", args=[tree.chengdu.pk]) in body


def test_overdue_and_reported_badges(tree):
    notice = issued(tree)
    Dispatch.objects.filter(notice=notice, org=tree.jinjiang).update(ack_due=day(-1))
    d = at(notice, tree.cd_union)
    services.save_plan(actor=tree.users["cd_union_admin"], dispatch=d, plan="三月宣讲")
    services.submit_report(
        actor=tree.users["cd_union_admin"],
        dispatch=d,
        figures_values={},
        narrative="已宣讲",
        submission_key="k",
    )
    jinjiang = client_for(tree.users["chengdu_admin"]).get(
        reverse("org_notices", args=[tree.jinjiang.pk])
    )
    assert [b.label for b in jinjiang.context["inbox"][0].badges] == ["未读", "签收逾期"]
    union = client_for(tree.users["cd_union_admin"]).get(
        reverse("org_notices", args=[tree.cd_union.pk])
    )
    # Reporting acknowledges (and so reads) the notice as well.
    assert [b.label for b in union.context["inbox"][0].badges] == [
        "已签收",
        "已制定方案",
        "已报送",
    ]


def test_issued_list_shows_drafts_and_issued_notices_to_the_issuer_only(tree):
    draft(tree, title="草稿通知", doc_number="")
    issued(tree, title="已发通知")
    response = client_for(tree.users["province_admin"]).get(
        reverse("org_notices", args=[tree.province.pk])
    )
    # Drafts first: they are the ones still to be worked on.
    assert [n.title for n in response.context["issued"]] == ["草稿通知", "已发通知"]
    assert {n.status for n in response.context["issued"]} == {"draft", "issued"}
    body = text(response)
    assert "草稿" in body and "已下发" in body
    # A city cadre cannot open the province's page at all.
    other = client_for(tree.users["chengdu_admin"])
    assert other.get(reverse("org_notices", args=[tree.province.pk])).status_code == 404
    assert other.get(reverse("org_notices", args=[tree.mianyang.pk])).status_code == 404


def test_my_notices_goes_to_the_users_union(tree):
    response = client_for(tree.users["cd_union_admin"]).get(reverse("my_notices"))
    assert response.status_code == 302
    assert response["Location"] == reverse("org_notices", args=[tree.cd_union.pk])
    assert client_for(tree.users["nobody"]).get(reverse("my_notices")).status_code == 404


def test_inbox_query_count_does_not_grow_with_notices(tree, django_assert_max_num_queries):
    issued(tree, doc_number="川工发〔2026〕1号")
    client = client_for(tree.users["cd_union_admin"])
    url = reverse("org_notices", args=[tree.cd_union.pk])
    with django_assert_max_num_queries(12):
        client.get(url)
    for n in range(2, 10):
        issued(tree, doc_number=f"川工发〔2026〕{n}号", title=f"通知{n}")
    with django_assert_max_num_queries(12):
        response = client.get(url)
    assert response.context["inbox"].paginator.count == 9


# --- composing -----------------------------------------------------------------------------------


def test_compose_saves_a_draft_with_requirements_and_attachments(tree):
    client = client_for(tree.users["province_admin"])
    url = reverse("notice_create", args=[tree.province.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert 'trix-editor input="id_body"' in text(page)
    assert "/static/vendor/trix/trix.umd.min.js" in text(page)
    data = notice_post(attachments=[pdf("附件1.pdf"), SimpleUploadedFile("图.png", PNG)])
    response = client.post(url, data)
    notice = Notice.objects.get(title="关于开展劳动和技能竞赛的通知")
    assert response.status_code == 302
    assert response["Location"] == reverse("notice_detail", args=[notice.pk])
    assert notice.status == NoticeStatus.DRAFT and notice.issuer == tree.province
    assert notice.audience_kinds == ["city", "grassroots"]
    assert notice.body == "<div>请<strong>认真组织</strong></div>"  # the script is gone
    assert [
        (r.kind, r.title, r.measure, r.threshold, r.unit_kind, r.due)
        for r in notice.requirements.all()
    ] == [
        (
            "competition",
            "每个基层工会举办一次技能比武",
            "per_unit",
            Decimal(1),
            "grassroots",
            day(25),
        )
    ]
    assert sorted(a.name for a in notice.attachments.all()) == ["图.png", "附件1.pdf"]
    detail = client.get(response["Location"])
    body = text(detail)
    assert "每个基层工会举办一次技能比武" in body
    assert "每个基层工会 ≥1" in body
    assert "附件1.pdf" in body and "<strong>认真组织</strong>" in body
    assert reverse("notice_issue", args=[notice.pk]) in body


def test_compose_keeps_everything_typed_when_a_file_is_refused(tree):
    client = client_for(tree.users["province_admin"])
    url = reverse("notice_create", args=[tree.province.pk])
    data = notice_post(attachments=[SimpleUploadedFile("程序.exe", b"MZ...")])
    response = client.post(url, data)
    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors["attachments"] == ["程序.exe：只能附加 PDF、Word 和图片文件（jpg、png）。"]
    assert form.data["title"] == "关于开展劳动和技能竞赛的通知"
    assert response.context["formset"].forms[0]["title"].value() == "每个基层工会举办一次技能比武"
    body = text(response)
    assert 'value="关于开展劳动和技能竞赛的通知"' in body
    assert "每个基层工会举办一次技能比武" in body
    assert not Notice.objects.exists()
    # A renamed program is no PDF either.
    response = client.post(url, notice_post(attachments=[SimpleUploadedFile("a.pdf", b"MZ")]))
    assert response.context["form"].errors["attachments"] == ["a.pdf 并不是真正的 pdf 文件。"]
    assert not Notice.objects.exists()


def test_compose_shows_service_refusals_on_the_form(tree):
    client = client_for(tree.users["chengdu_admin"])
    url = reverse("notice_create", args=[tree.chengdu.pk])
    # A union outside the city's subtree, by its code: not found in scope.
    response = client.post(url, notice_post(audience_codes="510703001001"))
    assert response.context["form"].errors["audience_codes"] == [
        "您的管理范围内没有编码为 510703001001 的工会组织。"
    ]
    # A target per union without saying which kind of union.
    response = client.post(url, notice_post(**{"req-0-unit_kind": ""}))
    assert response.context["form"].non_field_errors() == ["第 1 项要求：请说明在哪一类工会。"]
    assert response.context["formset"].forms[0]["title"].value() == "每个基层工会举办一次技能比武"
    # The city itself is not below the city.
    response = client.post(url, notice_post(audience_codes="5101"))
    assert response.context["form"].errors["audience_codes"] == [
        "成都市总工会 不在 成都市总工会 之下；通知只能发往发文单位的下级。"
    ]
    assert not Notice.objects.exists()
    response = client.post(url, notice_post(audience_codes="510104001001, 510104"))
    notice = Notice.objects.get()
    assert response.status_code == 302
    assert sorted(o.code for o in notice.audience_orgs.all()) == ["510104", "510104001001"]


def test_only_cadres_who_may_issue_compose(tree):
    url = reverse("notice_create", args=[tree.chengdu.pk])
    assert client_for(tree.users["chengdu_viewer"]).get(url).status_code == 403
    assert client_for(tree.users["chengdu_viewer"]).post(url, notice_post()).status_code == 403
    assert client_for(tree.users["mianyang_admin"]).get(url).status_code == 404
    assert client_for(tree.users["cd_union_admin"]).get(url).status_code == 404
    assert not Notice.objects.exists()


def test_edit_a_draft_with_its_version_and_remove_an_attachment(tree):
    notice = draft(tree)
    services.add_attachment(actor=tree.users["province_admin"], notice=notice, upload=pdf())
    client = client_for(tree.users["province_admin"])
    url = reverse("notice_edit", args=[notice.pk])
    page = client.get(url)
    assert page.context["form"].initial["title"] == "关于开展职工技能培训的通知"
    assert [f["title"].value() for f in page.context["formset"].forms] == [
        "宣讲进企业",
        "干部学习",
        None,
    ]
    data = notice_post(version=notice.version, title="关于开展职工技能培训的通知（修改）")
    stale = notice_post(version=notice.version, title="另一个人的修改")
    assert client.post(url, data).status_code == 302
    notice.refresh_from_db()
    assert notice.title == "关于开展职工技能培训的通知（修改）" and notice.version == 2
    assert [r.title for r in notice.requirements.all()] == ["每个基层工会举办一次技能比武"]
    # A second edit from the same old page: refused, with what was typed kept.
    response = client.post(url, stale)
    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [
        "有人刚刚修改了这份通知。请重新加载后再编辑。"
    ]
    assert response.context["form"].data["title"] == "另一个人的修改"
    # Removing the attachment: a confirmation page, then gone.
    attachment = notice.attachments.get()
    remove = reverse("attachment_remove", args=[notice.pk, attachment.pk])
    assert "移除 方案.pdf？" in text(client.get(remove))
    assert client.post(remove)["Location"] == url
    assert not Attachment.objects.exists()


def test_an_issued_notice_is_not_edited_but_corrected(tree):
    notice = issued(tree)
    client = client_for(tree.users["province_admin"])
    locked = client.get(reverse("notice_edit", args=[notice.pk]))
    assert locked.status_code == 200
    assert "通知已下发" in text(locked)
    assert reverse("notice_correct", args=[notice.pk]) in text(locked)
    response = client.post(reverse("notice_edit", args=[notice.pk]), notice_post(version=2))
    assert response.status_code == 200
    notice.refresh_from_db()
    assert notice.title == "关于开展职工技能培训的通知"
    # The correction form starts from the original; the result is a linked draft.
    url = reverse("notice_correct", args=[notice.pk])
    page = client.get(url)
    assert page.context["form"].initial["title"] == notice.title
    assert page.context["form"].initial["doc_number"] == ""
    response = client.post(url, notice_post(title="关于开展职工技能培训的更正通知", doc_number=""))
    correction = Notice.objects.get(corrects=notice)
    assert response["Location"] == reverse("notice_detail", args=[correction.pk])
    assert correction.is_draft and correction.title == "关于开展职工技能培训的更正通知"
    original = client.get(reverse("notice_detail", args=[notice.pk]))
    assert [c.pk for c in original.context["corrections"]] == [correction.pk]
    # A receiving union sees the notice but cannot correct it.
    assert client_for(tree.users["chengdu_admin"]).get(url).status_code == 403


# --- issuing and closing -----------------------------------------------------------------------


def test_issue_shows_the_audience_size_first_then_issues(tree):
    notice = draft(tree, audience_kinds=["grassroots", "team"])
    client = client_for(tree.users["province_admin"])
    url = reverse("notice_issue", args=[notice.pk])
    page = client.get(url)
    assert page.context["audience_size"] == 3 == services.audience(notice).count()
    assert '<div class="n" id="audience-size">3</div>' in text(page)
    assert "下发给 3 个工会" in text(page)
    assert not Dispatch.objects.exists()
    response = client.post(url)
    assert response["Location"] == reverse("notice_detail", args=[notice.pk])
    notice.refresh_from_db()
    assert notice.status == NoticeStatus.ISSUED and notice.audience_size == 3
    assert sorted(Dispatch.objects.values_list("org__code", flat=True)) == [
        "510104001001",
        "510104001001B1T1",
        "510703001001",
    ]
    # A second click issues nothing more.
    client.post(url)
    assert Dispatch.objects.count() == 3


def test_issue_refusal_is_shown_on_the_confirmation(tree):
    notice = draft(tree, requires_ack=True, ack_due=None)
    response = client_for(tree.users["province_admin"]).post(
        reverse("notice_issue", args=[notice.pk])
    )
    assert response.status_code == 200
    assert response.context["errors"] == ["请给出签收期限，或者不要求签收。"]
    assert not Dispatch.objects.exists()
    viewer = client_for(tree.users["chengdu_viewer"])
    chengdu_draft = draft(
        tree, actor=tree.users["chengdu_admin"], issuer=tree.chengdu, doc_number=""
    )
    assert viewer.post(reverse("notice_issue", args=[chengdu_draft.pk])).status_code == 403
    assert (
        client_for(tree.users["mianyang_admin"])
        .get(reverse("notice_issue", args=[chengdu_draft.pk]))
        .status_code
        == 404
    )
    assert Notice.objects.get(pk=chengdu_draft.pk).is_draft


def test_close_a_notice(tree):
    notice = issued(tree)
    client = client_for(tree.users["province_admin"])
    url = reverse("notice_close", args=[notice.pk])
    assert client_for(tree.users["chengdu_admin"]).post(url).status_code == 403
    assert "关闭后" in text(client.get(url))
    assert client.post(url)["Location"] == reverse("notice_detail", args=[notice.pk])
    notice.refresh_from_db()
    assert notice.status == NoticeStatus.CLOSED
    assert client.post(url).status_code == 302  # a double click changes nothing
    # A draft cannot be closed: the page says why.
    plan = draft(tree, doc_number="")
    refused = client.post(reverse("notice_close", args=[plan.pk]))
    assert refused.context["errors"] == ["只有已下发的通知才能关闭。"]
    assert Notice.objects.get(pk=plan.pk).is_draft


# --- the notice ----------------------------------------------------------------------------------


def test_notice_page_for_issuer_and_receivers(tree):
    notice = issued(tree)
    province = client_for(tree.users["province_admin"]).get(
        reverse("notice_detail", args=[notice.pk])
    )
    body = text(province)
    assert province.context["issuer_side"] is True
    assert reverse("supervision", args=[notice.pk, tree.province.pk]) in body
    assert reverse("ledger_export", args=[notice.pk, tree.province.pk]) in body
    assert "宣讲进企业" in body and "会员覆盖率 ≥80%" in body
    # 成都 received it: sees the text and its own copy, not the province's supervision.
    city = client_for(tree.users["chengdu_admin"]).get(reverse("notice_detail", args=[notice.pk]))
    assert city.status_code == 200
    assert city.context["issuer_side"] is False
    assert [d.org for d in city.context["mine"]] == [tree.chengdu]
    assert reverse("supervision", args=[notice.pk, tree.province.pk]) not in text(city)
    # Nobody outside sees a draft; a worker sees nothing.
    chengdu_draft = draft(
        tree, actor=tree.users["chengdu_admin"], issuer=tree.chengdu, doc_number=""
    )
    url = reverse("notice_detail", args=[chengdu_draft.pk])
    assert client_for(tree.users["mianyang_admin"]).get(url).status_code == 404
    assert client_for(tree.users["cd_union_admin"]).get(url).status_code == 404
    worker = client_for(tree.users["worker"])
    assert worker.get(reverse("notice_detail", args=[notice.pk])).status_code == 404


def test_attachments_download_for_those_who_see_the_notice(tree):
    notice = draft(tree)
    attachment = services.add_attachment(
        actor=tree.users["province_admin"], notice=notice, upload=pdf("通知原文.pdf")
    )
    url = reverse("attachment_download", args=[notice.pk, attachment.pk])
    # A draft's file: only the issuer's side.
    assert client_for(tree.users["mianyang_admin"]).get(url).status_code == 404
    services.issue_notice(actor=tree.users["province_admin"], notice=notice)
    response = client_for(tree.users["mianyang_admin"]).get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF
    assert response["Content-Type"] == "application/pdf"
    assert client_for(tree.users["worker"]).get(url).status_code == 404


# --- a union's dispatch --------------------------------------------------------------------------


def test_dispatch_page_marks_read_for_the_union_only(tree):
    notice = issued(tree)
    d = at(notice, tree.cd_union)
    url = reverse("dispatch_detail", args=[d.pk])
    upper = client_for(tree.users["chengdu_admin"]).get(url)
    assert upper.status_code == 200
    d.refresh_from_db()
    assert d.read_at is None  # a cadre above reading it does not count
    assert upper.context["can_handle"] is False and upper.context["plan_form"] is None
    own = client_for(tree.users["cd_union_admin"]).get(url)
    d.refresh_from_db()
    assert d.read_at is not None
    assert own.context["can_handle"] is True
    body = text(own)
    assert 'id="acknowledge"' in body and "关于开展职工技能培训的通知" in body
    assert client_for(tree.users["mianyang_admin"]).get(url).status_code == 404
    assert client_for(tree.users["worker"]).get(url).status_code == 404


def test_acknowledge_by_the_union_only(tree):
    notice = issued(tree)
    d = at(notice, tree.cd_union)
    url = reverse("dispatch_acknowledge", args=[d.pk])
    assert client_for(tree.users["chengdu_admin"]).post(url).status_code == 403
    assert client_for(tree.users["mianyang_admin"]).post(url).status_code == 404
    d.refresh_from_db()
    assert d.acknowledged_at is None
    response = client_for(tree.users["cd_union_admin"]).post(url, follow=True)
    d.refresh_from_db()
    assert d.acknowledged_at is not None and d.acknowledged_by == tree.users["cd_union_admin"]
    assert [str(m) for m in response.context["messages"]] == ["已签收。"]
    assert 'id="acknowledge"' not in text(response)


def test_relay_with_extra_requirements_and_earlier_deadlines(tree):
    notice = issued(tree)
    d = at(notice, tree.chengdu)
    client = client_for(tree.users["chengdu_admin"])
    url = reverse("dispatch_relay", args=[d.pk])
    assert client.get(url).status_code == 200
    data = {
        "doc_number": "成工发〔2026〕8号",
        "note": "请各区县认真落实",
        "ack_due": day(4).isoformat(),
        "report_due": day(25).isoformat(),  # later than the province's day(20)
        "req-TOTAL_FORMS": "1",
        "req-INITIAL_FORMS": "0",
        "req-0-kind": "service",
        "req-0-title": "走访慰问困难职工",
        "req-0-measure": "total",
        "req-0-threshold": "10",
    }
    response = client.post(url, data)
    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [
        f"报送期限不能晚于上级给您的期限 {day(20).isoformat()}。"
    ]
    assert response.context["form"].data["note"] == "请各区县认真落实"
    assert response.context["formset"].forms[0]["title"].value() == "走访慰问困难职工"
    assert not Relay.objects.exists()
    data["report_due"] = day(15).isoformat()
    response = client.post(url, data)
    assert response["Location"] == reverse("dispatch_detail", args=[d.pk])
    relay = Relay.objects.get()
    assert (relay.org, relay.doc_number, relay.ack_due, relay.report_due) == (
        tree.chengdu,
        "成工发〔2026〕8号",
        day(4),
        day(15),
    )
    assert [r.title for r in relay.requirements.all()] == ["走访慰问困难职工"]
    below = at(notice, tree.cd_union)
    assert (below.ack_due, below.report_due) == (day(4), day(15))
    # The union below sees the chain: the province, then 成都 with its addition.
    page = client_for(tree.users["cd_union_admin"]).get(reverse("dispatch_detail", args=[below.pk]))
    chain = page.context["chain"]
    assert [(s.org.name, [r.title for r in s.requirements]) for s in chain] == [
        ("四川省总工会", ["宣讲进企业", "干部学习"]),
        ("成都市总工会", ["走访慰问困难职工"]),
    ]
    body = text(page)
    assert "成工发〔2026〕8号" in body and "请各区县认真落实" in body
    # Relaying is for the union's own cadres, once.
    assert client_for(tree.users["province_admin"]).get(url).status_code == 403
    again = client.post(url, data)
    assert again.context["already"] == relay
    assert Relay.objects.count() == 1


def test_plan_keeps_input_and_saves(tree):
    notice = issued(tree)
    d = at(notice, tree.cd_union)
    client = client_for(tree.users["cd_union_admin"])
    url = reverse("dispatch_plan", args=[d.pk])
    response = client.post(url, {"plan": "   "})
    assert response.status_code == 200
    assert response.context["plan_form"].errors["plan"] == ["这个字段是必填项。"]
    assert client_for(tree.users["chengdu_admin"]).post(url, {"plan": "x"}).status_code == 403
    response = client.post(url, {"plan": "三月在各车间宣讲两次"})
    assert response["Location"] == reverse("dispatch_detail", args=[d.pk])
    d.refresh_from_db()
    assert d.plan == "三月在各车间宣讲两次" and d.planned_at is not None


def report_data(client: Client, d: Dispatch, **overrides: Any) -> dict[str, Any]:
    page = client.get(reverse("dispatch_detail", args=[d.pk]))
    form = page.context["report_form"]
    data = {
        "submission_key": form.initial["submission_key"],
        "narrative": "举办宣讲 2 场，覆盖全体会员",
        **{name: form[name].value() for name, _code in form.figure_names},
    }
    data.update(overrides)
    return data


def test_report_is_prefilled_from_records_and_a_double_submit_makes_one(tree):
    notice = issued(tree)
    d = at(notice, tree.cd_union)
    client = client_for(tree.users["cd_union_admin"])
    page = client.get(reverse("dispatch_detail", args=[d.pk]))
    form = page.context["report_form"]
    # Three members joined 华信 and its team today, since the notice was issued.
    assert form["fig_members.joined"].value() == 3
    assert len(form.initial["submission_key"]) == 32
    assert 'name="submission_key"' in text(page)
    data = report_data(client, d, **{"fig_members.joined": "5"})
    data["evidence"] = [pdf("签到表.pdf")]
    url = reverse("dispatch_report", args=[d.pk])
    first = client.post(url, data)
    data["evidence"] = [pdf("签到表.pdf")]
    second = client.post(url, data)
    assert first.status_code == second.status_code == 302
    report = Report.objects.get()
    assert report.figures["members.joined"] == 5
    assert report.figures["activities.held"] == 0  # pre-filled from the (empty) records
    assert report.narrative == "举办宣讲 2 场，覆盖全体会员"
    assert [e.name for e in report.evidence.all()] == ["签到表.pdf"]
    d.refresh_from_db()
    assert d.report_status == ReportStatus.SUBMITTED
    after = client.get(reverse("dispatch_detail", args=[d.pk]))
    assert after.context["report_form"] is None
    assert "报送正在审核中。" in text(after)


def test_report_errors_keep_the_figures_and_the_narrative(tree):
    notice = issued(tree)
    d = at(notice, tree.cd_union)
    client = client_for(tree.users["cd_union_admin"])
    url = reverse("dispatch_report", args=[d.pk])
    data = report_data(client, d, narrative="", **{"fig_members.joined": "7"})
    response = client.post(url, data)
    assert response.status_code == 200
    form = response.context["report_form"]
    assert form.errors["narrative"] == ["这个字段是必填项。"]
    assert form["fig_members.joined"].value() == "7"
    data = report_data(client, d, narrative="做了很多", **{"fig_members.joined": "-1"})
    response = client.post(url, data)
    assert response.context["report_form"]["narrative"].value() == "做了很多"
    assert response.context["report_form"].errors["fig_members.joined"]
    data = report_data(client, d, narrative="做了很多")
    data["evidence"] = [SimpleUploadedFile("照片.gif", b"GIF89a")]
    response = client.post(url, data)
    assert response.context["report_form"].errors["evidence"] == [
        "照片.gif：只能附加 PDF、Word 和图片文件（jpg、png）。"
    ]
    assert response.context["report_form"]["narrative"].value() == "做了很多"
    assert not Report.objects.exists()
    # Only the union's own cadres report.
    other = client_for(tree.users["chengdu_admin"]).post(url, report_data(client, d))
    assert other.status_code == 403
    assert not Report.objects.exists()


def submit(tree: Any, d: Dispatch, key: str = "k1", narrative: str = "已完成") -> Report:
    return services.submit_report(
        actor=tree.users["cd_union_admin"],
        dispatch=d,
        figures_values={"members.joined": 3},
        narrative=narrative,
        submission_key=key,
        evidence=[pdf("照片.pdf")],
    )


def test_review_accept_and_return_by_the_unions_above_only(tree):
    notice = issued(tree)
    d = at(notice, tree.cd_union)
    report = submit(tree, d)
    url = reverse("report_review", args=[report.pk])
    # The union itself does not review its own report; 绵阳 does not see it.
    assert (
        client_for(tree.users["cd_union_admin"]).post(url, {"decision": "accept"}).status_code
        == 403
    )
    assert (
        client_for(tree.users["mianyang_admin"]).post(url, {"decision": "accept"}).status_code
        == 404
    )
    reviewer = client_for(tree.users["chengdu_admin"])
    page = reviewer.get(reverse("dispatch_detail", args=[d.pk]))
    assert page.context["review_form"] is not None
    assert "<th>入会</th>" in text(page)
    # Returning needs a comment; what was typed stays.
    response = reviewer.post(url, {"decision": "return", "comment": "  "})
    assert response.status_code == 200
    assert response.context["review_form"].errors["comment"] == ["请说明退回的理由。"]
    response = reviewer.post(url, {"decision": "return", "comment": "请补充照片"})
    assert response["Location"] == reverse("dispatch_detail", args=[d.pk])
    report.refresh_from_db()
    assert report.status == ReportStatus.RETURNED and report.review_comment == "请补充照片"
    # The union gets the report back pre-filled as it was sent, and resubmits.
    union = client_for(tree.users["cd_union_admin"])
    page = union.get(reverse("dispatch_detail", args=[d.pk]))
    form = page.context["report_form"]
    assert form.initial["narrative"] == "已完成"
    assert "请补充照片" in text(page)
    second = submit(tree, d, key="k2", narrative="已完成，附照片")
    response = reviewer.post(
        reverse("report_review", args=[second.pk]), {"decision": "accept", "comment": ""}
    )
    assert response.status_code == 302
    d.refresh_from_db()
    assert d.report_status == ReportStatus.ACCEPTED and d.accepted_at is not None
    history = union.get(reverse("dispatch_detail", args=[d.pk])).context["reports"]
    assert [(r.narrative, r.status) for r in history] == [
        ("已完成，附照片", ReportStatus.ACCEPTED),
        ("已完成", ReportStatus.RETURNED),
    ]
    assert Notification.objects.filter(
        user=tree.users["cd_union_admin"], title="报告已通过：关于开展职工技能培训的通知"
    ).exists()


def test_evidence_download_one_file_or_all(tree):
    notice = issued(tree)
    report = submit(tree, at(notice, tree.cd_union))
    evidence = Evidence.objects.get()
    url = reverse("report_evidence", args=[report.pk])
    client = client_for(tree.users["chengdu_admin"])
    one = client.get(url, {"file": evidence.pk})
    assert b"".join(one.streaming_content) == PDF
    archive = zipfile.ZipFile(io.BytesIO(b"".join(client.get(url).streaming_content)))
    assert archive.namelist() == ["照片.pdf"]
    assert client_for(tree.users["mianyang_admin"]).get(url).status_code == 404
    assert client.get(url, {"file": evidence.pk + 1}).status_code == 404


# --- supervision ---------------------------------------------------------------------------------


def test_supervision_counts_per_child_and_the_late_lists(tree):
    notice = issued(tree)
    services.acknowledge(actor=tree.users["chengdu_admin"], dispatch=at(notice, tree.chengdu))
    services.acknowledge(actor=tree.users["cd_union_admin"], dispatch=at(notice, tree.cd_union))
    submit(tree, at(notice, tree.cd_union))
    # Two unions of 绵阳 are past their acknowledgement deadline.
    Dispatch.objects.filter(notice=notice, org__in=[tree.fucheng, tree.my_union]).update(
        ack_due=day(-1)
    )
    client = client_for(tree.users["province_admin"])
    response = client.get(reverse("supervision", args=[notice.pk, tree.province.pk]))
    assert response.status_code == 200
    head = response.context["head"].values
    assert (head["audience"], head["acknowledged"], head["reported"], head["accepted"]) == (
        10,
        2,
        1,
        0,
    )
    rows = {
        r["org"].name: {c["step"]: c["value"] for c in r["cells"]} for r in response.context["rows"]
    }
    assert rows["成都市总工会"]["acknowledged"] == 2 and rows["成都市总工会"]["reported"] == 1
    assert rows["绵阳市总工会"]["acknowledged"] == 0
    assert [r["audience"] for r in response.context["rows"]] == [6, 4]
    assert [d.org.name for d in response.context["late_ack"]] == [
        "涪城区总工会",
        "绵阳长虹电子有限公司工会委员会",
    ]
    body = text(response)
    assert 'id="remind-all"' in body
    assert reverse("supervision", args=[notice.pk, tree.chengdu.pk]) in body
    ack_rate = next(c for c in response.context["head_cells"] if c["step"] == "acknowledged")
    assert ack_rate["percent"] == 20


def test_supervision_is_for_the_issuer_and_the_levels_that_received_it(tree):
    notice = issued(tree)
    city = client_for(tree.users["chengdu_admin"])
    own = city.get(reverse("supervision", args=[notice.pk, tree.chengdu.pk]))
    assert own.status_code == 200
    assert own.context["head"].values["audience"] == 6
    assert [r["org"].name for r in own.context["rows"]] == ["锦江区总工会"]
    assert city.get(reverse("supervision", args=[notice.pk, tree.province.pk])).status_code == 404
    assert city.get(reverse("supervision", args=[notice.pk, tree.mianyang.pk])).status_code == 404
    # A notice that only went to grassroots unions still drills down through the cities.
    narrow = issued(tree, audience_kinds=["grassroots"], doc_number="川工发〔2026〕99号")
    page = client_for(tree.users["province_admin"]).get(
        reverse("supervision", args=[narrow.pk, tree.chengdu.pk])
    )
    assert page.status_code == 200 and page.context["head"].values["audience"] == 1
    # A draft has nothing to supervise.
    plan = draft(tree, doc_number="")
    assert (
        client_for(tree.users["province_admin"])
        .get(reverse("supervision", args=[plan.pk, tree.province.pk]))
        .status_code
        == 404
    )


def test_remind_all_late_once_per_batch(tree):
    notice = issued(tree)
    Dispatch.objects.filter(notice=notice, org__in=[tree.cd_union, tree.my_union]).update(
        ack_due=day(-1), report_due=day(-1)
    )
    client = client_for(tree.users["province_admin"])
    page = client.get(reverse("supervision", args=[notice.pk, tree.province.pk]))
    key = page.context["batch_key"]
    url = reverse("supervision_remind", args=[notice.pk, tree.province.pk])
    # A viewer may look but not chase.
    viewer = client_for(tree.users["chengdu_viewer"])
    remind_city = reverse("supervision_remind", args=[notice.pk, tree.chengdu.pk])
    assert viewer.post(remind_city, {"batch_key": key, "kind": "all"}).status_code == 403
    response = client.post(url, {"batch_key": key, "kind": "all"}, follow=True)
    assert [str(m) for m in response.context["messages"]] == ["已催办 4 个逾期单位。"]
    assert Reminder.objects.count() == 4
    assert Notification.objects.filter(user=tree.users["cd_union_admin"]).count() == 2
    again = client.post(url, {"batch_key": key, "kind": "all"}, follow=True)
    assert [str(m) for m in again.context["messages"]] == ["没有需要催办的单位：都已催办过。"]
    assert Reminder.objects.count() == 4
    assert (
        AuditEntry.objects.filter(target_id=str(notice.pk), summary__startswith="已催办").count()
        >= 2
    )


def test_supervision_query_count_does_not_grow_with_children(tree, django_assert_max_num_queries):
    notice = issued(tree)
    client = client_for(tree.users["province_admin"])
    url = reverse("supervision", args=[notice.pk, tree.chunxilu.pk])
    with django_assert_max_num_queries(16):
        response = client.get(url)
    assert len(response.context["rows"]) == 1
    for n in range(8):
        org_services.create_org(
            actor=SYSTEM,
            parent=tree.chunxilu,
            name=f"新建企业工会{n}",
            code=f"510104001{n + 100}",
            kind=OrgKind.GRASSROOTS,
        )
    later = issued(tree, doc_number="川工发〔2026〕50号")
    Dispatch.objects.filter(notice=later, org__parent=tree.chunxilu).update(ack_due=day(-1))
    url = reverse("supervision", args=[later.pk, tree.chunxilu.pk])
    with django_assert_max_num_queries(16):
        response = client.get(url)
    assert len(response.context["rows"]) == 9
    assert response.context["late_ack_count"] == 9


# --- the ledger ----------------------------------------------------------------------------------


def test_ledger_has_one_row_per_union_with_the_chain_and_the_latest_figures(tree):
    notice = issued(tree)
    d = at(notice, tree.cd_union)
    services.acknowledge(actor=tree.users["cd_union_admin"], dispatch=d)
    services.save_plan(actor=tree.users["cd_union_admin"], dispatch=d, plan="方案")
    submit(tree, d)
    client = client_for(tree.users["chengdu_admin"])
    response = client.get(reverse("ledger_export", args=[notice.pk, tree.chengdu.pk]))
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    assert rows[0] == (
        "市（州）",
        "县（市、区）",
        "乡镇（街道）",
        "基层工会",
        "车间（分会）",
        "班组",
        "类型",
        "编码",
        "签收期限",
        "签收时间",
        "实施方案",
        "报送期限",
        "报送",
        "报送时间",
        "通过时间",
        "签收逾期",
        "报送逾期",
        "入会",
        "开展活动",
        "参与人次",
        "覆盖会员",
        "覆盖基层工会",
        "完成课程",
        "答题合格",
    )
    assert [r[7] for r in rows[1:]] == [
        "5101",
        "510104",
        "510104001",
        "510104001001",
        "510104001001B1",
        "510104001001B1T1",
    ]
    union = rows[4]
    assert union[:6] == (
        "成都市总工会",
        "锦江区总工会",
        "春熙路街道工会",
        "成都华信机械有限公司工会委员会",
        None,
        None,
    )
    assert union[6] == "基层工会" and union[8].date() == day(5)
    assert union[9] is not None and union[10] == "是" and union[12] == "已提交"
    assert union[15:18] == ("否", "否", 3)
    team = rows[6]
    assert team[:6] == (
        "成都市总工会",
        "锦江区总工会",
        "春熙路街道工会",
        "成都华信机械有限公司工会委员会",
        "华信机加车间",
        "华信机加车间甲班",
    )
    assert team[10] == "否" and team[17] in (None, "")
    assert (
        AuditEntry.objects.filter(action=AuditAction.EXPORT, target_id=str(notice.pk)).count() == 1
    )
    # Not for 绵阳's subtree, not for a union that has nothing to do with it.
    assert (
        client.get(reverse("ledger_export", args=[notice.pk, tree.mianyang.pk])).status_code == 404
    )


# --- messages ------------------------------------------------------------------------------------


def test_messages_list_opens_and_marks_read(tree):
    user = tree.users["cd_union_admin"]
    other = Notification.objects.create(user=tree.users["chengdu_admin"], title="别人的消息")
    Notification.objects.create(user=user, title="催办：请签收", link="/orgs/1/")
    Notification.objects.create(user=user, title="报告已通过", link="https://evil.example/")
    client = client_for(user)
    page = client.get(reverse("notifications"))
    assert [n.title for n in page.context["page"]] == ["报告已通过", "催办：请签收"]
    assert page.context["unread"] == 2
    assert "别人的消息" not in text(page)
    assert text(client.get(reverse("notification_count"))) == '<span class="count">2</span>'
    first = Notification.objects.get(title="催办：请签收")
    assert client.post(reverse("notifications"), {"open": first.pk})["Location"] == "/orgs/1/"
    evil = Notification.objects.get(title="报告已通过")
    assert client.post(reverse("notifications"), {"open": evil.pk})["Location"] == reverse(
        "notifications"
    )
    assert client.post(reverse("notifications"), {"open": other.pk}).status_code == 404
    assert not Notification.objects.get(pk=other.pk).read_at
    assert text(client.get(reverse("notification_count"))) == ""
    Notification.objects.create(user=user, title="新消息")
    client.post(reverse("notifications"), {"all": "read"})
    assert not Notification.objects.filter(user=user, read_at__isnull=True).exists()
