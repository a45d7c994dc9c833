"""The competitions API (/api/competitions/…): setting up and running a competition,
registration and approval, blind judging by entry number, confirmation and corrections,
awards, the organiser's totals and the public results. Exact answers and exact refusals
(status and code); judges never see a name; 绵阳's cadre gets 404 on everything of 成都's
competition. Runs on SQLite and PostgreSQL.
"""

import datetime
import json
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from gonghui.accounts.services import issue_api_token
from gonghui.audit.models import AuditEntry
from gonghui.competitions import services
from gonghui.competitions.models import (
    Award,
    Competition,
    Entry,
    Judge,
    Mark,
    MarkCorrection,
    Nomination,
)
from gonghui.orgs import services as org_services
from gonghui.orgs.models import RoleKind
from gonghui.orgs.scoping import SYSTEM

pytestmark = pytest.mark.django_db

D = Decimal


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

    def put(self, url: str, body: Any = None) -> Any:
        return self._send("put", url, body)


@pytest.fixture
def as_user(tree):
    return lambda username: Api(tree.users[username])


def refused(response: Any, status: int, code: str, field: str | None = None) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code, body
    first = body["detail"][0]
    assert (first["code"], first["field"]) == (code, field)
    assert first["message"]


def forbidden(response: Any) -> None:
    assert response.status_code == 403, response.content
    assert response.json()["code"] == "permission_denied"


def not_found(response: Any) -> None:
    assert response.status_code == 404, response.content
    assert response.json() == {"detail": "Not Found"}


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.content
    return response.json()


def state() -> list[Any]:
    """Everything a refused request might have changed."""
    return [
        list(Competition.objects.order_by("pk").values()),
        list(Entry.objects.order_by("pk").values()),
        list(Judge.objects.order_by("pk").values()),
        list(Mark.objects.order_by("pk").values()),
        list(MarkCorrection.objects.order_by("pk").values()),
        list(Award.objects.order_by("pk").values()),
        AuditEntry.objects.count(),
    ]


def window(days_before: int = 1, days_after: int = 7) -> tuple[str, str]:
    now = timezone.now().replace(microsecond=0)
    return (
        (now - datetime.timedelta(days=days_before)).isoformat(),
        (now + datetime.timedelta(days=days_after)).isoformat(),
    )


def body(**extra: Any) -> dict[str, Any]:
    opens, closes = window()
    return {
        "title": "成都市职工电工技能竞赛",
        "registration_opens_at": opens,
        "registration_closes_at": closes,
        "disciplines": [
            {
                "name": "电工",
                "criteria": [
                    {
                        "part": "theory",
                        "name": "理论知识",
                        "max_marks": 100,
                        "weight": 30,
                        "tie_break": 2,
                    },
                    {
                        "part": "practical",
                        "name": "实操：配电柜接线",
                        "max_marks": 50,
                        "weight": 70,
                        "tie_break": 1,
                    },
                ],
            }
        ],
        **extra,
    }


def judge(name: str, org: Any) -> Any:
    user = get_user_model().objects.create_user(username=name)
    org_services.grant_role(actor=SYSTEM, user=user, org=org, kind=RoleKind.JUDGE)
    return user


def service_data() -> services.CompetitionInput:
    now = timezone.now()
    return services.CompetitionInput(
        title="成都市职工电工技能竞赛",
        registration_opens_at=now - datetime.timedelta(days=1),
        registration_closes_at=now + datetime.timedelta(days=7),
        disciplines=[
            services.DisciplineInput(
                "电工",
                [
                    services.CriterionInput("theory", "理论知识", D(100), D(30), tie_break=2),
                    services.CriterionInput(
                        "practical", "实操：配电柜接线", D(50), D(70), tie_break=1
                    ),
                ],
            )
        ],
    )


@pytest.fixture
def c(tree) -> Any:
    """成都's competition, open, three entries approved (张伟, 李娜, 王强), two judges seated
    (the chief and judge_two) and a third judge with the role but no seat."""
    admin = tree.users["chengdu_admin"]
    competition = services.create_competition(admin, org=tree.chengdu, data=service_data())
    competition = services.open_competition(admin, competition)
    discipline = competition.disciplines.get()
    entries = []
    for member in (tree.cd_member, tree.cd_member2, tree.team_member):
        entry = services.register(
            admin, competition=competition, discipline=discipline, member=member
        )
        entries.append(services.decide_entry(tree.users["cd_union_admin"], entry, approve=True))
    tree.competition, tree.discipline, tree.entries = competition, discipline, entries
    tree.users["chief"] = judge("chief_judge", tree.chengdu)
    tree.users["judge2"] = judge("judge_two", tree.chengdu)
    tree.users["unseated"] = judge("judge_unseated", tree.chengdu)
    services.seat_judge(admin, discipline, user=tree.users["chief"], chief=True)
    services.seat_judge(admin, discipline, user=tree.users["judge2"])
    tree.theory, tree.practical = discipline.criteria.order_by("position")
    return tree


def url(c: Any, tail: str = "") -> str:
    return f"/api/competitions/{c.competition.pk}{tail}"


