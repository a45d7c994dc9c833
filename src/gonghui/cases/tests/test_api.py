"""The cases API (/api/cases/…): a worker's phone (file, follow, write, attach, withdraw,
rate, reopen) and a cadre's client (queue, accept, assign, contact, notes, escalate,
transfer, close, figures, calendar, hardship files and aid). Exact answers and exact
refusals (status and code); the privacy rule above all: a case filed past the worker's
own union is a 404 to that union on every route. Runs on SQLite and PostgreSQL.
"""

import datetime
import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from conftest import PASSWORD, make_id_number
from gonghui.accounts.services import issue_api_token
from gonghui.audit.models import AuditEntry
from gonghui.cases import services
from gonghui.cases.models import (
    ATTACHMENT_MAX_BYTES,
    AidRecord,
    Case,
    CaseAttachment,
    CaseEvent,
    HardshipFile,
    WorkCalendarDay,
)
from gonghui.cases.workdays import add_workdays
from gonghui.orgs import services as org_services
from gonghui.orgs.models import RoleKind
from gonghui.orgs.scoping import SYSTEM

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.4\n" + b"0" * 64
EXE = b"MZ\x90\x00" + b"\x00" * 64


class Api:
    """A client that sends one user's bearer token with every request."""

    def __init__(self, user: Any) -> None:
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {issue_api_token(user=user)}"}

    def get(self, url: str, params: dict[str, Any] | None = None) -> Any:
        return self.client.get(url, params or {}, headers=self.headers)

    def post(self, url: str, body: Any = None) -> Any:
        return self.client.post(
            url,
            json.dumps(body if body is not None else {}),
            content_type="application/json",
            headers=self.headers,
        )

    def upload(self, url: str, name: str, content: bytes, **fields: Any) -> Any:
        return self.client.post(
            url, {"file": SimpleUploadedFile(name, content), **fields}, headers=self.headers
        )


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def as_user(tree):
    return lambda username: Api(tree.users[username])


@pytest.fixture
def handler(tree):
    """A case handler of 华信's union (besides its administrator)."""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(username="cd_handler", password=PASSWORD)
    org_services.grant_role(actor=SYSTEM, user=user, org=tree.cd_union, kind=RoleKind.CASE_HANDLER)
    tree.users["cd_handler"] = user
    return user


def file(tree, *, conceal: bool = False, category: str = "wages", title: str = "欠薪三个月"):
    """A case 张伟 (the worker) files for himself."""
    return services.file_case(
        tree.users["worker"],
        member=tree.cd_member,
        data=services.CaseInput(
            category=category,
            title=title,
            description="公司已经拖欠我三个月的工资，多次讨要未果。",
            conceal_from_employer_union=conceal,
        ),
    )


def closed(tree, case: Case, **closing: Any) -> Case:
    data = {"outcome": "resolved", "note": "已协调公司补发工资", **closing}
    return services.close_case(SYSTEM, case, closing=services.Closing(**data))


def url(case: Case | int, tail: str = "") -> str:
    return f"/api/cases/{case if isinstance(case, int) else case.pk}{tail}"


def refused(response: Any, status: int, code: str, field: str | None = None) -> None:
    """A service's refusal: the status, the code, and (where the service names one) the
    field, with a message for people."""
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code, body
    first = body["detail"][0]
    assert first["code"] == code
    assert first["field"] == field
    assert first["message"]


def forbidden(response: Any) -> None:
    assert response.status_code == 403, response.content
    assert response.json()["code"] == "permission_denied"


def not_found(response: Any) -> None:
    assert response.status_code == 404, response.content
    assert response.json() == {"detail": "Not Found"}


def state() -> list[Any]:
    """Everything a refused request might have changed."""
    return [
        list(Case.objects.order_by("pk").values()),
        list(CaseEvent.objects.order_by("pk").values()),
        list(CaseAttachment.objects.order_by("pk").values()),
        list(HardshipFile.objects.order_by("pk").values()),
        list(AidRecord.objects.order_by("pk").values()),
        AuditEntry.objects.count(),
    ]


CASE_BODY = {
    "category": "wages",
    "title": "欠薪三个月",
    "description": "公司已经拖欠我三个月的工资，多次讨要未果。",
}


# --- filing -------------------------------------------------------------------------------


def test_worker_files_a_case_and_sees_the_workers_view(tree, as_user):
    worker = as_user("worker")
    response = worker.post("/api/cases", {**CASE_BODY, "contact_phone": "138-0000-1234"})
    assert response.status_code == 201, response.content
    out = response.json()
    case = Case.objects.get()
    today = timezone.localdate()
    ack_due, resolve_due = add_workdays(today, 1), add_workdays(today, 15)
    assert out == {
        "id": case.pk,
        "number": case.number,
        "category": "wages",
        "title": "欠薪三个月",
        "description": "公司已经拖欠我三个月的工资，多次讨要未果。",
        "contact_preference": "message",
        "contact_phone": "138-0000-1234",
        "conceal_from_employer_union": False,
        "filed_at": out["filed_at"],
        "handling_org": {"id": tree.cd_union.pk, "name": tree.cd_union.name, "kind": "grassroots"},
        "handler": None,
        "status": "new",
        "ack_due": ack_due.isoformat(),
        "resolve_due": resolve_due.isoformat(),
        "first_ack_due": ack_due.isoformat(),
        "first_resolve_due": resolve_due.isoformat(),
        "accepted_at": None,
        "overdue": False,
        "outcome": "",
        "outcome_note": "",
        "money_recovered": 0,
        "aid_paid": 0,
        "closed_at": None,
        "working_days_taken": None,
        "rating": None,
        "rating_comment": "",
        "rated_on": None,
        "reopened": False,
        "can_reopen": False,
        "reopen_until": None,
        "version": 1,
        "handling": None,
        "attachments": [],
    }
    assert case.number == f"{today:%Y}{case.pk:07d}"
    assert (case.channel, case.member, case.filed_by) == (
        "app",
        tree.cd_member,
        tree.users["worker"],
    )
    # The same case in the worker's lists and detail.
    assert worker.get(url(case)).json() == out
    mine = worker.get("/api/cases/mine").json()
    assert mine["count"] == 1 and mine["items"][0]["id"] == case.pk
    assert mine["items"][0]["handling"] is None
    listed = worker.get("/api/cases").json()
    assert [c["id"] for c in listed["items"]] == [case.pk]
    assert worker.get("/api/cases/").json()["count"] == 1  # the trailing slash too
    # The worker's timeline: filed; the routing step is the cadres' only.
    assert [e["kind"] for e in worker.get(url(case, "/events")).json()] == ["filed"]
    cadre_events = as_user("cd_union_admin").get(url(case, "/events")).json()
    assert [e["kind"] for e in cadre_events] == ["filed", "routed"]
    assert cadre_events[0]["actor"] == "张伟" and cadre_events[0]["by_worker"] is True
    assert cadre_events[1]["to_org"]["id"] == tree.cd_union.pk
    assert cadre_events[1]["automatic"] is True


