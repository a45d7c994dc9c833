"""The pledges API (/api/pledges/…): a cadre's client (list, draft, edit, publish, progress,
photos, complete, cancel, hide a comment) and a worker's phone (for me, a pledge, its
comments, comment). Every refusal with its exact code and status, scoping (404 outside,
nothing changes) and permissions (403)."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from gonghui.accounts.services import issue_api_token
from gonghui.pledges import services
from gonghui.pledges.models import Pledge, PledgeCategory, PledgeComment, PledgePhoto, PledgeUpdate

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


class Api:
    """A client that sends one user's bearer token with every request."""

    def __init__(self, user: Any) -> None:
        self.client = Client()
        # Messages in English (their msgids): the language cookie, as the switcher sets it.
        self.client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
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

    def upload(self, url: str, data: dict[str, Any]) -> Any:
        return self.client.post(url, data, headers=self.headers)


@pytest.fixture
def as_user(tree):
    return lambda username: Api(tree.users[username])


def days(n: int) -> datetime.date:
    return timezone.localdate() + datetime.timedelta(days=n)


def make(tree: Any, *, org: Any = None, user: str = "chengdu_admin", publish: bool = True,
         **extra: Any) -> Pledge:  # fmt: skip
    values: dict[str, Any] = {
        "title": "一线职工免费体检",
        "category": PledgeCategory.SERVICES,
        "target": "为100名一线职工免费体检",
        "target_value": 100,
        "target_unit": "人",
        "deadline": days(30),
    }
    values.update(extra)
    pledge = services.create_pledge(
        actor=tree.users[user], org=org or tree.chengdu, data=services.PledgeInput(**values)
    )
    if publish:
        pledge = services.publish_pledge(actor=tree.users[user], pledge=pledge)
    return pledge


def body(**extra: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "title": "新就业形态劳动者技能培训",
        "category": "skills",
        "target": "为1000名快递员、外卖骑手开展技能培训",
        "target_value": 1000,
        "target_unit": "人",
        "deadline": days(45).isoformat(),
        "description": "<p>培训<script>x</script></p>",
    }
    values.update(extra)
    return values


