"""The notices API (/api/notices/…): every endpoint with its exact answer, its scoping
(404 outside, and nothing changes), its permissions (403), the services' refusals (422
with their codes) and retries that create nothing twice. Runs on SQLite and PostgreSQL.

The clock is fixed (`clock`): 2 March 2026, 10:00 Beijing time, unless a test moves it.
"""

import datetime
import json
import zoneinfo
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
from django.test import Client
from django.utils import translation

from gonghui.accounts.models import Notification
from gonghui.accounts.services import issue_api_token
from gonghui.api.urls import api as ninja_api
from gonghui.audit.models import AuditEntry
from gonghui.notices import services
from gonghui.notices.models import (
    Dispatch,
    Measure,
    Notice,
    Relay,
    Reminder,
    Report,
    Requirement,
)
from gonghui.notices.services import RequirementInput
from gonghui.orgs.models import Org
from gonghui.stats import services as stats

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
DAY0 = datetime.date(2026, 3, 2)


def day(n: int) -> datetime.date:
    return DAY0 + datetime.timedelta(days=n)


def d(n: int) -> str:
    """day(n) as the API writes it."""
    return day(n).isoformat()


class Clock:
    def __init__(self) -> None:
        self.set(0)

    def set(self, n: int, hour: int = 10, minute: int = 0) -> None:
        local = datetime.datetime.combine(day(n), datetime.time(hour, minute), tzinfo=SHANGHAI)
        self.moment = local.astimezone(datetime.UTC)

    def iso(self) -> str:
        """The current moment as the API writes it (UTC, Z)."""
        return self.moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    def __call__(self) -> datetime.datetime:
        return self.moment


@pytest.fixture
def clock() -> Iterator[Clock]:
    fake = Clock()
    with mock.patch("django.utils.timezone.now", fake):
        yield fake


class Api:
    """A client that sends one user's bearer token with every request."""

    def __init__(self, user: Any) -> None:
        self.client = Client()
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
def as_user(tree, clock):
    return lambda username: Api(tree.users[username])


def ref(org: Org) -> dict[str, Any]:
    return {"id": org.pk, "name": org.name, "kind": org.kind}


def codes(response: Any) -> list[str]:
    return [item["code"] for item in response.json()["detail"]]


def state() -> list[Any]:
    """Everything a refused request might have changed."""
    return [
        list(Notice.objects.order_by("pk").values()),
        list(Dispatch.objects.order_by("pk").values()),
        list(Relay.objects.order_by("pk").values()),
        list(Requirement.objects.order_by("pk").values()),
        list(Report.objects.order_by("pk").values()),
        list(Reminder.objects.order_by("pk").values()),
        Notification.objects.count(),
        AuditEntry.objects.count(),
    ]


def figures_exact() -> None:
    assert stats.rebuild(check=True) == []


LECTURE = RequirementInput(
    "lecture", "宣讲进企业、进车间、进班组", Measure.PER_UNIT, Decimal(1), "grassroots", day(14)
)
STUDY = RequirementInput("study", "会员参学", Measure.SHARE, Decimal(80))


def draft(t: Any, **changes: Any) -> Notice:
    values = {
        "actor": t.users["province_admin"],
        "issuer": t.province,
        "title": "关于在全省职工中深入开展学习宣传贯彻活动的通知",
        "doc_number": "川工发〔2026〕12号",
        "body": "<p>各级工会：</p><script>alert(1)</script>",
        "ack_due": day(5),
        "report_due": day(20),
        "requirements": [LECTURE, STUDY],
    }
    values.update(changes)
    return services.create_notice(**values)


def issued(t: Any, **changes: Any) -> Notice:
    notice = draft(t, **changes)
    return services.issue_notice(
        actor=changes.get("actor", t.users["province_admin"]), notice=notice
    )


def at(notice: Notice, org: Org) -> Dispatch:
    return Dispatch.objects.get(notice=notice, org=org)


def requirement_json(r: Requirement) -> dict[str, Any]:
    with translation.override("zh-hans"):  # the API answers in Chinese by default
        target_text = r.target_text
    return {
        "id": r.pk,
        "kind": r.kind,
        "title": r.title,
        "measure": r.measure,
        "threshold": float(r.threshold) if r.threshold is not None else None,
        "unit_kind": r.unit_kind,
        "target_text": target_text,
        "due": r.due.isoformat() if r.due else None,
        "relay_id": r.relay_id,
    }


# --- drafting -----------------------------------------------------------------------------


def test_draft_a_notice(tree, as_user, clock):
    response = as_user("province_admin").post(
        "/api/notices",
        {
            "issuer_id": tree.province.pk,
            "title": "  关于开展  学习宣传的通知 ",
            "doc_number": "川工发〔2026〕12号",
            "body": '<p onclick="x()">正文</p><script>alert(1)</script>',
            "audience_kinds": ["city", "county"],
            "audience_org_ids": [tree.chengdu.pk],
            "ack_due": d(5),
            "report_due": d(20),
            "requirements": [
                {
                    "kind": "lecture",
                    "title": "宣讲进车间",
                    "measure": "per_unit",
                    "threshold": 1,
                    "unit_kind": "county",
                    "due": d(14),
                },
                {"kind": "publicity", "title": " "},  # an empty line of the form: skipped
                {"kind": "study", "title": "会员参学", "measure": "share", "threshold": "80"},
            ],
        },
    )
    assert response.status_code == 201, response.content
    notice = Notice.objects.get()
    lecture, study = Requirement.objects.order_by("position")
    assert response.json() == {
        "id": notice.pk,
        "issuer": ref(tree.province),
        "title": "关于开展 学习宣传的通知",
        "doc_number": "川工发〔2026〕12号",
        "status": "draft",
        "requires_ack": True,
        "ack_due": d(5),
        "report_due": d(20),
        "issued_at": None,
        "audience_size": 0,
        "body": "<p>正文</p>",
        "audience_kinds": ["city", "county"],
        "audience_orgs": [ref(tree.chengdu)],
        "corrects_id": None,
        "created_at": clock.iso(),
        "closed_at": None,
        "version": 1,
        "requirements": [
            requirement_json(lecture),
            requirement_json(study),
        ],
        "attachments": [],
        "relays": [],
    }
    # The targets in words, in the default language.
    assert [r["target_text"] for r in response.json()["requirements"]] == [
        "每个县（市、区）总工会 ≥1",
        "会员覆盖率 ≥80%",
    ]
    assert notice.doc_year == 2026
    assert not Dispatch.objects.exists()