def test_cadres_see_the_handling_block(tree, as_user):
    case = file(tree)
    out = as_user("cd_union_admin").get(url(case)).json()
    assert out["handling"] == {
        "member": {
            "id": tree.cd_member.pk,
            "name": "张伟",
            "unit": {"id": tree.cd_union.pk, "name": tree.cd_union.name, "kind": "grassroots"},
        },
        "unit": {"id": tree.cd_union.pk, "name": tree.cd_union.name, "kind": "grassroots"},
        "channel": "app",
        "filed_by": "worker",
        "escalations": 0,
        "may_handle": True,
    }
    # Never the ID number, masked or not.
    text = as_user("cd_union_admin").get(url(case)).content.decode()
    assert tree.cd_member.id_number_masked not in text
    assert make_id_number(seq=11) not in text


def test_filing_is_idempotent_with_a_submission_key(tree, as_user):
    worker = as_user("worker")
    body = {**CASE_BODY, "submission_key": "form-7f3a9c"}
    first = worker.post("/api/cases", body)
    assert first.status_code == 201, first.content
    # The phone retries (a lost answer): 200, the same case, nothing filed twice.
    again = worker.post("/api/cases", {**body, "title": "重发的表单"})
    assert again.status_code == 200, again.content
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["title"] == "欠薪三个月"
    assert Case.objects.count() == 1
    assert CaseEvent.objects.filter(kind="filed").count() == 1
    # Another form is another case; a form without a key is never deduplicated.
    assert worker.post("/api/cases", {**body, "submission_key": "form-other"}).status_code == 201
    assert worker.post("/api/cases", CASE_BODY).status_code == 201
    assert worker.post("/api/cases", CASE_BODY).status_code == 201
    assert Case.objects.count() == 4


def test_filing_refusals(tree, as_user):
    worker = as_user("worker")
    before = state()
    refused(worker.post("/api/cases", {**CASE_BODY, "title": "  "}), 422, "title", "title")
    refused(
        worker.post("/api/cases", {**CASE_BODY, "description": "太短"}),
        422,
        "description",
        "description",
    )
    refused(worker.post("/api/cases", {**CASE_BODY, "category": "x"}), 422, "category", "category")
    refused(
        worker.post("/api/cases", {**CASE_BODY, "contact_preference": "phone"}),
        422,
        "contact_phone",
        "contact_phone",
    )
    refused(
        worker.post("/api/cases", {**CASE_BODY, "contact_phone": "12"}),
        422,
        "contact_phone",
        "contact_phone",
    )
    # Every wrong field at once, each with its code.
    many = worker.post("/api/cases", {"category": "x", "title": "", "description": ""})
    assert many.status_code == 422
    assert [(d["field"], d["code"]) for d in many.json()["detail"]] == [
        ("category", "category"),
        ("title", "title"),
        ("description", "description"),
    ]
    # Not in the schema: the same shape.
    refused(worker.post("/api/cases", {"title": "x"}), 422, "missing", "category")
    # An account without a member record; a member who left.
    refused(as_user("nobody").post("/api/cases", CASE_BODY), 422, "no_member")
    refused(as_user("chengdu_admin").post("/api/cases", CASE_BODY), 422, "no_member")
    assert state() == before
    org_services.mark_member_left(actor=SYSTEM, member=tree.cd_member, reason="离职")
    refused(worker.post("/api/cases", CASE_BODY), 422, "member")
    assert not Case.objects.exists()


def test_cadre_files_for_a_worker(tree, as_user):
    admin = as_user("cd_union_admin")
    body = {**CASE_BODY, "member_id": tree.cd_member2.pk, "channel": "phone"}
    response = admin.post("/api/cases", body)
    assert response.status_code == 201, response.content
    out = response.json()
    assert out["handling_org"]["id"] == tree.cd_union.pk
    assert out["handling"]["member"]["name"] == "李娜"
    assert (out["handling"]["channel"], out["handling"]["filed_by"]) == ("phone", "cd_union_admin")
    # The channel is required of a cadre.
    refused(admin.post("/api/cases", {**body, "channel": None}), 422, "channel")
    refused(admin.post("/api/cases", {**body, "channel": "app"}), 422, "channel")
    # A city cadre keeps the case at the city federation.
    kept = as_user("chengdu_admin").post(
        "/api/cases", {**body, "handling_org_id": tree.chengdu.pk, "channel": "visit"}
    )
    assert kept.status_code == 201, kept.content
    assert kept.json()["handling_org"]["id"] == tree.chengdu.pk
    # Not at a union below the worker, nor at the employer's union when they asked not.
    refused(
        as_user("chengdu_admin").post("/api/cases", {**body, "handling_org_id": tree.cd_branch.pk}),
        422,
        "target",
    )
    refused(
        as_user("chengdu_admin").post(
            "/api/cases",
            {**body, "handling_org_id": tree.cd_union.pk, "conceal_from_employer_union": True},
        ),
        422,
        "concealed",
    )
    before = state()
    # A viewer sees the worker but may not file for them: 403. Outside scope: 404.
    forbidden(as_user("chengdu_viewer").post("/api/cases", body))
    not_found(as_user("mianyang_admin").post("/api/cases", body))
    not_found(admin.post("/api/cases", {**body, "member_id": tree.my_member.pk}))
    not_found(admin.post("/api/cases", {**body, "handling_org_id": tree.mianyang.pk}))
    # A worker cannot name another worker.
    not_found(as_user("worker").post("/api/cases", body))
    assert state() == before


def test_a_worker_filing_for_themself_ignores_cadre_fields(tree, as_user):
    response = as_user("worker").post(
        "/api/cases",
        {
            **CASE_BODY,
            "member_id": tree.cd_member.pk,
            "channel": "visit",
            "handling_org_id": tree.cd_union.pk,
        },
    )
    assert response.status_code == 201, response.content
    case = Case.objects.get()
    assert (case.channel, case.handling_org) == ("app", tree.cd_union)


# --- privacy: a case that skips the worker's own union ------------------------------------


