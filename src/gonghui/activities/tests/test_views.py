"""The activity pages as unions and workers use them: scheduling and editing, the list and
the calendar, taking attendance (roster, sheet), the QR screen and the scan, the code
page, the worker's own page, the PDFs, and every refusal: scope, audience, cancellation."""

from __future__ import annotations

import datetime
import io
import re
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from openpyxl import Workbook

from conftest import PASSWORD, make_id_number
from gonghui.activities import selectors, services
from gonghui.activities.models import (
    Activity,
    ActivityKind,
    ActivityStatus,
    CheckIn,
    CheckInMethod,
    Evidence,
    Registration,
    RegistrationStatus,
)
from gonghui.audit.models import AuditEntry
from gonghui.orgs.scoping import SYSTEM

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4 test\n"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def text(response: Any) -> str:
    return response.content.decode()


def local(dt: datetime.datetime) -> str:
    return timezone.localtime(dt).strftime("%Y-%m-%dT%H:%M")


def lecture(
    tree: Any,
    *,
    org: Any = None,
    venue: Any = None,
    starts_in: datetime.timedelta = datetime.timedelta(minutes=-10),
    **extra: Any,
) -> Activity:
    now = timezone.now()
    data = services.ActivityInput(
        kind=extra.pop("kind", ActivityKind.LECTURE),
        title=extra.pop("title", "学习贯彻全会精神宣讲"),
        starts_at=now + starts_in,
        ends_at=now + starts_in + datetime.timedelta(hours=2),
        venue_org=venue,
        **extra,
    )
    return services.schedule_activity(
        tree.users["chengdu_admin"], org=org or tree.cd_union, data=data
    )


def url(name: str, activity: Activity, **extra: Any) -> str:
    return reverse(f"activities:{name}", kwargs={"activity_id": activity.pk, **extra})


def form_data(tree: Any, **overrides: Any) -> dict[str, Any]:
    start = timezone.now() + datetime.timedelta(days=2)
    data = {
        "kind": ActivityKind.LECTURE,
        "title": "安全生产宣讲进车间",
        "starts_at": local(start),
        "ends_at": local(start + datetime.timedelta(hours=2)),
        "venue": tree.cd_union.pk,
        "place": "三楼会议室",
        "speaker": "王老师",
        "description": "",
        "capacity": "",
        "requirement": "",
    }
    data.update(overrides)
    return data


def sheet(rows: list[list[str]], name: str = "签到表.xlsx") -> SimpleUploadedFile:
    wb = Workbook()
    ws = wb.active
    ws.append(["姓名", "身份证号"])
    for row in rows:
        ws.append(row)
    buffer = io.BytesIO()
    wb.save(buffer)
    return SimpleUploadedFile(name, buffer.getvalue())


# --- scheduling and editing -------------------------------------------------------------------


def test_a_cadre_schedules_an_activity_through_the_form(tree):
    client = client_for(tree.users["cd_union_admin"])
    create = reverse("activities:create", kwargs={"org_id": tree.cd_union.pk})
    page = client.get(create)
    assert page.status_code == 200
    body = text(page)
    # The venue is chosen among the union and the units below it, nothing else.
    assert "华信机加车间甲班" in body and "锦江区总工会" not in body
    response = client.post(
        create,
        form_data(
            tree,
            venue=tree.cd_branch.pk,
            audience_kinds=["team"],
            audience_units=[tree.cd_team.pk],
            capacity="30",
            registration_required="on",
        ),
    )
    activity = Activity.objects.get()
    assert response.status_code == 302
    assert response["Location"] == url("detail", activity)
    assert activity.org == tree.cd_union and activity.venue_org == tree.cd_branch
    assert activity.audience_kinds == ["team"]
    assert list(activity.audience_units.all()) == [tree.cd_team]
    assert activity.capacity == 30 and activity.registration_required
    assert AuditEntry.objects.filter(summary__contains="安全生产宣讲进车间").exists()
    detail = text(client.get(url("detail", activity)))
    assert "安全生产宣讲进车间" in detail and activity.check_in_code in detail
    # The union's list and calendar show it.
    listing = client.get(reverse("activities:org_activities", kwargs={"org_id": tree.cd_union.pk}))
    assert "安全生产宣讲进车间" in text(listing)
    month = timezone.localtime(activity.starts_at).strftime("%Y-%m")
    calendar = client.get(
        reverse("activities:org_calendar", kwargs={"org_id": tree.cd_union.pk}), {"month": month}
    )
    assert "安全生产宣讲进车间" in text(calendar)


