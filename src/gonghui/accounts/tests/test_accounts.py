"""Sign-in (rate-limited), sign-out, the landing pages, the health check and the account
services."""

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.http import Http404
from django.test import Client
from django.urls import reverse

from conftest import PASSWORD
from gonghui.accounts import services
from gonghui.audit.models import AuditEntry
from gonghui.orgs import scoping
from gonghui.orgs.models import Member
from gonghui.orgs.scoping import SYSTEM, Perm

User = get_user_model()
STRONG = "Zhigong#2026-strong"


def signed_in_user_id(client: Client) -> str | None:
    return client.session.get("_auth_user_id")


# --- the sign-in page ---------------------------------------------------------------------


def test_login_page_is_chinese_by_default(db, client):
    response = client.get("/login/")
    assert response.status_code == 200
    assert '<html lang="zh-hans">' in response.content.decode()
    assert "accounts/login.html" in [t.name for t in response.templates]
    # A browser asking for English still gets Chinese unless the user chose English.
    english_browser = client.get("/login/", headers={"Accept-Language": "en"})
    assert '<html lang="zh-hans">' in english_browser.content.decode()
    client.cookies["django_language"] = "en"
    assert '<html lang="en">' in client.get("/login/").content.decode()


def test_login_with_the_right_password(tree, client):
    response = client.post("/login/", {"username": "chengdu_admin", "password": PASSWORD})
    assert response.status_code == 302
    assert response.url == reverse("home")
    assert signed_in_user_id(client) == str(tree.users["chengdu_admin"].pk)


def test_login_with_a_wrong_password(tree, client):
    response = client.post("/login/", {"username": "chengdu_admin", "password": "wrong"})
    assert response.status_code == 200
    assert response.context["form"].errors
    assert signed_in_user_id(client) is None


def test_five_wrong_passwords_lock_the_account(tree, client):
    statuses = [
        client.post("/login/", {"username": "chengdu_admin", "password": f"wrong-{i}"}).status_code
        for i in range(5)
    ]
    assert statuses == [200, 200, 200, 200, 429]
    response = client.post("/login/", {"username": "chengdu_admin", "password": PASSWORD})
    assert response.status_code == 429
    assert "accounts/locked_out.html" in [t.name for t in response.templates]
    assert signed_in_user_id(client) is None
    # Others are not locked out by it.
    other = client.post("/login/", {"username": "chengdu_staff", "password": PASSWORD})
    assert other.status_code == 302
    assert signed_in_user_id(client) == str(tree.users["chengdu_staff"].pk)


def test_a_locked_user_cannot_get_an_api_token_either(tree, client):
    for i in range(5):
        client.post("/login/", {"username": "chengdu_admin", "password": f"wrong-{i}"})
    response = client.post(
        "/api/auth/token",
        {"username": "chengdu_admin", "password": PASSWORD},
        content_type="application/json",
    )
    assert response.status_code == 429
    assert response.json()["code"] == "locked_out"


def test_signed_in_user_visiting_login_is_sent_home(tree, client):
    client.force_login(tree.users["chengdu_admin"])
    response = client.get("/login/")
    assert response.status_code == 302
    assert response.url == reverse("home")


def test_logout(tree, client):
    client.force_login(tree.users["worker"])
    assert client.get("/me/").status_code == 200
    response = client.post("/logout/")
    assert response.status_code == 302
    assert response.url == reverse("login")
    assert signed_in_user_id(client) is None
    after = client.get("/me/")
    assert after.status_code == 302
    assert after.url == f"{reverse('login')}?next=/me/"


# --- health -------------------------------------------------------------------------------


