"""A worker's request, answered: on a phone, a worker of 华信 files a wage-arrears request
and asks that their own (employer's) union not see it; it goes to 锦江区总工会, whose case
handler accepts and answers it with the wages recovered; the worker rates the answer five
stars; the county's case figures show the case closed on time and the money recovered,
and 华信's own cadre finds nothing of it."""

from __future__ import annotations

import pytest

from conftest import PASSWORD, build_tree
from gonghui.cases.models import Case, CaseStatus
from gonghui.orgs import services as org_services
from gonghui.orgs.models import RoleKind
from gonghui.orgs.scoping import SYSTEM

SHOTS = "var/test/screenshots"
TITLE = "拖欠两个月工资"


@pytest.fixture
def live_tree(transactional_db):
    tree = build_tree()
    from django.contrib.auth import get_user_model

    handler = get_user_model().objects.create_user(username="jinjiang_handler", password=PASSWORD)
    org_services.grant_role(
        actor=SYSTEM, user=handler, org=tree.jinjiang, kind=RoleKind.CASE_HANDLER
    )
    tree.users["jinjiang_handler"] = handler
    return tree


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


def test_a_worker_skips_their_union_and_the_county_answers(phone, page, live_server, live_tree):
    tree = live_tree

    # --- the worker, on a phone, files the request -----------------------------------------
    sign_in(phone, live_server, "worker")
    phone.goto(f"{live_server.url}/me/cases/")
    phone.click("#file-request")
    phone.wait_for_selector("#case-form")
    phone.select_option("#id_category", "wages")
    phone.fill("#id_title", TITLE)
    phone.fill("#id_description", "太短")  # refused, and nothing typed is lost
    phone.click("#send-request")
    phone.wait_for_selector("#case-form .errorlist")
    assert phone.input_value("#id_title") == TITLE
    phone.fill("#id_description", "公司拖欠我和班组同事八、九两个月工资，多次讨要未果。")
    phone.check("#id_conceal_from_employer_union")
    fits(phone)
    phone.screenshot(path=f"{SHOTS}/case-file-phone.png", full_page=True)
    phone.click("#send-request")
    phone.wait_for_selector("#timeline")
    case = Case.objects.get()
    assert case.handling_org == tree.jinjiang and case.conceal_from_employer_union
    assert "锦江区总工会" in phone.locator("#handling-org").inner_text()
    fits(phone)

    # --- the employer's union sees nothing of it -------------------------------------------
    sign_in(page, live_server, "cd_union_admin")
    response = page.goto(f"{live_server.url}/cases/{case.pk}/")
    assert response.status == 404
    page.goto(f"{live_server.url}/orgs/{tree.cd_union.pk}/cases/?show=all")
    assert TITLE not in page.content()

    # --- the county's case handler accepts and answers it ----------------------------------
    sign_in(page, live_server, "jinjiang_handler")
    page.goto(f"{live_server.url}/orgs/{tree.jinjiang.pk}/cases/")
    page.locator("#queue a", has_text=TITLE).click()
    page.wait_for_selector("#accept-case")
    assert "张伟" in page.locator("#worker").inner_text()
    page.click("#accept-case")
    page.wait_for_selector("#close-case", state="attached")
    page.click("#close summary")
    page.select_option("#id_outcome", "resolved")
    page.fill("#id_note", "经区总工会协调，企业已补发两个月工资。")
    page.fill("#id_money_recovered", "12800")
    page.click("#close-case")
    page.wait_for_selector("#answer")
    page.screenshot(path=f"{SHOTS}/case-detail-county.png", full_page=True)
    case.refresh_from_db()
    assert (case.status, case.money_recovered) == (CaseStatus.CLOSED, 12800)

    # --- the worker rates the answer -------------------------------------------------------
    phone.goto(f"{live_server.url}/me/cases/{case.pk}/")
    assert "企业已补发两个月工资" in phone.locator("#answer").inner_text()
    phone.click("label[for='star-5']")
    phone.fill("#id_comment", "谢谢娘家人！")
    phone.click("#send-rating")
    phone.wait_for_selector("#my-rating")
    fits(phone)
    phone.screenshot(path=f"{SHOTS}/case-rated-phone.png", full_page=True)
    case.refresh_from_db()
    assert case.rating == 5

    # --- the county's figures --------------------------------------------------------------
    sign_in(page, live_server, "chengdu_admin")
    page.goto(f"{live_server.url}/orgs/{tree.jinjiang.pk}/cases/figures/")
    values = {
        name: page.locator(f"#headline [data-figure='{name}']").inner_text().strip()
        for name in ("filed", "closed", "closed_on_time", "satisfaction", "money")
    }
    assert values == {
        "filed": "1",
        "closed": "1",
        "closed_on_time": "100%",
        "satisfaction": "100%",
        "money": "12800",
    }
    page.screenshot(path=f"{SHOTS}/case-figures-county.png", full_page=True)
    # 华信's own figures: nothing, the case counts where it is handled.
    page.goto(f"{live_server.url}/orgs/{tree.cd_union.pk}/cases/figures/")
    assert page.locator("#headline [data-figure='filed']").inner_text().strip() == "0"