def test_the_form_keeps_the_input_when_the_service_refuses(tree):
    client = client_for(tree.users["cd_union_admin"])
    create = reverse("activities:create", kwargs={"org_id": tree.cd_union.pk})
    start = timezone.now() + datetime.timedelta(days=2)
    response = client.post(
        create,
        form_data(
            tree,
            starts_at=local(start),
            ends_at=local(start + datetime.timedelta(days=40)),
        ),
    )
    assert response.status_code == 200
    assert "安全生产宣讲进车间" in text(response)  # what was typed is still there
    assert response.context["form"].errors["ends_at"]
    assert not Activity.objects.exists()


def test_a_large_subtree_names_the_venue_and_units_by_code(tree, monkeypatch):
    from gonghui.activities import forms

    monkeypatch.setattr(forms, "CHOICES_LIMIT", 2)
    client = client_for(tree.users["chengdu_admin"])
    create = reverse("activities:create", kwargs={"org_id": tree.jinjiang.pk})
    assert client.get(create).context["form"].initial["venue"] == tree.jinjiang.code
    response = client.post(create, form_data(tree, venue="5107", audience_units=tree.cd_team.code))
    assert response.status_code == 200
    assert response.context["form"].errors["venue"]  # 绵阳 is not below 锦江
    response = client.post(
        create, form_data(tree, venue=tree.cd_union.code, audience_units=tree.cd_team.code)
    )
    assert response.status_code == 302
    activity = Activity.objects.get()
    assert activity.org == tree.jinjiang and activity.venue_org == tree.cd_union
    assert list(activity.audience_units.all()) == [tree.cd_team]
    edit = client.get(url("edit", activity)).context["form"]
    assert edit.initial["venue"] == tree.cd_union.code
    assert edit.initial["audience_units"] == tree.cd_team.code


def test_scope_of_the_form(tree):
    # 绵阳's cadre cannot schedule for a 成都 union; a viewer may look but not schedule.
    create = reverse("activities:create", kwargs={"org_id": tree.cd_union.pk})
    assert client_for(tree.users["mianyang_admin"]).get(create).status_code == 404
    assert client_for(tree.users["chengdu_viewer"]).get(create).status_code == 403
    assert client_for(tree.users["worker"]).get(create).status_code == 404


def test_editing_with_a_stale_version_is_refused(tree):
    activity = lecture(tree, starts_in=datetime.timedelta(days=3))
    client = client_for(tree.users["cd_union_admin"])
    edit = url("edit", activity)
    page = client.get(edit)
    assert page.status_code == 200
    stale_version = page.context["form"].initial["version"]
    data = form_data(
        tree,
        version=stale_version,
        title="第一次修改",
        starts_at=local(activity.starts_at),
        ends_at=local(activity.ends_at),
    )
    assert client.post(edit, data).status_code == 302
    activity.refresh_from_db()
    assert activity.title == "第一次修改" and activity.version == stale_version + 1
    # A second cadre had the form open with the old version: refused, nothing overwritten.
    other = client_for(tree.users["chengdu_admin"])
    response = other.post(edit, {**data, "title": "被覆盖的标题"})
    assert response.status_code == 200
    assert "其他人刚刚修改了此活动" in text(response)
    assert "被覆盖的标题" in text(response)  # their input is kept to copy from
    activity.refresh_from_db()
    assert activity.title == "第一次修改"


