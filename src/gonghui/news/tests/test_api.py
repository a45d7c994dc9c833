"""The articles API (/api/articles/…): the editorial chain through the API with three
users (the writer cd_union_admin, an editor and a responsible editor of 华信's union),
revisions and their differences, images, recommending upward, scheduled publishing and
the public site. Exact answers and exact refusals (status and code); 绵阳's editor gets 404
on everything of 成都's article and changes nothing; injected markup never comes back.
Runs on SQLite and PostgreSQL.
"""

import datetime
import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from gonghui.accounts.services import issue_api_token
from gonghui.audit.models import AuditEntry
from gonghui.news import services
from gonghui.news.models import Article, ArticleImage, ArticleStatus, Channel, Revision
from gonghui.orgs import services as org_services
from gonghui.orgs.models import RoleKind
from gonghui.orgs.scoping import SYSTEM
from gonghui.stats import services as stats
from gonghui.stats.models import FactDelta

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
EXE = b"MZ\x90\x00" + b"\x00" * 64
TITLE = "华信公司开展劳模宣讲进车间活动"
BODY = "<p>12月5日，华信公司工会邀请省劳动模范走进机加车间。</p>"
ADDED = "<p>活动吸引一线职工80余人参加。</p>"
XSS = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    '<a href="javascript:alert(1)">点我</a>',
    '<p style="background:url(javascript:alert(1))">样式</p>',
    "<svg onload=alert(1)>",
    '<iframe src="https://evil.example"></iframe>',
]
BAD = ("<script", "onerror", "javascript:", "onload", "<iframe", "style=")


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

    def upload(self, url: str, name: str, content: bytes) -> Any:
        return self.client.post(
            url, {"file": SimpleUploadedFile(name, content)}, headers=self.headers
        )


def user(name: str, org: Any, kind: str) -> Any:
    u = get_user_model().objects.create_user(username=name)
    org_services.grant_role(actor=SYSTEM, user=u, org=org, kind=kind)
    return u


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def t(tree) -> Any:
    tree.users["editor"] = user("editor", tree.cd_union, RoleKind.EDITOR)
    tree.users["chief"] = user("chief_editor", tree.cd_union, RoleKind.CHIEF_EDITOR)
    tree.users["city_editor"] = user("city_editor", tree.chengdu, RoleKind.EDITOR)
    tree.users["my_editor"] = user("my_editor", tree.mianyang, RoleKind.EDITOR)
    tree.writer = Api(tree.users["cd_union_admin"])
    tree.editor = Api(tree.users["editor"])
    tree.chief = Api(tree.users["chief"])
    yield tree
    # The figures the chain emitted agree with a rebuild from the articles.
    stats.fold_pending()
    assert not FactDelta.objects.exists()
    assert stats.rebuild(check=True) == []


def as_user(t: Any, username: str) -> Api:
    return Api(t.users[username])


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
    assert response.json()["detail"]


def not_found(response: Any) -> None:
    assert response.status_code == 404, response.content
    assert response.json() == {"detail": "Not Found"}


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.content
    return response.json()


def state() -> list[Any]:
    """Everything a refused request might have changed."""
    return [
        list(Article.objects.order_by("pk").values()),
        list(Revision.objects.order_by("pk").values()),
        list(ArticleImage.objects.order_by("pk").values()),
        list(Channel.objects.order_by("pk").values()),
        AuditEntry.objects.count(),
    ]


def grassroots(t: Any) -> Channel:
    return services.channels_of(t.cd_union)[1]  # 基层动态


def payload(t: Any, **extra: Any) -> dict[str, Any]:
    return {
        "org_id": t.cd_union.pk,
        "channel_id": grassroots(t).pk,
        "title": TITLE,
        "byline": "王小明",
        "body": BODY,
        **extra,
    }


def url(article: Any, tail: str = "") -> str:
    pk = article if isinstance(article, int) else article["id"]
    return f"/api/articles/{pk}{tail}"


def written(t: Any, **extra: Any) -> dict[str, Any]:
    return ok(t.writer.post("/api/articles", payload(t, **extra)), 201)


def edited(t: Any, **extra: Any) -> dict[str, Any]:
    article = ok(t.writer.post(url(written(t, **extra), "/submit")))
    return ok(
        t.editor.put(
            url(article),
            {
                **payload(t, **extra),
                "body": article["body"] + ADDED,
                "version": article["version"],
            },
        )
    )