def refusal(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["code"]


# --- listing ------------------------------------------------------------------------------


def test_the_list_is_scoped(tree, as_user):
    city = make(tree, title="成都")
    union = make(tree, org=tree.cd_union, user="cd_union_admin", publish=False, title="华信")
    make(tree, org=tree.mianyang, user="mianyang_admin", title="绵阳")
    api = as_user("chengdu_admin")
    listed = api.get("/api/pledges").json()
    assert [p["id"] for p in listed["items"]] == [city.pk, union.pk]
    assert listed["count"] == 2
    own = api.get("/api/pledges", {"org_id": tree.chengdu.pk, "scope": "own"}).json()
    assert [p["id"] for p in own["items"]] == [city.pk]
    drafts = api.get("/api/pledges", {"org_id": tree.chengdu.pk, "status": "draft"}).json()
    assert [p["title"] for p in drafts["items"]] == ["华信"]
    first = listed["items"][0]
    assert first["org"] == {"id": tree.chengdu.pk, "name": "成都市总工会", "kind": "city"}
    assert (first["status"], first["progress"], first["percent"], first["overdue"]) == (
        "published",
        0,
        0,
        False,
    )
    assert api.get("/api/pledges", {"org_id": tree.my_union.pk}).status_code == 404
    assert refusal(api.get("/api/pledges", {"status": "done"})) == (422, "status")


def test_for_me_lists_what_a_worker_sees(tree, as_user):
    city = make(tree, title="成都")
    province = make(tree, org=tree.province, user="province_admin", title="全省")
    make(tree, publish=False, title="草稿")
    make(tree, org=tree.mianyang, user="mianyang_admin", title="绵阳")
    items = as_user("worker").get("/api/pledges/for-me").json()["items"]
    assert [p["id"] for p in items] == [province.pk, city.pk]
    assert as_user("chengdu_admin").get("/api/pledges/for-me").json()["items"] == []


# --- drafting and editing -----------------------------------------------------------------


def test_drafting_and_editing(tree, as_user):
    api = as_user("chengdu_admin")
    created = api.post("/api/pledges", {**body(), "org_id": tree.cd_union.pk})
    assert created.status_code == 201
    data = created.json()
    assert (data["status"], data["version"], data["may_manage"], data["may_comment"]) == (
        "draft",
        1,
        True,
        False,
    )
    assert data["description"] == "<p>培训</p>"
    assert data["org"]["id"] == tree.cd_union.pk and data["updates"] == []
    url = f"/api/pledges/{data['id']}"
    changed = api.put(url, {**body(title="改后", target_value=1200), "version": 1})
    assert changed.status_code == 200
    assert (changed.json()["title"], changed.json()["version"]) == ("改后", 2)
    stale = api.put(url, {**body(title="旧稿"), "version": 1})
    assert refusal(stale) == (409, "stale")
    assert stale.json()["detail"][0]["message"] == (
        "Someone else changed this pledge meanwhile. Reload it and edit again."
    )
    assert Pledge.objects.get().title == "改后"
    published = api.post(f"{url}/publish")
    assert published.status_code == 200 and published.json()["status"] == "published"
    assert published.json()["published_on"] == timezone.localdate().isoformat()
    assert api.post(f"{url}/publish").json()["version"] == published.json()["version"]
    assert refusal(api.put(url, {**body(), "version": 3})) == (422, "not_draft")


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"title": " "}, "title"),
        ({"category": "x"}, "category"),
        ({"target": ""}, "target"),
        ({"target_value": 0}, "target_value"),
        ({"target_value": None, "target_unit": "人"}, "target_unit"),
        ({"deadline": "2020-01-01"}, "deadline_past"),
    ],
)
def test_drafting_refusals(tree, as_user, fields, code):
    response = as_user("chengdu_admin").post(
        "/api/pledges", {**body(**fields), "org_id": tree.chengdu.pk}
    )
    assert refusal(response) == (422, code)
    assert not Pledge.objects.exists()


def test_drafting_needs_scope_and_the_right(tree, as_user):
    assert (
        as_user("chengdu_admin")
        .post("/api/pledges", {**body(), "org_id": tree.mianyang.pk})
        .status_code
        == 404
    )
    denied = as_user("chengdu_viewer").post("/api/pledges", {**body(), "org_id": tree.chengdu.pk})
    assert refusal(denied) == (403, "permission_denied")
    assert denied.json()["detail"] == "You may not manage the pledges of 成都市总工会."
    assert not Pledge.objects.exists()


# --- progress and photos ------------------------------------------------------------------