# --- attendance -------------------------------------------------------------------------------


def test_roster_ticking_checks_in_the_ticked_members(tree):
    activity = lecture(tree)
    client = client_for(tree.users["cd_union_admin"])
    detail = text(client.get(url("detail", activity)))
    for name in ("张伟", "李娜", "王强"):
        assert name in detail
    # The htmx search narrows the audience by name or pinyin.
    rows = client.get(url("roster", activity), {"q": "李"}, HTTP_HX_REQUEST="true")
    assert "李娜" in text(rows) and "张伟" not in text(rows)
    rows = client.get(url("roster", activity), {"q": "wq"}, HTTP_HX_REQUEST="true")
    assert "王强" in text(rows) and "李娜" not in text(rows)
    response = client.post(
        url("roster", activity), {"member": [tree.cd_member.pk, tree.team_member.pk]}
    )
    assert response.status_code == 302
    assert set(CheckIn.objects.values_list("member_id", "method")) == {
        (tree.cd_member.pk, CheckInMethod.ROSTER),
        (tree.team_member.pk, CheckInMethod.ROSTER),
    }
    rows = client.get(url("roster", activity), {"q": "张"}, HTTP_HX_REQUEST="true")
    assert re.search(rf'value="{tree.cd_member.pk}"[^>]*checked disabled', text(rows))
    # A member outside the audience (绵阳) cannot be ticked in.
    client.post(url("roster", activity), {"member": [tree.my_member.pk]})
    assert not CheckIn.objects.filter(member=tree.my_member).exists()


def test_attendance_sheet_is_rejected_with_reasons_then_accepted(tree):
    activity = lecture(tree)
    client = client_for(tree.users["cd_union_admin"])
    template = client.get(reverse("activities:sheet_template"))
    assert template.status_code == 200
    bad = sheet(
        [
            ["张伟", make_id_number(seq=11)],
            ["刘芳", make_id_number(region="510703", seq=44)],  # 绵阳: not in the audience
            ["某某", "123"],
        ]
    )
    response = client.post(url("sheet_upload", activity), {"sheet": bad})
    assert response.status_code == 200
    body = text(response)
    assert 'data-row="3"' in body and 'data-row="4"' in body and 'data-row="2"' not in body
    assert "不在此活动的参加对象范围内" in body
    assert not CheckIn.objects.exists()
    good = sheet([["张伟", make_id_number(seq=11)], ["李娜", make_id_number(seq=22)]])
    response = client.post(url("sheet_upload", activity), {"sheet": good})
    assert response.status_code == 302
    assert CheckIn.objects.filter(method=CheckInMethod.SHEET).count() == 2
    # No file at all: a message, nothing else.
    response = client.post(url("sheet_upload", activity), {})
    assert response.status_code == 302


def test_evidence_upload_download_and_removal(tree):
    activity = lecture(tree)
    client = client_for(tree.users["cd_union_admin"])
    upload = SimpleUploadedFile("现场照片.pdf", PDF, content_type="application/pdf")
    response = client.post(url("evidence_add", activity), {"kind": "photo", "file": upload})
    assert response.status_code == 302
    item = Evidence.objects.get()
    download = client.get(url("evidence_download", activity, evidence_id=item.pk))
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == PDF
    wrong = SimpleUploadedFile("病毒.exe", b"MZ", content_type="application/octet-stream")
    client.post(url("evidence_add", activity), {"kind": "photo", "file": wrong})
    assert Evidence.objects.count() == 1
    remove = url("evidence_remove", activity, evidence_id=item.pk)
    assert client.get(remove).status_code == 200
    assert client.post(remove).status_code == 302
    assert not Evidence.objects.exists()


# --- the QR screen and the scan ---------------------------------------------------------------