def scores(c: Any, tail: str = "") -> str:
    return f"/api/competitions/disciplines/{c.discipline.pk}/scores{tail}"


def judging(c: Any) -> None:
    services.start_judging(c.users["chengdu_admin"], c.competition)


def mark_all(c: Any, marks: dict[int, tuple[int, int]]) -> None:
    for username in ("chief", "judge2"):
        for entry in c.entries:
            th, pr = marks[entry.pk]
            services.enter_marks(
                c.users[username], entry, marks={c.theory.pk: th, c.practical.pk: pr}
            )


def confirmed(c: Any) -> None:
    judging(c)
    a, b, d = c.entries
    mark_all(c, {a.pk: (80, 40), b.pk: (90, 45), d.pk: (70, 30)})
    services.confirm_scores(c.users["chief"], c.discipline)


def published(c: Any) -> None:
    confirmed(c)
    services.set_awards(
        c.users["chengdu_admin"],
        c.discipline,
        awards=[
            services.AwardInput("一等奖", 1, 1, "技术能手"),
            services.AwardInput("二等奖", 2, 3),
        ],
    )
    services.publish_results(c.users["chengdu_admin"], c.competition)


# --- setting up ---------------------------------------------------------------------------


def test_an_organiser_sets_up_a_competition(tree, as_user):
    admin = as_user("chengdu_admin")
    out = ok(admin.post("/api/competitions", {**body(), "org_id": tree.chengdu.pk}), 201)
    competition = Competition.objects.get()
    discipline = competition.disciplines.get()
    theory, practical = discipline.criteria.order_by("position")
    assert out == {
        "id": competition.pk,
        "org": {"id": tree.chengdu.pk, "name": "成都市总工会", "kind": "city"},
        "parent_id": None,
        "kind": "skill",
        "title": "成都市职工电工技能竞赛",
        "description": "",
        "status": "draft",
        "entry_kind": "individual",
        "team_size": 1,
        "registration_opens_at": out["registration_opens_at"],
        "registration_closes_at": out["registration_closes_at"],
        "registration_open": False,
        "held_on": None,
        "min_age": None,
        "max_age": None,
        "unit_approval": True,
        "quota_per_unit": None,
        "combine_rule": "mean",
        "advance_count": 0,
        "requirement_id": None,
        "published_at": None,
        "may_manage": True,
        "version": 1,
        "disciplines": [
            {
                "id": discipline.pk,
                "name": "电工",
                "min_certificate": "none",
                "theory_quiz_id": None,
                "confirmed": False,
                "criteria": [
                    {
                        "id": theory.pk,
                        "part": "theory",
                        "name": "理论知识",
                        "max_marks": 100.0,
                        "weight": 30.0,
                        "tie_break": 2,
                        "from_quiz": False,
                    },
                    {
                        "id": practical.pk,
                        "part": "practical",
                        "name": "实操：配电柜接线",
                        "max_marks": 50.0,
                        "weight": 70.0,
                        "tie_break": 1,
                        "from_quiz": False,
                    },
                ],
                "awards": [],
                "judges": [],
            }
        ],
    }
    assert competition.created_by == tree.users["chengdu_admin"]
    assert ok(admin.get(f"/api/competitions/{competition.pk}")) == out
    # A viewer sees it, without the panels; the list is scoped and filtered.
    seen = ok(as_user("chengdu_viewer").get(f"/api/competitions/{competition.pk}"))
    assert (seen["may_manage"], seen["disciplines"][0]["judges"]) == (False, None)
    listed = ok(admin.get("/api/competitions", {"org_id": tree.chengdu.pk}))
    assert (listed["count"], listed["items"][0]["id"]) == (1, competition.pk)
    assert ok(admin.get("/api/competitions", {"status": "open"}))["count"] == 0
    assert ok(admin.get("/api/competitions", {"status": "draft"}))["count"] == 1
    assert ok(as_user("province_admin").get("/api/competitions"))["count"] == 1
    assert ok(as_user("mianyang_admin").get("/api/competitions"))["count"] == 0
    refused(admin.get("/api/competitions", {"status": "x"}), 422, "status", "status")
    not_found(admin.get("/api/competitions", {"org_id": tree.mianyang.pk}))


def test_setting_up_refusals(tree, as_user):
    admin = as_user("chengdu_admin")
    bad = body()
    bad["disciplines"][0]["criteria"][0]["weight"] = 40
    refused(admin.post("/api/competitions", {**bad, "org_id": tree.chengdu.pk}), 422, "weights")
    bad = body()
    bad["disciplines"][0]["criteria"][1]["max_marks"] = 0
    refused(admin.post("/api/competitions", {**bad, "org_id": tree.chengdu.pk}), 422, "max_marks")
    refused(
        admin.post("/api/competitions", {**body(disciplines=[]), "org_id": tree.chengdu.pk}),
        422,
        "disciplines",
    )
    opens, closes = window()
    refused(
        admin.post(
            "/api/competitions",
            {
                **body(registration_opens_at=closes, registration_closes_at=opens),
                "org_id": tree.chengdu.pk,
            },
        ),
        422,
        "window",
    )
    no_quiz = body()
    no_quiz["disciplines"][0]["theory_quiz_id"] = 999999
    refused(
        admin.post("/api/competitions", {**no_quiz, "org_id": tree.chengdu.pk}),
        422,
        "theory_quiz",
        "theory_quiz_id",
    )
    refused(
        admin.post("/api/competitions", {**body(requirement_id=999999), "org_id": tree.chengdu.pk}),
        422,
        "requirement",
    )
    missing = admin.post("/api/competitions", {"org_id": tree.chengdu.pk, "title": "x"})
    assert missing.status_code == 422
    assert missing.json()["code"] == "missing"
    forbidden(
        as_user("chengdu_viewer").post("/api/competitions", {**body(), "org_id": tree.chengdu.pk})
    )
    not_found(admin.post("/api/competitions", {**body(), "org_id": tree.mianyang.pk}))
    assert not Competition.objects.exists()