def test_progress_and_photos(tree, as_user):
    pledge = make(tree)
    api = as_user("chengdu_admin")
    url = f"/api/pledges/{pledge.pk}"
    made = api.post(f"{url}/progress", {"text": "首批40人完成体检", "progress": 40})
    assert made.status_code == 201
    update = made.json()
    assert (update["progress"], update["previous"], update["correction"], update["photos"]) == (
        40,
        0,
        False,
        [],
    )
    assert update["day"] == timezone.localdate().isoformat()
    assert refusal(api.post(f"{url}/progress", {"text": "退", "progress": 30})) == (
        422,
        "progress_backwards",
    )
    corrected = api.post(f"{url}/progress", {"text": "更正", "progress": 30, "correction": True})
    assert corrected.status_code == 201 and corrected.json()["correction"] is True
    future = {"text": "x", "progress": 50, "day": days(1).isoformat()}
    assert refusal(api.post(f"{url}/progress", future)) == (422, "day_future")
    # A photo goes with the latest update, or the one named.
    photo = api.upload(
        f"{url}/photos", {"file": SimpleUploadedFile("现场.png", PNG, content_type="image/png")}
    )
    assert photo.status_code == 201
    assert photo.json()["update_id"] == corrected.json()["id"]
    assert (photo.json()["name"], photo.json()["content_type"]) == ("现场.png", "image/png")
    named = api.upload(
        f"{url}/photos",
        {"file": SimpleUploadedFile("早.jpg", b"\xff\xd8\xff\xe0xx", content_type="image/jpeg"),
         "update_id": update["id"]},
    )  # fmt: skip
    assert named.status_code == 201 and named.json()["update_id"] == update["id"]
    gif = SimpleUploadedFile("动图.gif", b"GIF89a....", content_type="image/gif")
    assert refusal(api.upload(f"{url}/photos", {"file": gif})) == (422, "file_type")
    fake = SimpleUploadedFile("假.png", b"MZ......", content_type="image/png")
    assert refusal(api.upload(f"{url}/photos", {"file": fake})) == (422, "file_content")
    assert refusal(api.upload(f"{url}/photos", {})) == (422, "file_missing")
    detail = api.get(url).json()
    assert [u["progress"] for u in detail["updates"]] == [30, 40]
    assert [p["name"] for p in detail["updates"][0]["photos"]] == ["现场.png"]
    # The photo itself, for those who see the pledge.
    photo_url = f"/api/pledges/photos/{photo.json()['id']}"
    got = api.get(photo_url)
    assert got.status_code == 200 and b"".join(got.streaming_content) == PNG
    assert as_user("worker").get(photo_url).status_code == 200
    assert as_user("mianyang_admin").get(photo_url).status_code == 404
    assert as_user("nobody").get(photo_url).status_code == 404


def test_a_photo_needs_an_update_of_that_pledge(tree, as_user):
    pledge = make(tree)
    other = make(tree, title="另一项")
    update = services.add_progress(
        actor=tree.users["chengdu_admin"], pledge=other, text="进展", progress=1
    )
    api = as_user("chengdu_admin")
    png = SimpleUploadedFile("a.png", PNG, content_type="image/png")
    assert refusal(api.upload(f"/api/pledges/{pledge.pk}/photos", {"file": png})) == (
        422,
        "no_update",
    )
    png = SimpleUploadedFile("a.png", PNG, content_type="image/png")
    response = api.upload(f"/api/pledges/{pledge.pk}/photos", {"file": png, "update_id": update.pk})
    assert refusal(response) == (422, "no_update")
    assert not PledgePhoto.objects.exists()


# --- completing and cancelling ------------------------------------------------------------


def test_complete_and_cancel(tree, as_user):
    pledge = make(tree)
    api = as_user("chengdu_admin")
    url = f"/api/pledges/{pledge.pk}"
    assert refusal(api.post(f"{url}/complete", {"note": " "})) == (422, "note")
    done = api.post(f"{url}/complete", {"note": "全部完成"})
    assert done.status_code == 200
    assert (done.json()["status"], done.json()["on_time"], done.json()["closing_note"]) == (
        "completed",
        True,
        "全部完成",
    )
    assert refusal(api.post(f"{url}/complete", {"note": "再"})) == (422, "status")
    assert refusal(api.post(f"{url}/cancel", {"reason": "x"})) == (422, "status")
    other = make(tree, title="取消")
    assert refusal(api.post(f"/api/pledges/{other.pk}/cancel", {"reason": ""})) == (422, "reason")
    cancelled = api.post(f"/api/pledges/{other.pk}/cancel", {"reason": "并入省级项目"})
    assert (cancelled.json()["status"], cancelled.json()["cancelled_reason"]) == (
        "cancelled",
        "并入省级项目",
    )
    viewer = as_user("chengdu_viewer")
    third = make(tree, title="第三项")
    assert refusal(viewer.post(f"/api/pledges/{third.pk}/complete", {"note": "x"})) == (
        403,
        "permission_denied",
    )
    assert refusal(
        viewer.post(f"/api/pledges/{third.pk}/progress", {"text": "x", "progress": 1})
    ) == (
        403,
        "permission_denied",
    )
    assert not PledgeUpdate.objects.filter(pledge=third).exists()