def scan_url_of(client: Client, activity: Activity) -> str:
    screen = client.get(url("screen", activity))
    assert screen.status_code == 200
    match = re.search(r'data-scan-url="([^"]+)"', text(screen))
    assert match
    return match.group(1)


def test_the_qr_screen_shows_a_fresh_code_for_cadres_only(tree):
    activity = lecture(tree)
    client = client_for(tree.users["cd_union_admin"])
    scan_url = scan_url_of(client, activity)
    assert scan_url.startswith("http://testserver/activities/scan/")
    assert "<svg" in text(client.get(url("screen", activity)))
    state = client.get(url("screen_token", activity)).json()
    assert state["code"] == activity.check_in_code
    assert state["url"].startswith("http://testserver/activities/scan/")
    assert state["svg"].startswith("<svg") and state["checked_in"] == 0
    # A viewer sees the activity but may not show its code; 绵阳 does not see it at all.
    assert client_for(tree.users["chengdu_viewer"]).get(url("screen", activity)).status_code == 403
    assert client_for(tree.users["mianyang_admin"]).get(url("screen", activity)).status_code == 404
    assert client_for(tree.users["worker"]).get(url("screen_token", activity)).status_code == 404


def test_a_signed_in_worker_scans_and_is_checked_in(tree):
    activity = lecture(tree)
    scan_url = scan_url_of(client_for(tree.users["cd_union_admin"]), activity)
    worker = client_for(tree.users["worker"])
    confirm = worker.get(scan_url)
    assert confirm.status_code == 200
    assert "confirm-check-in" in text(confirm)
    assert not CheckIn.objects.exists()  # GET only asks
    result = worker.post(scan_url)
    assert 'data-outcome="created"' in text(result)
    checkin = CheckIn.objects.get()
    assert checkin.member == tree.cd_member and checkin.method == CheckInMethod.QR
    assert 'data-outcome="already"' in text(worker.post(scan_url))
    assert 'data-outcome="already"' in text(worker.get(scan_url))
    assert CheckIn.objects.count() == 1
    # A tampered token is refused with a reason.
    bad = worker.post(scan_url.rstrip("/")[:-3] + "xyz/")
    assert 'data-outcome="refused"' in text(bad)


def test_a_signed_out_worker_scans_signs_in_and_is_checked_in(tree):
    activity = lecture(tree)
    scan_url = scan_url_of(client_for(tree.users["cd_union_admin"]), activity)
    phone = Client()
    response = phone.get(scan_url)
    assert response.status_code == 302
    finish = reverse("activities:scan_finish")
    assert response["Location"].startswith(reverse("login"))
    assert "next=" in response["Location"]
    login = phone.post(
        reverse("login"), {"username": "worker", "password": PASSWORD, "next": finish}
    )
    assert login.status_code == 302 and login["Location"] == finish
    result = phone.get(finish)
    assert 'data-outcome="created"' in text(result)
    assert CheckIn.objects.get().member == tree.cd_member
    # The pending scan is used once.
    again = phone.get(finish)
    assert again.status_code == 302


def test_a_pending_scan_expires(tree, monkeypatch):
    activity = lecture(tree)
    scan_url = scan_url_of(client_for(tree.users["cd_union_admin"]), activity)
    phone = Client()
    phone.get(scan_url)
    later = timezone.now() + datetime.timedelta(seconds=services.PENDING_SCAN_SECONDS + 5)
    monkeypatch.setattr(timezone, "now", lambda: later)
    phone.force_login(tree.users["worker"])
    result = phone.get(reverse("activities:scan_finish"))
    assert 'data-outcome="refused"' in text(result)
    assert not CheckIn.objects.exists()