def published(t: Any, **extra: Any) -> dict[str, Any]:
    return ok(t.chief.post(url(edited(t, **extra), "/approve")))


# --- the chain ----------------------------------------------------------------------------


def test_the_chain_through_the_api_with_three_users(t):
    channels = ok(t.writer.get("/api/articles/channels", {"org_id": t.cd_union.pk}))
    assert [(c["code"], c["name"]) for c in channels] == [
        ("news", "要闻"),
        ("grassroots", "基层动态"),
        ("video", "视讯"),
        ("notices", "通知公告"),
    ]
    out = ok(
        t.writer.post(
            "/api/articles",
            payload(
                t,
                subtitle="省劳模走进机加车间",
                summary="劳模宣讲进车间",
                tags=["劳模", "宣讲", "劳模"],
                source="华信公司工会",
                video_url="https://video.example/1.mp4",
            ),
        ),
        201,
    )
    article = Article.objects.get()
    channel = grassroots(t)
    assert out == {
        "id": article.pk,
        "org": {
            "id": t.cd_union.pk,
            "name": "成都华信机械有限公司工会委员会",
            "kind": "grassroots",
        },
        "channel": {"id": channel.pk, "code": "grassroots", "name": "基层动态"},
        "title": TITLE,
        "subtitle": "省劳模走进机加车间",
        "byline": "王小明",
        "summary": "劳模宣讲进车间",
        "tags": ["劳模", "宣讲"],
        "status": "draft",
        "version": 1,
        "created_by": "cd_union_admin",
        "editor": None,
        "chief_editor": None,
        "created_at": out["created_at"],
        "updated_at": out["updated_at"],
        "submitted_at": None,
        "edited_at": None,
        "approved_at": None,
        "publish_at": None,
        "published_at": None,
        "withdrawn_at": None,
        "body": BODY,
        "source": "华信公司工会",
        "video_url": "https://video.example/1.mp4",
        "cover_url": None,
        "video_file_url": None,
        "return_note": "",
        "withdrawn_reason": "",
        "origin": None,
        "recommendations": [],
        "images": [],
        "may_write": True,
        "may_edit": False,
        "may_approve": False,
    }
    assert ok(t.writer.get(url(out))) == out
    seen = ok(t.chief.get(url(out)))
    assert (seen["may_write"], seen["may_edit"], seen["may_approve"]) == (True, True, True)
    # Nobody approves a draft; the editor approves nothing.
    forbidden(t.editor.post(url(out, "/approve")))
    refused(t.chief.post(url(out, "/approve")), 422, "status")

    submitted = ok(t.writer.post(url(out, "/submit"), {"version": 1}))
    assert (submitted["status"], submitted["version"]) == ("submitted", 2)
    assert submitted["submitted_at"] is not None
    refused(t.writer.post(url(out, "/submit")), 422, "status")
    # The writer no longer changes it; the editor does, which makes it edited.
    forbidden(t.writer.put(url(out), {**payload(t), "version": 2}))
    edit = ok(t.editor.put(url(out), {**payload(t), "body": BODY + ADDED, "version": 2}))
    assert (edit["status"], edit["version"], edit["editor"], edit["body"]) == (
        "edited",
        3,
        "editor",
        BODY + ADDED,
    )
    assert edit["edited_at"] is not None
    forbidden(t.editor.post(url(out, "/approve"), {"version": 3}))
    forbidden(t.writer.post(url(out, "/approve")))
    done = ok(t.chief.post(url(out, "/approve"), {"version": 3}))
    assert (done["status"], done["created_by"], done["editor"], done["chief_editor"]) == (
        "published",
        "cd_union_admin",
        "editor",
        "chief_editor",
    )
    assert done["published_at"] is not None and done["publish_at"] is None
    refused(t.chief.post(url(out, "/approve")), 422, "status")
    refused(t.editor.put(url(out), {**payload(t), "version": done["version"]}), 422, "status")

    # The public page names the three.
    public = ok(Client().get(f"/api/articles/public/{article.pk}"))
    assert (public["byline"], public["editor"], public["chief_editor"]) == (
        "王小明",
        "editor",
        "chief_editor",
    )
    assert public["body"] == BODY + ADDED

    # Revisions: the draft and the edit, compared line by line.
    revisions = ok(t.writer.get(url(out, "/revisions")))
    first, second = Revision.objects.order_by("number")
    assert revisions == [
        {
            "id": first.pk,
            "number": 1,
            "step": "draft",
            "title": TITLE,
            "subtitle": "省劳模走进机加车间",
            "byline": "王小明",
            "body": BODY,
            "by": "cd_union_admin",
            "at": revisions[0]["at"],
            "note": "",
        },
        {
            "id": second.pk,
            "number": 2,
            "step": "edited",
            "title": TITLE,
            "subtitle": "",
            "byline": "王小明",
            "body": BODY + ADDED,
            "by": "editor",
            "at": revisions[1]["at"],
            "note": "",
        },
    ]
    change = ok(t.writer.get(url(out, f"/revisions/{second.pk}/diff")))
    assert change == {
        "before": {"id": first.pk, "number": 1},
        "after": {"id": second.pk, "number": 2},
        "lines": [
            {"kind": " ", "text": f"# {TITLE}"},
            {"kind": "-", "text": "省劳模走进机加车间"},
            {"kind": " ", "text": "— 王小明"},
            {"kind": " ", "text": "12月5日，华信公司工会邀请省劳动模范走进机加车间。"},
            {"kind": "+", "text": "活动吸引一线职工80余人参加。"},
        ],
    }
    start = ok(t.writer.get(url(out, f"/revisions/{first.pk}/diff")))
    assert start["before"] is None
    assert {line["kind"] for line in start["lines"]} == {"+"}
    back = ok(t.writer.get(url(out, f"/revisions/{first.pk}/diff"), {"against": second.pk}))
    assert {"kind": "-", "text": "活动吸引一线职工80余人参加。"} in back["lines"]

    # The desk: scoped, filtered.
    listed = ok(t.writer.get("/api/articles", {"org_id": t.cd_union.pk}))
    assert (listed["count"], listed["items"][0]["id"]) == (1, article.pk)
    assert "body" not in listed["items"][0]
    assert ok(t.writer.get("/api/articles", {"status": "published"}))["count"] == 1
    assert ok(t.writer.get("/api/articles", {"status": "draft"}))["count"] == 0
    assert ok(as_user(t, "chengdu_admin").get("/api/articles"))["count"] == 1
    sub = {"org_id": t.chengdu.pk, "subtree": True}
    assert ok(as_user(t, "city_editor").get("/api/articles", sub))["count"] == 1
    assert (
        ok(as_user(t, "city_editor").get("/api/articles", {"org_id": t.chengdu.pk}))["count"] == 0
    )
    refused(t.writer.get("/api/articles", {"status": "x"}), 422, "status", "status")
    # Drafted, submitted, edited, approved, published: each in the audit log.
    trail = AuditEntry.objects.filter(target_type="news.article", target_id=str(article.pk))
    assert trail.count() == 5


