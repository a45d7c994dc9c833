"""A skill competition from registration to certificate: 成都市总工会 opens an
electricians' competition; two workers enter on their phones and their union approves
them; two judges score the entries by number only (never a name); the chief judge
confirms; the organiser sets the awards and publishes; the public results page ranks the
two, and the winner downloads the certificate."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from conftest import PASSWORD, build_tree
from gonghui.competitions import services
from gonghui.competitions.models import Entry, EntryStatus
from gonghui.orgs import services as org_services
from gonghui.orgs.models import RoleKind
from gonghui.orgs.scoping import SYSTEM

SHOTS = "var/test/screenshots"


@pytest.fixture
def live_tree(transactional_db):
    tree = build_tree()
    User = get_user_model()
    for name in ("chief", "judge2"):
        user = User.objects.create_user(username=name, password=PASSWORD)
        org_services.grant_role(actor=SYSTEM, user=user, org=tree.chengdu, kind=RoleKind.JUDGE)
        tree.users[name] = user
    tree.users["worker2"] = User.objects.create_user(username="worker2", password=PASSWORD)
    tree.cd_member2.user = tree.users["worker2"]
    tree.cd_member2.save(update_fields=["user"])
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


def open_competition(tree):
    admin = tree.users["chengdu_admin"]
    now = timezone.now()
    competition = services.create_competition(
        admin,
        org=tree.chengdu,
        data=services.CompetitionInput(
            "成都市职工电工技能竞赛",
            now - datetime.timedelta(hours=1),
            now + datetime.timedelta(days=3),
            [
                services.DisciplineInput(
                    "电工",
                    [
                        services.CriterionInput("theory", "理论知识", Decimal(100), Decimal(40)),
                        services.CriterionInput(
                            "practical", "配电柜接线", Decimal(50), Decimal(60), tie_break=1
                        ),
                    ],
                )
            ],
        ),
    )
    competition = services.open_competition(admin, competition)
    discipline = competition.disciplines.get()
    services.seat_judge(admin, discipline, user=tree.users["chief"], chief=True)
    services.seat_judge(admin, discipline, user=tree.users["judge2"])
    return competition, discipline


def test_members_enter_judges_score_and_the_winner_gets_a_certificate(
    phone, page, live_server, live_tree
):
    tree = live_tree
    competition, discipline = open_competition(tree)

    # --- two workers enter on their phones ---------------------------------------------------
    for username in ("worker", "worker2"):
        sign_in(phone, live_server, username)
        phone.goto(f"{live_server.url}/me/competitions/")
        phone.locator("#open-competitions a", has_text="成都市职工电工技能竞赛").click()
        phone.wait_for_selector("#send-entry")
        phone.locator("#field-discipline input[type=radio]").first.check()
        phone.click("#send-entry")
        phone.wait_for_selector("#my-entry")
        fits(phone)
    phone.screenshot(path=f"{SHOTS}/competition-entry-phone.png", full_page=True)
    entries = list(Entry.objects.filter(competition=competition).order_by("pk"))
    assert [e.status for e in entries] == [EntryStatus.PENDING, EntryStatus.PENDING]

    # --- their union approves them ----------------------------------------------------------
    sign_in(page, live_server, "cd_union_admin")
    for entry in entries:
        page.goto(f"{live_server.url}/competitions/{competition.pk}/")
        with page.expect_navigation():
            page.click(f"#approve-{entry.pk}")
    numbers = dict(Entry.objects.filter(competition=competition).values_list("pk", "number"))
    assert sorted(numbers.values()) == ["01-001", "01-002"]
    services.start_judging(tree.users["chengdu_admin"], competition)

    # --- two judges score, by number only ---------------------------------------------------
    theory, practical = discipline.criteria.order_by("position")
    marks = {  # judge -> entry index -> (theory, practical)
        "chief": [(90, 45), (80, 40)],
        "judge2": [(86, 47), (84, 38)],
    }
    for judge, by_entry in marks.items():
        sign_in(page, live_server, judge)
        page.goto(f"{live_server.url}/judging/{discipline.pk}/")
        body = page.content()
        assert "张伟" not in body and "李娜" not in body and "华信" not in body
        for entry, (th, pr) in zip(entries, by_entry, strict=True):
            card = page.locator(f"#entry-{entry.pk}")
            card.locator(f"input[name='e{entry.pk}-c{theory.pk}']").fill(str(th))
            card.locator(f"input[name='e{entry.pk}-c{practical.pk}']").fill(str(pr))
            with page.expect_navigation():
                card.locator(f"#save-{entry.pk}").click()
    page.screenshot(path=f"{SHOTS}/competition-judge-sheet.png", full_page=True)
    sign_in(page, live_server, "chief")
    page.goto(f"{live_server.url}/judging/{discipline.pk}/")
    page.click("#confirm-scores")
    page.wait_for_selector(".rank")
    ranked = {e.pk: (e.rank, e.total) for e in Entry.objects.filter(competition=competition)}
    # 张伟: theory 88 → 35.2, practical 46 → 55.2 = 90.4; 李娜: 82 → 32.8, 39 → 46.8 = 79.6
    assert ranked == {
        entries[0].pk: (1, Decimal("90.400")),
        entries[1].pk: (2, Decimal("79.600")),
    }

    # --- the organiser sets the awards and publishes ----------------------------------------
    admin = tree.users["chengdu_admin"]
    sign_in(page, live_server, "chengdu_admin")
    services.set_awards(
        admin,
        discipline,
        awards=[
            services.AwardInput("一等奖", 1, 1, "技术能手"),
            services.AwardInput("二等奖", 2, 2),
        ],
    )
    page.goto(f"{live_server.url}/competitions/{competition.pk}/")
    page.click("#publish")
    page.wait_for_selector("#results")

    # --- the public results and the winner's certificate ------------------------------------
    public = page.context.browser.new_context()
    anonymous = public.new_page()
    anonymous.goto(f"{live_server.url}/results/competitions/{competition.pk}/")
    rows = anonymous.locator(f"#trade-{discipline.pk} tbody tr")
    assert rows.count() == 2
    first = rows.nth(0).inner_text()
    assert "张伟" in first and "技术能手" in first and "90.4" in first
    assert "李娜" in rows.nth(1).inner_text()
    anonymous.screenshot(path=f"{SHOTS}/competition-results.png", full_page=True)
    public.close()
    sign_in(phone, live_server, "worker")
    phone.goto(f"{live_server.url}/me/competitions/")
    link = phone.locator(f"#certificate-{entries[0].pk}")
    assert link.is_visible()
    response = phone.request.get(f"{live_server.url}{link.get_attribute('href')}")
    assert response.status == 200 and response.body().startswith(b"%PDF")
    fits(phone)
