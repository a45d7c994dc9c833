"""The activities API (/api/activities/…): a worker's phone (what is for me, register,
check in by code or QR token, what I attended) and a cadre's client (schedule, edit,
held, cancel, registrations, roster, QR, who checked in). Every refusal with its exact
code and status, scoping (404 outside, and nothing changes), permissions (403), retries
that count once, and the check-in's query budget. Runs on SQLite and PostgreSQL.
"""

import datetime
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from gonghui.activities import services
from gonghui.activities.models import (
    Activity,
    ActivityKind,
    ActivityStatus,
    CheckIn,
    CheckInMethod,
    CheckInRefusal,
    Registration,
    RegistrationStatus,
)
from gonghui.api.testing import BearerApi
from gonghui.audit.models import AuditEntry
from gonghui.orgs import services as org_services
from gonghui.orgs.scoping import SYSTEM

pytestmark = pytest.mark.django_db

HOUR = datetime.timedelta(hours=1)
MINUTE = datetime.timedelta(minutes=1)


# A bearer-token client; `wsgi=True` calls the production WSGI application (the lane).
Api = BearerApi


@pytest.fixture
def as_user(tree):
    return lambda username: Api(tree.users[username])


@pytest.fixture(params=["test client", "wsgi"])
def as_phone(request, tree):
    """A worker's phone: through Django's test client, and through the production WSGI
    application (the API's fast lane), which must answer alike."""
    return lambda username: Api(tree.users[username], wsgi=request.param == "wsgi")


def lecture(tree, *, org=None, venue=None, starts_in=-10 * MINUTE, **extra):
    """A two-hour lecture of 华信's union (by default started ten minutes ago)."""
    now = timezone.now()
    data = services.ActivityInput(
        kind=extra.pop("kind", ActivityKind.LECTURE),
        title=extra.pop("title", "学习贯彻全会精神宣讲"),
        starts_at=now + starts_in,
        ends_at=now + starts_in + 2 * HOUR,
        venue_org=venue,
        **extra,
    )
    return services.schedule_activity(SYSTEM, org=org or tree.cd_union, data=data)


def url(activity: Activity, tail: str = "") -> str:
    return f"/api/activities/{activity.pk}{tail}"


