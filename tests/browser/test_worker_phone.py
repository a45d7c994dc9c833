"""A worker signs in on a phone and sees their own membership, laid out for the screen."""

from __future__ import annotations

import pytest

from conftest import PASSWORD, build_tree

SHOTS = "var/test/screenshots"


@pytest.fixture
def live_tree(transactional_db):
    return build_tree()


def test_worker_sees_own_record_on_a_phone(phone, live_server, live_tree):
    page = phone
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "worker")
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url("**/me/")
    body = page.locator("main").inner_text()
    assert "张伟" in body
    assert "138****1234" in body
    assert "成都华信机械有限公司工会委员会" in body
    # Nothing wider than the phone's screen: no sideways scrolling.
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    page.screenshot(path=f"{SHOTS}/worker-phone.png", full_page=True)
    # The cadre pages are not for workers.
    response = page.goto(f"{live_server.url}/orgs/{live_tree.cd_union.pk}/")
    assert response.status == 404


def test_cadre_pages_fit_a_phone(phone, live_server, live_tree):
    page = phone
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "cd_union_admin")
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(f"**/orgs/{live_tree.cd_union.pk}/")
    for path in (f"/orgs/{live_tree.cd_union.pk}/", f"/orgs/{live_tree.cd_union.pk}/members/"):
        page.goto(f"{live_server.url}{path}")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, path
    page.screenshot(path=f"{SHOTS}/members-phone.png", full_page=True)