def test_a_concealed_case_is_invisible_to_the_employers_union(tree, as_user):
    worker = as_user("worker")
    response = worker.post("/api/cases", {**CASE_BODY, "conceal_from_employer_union": True})
    assert response.status_code == 201, response.content
    case = Case.objects.get()
    # To the county federation, outside the enterprise.
    assert response.json()["handling_org"]["id"] == tree.jinjiang.pk
    assert response.json()["conceal_from_employer_union"] is True
    photo = worker.upload(url(case, "/attachments"), "工资条.png", PNG)
    assert photo.status_code == 201, photo.content
    attachment = CaseAttachment.objects.get()

    for username in ("cd_union_admin", "cd_union_only"):
        union = as_user(username)
        before = state()
        not_found(union.get(url(case)))
        not_found(union.get(url(case, "/events")))
        not_found(union.get(f"/api/cases/attachments/{attachment.pk}"))
        for tail, body in [
            ("/accept", {}),
            ("/assign", {"handler_id": tree.users[username].pk}),
            ("/contact", {"text": "电话联系"}),
            ("/notes", {"text": "备注"}),
            ("/messages", {"text": "您好"}),
            ("/escalate", {"reason": "上交"}),
            ("/transfer", {"to_org_id": tree.cd_union.pk, "reason": "转回"}),
            ("/close", {"outcome": "resolved", "note": "已办"}),
            ("/withdraw", {}),
            ("/rate", {"rating": 1}),
            ("/reopen", {"reason": "x"}),
        ]:
            not_found(union.post(url(case, tail), body))
        not_found(union.upload(url(case, "/attachments"), "a.png", PNG))
        for params in [
            {},
            {"show": "all"},
            {"org_id": tree.cd_union.pk, "show": "all"},
            {"org_id": tree.cd_union.pk, "show": "all", "subtree": True},
        ]:
            assert union.get("/api/cases", params).json()["count"] == 0, params
        # Not even as a number: the figures of the employer's union do not count it.
        figures = union.get("/api/cases/figures", {"org_id": tree.cd_union.pk}).json()
        assert figures["subtree"]["filed"] == 0
        assert state() == before

    # The county and the city above see it and handle it.
    city = as_user("chengdu_admin")
    queue = city.get("/api/cases", {"org_id": tree.jinjiang.pk}).json()
    assert [c["id"] for c in queue["items"]] == [case.pk]
    assert city.get("/api/cases", {"org_id": tree.chengdu.pk}).json()["count"] == 0
    assert city.get("/api/cases", {"org_id": tree.chengdu.pk, "subtree": True}).json()["count"] == 1
    assert (
        city.get("/api/cases", {"org_id": tree.chunxilu.pk, "subtree": True}).json()["count"] == 0
    )
    assert city.get(url(case)).json()["handling"]["may_handle"] is True
    assert city.get(f"/api/cases/attachments/{attachment.pk}").status_code == 200
    accepted = city.post(url(case, "/accept"))
    assert accepted.status_code == 200, accepted.content
    assert (accepted.json()["status"], accepted.json()["handler"]) == (
        "in_progress",
        "chengdu_admin",
    )
    figures = city.get("/api/cases/figures", {"org_id": tree.chengdu.pk}).json()
    assert figures["subtree"]["filed"] == 1
    assert [(c["org"]["id"], c["filed"]) for c in figures["children"]] == [(tree.jinjiang.pk, 1)]
    # Nor can it be sent down to the union the worker skipped.
    refused(
        city.post(url(case, "/transfer"), {"to_org_id": tree.cd_union.pk, "reason": "由企业办"}),
        422,
        "concealed",
    )
    # After all that, still nothing at the employer's union.
    not_found(as_user("cd_union_admin").get(url(case)))


# --- handling -----------------------------------------------------------------------------


def test_handling_from_acceptance_to_rating(tree, as_user):
    case = file(tree)
    admin = as_user("cd_union_admin")
    worker = as_user("worker")
    accepted = admin.post(url(case, "/accept"), {"version": 1})
    assert accepted.status_code == 200, accepted.content
    out = accepted.json()
    assert (out["status"], out["handler"], out["version"]) == ("in_progress", "cd_union_admin", 2)
    assert out["accepted_at"] is not None
    refused(admin.post(url(case, "/accept")), 422, "status")
    # The version is optional, and so is the body.
    bare = admin.client.generic("POST", url(case, "/accept"), b"", headers=admin.headers)
    refused(bare, 422, "status")
    contact = admin.post(url(case, "/contact"), {"text": "已电话联系张伟，了解情况"})
    assert contact.status_code == 201, contact.content
    assert (contact.json()["kind"], contact.json()["actor"]) == ("contacted", "cd_union_admin")
    note = admin.post(url(case, "/notes"), {"text": "内部：企业负责人态度消极"})
    assert note.status_code == 201 and note.json()["kind"] == "note"
    reply = admin.post(url(case, "/messages"), {"text": "我们正在与公司协调"})
    assert reply.status_code == 201 and reply.json()["by_worker"] is False
    mine = worker.post(url(case, "/messages"), {"text": "谢谢，等待消息"})
    assert mine.status_code == 201
    assert (mine.json()["by_worker"], mine.json()["actor"]) == (True, "张伟")
    refused(worker.post(url(case, "/messages"), {"text": " "}), 422, "text")
    refused(worker.post(url(case, "/messages"), {"text": "长" * 2001}), 422, "text_too_long")
    # The worker's timeline has no internal note, no routing.
    seen = worker.get(url(case, "/events"))
    assert [e["kind"] for e in seen.json()] == [
        "filed",
        "accepted",
        "contacted",
        "message",
        "message",
    ]
    assert "企业负责人态度消极" not in seen.content.decode()
    assert "企业负责人态度消极" not in worker.get(url(case)).content.decode()
    assert [e["kind"] for e in admin.get(url(case, "/events")).json()] == [
        "filed",
        "routed",
        "accepted",
        "contacted",
        "note",
        "message",
        "message",
    ]
    done = admin.post(
        url(case, "/close"),
        {"outcome": "resolved", "note": "公司已补发工资", "money_recovered": 12000, "version": 2},
    )
    assert done.status_code == 200, done.content
    out = done.json()
    assert (out["status"], out["outcome"], out["outcome_note"]) == (
        "closed",
        "resolved",
        "公司已补发工资",
    )
    assert (out["money_recovered"], out["aid_paid"], out["working_days_taken"]) == (12000, 0, 0)
    assert out["can_reopen"] is True
    today = timezone.localdate()
    assert out["reopen_until"] == (today + datetime.timedelta(days=15)).isoformat()
    refused(admin.post(url(case, "/contact"), {"text": "再联系"}), 422, "status")
    rated = worker.post(url(case, "/rate"), {"rating": 5, "comment": "很满意"})
    assert rated.status_code == 200, rated.content
    assert (rated.json()["rating"], rated.json()["rating_comment"], rated.json()["rated_on"]) == (
        5,
        "很满意",
        today.isoformat(),
    )
    refused(worker.post(url(case, "/rate"), {"rating": 4}), 422, "rated")


def test_close_refusals(tree, as_user):
    case = file(tree)
    admin = as_user("cd_union_admin")
    before = state()
    body = {"outcome": "resolved", "note": "已办结"}
    refused(
        admin.post(url(case, "/close"), {**body, "outcome": "withdrawn"}), 422, "outcome", "outcome"
    )
    refused(admin.post(url(case, "/close"), {**body, "outcome": "x"}), 422, "outcome", "outcome")
    refused(admin.post(url(case, "/close"), {**body, "note": " "}), 422, "note", "note")
    refused(
        admin.post(url(case, "/close"), {**body, "money_recovered": -1}),
        422,
        "amount",
        "money_recovered",
    )
    refused(admin.post(url(case, "/close"), {**body, "aid_paid": -5}), 422, "amount", "aid_paid")
    assert state() == before
    # Answering a new case accepts it; a second close is refused.
    out = admin.post(url(case, "/close"), {**body, "outcome": "legal_aid"}).json()
    assert (out["status"], out["outcome"], out["handler"]) == (
        "closed",
        "legal_aid",
        "cd_union_admin",
    )
    refused(admin.post(url(case, "/close"), body), 422, "status")