def test_an_editor_returns_it_and_the_author_resubmits(t):
    article = ok(t.writer.post(url(written(t), "/submit")))
    refused(t.editor.post(url(article, "/return"), {"note": "  "}), 422, "note")
    forbidden(t.writer.post(url(article, "/return"), {"note": "x"}))
    back = ok(t.editor.post(url(article, "/return"), {"note": "请补充活动照片"}))
    assert (back["status"], back["return_note"]) == ("returned", "请补充活动照片")
    assert Revision.objects.order_by("-number").first().note == "请补充活动照片"
    refused(t.editor.post(url(article, "/return"), {"note": "再改"}), 422, "status")
    # The author changes it (still returned) and submits it again.
    changed = ok(
        t.writer.put(url(article), {**payload(t), "body": BODY + ADDED, "version": back["version"]})
    )
    assert (changed["status"], changed["editor"]) == ("returned", None)
    again = ok(t.writer.post(url(article, "/submit")))
    assert (again["status"], again["return_note"]) == ("submitted", "")
    refused(t.writer.post(url(article, "/return"), {}), 422, "missing", "note")


def test_a_stale_version_is_refused_409_and_changes_nothing(t):
    article = written(t)
    ok(t.writer.put(url(article), {**payload(t), "title": "第一次修改", "version": 1}))
    before = state()
    refused(
        t.writer.put(url(article), {**payload(t), "title": "旧版本上的修改", "version": 1}),
        409,
        "stale",
    )
    refused(t.writer.post(url(article, "/submit"), {"version": 1}), 409, "stale")
    assert state() == before
    assert Article.objects.get().title == "第一次修改"
    article = ok(t.writer.post(url(article, "/submit"), {"version": 2}))
    article = ok(t.editor.put(url(article), {**payload(t), "body": BODY + ADDED, "version": 3}))
    before = state()
    refused(t.chief.post(url(article, "/approve"), {"version": 3}), 409, "stale")
    assert state() == before
    ok(t.chief.post(url(article, "/approve"), {"version": 4}))


