"""The HTTP API: authentication, error mapping, and every org, member and transfer
endpoint with its exact answers, its scoping (404 outside) and its permissions (403)."""

import datetime
import json
import math
import secrets
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conftest import PASSWORD, make_id_number
from gonghui.accounts import services as accounts_services
from gonghui.accounts.models import ApiToken, hash_token
from gonghui.accounts.services import _flush_token_uses_at_exit, issue_api_token, token_uses
from gonghui.audit.models import AuditEntry
from gonghui.orgs import api as orgs_api
from gonghui.orgs import services
from gonghui.orgs.models import Member, MemberStatus, MemberTransfer, Org, OrgKind, TransferStatus
from gonghui.orgs.scoping import PERMISSIONS_BY_ROLE, SYSTEM

User = get_user_model()


class Api:
    """A client that sends one user's bearer token with every request."""

    def __init__(self, user: Any, client: Client | None = None) -> None:
        self.client = client or Client()
        self.headers = {"Authorization": f"Bearer {issue_api_token(user=user)}"}

    def get(self, url: str, params: dict[str, Any] | None = None) -> Any:
        return self.client.get(url, params or {}, headers=self.headers)

    def _send(self, method: str, url: str, body: Any) -> Any:
        return getattr(self.client, method)(
            url,
            json.dumps(body if body is not None else {}),
            content_type="application/json",
            headers=self.headers,
        )

    def post(self, url: str, body: Any = None) -> Any:
        return self._send("post", url, body)

    def patch(self, url: str, body: Any = None) -> Any:
        return self._send("patch", url, body)


@pytest.fixture
def as_user(tree):
    return lambda username: Api(tree.users[username])


def org_json(org: Org) -> dict[str, Any]:
    org.refresh_from_db()
    return {
        "id": org.pk,
        "name": org.name,
        "code": org.code,
        "kind": org.kind,
        "status": org.status,
        "parent_id": org.parent_id,
        "depth": org.depth,
        "industry": org.industry,
        "address": org.address,
        "version": org.version,
    }


def error_codes(response: Any) -> list[str]:
    return [d["code"] for d in response.json()["detail"]]


def state() -> list[Any]:
    """Everything a refused request might have changed."""
    return [
        list(Org.objects.order_by("pk").values()),
        list(Member.objects.order_by("pk").values()),
        list(MemberTransfer.objects.order_by("pk").values()),
        AuditEntry.objects.count(),
    ]


# --- authentication -----------------------------------------------------------------------


def test_obtain_token(tree, client):
    response = client.post(
        "/api/auth/token",
        {"username": "chengdu_admin", "password": PASSWORD, "label": "手机"},
        content_type="application/json",
    )
    assert response.status_code == 200
    data = response.json()
    assert set(data) == {"token", "username"}
    assert data["username"] == "chengdu_admin"
    token = ApiToken.objects.get()
    assert token.user == tree.users["chengdu_admin"]
    assert token.key_hash == hash_token(data["token"])
    assert token.prefix == data["token"][:8]
    assert token.label == "手机"
    assert data["token"] not in token.key_hash
    assert User.objects.get(username="chengdu_admin").last_login is not None
    me = client.get("/api/me", headers={"Authorization": f"Bearer {data['token']}"})
    assert me.status_code == 200
    assert me.json()["username"] == "chengdu_admin"
    assert ApiToken.objects.get().last_used_at is not None


@pytest.fixture
def quiet_second(monkeypatch):
    """Due token uses wait for a quiet second (an hour here), which `wait()` makes pass."""
    monkeypatch.setattr(accounts_services, "TOKEN_USE_FLUSH_SECONDS", 3600.0)
    monkeypatch.setattr(token_uses, "flushed_at", -math.inf)

    def wait() -> None:
        token_uses.flushed_at = -math.inf

    return wait


def test_a_tokens_last_use_is_written_at_most_hourly(tree, quiet_second):
    """Written on its first use, then only once an hour has passed: a burst of requests
    does not pay a second commit each."""
    worker = Api(tree.users["worker"])
    token = ApiToken.objects.get(user=tree.users["worker"])
    assert token.last_used_at is None
    assert worker.get("/api/me").status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None
    half_an_hour_ago = timezone.now() - datetime.timedelta(minutes=30)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=half_an_hour_ago)
    assert worker.get("/api/me").status_code == 200
    token.refresh_from_db()
    assert token.last_used_at == half_an_hour_ago
    two_hours_ago = timezone.now() - datetime.timedelta(hours=2)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=two_hours_ago)
    quiet_second()
    assert worker.get("/api/me").status_code == 200
    token.refresh_from_db()
    assert token.last_used_at > two_hours_ago


def test_a_bursts_token_uses_are_written_together(tree, quiet_second):
    """In a burst, the first due use is written at once and the others of the same second
    together, by the next request after it (or at exit): one UPDATE, none lost."""
    users = [tree.users[name] for name in ("worker", "chengdu_admin", "mianyang_admin")]
    clients = [Api(user) for user in users]
    tokens = ApiToken.objects.filter(user__in=users)
    assert tokens.count() == 3 and not tokens.filter(last_used_at__isnull=False).exists()

    def updates(call) -> int:
        with CaptureQueriesContext(connection) as captured:
            call()
        return sum(q["sql"].startswith("UPDATE") for q in captured.captured_queries)

    assert updates(lambda: clients[0].get("/api/me")) == 1  # after a quiet second: at once
    assert updates(lambda: clients[1].get("/api/me")) == 0  # within the second: waits
    assert updates(lambda: clients[2].get("/api/me")) == 0
    assert set(token_uses.pending) == set(
        tokens.exclude(user=users[0]).values_list("pk", flat=True)
    )
    quiet_second()
    assert updates(lambda: clients[0].get("/api/me")) == 1  # the next request writes both
    assert not token_uses.pending
    assert not tokens.filter(last_used_at__isnull=True).exists()
    # What a process has not written yet is written at its exit.
    ApiToken.objects.update(last_used_at=None)
    assert updates(lambda: clients[1].get("/api/me")) == 0
    _flush_token_uses_at_exit()
    assert ApiToken.objects.get(user=users[1]).last_used_at is not None