def test_draft_refusals(tree, as_user):
    api = as_user("province_admin")
    before = state()
    body = {"issuer_id": tree.chengdu.pk, "title": "x", "audience_org_ids": [tree.my_union.pk]}
    # 绵阳's union is not below 成都, the issuer.
    outside = api.post("/api/notices", body)
    assert outside.status_code == 422
    assert codes(outside) == ["audience_outside"]
    assert outside.json()["code"] == "audience_outside"
    for changes, code in [
        ({"title": "  "}, "title_missing"),
        ({"audience_kinds": ["factory"]}, "kind"),
        ({"requirements": [{"kind": "dance", "title": "跳舞"}]}, "requirement_kind"),
        (
            {"report_due": d(10), "requirements": [{"kind": "study", "title": "x", "due": d(11)}]},
            "requirement_due",
        ),
    ]:
        response = api.post(
            "/api/notices", {"issuer_id": tree.province.pk, "title": "t", **changes}
        )
        assert response.status_code == 422, changes
        assert codes(response) == [code]
    # A request that does not fit the schema: the same shape of answer.
    malformed = api.post("/api/notices", {"title": "缺少发文单位"})
    assert malformed.status_code == 422
    assert malformed.json()["detail"][0]["field"] == "issuer_id"
    # Audience orgs the user cannot see are not found.
    unseen = as_user("chengdu_admin").post(
        "/api/notices",
        {"issuer_id": tree.chengdu.pk, "title": "t", "audience_org_ids": [tree.my_union.pk]},
    )
    assert unseen.status_code == 404
    assert state() == before
    draft(tree)
    before = state()
    taken = api.post(
        "/api/notices",
        {"issuer_id": tree.province.pk, "title": "又一个", "doc_number": "川工发〔2026〕12号"},
    )
    assert taken.status_code == 422 and codes(taken) == ["doc_number_taken"]
    assert state() == before


def test_a_city_cadre_cannot_issue_from_the_province(tree, as_user):
    notice = draft(tree)
    api = as_user("chengdu_admin")
    before = state()
    created = api.post("/api/notices", {"issuer_id": tree.province.pk, "title": "越级发文"})
    assert created.status_code == 404
    for method, url, body in [
        ("get", f"/api/notices/{notice.pk}", None),
        ("patch", f"/api/notices/{notice.pk}", {"version": 1, "title": "改"}),
        ("post", f"/api/notices/{notice.pk}/issue", None),
        ("post", f"/api/notices/{notice.pk}/close", None),
    ]:
        response = getattr(api, method)(url, body) if body else getattr(api, method)(url)
        assert response.status_code == 404, url
        assert response.json() == {"detail": "Not Found"}
    # Once issued, 成都 reads it (it received it) but still cannot act as the issuer.
    services.issue_notice(actor=tree.users["province_admin"], notice=notice)
    assert api.get(f"/api/notices/{notice.pk}").status_code == 200
    before = state()
    assert api.post(f"/api/notices/{notice.pk}/close").status_code == 404
    assert api.patch(f"/api/notices/{notice.pk}", {"version": 2, "title": "改"}).status_code == 404
    assert state() == before


def test_a_viewer_cannot_draft(tree, as_user):
    before = state()
    response = as_user("chengdu_viewer").post(
        "/api/notices", {"issuer_id": tree.chengdu.pk, "title": "查看员发文"}
    )
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert state() == before


def test_edit_a_draft_with_its_version(tree, as_user):
    notice = draft(tree)
    api = as_user("province_admin")
    url = f"/api/notices/{notice.pk}"
    response = api.patch(
        url, {"version": 1, "title": "二稿", "audience_org_ids": [tree.chengdu.pk]}
    )
    assert response.status_code == 200, response.content
    data = response.json()
    # Left out: kept.
    assert (data["title"], data["doc_number"], data["version"]) == ("二稿", "川工发〔2026〕12号", 2)
    assert (data["ack_due"], data["report_due"]) == (d(5), d(20))
    assert data["audience_orgs"] == [ref(tree.chengdu)]
    assert [r["title"] for r in data["requirements"]] == ["宣讲进企业、进车间、进班组", "会员参学"]
    # The requirements are replaced when sent; an explicit null deadline clears it.
    data = api.patch(
        url,
        {
            "version": 2,
            "ack_due": None,
            "requires_ack": False,
            "requirements": [{"kind": "other", "title": "其他"}],
        },
    ).json()
    assert (data["ack_due"], data["requires_ack"], data["version"]) == (None, False, 3)
    assert [(r["kind"], r["title"]) for r in data["requirements"]] == [("other", "其他")]
    # A stale version: 409, nothing overwritten.
    before = state()
    stale = api.patch(url, {"version": 2, "title": "旧版本"})
    assert stale.status_code == 409 and codes(stale) == ["stale"]
    assert state() == before
    # Issued: no more edits.
    services.issue_notice(actor=tree.users["province_admin"], notice=notice)
    before = state()
    frozen = api.patch(url, {"version": 4, "title": "发出后修改"})
    assert frozen.status_code == 422 and codes(frozen) == ["not_draft"]
    assert state() == before


def test_a_correction_notice_links_the_corrected_one(tree, as_user):
    first = issued(tree)
    response = as_user("province_admin").post(
        "/api/notices",
        {"issuer_id": tree.province.pk, "title": "更正通知", "corrects_id": first.pk},
    )
    assert response.status_code == 201
    assert response.json()["corrects_id"] == first.pk
    other = issued(tree, issuer=tree.mianyang, actor=tree.users["mianyang_admin"], doc_number="")
    refused = as_user("province_admin").post(
        "/api/notices", {"issuer_id": tree.province.pk, "title": "更正", "corrects_id": other.pk}
    )
    assert refused.status_code == 422 and codes(refused) == ["corrects"]