def test_a_draft_changes_with_its_version(tree, as_user):
    admin = as_user("chengdu_admin")
    created = ok(admin.post("/api/competitions", {**body(), "org_id": tree.chengdu.pk}), 201)
    path = f"/api/competitions/{created['id']}"
    changed = body(title="成都市职工焊工技能竞赛", quota_per_unit=2)
    changed["disciplines"][0]["name"] = "焊工"
    out = ok(admin.put(path, {**changed, "version": 1}))
    assert (out["title"], out["quota_per_unit"], out["version"]) == ("成都市职工焊工技能竞赛", 2, 2)
    assert [d["name"] for d in out["disciplines"]] == ["焊工"]
    before = state()
    refused(admin.put(path, {**body(), "version": 1}), 409, "stale")
    forbidden(as_user("chengdu_viewer").put(path, {**body(), "version": 2}))
    assert state() == before
    ok(admin.post(f"{path}/open"))
    refused(admin.put(path, {**body(), "version": 3}), 422, "status")


def test_open_judge_publish_and_cancel(c, as_user):
    admin = as_user("chengdu_admin")
    refused(admin.post(url(c, "/open")), 422, "status")
    refused(admin.post(url(c, "/publish")), 422, "status")
    forbidden(as_user("chengdu_viewer").post(url(c, "/start-judging")))
    out = ok(admin.post(url(c, "/start-judging")))
    assert (out["status"], out["registration_open"]) == ("judging", False)
    refused(admin.post(url(c, "/publish")), 422, "unconfirmed")
    refused(admin.post(url(c, "/cancel"), {"reason": " "}), 422, "reason")
    out = ok(admin.post(url(c, "/cancel"), {"reason": "疫情防控要求暂停线下活动"}))
    assert out["status"] == "cancelled"
    assert AuditEntry.objects.filter(summary__contains="疫情防控").exists()
    refused(admin.post(url(c, "/cancel"), {"reason": "再次取消"}), 422, "status")


# --- registration -------------------------------------------------------------------------


def test_a_worker_registers_and_follows_their_entry(tree, as_user):
    admin = tree.users["chengdu_admin"]
    competition = services.open_competition(
        admin, services.create_competition(admin, org=tree.chengdu, data=service_data())
    )
    discipline = competition.disciplines.get()
    worker = as_user("worker")
    path = f"/api/competitions/{competition.pk}"
    # The worker reads it as a member once it is open.
    assert ok(worker.get(path))["disciplines"][0]["judges"] is None
    out = ok(worker.post(f"{path}/entries", {"discipline_id": discipline.pk}), 201)
    entry = Entry.objects.get()
    assert out == {
        "id": entry.pk,
        "competition_id": competition.pk,
        "discipline": {"id": discipline.pk, "name": "电工"},
        "member": {"id": tree.cd_member.pk, "name": "张伟"},
        "unit": {"id": tree.cd_union.pk, "name": tree.cd_union.name, "kind": "grassroots"},
        "team_name": "",
        "team_members": [],
        "certificate": "none",
        "status": "pending",
        "number": "",
        "registered_at": out["registered_at"],
        "decided_at": None,
        "decision_note": "",
        "total": None,
        "rank": None,
    }
    refused(worker.post(f"{path}/entries", {"discipline_id": discipline.pk}), 422, "duplicate")
    refused(
        worker.post(f"{path}/entries", {"discipline_id": 999999}),
        422,
        "discipline",
        "discipline_id",
    )
    mine = ok(worker.get("/api/competitions/mine"))
    assert mine["count"] == 1
    item = mine["items"][0]
    assert item["competition"]["id"] == competition.pk
    assert item["competition"]["registration_open"] is True
    assert item["disciplines"] == [{"id": discipline.pk, "name": "电工"}]
    assert item["entries"] == [out]
    # The member's union decides; the organiser's viewer may see but not decide.
    decide = f"/api/competitions/entries/{entry.pk}/decide"
    forbidden(as_user("chengdu_viewer").post(decide, {"approve": True}))
    not_found(worker.post(decide, {"approve": True}))
    refused(as_user("cd_union_admin").post(decide, {"approve": False, "note": " "}), 422, "note")
    decided = ok(as_user("cd_union_admin").post(decide, {"approve": True}))
    assert (decided["status"], decided["number"]) == ("approved", "01-001")
    refused(as_user("cd_union_admin").post(decide, {"approve": True}), 422, "status")
    # The worker withdraws it.
    withdrawn = ok(
        worker.post(f"/api/competitions/entries/{entry.pk}/withdraw", {"reason": "临时出差"})
    )
    assert (withdrawn["status"], withdrawn["decision_note"]) == ("withdrawn", "临时出差")
    refused(worker.post(f"/api/competitions/entries/{entry.pk}/withdraw"), 422, "status")
    # A cadre of the union registers 李娜; without a member record one cannot register.
    other = ok(
        as_user("cd_union_admin").post(
            f"{path}/entries", {"member_id": tree.cd_member2.pk, "discipline_id": discipline.pk}
        ),
        201,
    )
    assert other["member"]["name"] == "李娜"
    forbidden(
        as_user("chengdu_viewer").post(
            f"{path}/entries", {"member_id": tree.team_member.pk, "discipline_id": discipline.pk}
        )
    )
    refused(
        as_user("chengdu_admin").post(f"{path}/entries", {"discipline_id": discipline.pk}),
        422,
        "no_member",
    )
    # Members without an account see nothing; a draft is not for workers.
    assert ok(as_user("nobody").get("/api/competitions/mine")) == {"items": [], "count": 0}
    draft = services.create_competition(admin, org=tree.chengdu, data=service_data())
    not_found(worker.get(f"/api/competitions/{draft.pk}"))
    not_found(worker.post(f"/api/competitions/{draft.pk}/entries", {"discipline_id": 1}))