def test_a_stale_version_is_refused_with_409(tree, as_user, handler):
    case = file(tree)
    admin = as_user("cd_union_admin")
    assigned = admin.post(url(case, "/assign"), {"handler_id": handler.pk, "version": 1})
    assert assigned.status_code == 200, assigned.content
    assert (assigned.json()["handler"], assigned.json()["version"]) == ("cd_handler", 2)
    before = state()
    # Someone read version 1 before the assignment.
    refused(admin.post(url(case, "/accept"), {"version": 1}), 409, "stale")
    refused(
        admin.post(url(case, "/assign"), {"handler_id": handler.pk, "version": 1}), 409, "stale"
    )
    refused(admin.post(url(case, "/escalate"), {"reason": "上交", "version": 1}), 409, "stale")
    refused(
        as_user("chengdu_admin").post(
            url(case, "/transfer"), {"to_org_id": tree.jinjiang.pk, "reason": "转", "version": 1}
        ),
        409,
        "stale",
    )
    refused(
        admin.post(url(case, "/close"), {"outcome": "resolved", "note": "好", "version": 1}),
        409,
        "stale",
    )
    assert state() == before
    ok = as_user("cd_handler").post(url(case, "/accept"), {"version": 2})
    assert ok.status_code == 200 and ok.json()["version"] == 3


def test_assign_refusals(tree, as_user, handler):
    case = file(tree)
    admin = as_user("cd_union_admin")
    before = state()
    # Someone who does not handle cases there, or nobody at all: the same refusal, and
    # the account behind the id is not named.
    for someone in (tree.users["mianyang_admin"].pk, tree.users["chengdu_viewer"].pk, 999999):
        response = admin.post(url(case, "/assign"), {"handler_id": someone})
        refused(response, 422, "handler", "handler_id")
        assert "mianyang_admin" not in response.content.decode()
        assert "chengdu_viewer" not in response.content.decode()
    forbidden(as_user("worker").post(url(case, "/assign"), {"handler_id": handler.pk}))
    assert state() == before
    # An assigned case leaves the other handlers' sight; the handler and supervisors keep it.
    assert admin.post(url(case, "/assign"), {"handler_id": handler.pk}).status_code == 200
    assert as_user("cd_handler").get(url(case)).status_code == 200
    assert admin.get(url(case)).status_code == 200  # the union's admin supervises


def test_a_worker_cannot_take_cadre_actions(tree, as_user):
    case = file(tree)
    worker = as_user("worker")
    before = state()
    for tail, body in [
        ("/accept", {}),
        ("/assign", {"handler_id": tree.users["cd_union_admin"].pk}),
        ("/contact", {"text": "我自己联系了"}),
        ("/notes", {"text": "备注"}),
        ("/escalate", {"reason": "太慢"}),
        ("/transfer", {"to_org_id": tree.jinjiang.pk, "reason": "转"}),
        ("/close", {"outcome": "resolved", "note": "解决了"}),
    ]:
        forbidden(worker.post(url(case, tail), body))
    assert state() == before
    # ... and a cadre cannot take the worker's.
    admin = as_user("cd_union_admin")
    forbidden(admin.post(url(case, "/withdraw"), {"reason": "代撤"}))
    closed(tree, case)
    before = state()
    forbidden(admin.post(url(case, "/rate"), {"rating": 5}))
    forbidden(admin.post(url(case, "/reopen"), {"reason": "代为重开"}))
    assert state() == before


def test_escalate_and_transfer(tree, as_user):
    case = file(tree)
    admin = as_user("cd_union_admin")
    refused(admin.post(url(case, "/escalate"), {"reason": " "}), 422, "text")
    up = admin.post(url(case, "/escalate"), {"reason": "企业拒不配合"})
    assert up.status_code == 200, up.content
    out = up.json()
    assert out["handling_org"]["id"] == tree.chunxilu.pk
    assert (out["status"], out["handler"], out["handling"]["escalations"]) == ("new", None, 1)
    # The union it left no longer sees it; the escalation counts there.
    not_found(admin.get(url(case)))
    city = as_user("chengdu_admin")
    figures = city.get("/api/cases/figures", {"org_id": tree.chunxilu.pk}).json()
    assert (figures["subtree"]["escalated"], figures["subtree"]["filed"]) == (1, 1)
    assert [(c["org"]["id"], c["escalated"], c["filed"]) for c in figures["children"]] == [
        (tree.cd_union.pk, 1, 0)
    ]
    events = city.get(url(case, "/events")).json()
    assert events[-1]["kind"] == "escalated"
    assert (events[-1]["from_org"]["id"], events[-1]["to_org"]["id"]) == (
        tree.cd_union.pk,
        tree.chunxilu.pk,
    )
    assert [e["kind"] for e in as_user("worker").get(url(case, "/events")).json()] == [
        "filed",
        "escalated",
    ]
    # Transfer: a handling union the user supervises, not a workshop, not another city.
    refused(
        city.post(url(case, "/transfer"), {"to_org_id": tree.cd_branch.pk, "reason": "车间"}),
        422,
        "target",
    )
    refused(
        city.post(url(case, "/transfer"), {"to_org_id": tree.chunxilu.pk, "reason": "原地"}),
        422,
        "target",
    )
    not_found(city.post(url(case, "/transfer"), {"to_org_id": tree.my_union.pk, "reason": "x"}))
    moved = city.post(url(case, "/transfer"), {"to_org_id": tree.cd_union.pk, "reason": "退回企业"})
    assert moved.status_code == 200, moved.content
    assert moved.json()["handling_org"]["id"] == tree.cd_union.pk
    assert admin.get(url(case)).status_code == 200
    # Up to the province; above it there is nobody.
    province = as_user("province_admin")
    for _level in range(4):  # 春熙路 → 锦江 → 成都 → 四川
        assert province.post(url(case, "/escalate"), {"reason": "上交"}).status_code == 200
    assert Case.objects.get().handling_org == tree.province
    refused(province.post(url(case, "/escalate"), {"reason": "再上交"}), 422, "no_parent")


def test_a_transfer_outside_the_users_supervision(tree, as_user, handler):
    """A case handler of 华信 who also views 锦江 may not send a case there."""
    org_services.grant_role(actor=SYSTEM, user=handler, org=tree.jinjiang, kind=RoleKind.VIEWER)
    case = file(tree)
    response = as_user("cd_handler").post(
        url(case, "/transfer"), {"to_org_id": tree.jinjiang.pk, "reason": "转区总"}
    )
    refused(response, 422, "target_scope")


# --- the worker's own actions -------------------------------------------------------------


def test_rating_bounds(tree, as_user):
    case = file(tree)
    worker = as_user("worker")
    refused(worker.post(url(case, "/rate"), {"rating": 5}), 422, "status")  # still open
    closed(tree, case)
    before = state()
    for rating in (0, 6, -1):
        refused(worker.post(url(case, "/rate"), {"rating": rating}), 422, "rating")
    refused(
        worker.post(url(case, "/rate"), {"rating": 3, "comment": "长" * 501}), 422, "text_too_long"
    )
    refused(worker.post(url(case, "/rate"), {"rating": "很好"}), 422, "int_parsing", "rating")
    assert state() == before
    for rating in (1, 5):
        other = closed(tree, file(tree, title=f"第{rating}件"))
        response = worker.post(url(other, "/rate"), {"rating": rating})
        assert response.status_code == 200 and response.json()["rating"] == rating