def test_scheduled_approval_is_published_once_by_the_worker(t):
    article = edited(t)
    later = (timezone.now() + datetime.timedelta(hours=2)).replace(microsecond=0)
    out = ok(t.chief.post(url(article, "/approve"), {"publish_at": later.isoformat()}))
    assert (out["status"], out["published_at"], out["chief_editor"]) == (
        "approved",
        None,
        "chief_editor",
    )
    assert datetime.datetime.fromisoformat(out["publish_at"]) == later
    anonymous = Client()
    public = {"org_id": t.cd_union.pk}
    not_found(anonymous.get(f"/api/articles/public/{article['id']}"))
    assert ok(anonymous.get("/api/articles/public", public)) == {"items": [], "count": 0}
    assert services.publish_due() == 0
    assert services.publish_due(now=later + datetime.timedelta(minutes=1)) == 1
    assert services.publish_due(now=later + datetime.timedelta(minutes=2)) == 0  # a restart
    after = ok(t.writer.get(url(article)))
    assert after["status"] == "published"
    listed = ok(anonymous.get("/api/articles/public", public))
    assert (listed["count"], listed["items"][0]["id"]) == (1, article["id"])
    assert ok(anonymous.get(f"/api/articles/public/{article['id']}"))["title"] == TITLE


def test_a_past_publish_at_publishes_now_and_a_returned_schedule_is_cancelled(t):
    past = (timezone.now() - datetime.timedelta(hours=1)).isoformat()
    assert ok(t.chief.post(url(edited(t), "/approve"), {"publish_at": past}))["status"] == (
        "published"
    )
    later = (timezone.now() + datetime.timedelta(hours=2)).isoformat()
    scheduled = ok(t.chief.post(url(edited(t, title="第二篇"), "/approve"), {"publish_at": later}))
    back = ok(t.chief.post(url(scheduled, "/return"), {"note": "暂缓发布"}))
    assert (back["status"], back["publish_at"]) == ("returned", None)
    assert services.publish_due(now=timezone.now() + datetime.timedelta(days=1)) == 0


def test_withdrawing_takes_it_off_the_public_site(t):
    article = published(t)
    refused(t.chief.post(url(article, "/withdraw"), {"reason": " "}), 422, "reason")
    forbidden(t.writer.post(url(article, "/withdraw"), {"reason": "x"}))
    forbidden(t.editor.post(url(article, "/withdraw"), {"reason": "x"}))
    out = ok(t.chief.post(url(article, "/withdraw"), {"reason": "数据有误，核实后重发"}))
    assert (out["status"], out["withdrawn_reason"]) == ("withdrawn", "数据有误，核实后重发")
    assert out["withdrawn_at"] is not None
    refused(t.chief.post(url(article, "/withdraw"), {"reason": "再撤"}), 422, "status")
    not_found(Client().get(f"/api/articles/public/{article['id']}"))
    assert ok(Client().get("/api/articles/public", {"org_id": t.cd_union.pk}))["count"] == 0


# --- refusals when writing ----------------------------------------------------------------


def test_writing_refusals(t):
    before = state()
    refused(t.writer.post("/api/articles", payload(t, title="  ")), 422, "title", "title")
    refused(t.writer.post("/api/articles", payload(t, byline="<b></b>")), 422, "byline", "byline")
    refused(t.writer.post("/api/articles", payload(t, body="<p> </p>")), 422, "body", "body")
    other = services.channels_of(t.my_union)[0]
    refused(
        t.writer.post("/api/articles", payload(t, channel_id=other.pk)),
        422,
        "channel",
        "channel_id",
    )
    refused(
        t.writer.post("/api/articles", payload(t, video_url="javascript:alert(1)")),
        422,
        "video_url",
        "video_url",
    )
    missing = payload(t)
    del missing["title"]
    refused(t.writer.post("/api/articles", missing), 422, "missing", "title")
    forbidden(as_user(t, "chengdu_viewer").post("/api/articles", payload(t)))
    not_found(as_user(t, "mianyang_admin").post("/api/articles", payload(t)))
    not_found(t.writer.post("/api/articles", payload(t, org_id=t.my_union.pk)))
    assert state()[:3] == before[:3]
    assert not Article.objects.exists()