def test_obtain_token_wrong_password(tree, client):
    response = client.post(
        "/api/auth/token",
        {"username": "chengdu_admin", "password": "wrong"},
        content_type="application/json",
    )
    assert response.status_code == 401
    assert response.json()["code"] == "bad_credentials"
    unknown = client.post(
        "/api/auth/token", {"username": "ghost", "password": "x"}, content_type="application/json"
    )
    assert unknown.status_code == 401
    assert unknown.json()["code"] == "bad_credentials"
    assert not ApiToken.objects.exists()


def test_obtain_token_refused_for_an_inactive_user(tree, client):
    User.objects.filter(username="chengdu_admin").update(is_active=False)
    response = client.post(
        "/api/auth/token",
        {"username": "chengdu_admin", "password": PASSWORD},
        content_type="application/json",
    )
    assert response.status_code == 401
    assert not ApiToken.objects.exists()


def test_obtain_token_locks_after_five_failures(tree, client):
    def attempt(username: str, password: str) -> Any:
        return client.post(
            "/api/auth/token",
            {"username": username, "password": password},
            content_type="application/json",
        )

    statuses = [attempt("chengdu_admin", f"wrong-{i}").status_code for i in range(5)]
    assert statuses[:4] == [401, 401, 401, 401]
    assert statuses[4] == 429  # the fifth failure locks
    response = attempt("chengdu_admin", PASSWORD)  # even the right password now
    assert response.status_code == 429
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["code"] == "locked_out"
    assert not ApiToken.objects.exists()
    # The lock is per user name (and address): another user still gets a token.
    assert attempt("chengdu_staff", PASSWORD).status_code == 200


def test_four_failures_then_success_resets(tree, client):
    for i in range(4):
        client.post(
            "/api/auth/token",
            {"username": "chengdu_admin", "password": f"wrong-{i}"},
            content_type="application/json",
        )
    ok = client.post(
        "/api/auth/token",
        {"username": "chengdu_admin", "password": PASSWORD},
        content_type="application/json",
    )
    assert ok.status_code == 200
    failed = client.post(
        "/api/auth/token",
        {"username": "chengdu_admin", "password": "wrong"},
        content_type="application/json",
    )
    assert failed.status_code == 401


def test_invalid_token_and_no_auth_are_401(tree, client):
    for headers in (
        {},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": f"Token {issue_api_token(user=tree.users['chengdu_admin'])}"},
    ):
        response = client.get("/api/me", headers=headers)
        assert response.status_code == 401, headers
        assert response.json() == {"detail": "Unauthorized"}
    response = Client().post(
        f"/api/orgs/{tree.chunxilu.pk}/children",
        {"name": "x", "code": "X1", "kind": "grassroots"},
        content_type="application/json",
    )
    assert response.status_code == 401
    assert not Org.objects.filter(code="X1").exists()


def test_token_of_a_deactivated_user_stops_working(tree, client):
    token = issue_api_token(user=tree.users["chengdu_admin"])
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/me", headers=headers).status_code == 200
    User.objects.filter(username="chengdu_admin").update(is_active=False)
    assert client.get("/api/me", headers=headers).status_code == 401


def test_session_auth_needs_csrf_on_post(tree):
    client = Client(enforce_csrf_checks=True)
    client.force_login(tree.users["chengdu_admin"])
    assert client.get("/api/me").json()["username"] == "chengdu_admin"
    url = f"/api/orgs/{tree.chunxilu.pk}/children"
    body = {"name": "会话新建工会", "code": "510104001009", "kind": "grassroots"}
    refused = client.post(url, body, content_type="application/json")
    assert refused.status_code == 403
    assert not Org.objects.filter(code="510104001009").exists()
    csrf = secrets.token_hex(16)
    client.cookies["csrftoken"] = csrf
    created = client.post(url, body, content_type="application/json", headers={"X-CSRFToken": csrf})
    assert created.status_code == 201
    assert Org.objects.get(code="510104001009").parent_id == tree.chunxilu.pk


def test_bearer_token_needs_no_csrf(tree):
    api = Api(tree.users["chengdu_admin"], Client(enforce_csrf_checks=True))
    response = api.post(
        f"/api/orgs/{tree.chunxilu.pk}/children",
        {"name": "令牌新建工会", "code": "510104001008", "kind": "grassroots"},
    )
    assert response.status_code == 201


# --- /api/me ------------------------------------------------------------------------------


def test_me_for_a_cadre(tree, as_user):
    response = as_user("chengdu_admin").get("/api/me")
    assert response.status_code == 200
    assert response.json() == {
        "id": tree.users["chengdu_admin"].pk,
        "username": "chengdu_admin",
        "full_name": "",
        "is_superuser": False,
        "roles": [
            {
                "org_id": tree.chengdu.pk,
                "depth": 1,
                "org_only": False,
                "permissions": sorted(PERMISSIONS_BY_ROLE["admin"]),
            }
        ],
        "member_id": None,
    }
    province = as_user("province_admin").get("/api/me").json()
    assert province["roles"][0]["permissions"] == sorted(
        PERMISSIONS_BY_ROLE["admin"] | {"member.export_personal"}
    )
    only = as_user("cd_union_only").get("/api/me").json()
    assert only["roles"] == [
        {
            "org_id": tree.cd_union.pk,
            "depth": 4,
            "org_only": True,
            "permissions": sorted(PERMISSIONS_BY_ROLE["admin"]),
        }
    ]
    assert as_user("superuser").get("/api/me").json()["is_superuser"] is True


def test_me_for_a_worker(tree, as_user):
    User.objects.filter(username="worker").update(first_name="张伟")
    response = as_user("worker").get("/api/me")
    assert response.json() == {
        "id": tree.users["worker"].pk,
        "username": "worker",
        "full_name": "张伟",
        "is_superuser": False,
        "roles": [],
        "member_id": tree.cd_member.pk,
    }


# --- schema and docs ----------------------------------------------------------------------