# --- issuing ------------------------------------------------------------------------------


def test_issue_and_issue_again(tree, as_user, clock):
    notice = draft(tree)
    api = as_user("province_admin")
    first = api.post(f"/api/notices/{notice.pk}/issue")
    assert first.status_code == 200, first.content
    data = first.json()
    assert (data["status"], data["issued_at"], data["audience_size"]) == (
        "issued",
        clock.iso(),
        10,
    )
    assert data["version"] == 2
    dispatches = Dispatch.objects.filter(notice=notice)
    assert dispatches.count() == 10
    assert set(dispatches.values_list("ack_due", "report_due")) == {(day(5), day(20))}
    audit = AuditEntry.objects.count()
    clock.set(0, 11)
    again = api.post(f"/api/notices/{notice.pk}/issue")  # a double click, a retry
    assert again.status_code == 200
    assert again.json() == data
    assert Dispatch.objects.filter(notice=notice).count() == 10
    assert AuditEntry.objects.count() == audit
    figures_exact()


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"ack_due": day(-1)}, "deadline_past"),
        ({"report_due": day(-1), "ack_due": None, "requires_ack": False}, "deadline_past"),
        ({"ack_due": day(9), "report_due": day(8)}, "deadline_order"),
        ({"ack_due": None}, "ack_due_missing"),
        ({"audience_kinds": ["team"], "audience_orgs": "mianyang"}, "audience_empty"),
    ],
)
def test_issuing_refusals(tree, as_user, changes, code):
    if "audience_orgs" in changes:  # 绵阳 has no team
        changes = {**changes, "audience_orgs": [getattr(tree, changes["audience_orgs"])]}
    if "requirements" not in changes:
        changes = {**changes, "requirements": []}
    notice = draft(tree, **changes)
    before = state()
    response = as_user("province_admin").post(f"/api/notices/{notice.pk}/issue")
    assert response.status_code == 422
    assert codes(response) == [code]
    assert state() == before


def test_close(tree, as_user, clock):
    notice = issued(tree)
    api = as_user("province_admin")
    clock.set(3)
    response = api.post(f"/api/notices/{notice.pk}/close")
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["closed_at"]) == ("closed", clock.iso())
    audit = AuditEntry.objects.count()
    clock.set(4)
    again = api.post(f"/api/notices/{notice.pk}/close")  # a retry: the same answer
    assert again.status_code == 200 and again.json() == response.json()
    assert AuditEntry.objects.count() == audit
    pending = draft(tree, doc_number="")
    not_issued = api.post(f"/api/notices/{pending.pk}/close")
    assert not_issued.status_code == 422 and codes(not_issued) == ["not_issued"]
    before = state()
    ack = as_user("chengdu_admin").post(
        f"/api/notices/dispatches/{at(notice, tree.chengdu).pk}/acknowledge"
    )
    assert ack.status_code == 422 and codes(ack) == ["notice_closed"]
    assert state() == before
    # Closed notices stay in the inbox.
    inbox = as_user("chengdu_admin").get("/api/notices/inbox", {"org_id": tree.chengdu.pk})
    assert [i["notice"]["status"] for i in inbox.json()["items"]] == ["closed"]


# --- lists ----------------------------------------------------------------------------------


def test_notices_issued_by_a_union(tree, as_user, clock):
    older = issued(tree)
    clock.set(1)
    newer = issued(tree, doc_number="川工发〔2026〕13号", title="第二个通知")
    clock.set(2)
    pending = draft(tree, doc_number="", title="草稿")
    city = draft(tree, issuer=tree.chengdu, actor=tree.users["chengdu_admin"], doc_number="")
    api = as_user("province_admin")
    response = api.get("/api/notices", {"org_id": tree.province.pk})
    assert response.status_code == 200
    data = response.json()
    assert data["count"] == 3
    assert [n["id"] for n in data["items"]] == [pending.pk, newer.pk, older.pk]
    older.refresh_from_db()
    assert data["items"][2] == {
        "id": older.pk,
        "issuer": ref(tree.province),
        "title": "关于在全省职工中深入开展学习宣传贯彻活动的通知",
        "doc_number": "川工发〔2026〕12号",
        "status": "issued",
        "requires_ack": True,
        "ack_due": d(5),
        "report_due": d(20),
        "issued_at": "2026-03-02T02:00:00Z",
        "audience_size": 10,
    }
    issued_only = api.get("/api/notices", {"org_id": tree.province.pk, "status": "issued"})
    assert [n["id"] for n in issued_only.json()["items"]] == [newer.pk, older.pk]
    page = api.get("/api/notices", {"org_id": tree.province.pk, "limit": 1, "offset": 1})
    assert [n["id"] for n in page.json()["items"]] == [newer.pk]
    # Without org_id: every union in scope; 成都 sees its own, not the province's.
    assert api.get("/api/notices").json()["count"] == 4
    chengdu = as_user("chengdu_admin")
    assert [n["id"] for n in chengdu.get("/api/notices").json()["items"]] == [city.pk]
    assert chengdu.get("/api/notices", {"org_id": tree.province.pk}).status_code == 404
    assert chengdu.get("/api/notices", {"org_id": tree.my_union.pk}).status_code == 404