def test_reopen_once_within_the_window(tree, as_user):
    case = file(tree)
    worker = as_user("worker")
    refused(worker.post(url(case, "/reopen"), {"reason": "还没解决"}), 422, "status")
    closed(tree, case)
    refused(worker.post(url(case, "/reopen"), {"reason": " "}), 422, "text")
    again = worker.post(url(case, "/reopen"), {"reason": "工资只补发了一半"})
    assert again.status_code == 200, again.content
    out = again.json()
    assert (out["status"], out["reopened"], out["outcome"], out["can_reopen"]) == (
        "in_progress",
        True,
        "",
        False,
    )
    assert worker.get(url(case, "/events")).json()[-1]["kind"] == "reopened"
    closed(tree, Case.objects.get(pk=case.pk))
    assert worker.get(url(case)).json()["can_reopen"] is False
    refused(worker.post(url(case, "/reopen"), {"reason": "还是不行"}), 422, "reopened")
    # Too late: 16 days after the answer.
    late = closed(tree, file(tree, title="另一件"))
    Case.objects.filter(pk=late.pk).update(
        closed_on=timezone.localdate() - datetime.timedelta(days=16)
    )
    assert worker.get(url(late)).json()["can_reopen"] is False
    refused(worker.post(url(late, "/reopen"), {"reason": "还没解决"}), 422, "too_late")


def test_withdraw(tree, as_user):
    case = file(tree)
    worker = as_user("worker")
    response = worker.post(url(case, "/withdraw"), {"reason": "已经和公司谈妥"})
    assert response.status_code == 200, response.content
    out = response.json()
    assert (out["status"], out["outcome"], out["outcome_note"]) == (
        "closed",
        "withdrawn",
        "已经和公司谈妥",
    )
    assert out["can_reopen"] is False
    refused(worker.post(url(case, "/withdraw")), 422, "status")
    refused(worker.post(url(case, "/rate"), {"rating": 5}), 422, "status")
    refused(worker.post(url(case, "/reopen"), {"reason": "又有问题"}), 422, "withdrawn")


# --- attachments --------------------------------------------------------------------------


def test_attachments_upload_and_download(tree, as_user):
    case = file(tree)
    worker = as_user("worker")
    response = worker.upload(url(case, "/attachments"), "工资条.png", PNG, text="三个月的工资条")
    assert response.status_code == 201, response.content
    attachment = CaseAttachment.objects.get()
    assert response.json() == {
        "id": attachment.pk,
        "name": "工资条.png",
        "content_type": "image/png",
        "size": len(PNG),
        "by_worker": True,
        "uploaded_at": response.json()["uploaded_at"],
        "url": f"/api/cases/attachments/{attachment.pk}",
    }
    # On both timelines, as a message that carries the file.
    event = worker.get(url(case, "/events")).json()[-1]
    assert (event["kind"], event["text"], event["by_worker"]) == ("message", "三个月的工资条", True)
    assert [a["id"] for a in event["attachments"]] == [attachment.pk]
    assert [a["id"] for a in worker.get(url(case)).json()["attachments"]] == [attachment.pk]
    # A handler's file, without a text: the message is the file's name.
    admin = as_user("cd_union_admin")
    reply = admin.upload(url(case, "/attachments"), "调解协议.pdf", PDF)
    assert reply.status_code == 201, reply.content
    assert (reply.json()["by_worker"], reply.json()["content_type"]) == (False, "application/pdf")
    assert admin.get(url(case, "/events")).json()[-1]["text"] == "调解协议.pdf"
    # The file itself: for the worker and the union; 404 for everyone else.
    for user in ("worker", "cd_union_admin", "chengdu_admin"):
        download = as_user(user).get(f"/api/cases/attachments/{attachment.pk}")
        assert download.status_code == 200, user
        assert download["Content-Type"] == "image/png"
        assert b"".join(download.streaming_content) == PNG
    pdf = worker.get(reply.json()["url"])
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    for user in ("mianyang_admin", "chengdu_viewer", "nobody"):
        not_found(as_user(user).get(f"/api/cases/attachments/{attachment.pk}"))
    not_found(worker.get("/api/cases/attachments/999999"))


def test_attachment_refusals(tree, as_user):
    case = file(tree)
    worker = as_user("worker")
    before = state()
    # A program renamed to look like a photo.
    refused(worker.upload(url(case, "/attachments"), "photo.png", EXE), 422, "file_content")
    refused(worker.upload(url(case, "/attachments"), "setup.exe", EXE), 422, "file_type")
    refused(worker.upload(url(case, "/attachments"), "empty.png", b""), 422, "file_size")
    big = b"\x89PNG" + b"\x00" * (ATTACHMENT_MAX_BYTES - 3)
    refused(worker.upload(url(case, "/attachments"), "big.png", big), 422, "file_size")
    refused(
        worker.upload(url(case, "/attachments"), "ok.png", PNG, text="长" * 2001),
        422,
        "text_too_long",
    )
    missing = worker.client.post(url(case, "/attachments"), {}, headers=worker.headers)
    refused(missing, 422, "missing", "file")
    # Those who may not read the case: a viewer of the city, another city.
    not_found(as_user("chengdu_viewer").upload(url(case, "/attachments"), "a.png", PNG))
    not_found(as_user("mianyang_admin").upload(url(case, "/attachments"), "a.png", PNG))
    assert state() == before
    # Exactly at the limit is fine.
    exact = b"\x89PNG" + b"\x00" * (ATTACHMENT_MAX_BYTES - 4)
    assert worker.upload(url(case, "/attachments"), "exact.png", exact).status_code == 201


# --- lists --------------------------------------------------------------------------------


def test_queue_filters(tree, as_user, handler):
    wages = file(tree, title="欠薪")
    safety = file(tree, category="safety", title="车间没有防护")
    old = closed(tree, file(tree, category="contract", title="合同到期未续签"))
    services.assign_case(SYSTEM, safety, handler=handler)
    admin = as_user("cd_union_admin")

    def ids(params: dict[str, Any], user: Api = admin) -> list[int]:
        response = user.get("/api/cases", params)
        assert response.status_code == 200, response.content
        return [c["id"] for c in response.json()["items"]]

    org = {"org_id": tree.cd_union.pk}
    # Open ones by deadline (safety: 10 working days, wages: 15).
    assert ids(org) == [safety.pk, wages.pk]
    assert ids({**org, "show": "new"}) == [safety.pk, wages.pk]
    assert ids({**org, "show": "in_progress"}) == []
    assert ids({**org, "show": "closed"}) == [old.pk]
    assert ids({**org, "show": "all"}) == [old.pk, safety.pk, wages.pk]  # latest filed first
    assert ids({**org, "show": "overdue"}) == []
    assert ids({**org, "category": "safety"}) == [safety.pk]
    assert ids({**org, "q": "欠薪"}) == [wages.pk]
    assert ids({**org, "q": wages.number}) == [wages.pk]
    assert ids({**org, "mine": True}, as_user("cd_handler")) == [safety.pk]
    assert ids({"mine": True}, as_user("cd_handler")) == [safety.pk]
    # Without org_id: every case the user may read.
    assert ids({"show": "all"}) == [old.pk, safety.pk, wages.pk]
    assert ids({"show": "all"}, as_user("chengdu_admin")) == [old.pk, safety.pk, wages.pk]
    assert ids({"show": "all"}, as_user("mianyang_admin")) == []
    # A city's own queue is empty; its subtree holds them all.
    city = as_user("chengdu_admin")
    assert ids({"org_id": tree.chengdu.pk}, city) == []
    assert ids({"org_id": tree.chengdu.pk, "subtree": True}, city) == [safety.pk, wages.pk]
    # Pagination like every list.
    page = admin.get("/api/cases", {**org, "show": "all", "limit": 1, "offset": 1}).json()
    assert page["count"] == 3 and [c["id"] for c in page["items"]] == [safety.pk]
    # Refusals and scope.
    refused(admin.get("/api/cases", {"show": "late"}), 422, "show", "show")
    refused(admin.get("/api/cases", {"category": "x"}), 422, "category", "category")
    not_found(admin.get("/api/cases", {"org_id": tree.my_union.pk}))
    not_found(admin.get("/api/cases", {"org_id": tree.chunxilu.pk}))
    not_found(as_user("worker").get("/api/cases", {"org_id": tree.cd_union.pk}))