@pytest.mark.parametrize("bad", XSS)
def test_injected_markup_is_stored_sanitised(t, bad):
    response = t.writer.post(
        "/api/articles",
        payload(
            t,
            title=f"标题{bad}",
            subtitle=f"副题{bad}",
            byline=f"作者{bad}",
            body=f"<p>正文</p>{bad}",
            summary=f"摘要{bad}",
            tags=[f"标签{bad}"],
        ),
    )
    assert response.status_code == 201, response.content
    article = Article.objects.get()
    stored = " ".join(
        [
            article.title,
            article.subtitle,
            article.byline,
            article.body,
            article.summary,
            *article.tags,
        ]
    ).lower()
    for text in (response.content.decode().lower(), stored):
        for word in BAD:
            assert word not in text, (bad, text)
    assert article.title.startswith("标题")


def test_injected_markup_never_reaches_the_public_site(t):
    bad = "".join(XSS)
    article = published(t, title=f"标题{bad}", body=f"<p>正文</p>{bad}", byline=f"作者{bad}")
    for response in (
        t.writer.get(url(article)),
        t.writer.get(url(article, "/revisions")),
        Client().get(f"/api/articles/public/{article['id']}"),
        Client().get("/api/articles/public", {"org_id": t.cd_union.pk}),
    ):
        text = ok(response) and response.content.decode().lower()
        for word in BAD:
            assert word not in text, (word, text)


# --- scope --------------------------------------------------------------------------------


def test_an_editor_of_mianyang_gets_404_on_chengdus_article(t):
    article = ok(t.writer.post(url(written(t), "/submit")))
    ok(t.writer.upload(url(article, "/images"), "现场.png", PNG), 201)
    revision = Revision.objects.first()
    other = as_user(t, "my_editor")
    before = state()
    not_found(other.get(url(article)))
    not_found(other.put(url(article), {**payload(t), "title": "改", "version": 2}))
    for tail, body in [
        ("/submit", {}),
        ("/return", {"note": "x"}),
        ("/approve", {}),
        ("/withdraw", {"reason": "x"}),
        ("/recommend", {}),
    ]:
        not_found(other.post(url(article, tail), body))
    not_found(other.upload(url(article, "/images"), "a.png", PNG))
    not_found(other.get(url(article, "/revisions")))
    not_found(other.get(url(article, f"/revisions/{revision.pk}/diff")))
    not_found(other.get("/api/articles/channels", {"org_id": t.cd_union.pk}))
    not_found(other.get("/api/articles", {"org_id": t.cd_union.pk}))
    not_found(other.post("/api/articles", payload(t)))
    assert ok(other.get("/api/articles")) == {"items": [], "count": 0}
    # Someone who only views 成都 does not see the desk either.
    not_found(as_user(t, "chengdu_viewer").get(url(article)))
    assert state() == before
    assert Article.objects.get().title == TITLE


def test_revisions_of_another_article_are_404(t):
    a, b = written(t), written(t, title="另一篇")
    rb = Revision.objects.get(article_id=b["id"])
    ra = Revision.objects.get(article_id=a["id"])
    not_found(t.writer.get(url(a, f"/revisions/{rb.pk}/diff")))
    not_found(t.writer.get(url(a, f"/revisions/{ra.pk}/diff"), {"against": rb.pk}))
    not_found(t.writer.get("/api/articles/999999"))
    not_found(t.writer.get("/api/articles/999999/revisions"))


# --- images -------------------------------------------------------------------------------


def test_images_are_checked_and_listed(t):
    article = written(t)
    out = ok(t.writer.upload(url(article, "/images"), "现场.png", PNG), 201)
    image = ArticleImage.objects.get()
    assert out == {
        "id": image.pk,
        "article_id": article["id"],
        "name": "现场.png",
        "content_type": "image/png",
        "size": len(PNG),
        "uploaded_at": out["uploaded_at"],
    }
    assert ok(t.writer.get(url(article)))["images"] == [out]
    refused(t.writer.upload(url(article, "/images"), "photo.png", EXE), 422, "file_content")
    refused(t.writer.upload(url(article, "/images"), "setup.exe", EXE), 422, "file_type")
    refused(t.writer.upload(url(article, "/images"), "empty.png", b""), 422, "file_size")
    assert ArticleImage.objects.count() == 1