def test_the_code_page_checks_in_with_the_six_digits(tree):
    activity = lecture(tree)
    worker = client_for(tree.users["worker"])
    code_page = reverse("activities:check_in_code")
    assert worker.get(code_page).status_code == 200
    wrong = "000000" if activity.check_in_code != "000000" else "111111"
    response = worker.post(code_page, {"code": wrong})
    assert response.status_code == 200
    assert response.context["form"].errors["code"]
    assert not CheckIn.objects.exists()
    response = worker.post(code_page, {"code": activity.check_in_code})
    assert 'data-outcome="created"' in text(response)
    assert CheckIn.objects.get().method == CheckInMethod.CODE


# --- refusals ---------------------------------------------------------------------------------


def test_a_mianyang_cadre_gets_404_on_chengdu_activity_pages(tree):
    activity = lecture(tree)
    evidence = services.add_evidence(
        SYSTEM,
        activity,
        upload=SimpleUploadedFile("a.pdf", PDF, content_type="application/pdf"),
        kind="photo",
    )
    registration = services.register(SYSTEM, activity, tree.cd_member)
    client = client_for(tree.users["mianyang_admin"])
    urls = [
        url(name, activity)
        for name in (
            "detail",
            "edit",
            "mark_held",
            "cancel",
            "register",
            "roster",
            "sheet_upload",
            "evidence_add",
            "qr_renew",
            "screen",
            "screen_token",
            "sign_in_sheet_pdf",
            "poster_pdf",
        )
    ]
    urls += [
        url("evidence_download", activity, evidence_id=evidence.pk),
        url("evidence_remove", activity, evidence_id=evidence.pk),
        reverse("activities:cancel_registration", kwargs={"registration_id": registration.pk}),
    ]
    for target in urls:
        for method in ("get", "post"):
            response = getattr(client, method)(target, {"reason": "x", "member": [1]})
            assert response.status_code == 404, f"{method} {target}"
    listing = client.get(reverse("activities:org_activities", kwargs={"org_id": tree.cd_union.pk}))
    assert listing.status_code == 404
    # Nothing changed.
    activity.refresh_from_db()
    assert activity.status == ActivityStatus.PLANNED
    assert Evidence.objects.count() == 1 and not CheckIn.objects.exists()
    assert Registration.objects.get().status == RegistrationStatus.CONFIRMED
    # And the city's own list does not show 成都's activity.
    mine = client.get(reverse("activities:org_activities", kwargs={"org_id": tree.mianyang.pk}))
    assert "学习贯彻全会精神宣讲" not in text(mine)


def test_a_worker_outside_the_audience_gets_404(tree):
    only_team = lecture(tree, audience_units=[tree.cd_team], title="班组专场")
    for_all = lecture(tree, title="全体会员专场")
    worker = client_for(tree.users["worker"])  # 张伟, of the grassroots union itself
    assert worker.get(url("detail", only_team)).status_code == 404
    assert worker.post(url("register", only_team)).status_code == 404
    page = worker.get(url("detail", for_all))
    assert page.status_code == 200
    assert "全体会员专场" in text(page) and "check-in-code" not in text(page)
    # The cadre pages of the activity are not for workers.
    for name in ("edit", "screen", "sign_in_sheet_pdf", "roster"):
        assert worker.get(url(name, for_all)).status_code == 404, name
    # Even holding a valid QR code, they learn nothing of an activity not for them.
    token = services.qr_token(only_team)
    scan = reverse("activities:scan", kwargs={"token": token})
    for method in ("get", "post"):
        result = text(getattr(worker, method)(scan))
        assert 'data-outcome="refused"' in result and "班组专场" not in result, method
    assert not CheckIn.objects.exists()
    cadre = client_for(tree.users["mianyang_admin"])  # no member record, another city
    result = text(cadre.get(scan))
    assert 'data-outcome="refused"' in result and "班组专场" not in result
    assert "成都华信" not in result