def test_inbox(tree, as_user, clock):
    first = issued(tree)
    clock.set(1)
    second = issued(
        tree,
        doc_number="川工发〔2026〕13号",
        title="第二个通知",
        report_due=day(10),
        requirements=[],
    )
    services.mark_read(actor=tree.users["cd_union_admin"], dispatch=at(first, tree.cd_union))
    api = as_user("cd_union_admin")
    response = api.get("/api/notices/inbox")
    assert response.status_code == 200
    data = response.json()
    assert data["count"] == 2
    second.refresh_from_db()
    unread = at(second, tree.cd_union)
    assert data["items"][0] == {
        "id": unread.pk,
        "org": ref(tree.cd_union),
        "ack_due": d(5),
        "report_due": d(10),
        "read_at": None,
        "acknowledged_at": None,
        "planned_at": None,
        "report_status": "",
        "reported_at": None,
        "accepted_at": None,
        "ack_overdue": False,
        "report_overdue": False,
        "unread": True,
        "notice": {
            "id": second.pk,
            "issuer": ref(tree.province),
            "title": "第二个通知",
            "doc_number": "川工发〔2026〕13号",
            "status": "issued",
            "requires_ack": True,
            "ack_due": d(5),
            "report_due": d(10),
            "issued_at": clock.iso(),
            "audience_size": 10,
        },
    }
    # Read ones after unread ones, whatever their deadline.
    assert (data["items"][1]["notice"]["id"], data["items"][1]["unread"]) == (first.pk, False)
    assert data["items"][1]["read_at"] == clock.iso()
    assert api.get("/api/notices/inbox", {"org_id": tree.cd_union.pk}).json() == data
    # Drafts are in nobody's inbox; other unions' notices neither.
    draft(tree, doc_number="")
    assert api.get("/api/notices/inbox").json()["count"] == 2
    # An upper cadre opens a union's inbox; the union's own cadre is the default.
    chengdu = as_user("chengdu_admin")
    assert chengdu.get("/api/notices/inbox", {"org_id": tree.cd_union.pk}).json() == data
    mine = chengdu.get("/api/notices/inbox").json()
    assert {i["org"]["id"] for i in mine["items"]} == {tree.chengdu.pk}
    assert chengdu.get("/api/notices/inbox", {"org_id": tree.my_union.pk}).status_code == 404
    # Nobody with a role: an empty inbox.
    assert as_user("worker").get("/api/notices/inbox").json() == {"items": [], "count": 0}


# --- a notice, a dispatch -----------------------------------------------------------------


def test_notice_detail_for_the_issuer_and_for_a_receiving_union(tree, as_user, clock):
    notice = issued(tree)
    services.relay(
        actor=tree.users["chengdu_admin"],
        dispatch=at(notice, tree.chengdu),
        ack_due=day(4),
        requirements=[RequirementInput("training", "技能培训")],
    )
    services.relay(actor=tree.users["mianyang_admin"], dispatch=at(notice, tree.mianyang))
    province = as_user("province_admin").get(f"/api/notices/{notice.pk}").json()
    assert [r["org"]["id"] for r in province["relays"]] == [tree.chengdu.pk, tree.mianyang.pk]
    chengdu_relay = Relay.objects.get(org=tree.chengdu)
    training = Requirement.objects.get(relay=chengdu_relay)
    assert province["relays"][0] == {
        "id": chengdu_relay.pk,
        "org": ref(tree.chengdu),
        "note": "",
        "doc_number": "",
        "ack_due": d(4),
        "report_due": None,
        "created_at": clock.iso(),
        "requirements": [requirement_json(training)],
    }
    assert province["body"] == "<p>各级工会：</p>"
    lecture, study = Requirement.objects.filter(relay=None).order_by("position")
    assert province["requirements"] == [
        requirement_json(lecture),
        requirement_json(study),
    ]
    # 成都 reads the province's notice (it received it), with only its own subtree's relays.
    chengdu = as_user("chengdu_admin").get(f"/api/notices/{notice.pk}")
    assert chengdu.status_code == 200
    assert chengdu.json() == {**province, "relays": [province["relays"][0]]}
    text = json.dumps(chengdu.json(), ensure_ascii=False)
    assert "绵阳" not in text


def test_dispatch_detail_with_the_relay_chain(tree, as_user, clock):
    notice = issued(tree)
    clock.set(1)
    services.relay(
        actor=tree.users["chengdu_admin"],
        dispatch=at(notice, tree.chengdu),
        note="<p>请抓好落实</p>",
        doc_number="成工发〔2026〕8号",
        ack_due=day(3),
        report_due=day(15),
        requirements=[
            RequirementInput(
                "training", "技能培训", Measure.PER_UNIT, Decimal(1), "county", day(15)
            )
        ],
    )
    relay = Relay.objects.get()
    dispatch = at(notice, tree.cd_union)
    url = f"/api/notices/dispatches/{dispatch.pk}"
    # An upper cadre reading it does not mark it read.
    upper = as_user("chengdu_admin").get(url)
    assert upper.status_code == 200
    assert upper.json()["read_at"] is None
    assert (upper.json()["may_handle"], upper.json()["may_review"]) == (False, True)
    clock.set(2)
    response = as_user("cd_union_admin").get(url)
    assert response.status_code == 200
    lecture, study = Requirement.objects.filter(relay=None).order_by("position")
    training = Requirement.objects.get(relay=relay)
    assert response.json() == {
        "id": dispatch.pk,
        "org": ref(tree.cd_union),
        "ack_due": d(3),
        "report_due": d(15),
        "read_at": clock.iso(),
        "acknowledged_at": None,
        "planned_at": None,
        "report_status": "",
        "reported_at": None,
        "accepted_at": None,
        "ack_overdue": False,
        "report_overdue": False,
        "notice": {
            "id": notice.pk,
            "issuer": ref(tree.province),
            "title": "关于在全省职工中深入开展学习宣传贯彻活动的通知",
            "doc_number": "川工发〔2026〕12号",
            "status": "issued",
            "requires_ack": True,
            "ack_due": d(5),
            "report_due": d(20),
            "issued_at": "2026-03-02T02:00:00Z",
            "audience_size": 10,
        },
        "body": "<p>各级工会：</p>",
        "attachments": [],
        "acknowledged_by": None,
        "plan": "",
        "version": 1,
        "chain": [
            {
                "org": ref(tree.province),
                "relay_id": None,
                "doc_number": "川工发〔2026〕12号",
                "note": "",
                "ack_due": d(5),
                "report_due": d(20),
                "requirements": [
                    requirement_json(lecture),
                    requirement_json(study),
                ],
            },
            {
                "org": ref(tree.chengdu),
                "relay_id": relay.pk,
                "doc_number": "成工发〔2026〕8号",
                "note": "<p>请抓好落实</p>",
                "ack_due": d(3),
                "report_due": d(15),
                "requirements": [requirement_json(training)],
            },
        ],
        "relay": None,
        "reports": [],
        "may_handle": True,
        "may_review": False,
    }
    # Reading it again keeps the first moment.
    clock.set(3)
    assert as_user("cd_union_admin").get(url).json()["read_at"] == "2026-03-04T02:00:00Z"