def test_a_late_registration_is_refused_422_closed(c, as_user):
    Competition.objects.filter(pk=c.competition.pk).update(
        registration_closes_at=timezone.now() - datetime.timedelta(minutes=1)
    )
    services.withdraw_entry(c.users["worker"], c.entries[0])
    before = state()
    refused(
        as_user("worker").post(url(c, "/entries"), {"discipline_id": c.discipline.pk}),
        422,
        "closed",
    )
    assert state() == before


def test_team_members_must_belong_to_the_leaders_union(tree, as_user):
    admin = tree.users["chengdu_admin"]
    data = service_data()
    data.entry_kind, data.team_size = "team", 2
    competition = services.open_competition(
        admin, services.create_competition(admin, org=tree.chengdu, data=data)
    )
    discipline = competition.disciplines.get()
    path = f"/api/competitions/{competition.pk}/entries"
    worker = as_user("worker")
    refused(
        worker.post(
            path,
            {
                "discipline_id": discipline.pk,
                "team_name": "华信一队",
                "team_member_ids": [tree.my_member.pk],
            },
        ),
        422,
        "team_member",
        "team_member_ids",
    )
    refused(
        worker.post(path, {"discipline_id": discipline.pk, "team_name": "华信一队"}),
        422,
        "team_size",
    )
    out = ok(
        worker.post(
            path,
            {
                "discipline_id": discipline.pk,
                "team_name": "华信一队",
                "team_member_ids": [tree.team_member.pk],
            },
        ),
        201,
    )
    assert out["team_name"] == "华信一队"
    assert out["team_members"] == [{"id": tree.team_member.pk, "name": "王强"}]


def test_cadres_list_entries_and_judges_see_none(c, as_user):
    listed = ok(as_user("chengdu_admin").get(url(c, "/entries")))
    assert listed["count"] == 3
    assert [(e["number"], e["member"]["name"]) for e in listed["items"]] == [
        ("01-001", "张伟"),
        ("01-002", "李娜"),
        ("01-003", "王强"),
    ]
    assert ok(as_user("cd_union_admin").get(url(c, "/entries")))["count"] == 3
    assert ok(as_user("chengdu_admin").get(url(c, "/entries"), {"status": "pending"}))["count"] == 0
    refused(
        as_user("chengdu_admin").get(url(c, "/entries"), {"status": "x"}), 422, "status", "status"
    )
    # Judges score by number: seated or not, they get no list of names.
    for username in ("chief", "judge2", "unseated"):
        not_found(as_user(username).get(url(c, "/entries")))


# --- judging ------------------------------------------------------------------------------