def refused(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code
    assert body["message"]
    assert body["detail"][0]["code"] == code


def state() -> list[Any]:
    """Everything a refused request might have changed."""
    return [
        list(Activity.objects.order_by("pk").values()),
        list(Registration.objects.order_by("pk").values()),
        list(CheckIn.objects.order_by("pk").values()),
        AuditEntry.objects.count(),
    ]


def wrong_code(activity: Activity) -> str:
    return "000000" if activity.check_in_code != "000000" else "111111"


# --- check-in: the worker -----------------------------------------------------------------


def test_worker_checks_in_by_code_once(tree, as_phone):
    activity = lecture(tree)
    worker = as_phone("worker")
    first = worker.post(url(activity, "/check-in"), {"code": activity.check_in_code})
    assert first.status_code == 200, first.content
    checkin = CheckIn.objects.get()
    assert first.json() == {
        "checked_in": True,
        "created": True,
        "member_id": tree.cd_member.pk,
        "activity_id": activity.pk,
        "title": "学习贯彻全会精神宣讲",
        "at": first.json()["at"],
    }
    assert checkin.member == tree.cd_member and checkin.method == CheckInMethod.API
    assert checkin.by == tree.users["worker"]
    # The phone retries (a lost answer, a double tap): 200 again, nothing counted twice.
    again = worker.post(url(activity, "/check-in"), {"code": f" {activity.check_in_code} "})
    assert again.status_code == 200
    assert again.json()["created"] is False
    assert again.json()["at"] == first.json()["at"]
    assert CheckIn.objects.count() == 1
    activity.refresh_from_db()
    assert activity.status == ActivityStatus.HELD  # the first check-in made it held


def test_worker_checks_in_by_qr_token_once(tree, as_phone):
    activity = lecture(tree)
    worker = as_phone("worker")
    token = services.qr_token(activity)
    first = worker.post(url(activity, "/check-in"), {"token": token})
    assert first.status_code == 200, first.content
    assert first.json()["created"] is True
    assert first.json()["member_id"] == tree.cd_member.pk
    again = worker.post(url(activity, "/check-in"), {"token": token})
    assert again.status_code == 200 and again.json()["created"] is False
    assert CheckIn.objects.filter(activity=activity).count() == 1
    assert CheckIn.objects.get().method == CheckInMethod.API


def test_check_in_without_knowing_the_activity(tree, as_phone):
    by_code = lecture(tree, title="按签到码")
    by_token = lecture(tree, title="扫码")
    worker = as_phone("worker")
    response = worker.post("/api/activities/check-in", {"code": by_code.check_in_code})
    assert response.status_code == 200, response.content
    assert response.json()["activity_id"] == by_code.pk
    assert response.json()["created"] is True
    again = worker.post("/api/activities/check-in", {"code": by_code.check_in_code})
    assert again.json()["created"] is False
    token = services.qr_token(by_token)
    response = worker.post("/api/activities/check-in", {"token": token})
    assert response.status_code == 200
    assert response.json()["activity_id"] == by_token.pk
    assert worker.post("/api/activities/check-in", {"token": token}).json()["created"] is False
    assert CheckIn.objects.count() == 2
    assert dict(CheckIn.objects.values_list("activity_id", "method")) == {
        by_code.pk: CheckInMethod.API,
        by_token.pk: CheckInMethod.API,
    }
    missing = worker.post("/api/activities/check-in", {})
    assert missing.status_code == 422 and missing.json()["code"] == "missing"


def test_every_check_in_refusal_has_its_code(tree, as_phone, monkeypatch):
    worker = as_phone("worker")
    now_open = lecture(tree)
    # wrong_code, at a known activity and without one
    refused(
        worker.post(url(now_open, "/check-in"), {"code": wrong_code(now_open)}), 422, "wrong_code"
    )
    refused(worker.post("/api/activities/check-in", {"code": "12"}), 422, "wrong_code")
    # bad_token: forged, or another activity's token sent to this one
    token = services.qr_token(now_open)
    refused(worker.post(url(now_open, "/check-in"), {"token": token[:-2] + "xx"}), 422, "bad_token")
    refused(worker.post("/api/activities/check-in", {"token": "nonsense"}), 422, "bad_token")
    other = lecture(tree, title="另一讲")
    refused(
        worker.post(url(now_open, "/check-in"), {"token": services.qr_token(other)}),
        422,
        "bad_token",
    )
    # expired_token
    monkeypatch.setattr(services, "QR_TOKEN_SECONDS", -1)
    refused(worker.post(url(now_open, "/check-in"), {"token": token}), 422, "expired_token")
    refused(worker.post("/api/activities/check-in", {"token": token}), 422, "expired_token")
    monkeypatch.undo()
    # too_early, too_late
    later = lecture(tree, title="五小时后", starts_in=5 * HOUR)
    refused(worker.post(url(later, "/check-in"), {"code": later.check_in_code}), 422, "too_early")
    past = lecture(tree, title="六小时前", starts_in=-6 * HOUR)
    refused(worker.post(url(past, "/check-in"), {"code": past.check_in_code}), 422, "too_late")
    refused(
        worker.post(url(past, "/check-in"), {"token": services.qr_token(past)}), 422, "too_late"
    )
    # not_registered: registration required and no place
    booked = lecture(tree, title="需报名", registration_required=True)
    refused(
        worker.post(url(booked, "/check-in"), {"code": booked.check_in_code}),
        422,
        "not_registered",
    )
    # cancelled: 409
    doomed = lecture(tree, title="取消的一讲")
    services.cancel_activity(tree.users["chengdu_admin"], doomed, reason="天气原因")
    refused(worker.post(url(doomed, "/check-in"), {"code": doomed.check_in_code}), 409, "cancelled")
    refused(
        worker.post("/api/activities/check-in", {"token": services.qr_token(doomed)}),
        409,
        "cancelled",
    )
    # not_in_audience: a scanned token of a workshop's activity (the worker is not in it)
    workshop = lecture(tree, title="车间学习", venue=tree.cd_branch)
    refused(
        worker.post("/api/activities/check-in", {"token": services.qr_token(workshop)}),
        422,
        "not_in_audience",
    )
    # no_member: an account without a member record (a cadre of the union, or nobody)
    refused(
        as_phone("chengdu_admin").post(
            url(now_open, "/check-in"), {"code": now_open.check_in_code}
        ),
        422,
        "no_member",
    )
    refused(as_phone("nobody").post("/api/activities/check-in", {"token": token}), 422, "no_member")
    assert not CheckIn.objects.exists()
    # Each refusal is on the worker's record (the wrong codes count toward the limit).
    assert (
        CheckInRefusal.objects.filter(user=tree.users["worker"], reason="wrong_code").count() == 2
    )


def test_too_many_wrong_codes(tree, as_phone):
    activity = lecture(tree)
    worker = as_phone("worker")
    for _attempt in range(services.CODE_ATTEMPTS):
        refused(
            worker.post(url(activity, "/check-in"), {"code": wrong_code(activity)}),
            422,
            "wrong_code",
        )
    # Locked: even the right code, on this activity or any.
    refused(
        worker.post(url(activity, "/check-in"), {"code": activity.check_in_code}),
        429,
        "too_many_attempts",
    )
    refused(
        worker.post("/api/activities/check-in", {"code": activity.check_in_code}),
        429,
        "too_many_attempts",
    )
    assert not CheckIn.objects.exists()
    # A QR code is no guess: it still works.
    token = services.qr_token(activity)
    assert worker.post(url(activity, "/check-in"), {"token": token}).json()["created"] is True


def test_check_in_outside_the_workers_reach_is_404(tree, as_phone):
    """An activity the worker may not see answers 404 whatever they send: no hint that
    the code was right or the activity exists."""
    workshop = lecture(tree, title="车间学习", venue=tree.cd_branch)
    mianyang = lecture(tree, org=tree.my_union, title="长虹宣讲")
    worker = as_phone("worker")
    before = state()
    for activity in (workshop, mianyang):
        for body in (
            {"code": activity.check_in_code},
            {"code": wrong_code(activity)},
            {"token": services.qr_token(activity)},
            {"token": "x"},
            {},
        ):
            response = worker.post(url(activity, "/check-in"), body)
            assert response.status_code == 404, (activity.title, body, response.content)
    assert worker.post("/api/activities/999999/check-in", {"code": "123456"}).status_code == 404
    assert state() == before


def test_check_in_costs_only_the_services_queries(tree, as_user):
    """The hot path: a worker's check-in through the API costs the service's queries plus
    the bearer token's lookup; the activity is read in the statement that reads the
    worker's member record and wrong codes."""
    activity = lecture(tree)
    worker = as_user("worker")
    token = services.qr_token(activity)
    assert worker.post(url(activity, "/check-in"), {"token": token}).json()["created"]
    user = tree.users["worker"]

    def queries(call) -> int:
        with CaptureQueriesContext(connection) as captured:
            call()
        return len(captured.captured_queries)

    # Retries (the steady state of a crowd scanning twice): compare with the services. A
    # retry finds its check-in in the one read and writes nothing.
    service_token = queries(lambda: services.check_in_with_token(user, token, method="api"))
    assert service_token == 1
    api_token = queries(lambda: worker.post(url(activity, "/check-in"), {"token": token}))
    assert api_token == service_token + 1  # + the bearer token
    by_id = queries(lambda: services.check_in_self(user, activity.pk, code=activity.check_in_code))
    assert by_id == 1
    api_code = queries(
        lambda: worker.post(url(activity, "/check-in"), {"code": activity.check_in_code})
    )
    assert api_code == by_id + 1  # + the bearer token
    # Given the activity read already, the service reads the worker and writes.
    fetched = Activity.objects.select_related("venue_org").get(pk=activity.pk)
    assert not services.check_in_self(user, fetched, code=activity.check_in_code).created


# --- check-in: the cadre's roster ---------------------------------------------------------


def test_cadre_roster(tree, as_user):
    activity = lecture(tree)
    admin = as_user("cd_union_admin")
    ids = [tree.cd_member.pk, tree.cd_member2.pk, tree.team_member.pk]
    response = admin.post(url(activity, "/check-in"), {"member_ids": ids})
    assert response.status_code == 200, response.content
    assert response.json() == {"activity_id": activity.pk, "created": 3, "already": 0}
    again = admin.post(url(activity, "/check-in"), {"member_ids": ids[:2]})
    assert again.json() == {"activity_id": activity.pk, "created": 0, "already": 2}
    assert set(CheckIn.objects.values_list("method", flat=True)) == {CheckInMethod.ROSTER}
    assert CheckIn.objects.count() == 3
    # Who checked in: for cadres who may see the members.
    listed = admin.get(url(activity, "/checkins"))
    assert listed.status_code == 200
    rows = listed.json()["items"]
    assert listed.json()["count"] == 3
    assert {r["member_name"] for r in rows} == {"张伟", "李娜", "王强"}
    assert rows[0]["by"] == "cd_union_admin" and rows[0]["method"] == "roster"


def test_roster_refusals(tree, as_user):
    team = lecture(tree, title="班组学习", venue=tree.cd_team)
    admin = as_user("chengdu_admin")
    # A member outside the audience: nobody is checked in, the member is named.
    response = admin.post(
        url(team, "/check-in"), {"member_ids": [tree.team_member.pk, tree.cd_member.pk]}
    )
    refused(response, 422, "not_in_audience")
    assert [(d["member_id"], d["code"]) for d in response.json()["detail"]] == [
        (tree.cd_member.pk, "not_in_audience")
    ]
    # A member who left.
    org_services.mark_member_left(actor=SYSTEM, member=tree.team_member, reason="离职")
    refused(
        admin.post(url(team, "/check-in"), {"member_ids": [tree.team_member.pk]}),
        422,
        "member_left",
    )
    # A member of 绵阳 is not even named: 404.
    response = admin.post(url(team, "/check-in"), {"member_ids": [tree.my_member.pk]})
    assert response.status_code == 404
    assert "刘芳" not in response.content.decode()
    # An empty roster, a cancelled activity (409), an activity not yet open.
    assert admin.post(url(team, "/check-in"), {"member_ids": []}).json()["code"] == "member_ids"
    later = lecture(tree, title="明天", starts_in=24 * HOUR)
    refused(
        admin.post(url(later, "/check-in"), {"member_ids": [tree.cd_member.pk]}), 422, "too_early"
    )
    services.cancel_activity(tree.users["chengdu_admin"], later, reason="改期")
    refused(
        admin.post(url(later, "/check-in"), {"member_ids": [tree.cd_member.pk]}), 409, "cancelled"
    )
    # A viewer may look but not take attendance; a worker sees no roster at all.
    viewer = as_user("chengdu_viewer")
    forbidden = viewer.post(url(team, "/check-in"), {"member_ids": [tree.cd_member2.pk]})
    assert forbidden.status_code == 403
    everyone = lecture(tree, title="全员")
    worker = as_user("worker")
    response = worker.post(url(everyone, "/check-in"), {"member_ids": [tree.cd_member.pk]})
    assert response.status_code == 404
    assert not CheckIn.objects.exists()


# --- scoping ------------------------------------------------------------------------------


def test_a_mianyang_cadre_gets_404_for_a_chengdu_activity(tree, as_user):
    activity = lecture(tree)
    registration = services.register(SYSTEM, activity, tree.cd_member)
    other = as_user("mianyang_admin")
    before = state()
    base = url(activity)
    body = {
        "version": 1,
        "kind": "lecture",
        "title": "改",
        "starts_at": activity.starts_at.isoformat(),
        "ends_at": activity.ends_at.isoformat(),
    }
    for method, path, payload in [
        ("get", base, None),
        ("put", base, body),
        ("post", base + "/held", {}),
        ("post", base + "/cancel", {"reason": "x"}),
        ("get", base + "/registrations", None),
        ("post", base + "/registrations", {"member_id": tree.my_member.pk}),
        ("post", base + "/registrations", {"member_id": tree.cd_member2.pk}),
        ("delete", f"{base}/registrations/{registration.pk}", None),
        ("post", base + "/check-in", {"code": activity.check_in_code}),
        ("post", base + "/check-in", {"token": services.qr_token(activity)}),
        ("post", base + "/check-in", {"member_ids": [tree.my_member.pk]}),
        ("get", base + "/checkins", None),
        ("get", base + "/qr", None),
    ]:
        if method == "get":
            response = other.get(path)
        elif method == "delete":
            response = other.delete(path)
        else:
            response = getattr(other, method)(path, payload)
        assert response.status_code == 404, f"{method} {path}: {response.content[:200]}"
        assert activity.check_in_code not in response.content.decode()
    assert state() == before
    # Nor is it listed, nor can 成都's union be named as a filter.
    assert other.get("/api/activities").json()["count"] == 0
    assert other.get("/api/activities", {"org_id": tree.cd_union.pk}).status_code == 404
    assert (
        other.post(
            "/api/activities",
            {**body, "org_id": tree.cd_union.pk},
        ).status_code
        == 404
    )


def test_workers_see_only_activities_for_them(tree, as_user):
    mine = lecture(tree, title="全员宣讲")
    workshop = lecture(tree, title="车间学习", venue=tree.cd_branch)
    mianyang = lecture(tree, org=tree.my_union, title="长虹宣讲")
    worker = as_user("worker")
    detail = worker.get(url(mine))
    assert detail.status_code == 200
    body = detail.json()
    assert body["title"] == "全员宣讲"
    assert body["may_manage"] is False
    assert body["me"] == {
        "member_id": tree.cd_member.pk,
        "registration_id": None,
        "registration_status": None,
        "checked_in": False,
        "checked_in_at": None,
    }
    assert mine.check_in_code not in detail.content.decode()  # the code is read aloud only
    for hidden in (workshop, mianyang):
        assert worker.get(url(hidden)).status_code == 404
    # Cadre-only views answer 404 to a worker.
    for tail in ("/registrations", "/checkins", "/qr"):
        assert worker.get(url(mine, tail)).status_code == 404
    assert worker.get("/api/activities").json()["count"] == 0


# --- a worker's lists ---------------------------------------------------------------------


def test_for_me_and_attended(tree, as_user):
    now_open = lecture(tree, title="正在进行")
    soon = lecture(tree, title="明天的培训", kind=ActivityKind.TRAINING, starts_in=24 * HOUR)
    county = lecture(tree, org=tree.jinjiang, venue=tree.cd_union, title="送学上门")
    lecture(tree, title="车间学习", venue=tree.cd_branch)  # not for 张伟
    lecture(tree, org=tree.my_union, title="长虹宣讲")  # 绵阳
    lecture(tree, title="早已结束", starts_in=-30 * HOUR)  # over
    dropped = lecture(tree, title="取消了", starts_in=48 * HOUR)
    cancelled_unseen = lecture(tree, title="取消且未报名", starts_in=48 * HOUR)
    services.register(SYSTEM, soon, tree.cd_member)
    services.register(SYSTEM, dropped, tree.cd_member)
    for activity in (dropped, cancelled_unseen):
        services.cancel_activity(SYSTEM, activity, reason="改期")
    worker = as_user("worker")
    assert (
        worker.post(url(now_open, "/check-in"), {"code": now_open.check_in_code}).status_code == 200
    )
    response = worker.get("/api/activities/for-me")
    assert response.status_code == 200
    items = response.json()["items"]
    assert [i["title"] for i in items] == ["正在进行", "送学上门", "明天的培训", "取消了"]
    by_title = {i["title"]: i for i in items}
    assert by_title["正在进行"]["me"]["checked_in"] is True
    assert by_title["正在进行"]["me"]["checked_in_at"] is not None
    assert by_title["明天的培训"]["me"]["registration_status"] == "confirmed"
    assert by_title["明天的培训"]["me"]["checked_in"] is False
    assert by_title["取消了"]["status"] == "cancelled"
    assert by_title["送学上门"]["org"]["id"] == tree.jinjiang.pk
    assert by_title["送学上门"]["venue_org"]["id"] == county.venue_org_id
    # A cadre without a member record: nothing for them, not an error.
    assert as_user("chengdu_admin").get("/api/activities/for-me").json()["items"] == []
    attended = worker.get("/api/activities/mine/attended")
    assert attended.status_code == 200
    assert [(a["activity"]["id"], a["method"]) for a in attended.json()["items"]] == [
        (now_open.pk, "api")
    ]
    assert as_user("nobody").get("/api/activities/mine/attended").json()["count"] == 0


# --- a cadre: schedule, list, edit, held, cancel ------------------------------------------


def activity_body(tree, **changes: Any) -> dict[str, Any]:
    start = timezone.localtime() + 2 * HOUR
    body = {
        "org_id": tree.cd_union.pk,
        "venue_org_id": tree.cd_branch.pk,
        "kind": "training",
        "title": "  安全生产  培训 ",
        "speaker": "王老师",
        "place": "三楼会议室",
        "starts_at": start.replace(tzinfo=None, microsecond=0).isoformat(),  # Beijing time
        "ends_at": (start + 2 * HOUR).isoformat(),
        "audience_kinds": ["team"],
        "audience_unit_ids": [tree.cd_team.pk],
        "capacity": 30,
        "registration_required": True,
    }
    body.update(changes)
    return body


def test_schedule_an_activity(tree, as_user):
    admin = as_user("cd_union_admin")
    body = activity_body(tree)
    response = admin.post("/api/activities", body)
    assert response.status_code == 201, response.content
    activity = Activity.objects.get()
    out = response.json()
    assert out["id"] == activity.pk
    assert out["title"] == "安全生产 培训"
    assert out["org"] == {"id": tree.cd_union.pk, "name": tree.cd_union.name, "kind": "grassroots"}
    assert out["venue_org"]["id"] == tree.cd_branch.pk
    assert out["audience_kinds"] == ["team"]
    assert [u["id"] for u in out["audience_units"]] == [tree.cd_team.pk]
    assert out["status"] == "planned" and out["version"] == 1
    assert out["capacity"] == 30 and out["registration_required"] is True
    assert out["registered"] == 0 and out["checkins"] == 0 and out["may_manage"] is True
    assert out["me"] is None
    # A time without an offset is Beijing time.
    expected = timezone.make_aware(datetime.datetime.fromisoformat(body["starts_at"]))
    assert activity.starts_at == expected
    assert activity.created_by == tree.users["cd_union_admin"]


def test_schedule_refusals(tree, as_user):
    admin = as_user("cd_union_admin")
    before = state()
    for changes, code in [
        ({"title": " "}, "title"),
        ({"kind": "party"}, "kind"),
        ({"ends_at": activity_body(tree)["starts_at"]}, "times"),
        ({"audience_kinds": ["city"]}, "audience_kind"),
        ({"audience_unit_ids": [tree.cd_union.pk]}, "audience_outside"),
        ({"capacity": 0}, "capacity"),
    ]:
        response = admin.post("/api/activities", activity_body(tree, **changes))
        assert response.status_code == 422, (changes, response.content)
        assert response.json()["code"] == code
    # The venue must be the organiser or below it.
    response = as_user("chengdu_admin").post(
        "/api/activities",
        activity_body(tree, org_id=tree.cd_branch.pk, venue_org_id=tree.cd_union.pk),
    )
    assert response.json()["code"] == "venue_outside"
    # 绵阳 as organiser, venue or audience: 404; a viewer: 403.
    for changes in (
        {"org_id": tree.my_union.pk},
        {"venue_org_id": tree.my_union.pk},
        {"audience_unit_ids": [tree.my_union.pk]},
    ):
        assert admin.post("/api/activities", activity_body(tree, **changes)).status_code == 404
    assert as_user("chengdu_viewer").post("/api/activities", activity_body(tree)).status_code == 403
    assert as_user("worker").post("/api/activities", activity_body(tree)).status_code == 404
    assert state() == before


def test_list_activities_with_filters(tree, as_user):
    own = lecture(tree, title="华信宣讲")
    branch = lecture(tree, title="车间学习", venue=tree.cd_branch, kind=ActivityKind.STUDY)
    county = lecture(
        tree, org=tree.jinjiang, title="锦江区培训", kind=ActivityKind.TRAINING, starts_in=72 * HOUR
    )
    lecture(tree, org=tree.my_union, title="长虹宣讲")
    admin = as_user("chengdu_admin")

    def titles(params: dict[str, Any] | None = None) -> list[str]:
        response = admin.get("/api/activities", params)
        assert response.status_code == 200, response.content
        return [a["title"] for a in response.json()["items"]]

    assert titles() == ["锦江区培训", "车间学习", "华信宣讲"]  # latest start first
    assert titles({"org_id": tree.cd_union.pk}) == ["车间学习", "华信宣讲"]
    assert titles({"org_id": tree.cd_union.pk, "scope": "own"}) == ["车间学习", "华信宣讲"]
    assert titles({"org_id": tree.cd_branch.pk, "scope": "own"}) == ["车间学习"]
    assert titles({"org_id": tree.jinjiang.pk, "scope": "own"}) == ["锦江区培训"]
    assert titles({"org_id": tree.jinjiang.pk}) == ["锦江区培训", "车间学习", "华信宣讲"]
    assert titles({"kind": "study"}) == ["车间学习"]
    assert titles({"status": "planned"}) == ["锦江区培训", "车间学习", "华信宣讲"]
    today = timezone.localdate(own.starts_at)
    in_three_days = timezone.localdate(county.starts_at)
    assert titles({"from": in_three_days.isoformat()}) == ["锦江区培训"]
    assert titles({"to": today.isoformat()}) == ["车间学习", "华信宣讲"]
    assert titles({"from": today.isoformat(), "to": today.isoformat()}) == ["车间学习", "华信宣讲"]
    assert admin.get("/api/activities", {"kind": "party"}).json()["code"] == "kind"
    assert admin.get("/api/activities", {"scope": "all"}).status_code == 422
    assert admin.get("/api/activities", {"org_id": tree.my_union.pk}).status_code == 404
    # 华信's own cadre does not see the county's training, held at the county itself.
    union_admin = as_user("cd_union_admin")
    assert [a["id"] for a in union_admin.get("/api/activities").json()["items"]] == [
        branch.pk,
        own.pk,
    ]


def test_update_with_version(tree, as_user):
    activity = lecture(tree, starts_in=24 * HOUR)
    admin = as_user("cd_union_admin")
    body = {
        "version": 1,
        "kind": "study",
        "title": "改为学习会",
        "place": "二楼",
        "starts_at": activity.starts_at.isoformat(),
        "ends_at": (activity.ends_at + HOUR).isoformat(),
        "capacity": 10,
    }
    response = admin.put(url(activity), body)
    assert response.status_code == 200, response.content
    out = response.json()
    assert (out["title"], out["kind"], out["place"], out["version"]) == (
        "改为学习会",
        "study",
        "二楼",
        2,
    )
    # Someone else's stale form: 409 "stale", nothing overwritten.
    stale = admin.put(url(activity), {**body, "title": "旧表单"})
    assert stale.status_code == 409
    assert stale.json()["code"] == "stale"
    activity.refresh_from_db()
    assert activity.title == "改为学习会" and activity.version == 2
    # A viewer may not; a cancelled activity cannot change.
    assert as_user("chengdu_viewer").put(url(activity), {**body, "version": 2}).status_code == 403
    services.cancel_activity(SYSTEM, activity, reason="改期")
    activity.refresh_from_db()
    response = admin.put(url(activity), {**body, "version": activity.version})
    assert response.status_code == 422 and response.json()["code"] == "cancelled"


def test_held_and_cancel(tree, as_user):
    started = lecture(tree)
    later = lecture(tree, title="明天", starts_in=24 * HOUR)
    admin = as_user("cd_union_admin")
    response = admin.post(url(started, "/held"))
    assert response.status_code == 200
    assert response.json()["status"] == "held"
    assert response.json()["held_on"] == timezone.localdate(started.starts_at).isoformat()
    again = admin.post(url(started, "/held"))
    assert again.status_code == 422 and again.json()["code"] == "status"
    early = admin.post(url(later, "/held"))
    assert early.status_code == 422 and early.json()["code"] == "not_started"
    assert as_user("chengdu_viewer").post(url(later, "/cancel"), {"reason": "x"}).status_code == 403
    blank = admin.post(url(later, "/cancel"), {"reason": "  "})
    assert blank.status_code == 422 and blank.json()["code"] == "reason"
    cancelled = admin.post(url(later, "/cancel"), {"reason": "专家临时有事"})
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["cancelled_reason"] == "专家临时有事"
    # A retried cancel changes nothing.
    assert admin.post(url(later, "/cancel"), {"reason": "再次"}).json()["cancelled_reason"] == (
        "专家临时有事"
    )


# --- registration -------------------------------------------------------------------------


def test_registration_with_waiting_list(tree, as_user):
    activity = lecture(tree, capacity=1, registration_required=True, starts_in=24 * HOUR)
    worker = as_user("worker")
    admin = as_user("cd_union_admin")
    mine = worker.post(url(activity, "/registrations"))
    assert mine.status_code == 201, mine.content
    assert mine.json()["status"] == "confirmed"
    assert mine.json()["member_id"] == tree.cd_member.pk
    assert worker.post(url(activity, "/registrations")).status_code == 200  # again: the same
    waiting = admin.post(url(activity, "/registrations"), {"member_id": tree.cd_member2.pk})
    assert waiting.status_code == 201
    assert waiting.json()["status"] == "waitlisted"
    listed = admin.get(url(activity, "/registrations"))
    assert [(r["member_name"], r["status"]) for r in listed.json()["items"]] == [
        ("张伟", "confirmed"),
        ("李娜", "waitlisted"),
    ]
    assert admin.get(url(activity, "/registrations"), {"status": "waitlisted"}).json()["count"] == 1
    detail = worker.get(url(activity)).json()
    assert (detail["registered"], detail["waitlisted"]) == (1, 1)
    assert detail["me"]["registration_status"] == "confirmed"
    # A worker may not cancel someone else's registration (404), only their own.
    theirs = waiting.json()["id"]
    assert worker.delete(url(activity, f"/registrations/{theirs}")).status_code == 404
    cancelled = worker.delete(url(activity, f"/registrations/{mine.json()['id']}"))
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert Registration.objects.get(pk=theirs).status == RegistrationStatus.CONFIRMED  # moved up
    # Refusals: another union's member (404), a member outside the audience, a worker for
    # someone else (404), an account without a member record.
    assert (
        admin.post(url(activity, "/registrations"), {"member_id": tree.my_member.pk}).status_code
        == 404
    )
    workshop = lecture(tree, title="车间", venue=tree.cd_team, starts_in=24 * HOUR)
    outside = admin.post(url(workshop, "/registrations"), {"member_id": tree.cd_member2.pk})
    assert outside.status_code == 422 and outside.json()["code"] == "not_in_audience"
    assert (
        worker.post(url(activity, "/registrations"), {"member_id": tree.cd_member2.pk}).status_code
        == 404
    )
    nobody = as_user("chengdu_admin").post(url(activity, "/registrations"))
    assert nobody.status_code == 422 and nobody.json()["code"] == "no_member"
    # Closed once the activity is held.
    services.mark_held(SYSTEM, lecture(tree, title="已举行"))
    held = Activity.objects.get(title="已举行")
    closed = worker.post(url(held, "/registrations"))
    assert closed.status_code == 422 and closed.json()["code"] == "closed"


# --- the QR code on the venue's screen ----------------------------------------------------


def test_qr_for_the_venue_screen(tree, as_user):
    activity = lecture(tree)
    response = as_user("cd_union_admin").get(url(activity, "/qr"))
    assert response.status_code == 200
    qr = response.json()
    assert qr["activity_id"] == activity.pk
    assert qr["code"] == activity.check_in_code
    assert qr["seconds_valid"] == services.QR_TOKEN_SECONDS
    assert qr["refresh_seconds"] == services.QR_ROTATE_SECONDS
    assert qr["token"].startswith(f"{activity.pk}:")
    assert qr["scan_url"] == f"http://testserver/activities/scan/{qr['token']}/"
    # The token shown checks the worker in.
    worker = as_user("worker")
    assert worker.post(url(activity, "/check-in"), {"token": qr["token"]}).json()["created"]
    # A viewer of the city may see the activity but not its QR code.
    assert as_user("chengdu_viewer").get(url(activity)).status_code == 200
    assert as_user("chengdu_viewer").get(url(activity, "/qr")).status_code == 403


def test_openapi_schema_builds(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert set(paths["/api/activities/{activity_id}"]) == {"get", "put"}
    assert "/api/activities/{activity_id}/registrations/{registration_id}" in paths
    assert "/api/activities/{activity_id}/check-in" in paths