def test_attachments_are_listed_as_metadata(tree, as_user, clock):
    from django.core.files.uploadedfile import SimpleUploadedFile

    notice = draft(tree)
    stored = services.add_attachment(
        actor=tree.users["province_admin"],
        notice=notice,
        upload=SimpleUploadedFile("方案.pdf", b"%PDF-1.4 demo", content_type="application/pdf"),
    )
    services.issue_notice(actor=tree.users["province_admin"], notice=notice)
    expected = [
        {
            "id": stored.pk,
            "name": "方案.pdf",
            "size": 13,
            "content_type": "application/pdf",
            "uploaded_at": clock.iso(),
        }
    ]
    assert as_user("province_admin").get(f"/api/notices/{notice.pk}").json()["attachments"] == (
        expected
    )
    dispatch = at(notice, tree.cd_union)
    detail = as_user("cd_union_admin").get(f"/api/notices/dispatches/{dispatch.pk}").json()
    assert detail["attachments"] == expected


# --- acknowledging, relaying, planning ------------------------------------------------------


def test_acknowledge_and_acknowledge_again(tree, as_user, clock):
    notice = issued(tree)
    dispatch = at(notice, tree.cd_union)
    api = as_user("cd_union_admin")
    url = f"/api/notices/dispatches/{dispatch.pk}/acknowledge"
    clock.set(1)
    first = api.post(url)
    assert first.status_code == 200, first.content
    data = first.json()
    assert (data["acknowledged_at"], data["read_at"], data["acknowledged_by"]) == (
        clock.iso(),
        clock.iso(),
        "cd_union_admin",
    )
    assert data["version"] == 2
    audit = AuditEntry.objects.count()
    clock.set(2)
    again = api.post(url)
    assert again.status_code == 200
    assert again.json() == data
    assert AuditEntry.objects.count() == audit
    figures_exact()


def test_only_the_receiving_union_acknowledges(tree, as_user):
    notice = issued(tree)
    before = state()
    # A grassroots cadre cannot acknowledge for the union above it: not even visible.
    parent = as_user("cd_union_admin").post(
        f"/api/notices/dispatches/{at(notice, tree.chunxilu).pk}/acknowledge"
    )
    assert parent.status_code == 404
    # A city cadre sees its unions' copies but acts only on its own.
    below = as_user("chengdu_admin").post(
        f"/api/notices/dispatches/{at(notice, tree.cd_union).pk}/acknowledge"
    )
    assert below.status_code == 403
    # A viewer of the city cannot acknowledge the city's own.
    viewer = as_user("chengdu_viewer").post(
        f"/api/notices/dispatches/{at(notice, tree.chengdu).pk}/acknowledge"
    )
    assert viewer.status_code == 403
    assert state() == before


def test_relay(tree, as_user, clock):
    notice = issued(tree)
    dispatch = at(notice, tree.chengdu)
    api = as_user("chengdu_admin")
    url = f"/api/notices/dispatches/{dispatch.pk}/relay"
    clock.set(1)
    response = api.post(
        url,
        {
            "note": "<p>请抓好落实</p><script>x</script>",
            "doc_number": "成工发〔2026〕8号",
            "ack_due": d(3),
            "report_due": d(15),
            "requirements": [
                {
                    "kind": "training",
                    "title": "技能培训",
                    "measure": "total",
                    "threshold": 10,
                    "due": d(15),
                }
            ],
        },
    )
    assert response.status_code == 201, response.content
    relay = Relay.objects.get()
    training = Requirement.objects.get(relay=relay)
    assert response.json() == {
        "id": relay.pk,
        "org": ref(tree.chengdu),
        "note": "<p>请抓好落实</p>",
        "doc_number": "成工发〔2026〕8号",
        "ack_due": d(3),
        "report_due": d(15),
        "created_at": clock.iso(),
        "requirements": [requirement_json(training)],
    }
    # Earlier deadlines below 成都, not elsewhere; relaying acknowledged 成都's copy.
    assert (at(notice, tree.cd_union).ack_due, at(notice, tree.cd_union).report_due) == (
        day(3),
        day(15),
    )
    assert at(notice, tree.my_union).ack_due == day(5)
    assert at(notice, tree.chengdu).acknowledged_at is not None
    # Once per union.
    before = state()
    again = api.post(url, {})
    assert again.status_code == 422 and codes(again) == ["relayed"]
    assert state() == before
    figures_exact()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"ack_due": "2026-03-08"}, "deadline_later_than_parent"),
        ({"report_due": "2026-03-23"}, "deadline_later_than_parent"),
        ({"ack_due": "2026-03-01"}, "deadline_past"),
        (
            {
                "report_due": "2026-03-10",
                "requirements": [{"kind": "study", "title": "x", "due": "2026-03-11"}],
            },
            "requirement_due",
        ),
    ],
)
def test_relay_refusals(tree, as_user, body, code):
    notice = issued(tree)
    before = state()
    response = as_user("chengdu_admin").post(
        f"/api/notices/dispatches/{at(notice, tree.chengdu).pk}/relay", body
    )
    assert response.status_code == 422
    assert codes(response) == [code]
    assert state() == before


def test_a_union_with_nothing_below_cannot_relay(tree, as_user):
    notice = issued(tree, audience_kinds=["grassroots"])
    before = state()
    response = as_user("cd_union_only").post(
        f"/api/notices/dispatches/{at(notice, tree.cd_union).pk}/relay", {}
    )
    assert response.status_code == 422 and codes(response) == ["nothing_below"]
    assert state() == before


