"""The seed story of a notice: the province issues it, 成都市总工会 relays it with a
requirement of its own, 成都华信's union acknowledges and reports, the city accepts, and
the province's supervision page shows every step as it happens."""

from __future__ import annotations

import datetime

import pytest

from conftest import PASSWORD, build_tree
from gonghui.notices.models import Dispatch, Notice, Relay, Report, ReportStatus

SHOTS = "var/test/screenshots"
PHONE = {"width": 390, "height": 844}
DESK = {"width": 1280, "height": 900}
PDF = b"%PDF-1.4 sign-in sheet\n"
STEPS = ("acknowledged", "planned", "reported", "accepted")


@pytest.fixture
def live_tree(transactional_db):
    return build_tree()


def day(n: int) -> str:
    return (datetime.date.today() + datetime.timedelta(days=n)).isoformat()


def sign_in(page, live_server, username: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("main button[type=submit]")


def shoot(page, name: str) -> None:
    page.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)
    page.set_viewport_size(PHONE)
    page.screenshot(path=f"{SHOTS}/{name}-phone.png", full_page=True)
    page.set_viewport_size(DESK)


def headline(page) -> dict[str, int]:
    page.locator("#headline .n[data-value]").first.wait_for()
    cells = page.locator("#headline .n[data-value]")
    steps = page.locator("#headline .figure")
    return {
        steps.nth(i).get_attribute("data-step"): int(cells.nth(i).get_attribute("data-value"))
        for i in range(cells.count())
    }


def row(page, name: str) -> dict[str, int]:
    tr = page.locator("#children tbody tr", has=page.locator("a", has_text=name))
    cells = tr.locator("td[data-step]")
    return {
        cells.nth(i).get_attribute("data-step"): int(cells.nth(i).get_attribute("data-value"))
        for i in range(cells.count())
    }


def province_sees(page, live_server, notice: Notice, tree) -> tuple[dict, dict]:
    page.goto(f"{live_server.url}/notices/{notice.pk}/supervision/{tree.province.pk}/")
    return headline(page), row(page, "成都市总工会")