def test_a_worker_without_roles_lists_their_own_cases(tree, as_user):
    mine = file(tree)
    done = closed(tree, file(tree, title="已办结的"))
    services.file_case(
        SYSTEM,
        member=tree.cd_member2,
        data=services.CaseInput(
            category="wages", title="李娜的", description="李娜的诉求内容，十个字以上"
        ),
        channel="phone",
    )
    worker = as_user("worker")
    assert [c["id"] for c in worker.get("/api/cases").json()["items"]] == [mine.pk]
    assert [c["id"] for c in worker.get("/api/cases", {"show": "all"}).json()["items"]] == [
        done.pk,
        mine.pk,
    ]
    everything = worker.get("/api/cases/mine").json()
    assert [c["id"] for c in everything["items"]] == [done.pk, mine.pk]
    assert all(c["handling"] is None for c in everything["items"])
    assert as_user("nobody").get("/api/cases/mine").json() == {"items": [], "count": 0}
    other = Case.objects.get(member=tree.cd_member2)
    not_found(worker.get(url(other)))
    not_found(worker.get(url(other, "/events")))
    not_found(worker.post(url(other, "/messages"), {"text": "你好"}))


def test_another_city_gets_404_on_every_case_route(tree, as_user):
    case = file(tree)
    photo = services.add_attachment(
        tree.users["worker"], case, upload=SimpleUploadedFile("a.png", PNG)
    )
    other = as_user("mianyang_admin")
    before = state()
    not_found(other.get(url(case)))
    not_found(other.get(url(case, "/events")))
    not_found(other.get(f"/api/cases/attachments/{photo.pk}"))
    for tail, body in [
        ("/accept", {}),
        ("/assign", {"handler_id": tree.users["mianyang_admin"].pk}),
        ("/contact", {"text": "x"}),
        ("/notes", {"text": "x"}),
        ("/messages", {"text": "x"}),
        ("/escalate", {"reason": "x"}),
        ("/transfer", {"to_org_id": tree.my_union.pk, "reason": "x"}),
        ("/close", {"outcome": "resolved", "note": "x"}),
        ("/withdraw", {}),
        ("/rate", {"rating": 5}),
        ("/reopen", {"reason": "x"}),
    ]:
        not_found(other.post(url(case, tail), body))
    not_found(other.upload(url(case, "/attachments"), "a.png", PNG))
    not_found(other.get("/api/cases/figures", {"org_id": tree.cd_union.pk}))
    not_found(other.get(url(999999)))
    assert other.get("/api/cases", {"show": "all"}).json()["count"] == 0
    assert state() == before


def test_sign_in_is_required(tree):
    client = Client()
    assert client.get("/api/cases").status_code == 401
    assert client.get("/api/cases/calendar").status_code == 401
    assert client.post("/api/cases", CASE_BODY, content_type="application/json").status_code == 401


# --- figures and calendar -----------------------------------------------------------------


def test_figures(tree, as_user):
    admin = as_user("cd_union_admin")
    wages = file(tree)
    services.accept_case(tree.users["cd_union_admin"], wages)
    closed(tree, Case.objects.get(pk=wages.pk), money_recovered=3000)
    services.rate_case(tree.users["worker"], Case.objects.get(pk=wages.pk), rating=5)
    file(tree, category="safety", title="没有防护")
    file(tree, category="hardship", title="家里困难", conceal=True)
    city = as_user("chengdu_admin").get("/api/cases/figures", {"org_id": tree.chengdu.pk})
    assert city.status_code == 200, city.content
    subtree = city.json()["subtree"]
    by_category = subtree.pop("by_category")
    assert subtree == {
        "org": {"id": tree.chengdu.pk, "name": "成都市总工会", "kind": "city"},
        "filed": 3,
        "open": 2,
        "overdue": 0,
        "acknowledged": 1,
        "ack_on_time_rate": 1.0,
        "closed": 1,
        "closed_on_time_rate": 1.0,
        "median_days": 0,
        "median_over_cap": False,
        "escalated": 0,
        "rated": 1,
        "satisfaction_rate": 1.0,
        "average_rating": 5.0,
        "money_recovered": 3000,
        "aid_paid": 0,
        "hardship_files": 0,
        "hardship_aid_given": 0,
        "hardship_aid_paid": 0,
    }
    assert by_category["wages"] == 1 and by_category["safety"] == 1
    assert by_category["hardship"] == 1 and by_category["contract"] == 0
    assert [c["org"]["id"] for c in city.json()["children"]] == [tree.jinjiang.pk]
    # The employer's union counts what it handles: not the concealed one.
    union = admin.get("/api/cases/figures", {"org_id": tree.cd_union.pk}).json()
    assert (union["subtree"]["filed"], union["subtree"]["by_category"]["hardship"]) == (2, 0)
    assert union["subtree"]["satisfaction_rate"] == 1.0
    # Nothing to divide by: null rates.
    empty = as_user("mianyang_admin").get("/api/cases/figures", {"org_id": tree.mianyang.pk})
    row = empty.json()["subtree"]
    assert (row["filed"], row["ack_on_time_rate"], row["median_days"]) == (0, None, None)
    not_found(as_user("worker").get("/api/cases/figures", {"org_id": tree.cd_union.pk}))
    # Without org_id: the highest union in the user's scope; none at all: 404.
    assert admin.get("/api/cases/figures").json()["subtree"]["org"]["id"] == tree.cd_union.pk
    default = as_user("chengdu_admin").get("/api/cases/figures").json()["subtree"]
    assert (default["org"]["id"], default["filed"]) == (tree.chengdu.pk, 3)
    not_found(as_user("worker").get("/api/cases/figures"))