def test_the_judges_sheet_shows_numbers_only_and_only_their_own_marks(c, as_user):
    judging(c)
    a, b, d = c.entries
    chief, judge2 = as_user("chief"), as_user("judge2")
    ok(chief.put(scores(c, f"/{a.pk}"), {"marks": {c.theory.pk: 80, c.practical.pk: 40}}))
    out = ok(judge2.get(scores(c)))
    text = json.dumps(out, ensure_ascii=False)
    for secret in ("张伟", "李娜", "王强", "华信", "成都华信机械有限公司工会委员会"):
        assert secret not in text
    assert out["discipline"] == {
        "discipline": {"id": c.discipline.pk, "name": "电工"},
        "competition_id": c.competition.pk,
        "competition_title": "成都市职工电工技能竞赛",
        "competition_status": "judging",
        "chief": False,
        "confirmed": False,
    }
    assert [cr["id"] for cr in out["criteria"]] == [c.theory.pk, c.practical.pk]
    assert out["entries"] == [
        {
            "entry_id": e.pk,
            "number": e.number,
            "marks": {},
            "others": {},
            "total": None,
            "rank": None,
        }
        for e in (a, b, d)
    ]
    assert out["panel_marks"] is None
    # The chief judge sees the others' marks while judging, but still no names.
    ok(judge2.put(scores(c, f"/{a.pk}"), {"marks": {c.theory.pk: 70}}))
    mine = ok(chief.get(scores(c)))
    assert "张伟" not in json.dumps(mine, ensure_ascii=False)
    row = mine["entries"][0]
    assert row["marks"] == {str(c.theory.pk): 80.0, str(c.practical.pk): 40.0}
    assert row["others"] == {str(c.theory.pk): [70.0]}
    assert mine["panel_marks"] == []
    row2 = ok(judge2.get(scores(c)))["entries"][0]
    assert (row2["marks"], row2["others"]) == ({str(c.theory.pk): 70.0}, {})
    # Seated judges are the only readers: anyone else gets 404.
    for username in ("unseated", "chengdu_admin", "worker", "mianyang_admin"):
        not_found(as_user(username).get(scores(c)))
        not_found(as_user(username).put(scores(c, f"/{a.pk}"), {"marks": {c.theory.pk: 1}}))
        not_found(as_user(username).post(scores(c, "/confirm")))


def test_two_judges_marks_for_one_entry_are_both_kept(c, as_user):
    judging(c)
    entry = c.entries[0]
    first = ok(
        as_user("chief").put(
            scores(c, f"/{entry.pk}"), {"marks": {c.theory.pk: 80, c.practical.pk: 40.5}}
        )
    )
    assert first == [
        {"criterion_id": c.theory.pk, "value": 80.0},
        {"criterion_id": c.practical.pk, "value": 40.5},
    ]
    ok(
        as_user("judge2").put(
            scores(c, f"/{entry.pk}"), {"marks": {c.theory.pk: 60, c.practical.pk: 35}}
        )
    )
    # Re-entering replaces only one's own mark.
    ok(as_user("chief").put(scores(c, f"/{entry.pk}"), {"marks": {c.theory.pk: 85}}))
    kept = {
        (m.judge.username, m.criterion_id): m.value
        for m in Mark.objects.filter(entry=entry).select_related("judge")
    }
    assert kept == {
        ("chief_judge", c.theory.pk): D("85.00"),
        ("chief_judge", c.practical.pk): D("40.50"),
        ("judge_two", c.theory.pk): D("60.00"),
        ("judge_two", c.practical.pk): D("35.00"),
    }


def test_mark_refusals(c, as_user):
    entry = c.entries[0]
    chief = as_user("chief")
    path = scores(c, f"/{entry.pk}")
    refused(chief.put(path, {"marks": {c.theory.pk: 50}}), 422, "status")
    judging(c)
    before = state()
    refused(chief.put(path, {"marks": {c.practical.pk: 51}}), 422, "out_of_range")
    refused(chief.put(path, {"marks": {c.practical.pk: -1}}), 422, "out_of_range")
    refused(
        chief.put(path, {"marks": {c.theory.pk: 50, c.practical.pk: 50.01}}), 422, "out_of_range"
    )
    refused(chief.put(path, {"marks": {"999999": 1}}), 422, "criterion")
    assert chief.put(path, {"marks": {c.theory.pk: "viel"}}).status_code == 422
    not_found(chief.put(scores(c, "/999999"), {"marks": {c.theory.pk: 1}}))
    assert state() == before


def test_confirming_and_correcting(c, as_user):
    judging(c)
    a = c.entries[0]
    chief, judge2 = as_user("chief"), as_user("judge2")
    for entry in c.entries:
        services.enter_marks(c.users["chief"], entry, marks={c.theory.pk: 80, c.practical.pk: 40})
    forbidden(judge2.post(scores(c, "/confirm")))
    refused(chief.post(scores(c, "/confirm")), 422, "missing_marks")
    for entry, (th, pr) in zip(c.entries, [(80, 40), (90, 40), (80, 40)], strict=True):
        services.enter_marks(c.users["judge2"], entry, marks={c.theory.pk: th, c.practical.pk: pr})
    out = ok(chief.post(scores(c, "/confirm")))
    assert out["discipline"]["confirmed"] is True
    # mean theory: a 80 → 24, b 85 → 25.5, d 80 → 24; practical 40 → 56.
    assert [(r["number"], r["total"], r["rank"]) for r in out["entries"]] == [
        ("01-001", 80.0, 2),
        ("01-002", 81.5, 1),
        ("01-003", 80.0, 2),
    ]
    refused(chief.post(scores(c, "/confirm")), 422, "locked")
    refused(judge2.put(scores(c, f"/{a.pk}"), {"marks": {c.practical.pk: 45}}), 422, "locked")
    # Once confirmed every judge sees the others' marks; the chief gets the marks' ids.
    seen = ok(judge2.get(scores(c)))["entries"][1]
    assert seen["others"] == {str(c.theory.pk): [80.0], str(c.practical.pk): [40.0]}
    panel = ok(chief.get(scores(c)))["panel_marks"]
    assert len(panel) == 12
    mark = Mark.objects.get(entry=a, criterion=c.practical, judge=c.users["judge2"])
    row = next(p for p in panel if p["id"] == mark.pk)
    assert row == {
        "id": mark.pk,
        "entry_id": a.pk,
        "number": "01-001",
        "criterion_id": c.practical.pk,
        "judge": "judge_two",
        "value": 40.0,
    }
    correct = f"/api/competitions/marks/{mark.pk}/correct"
    refused(chief.post(correct, {"value": 50, "reason": " "}), 422, "reason")
    refused(chief.post(correct, {"value": 51, "reason": "复核"}), 422, "out_of_range")
    refused(chief.post(correct, {"value": 40, "reason": "复核"}), 422, "unchanged")
    for username in ("judge2", "unseated", "chengdu_admin", "mianyang_admin"):
        not_found(as_user(username).post(correct, {"value": 50, "reason": "复核"}))
    not_found(chief.post("/api/competitions/marks/999999/correct", {"value": 1, "reason": "x"}))
    out = ok(chief.post(correct, {"value": 50, "reason": "复核发现漏计一项接线得分"}))
    # practical mean (40 + 50) / 2 = 45 → 63; theory 24: 87, now first.
    assert {
        k: out[k] for k in ("id", "entry_id", "number", "value", "entry_total", "entry_rank")
    } == {
        "id": mark.pk,
        "entry_id": a.pk,
        "number": "01-001",
        "value": 50.0,
        "entry_total": 87.0,
        "entry_rank": 1,
    }
    assert [(x["before"], x["after"], x["reason"], x["by"]) for x in out["corrections"]] == [
        (40.0, 50.0, "复核发现漏计一项接线得分", "chief_judge")
    ]