def test_plan(tree, as_user, clock):
    notice = issued(tree)
    dispatch = at(notice, tree.cd_union)
    api = as_user("cd_union_admin")
    url = f"/api/notices/dispatches/{dispatch.pk}/plan"
    clock.set(1)
    response = api.post(url, {"plan": "一、集中学习；二、宣讲进车间。"})
    assert response.status_code == 200
    data = response.json()
    assert (data["plan"], data["planned_at"]) == ("一、集中学习；二、宣讲进车间。", clock.iso())
    clock.set(2)
    revised = api.post(url, {"plan": "修订后的方案"}).json()
    assert (revised["plan"], revised["planned_at"]) == ("修订后的方案", "2026-03-03T02:00:00Z")
    empty = api.post(url, {"plan": "  "})
    assert empty.status_code == 422 and codes(empty) == ["plan_missing"]
    assert as_user("chengdu_viewer").post(url, {"plan": "x"}).status_code == 403
    figures_exact()


# --- reporting and reviewing ----------------------------------------------------------------


def test_prefill(tree, as_user, clock):
    notice = issued(tree)
    from conftest import make_id_number
    from gonghui.orgs import services as org_services
    from gonghui.orgs.scoping import SYSTEM

    clock.set(1)
    org_services.register_member(
        actor=SYSTEM, unit=tree.cd_team, name="赵敏", id_number=make_id_number(seq=71)
    )
    response = as_user("cd_union_admin").get(
        f"/api/notices/dispatches/{at(notice, tree.cd_union).pk}/prefill"
    )
    assert response.status_code == 200
    figures = {f["code"]: f for f in response.json()}
    assert figures["members.joined"] == {"code": "members.joined", "label": "入会", "value": 1}
    assert figures["activities.reached"]["value"] == 0
    elsewhere = as_user("mianyang_admin").get(
        f"/api/notices/dispatches/{at(notice, tree.my_union).pk}/prefill"
    )
    assert {f["code"]: f["value"] for f in elsewhere.json()}["members.joined"] == 0


def test_report_and_report_again_with_the_same_key(tree, as_user, clock):
    notice = issued(tree)
    dispatch = at(notice, tree.cd_union)
    api = as_user("cd_union_admin")
    url = f"/api/notices/dispatches/{dispatch.pk}/report"
    body = {
        "figures": {"members.joined": 3, "lectures_held": 2},
        "narrative": " 开展宣讲进车间2场。 ",
        "submission_key": "form-1",
    }
    clock.set(4)
    first = api.post(url, body)
    assert first.status_code == 201, first.content
    report = Report.objects.get()
    expected = {
        "id": report.pk,
        "dispatch_id": dispatch.pk,
        "figures": {"members.joined": 3, "lectures_held": 2},
        "narrative": "开展宣讲进车间2场。",
        "submission_key": "form-1",
        "submitted_at": clock.iso(),
        "submitted_by": "cd_union_admin",
        "status": "submitted",
        "review_comment": "",
        "reviewed_at": None,
        "reviewed_by": None,
        "evidence": [],
    }
    assert first.json() == expected
    # Reporting acknowledged the dispatch too.
    detail = api.get(f"/api/notices/dispatches/{dispatch.pk}").json()
    assert (detail["report_status"], detail["reported_at"], detail["acknowledged_at"]) == (
        "submitted",
        clock.iso(),
        clock.iso(),
    )
    assert detail["reports"] == [expected]
    before = state()
    clock.set(5)
    retry = api.post(url, body)
    assert retry.status_code == 200
    assert retry.json() == expected
    assert state() == before
    # Another submission while the first awaits review: refused.
    pending = api.post(url, {**body, "submission_key": "form-2"})
    assert pending.status_code == 422 and codes(pending) == ["report_pending"]
    assert state() == before
    figures_exact()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"figures": {"x": -1}, "narrative": "做了", "submission_key": "k"}, "figure"),
        ({"narrative": " ", "submission_key": "k"}, "narrative_missing"),
        ({"narrative": "做了", "submission_key": " "}, "submission_key"),
        ({"figures": {"x": "many"}, "narrative": "做了", "submission_key": "k"}, "int_parsing"),
    ],
)
def test_report_refusals(tree, as_user, body, code):
    notice = issued(tree)
    before = state()
    response = as_user("cd_union_admin").post(
        f"/api/notices/dispatches/{at(notice, tree.cd_union).pk}/report", body
    )
    assert response.status_code == 422
    assert codes(response) == [code]
    assert state() == before


def test_review_accept_and_return(tree, as_user, clock):
    notice = issued(tree)
    dispatch = at(notice, tree.cd_union)
    reporter = as_user("cd_union_admin")
    report_url = f"/api/notices/dispatches/{dispatch.pk}/report"
    first = reporter.post(report_url, {"narrative": "初稿", "submission_key": "a"}).json()
    review_url = f"/api/notices/reports/{first['id']}/review"
    # The reporting union cannot review itself; 绵阳 cannot see it.
    before = state()
    own = reporter.post(review_url, {"accept": True})
    assert own.status_code == 403
    assert as_user("mianyang_admin").post(review_url, {"accept": True}).status_code == 404
    reviewer = as_user("chengdu_admin")
    missing = reviewer.post(review_url, {"accept": False})
    assert missing.status_code == 422 and codes(missing) == ["comment_missing"]
    assert state() == before
    clock.set(6)
    returned = reviewer.post(review_url, {"accept": False, "comment": "请补充照片"})
    assert returned.status_code == 200
    assert returned.json() == {
        **first,
        "status": "returned",
        "review_comment": "请补充照片",
        "reviewed_at": clock.iso(),
        "reviewed_by": "chengdu_admin",
    }
    # The same decision again: unchanged; the other decision: refused.
    before = state()
    assert reviewer.post(review_url, {"accept": False, "comment": "再次"}).json() == returned.json()
    accept_now = reviewer.post(review_url, {"accept": True})
    assert accept_now.status_code == 422 and codes(accept_now) == ["reviewed"]
    assert state() == before
    # Resubmitted after the return, then accepted; history is kept.
    clock.set(7)
    second = reporter.post(report_url, {"narrative": "补充了照片", "submission_key": "b"})
    assert second.status_code == 201
    accepted = reviewer.post(f"/api/notices/reports/{second.json()['id']}/review", {"accept": True})
    assert accepted.status_code == 200
    assert accepted.json()["status"] == "accepted"
    detail = reporter.get(f"/api/notices/dispatches/{dispatch.pk}").json()
    assert [(r["narrative"], r["status"]) for r in detail["reports"]] == [
        ("补充了照片", "accepted"),
        ("初稿", "returned"),
    ]
    assert (detail["report_status"], detail["accepted_at"]) == ("accepted", clock.iso())
    # The first submission's moment stays the dispatch's report date.
    assert detail["reported_at"] == "2026-03-02T02:00:00Z"
    figures_exact()