# --- a worker -----------------------------------------------------------------------------


def test_a_worker_reads_and_comments(tree, as_user):
    pledge = make(tree)
    draft = make(tree, publish=False, title="草稿")
    worker = as_user("worker")
    detail = worker.get(f"/api/pledges/{pledge.pk}")
    assert detail.status_code == 200
    assert (detail.json()["may_manage"], detail.json()["may_comment"]) == (False, True)
    assert worker.get(f"/api/pledges/{draft.pk}").status_code == 404
    assert worker.post(f"/api/pledges/{draft.pk}/comments", {"text": "x"}).status_code == 404
    made = worker.post(f"/api/pledges/{pledge.pk}/comments", {"text": "为工会点赞！"})
    assert made.status_code == 201
    assert (made.json()["member_name"], made.json()["unit_name"], made.json()["hidden"]) == (
        "张伟",
        "成都华信机械有限公司工会委员会",
        False,
    )
    too_long = worker.post(f"/api/pledges/{pledge.pk}/comments", {"text": "好" * 501})
    assert refusal(too_long) == (422, "text_long")
    assert too_long.json()["detail"][0]["message"] == "A comment has at most 500 characters."
    assert refusal(worker.post(f"/api/pledges/{pledge.pk}/comments", {"text": ""})) == (
        422,
        "text",
    )
    # A cadre who sees the pledge is no worker: 403.
    cadre = as_user("chengdu_admin").post(f"/api/pledges/{pledge.pk}/comments", {"text": "x"})
    assert refusal(cadre) == (403, "permission_denied")
    assert worker.post(f"/api/pledges/{pledge.pk}/publish").status_code == 404
    assert PledgeComment.objects.count() == 1
    # Other workers' names are masked for a worker; a cadre reads them in full.
    colleague = get_user_model().objects.create_user(username="lina")
    tree.cd_member2.user = colleague
    tree.cd_member2.save(update_fields=["user"])
    services.add_comment(actor=colleague, pledge=pledge, text="同意")
    comments = f"/api/pledges/{pledge.pk}/comments"
    names = [c["member_name"] for c in worker.get(comments).json()["items"]]
    assert names == ["张伟", "李*"]
    names = [c["member_name"] for c in as_user("chengdu_viewer").get(comments).json()["items"]]
    assert names == ["张伟", "李娜"]


def test_hiding_a_comment_and_who_sees_it(tree, as_user):
    pledge = make(tree)
    mine = services.add_comment(actor=tree.users["worker"], pledge=pledge, text="广告")
    url = f"/api/pledges/comments/{mine.pk}/hide"
    assert as_user("mianyang_admin").post(url, {"reason": "x"}).status_code == 404
    assert refusal(as_user("chengdu_viewer").post(url, {"reason": "x"})) == (
        403,
        "permission_denied",
    )
    admin = as_user("chengdu_admin")
    assert refusal(admin.post(url, {"reason": " "})) == (422, "reason")
    hidden = admin.post(url, {"reason": "广告"})
    assert hidden.status_code == 200
    assert (hidden.json()["hidden"], hidden.json()["hidden_reason"]) == (True, "广告")
    # The author still sees it (with the reason), a cadre who manages it too; others not.
    comments = f"/api/pledges/{pledge.pk}/comments"
    assert [c["id"] for c in as_user("worker").get(comments).json()["items"]] == [mine.pk]
    assert [c["id"] for c in admin.get(comments).json()["items"]] == [mine.pk]
    assert as_user("chengdu_viewer").get(comments).json()["items"] == []
    assert as_user("mianyang_admin").get(comments).status_code == 404