def test_the_organiser_reads_totals_by_number_after_confirmation(c, as_user):
    admin = as_user("chengdu_admin")
    before = ok(admin.get(url(c, "/scores")))
    assert before == {
        "competition_id": c.competition.pk,
        "disciplines": [{"id": c.discipline.pk, "name": "电工", "confirmed": False, "rows": []}],
    }
    forbidden(as_user("chengdu_viewer").get(url(c, "/scores")))
    not_found(as_user("worker").get(url(c, "/scores")))
    confirmed(c)
    a, b, d = c.entries
    after = ok(admin.get(url(c, "/scores")))
    # a: 24 + 56 = 80; b: 27 + 63 = 90; d: 21 + 42 = 63.
    assert after["disciplines"][0]["rows"] == [
        {"entry_id": b.pk, "number": "01-002", "total": 90.0, "rank": 1},
        {"entry_id": a.pk, "number": "01-001", "total": 80.0, "rank": 2},
        {"entry_id": d.pk, "number": "01-003", "total": 63.0, "rank": 3},
    ]
    assert "张伟" not in json.dumps(after, ensure_ascii=False)


def test_judges_are_seated_by_the_organiser(c, as_user):
    admin = as_user("chengdu_admin")
    path = f"/api/competitions/disciplines/{c.discipline.pk}/judges"
    unseated = c.users["unseated"]
    before = state()
    refused(admin.post(path, {"user_id": c.users["nobody"].pk}), 422, "judge", "user_id")
    refused(admin.post(path, {"user_id": 999999}), 422, "judge", "user_id")
    forbidden(as_user("chengdu_viewer").post(path, {"user_id": unseated.pk}))
    # A judge's role gives no view of the unions: the organiser's pages are not there.
    not_found(as_user("chief").post(path, {"user_id": unseated.pk}))
    assert state() == before
    out = ok(admin.post(path, {"user_id": unseated.pk, "chief": True}))
    seat = Judge.objects.get(discipline=c.discipline, user=unseated)
    assert out == {
        "id": seat.pk,
        "user_id": unseated.pk,
        "username": "judge_unseated",
        "chief": True,
    }
    assert not Judge.objects.get(user=c.users["chief"]).chief
    seats = ok(as_user("unseated").get("/api/competitions/seats"))
    assert seats == [
        {
            "discipline": {"id": c.discipline.pk, "name": "电工"},
            "competition_id": c.competition.pk,
            "competition_title": "成都市职工电工技能竞赛",
            "competition_status": "open",
            "chief": True,
            "confirmed": False,
        }
    ]
    assert ok(as_user("worker").get("/api/competitions/seats")) == []
    detail = ok(admin.get(url(c)))
    assert [(j["username"], j["chief"]) for j in detail["disciplines"][0]["judges"]] == [
        ("chief_judge", False),
        ("judge_two", False),
        ("judge_unseated", True),
    ]


def test_theory_import_needs_a_theory_test(c, as_user):
    judging(c)
    path = scores(c, "/theory")
    refused(as_user("chief").post(path), 422, "theory_quiz")
    refused(as_user("chengdu_admin").post(path), 422, "theory_quiz")
    forbidden(as_user("judge2").post(path))
    forbidden(as_user("chengdu_viewer").post(path))
    not_found(as_user("mianyang_admin").post(path))


# --- awards, results, stages --------------------------------------------------------------