PLEDGE_PATHS = {
    "/api/pledges",
    "/api/pledges/for-me",
    "/api/pledges/{pledge_id}",
    "/api/pledges/{pledge_id}/publish",
    "/api/pledges/{pledge_id}/progress",
    "/api/pledges/{pledge_id}/photos",
    "/api/pledges/photos/{photo_id}",
    "/api/pledges/{pledge_id}/complete",
    "/api/pledges/{pledge_id}/cancel",
    "/api/pledges/{pledge_id}/comments",
    "/api/pledges/comments/{comment_id}/hide",
}


COMPETITION_PATHS = {
    "/api/competitions",
    "/api/competitions/mine",
    "/api/competitions/seats",
    "/api/competitions/entries/{entry_id}/decide",
    "/api/competitions/entries/{entry_id}/withdraw",
    "/api/competitions/entries/{entry_id}/nominate",
    "/api/competitions/entries/{entry_id}/certificate",
    "/api/competitions/disciplines/{discipline_id}/judges",
    "/api/competitions/disciplines/{discipline_id}/awards",
    "/api/competitions/disciplines/{discipline_id}/scores",
    "/api/competitions/disciplines/{discipline_id}/scores/confirm",
    "/api/competitions/disciplines/{discipline_id}/scores/theory",
    "/api/competitions/disciplines/{discipline_id}/scores/{entry_id}",
    "/api/competitions/marks/{mark_id}/correct",
    "/api/competitions/{competition_id}",
    "/api/competitions/{competition_id}/open",
    "/api/competitions/{competition_id}/start-judging",
    "/api/competitions/{competition_id}/publish",
    "/api/competitions/{competition_id}/cancel",
    "/api/competitions/{competition_id}/entries",
    "/api/competitions/{competition_id}/scores",
    "/api/competitions/{competition_id}/results",
}


ARTICLE_PATHS = {
    "/api/articles/public",
    "/api/articles/public/{article_id}",
    "/api/articles/channels",
    "/api/articles",
    "/api/articles/{article_id}",
    "/api/articles/{article_id}/submit",
    "/api/articles/{article_id}/return",
    "/api/articles/{article_id}/approve",
    "/api/articles/{article_id}/withdraw",
    "/api/articles/{article_id}/recommend",
    "/api/articles/{article_id}/images",
    "/api/articles/{article_id}/revisions",
    "/api/articles/{article_id}/revisions/{revision_id}/diff",
}


