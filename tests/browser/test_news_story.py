"""News through its editorial chain: 华信's cadre writes an article in the browser and
submits it; the union's editor edits it; the responsible editor approves it; the public
page (no sign-in) names 作者, 编辑 and 责任编辑, and the channel's feed lists it."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from conftest import PASSWORD, build_tree
from gonghui.news.models import Article, ArticleStatus
from gonghui.orgs import services as org_services
from gonghui.orgs.models import RoleKind
from gonghui.orgs.scoping import SYSTEM

SHOTS = "var/test/screenshots"
TITLE = "华信公司开展劳模宣讲进车间活动"


@pytest.fixture
def live_tree(transactional_db):
    tree = build_tree()
    User = get_user_model()
    for name, kind, full in (
        ("editor", RoleKind.EDITOR, "周敏"),
        ("chief", RoleKind.CHIEF_EDITOR, "吴刚"),
    ):
        user = User.objects.create_user(username=name, password=PASSWORD, first_name=full)
        org_services.grant_role(actor=SYSTEM, user=user, org=tree.cd_union, kind=kind)
        tree.users[name] = user
    return tree


def sign_in(page, live_server, username: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("main button[type=submit]")


def test_a_grassroots_article_goes_through_editors_to_the_public(
    page, phone, live_server, live_tree
):
    tree = live_tree
    # --- the grassroots cadre writes and submits -------------------------------------------
    sign_in(page, live_server, "cd_union_admin")
    page.goto(f"{live_server.url}/orgs/{tree.cd_union.pk}/news/new/")
    page.wait_for_selector("#article-form")
    page.select_option("#id_channel", label="基层动态")
    page.fill("#id_title", TITLE)
    page.fill("#id_byline", "王小明")
    page.locator("#body-editor").click()
    page.keyboard.type("12月5日，华信公司工会邀请省劳动模范走进机加车间。")
    page.click("#save-article")
    page.wait_for_selector("#submit-article")
    with page.expect_navigation():
        page.click("#submit-article")
    article = Article.objects.get()
    assert article.status == ArticleStatus.SUBMITTED

    # --- the editor edits ------------------------------------------------------------------
    sign_in(page, live_server, "editor")
    page.goto(f"{live_server.url}/news/articles/{article.pk}/edit/")
    page.wait_for_selector("#article-form")
    page.locator("#body-editor").click()
    page.keyboard.press("End")
    page.keyboard.type("活动吸引一线职工80余人参加。")
    page.click("#save-article")
    page.wait_for_selector("#revisions")
    article.refresh_from_db()
    assert (article.status, article.editor) == (ArticleStatus.EDITED, tree.users["editor"])

    # --- the responsible editor approves ---------------------------------------------------
    sign_in(page, live_server, "chief")
    page.goto(f"{live_server.url}/news/articles/{article.pk}/")
    with page.expect_navigation():
        page.click("#approve-article")
    article.refresh_from_db()
    assert article.status == ArticleStatus.PUBLISHED

    # --- the public page on a phone, and the feed ------------------------------------------
    phone.context.clear_cookies()
    phone.goto(f"{live_server.url}/news/{tree.cd_union.pk}/articles/{article.pk}/")
    assert TITLE in phone.locator("#article-title").inner_text()
    assert "王小明" in phone.locator("#byline").inner_text()
    assert phone.locator("#credit-editor").inner_text() == "周敏"
    assert phone.locator("#credit-chief").inner_text() == "吴刚"
    assert "80余人" in phone.locator("#article-text").inner_text()
    assert "基层动态" in phone.locator("#breadcrumb").inner_text()
    overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    phone.screenshot(path=f"{SHOTS}/news-public-phone.png", full_page=True)
    feed = phone.request.get(f"{live_server.url}/news/{tree.cd_union.pk}/grassroots/feed.xml")
    assert feed.status == 200 and TITLE in feed.text()