# --- recommending upward ------------------------------------------------------------------


def test_recommending_to_the_union_above(t):
    draft = written(t, title="草稿")
    refused(t.writer.post(url(draft, "/recommend")), 422, "status")
    article = published(t)
    other = services.channels_of(t.my_union)[0]
    refused(
        t.writer.post(url(article, "/recommend"), {"channel_id": other.pk}),
        422,
        "channel",
        "channel_id",
    )
    out = ok(t.writer.post(url(article, "/recommend")), 201)
    copy = Article.objects.get(origin_id=article["id"])
    assert out == {
        "id": copy.pk,
        "origin_id": article["id"],
        "org": {"id": t.chunxilu.pk, "name": "春熙路街道工会", "kind": "township"},
        "channel": {
            "id": copy.channel_id,
            "code": "grassroots",
            "name": "基层动态",
        },
        "status": "submitted",
        "recommended_on": timezone.localdate().isoformat(),
    }
    refused(t.writer.post(url(article, "/recommend")), 422, "duplicate")
    origin = ok(t.writer.get(url(article)))
    assert origin["recommendations"] == [
        {
            "id": copy.pk,
            "org": {"id": t.chunxilu.pk, "name": "春熙路街道工会", "kind": "township"},
            "status": "submitted",
        }
    ]
    # The writer does not see the parent's copy; 成都's editor does, with its origin.
    not_found(t.writer.get(url(copy.pk)))
    seen = ok(as_user(t, "city_editor").get(url(copy.pk)))
    assert (seen["origin"]["id"], seen["source"], seen["status"]) == (
        article["id"],
        t.cd_union.name,
        "submitted",
    )
    # A chosen channel of the parent.
    second = published(t, title="第二篇")
    news = services.channels_of(t.chunxilu)[0]
    chosen = ok(t.writer.post(url(second, "/recommend"), {"channel_id": news.pk}), 201)
    assert chosen["channel"]["code"] == "news"


def test_the_top_union_has_nowhere_to_recommend(t):
    root = Api(t.users["superuser"])
    channel = services.channels_of(t.province)[0]
    article = ok(
        root.post(
            "/api/articles", {**payload(t), "org_id": t.province.pk, "channel_id": channel.pk}
        ),
        201,
    )
    ok(root.post(url(article, "/submit")))
    ok(root.put(url(article), {**payload(t), "channel_id": channel.pk, "version": 2}))
    ok(root.post(url(article, "/approve")))
    refused(root.post(url(article, "/recommend")), 422, "no_parent")


# --- the public site ----------------------------------------------------------------------