def test_the_notice_goes_down_and_the_province_watches_it(page, live_server, live_tree):
    tree = live_tree
    # --- the province drafts and issues the notice --------------------------------------
    sign_in(page, live_server, "province_admin")
    page.goto(f"{live_server.url}/orgs/{tree.province.pk}/")
    page.click("#org-notices")
    page.click("#new-notice")
    page.fill("#id_title", "关于深入开展职工学习培训和劳动技能竞赛的通知")
    page.fill("#id_doc_number", "川工发〔2026〕12号")
    page.click("trix-editor")
    page.keyboard.type("各市（州）总工会：请组织宣讲进企业、进车间、进班组。")
    page.fill("#id_ack_due", day(5))
    page.fill("#id_report_due", day(20))
    page.fill("#id_req-0-title", "每个基层工会至少举办一次集中宣讲")
    page.select_option("#id_req-0-kind", "lecture")
    page.select_option("#id_req-0-measure", "per_unit")
    page.fill("#id_req-0-threshold", "1")
    page.select_option("#id_req-0-unit_kind", "grassroots")
    page.click("#add-requirement")
    page.fill("#id_req-1-title", "会员学习覆盖率")
    page.select_option("#id_req-1-kind", "study")
    page.select_option("#id_req-1-measure", "share")
    page.fill("#id_req-1-threshold", "80")
    shoot(page, "notice-compose")
    page.click("main button[type=submit].primary")
    page.wait_for_url("**/notices/*/")
    notice = Notice.objects.get(title="关于深入开展职工学习培训和劳动技能竞赛的通知")
    assert notice.is_draft and "进企业、进车间、进班组" in notice.body
    assert [r.title for r in notice.requirements.all()] == [
        "每个基层工会至少举办一次集中宣讲",
        "会员学习覆盖率",
    ]
    assert "每个基层工会 ≥1" in page.locator("ol.reqs").inner_text()
    page.click("#issue")
    assert page.locator("#audience-size").inner_text() == "10"
    shoot(page, "notice-issue")
    page.click("main button[type=submit].primary")
    page.wait_for_url(f"**/notices/{notice.pk}/")
    assert "已下发给 10 个工会。" in page.locator(".messages").inner_text()
    shoot(page, "notice-detail")
    with page.expect_navigation():
        page.click("#supervise")
    assert headline(page) == {
        "audience": 10,
        "acknowledged": 0,
        "ack_on_time": 0,
        "planned": 0,
        "reported": 0,
        "report_on_time": 0,
        "accepted": 0,
        "ack_overdue": 0,
        "report_overdue": 0,
    }
    assert row(page, "成都市总工会")["audience"] == 6
    assert row(page, "绵阳市总工会")["audience"] == 4

    # --- 成都市总工会 relays it with a requirement of its own ----------------------------
    sign_in(page, live_server, "chengdu_admin")
    page.click("#nav-notices")
    item = page.locator("#inbox li.unread a.title", has_text="关于深入开展职工学习培训")
    assert page.locator("#inbox li.unread").count() == 1
    shoot(page, "org-notices")
    item.click()
    page.wait_for_url("**/dispatches/*/")
    page.click("#relay")
    page.fill("#id_doc_number", "成工发〔2026〕8号")
    page.fill("#id_note", "请各区（市）县总工会结合实际抓好落实。")
    page.fill("#id_report_due", day(30))  # later than the province's: refused
    page.fill("#id_req-0-title", "走访慰问困难职工")
    page.select_option("#id_req-0-kind", "service")
    page.select_option("#id_req-0-measure", "total")
    page.fill("#id_req-0-threshold", "10")
    page.click("main button[type=submit].primary")
    assert "不能晚于上级给您的期限" in page.locator(".errorlist").inner_text()
    assert page.input_value("#id_req-0-title") == "走访慰问困难职工"  # nothing typed lost
    page.fill("#id_report_due", day(15))
    page.click("main button[type=submit].primary")
    page.wait_for_url("**/dispatches/*/")
    assert "已转发给 成都市总工会 的下级工会。" in page.locator(".messages").inner_text()
    relay = Relay.objects.get()
    assert [r.title for r in relay.requirements.all()] == ["走访慰问困难职工"]

    sign_in(page, live_server, "province_admin")
    head, chengdu = province_sees(page, live_server, notice, tree)
    assert [head[s] for s in STEPS] == [1, 0, 0, 0]  # relaying acknowledged 成都's copy
    assert [chengdu[s] for s in STEPS] == [1, 0, 0, 0]

    # --- 成都华信's union acknowledges, plans and reports -------------------------------
    sign_in(page, live_server, "cd_union_admin")
    page.click("#nav-notices")
    page.locator("#inbox a.title", has_text="关于深入开展职工学习培训").click()
    page.wait_for_url("**/dispatches/*/")
    chain = page.locator("ol.chain").inner_text()
    assert "四川省总工会" in chain and "成都市总工会" in chain
    assert "走访慰问困难职工" in chain and "成工发〔2026〕8号" in chain
    shoot(page, "dispatch-received")
    page.click("#acknowledge")
    assert "已签收。" in page.locator(".messages").inner_text()
    page.fill("#id_plan", "三月在机加车间、装配车间各宣讲一次。")
    page.click("#save-plan")
    assert "实施方案已保存。" in page.locator(".messages").inner_text()
    # The figures come filled in from what was recorded: three members joined.
    assert page.input_value("input[name='fig_members.joined']") == "3"
    page.click("#submit-report")  # no narrative yet: refused, the figures stay
    assert page.locator("#field-narrative .errorlist").count() == 1
    page.fill("#id_narrative", "举办集中宣讲 2 场，覆盖全体会员。")
    page.set_input_files(
        "#id_evidence", files=[{"name": "签到表.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    page.click("#submit-report")
    assert "已报送，等待上级审核。" in page.locator(".messages").inner_text()
    report = Report.objects.get()
    assert report.figures["members.joined"] == 3
    assert report.figures["activities.held"] == 0
    assert [e.name for e in report.evidence.all()] == ["签到表.pdf"]
    shoot(page, "dispatch-reported")

    sign_in(page, live_server, "province_admin")
    head, chengdu = province_sees(page, live_server, notice, tree)
    assert [head[s] for s in STEPS] == [2, 1, 1, 0]
    assert [chengdu[s] for s in STEPS] == [2, 1, 1, 0]
    assert row(page, "绵阳市总工会")["acknowledged"] == 0

    # --- the city reviews it from its messages and accepts -------------------------------
    sign_in(page, live_server, "chengdu_admin")
    page.locator("#nav-messages .count").wait_for()
    assert page.locator("#nav-messages .count").inner_text() == "1"
    page.click("#nav-messages")
    shoot(page, "messages")
    page.locator("button[name=open]", has_text="待审核报送：成都华信机械有限公司工会委员会").click()
    page.wait_for_url("**/dispatches/*/")
    page.click("#accept")
    assert "的报送已审核通过。" in page.locator(".messages").inner_text()
    union_copy = Dispatch.objects.get(notice=notice, org=tree.cd_union)
    assert union_copy.report_status == ReportStatus.ACCEPTED

    sign_in(page, live_server, "province_admin")
    head, chengdu = province_sees(page, live_server, notice, tree)
    assert [head[s] for s in STEPS] == [2, 1, 1, 1]
    assert [chengdu[s] for s in STEPS] == [2, 1, 1, 1]
    assert head["audience"] == 10 and head["ack_on_time"] == 2
    shoot(page, "supervision-province")
    # Drill down to the city: its own subtree, its unions below.
    with page.expect_navigation():
        page.locator("#children a", has_text="成都市总工会").click()
    assert [headline(page)[s] for s in STEPS] == [2, 1, 1, 1]
    assert headline(page)["audience"] == 6
    shoot(page, "supervision-city")
