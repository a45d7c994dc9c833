"""Shared fixtures: a small union tree with two cities, cadres at each level and a worker.

成都 and 绵阳 are the two cities the permission tests set against each other.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from gonghui.orgs import services
from gonghui.orgs.identity import id_check_char
from gonghui.orgs.models import Member, Org, OrgKind, RoleKind
from gonghui.orgs.scoping import SYSTEM

PASSWORD = "pw-for-tests-2026"


def make_id_number(region: str = "510104", birth: str = "19900307", seq: int = 1) -> str:
    """A valid 18-character ID number (correct check character)."""
    first17 = f"{region}{birth}{seq:03d}"
    return first17 + id_check_char(first17)


@dataclass
class Tree:
    province: Org
    chengdu: Org
    mianyang: Org
    jinjiang: Org
    fucheng: Org
    chunxilu: Org
    chengxiang: Org
    cd_union: Org
    cd_branch: Org
    cd_team: Org
    my_union: Org
    cd_member: Member
    cd_member2: Member
    team_member: Member
    my_member: Member
    users: dict[str, Any]

    def refresh(self) -> None:
        for value in vars(self).values():
            if hasattr(value, "refresh_from_db"):
                value.refresh_from_db()


def _user(username: str, **extra: Any) -> Any:
    user = get_user_model().objects.create_user(username=username, password=PASSWORD, **extra)
    return user


def build_tree() -> Tree:
    s = SYSTEM
    province = services.create_org(
        actor=s, parent=None, name="四川省总工会", code="51", kind=OrgKind.PROVINCE
    )
    chengdu = services.create_org(
        actor=s, parent=province, name="成都市总工会", code="5101", kind=OrgKind.CITY
    )
    mianyang = services.create_org(
        actor=s, parent=province, name="绵阳市总工会", code="5107", kind=OrgKind.CITY
    )
    jinjiang = services.create_org(
        actor=s, parent=chengdu, name="锦江区总工会", code="510104", kind=OrgKind.COUNTY
    )
    fucheng = services.create_org(
        actor=s, parent=mianyang, name="涪城区总工会", code="510703", kind=OrgKind.COUNTY
    )
    chunxilu = services.create_org(
        actor=s, parent=jinjiang, name="春熙路街道工会", code="510104001", kind=OrgKind.TOWNSHIP
    )
    chengxiang = services.create_org(
        actor=s, parent=fucheng, name="城厢街道工会", code="510703001", kind=OrgKind.TOWNSHIP
    )
    cd_union = services.create_org(
        actor=s,
        parent=chunxilu,
        name="成都华信机械有限公司工会委员会",
        code="510104001001",
        kind=OrgKind.GRASSROOTS,
        industry="manufacturing",
    )
    cd_branch = services.create_org(
        actor=s, parent=cd_union, name="华信机加车间", code="510104001001B1", kind=OrgKind.BRANCH
    )
    cd_team = services.create_org(
        actor=s,
        parent=cd_branch,
        name="华信机加车间甲班",
        code="510104001001B1T1",
        kind=OrgKind.TEAM,
    )
    my_union = services.create_org(
        actor=s,
        parent=chengxiang,
        name="绵阳长虹电子有限公司工会委员会",
        code="510703001001",
        kind=OrgKind.GRASSROOTS,
    )
    cd_member = services.register_member(
        actor=s, unit=cd_union, name="张伟", id_number=make_id_number(seq=11), phone="13800001234"
    )
    cd_member2 = services.register_member(
        actor=s, unit=cd_union, name="李娜", id_number=make_id_number(seq=22)
    )
    team_member = services.register_member(
        actor=s, unit=cd_team, name="王强", id_number=make_id_number(seq=33)
    )
    my_member = services.register_member(
        actor=s,
        unit=my_union,
        name="刘芳",
        id_number=make_id_number(region="510703", seq=44),
        phone="13900005678",
    )
    users = {
        "superuser": get_user_model().objects.create_superuser(username="root", password=PASSWORD),
        "province_admin": _user("province_admin"),
        "chengdu_admin": _user("chengdu_admin"),
        "chengdu_staff": _user("chengdu_staff"),
        "chengdu_viewer": _user("chengdu_viewer"),
        "mianyang_admin": _user("mianyang_admin"),
        "cd_union_admin": _user("cd_union_admin"),
        "cd_union_only": _user("cd_union_only"),
        "worker": _user("worker"),
        "nobody": _user("nobody"),
    }
    grants = [
        ("province_admin", province, RoleKind.ADMIN, False, True),
        ("chengdu_admin", chengdu, RoleKind.ADMIN, False, False),
        ("chengdu_staff", chengdu, RoleKind.STAFF, False, False),
        ("chengdu_viewer", chengdu, RoleKind.VIEWER, False, False),
        ("mianyang_admin", mianyang, RoleKind.ADMIN, False, False),
        ("cd_union_admin", cd_union, RoleKind.ADMIN, False, False),
        ("cd_union_only", cd_union, RoleKind.ADMIN, True, False),
    ]
    for username, org, kind, org_only, personal in grants:
        services.grant_role(
            actor=s,
            user=users[username],
            org=org,
            kind=kind,
            org_only=org_only,
            may_export_personal_data=personal,
        )
    cd_member.user = users["worker"]
    cd_member.save(update_fields=["user"])
    tree = Tree(
        province,
        chengdu,
        mianyang,
        jinjiang,
        fucheng,
        chunxilu,
        chengxiang,
        cd_union,
        cd_branch,
        cd_team,
        my_union,
        cd_member,
        cd_member2,
        team_member,
        my_member,
        users,
    )
    tree.refresh()
    return tree


@pytest.fixture
def tree(db) -> Tree:
    return build_tree()


@pytest.fixture
def today() -> datetime.date:
    return datetime.date.today()


def login(client: Any, user: Any) -> Any:
    client.force_login(user)
    return client


def in_ci() -> bool:
    return os.environ.get("CI") == "true"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2 at production strength would dominate the suite's run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _token_uses_written_at_once(monkeypatch):
    # Tests count statements: a token's due use is written by its own request, never
    # later by another test's (api/tests/test_api.py tests the writing together).
    from gonghui.accounts import services as accounts

    monkeypatch.setattr(accounts, "TOKEN_USE_FLUSH_SECONDS", 0.0)
    accounts.token_uses.pending.clear()


# --- browser tests: Debian's Chromium driven by Playwright against the live test server.
# Chromium missing: under CI that is a failure; locally the tests skip and say so.

BROWSER_TESTS = Path(__file__).parent / "tests" / "browser"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
# between browser steps are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).is_relative_to(BROWSER_TESTS):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium (/usr/bin/chromium) is required under CI")
        pytest.skip("SKIPPED browser tests: /usr/bin/chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser) -> Iterator[object]:
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


@pytest.fixture
def phone(browser) -> Iterator[object]:
    context = browser.new_context(
        locale="zh-CN", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


def wipe_union_data(*, users: bool = False) -> None:
    """Delete every union, member and what hangs on them (tests that build the demo twice).
    Apps whose rows protect an org or a member are emptied first."""
    from gonghui.activities.models import Activity
    from gonghui.cases.models import Case, HardshipFile
    from gonghui.competitions.models import Competition, Entry
    from gonghui.learning.demo import delete_study_content
    from gonghui.news.models import Article, Channel
    from gonghui.notices.models import Notice
    from gonghui.orgs.models import MAX_DEPTH
    from gonghui.pledges.models import Pledge

    Activity.objects.all().delete()
    Article.objects.filter(origin__isnull=False).delete()
    Article.objects.all().delete()
    Channel.objects.all().delete()
    Entry.objects.all().delete()
    Competition.objects.filter(parent__isnull=False).delete()
    Competition.objects.all().delete()
    delete_study_content()
    Notice.objects.all().delete()
    Pledge.objects.all().delete()
    HardshipFile.objects.all().delete()
    Case.objects.all().delete()
    Member.objects.all().delete()
    for depth in reversed(range(MAX_DEPTH)):
        Org.objects.filter(depth=depth).delete()
    if users:
        get_user_model().objects.all().delete()