# --- supervision and reminders ----------------------------------------------------------------


def _progress(tree: Any, clock: Clock) -> Notice:
    """Issued on day 0 (acknowledge by day 5): 成都 relays on day 1, the 成都 union
    acknowledges on day 2 and reports on day 3, 成都 accepts; 绵阳 acknowledges late."""
    notice = issued(tree)
    clock.set(1)
    services.relay(actor=tree.users["chengdu_admin"], dispatch=at(notice, tree.chengdu))
    clock.set(2)
    services.acknowledge(actor=tree.users["cd_union_admin"], dispatch=at(notice, tree.cd_union))
    services.save_plan(
        actor=tree.users["cd_union_admin"], dispatch=at(notice, tree.cd_union), plan="方案"
    )
    clock.set(3)
    report = services.submit_report(
        actor=tree.users["cd_union_admin"],
        dispatch=at(notice, tree.cd_union),
        figures_values={},
        narrative="完成",
        submission_key="k",
    )
    services.review_report(actor=tree.users["chengdu_admin"], report=report, accept=True)
    clock.set(6)
    services.acknowledge(actor=tree.users["mianyang_admin"], dispatch=at(notice, tree.mianyang))
    return notice


def row(org: Org, values: dict[str, int]) -> dict[str, Any]:
    steps = [
        "audience", "acknowledged", "ack_on_time", "ack_overdue", "relayed", "planned",
        "reported", "report_on_time", "report_overdue", "accepted",
    ]  # fmt: skip
    full = {step: values.get(step, 0) for step in steps}
    audience = full["audience"]
    return {
        "org": ref(org),
        "values": full,
        "rates": {s: (full[s] / audience if audience else None) for s in steps[1:]},
        "late": full["ack_overdue"] + full["report_overdue"],
    }


def test_supervision(tree, as_user, clock):
    notice = _progress(tree, clock)
    response = as_user("province_admin").get(
        f"/api/notices/{notice.pk}/supervision/{tree.province.pk}"
    )
    assert response.status_code == 200
    data = response.json()
    assert [s["code"] for s in data["steps"]] == [
        "audience", "acknowledged", "ack_on_time", "ack_overdue", "relayed", "planned",
        "reported", "report_on_time", "report_overdue", "accepted",
    ]  # fmt: skip
    assert data["steps"][1] == {"code": "acknowledged", "label": "已签收"}
    chengdu_values = {
        "audience": 6, "acknowledged": 2, "ack_on_time": 2, "relayed": 1, "planned": 1,
        "reported": 1, "report_on_time": 1, "accepted": 1,
    }  # fmt: skip
    assert data == {
        "notice_id": notice.pk,
        "steps": data["steps"],
        "headline": row(
            tree.province,
            {**chengdu_values, "audience": 10, "acknowledged": 3, "ack_on_time": 2},
        ),
        "children": [
            row(tree.chengdu, chengdu_values),
            row(tree.mianyang, {"audience": 4, "acknowledged": 1}),
        ],
    }
    # The city sees its own subtree the same way; 成都 cannot look at 绵阳's.
    city = as_user("chengdu_admin").get(f"/api/notices/{notice.pk}/supervision/{tree.chengdu.pk}")
    assert city.json()["headline"] == row(tree.chengdu, chengdu_values)
    jinjiang = {**chengdu_values, "audience": 5, "acknowledged": 1, "ack_on_time": 1}
    assert city.json()["children"] == [row(tree.jinjiang, {**jinjiang, "relayed": 0})]
    other = as_user("chengdu_admin").get(f"/api/notices/{notice.pk}/supervision/{tree.mianyang.pk}")
    assert other.status_code == 404
    # An org the notice never reached has no supervision of it.
    city_notice = issued(
        tree,
        issuer=tree.chengdu,
        actor=tree.users["chengdu_admin"],
        doc_number="",
        ack_due=day(8),
    )
    outside = as_user("province_admin").get(
        f"/api/notices/{city_notice.pk}/supervision/{tree.mianyang.pk}"
    )
    assert outside.status_code == 404
    figures_exact()