def test_working_day_calendar(tree, as_user):
    worker = as_user("worker")  # any signed-in user
    response = worker.get("/api/cases/calendar", {"year": 2026})
    assert response.status_code == 200, response.content
    rows = WorkCalendarDay.objects.filter(day__year=2026).order_by("day")
    assert rows.exists()
    assert response.json() == {
        "year": 2026,
        "days": [
            {"day": d.day.isoformat(), "is_workday": d.is_workday, "note": d.note} for d in rows
        ],
    }
    assert worker.get("/api/cases/calendar", {"year": 2031}).json() == {"year": 2031, "days": []}
    assert worker.get("/api/cases/calendar").json()["year"] == timezone.localdate().year
    refused(worker.get("/api/cases/calendar", {"year": 1800}), 422, "year", "year")


# --- hardship aid files -------------------------------------------------------------------


def hardship_body(tree, **extra: Any) -> dict[str, Any]:
    return {
        "member_id": tree.cd_member.pk,
        "org_id": tree.cd_union.pk,
        "level": "deep",
        "causes": ["illness", "schooling", "illness"],
        "family_size": 4,
        "monthly_income_per_capita": 800,
        "situation": "妻子重病住院，两个孩子上学，家庭收入微薄。",
        "review_due": (timezone.localdate() + datetime.timedelta(days=180)).isoformat(),
        **extra,
    }


def test_hardship_file_lifecycle(tree, as_user):
    admin = as_user("cd_union_admin")
    response = admin.post("/api/cases/hardship-files", hardship_body(tree))
    assert response.status_code == 201, response.content
    out = response.json()
    hardship = HardshipFile.objects.get()
    today = timezone.localdate()
    assert out == {
        "id": hardship.pk,
        "member": {
            "id": tree.cd_member.pk,
            "name": "张伟",
            "unit": {"id": tree.cd_union.pk, "name": tree.cd_union.name, "kind": "grassroots"},
        },
        "org": {"id": tree.cd_union.pk, "name": tree.cd_union.name, "kind": "grassroots"},
        "level": "deep",
        "causes": ["illness", "schooling"],
        "family_size": 4,
        "monthly_income_per_capita": 800,
        "situation": "妻子重病住院，两个孩子上学，家庭收入微薄。",
        "status": "active",
        "review_due": (today + datetime.timedelta(days=180)).isoformat(),
        "reviewed_on": None,
        "lifted_on": None,
        "opened_on": today.isoformat(),
        "case_id": None,
        "version": 1,
        "created_at": out["created_at"],
        "aid": [],
        "aid_total": 0,
    }
    base = f"/api/cases/hardship-files/{hardship.pk}"
    # Never the ID number, in the list or the detail.
    for response in (
        admin.get(base),
        admin.get("/api/cases/hardship-files", {"org_id": tree.cd_union.pk}),
    ):
        text = response.content.decode()
        assert tree.cd_member.id_number_masked not in text
        assert make_id_number(seq=11) not in text
    refused(admin.post("/api/cases/hardship-files", hardship_body(tree)), 422, "duplicate")
    # Review, with the version read.
    review = {**hardship_body(tree), "level": "relative", "family_size": 3, "version": 1}
    for key in ("member_id", "org_id"):
        review.pop(key)
    reviewed = admin.post(f"{base}/review", review)
    assert reviewed.status_code == 200, reviewed.content
    assert (reviewed.json()["level"], reviewed.json()["family_size"]) == ("relative", 3)
    assert (reviewed.json()["reviewed_on"], reviewed.json()["version"]) == (today.isoformat(), 2)
    refused(admin.post(f"{base}/review", review), 409, "stale")
    refused(
        admin.post(f"{base}/review", {**review, "version": 2, "review_due": today.isoformat()}),
        422,
        "review_due",
        "review_due",
    )
    # Aid, by the file's union or one above.
    cash = admin.post(
        f"{base}/aid", {"kind": "cash", "amount": 2000, "given_on": today.isoformat()}
    )
    assert cash.status_code == 201, cash.content
    aid = AidRecord.objects.get()
    assert cash.json() == {
        "id": aid.pk,
        "file_id": hardship.pk,
        "org": {"id": tree.cd_union.pk, "name": tree.cd_union.name, "kind": "grassroots"},
        "kind": "cash",
        "amount": 2000,
        "given_on": today.isoformat(),
        "note": "",
        "recorded_by": "cd_union_admin",
        "recorded_at": cash.json()["recorded_at"],
    }
    city = as_user("chengdu_admin")
    warmth = city.post(
        f"{base}/aid",
        {
            "kind": "goods",
            "amount": 500,
            "given_on": today.isoformat(),
            "note": "送温暖",
            "org_id": tree.chengdu.pk,
        },
    )
    assert warmth.status_code == 201 and warmth.json()["org"]["id"] == tree.chengdu.pk
    tomorrow = (today + datetime.timedelta(days=1)).isoformat()
    refused(
        admin.post(f"{base}/aid", {"kind": "cash", "amount": 1, "given_on": tomorrow}),
        422,
        "given_on",
    )
    refused(
        admin.post(f"{base}/aid", {"kind": "gold", "amount": 1, "given_on": today.isoformat()}),
        422,
        "kind",
    )
    refused(
        admin.post(f"{base}/aid", {"kind": "cash", "amount": -1, "given_on": today.isoformat()}),
        422,
        "amount",
    )
    refused(
        admin.post(
            f"{base}/aid",
            {
                "kind": "cash",
                "amount": 1,
                "given_on": today.isoformat(),
                "org_id": tree.cd_branch.pk,
            },
        ),
        422,
        "org",
    )
    # 成都's federation is outside the union admin's sight.
    not_found(
        admin.post(
            f"{base}/aid",
            {"kind": "cash", "amount": 1, "given_on": today.isoformat(), "org_id": tree.chengdu.pk},
        )
    )
    figures = city.get("/api/cases/figures", {"org_id": tree.chengdu.pk}).json()["subtree"]
    assert (
        figures["hardship_files"],
        figures["hardship_aid_given"],
        figures["hardship_aid_paid"],
    ) == (1, 2, 2500)
    union = admin.get("/api/cases/figures", {"org_id": tree.cd_union.pk}).json()["subtree"]
    assert (union["hardship_files"], union["hardship_aid_paid"]) == (1, 2000)
    detail = admin.get(base).json()
    assert [a["amount"] for a in detail["aid"]] == [500, 2000]  # latest first
    assert detail["aid_total"] == 2500
    # Lifted: closed and kept.
    refused(admin.post(f"{base}/lift", {"reason": " "}), 422, "text")
    lifted = admin.post(f"{base}/lift", {"reason": "孩子毕业就业，收入稳定", "version": 2})
    assert lifted.status_code == 200, lifted.content
    assert (lifted.json()["status"], lifted.json()["lifted_on"]) == ("lifted", today.isoformat())
    refused(admin.post(f"{base}/lift", {"reason": "再次"}), 422, "status")
    refused(admin.post(f"{base}/review", {**review, "version": 3}), 422, "status")
    figures = city.get("/api/cases/figures", {"org_id": tree.chengdu.pk}).json()["subtree"]
    assert (figures["hardship_files"], figures["hardship_aid_paid"]) == (0, 2500)
    listed = lambda params: admin.get(  # noqa: E731
        "/api/cases/hardship-files", {"org_id": tree.cd_union.pk, **params}
    ).json()
    assert listed({})["count"] == 0
    assert [f["id"] for f in listed({"status": "lifted"})["items"]] == [hardship.pk]
    assert [f["id"] for f in listed({"status": "all", "q": "张"})["items"]] == [hardship.pk]
    refused(
        admin.get("/api/cases/hardship-files", {"org_id": tree.cd_union.pk, "status": "x"}),
        422,
        "status",
        "status",
    )