def test_a_cancelled_activity_refuses_everything(tree):
    activity = lecture(tree)
    services.register(tree.users["worker"], activity, tree.cd_member)
    admin = client_for(tree.users["cd_union_admin"])
    scan_url = scan_url_of(admin, activity)
    cancel = url("cancel", activity)
    assert admin.get(cancel).status_code == 200
    response = admin.post(cancel, {"reason": ""})
    assert response.status_code == 200 and response.context["form"].errors["reason"]
    assert admin.post(cancel, {"reason": "场地临时停用"}).status_code == 302
    activity.refresh_from_db()
    assert activity.status == ActivityStatus.CANCELLED
    worker = client_for(tree.users["worker"])
    result = worker.post(scan_url)
    assert 'data-outcome="refused"' in text(result)
    assert "此活动已取消" in text(result)
    response = worker.post(reverse("activities:check_in_code"), {"code": activity.check_in_code})
    assert response.context["form"].errors["code"]
    admin.post(url("roster", activity), {"member": [tree.cd_member2.pk]})
    assert not CheckIn.objects.exists()
    edit = admin.post(
        url("edit", activity),
        form_data(
            tree,
            version=activity.version,
            starts_at=local(activity.starts_at),
            ends_at=local(activity.ends_at),
        ),
    )
    assert "已取消的活动不能修改" in text(edit)
    page = text(worker.get(url("detail", activity)))
    assert "场地临时停用" in page and 'id="register"' not in page


# --- the worker's page ------------------------------------------------------------------------


def test_the_worker_registers_and_cancels_on_their_page(tree):
    soon = lecture(tree, starts_in=datetime.timedelta(days=1), capacity=1, title="报名制培训")
    lecture(tree, audience_units=[tree.cd_team], title="班组专场")  # not for 张伟
    worker = client_for(tree.users["worker"])
    mine = reverse("activities:mine")
    body = text(worker.get(mine))
    assert "报名制培训" in body and "班组专场" not in body
    response = worker.post(url("register", soon), {"next": mine})
    assert response.status_code == 302 and response["Location"] == mine
    registration = Registration.objects.get(member=tree.cd_member)
    assert registration.status == RegistrationStatus.CONFIRMED
    # 李娜 registers through a cadre: the place is taken, she waits.
    services.register(tree.users["chengdu_admin"], soon, tree.cd_member2)
    assert Registration.objects.get(member=tree.cd_member2).status == RegistrationStatus.WAITLISTED
    body = text(worker.get(mine))
    assert "cancel_registration" not in body  # (the URL name never leaks into the page)
    cancel = reverse("activities:cancel_registration", kwargs={"registration_id": registration.pk})
    assert cancel in body
    assert worker.post(cancel, {"next": mine}).status_code == 302
    registration.refresh_from_db()
    assert registration.status == RegistrationStatus.CANCELLED
    # The waiting list moves up.
    assert Registration.objects.get(member=tree.cd_member2).status == RegistrationStatus.CONFIRMED
    # Nobody else cancels someone's registration.
    other = Registration.objects.get(member=tree.cd_member2)
    other_cancel = reverse("activities:cancel_registration", kwargs={"registration_id": other.pk})
    assert worker.post(other_cancel).status_code == 404


def test_attended_activities_are_listed(tree):
    activity = lecture(tree, title="已参加的学习")
    services.check_in(activity=activity, member=tree.cd_member, method="roster", by=SYSTEM)
    body = text(client_for(tree.users["worker"]).get(reverse("activities:mine")))
    assert "已参加的学习" in body


# --- printables -------------------------------------------------------------------------------


def test_the_pdfs(tree):
    activity = lecture(tree)
    client = client_for(tree.users["cd_union_admin"])
    for name in ("sign_in_sheet_pdf", "poster_pdf"):
        response = client.get(url(name, activity))
        assert response.status_code == 200, name
        assert response["Content-Type"] == "application/pdf"
        assert response.content.startswith(b"%PDF")
    # The sign-in sheet names members: for those who manage the activity only.
    viewer = client_for(tree.users["chengdu_viewer"])
    assert viewer.get(url("sign_in_sheet_pdf", activity)).status_code == 403
    assert viewer.get(url("poster_pdf", activity)).status_code == 200


