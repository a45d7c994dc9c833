"""The province cadre clicks from the province's dashboard down to a team, checking the
numbers on the way; a member added at the bottom shows at once."""

from __future__ import annotations

import pytest

from conftest import PASSWORD, build_tree, make_id_number
from gonghui.orgs import services
from gonghui.orgs.scoping import SYSTEM

SHOTS = "var/test/screenshots"


@pytest.fixture
def live_tree(transactional_db):
    return build_tree()


def members_in_row(page, name: str) -> int:
    row = page.locator("#children tbody tr", has=page.locator("a", has_text=name))
    return int(row.locator("td").nth(1).inner_text().replace(",", ""))


def headline_members(page) -> int:
    return int(page.locator(".figure .n[data-metric='members']").inner_text().replace(",", ""))


def test_drill_down_from_the_province_to_a_team(page, live_server, live_tree):
    tree = live_tree
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "province_admin")
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(f"**/orgs/{tree.province.pk}/")
    page.click(f"a[href='/orgs/{tree.province.pk}/dashboard/']")
    assert headline_members(page) == 4
    assert members_in_row(page, "成都市总工会") == 3
    assert members_in_row(page, "绵阳市总工会") == 1
    page.wait_for_selector("#trend-chart canvas")  # ECharts drew, from the app's own files
    page.screenshot(path=f"{SHOTS}/dashboard-province.png", full_page=True)

    for name, expected in [
        ("成都市总工会", 3),
        ("锦江区总工会", 3),
        ("春熙路街道工会", 3),
        ("成都华信机械有限公司工会委员会", 3),
        ("华信机加车间", 1),
    ]:
        assert members_in_row(page, name) == expected
        with page.expect_navigation():
            page.locator("#children a", has_text=name).first.click()
        assert name in page.locator("h1").inner_text()
        assert headline_members(page) == expected
    # The team, at the bottom: no unions below it.
    with page.expect_navigation():
        page.locator("#children a", has_text="华信机加车间甲班").click()
    assert headline_members(page) == 1
    assert page.locator("#children").count() == 0

    # A member joins the team: every level shows it at once, before any folding.
    services.register_member(
        actor=SYSTEM, unit=tree.cd_team, name="新会员", id_number=make_id_number(seq=808)
    )
    page.reload()
    assert headline_members(page) == 2
    page.goto(f"{live_server.url}/orgs/{tree.province.pk}/dashboard/")
    assert headline_members(page) == 5
    assert members_in_row(page, "成都市总工会") == 4