def test_hardship_files_are_scoped(tree, as_user):
    hardship = services.open_hardship_file(
        SYSTEM,
        member=tree.cd_member,
        org=tree.cd_union,
        data=services.HardshipInput(
            level="sudden",
            causes=["disaster"],
            family_size=2,
            monthly_income_per_capita=0,
            situation="家中房屋因暴雨受损严重。",
            review_due=timezone.localdate() + datetime.timedelta(days=90),
        ),
    )
    base = f"/api/cases/hardship-files/{hardship.pk}"
    today = timezone.localdate().isoformat()
    city = as_user("chengdu_admin")
    assert city.get("/api/cases/hardship-files", {"org_id": tree.chengdu.pk}).json()["count"] == 1
    assert city.get("/api/cases/hardship-files").json()["count"] == 1  # the city by default
    assert as_user("mianyang_admin").get("/api/cases/hardship-files").json()["count"] == 0
    not_found(as_user("worker").get("/api/cases/hardship-files"))
    not_found(as_user("chengdu_viewer").get("/api/cases/hardship-files"))
    assert city.get(base).status_code == 200
    before = state()
    # Another city, a viewer (no hardship rights), a staff member, a worker: 404 on all.
    for username in ("mianyang_admin", "chengdu_viewer", "chengdu_staff", "worker"):
        user = as_user(username)
        not_found(user.get("/api/cases/hardship-files", {"org_id": tree.cd_union.pk}))
        not_found(user.get(base))
        not_found(user.post(f"{base}/lift", {"reason": "脱困"}))
        not_found(user.post(f"{base}/aid", {"kind": "cash", "amount": 1, "given_on": today}))
        review = {k: v for k, v in hardship_body(tree).items() if k not in ("member_id", "org_id")}
        not_found(user.post(f"{base}/review", review))
    # Opening: a member outside the union, a member of another city, another city's union.
    admin = as_user("cd_union_admin")
    refused(
        admin.post(
            "/api/cases/hardship-files",
            hardship_body(tree, member_id=tree.cd_member2.pk, org_id=tree.cd_branch.pk),
        ),
        422,
        "member",
    )
    not_found(
        admin.post("/api/cases/hardship-files", hardship_body(tree, member_id=tree.my_member.pk))
    )
    not_found(
        as_user("mianyang_admin").post(
            "/api/cases/hardship-files", hardship_body(tree, member_id=tree.cd_member2.pk)
        )
    )
    # A viewer sees the union and its members but may not keep files: 403.
    forbidden(
        as_user("chengdu_viewer").post(
            "/api/cases/hardship-files", hardship_body(tree, member_id=tree.cd_member2.pk)
        )
    )
    refused(
        admin.post(
            "/api/cases/hardship-files",
            hardship_body(tree, member_id=tree.cd_member2.pk, family_size=0, causes=[]),
        ),
        422,
        "causes",
        "causes",
    )
    assert state() == before


def test_a_hardship_file_does_not_reveal_a_concealed_case(tree, as_user):
    """A county cadre links a file kept by the employer's union to the case the worker
    filed past it: the union sees the file, never the link."""
    case = file(tree, category="hardship", conceal=True)
    city = as_user("chengdu_admin")
    body = hardship_body(tree, case_id=case.pk)
    # The employer's union cannot link a case it may not read.
    not_found(as_user("cd_union_admin").post("/api/cases/hardship-files", body))
    response = city.post("/api/cases/hardship-files", body)
    assert response.status_code == 201, response.content
    assert response.json()["case_id"] == case.pk
    hardship = HardshipFile.objects.get()
    admin = as_user("cd_union_admin")
    assert admin.get(f"/api/cases/hardship-files/{hardship.pk}").json()["case_id"] is None
    listed = admin.get("/api/cases/hardship-files", {"org_id": tree.cd_union.pk}).json()
    assert [(f["id"], f["case_id"]) for f in listed["items"]] == [(hardship.pk, None)]
    assert city.get(f"/api/cases/hardship-files/{hardship.pk}").json()["case_id"] == case.pk


def test_lists_cost_the_same_whatever_their_length(tree, as_user):
    """No query per row: the queue, the worker's list, the hardship files."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    admin = as_user("cd_union_admin")
    worker = as_user("worker")

    def queries(api: Api, path: str, params: dict[str, Any]) -> int:
        api.get(path, params)  # the token's first use is recorded once a minute
        with CaptureQueriesContext(connection) as captured:
            assert api.get(path, params).status_code == 200
        return len(captured.captured_queries)

    queue = {"org_id": tree.cd_union.pk, "show": "all"}
    files = {"org_id": tree.cd_union.pk}

    def measure() -> list[int]:
        return [
            queries(admin, "/api/cases", queue),
            queries(worker, "/api/cases/mine", {}),
            queries(admin, "/api/cases/hardship-files", files),
        ]

    def hardship(member: Any, case: Case | None) -> None:
        data = services.HardshipInput(
            level="relative",
            causes=["illness"],
            family_size=3,
            monthly_income_per_capita=900,
            situation="家中老人长期患病，开支较大。",
            review_due=timezone.localdate() + datetime.timedelta(days=30),
        )
        services.open_hardship_file(SYSTEM, member=member, org=tree.cd_union, data=data, case=case)

    first = file(tree, title="第一件")
    services.add_attachment(SYSTEM, first, upload=SimpleUploadedFile("a.png", PNG))
    hardship(tree.cd_member, first)
    one = measure()
    for n in range(4):
        closed(tree, file(tree, title=f"第{n}件"))
    hardship(tree.cd_member2, None)
    hardship(tree.team_member, None)
    assert measure() == one


def test_openapi_schema_builds(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert set(paths["/api/cases"]) == {"get", "post"}
    for path in (
        "/api/cases/mine",
        "/api/cases/figures",
        "/api/cases/calendar",
        "/api/cases/attachments/{case_attachment_id}",
        "/api/cases/{case_id}",
        "/api/cases/{case_id}/events",
        "/api/cases/{case_id}/attachments",
        "/api/cases/hardship-files",
        "/api/cases/hardship-files/{file_id}",
        "/api/cases/hardship-files/{file_id}/review",
        "/api/cases/hardship-files/{file_id}/lift",
        "/api/cases/hardship-files/{file_id}/aid",
    ):
        assert path in paths, path
    for action in (
        "accept",
        "assign",
        "contact",
        "notes",
        "messages",
        "escalate",
        "transfer",
        "close",
        "withdraw",
        "rate",
        "reopen",
    ):
        assert set(paths[f"/api/cases/{{case_id}}/{action}"]) == {"post"}, action
    upload = paths["/api/cases/{case_id}/attachments"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in upload