def test_late_list_and_remind(tree, as_user, clock):
    notice = _progress(tree, clock)  # now day 6: acknowledgement was due by day 5
    api = as_user("province_admin")
    late_url = f"/api/notices/{notice.pk}/supervision/{tree.province.pk}/late"
    response = api.get(late_url, {"kind": "ack"})
    assert response.status_code == 200
    late_orgs = [
        tree.jinjiang, tree.chunxilu, tree.cd_branch, tree.cd_team,
        tree.fucheng, tree.chengxiang, tree.my_union,
    ]  # fmt: skip
    expected = sorted(
        (
            {
                "dispatch_id": at(notice, o).pk,
                "org": ref(o),
                "parent": ref(Org.objects.get(pk=o.parent_id)),
                "due": d(5),
            }
            for o in late_orgs
        ),
        key=lambda item: Org.objects.get(pk=item["org"]["id"]).path,
    )
    assert response.json() == {"items": expected, "count": 7}
    assert api.get(late_url, {"kind": "report"}).json() == {"items": [], "count": 0}
    unknown = api.get(late_url, {"kind": "soon"})
    assert unknown.status_code == 422 and codes(unknown) == ["reminder_kind"]
    # 成都 sees only its late ones.
    city = as_user("chengdu_admin").get(
        f"/api/notices/{notice.pk}/supervision/{tree.chengdu.pk}/late"
    )
    assert [i["org"]["id"] for i in city.json()["items"]] == [
        o.pk for o in (tree.jinjiang, tree.chunxilu, tree.cd_branch, tree.cd_team)
    ]
    # Remind them all in one action; the same click again reminds nobody twice.
    remind_url = f"/api/notices/{notice.pk}/remind"
    body = {"org_id": tree.province.pk, "kind": "ack", "batch_key": "click-1"}
    first = api.post(remind_url, body)
    assert first.status_code == 200
    assert first.json() == {"reminded": 7}
    assert Reminder.objects.count() == 7
    assert set(Reminder.objects.values_list("key", "kind")) == {("manual:click-1", "ack")}
    before = state()
    assert api.post(remind_url, body).json() == {"reminded": 0}
    assert Reminder.objects.count() == 7
    assert state()[:6] == before[:6]
    bad = api.post(remind_url, {**body, "kind": "grassroots"})
    assert bad.status_code == 422 and codes(bad) == ["reminder_kind"]
    # A viewer may look, not chase; 成都 cannot chase 绵阳.
    before = state()
    viewer = as_user("chengdu_viewer")
    assert viewer.get(f"/api/notices/{notice.pk}/supervision/{tree.chengdu.pk}").status_code == 200
    refused = viewer.post(remind_url, {"org_id": tree.chengdu.pk, "kind": "ack"})
    assert refused.status_code == 403
    chase = as_user("chengdu_admin").post(remind_url, {"org_id": tree.mianyang.pk, "kind": "ack"})
    assert chase.status_code == 404
    assert state() == before


# --- scoping: the wrong union's cadre -------------------------------------------------------


def test_another_citys_cadre_gets_404_everywhere_and_changes_nothing(tree, as_user, clock):
    notice = issued(tree)
    dispatch = at(notice, tree.cd_union)
    report = services.submit_report(
        actor=tree.users["cd_union_admin"],
        dispatch=dispatch,
        figures_values={},
        narrative="完成",
        submission_key="k",
    )
    city_draft = draft(tree, issuer=tree.chengdu, actor=tree.users["chengdu_admin"], doc_number="")
    api = as_user("mianyang_admin")
    before = state()
    dispatch_url = f"/api/notices/dispatches/{dispatch.pk}"
    requests = [
        ("get", dispatch_url, None),
        ("get", f"{dispatch_url}/prefill", None),
        ("post", f"{dispatch_url}/acknowledge", {}),
        ("post", f"{dispatch_url}/relay", {}),
        ("post", f"{dispatch_url}/plan", {"plan": "x"}),
        ("post", f"{dispatch_url}/report", {"narrative": "x", "submission_key": "z"}),
        ("post", f"/api/notices/reports/{report.pk}/review", {"accept": True}),
        ("get", f"/api/notices/{city_draft.pk}", None),
        ("patch", f"/api/notices/{city_draft.pk}", {"version": 1, "title": "x"}),
        ("post", f"/api/notices/{city_draft.pk}/issue", {}),
        ("get", f"/api/notices/{notice.pk}/supervision/{tree.chengdu.pk}", None),
        ("get", f"/api/notices/{notice.pk}/supervision/{tree.chengdu.pk}/late", None),
        ("post", f"/api/notices/{notice.pk}/remind", {"org_id": tree.chengdu.pk, "kind": "ack"}),
        ("get", "/api/notices", {"org_id": tree.chengdu.pk}),
        ("get", "/api/notices/inbox", {"org_id": tree.cd_union.pk}),
    ]
    for method, url, body in requests:
        response = api.get(url, body) if method == "get" else getattr(api, method)(url, body)
        assert response.status_code == 404, f"{method} {url}: {response.content[:200]}"
        assert response.json() == {"detail": "Not Found"}
    assert state() == before
    # And the lists 绵阳's cadre may read never show 成都's things.
    text = json.dumps(
        [api.get("/api/notices").json(), api.get("/api/notices/inbox").json()], ensure_ascii=False
    )
    assert "成都" not in text and "华信" not in text


def test_people_without_roles_see_nothing(tree, as_user):
    notice = issued(tree)
    for username in ("worker", "nobody"):
        api = as_user(username)
        assert api.get(f"/api/notices/{notice.pk}").status_code == 404
        assert api.get(f"/api/notices/dispatches/{at(notice, tree.cd_union).pk}").status_code == 404
        assert api.get("/api/notices").json() == {"items": [], "count": 0}


def test_the_api_needs_authentication(tree, clock):
    notice = issued(tree)
    client = Client()
    assert client.get("/api/notices/inbox").status_code == 401
    response = client.post(f"/api/notices/dispatches/{at(notice, tree.cd_union).pk}/acknowledge")
    assert response.status_code == 401
    assert at(notice, tree.cd_union).acknowledged_at is None


# --- the documentation ----------------------------------------------------------------------


def test_every_notice_operation_is_documented():
    schema = ninja_api.get_openapi_schema()
    operations = [
        (method, path, op)
        for path, methods in schema["paths"].items()
        if path.startswith("/api/notices")
        for method, op in methods.items()
    ]
    assert len(operations) == 17
    for method, path, op in operations:
        assert op.get("summary"), f"{method} {path}"
        assert len(op.get("description", "")) > 30, f"{method} {path}"
        assert op["tags"] == ["notices"]
    parameters = {
        p["name"]
        for _m, path, op in operations
        for p in op.get("parameters", [])
        if p["in"] == "path"
    }
    assert parameters == {"notice_id", "dispatch_id", "report_id", "org_id"}
