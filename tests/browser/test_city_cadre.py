"""A city cadre signs in, finds a union by pinyin initials, opens it and adds a member."""

from __future__ import annotations

import pytest

from conftest import PASSWORD, build_tree, make_id_number
from gonghui.orgs.models import Member

SHOTS = "var/test/screenshots"


@pytest.fixture
def live_tree(transactional_db):
    return build_tree()


def sign_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")


def test_city_cadre_searches_by_pinyin_and_adds_a_member(page, live_server, live_tree):
    tree = live_tree
    sign_in(page, live_server, "chengdu_admin")
    # Lands on the city federation's page, in Chinese by default.
    page.wait_for_url(f"**/orgs/{tree.chengdu.pk}/")
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    assert "成都市总工会" in page.locator("h1").inner_text()

    page.goto(f"{live_server.url}/orgs/search/")
    page.fill("input[name=q]", "cdhx")  # 成都华信 by its pinyin initials
    result = page.locator("#results a", has_text="成都华信机械有限公司工会委员会")
    result.wait_for()  # htmx replaced the results as the cadre typed
    assert page.locator("#results").inner_text().count("绵阳") == 0
    result.click()
    page.wait_for_url(f"**/orgs/{tree.cd_union.pk}/")
    page.screenshot(path=f"{SHOTS}/org-detail.png", full_page=True)

    page.click(f"a[href='/orgs/{tree.cd_union.pk}/members/']")
    page.click(f"a[href='/orgs/{tree.cd_union.pk}/members/new/']")
    id_number = make_id_number(birth="19920214", seq=57)
    page.fill("#id_name", "赵敏")
    page.fill("#id_id_number", id_number[:17] + ("0" if id_number[17] != "0" else "1"))
    page.fill("#id_phone", "13912345678")
    page.click("main button[type=submit]")
    # A wrong check digit is refused, with what was typed kept.
    assert page.locator(".errorlist").count() >= 1
    assert page.input_value("#id_name") == "赵敏"
    page.fill("#id_id_number", id_number)
    page.click("main button[type=submit]")
    page.wait_for_url("**/members/*/")
    assert "赵敏" in page.locator("h1").inner_text()
    assert "5101**********" in page.content()
    assert "139****5678" in page.content()
    page.screenshot(path=f"{SHOTS}/member-detail.png", full_page=True)
    member = Member.objects.get(name="赵敏")
    assert member.unit_id == tree.cd_union.pk
    assert member.gender == "M"  # the 17th digit (7 of sequence 057) is odd