def test_the_sign_in_sheet_spans_pages(tree):
    from gonghui.activities import pdf

    activity = lecture(tree)

    class Row:
        def __init__(self, n: int) -> None:
            self.name = f"会员{n}"
            self.unit = tree.cd_team

    data = pdf.sign_in_sheet(activity, [Row(n) for n in range(120)])
    assert data.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page(?!s)", data)) >= 3  # 120 rows: several pages


# --- the notice's requirement -----------------------------------------------------------------


def test_the_dispatch_page_shows_what_linked_activities_reached(tree):
    from gonghui.notices import services as notices
    from gonghui.notices.models import RequirementKind

    notice = notices.create_notice(
        actor=tree.users["province_admin"],
        issuer=tree.province,
        title="关于开展宣讲活动的通知",
        requires_ack=False,
        requirements=[notices.RequirementInput(RequirementKind.LECTURE, "宣讲进企业")],
    )
    notices.issue_notice(actor=tree.users["province_admin"], notice=notice)
    requirement = notice.requirements.get()
    dispatch = notice.dispatches.get(org=tree.cd_union)
    client = client_for(tree.users["cd_union_admin"])
    page = text(client.get(reverse("dispatch_detail", kwargs={"dispatch_id": dispatch.pk})))
    schedule = reverse("activities:create", kwargs={"org_id": tree.cd_union.pk})
    assert f"{schedule}?requirement={requirement.pk}" in page
    # The link pre-selects the requirement.
    form = client.get(schedule, {"requirement": requirement.pk}).context["form"]
    assert form.initial["requirement"] == requirement.pk
    linked = lecture(tree, requirement_id=requirement.pk)
    for member in (tree.cd_member, tree.team_member):
        services.check_in(activity=linked, member=member, method="roster", by=SYSTEM)
    page = text(client.get(reverse("dispatch_detail", kwargs={"dispatch_id": dispatch.pk})))
    reach = re.search(rf'data-requirement="{requirement.pk}">([^<]*)', page)
    assert reach and re.findall(r"\d+", reach.group(1)) == ["1", "2", "2", "3"]
    rows = selectors.requirement_reach(requirement, tree.chengdu, tree.users["chengdu_admin"])
    assert (rows[0].org, rows[0].held, rows[0].checkins, rows[0].reached, rows[0].units) == (
        tree.chengdu,
        1,
        2,
        2,
        3,
    )
    assert [r.org for r in rows[1:]] == [tree.jinjiang]


# --- selectors --------------------------------------------------------------------------------


def test_own_and_subtree_lists(tree):
    own = lecture(tree, org=tree.jinjiang, venue=tree.jinjiang, title="区总工会自办")
    sent = lecture(tree, org=tree.jinjiang, venue=tree.cd_union, title="送学上门")
    local_one = lecture(tree, title="企业自办")
    user = tree.users["chengdu_admin"]
    assert set(selectors.activities_of_org(user, tree.jinjiang)) == {own, sent}
    assert set(selectors.activities_of_org(user, tree.jinjiang, scope=selectors.SUBTREE)) == {
        own,
        sent,
        local_one,
    }
    assert set(selectors.activities_of_org(user, tree.cd_union)) == {sent, local_one}
    assert not selectors.activities_of_org(tree.users["mianyang_admin"], tree.jinjiang).exists()
    counts = selectors.counts(local_one)
    assert (counts.registered, counts.waitlisted, counts.checked_in) == (0, 0, 0)
    page = client_for(user).get(
        reverse("activities:org_activities", kwargs={"org_id": tree.jinjiang.pk}),
        {"scope": "subtree", "kind": "lecture"},
    )
    assert "企业自办" in text(page) and "送学上门" in text(page)