def test_openapi_schema_lists_the_paths(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["info"]["title"] == "Gonghui API"
    assert (
        set(schema["paths"])
        == {
            "/api/auth/token",
            "/api/me",
            "/api/orgs/roots",
            "/api/orgs/search",
            "/api/orgs/{org_id}",
            "/api/orgs/{org_id}/children",
            "/api/orgs/{org_id}/tree",
            "/api/orgs/{org_id}/move",
            "/api/orgs/{org_id}/dissolve",
            "/api/orgs/{org_id}/members",
            "/api/members",
            "/api/members/{member_id}",
            "/api/members/{member_id}/leave",
            "/api/members/{member_id}/transfers",
            "/api/transfers",
            "/api/transfers/{transfer_id}/accept",
            "/api/transfers/{transfer_id}/reject",
            "/api/transfers/{transfer_id}/cancel",
            "/api/stats/metrics",
            "/api/stats/orgs/{org_id}",
            "/api/stats/orgs/{org_id}/children",
            "/api/stats/orgs/{org_id}/trend",
            "/api/notices",
            "/api/notices/inbox",
            "/api/notices/{notice_id}",
            "/api/notices/{notice_id}/issue",
            "/api/notices/{notice_id}/close",
            "/api/notices/{notice_id}/supervision/{org_id}",
            "/api/notices/{notice_id}/supervision/{org_id}/late",
            "/api/notices/{notice_id}/remind",
            "/api/notices/dispatches/{dispatch_id}",
            "/api/notices/dispatches/{dispatch_id}/acknowledge",
            "/api/notices/dispatches/{dispatch_id}/relay",
            "/api/notices/dispatches/{dispatch_id}/plan",
            "/api/notices/dispatches/{dispatch_id}/prefill",
            "/api/notices/dispatches/{dispatch_id}/report",
            "/api/notices/reports/{report_id}/review",
            "/api/activities",
            "/api/activities/for-me",
            "/api/activities/mine/attended",
            "/api/activities/check-in",
            "/api/activities/{activity_id}",
            "/api/activities/{activity_id}/held",
            "/api/activities/{activity_id}/cancel",
            "/api/activities/{activity_id}/registrations",
            "/api/activities/{activity_id}/registrations/{registration_id}",
            "/api/activities/{activity_id}/check-in",
            "/api/activities/{activity_id}/checkins",
            "/api/activities/{activity_id}/qr",
            "/api/courses",
            "/api/courses/for-me",
            "/api/courses/materials",
            "/api/courses/materials/{material_id}",
            "/api/courses/materials/{material_id}/publish",
            "/api/courses/{course_id}",
            "/api/courses/{course_id}/publish",
            "/api/courses/{course_id}/items/{item_id}/open",
            "/api/courses/{course_id}/items/{item_id}/complete",
            "/api/quizzes",
            "/api/quizzes/for-me",
            "/api/quizzes/questions",
            "/api/quizzes/questions/import",
            "/api/quizzes/questions/{question_id}",
            "/api/quizzes/{quiz_id}",
            "/api/quizzes/{quiz_id}/publish",
            "/api/quizzes/{quiz_id}/attempts",
            "/api/quizzes/{quiz_id}/ranking",
            "/api/quizzes/{quiz_id}/ranking/units",
            "/api/quizzes/attempts/{attempt_id}",
            "/api/quizzes/attempts/{attempt_id}/answers",
            "/api/quizzes/attempts/{attempt_id}/submit",
            "/api/points/me",
            "/api/points/leaderboard",
            "/api/cases",
            "/api/cases/mine",
            "/api/cases/figures",
            "/api/cases/calendar",
            "/api/cases/attachments/{case_attachment_id}",
            "/api/cases/hardship-files",
            "/api/cases/hardship-files/{file_id}",
            "/api/cases/hardship-files/{file_id}/review",
            "/api/cases/hardship-files/{file_id}/lift",
            "/api/cases/hardship-files/{file_id}/aid",
            "/api/cases/{case_id}",
            "/api/cases/{case_id}/events",
            "/api/cases/{case_id}/accept",
            "/api/cases/{case_id}/assign",
            "/api/cases/{case_id}/contact",
            "/api/cases/{case_id}/notes",
            "/api/cases/{case_id}/messages",
            "/api/cases/{case_id}/attachments",
            "/api/cases/{case_id}/escalate",
            "/api/cases/{case_id}/transfer",
            "/api/cases/{case_id}/close",
            "/api/cases/{case_id}/withdraw",
            "/api/cases/{case_id}/rate",
            "/api/cases/{case_id}/reopen",
        }
        | PLEDGE_PATHS
        | COMPETITION_PATHS
        | ARTICLE_PATHS
    )
    assert set(schema["paths"]["/api/orgs/{org_id}"]) == {"get", "patch"}
    assert set(schema["paths"]["/api/orgs/{org_id}/children"]) == {"get", "post"}
    assert "BearerToken" in schema["components"]["securitySchemes"]
    assert "security" not in schema["paths"]["/api/auth/token"]["post"]


def test_docs_page(client):
    response = client.get("/api/docs")
    assert response.status_code == 200
    assert b"openapi.json" in response.content


# --- orgs ---------------------------------------------------------------------------------


def test_org_roots(tree, as_user):
    assert as_user("chengdu_admin").get("/api/orgs/roots").json() == [org_json(tree.chengdu)]
    assert as_user("province_admin").get("/api/orgs/roots").json() == [org_json(tree.province)]
    assert as_user("superuser").get("/api/orgs/roots").json() == [org_json(tree.province)]
    assert as_user("cd_union_only").get("/api/orgs/roots").json() == [org_json(tree.cd_union)]
    assert as_user("worker").get("/api/orgs/roots").json() == []
    assert as_user("nobody").get("/api/orgs/roots").json() == []


def test_org_detail_with_breadcrumb_and_subtree_members(tree, as_user):
    response = as_user("chengdu_viewer").get(f"/api/orgs/{tree.cd_union.pk}")
    assert response.status_code == 200
    assert response.json() == {
        "id": tree.cd_union.pk,
        "name": "成都华信机械有限公司工会委员会",
        "code": "510104001001",
        "kind": "grassroots",
        "status": "active",
        "parent_id": tree.chunxilu.pk,
        "depth": 4,
        "industry": "manufacturing",
        "address": "",
        "member_count": 2,
        "version": 1,
        "subtree_members": 3,
        "path": [
            org_json(tree.province),
            org_json(tree.chengdu),
            org_json(tree.jinjiang),
            org_json(tree.chunxilu),
            org_json(tree.cd_union),
        ],
    }
    city = as_user("chengdu_viewer").get(f"/api/orgs/{tree.chengdu.pk}").json()
    assert (city["subtree_members"], city["member_count"]) == (3, 0)
    assert [o["name"] for o in city["path"]] == ["四川省总工会", "成都市总工会"]


def test_org_children_with_counts(tree, as_user):
    api = as_user("chengdu_admin")
    assert api.get(f"/api/orgs/{tree.chengdu.pk}/children").json() == [
        {**org_json(tree.jinjiang), "subtree_members": 3, "subtree_orgs": 5}
    ]
    assert api.get(f"/api/orgs/{tree.cd_union.pk}/children").json() == [
        {**org_json(tree.cd_branch), "subtree_members": 1, "subtree_orgs": 2}
    ]
    assert api.get(f"/api/orgs/{tree.cd_team.pk}/children").json() == []
    province = as_user("province_admin").get(f"/api/orgs/{tree.province.pk}/children").json()
    assert [(o["code"], o["subtree_members"], o["subtree_orgs"]) for o in province] == [
        ("5101", 3, 6),
        ("5107", 1, 4),
    ]
    # 成都's cadre sees 成都 only, even below the province.
    assert api.get(f"/api/orgs/{tree.province.pk}/children").status_code == 404


def test_org_children_include_dissolved_on_request(tree, as_user):
    services.dissolve_org(
        actor=SYSTEM, org=tree.cd_team, reason="合并", transfer_members_to=tree.cd_branch
    )
    api = as_user("chengdu_admin")
    url = f"/api/orgs/{tree.cd_branch.pk}/children"
    assert api.get(url).json() == []
    (team,) = api.get(url, {"include_dissolved": "true"}).json()
    assert (team["code"], team["status"], team["subtree_members"], team["subtree_orgs"]) == (
        "510104001001B1T1",
        "dissolved",
        0,
        0,
    )


def test_org_tree_nested(tree, as_user):
    api = as_user("chengdu_admin")
    assert api.get(f"/api/orgs/{tree.cd_union.pk}/tree").json() == {
        "id": tree.cd_union.pk,
        "name": "成都华信机械有限公司工会委员会",
        "kind": "grassroots",
        "member_count": 3,
        "children": [
            {
                "id": tree.cd_branch.pk,
                "name": "华信机加车间",
                "kind": "branch",
                "member_count": 1,
                "children": [
                    {
                        "id": tree.cd_team.pk,
                        "name": "华信机加车间甲班",
                        "kind": "team",
                        "member_count": 1,
                        "children": [],
                    }
                ],
            }
        ],
    }
    shallow = api.get(f"/api/orgs/{tree.chengdu.pk}/tree", {"depth": 1}).json()
    assert shallow == {
        "id": tree.chengdu.pk,
        "name": "成都市总工会",
        "kind": "city",
        "member_count": 3,
        "children": [
            {
                "id": tree.jinjiang.pk,
                "name": "锦江区总工会",
                "kind": "county",
                "member_count": 3,
                "children": [],
            }
        ],
    }
    # The org-only cadre's tree stops at its own org.
    only = as_user("cd_union_only").get(f"/api/orgs/{tree.cd_union.pk}/tree").json()
    assert (only["member_count"], only["children"]) == (3, [])


def test_org_search_by_pinyin_initials_within_scope(tree, as_user):
    api = as_user("chengdu_admin")
    found = api.get("/api/orgs/search", {"q": "cd"}).json()
    assert found["count"] == 2
    assert found["items"] == [org_json(tree.chengdu), org_json(tree.cd_union)]
    assert api.get("/api/orgs/search", {"q": "my"}).json() == {"items": [], "count": 0}
    assert api.get("/api/orgs/search", {"q": "绵阳"}).json() == {"items": [], "count": 0}
    assert [o["code"] for o in api.get("/api/orgs/search", {"q": "510104"}).json()["items"]] == [
        "510104"
    ]
    within = api.get("/api/orgs/search", {"q": "hx", "within_id": tree.cd_union.pk}).json()
    assert [o["code"] for o in within["items"]] == [
        "510104001001",
        "510104001001B1",
        "510104001001B1T1",
    ]
    assert api.get("/api/orgs/search", {"q": "cd", "within_id": tree.mianyang.pk}).status_code == (
        404
    )
    province = as_user("province_admin").get("/api/orgs/search", {"q": "my"}).json()
    assert [o["code"] for o in province["items"]] == ["5107", "510703001001"]


def test_org_create_child(tree, as_user):
    response = as_user("chengdu_admin").post(
        f"/api/orgs/{tree.chunxilu.pk}/children",
        {
            "name": "成都春熙百货工会",
            "code": "510104001002",
            "kind": "grassroots",
            "industry": "retail",
            "address": "春熙路1号",
        },
    )
    assert response.status_code == 201
    org = Org.objects.get(code="510104001002")
    assert response.json() == {
        "id": org.pk,
        "name": "成都春熙百货工会",
        "code": "510104001002",
        "kind": "grassroots",
        "status": "active",
        "parent_id": tree.chunxilu.pk,
        "depth": 4,
        "industry": "retail",
        "address": "春熙路1号",
        "version": 1,
    }
    assert org.ancestor_ids == [*tree.chunxilu.ancestor_ids, org.pk]
    assert AuditEntry.objects.filter(action="create", target_id=str(org.pk)).exists()


def test_org_create_child_refusals(tree, as_user):
    api = as_user("chengdu_admin")
    url = f"/api/orgs/{tree.cd_team.pk}/children"
    before = state()
    response = api.post(url, {"name": "班组下的车间", "code": "X1", "kind": "branch"})
    assert response.status_code == 422
    data = response.json()
    assert set(data) == {"detail", "code"}
    assert data["code"] == "kind_not_allowed"
    (detail,) = data["detail"]
    assert set(detail) == {"field", "code", "message"}
    assert (detail["field"], detail["code"]) == (None, "kind_not_allowed")
    assert detail["message"]
    response = api.post(
        f"/api/orgs/{tree.chunxilu.pk}/children",
        {"name": "重复", "code": "5107", "kind": "grassroots"},
    )
    assert (response.status_code, response.json()["code"]) == (422, "code_taken")
    response = api.post(
        f"/api/orgs/{tree.chunxilu.pk}/children",
        {"name": "坏行业", "code": "X2", "kind": "grassroots", "industry": "piracy"},
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "industry"
    assert response.json()["code"] == "invalid_choice"
    # A body that fails the schema is a 422 too.
    assert api.post(url, {"name": "缺字段"}).status_code == 422
    assert state() == before


def test_org_patch_with_version(tree, as_user):
    api = as_user("chengdu_admin")
    url = f"/api/orgs/{tree.cd_union.pk}"
    response = api.patch(url, {"version": 1, "name": "华信工会", "address": "锦江区1号"})
    assert response.status_code == 200
    assert response.json() == {
        **org_json(tree.cd_union),
        "name": "华信工会",
        "address": "锦江区1号",
        "version": 2,
    }
    stale = as_user("cd_union_admin").patch(url, {"version": 1, "name": "另一个名字"})
    assert stale.status_code == 409
    data = stale.json()
    assert data["code"] == "stale"
    assert [(d["field"], d["code"]) for d in data["detail"]] == [(None, "stale")]
    tree.cd_union.refresh_from_db()
    assert (tree.cd_union.name, tree.cd_union.version) == ("华信工会", 2)
    assert AuditEntry.objects.filter(action="update", target_type="orgs.org").count() == 1


def test_org_move(tree, as_user):
    response = as_user("chengdu_admin").post(
        f"/api/orgs/{tree.cd_union.pk}/move", {"new_parent_id": tree.jinjiang.pk}
    )
    assert response.status_code == 200
    assert response.json() == {**org_json(tree.cd_union), "parent_id": tree.jinjiang.pk, "depth": 3}
    tree.refresh()
    assert tree.cd_team.depth == 5
    assert tree.cd_team.ancestor_ids == [
        tree.province.pk,
        tree.chengdu.pk,
        tree.jinjiang.pk,
        tree.cd_union.pk,
        tree.cd_branch.pk,
        tree.cd_team.pk,
    ]
    assert tree.cd_union.version == 2
    refused = as_user("chengdu_admin").post(
        f"/api/orgs/{tree.jinjiang.pk}/move", {"new_parent_id": tree.cd_union.pk}
    )
    assert (refused.status_code, refused.json()["code"]) == (422, "move_into_own_subtree")


def test_org_dissolve(tree, as_user):
    api = as_user("chengdu_admin")
    url = f"/api/orgs/{tree.cd_team.pk}/dissolve"
    refused = api.post(url, {"reason": "合并"})
    assert (refused.status_code, refused.json()["code"]) == (422, "has_members")
    response = api.post(url, {"reason": "合并", "transfer_members_to_id": tree.cd_branch.pk})
    assert response.status_code == 200
    data = response.json()
    assert (data["status"], data["version"]) == ("dissolved", 2)
    tree.cd_team.refresh_from_db()
    assert tree.cd_team.member_count == 0
    tree.refresh()
    assert tree.team_member.unit_id == tree.cd_branch.pk
    assert tree.cd_branch.member_count == 1
    again = api.post(url, {"reason": "再次"})
    assert (again.status_code, again.json()["code"]) == (422, "dissolved")
    leave = api.post(
        f"/api/orgs/{tree.cd_branch.pk}/dissolve", {"reason": "撤销", "members_leave": True}
    )
    assert leave.status_code == 200
    tree.refresh()
    assert tree.team_member.status == MemberStatus.LEFT
    assert tree.cd_branch.member_count == 0


# --- members ------------------------------------------------------------------------------


def cd_member_json(tree) -> dict[str, Any]:
    return {
        "id": tree.cd_member.pk,
        "name": "张伟",
        "unit_id": tree.cd_union.pk,
        "unit_name": "成都华信机械有限公司工会委员会",
        "gender": "M",
        "birth_date": "1990-03-07",
        "id_number": "5101**********0111",
        "phone": "138****1234",
        "ethnicity": "",
        "education": "",
        "job": "",
        "is_migrant_worker": False,
        "joined_on": str(timezone.localdate()),
        "status": "active",
        "left_on": None,
        "version": 1,
    }


def test_member_detail_is_masked(tree, as_user):
    response = as_user("chengdu_viewer").get(f"/api/members/{tree.cd_member.pk}")
    assert response.status_code == 200
    assert response.json() == cd_member_json(tree)
    assert b"510104199003070111" not in response.content
    assert b"13800001234" not in response.content


def test_member_list_with_filters_and_pagination(tree, as_user):
    api = as_user("chengdu_admin")
    everyone = api.get("/api/members").json()
    assert everyone["count"] == 3
    assert [m["name"] for m in everyone["items"]] == ["张伟", "李娜", "王强"]
    assert everyone["items"][0] == cd_member_json(tree)

    def names(params: dict[str, Any]) -> list[str]:
        response = api.get("/api/members", params)
        assert response.status_code == 200, params
        return [m["name"] for m in response.json()["items"]]

    assert names({"org_id": tree.cd_team.pk}) == ["王强"]
    assert names({"org_id": tree.cd_branch.pk}) == ["王强"]
    assert names({"q": "李"}) == ["李娜"]
    assert names({"q": "zw"}) == ["张伟"]
    assert names({"q": "wangqiang"}) == ["王强"]
    assert names({"q": "1234"}) == ["张伟"]  # last digits of the phone
    assert names({"q": "0226"}) == ["李娜"]  # last four of the ID number
    assert names({"q": "liufang"}) == []  # 刘芳 is 绵阳's
    page = api.get("/api/members", {"limit": 2, "offset": 1}).json()
    assert page["count"] == 3
    assert [m["name"] for m in page["items"]] == ["李娜", "王强"]
    services.mark_member_left(actor=SYSTEM, member=tree.cd_member2, reason="离职")
    assert names({}) == ["张伟", "王强"]
    assert names({"status": "left"}) == ["李娜"]
    assert names({"status": ""}) == ["张伟", "李娜", "王强"]
    assert api.get("/api/members", {"org_id": tree.my_union.pk}).status_code == 404


def test_member_list_converts_only_the_page(tree, as_user, monkeypatch):
    converted = []
    real = orgs_api.member_out

    def counting(member):
        converted.append(member.pk)
        return real(member)

    monkeypatch.setattr(orgs_api, "member_out", counting)
    data = as_user("province_admin").get("/api/members", {"limit": 1, "offset": 2}).json()
    assert data["count"] == 4
    assert [m["id"] for m in data["items"]] == converted == [tree.team_member.pk]


def test_superuser_lists_every_member(tree, as_user):
    data = as_user("superuser").get("/api/members").json()
    assert data["count"] == 4
    assert [m["name"] for m in data["items"]] == ["张伟", "李娜", "王强", "刘芳"]


def test_register_member(tree, as_user):
    id_number = make_id_number(birth="19951231", seq=62)
    response = as_user("chengdu_staff").post(
        f"/api/orgs/{tree.cd_team.pk}/members",
        {
            "name": "陈晨",
            "id_number": id_number,
            "phone": "13911112222",
            "job": "装配工",
            "is_migrant_worker": True,
            "joined_on": "2024-05-01",
        },
    )
    assert response.status_code == 201
    member = Member.objects.get(name="陈晨")
    assert response.json() == {
        "id": member.pk,
        "name": "陈晨",
        "unit_id": tree.cd_team.pk,
        "unit_name": "华信机加车间甲班",
        "gender": "F",
        "birth_date": "1995-12-31",
        "id_number": "5101**********062X",
        "phone": "139****2222",
        "ethnicity": "",
        "education": "",
        "job": "装配工",
        "is_migrant_worker": True,
        "joined_on": "2024-05-01",
        "status": "active",
        "left_on": None,
        "version": 1,
    }
    assert id_number.endswith("062X")
    tree.refresh()
    assert tree.cd_team.member_count == 2


def test_register_duplicate_is_422(tree, as_user):
    api = as_user("chengdu_admin")
    before = state()
    response = api.post(
        f"/api/orgs/{tree.cd_team.pk}/members",
        {"name": "张伟", "id_number": make_id_number(seq=11)},
    )
    assert response.status_code == 422
    data = response.json()
    assert data["code"] == "duplicate_id"
    assert [(d["field"], d["code"]) for d in data["detail"]] == [(None, "duplicate_id")]
    assert "张伟" in data["detail"][0]["message"]
    hidden = api.post(
        f"/api/orgs/{tree.cd_team.pk}/members",
        {"name": "某人", "id_number": make_id_number(region="510703", seq=44)},
    )
    assert hidden.status_code == 422
    assert hidden.json()["code"] == "duplicate_id"
    assert "刘芳" not in hidden.content.decode()
    assert "绵阳" not in hidden.content.decode()
    bad = api.post(
        f"/api/orgs/{tree.cd_team.pk}/members", {"name": "某人", "id_number": "510104199003070112"}
    )
    assert (bad.status_code, bad.json()["code"]) == (422, "id_check_digit")
    assert state() == before


def test_member_patch(tree, as_user):
    api = as_user("chengdu_staff")
    url = f"/api/members/{tree.cd_member.pk}"
    response = api.patch(url, {"version": 1, "name": "张伟", "job": "电工"})
    assert response.status_code == 200
    # Fields left out of a PATCH keep their values.
    assert response.json() == {**cd_member_json(tree), "job": "电工", "version": 2}
    cleared = api.patch(url, {"version": 2, "name": "张伟", "phone": ""})
    assert cleared.json()["phone"] == ""
    assert cleared.json()["job"] == "电工"
    stale = api.patch(url, {"version": 1, "name": "张伟伟"})
    assert (stale.status_code, stale.json()["code"]) == (409, "stale")
    bad = api.patch(url, {"version": 3, "name": "张伟", "phone": "12"})
    assert (bad.status_code, bad.json()["code"]) == (422, "phone")
    tree.refresh()
    assert (tree.cd_member.name, tree.cd_member.version, tree.cd_member.phone) == ("张伟", 3, "")


def test_member_leave(tree, as_user):
    response = as_user("chengdu_admin").post(
        f"/api/members/{tree.cd_member2.pk}/leave", {"reason": "退休", "left_on": "2026-01-31"}
    )
    assert response.status_code == 200
    data = response.json()
    assert (data["status"], data["left_on"], data["version"]) == ("left", "2026-01-31", 2)
    tree.refresh()
    assert tree.cd_union.member_count == 1
    again = as_user("chengdu_admin").post(
        f"/api/members/{tree.cd_member2.pk}/leave", {"reason": "x"}
    )
    assert (again.status_code, again.json()["code"]) == (422, "already_left")


# --- transfers ----------------------------------------------------------------------------


def test_transfer_across_cities_then_accept(tree, as_user):
    sender, receiver = as_user("chengdu_admin"), as_user("mianyang_admin")
    response = sender.post(
        f"/api/members/{tree.cd_member2.pk}/transfers",
        {"to_unit_code": "510703001001", "reason": "调动"},
    )
    assert response.status_code == 201
    transfer = MemberTransfer.objects.get()
    data = response.json()
    assert data == {
        "id": transfer.pk,
        "member_id": tree.cd_member2.pk,
        "member_name": "李娜",
        "from_unit_id": tree.cd_union.pk,
        "from_unit_name": "成都华信机械有限公司工会委员会",
        "to_unit_id": tree.my_union.pk,
        "to_unit_name": "绵阳长虹电子有限公司工会委员会",
        "status": "pending",
        "reason": "调动",
        "requested_at": data["requested_at"],
        "decided_at": None,
        "decision_note": "",
    }
    assert sender.get("/api/transfers").json() == {"incoming": [], "outgoing": [data]}
    assert receiver.get("/api/transfers").json() == {"incoming": [data], "outgoing": []}
    assert as_user("chengdu_viewer").get("/api/transfers").json() == {
        "incoming": [],
        "outgoing": [],
    }
    # The sender cannot decide for the receiving side.
    assert sender.post(f"/api/transfers/{transfer.pk}/accept").status_code == 404
    accepted = receiver.post(f"/api/transfers/{transfer.pk}/accept", {"note": "欢迎"})
    assert accepted.status_code == 200
    assert accepted.json()["status"] == "accepted"
    assert accepted.json()["decision_note"] == "欢迎"
    assert accepted.json()["decided_at"] is not None
    tree.refresh()
    assert tree.cd_member2.unit_id == tree.my_union.pk
    assert (tree.cd_union.member_count, tree.my_union.member_count) == (1, 2)
    assert receiver.get("/api/transfers").json() == {"incoming": [], "outgoing": []}
    assert sender.get(f"/api/members/{tree.cd_member2.pk}").status_code == 404
    again = receiver.post(f"/api/transfers/{transfer.pk}/reject", {"note": "x"})
    assert (again.status_code, again.json()["code"]) == (422, "not_pending")


def test_transfer_reject_and_cancel(tree, as_user):
    sender, receiver = as_user("chengdu_admin"), as_user("mianyang_admin")
    first = sender.post(
        f"/api/members/{tree.cd_member.pk}/transfers", {"to_unit_code": "510703001001"}
    ).json()
    no_reason = receiver.post(f"/api/transfers/{first['id']}/reject", {})
    assert (no_reason.status_code, no_reason.json()["code"]) == (422, "reason_missing")
    rejected = receiver.post(f"/api/transfers/{first['id']}/reject", {"note": "不符合"})
    assert rejected.status_code == 200
    assert (rejected.json()["status"], rejected.json()["decision_note"]) == ("rejected", "不符合")
    second = sender.post(
        f"/api/members/{tree.cd_member.pk}/transfers", {"to_unit_code": "510703001001"}
    ).json()
    assert receiver.post(f"/api/transfers/{second['id']}/cancel").status_code == 404
    cancelled = sender.post(f"/api/transfers/{second['id']}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    tree.refresh()
    assert tree.cd_member.unit_id == tree.cd_union.pk
    assert (tree.cd_union.member_count, tree.my_union.member_count) == (2, 1)
    assert list(MemberTransfer.objects.values_list("status", flat=True).order_by("id")) == [
        TransferStatus.REJECTED,
        TransferStatus.CANCELLED,
    ]


def test_transfer_within_scope_is_accepted_at_once(tree, as_user):
    response = as_user("chengdu_admin").post(
        f"/api/members/{tree.cd_member.pk}/transfers", {"to_unit_code": "510104001001B1T1"}
    )
    assert response.status_code == 201
    assert response.json()["status"] == "accepted"
    tree.refresh()
    assert (tree.cd_union.member_count, tree.cd_team.member_count) == (1, 2)


def test_transfer_refusals(tree, as_user):
    api = as_user("chengdu_admin")
    url = f"/api/members/{tree.cd_member.pk}/transfers"
    for code, expected in (
        ("nope", "unknown_code"),
        ("510104001001", "same_unit"),
        ("5107", "not_member_unit"),
    ):
        response = api.post(url, {"to_unit_code": code})
        assert (response.status_code, response.json()["code"]) == (422, expected), code
    assert not MemberTransfer.objects.exists()


# --- scoping: 成都 never reaches 绵阳 -------------------------------------------------------


@pytest.fixture
def my_transfer(tree):
    my_union2 = services.create_org(
        actor=SYSTEM,
        parent=tree.chengxiang,
        name="绵阳九洲电器工会委员会",
        code="510703001002",
        kind=OrgKind.GRASSROOTS,
    )
    return MemberTransfer.objects.create(
        member=tree.my_member, from_unit=tree.my_union, to_unit=my_union2
    )


def test_out_of_scope_ids_are_404_and_change_nothing(tree, as_user, my_transfer):
    api = as_user("chengdu_admin")
    org, member, transfer = tree.my_union.pk, tree.my_member.pk, my_transfer.pk
    gets = [
        f"/api/orgs/{org}",
        f"/api/orgs/{tree.mianyang.pk}",
        f"/api/orgs/{org}/children",
        f"/api/orgs/{org}/tree",
        f"/api/members/{member}",
    ]
    for url in gets:
        response = api.get(url)
        assert response.status_code == 404, url
        assert response.json() == {"detail": "Not Found"}
    before = state()
    writes = [
        ("patch", f"/api/orgs/{org}", {"version": 1, "name": "改名"}),
        ("post", f"/api/orgs/{org}/children", {"name": "x", "code": "X1", "kind": "branch"}),
        ("post", f"/api/orgs/{org}/move", {"new_parent_id": tree.chunxilu.pk}),
        ("post", f"/api/orgs/{tree.cd_union.pk}/move", {"new_parent_id": tree.chengxiang.pk}),
        ("post", f"/api/orgs/{org}/dissolve", {"reason": "x", "members_leave": True}),
        (
            "post",
            f"/api/orgs/{tree.cd_team.pk}/dissolve",
            {"reason": "x", "transfer_members_to_id": org},
        ),
        ("post", f"/api/orgs/{org}/members", {"name": "x", "id_number": make_id_number(seq=95)}),
        ("patch", f"/api/members/{member}", {"version": 1, "name": "改名"}),
        ("post", f"/api/members/{member}/leave", {"reason": "x"}),
        ("post", f"/api/members/{member}/transfers", {"to_unit_code": "510104001001"}),
        ("post", f"/api/transfers/{transfer}/accept", {}),
        ("post", f"/api/transfers/{transfer}/reject", {"note": "x"}),
        ("post", f"/api/transfers/{transfer}/cancel", None),
    ]
    for method, url, body in writes:
        response = getattr(api, method)(url, body)
        assert response.status_code == 404, f"{method} {url}: {response.content[:200]}"
    assert state() == before


def test_viewer_gets_403_on_writes_within_its_scope(tree, as_user):
    incoming = services.request_transfer(
        actor=tree.users["mianyang_admin"], member=tree.my_member, to_unit=tree.cd_union
    )
    outgoing = services.request_transfer(
        actor=tree.users["cd_union_only"], member=tree.cd_member, to_unit=tree.cd_team
    )
    assert incoming.status == outgoing.status == TransferStatus.PENDING
    api = as_user("chengdu_viewer")
    before = state()
    writes = [
        ("patch", f"/api/orgs/{tree.cd_union.pk}", {"version": 1, "name": "改名"}),
        (
            "post",
            f"/api/orgs/{tree.chunxilu.pk}/children",
            {"name": "x", "code": "X1", "kind": "grassroots"},
        ),
        ("post", f"/api/orgs/{tree.cd_union.pk}/move", {"new_parent_id": tree.jinjiang.pk}),
        ("post", f"/api/orgs/{tree.cd_team.pk}/dissolve", {"reason": "x", "members_leave": True}),
        (
            "post",
            f"/api/orgs/{tree.cd_union.pk}/members",
            {"name": "x", "id_number": make_id_number(seq=96)},
        ),
        ("patch", f"/api/members/{tree.cd_member2.pk}", {"version": 1, "name": "改名"}),
        ("post", f"/api/members/{tree.cd_member2.pk}/leave", {"reason": "x"}),
        (
            "post",
            f"/api/members/{tree.cd_member2.pk}/transfers",
            {"to_unit_code": "510104001001B1"},
        ),
        ("post", f"/api/transfers/{incoming.pk}/accept", {}),
        ("post", f"/api/transfers/{incoming.pk}/reject", {"note": "x"}),
        ("post", f"/api/transfers/{outgoing.pk}/cancel", None),
    ]
    for method, url, body in writes:
        response = getattr(api, method)(url, body)
        assert response.status_code == 403, f"{method} {url}: {response.content[:200]}"
        assert response.json()["code"] == "permission_denied"
    assert state() == before
    # Reading is allowed.
    assert api.get(f"/api/members/{tree.cd_member2.pk}").status_code == 200


def test_worker_sees_only_own_member_record(tree, as_user):
    api = as_user("worker")
    data = api.get("/api/members").json()
    assert data == {"items": [cd_member_json(tree)], "count": 1}
    assert api.get(f"/api/members/{tree.cd_member.pk}").json() == cd_member_json(tree)
    for other in (tree.cd_member2, tree.team_member, tree.my_member):
        assert api.get(f"/api/members/{other.pk}").status_code == 404
    assert api.get(f"/api/orgs/{tree.cd_union.pk}").status_code == 404
    assert api.get("/api/members", {"org_id": tree.cd_union.pk}).status_code == 404
    assert api.get("/api/transfers").json() == {"incoming": [], "outgoing": []}
    before = state()
    assert (
        api.patch(f"/api/members/{tree.cd_member.pk}", {"version": 1, "name": "自己改"}).status_code
        == 404
    )
    assert api.post(f"/api/members/{tree.cd_member.pk}/leave", {"reason": "x"}).status_code == 404
    assert state() == before


def test_schema_errors_have_the_same_shape(tree, as_user):
    api = as_user("chengdu_admin")
    response = api.post(f"/api/orgs/{tree.chunxilu.pk}/children", {"name": "缺字段"})
    assert response.status_code == 422
    data = response.json()
    assert data["code"] == "missing"
    assert [(d["field"], d["code"]) for d in data["detail"]] == [
        ("code", "missing"),
        ("kind", "missing"),
    ]
    assert all(d["message"] for d in data["detail"])
    query = api.get("/api/members", {"org_id": "abc"})
    assert query.status_code == 422
    assert [(d["field"], d["code"]) for d in query.json()["detail"]] == [("org_id", "int_parsing")]