def test_awards_publishing_and_public_results(c, as_user):
    admin = as_user("chengdu_admin")
    path = f"/api/competitions/disciplines/{c.discipline.pk}/awards"
    refused(
        admin.put(
            path,
            [
                {"name": "一等奖", "from_rank": 1, "to_rank": 2},
                {"name": "二等奖", "from_rank": 2, "to_rank": 3},
            ],
        ),
        422,
        "award_overlap",
    )
    refused(admin.put(path, [{"name": " ", "from_rank": 1, "to_rank": 1}]), 422, "award")
    forbidden(as_user("chengdu_viewer").put(path, []))
    out = ok(
        admin.put(
            path,
            [
                {"name": "二等奖", "from_rank": 2, "to_rank": 3},
                {"name": "一等奖", "from_rank": 1, "to_rank": 1, "title": "技术能手"},
            ],
        )
    )
    assert [(a["name"], a["title"], a["from_rank"], a["to_rank"]) for a in out] == [
        ("一等奖", "技术能手", 1, 1),
        ("二等奖", "", 2, 3),
    ]
    anonymous = Client()
    results = url(c, "/results")
    not_found(anonymous.get(results))
    confirmed(c)
    not_found(anonymous.get(results))
    published_out = ok(admin.post(url(c, "/publish")))
    assert published_out["status"] == "published"
    public = ok(anonymous.get(results))
    assert public == {
        "id": c.competition.pk,
        "title": "成都市职工电工技能竞赛",
        "org": "成都市总工会",
        "held_on": None,
        "published_on": timezone.localdate().isoformat(),
        "disciplines": [
            {
                "id": c.discipline.pk,
                "name": "电工",
                "rows": [
                    {
                        "rank": 1,
                        "number": "01-002",
                        "name": "李娜",
                        "team_name": "",
                        "unit": c.cd_union.name,
                        "total": 90.0,
                        "award": "一等奖",
                        "title": "技术能手",
                    },
                    {
                        "rank": 2,
                        "number": "01-001",
                        "name": "张伟",
                        "team_name": "",
                        "unit": c.cd_union.name,
                        "total": 80.0,
                        "award": "二等奖",
                        "title": None,
                    },
                    {
                        "rank": 3,
                        "number": "01-003",
                        "name": "王强",
                        "team_name": "",
                        "unit": c.cd_union.name,
                        "total": 63.0,
                        "award": "二等奖",
                        "title": None,
                    },
                ],
            }
        ],
    }
    refused(admin.put(path, []), 422, "published")
    # Published: the worker sees their total and rank.
    mine = ok(as_user("worker").get("/api/competitions/mine"))["items"][0]["entries"][0]
    assert (mine["total"], mine["rank"]) == (80.0, 2)
    not_found(anonymous.get("/api/competitions/999999/results"))


def test_totals_stay_hidden_from_the_worker_until_published(c, as_user):
    confirmed(c)
    mine = ok(as_user("worker").get("/api/competitions/mine"))["items"][0]["entries"][0]
    assert (mine["number"], mine["total"], mine["rank"]) == ("01-001", None, None)
    listed = ok(as_user("chengdu_admin").get(url(c, "/entries")))["items"][0]
    assert (listed["total"], listed["rank"]) == (80.0, 2)


def test_the_top_n_are_nominated_to_the_next_stage(c, as_user):
    province = c.users["province_admin"]
    data = service_data()
    data.title = "四川省职工电工技能竞赛决赛"
    final = services.open_competition(
        province, services.create_competition(province, org=c.province, data=data)
    )
    Competition.objects.filter(pk=c.competition.pk).update(parent=final, advance_count=1)
    admin = as_user("chengdu_admin")
    a, b = c.entries[:2]
    refused(admin.post(f"/api/competitions/entries/{b.pk}/nominate"), 422, "unpublished")
    published(c)
    refused(admin.post(f"/api/competitions/entries/{a.pk}/nominate"), 422, "not_qualified")
    forbidden(as_user("chengdu_viewer").post(f"/api/competitions/entries/{b.pk}/nominate"))
    out = ok(admin.post(f"/api/competitions/entries/{b.pk}/nominate"), 201)
    nomination = Nomination.objects.get()
    assert out == {
        "id": nomination.pk,
        "entry_id": b.pk,
        "to_competition_id": final.pk,
        "to_entry_id": nomination.to_entry_id,
        "to_entry_number": "01-001",
    }
    refused(admin.post(f"/api/competitions/entries/{b.pk}/nominate"), 422, "duplicate")


def test_a_certificate_for_a_ranked_entry_once_published(c, as_user):
    entry = c.entries[1]
    path = f"/api/competitions/entries/{entry.pk}/certificate"
    not_found(as_user("worker").get(f"/api/competitions/entries/{c.entries[0].pk}/certificate"))
    published(c)
    for username in ("chengdu_admin", "cd_union_admin"):
        response = as_user(username).get(path)
        assert response.status_code == 200, response.content
        assert response["Content-Type"] == "application/pdf"
        assert response.content.startswith(b"%PDF")
    assert (
        as_user("worker")
        .get(f"/api/competitions/entries/{c.entries[0].pk}/certificate")
        .content.startswith(b"%PDF")
    )
    not_found(as_user("mianyang_admin").get(path))
    not_found(as_user("nobody").get(path))


# --- scope --------------------------------------------------------------------------------