def test_the_public_site_needs_no_sign_in_and_shows_only_published_articles(t):
    shown = published(t, tags=["劳模"], summary="劳模宣讲")
    other = published(
        t, title="职工篮球赛圆满落幕", channel_id=services.channels_of(t.cd_union)[0].pk
    )
    draft = written(t, title="草稿")
    submitted = ok(t.writer.post(url(written(t, title="已提交"), "/submit")))
    waiting = edited(t, title="已编辑")
    later = (timezone.now() + datetime.timedelta(days=1)).isoformat()
    scheduled = ok(t.chief.post(url(edited(t, title="定时"), "/approve"), {"publish_at": later}))
    returned = ok(
        t.editor.post(
            url(ok(t.writer.post(url(written(t, title="退回"), "/submit"))), "/return"),
            {"note": "重写"},
        )
    )
    withdrawn = ok(t.chief.post(url(published(t, title="撤回"), "/withdraw"), {"reason": "错"}))
    anonymous = Client()
    listing = ok(anonymous.get("/api/articles/public", {"org_id": t.cd_union.pk}))
    assert listing["count"] == 2
    assert [a["id"] for a in listing["items"]] == [other["id"], shown["id"]]
    for hidden in (draft, submitted, waiting, scheduled, returned, withdrawn):
        not_found(anonymous.get(f"/api/articles/public/{hidden['id']}"))
        assert hidden["id"] not in [a["id"] for a in listing["items"]]
    detail = ok(anonymous.get(f"/api/articles/public/{shown['id']}"))
    article = Article.objects.get(pk=shown["id"])
    assert detail == {
        "id": shown["id"],
        "channel": {"id": grassroots(t).pk, "code": "grassroots", "name": "基层动态"},
        "title": TITLE,
        "subtitle": "",
        "byline": "王小明",
        "summary": "劳模宣讲",
        "tags": ["劳模"],
        "source": "",
        "cover_url": None,
        "published_at": detail["published_at"],
        "org": {"id": t.cd_union.pk, "name": t.cd_union.name, "kind": "grassroots"},
        "body": BODY + ADDED,
        "video_url": "",
        "video_file_url": None,
        "editor": "editor",
        "chief_editor": "chief_editor",
        "recommended_from": None,
    }
    shown_at = datetime.datetime.fromisoformat(detail["published_at"])
    assert abs(shown_at - article.published_at) < datetime.timedelta(milliseconds=1)
    assert "status" not in detail and "version" not in detail
    # Channel, search and pages.
    by_channel = {"org_id": t.cd_union.pk, "channel": "grassroots"}
    assert [a["id"] for a in ok(anonymous.get("/api/articles/public", by_channel))["items"]] == [
        shown["id"]
    ]
    search = {"org_id": t.cd_union.pk, "q": "篮球"}
    assert [a["id"] for a in ok(anonymous.get("/api/articles/public", search))["items"]] == [
        other["id"]
    ]
    assert (
        ok(anonymous.get("/api/articles/public", {"org_id": t.cd_union.pk, "q": "草稿"}))["count"]
        == 0
    )
    page = ok(anonymous.get("/api/articles/public", {"org_id": t.cd_union.pk, "limit": 1}))
    assert (page["count"], len(page["items"])) == (2, 1)
    not_found(anonymous.get("/api/articles/public", {**by_channel, "channel": "nope"}))
    not_found(anonymous.get("/api/articles/public", {"org_id": 999999}))
    assert ok(anonymous.get("/api/articles/public", {"org_id": t.my_union.pk}))["count"] == 0
    not_found(anonymous.get("/api/articles/public/999999"))
    # Without a union: the root's site (the province's), where nothing is published here.
    assert ok(anonymous.get("/api/articles/public"))["count"] == 0


def test_the_desk_needs_sign_in(t):
    article = written(t)
    client = Client()
    assert client.get("/api/articles").status_code == 401
    assert client.get(url(article)).status_code == 401
    assert client.get("/api/articles/channels", {"org_id": t.cd_union.pk}).status_code == 401
    assert client.get(url(article, "/revisions")).status_code == 401
    response = client.post("/api/articles", payload(t), content_type="application/json")
    assert response.status_code == 401
    response = client.post(url(article, "/submit"), {}, content_type="application/json")
    assert response.status_code == 401
    assert Article.objects.get().status == ArticleStatus.DRAFT


def test_an_action_without_a_body(t):
    article = written(t)
    response = t.writer.client.post(
        url(article, "/submit"), content_type="application/json", headers=t.writer.headers
    )
    assert ok(response)["status"] == "submitted"


def test_openapi_schema_builds(client):
    spec = ok(client.get("/api/openapi.json"))
    paths = spec["paths"]
    for path, methods in {
        "/api/articles": {"get", "post"},
        "/api/articles/channels": {"get"},
        "/api/articles/public": {"get"},
        "/api/articles/public/{article_id}": {"get"},
        "/api/articles/{article_id}": {"get", "put"},
        "/api/articles/{article_id}/submit": {"post"},
        "/api/articles/{article_id}/return": {"post"},
        "/api/articles/{article_id}/approve": {"post"},
        "/api/articles/{article_id}/withdraw": {"post"},
        "/api/articles/{article_id}/recommend": {"post"},
        "/api/articles/{article_id}/images": {"post"},
        "/api/articles/{article_id}/revisions": {"get"},
        "/api/articles/{article_id}/revisions/{revision_id}/diff": {"get"},
    }.items():
        assert set(paths[path]) == methods, path
    assert not paths["/api/articles/public"]["get"].get("security")
    assert not paths["/api/articles/public/{article_id}"]["get"].get("security")
    assert paths["/api/articles"]["get"].get("security")
    schemas = spec["components"]["schemas"]
    for name in ("ArticleOut", "ArticleDetailOut", "ArticlePublicDetailOut", "ArticleDiffOut"):
        assert name in schemas
    # The public article says nothing of the desk.
    public = set(schemas["ArticlePublicDetailOut"]["properties"])
    assert not public & {"status", "version", "return_note", "created_by", "withdrawn_reason"}