def test_healthz(db, client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok", "database": "ok", "vendor": connection.vendor}


def test_healthz_needs_no_sign_in(db):
    assert Client().get("/healthz").status_code == 200


# --- landing pages ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "org_name"),
    [
        ("chengdu_admin", "chengdu"),
        ("chengdu_viewer", "chengdu"),
        ("province_admin", "province"),
        ("superuser", "province"),
        ("cd_union_only", "cd_union"),
        ("mianyang_admin", "mianyang"),
    ],
)
def test_home_sends_a_cadre_to_their_union(tree, client, username, org_name):
    client.force_login(tree.users[username])
    response = client.get("/")
    assert response.status_code == 302
    org = getattr(tree, org_name)
    assert response.url == reverse("org_detail", kwargs={"org_id": org.pk})


@pytest.mark.parametrize("username", ["worker", "nobody"])
def test_home_sends_a_worker_to_their_page(tree, client, username):
    client.force_login(tree.users[username])
    response = client.get("/")
    assert response.status_code == 302
    assert response.url == reverse("me")


def test_home_needs_sign_in(db, client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.url == f"{reverse('login')}?next=/"


def test_worker_page_shows_own_masked_data(tree, client):
    client.force_login(tree.users["worker"])
    response = client.get("/me/")
    assert response.status_code == 200
    assert response.context["member"] == tree.cd_member
    assert [o.pk for o in response.context["trail"]] == tree.cd_union.ancestor_ids
    html = response.content.decode()
    assert "张伟" in html
    assert "5101**********0111" in html
    assert "138****1234" in html
    assert tree.cd_union.name in html
    # Never the full numbers, never anyone else.
    assert "510104199003070111" not in html
    assert "13800001234" not in html
    for other in ("李娜", "王强", "刘芳"):
        assert other not in html


def test_me_page_for_an_account_without_member_record(tree, client):
    client.force_login(tree.users["nobody"])
    response = client.get("/me/")
    assert response.status_code == 200
    assert response.context["member"] is None
    assert response.context["trail"] == []


# --- account services ---------------------------------------------------------------------


def test_create_worker_account(tree):
    admin = tree.users["cd_union_admin"]
    user = services.create_worker_account(
        actor=admin, member=tree.cd_member2, username="lina", password=STRONG
    )
    assert user.username == "lina"
    assert user.first_name == "李娜"
    assert user.check_password(STRONG)
    assert not user.is_staff and not user.is_superuser
    assert Member.objects.get(pk=tree.cd_member2.pk).user == user
    # The worker sees their own record and nothing else.
    assert list(Member.objects.restrict(user, Perm.MEMBER_VIEW)) == [tree.cd_member2]
    assert scoping.grants_for(user) == []
    entry = AuditEntry.objects.get(action="create", target_type="auth.user")
    assert entry.actor == admin
    assert entry.target_id == str(user.pk)
    assert entry.org_id == tree.cd_union.pk
    assert entry.before is None
    assert entry.after == {"username": "lina"}
    assert "李娜" in entry.summary
    assert PASSWORD not in str(entry.after) and STRONG not in str(entry.after)


def test_worker_account_refusals(tree):
    admin = tree.users["chengdu_admin"]
    with pytest.raises(ValidationError) as info:
        services.create_worker_account(
            actor=admin, member=tree.cd_member, username="zhangwei", password=STRONG
        )
    assert info.value.code == "account_exists"
    for taken in ("worker", "WORKER", " worker "):
        with pytest.raises(ValidationError) as info:
            services.create_worker_account(
                actor=admin, member=tree.cd_member2, username=taken, password=STRONG
            )
        assert info.value.code == "username_taken"
    with pytest.raises(ValidationError) as info:
        services.create_worker_account(
            actor=admin, member=tree.cd_member2, username="  ", password=STRONG
        )
    assert info.value.code == "username_missing"
    with pytest.raises(ValidationError) as info:
        services.create_worker_account(
            actor=admin, member=tree.cd_member2, username="lina", password="123"
        )
    assert {e.code for e in info.value.error_list} >= {"password_too_short"}
    with pytest.raises(Http404):
        services.create_worker_account(
            actor=admin, member=tree.my_member, username="liufang", password=STRONG
        )
    with pytest.raises(PermissionDenied):
        services.create_worker_account(
            actor=tree.users["chengdu_viewer"],
            member=tree.cd_member2,
            username="lina",
            password=STRONG,
        )
    with pytest.raises(Http404):
        services.create_worker_account(
            actor=tree.users["worker"], member=tree.cd_member2, username="lina", password=STRONG
        )
    assert User.objects.count() == 10
    assert Member.objects.get(pk=tree.cd_member2.pk).user_id is None
    assert Member.objects.get(pk=tree.my_member.pk).user_id is None
    assert not AuditEntry.objects.filter(target_type="auth.user").exists()


def test_create_cadre_account(tree):
    admin = tree.users["chengdu_admin"]
    user = services.create_cadre_account(
        actor=admin, username=" wangfang ", full_name=" 王芳 ", password=STRONG, org=tree.chengdu
    )
    assert user.username == "wangfang"
    assert user.first_name == "王芳"
    assert user.check_password(STRONG)
    # Roles are granted separately: a new cadre sees nothing yet.
    assert scoping.grants_for(user) == []
    assert not Member.objects.restrict(user, Perm.MEMBER_VIEW).exists()
    entry = AuditEntry.objects.get(action="create", target_type="auth.user")
    assert entry.actor == admin
    assert entry.target_id == str(user.pk)
    assert entry.after == {"username": "wangfang"}
    assert entry.org == tree.chengdu  # so 成都's administrators see it in their log
    system_made = services.create_cadre_account(
        actor=SYSTEM, username="sys_made", full_name="", password=STRONG
    )
    assert AuditEntry.objects.get(target_id=str(system_made.pk)).actor_name == "system"


def test_cadre_account_refusals(tree):
    with pytest.raises(ValidationError) as info:
        services.create_cadre_account(
            actor=tree.users["chengdu_admin"],
            username="Chengdu_Staff",
            full_name="",
            password=STRONG,
            org=tree.chengdu,
        )
    assert info.value.code == "username_taken"
    with pytest.raises(ValidationError) as info:
        services.create_cadre_account(
            actor=tree.users["chengdu_admin"],
            username="newcadre",
            full_name="",
            password="newcadre1",
            org=tree.chengdu,
        )
    assert "password_too_similar" in {e.code for e in info.value.error_list}
    for username in ("chengdu_staff", "chengdu_viewer"):
        with pytest.raises(PermissionDenied):
            services.create_cadre_account(
                actor=tree.users[username],
                username="newcadre",
                full_name="",
                password=STRONG,
                org=tree.chengdu,
            )
    for username in ("worker", "nobody", "chengdu_admin"):
        with pytest.raises((PermissionDenied, Http404)):
            services.create_cadre_account(
                actor=tree.users[username],
                username="newcadre",
                full_name="",
                password=STRONG,
                org=tree.mianyang,
            )
    # Without a union to belong to, only the back office creates accounts.
    with pytest.raises(PermissionDenied):
        services.create_cadre_account(
            actor=tree.users["chengdu_admin"], username="newcadre", full_name="", password=STRONG
        )
    assert not User.objects.filter(username__in=["newcadre"]).exists()
    assert User.objects.count() == 10
    assert not AuditEntry.objects.filter(target_type="auth.user").exists()


def test_api_tokens(tree):
    user = tree.users["chengdu_admin"]
    raw = services.issue_api_token(user=user, label="x" * 100)
    other = services.issue_api_token(user=user)
    assert raw != other
    assert user.api_tokens.count() == 2
    assert user.api_tokens.get(prefix=raw[:8]).label == "x" * 60
    assert services.revoke_api_token(raw_token=raw) is True
    assert services.revoke_api_token(raw_token=raw) is False
    assert user.api_tokens.count() == 1
    client = Client()
    assert client.get("/api/me", headers={"Authorization": f"Bearer {raw}"}).status_code == 401
    assert client.get("/api/me", headers={"Authorization": f"Bearer {other}"}).status_code == 200