def test_another_city_gets_404_on_everything_of_chengdus_competition(c, as_user):
    other = as_user("mianyang_admin")
    entry = c.entries[0]
    judging(c)
    services.enter_marks(c.users["chief"], entry, marks={c.theory.pk: 80})
    mark = Mark.objects.get()
    before = state()
    not_found(other.get(url(c)))
    not_found(other.put(url(c), {**body(), "version": 1}))
    for action, payload in [
        ("/open", {}),
        ("/start-judging", {}),
        ("/publish", {}),
        ("/cancel", {"reason": "x"}),
    ]:
        not_found(other.post(url(c, action), payload))
    not_found(other.get(url(c, "/entries")))
    not_found(other.post(url(c, "/entries"), {"discipline_id": c.discipline.pk}))
    not_found(
        other.post(
            url(c, "/entries"), {"member_id": c.my_member.pk, "discipline_id": c.discipline.pk}
        )
    )
    not_found(
        other.post(
            url(c, "/entries"), {"member_id": c.cd_member.pk, "discipline_id": c.discipline.pk}
        )
    )
    not_found(other.get(url(c, "/scores")))
    not_found(other.get(url(c, "/results")))
    not_found(other.get(f"/api/competitions/entries/{entry.pk}/certificate"))
    for tail, payload in [
        ("/decide", {"approve": False, "note": "x"}),
        ("/withdraw", {}),
        ("/nominate", {}),
    ]:
        not_found(other.post(f"/api/competitions/entries/{entry.pk}{tail}", payload))
    discipline = f"/api/competitions/disciplines/{c.discipline.pk}"
    not_found(other.post(f"{discipline}/judges", {"user_id": c.users["unseated"].pk}))
    not_found(other.put(f"{discipline}/awards", []))
    not_found(other.get(f"{discipline}/scores"))
    not_found(other.put(f"{discipline}/scores/{entry.pk}", {"marks": {c.theory.pk: 1}}))
    not_found(other.post(f"{discipline}/scores/confirm"))
    not_found(other.post(f"{discipline}/scores/theory"))
    not_found(other.post(f"/api/competitions/marks/{mark.pk}/correct", {"value": 1, "reason": "x"}))
    assert ok(other.get("/api/competitions"))["count"] == 0
    assert ok(other.get("/api/competitions/mine"))["count"] == 0
    assert ok(other.get("/api/competitions/seats")) == []
    not_found(other.get("/api/competitions", {"org_id": c.chengdu.pk}))
    not_found(other.post("/api/competitions", {**body(), "org_id": c.chengdu.pk}))
    assert state() == before


def test_sign_in_is_required(c):
    client = Client()
    assert client.get("/api/competitions").status_code == 401
    assert client.get(url(c)).status_code == 401
    assert client.get(scores(c)).status_code == 401
    assert client.post(url(c, "/entries"), {}, content_type="application/json").status_code == 401


def test_openapi_schema_builds(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    paths = spec["paths"]
    assert set(paths["/api/competitions"]) == {"get", "post"}
    assert set(paths["/api/competitions/{competition_id}"]) == {"get", "put"}
    for path, methods in {
        "/api/competitions/mine": {"get"},
        "/api/competitions/seats": {"get"},
        "/api/competitions/{competition_id}/open": {"post"},
        "/api/competitions/{competition_id}/start-judging": {"post"},
        "/api/competitions/{competition_id}/publish": {"post"},
        "/api/competitions/{competition_id}/cancel": {"post"},
        "/api/competitions/{competition_id}/entries": {"get", "post"},
        "/api/competitions/{competition_id}/scores": {"get"},
        "/api/competitions/{competition_id}/results": {"get"},
        "/api/competitions/entries/{entry_id}/decide": {"post"},
        "/api/competitions/entries/{entry_id}/withdraw": {"post"},
        "/api/competitions/entries/{entry_id}/nominate": {"post"},
        "/api/competitions/entries/{entry_id}/certificate": {"get"},
        "/api/competitions/disciplines/{discipline_id}/judges": {"post"},
        "/api/competitions/disciplines/{discipline_id}/awards": {"put"},
        "/api/competitions/disciplines/{discipline_id}/scores": {"get"},
        "/api/competitions/disciplines/{discipline_id}/scores/{entry_id}": {"put"},
        "/api/competitions/disciplines/{discipline_id}/scores/confirm": {"post"},
        "/api/competitions/disciplines/{discipline_id}/scores/theory": {"post"},
        "/api/competitions/marks/{mark_id}/correct": {"post"},
    }.items():
        assert set(paths[path]) == methods, path
    # The results are public: no security requirement on that operation.
    assert not paths["/api/competitions/{competition_id}/results"]["get"].get("security")
    schemas = spec["components"]["schemas"]
    for name in (
        "CompetitionOut",
        "CompetitionDetailOut",
        "CompetitionEntryOut",
        "CompetitionSheetOut",
    ):
        assert name in schemas
    # The sheet's schema has nothing that could name an entrant.
    row = schemas["CompetitionSheetRowOut"]["properties"]
    assert set(row) == {"entry_id", "number", "marks", "others", "total", "rank"}
