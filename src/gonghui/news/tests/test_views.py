"""The news pages as writers, editors, responsible editors and readers use them: the desk
for the right roles, the editorial chain through the pages, refusals that keep what was
typed, scope (绵阳's editor never sees 成都's articles), the public site without login,
the Atom feed and the sitemap, revision diffs, pictures, and no script reaching readers."""

from __future__ import annotations

import datetime
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from gonghui.news import services
from gonghui.news.models import Article, ArticleImage, ArticleStatus
from gonghui.orgs import services as org_services
from gonghui.orgs.models import RoleKind
from gonghui.orgs.scoping import SYSTEM

pytestmark = pytest.mark.django_db

ATOM = "{http://www.w3.org/2005/Atom}"
SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
TITLE = "华信公司开展劳模宣讲进车间活动"
ADDED = "活动吸引一线职工80余人参加。"
XSS = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    '<a href="javascript:alert(1)">点我</a>',
    '<p style="background:url(javascript:alert(1))">样式</p>',
    "<svg onload=alert(1)>",
    '<iframe src="https://evil.example"></iframe>',
    "<style>body{display:none}</style>",
    '<div onclick="alert(1)">点击</div>',
]


def client_for(user: Any = None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def text(response: Any) -> str:
    return response.content.decode()


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def person(name: str, org: Any, kind: str, full_name: str = "") -> Any:
    u = get_user_model().objects.create_user(username=name, first_name=full_name)
    org_services.grant_role(actor=SYSTEM, user=u, org=org, kind=kind)
    return u


@pytest.fixture
def t(tree) -> Any:
    tree.writer = tree.users["cd_union_admin"]
    tree.editor = person("editor", tree.cd_union, RoleKind.EDITOR, full_name="赵敏")
    tree.chief = person("chief_editor", tree.cd_union, RoleKind.CHIEF_EDITOR)
    tree.my_editor = person("my_editor", tree.mianyang, RoleKind.EDITOR)
    return tree


def draft(t: Any, **extra: Any) -> Article:
    channel = services.channels_of(t.cd_union)[1]  # 基层动态
    data = services.ArticleInput(
        channel.pk,
        extra.pop("title", TITLE),
        extra.pop("byline", "王小明"),
        extra.pop("body", "<p>12月5日，华信公司工会邀请省劳动模范走进机加车间。</p>"),
        **extra,
    )
    return services.create_article(t.writer, org=t.cd_union, data=data)


def published(t: Any, **extra: Any) -> Article:
    article = services.submit_article(t.writer, draft(t, **extra))
    return approved(t, article, body=article.body + f"<p>{ADDED}</p>")


def approved(t: Any, article: Article, **changes: Any) -> Article:
    """A submitted article through the editor (who changes what `changes` say) and the
    responsible editor."""
    fields = ("title", "byline", "body", "subtitle", "summary", "tags", "source", "video_url")
    values = {name: getattr(article, name) for name in fields} | changes
    data = services.ArticleInput(channel_id=article.channel_id, **values)
    article = services.update_article(t.editor, article, data=data, version=article.version)
    return services.approve_article(t.chief, article)


def form_data(t: Any, **extra: Any) -> dict[str, Any]:
    channel = services.channels_of(t.cd_union)[1]
    return {
        "channel": channel.pk,
        "title": TITLE,
        "subtitle": "省劳模走进机加车间",
        "byline": "王小明",
        "body": "<div>12月5日，华信公司工会邀请省劳动模范走进机加车间。</div>",
        "summary": "",
        "tags": "劳模宣讲，安全生产, 车间",
        "source": "",
        "video_url": "",
        **extra,
    }


def article_section(html: str) -> str:
    """The article as the page shows it (the page around it has its own scripts)."""
    start = html.index('<article class="news"')
    return html[start : html.index("</article>", start)]


# --- the desk -----------------------------------------------------------------------------


def test_the_desk_is_for_those_who_write_news(t):
    article = draft(t)
    url = reverse("news:desk", args=[t.cd_union.pk])
    for u in (t.writer, t.editor, t.chief, t.users["chengdu_admin"], t.users["superuser"]):
        response = client_for(u).get(url)
        assert response.status_code == 200, u
        assert [a.pk for a in response.context["page"]] == [article.pk]
    # A viewer sees the union but writes no news: 403. Outside the tree: 404.
    assert client_for(t.users["chengdu_viewer"]).get(url).status_code == 403
    assert client_for(t.users["mianyang_admin"]).get(url).status_code == 404
    assert client_for(t.my_editor).get(url).status_code == 404
    assert client_for(t.users["worker"]).get(url).status_code == 404
    anonymous = client_for().get(url)
    assert anonymous.status_code == 302 and "login" in anonymous["Location"]
    # Filters: by status, by channel, and the unions below.
    writer = client_for(t.writer)
    assert not writer.get(url, {"status": "published"}).context["page"].object_list
    assert len(writer.get(url, {"status": "draft", "channel": "grassroots"}).context["page"]) == 1
    assert not writer.get(url, {"channel": "news"}).context["page"].object_list
    city = reverse("news:desk", args=[t.chengdu.pk])
    admin = client_for(t.users["chengdu_admin"])
    assert not admin.get(city).context["page"].object_list
    assert [a.pk for a in admin.get(city, {"subtree": "1"}).context["page"]] == [article.pk]


def test_the_menu_and_the_union_page_lead_to_the_desk(t):
    page = text(client_for(t.editor).get(reverse("org_detail", args=[t.cd_union.pk])))
    assert 'id="nav-news"' in page and reverse("news:desk", args=[t.cd_union.pk]) in page
    assert 'id="org-news"' in page
    viewer = text(
        client_for(t.users["chengdu_viewer"]).get(reverse("org_detail", args=[t.cd_union.pk]))
    )
    assert 'id="nav-news"' not in viewer and 'id="org-news"' not in viewer


# --- the chain, through the pages ---------------------------------------------------------


def test_the_chain_through_the_pages(t):
    writer, editor, chief = client_for(t.writer), client_for(t.editor), client_for(t.chief)
    assert writer.get(reverse("news:write", args=[t.cd_union.pk])).status_code == 200
    response = writer.post(reverse("news:write", args=[t.cd_union.pk]), form_data(t))
    article = Article.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("news:article", args=[article.pk])
    assert (article.status, article.tags) == (ArticleStatus.DRAFT, ["劳模宣讲", "安全生产", "车间"])
    assert article.subtitle == "省劳模走进机加车间"

    page = writer.get(reverse("news:article", args=[article.pk]))
    assert page.context["submit_form"] is not None and page.context["approve_form"] is None
    response = writer.post(reverse("news:submit", args=[article.pk]), {"version": article.version})
    assert response.status_code == 302
    article.refresh_from_db()
    assert article.status == ArticleStatus.SUBMITTED
    # The author may no longer change it; the editor may.
    assert writer.get(reverse("news:edit", args=[article.pk])).status_code == 403
    edit = editor.get(reverse("news:edit", args=[article.pk]))
    assert edit.status_code == 200 and TITLE in text(edit)
    data = form_data(t, body=article.body + f"<div>{ADDED}</div>", version=article.version)
    response = editor.post(reverse("news:edit", args=[article.pk]), data)
    assert response.status_code == 302
    article.refresh_from_db()
    assert (article.status, article.editor) == (ArticleStatus.EDITED, t.editor)

    # The editor may not approve; the responsible editor does.
    response = editor.post(reverse("news:approve", args=[article.pk]), {"version": article.version})
    assert response.status_code == 403
    assert chief.get(reverse("news:article", args=[article.pk])).context["approve_form"]
    response = chief.post(reverse("news:approve", args=[article.pk]), {"version": article.version})
    assert response.status_code == 302
    article.refresh_from_db()
    assert (article.status, article.chief_editor) == (ArticleStatus.PUBLISHED, t.chief)

    public = client_for().get(reverse("news:public_article", args=[t.cd_union.pk, article.pk]))
    assert public.status_code == 200
    html = text(public)
    assert TITLE in html and ADDED in html
    assert 'id="credit-editor">赵敏<' in html  # the editor's full name
    assert 'id="credit-chief">chief_editor<' in html  # no full name: the username
    assert "王小明" in article_section(html)
    assert t.cd_union.name in html and "基层动态" in html  # the breadcrumb
    assert f"{reverse('news:search', args=[t.cd_union.pk])}?q=%E5%8A%B3" in html  # tag links


def test_return_withdraw_and_schedule_through_the_pages(t):
    article = services.submit_article(t.writer, draft(t))
    editor, chief = client_for(t.editor), client_for(t.chief)
    url = reverse("news:return_article", args=[article.pk])
    refused = editor.post(url, {"note": "  "})
    assert refused.status_code == 200
    assert refused.context["return_form"].errors
    response = editor.post(url, {"note": "请补充活动照片"})
    assert response.status_code == 302
    article.refresh_from_db()
    assert (article.status, article.return_note) == (ArticleStatus.RETURNED, "请补充活动照片")
    assert "请补充活动照片" in text(
        client_for(t.writer).get(reverse("news:article", args=[article.pk]))
    )

    # Scheduled: approved now, published by the worker at the set time.
    article = services.submit_article(t.writer, article)
    data = services.ArticleInput(article.channel_id, article.title, "王小明", article.body)
    article = services.update_article(t.editor, article, data=data, version=article.version)
    later = timezone.localtime() + datetime.timedelta(days=1)
    response = chief.post(
        reverse("news:approve", args=[article.pk]),
        {"version": article.version, "publish_at": later.strftime("%Y-%m-%dT%H:%M")},
    )
    assert response.status_code == 302
    article.refresh_from_db()
    assert article.status == ArticleStatus.APPROVED
    assert article.publish_at is not None and article.publish_at > timezone.now()
    public = reverse("news:public_article", args=[t.cd_union.pk, article.pk])
    assert client_for().get(public).status_code == 404

    refused = chief.post(reverse("news:withdraw", args=[article.pk]), {"reason": ""})
    assert refused.status_code == 200 and refused.context["withdraw_form"].errors
    chief.post(reverse("news:withdraw", args=[article.pk]), {"reason": "活动延期"})
    article.refresh_from_db()
    assert (article.status, article.withdrawn_reason) == (ArticleStatus.WITHDRAWN, "活动延期")


def test_a_refused_form_keeps_its_input(t):
    writer = client_for(t.writer)
    url = reverse("news:write", args=[t.cd_union.pk])
    response = writer.post(url, form_data(t, body="<p> </p>", subtitle="副标题保留"))
    assert response.status_code == 200
    assert not Article.objects.exists()
    form = response.context["form"]
    assert "body" in form.errors
    html = text(response)
    assert f'value="{TITLE}"' in html and 'value="副标题保留"' in html
    assert "劳模宣讲，安全生产, 车间" in html
    # A bad video link: the service refuses it on its field; the text typed stays.
    response = writer.post(url, form_data(t, video_url="ftp://example.com/v.mp4"))
    assert "video_url" in response.context["form"].errors
    assert "ftp://example.com/v.mp4" in text(response)
    assert "12月5日" in text(response)  # the body, in the editor's hidden input
    # A cover that is not a picture.
    fake = SimpleUploadedFile("cover.png", b"MZ not an image", content_type="image/png")
    response = writer.post(url, {**form_data(t), "cover": fake})
    assert response.status_code == 200 and response.context["form"].non_field_errors()
    assert not Article.objects.exists()


def test_a_stale_edit_is_refused_and_kept(t):
    article = draft(t)
    writer = client_for(t.writer)
    old_version = article.version
    data = services.ArticleInput(article.channel_id, "别人先改了", "王小明", article.body)
    services.update_article(t.writer, article, data=data, version=old_version)
    response = writer.post(
        reverse("news:edit", args=[article.pk]),
        form_data(t, title="我的改动", version=old_version),
    )
    assert response.status_code == 200
    assert messages_of(response)
    assert 'value="我的改动"' in text(response)
    assert Article.objects.get().title == "别人先改了"


def test_an_editor_of_mianyang_sees_nothing_of_chengdu(t):
    article = services.submit_article(t.writer, draft(t))
    revision = article.revisions.first()
    outsider = client_for(t.my_editor)
    for name, args in (
        ("news:article", [article.pk]),
        ("news:edit", [article.pk]),
        ("news:revision_diff", [article.pk, revision.pk]),
        ("news:desk", [t.cd_union.pk]),
        ("news:write", [t.cd_union.pk]),
    ):
        assert outsider.get(reverse(name, args=args)).status_code == 404, name
    for name in ("submit", "return_article", "approve", "withdraw", "recommend", "upload_image"):
        response = outsider.post(reverse(f"news:{name}", args=[article.pk]), {"note": "x"})
        assert response.status_code == 404, name
    article.refresh_from_db()
    assert article.status == ArticleStatus.SUBMITTED


def test_recommending_upward_from_the_page(t):
    article = published(t)
    writer = client_for(t.writer)
    page = writer.get(reverse("news:article", args=[article.pk]))
    assert page.context["may_recommend"]
    response = writer.post(reverse("news:recommend", args=[article.pk]))
    assert response.status_code == 302
    copy = Article.objects.get(origin=article)
    assert (copy.org, copy.status) == (t.chunxilu, ArticleStatus.SUBMITTED)
    page = writer.get(reverse("news:article", args=[article.pk]))
    assert not page.context["may_recommend"] and page.context["recommendations"] == [copy]
    # Published above, the copy links back to the original.
    city_editor = person("city_editor", t.chengdu, RoleKind.EDITOR)
    city_chief = person("city_chief", t.chengdu, RoleKind.CHIEF_EDITOR)
    data = services.ArticleInput(copy.channel_id, copy.title, copy.byline, copy.body)
    copy = services.update_article(city_editor, copy, data=data, version=copy.version)
    services.approve_article(city_chief, copy)
    html = text(client_for().get(reverse("news:public_article", args=[t.chunxilu.pk, copy.pk])))
    assert 'id="origin-link"' in html
    assert reverse("news:public_article", args=[t.cd_union.pk, article.pk]) in html


# --- revisions ----------------------------------------------------------------------------


def test_the_diff_page_shows_the_added_line(t):
    article = published(t)
    first, second = article.revisions.order_by("number")[:2]
    writer = client_for(t.writer)
    response = writer.get(reverse("news:revision_diff", args=[article.pk, second.pk]))
    assert response.status_code == 200
    assert ("+", ADDED) in response.context["lines"]
    assert (
        f'data-kind="add"><span class="mark" aria-hidden="true">+</span><ins>{ADDED}</ins>'
        in text(response)
    )
    assert response.context["base"] == first
    # The first revision has nothing before it; any two can be compared.
    assert writer.get(reverse("news:revision_diff", args=[article.pk, first.pk])).status_code == 200
    compare = writer.get(
        reverse("news:revision_diff", args=[article.pk, first.pk]),
        {"from": first.pk, "to": second.pk},
    )
    assert compare.status_code == 302
    assert writer.get(compare["Location"]).context["base"] == first
    missing = reverse("news:revision_diff", args=[article.pk, second.pk + 100])
    assert writer.get(missing).status_code == 404


# --- the public site ----------------------------------------------------------------------


def test_the_public_site_needs_no_login_and_shows_only_published_articles(t):
    hidden = draft(t, title="尚未发布的稿件")
    article = published(t)
    reader = client_for()
    org = t.cd_union.pk
    assert reader.get(reverse("news:public_article", args=[org, hidden.pk])).status_code == 404
    assert reader.get(reverse("news:public_article", args=[org, article.pk])).status_code == 200
    # An article shown under another union's address is not found.
    assert (
        reader.get(reverse("news:public_article", args=[t.my_union.pk, article.pk])).status_code
        == 404
    )
    site = reader.get(reverse("news:site", args=[org]))
    assert site.status_code == 200
    assert [a.pk for a in site.context["page"]] == [article.pk]
    assert "尚未发布的稿件" not in text(site)
    channel = reader.get(reverse("news:channel", args=[org, "grassroots"]))
    assert [a.pk for a in channel.context["page"]] == [article.pk]
    assert not reader.get(reverse("news:channel", args=[org, "news"])).context["page"].object_list
    assert reader.get(reverse("news:channel", args=[org, "nope"])).status_code == 404
    found = reader.get(reverse("news:search", args=[org]), {"q": "机加车间"})
    assert [a.pk for a in found.context["page"]] == [article.pk]
    assert (
        not reader.get(reverse("news:search", args=[org]), {"q": "尚未发布"})
        .context["page"]
        .object_list
    )
    index = reader.get(reverse("news:index"))
    assert [u.pk for u in index.context["unions"]] == [org]
    services.withdraw_article(t.chief, article, reason="核实后重发")
    assert reader.get(reverse("news:public_article", args=[org, article.pk])).status_code == 404
    assert not reader.get(reverse("news:index")).context["unions"]


def test_the_feed_is_atom_and_lists_the_article(t):
    article = published(t, summary="劳模宣讲进车间")
    response = client_for().get(reverse("news:feed", args=[t.cd_union.pk, "grassroots"]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/atom+xml")
    root = ET.fromstring(response.content)  # noqa: S314 (our own answer)
    assert root.tag == f"{ATOM}feed"
    entries = root.findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}title") for e in entries] == [TITLE]
    link = entries[0].find(f"{ATOM}link").get("href")
    assert link.endswith(reverse("news:public_article", args=[t.cd_union.pk, article.pk]))
    assert entries[0].findtext(f"{ATOM}summary") == "劳模宣讲进车间"
    assert entries[0].find(f"{ATOM}author").findtext(f"{ATOM}name") == "王小明"
    assert client_for().get(reverse("news:feed", args=[t.cd_union.pk, "nope"])).status_code == 404


def test_the_sitemap_lists_the_published_articles(t):
    article = published(t)
    hidden = draft(t)
    response = client_for().get(reverse("news:sitemap", args=[t.cd_union.pk]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/xml")
    root = ET.fromstring(response.content)  # noqa: S314 (our own answer)
    locs = [u.findtext(f"{SITEMAP}loc") for u in root.findall(f"{SITEMAP}url")]
    public = reverse("news:public_article", args=[t.cd_union.pk, article.pk])
    assert any(loc.startswith("http") and loc.endswith(public) for loc in locs)
    assert not any(loc.endswith(f"/articles/{hidden.pk}/") for loc in locs)


@pytest.mark.parametrize("payload", XSS)
def test_no_script_reaches_the_public_page(t, payload):
    writer = client_for(t.writer)
    writer.post(
        reverse("news:write", args=[t.cd_union.pk]),
        form_data(
            t,
            title=f"标题{payload}",
            subtitle=f"副题{payload}",
            byline=f"作者{payload}",
            body=f"<div>正文</div>{payload}",
            tags=f"标签{payload}",
            source=f"来源{payload}",
        ),
    )
    article = approved(t, services.submit_article(t.writer, Article.objects.get()))
    response = client_for().get(reverse("news:public_article", args=[t.cd_union.pk, article.pk]))
    assert response.status_code == 200
    html = text(response)
    shown = article_section(html).lower()
    for bad in (
        "<script",
        "onerror",
        "javascript:",
        "onload",
        "onclick",
        "<iframe",
        "<svg",
        "<style",
        "style=",
    ):
        assert bad not in shown, (payload, bad)
    assert "<script>alert" not in html.lower()
    assert "正文" in shown


# --- pictures and files -------------------------------------------------------------------


def test_pictures_in_the_text_are_served_while_the_article_may_be_read(t):
    article = draft(t)
    writer = client_for(t.writer)
    url = reverse("news:upload_image", args=[article.pk])
    response = writer.post(
        url, {"file": SimpleUploadedFile("现场.png", PNG, content_type="image/png")}
    )
    assert response.status_code == 200
    image = ArticleImage.objects.get()
    assert response.json() == {
        "url": reverse("news:image", args=[image.pk]),
        "href": reverse("news:image", args=[image.pk]),
    }
    refused = writer.post(
        url, {"file": SimpleUploadedFile("x.gif", b"GIF89a", content_type="image/gif")}
    )
    assert refused.status_code == 400 and refused.json()["error"]
    assert writer.post(url).status_code == 400
    # The desk's articles are for those who write for the union: a viewer finds none.
    viewer = client_for(t.users["chengdu_viewer"])
    upload = SimpleUploadedFile("a.png", PNG, content_type="image/png")
    assert viewer.post(url, {"file": upload}).status_code == 404
    image_url = reverse("news:image", args=[image.pk])
    assert writer.get(image_url).status_code == 200
    assert client_for().get(image_url).status_code == 404
    assert client_for(t.my_editor).get(image_url).status_code == 404
    article = services.submit_article(t.writer, article)
    article = approved(t, article, body=article.body + f'<img src="{image_url}">')
    served = client_for().get(image_url)
    assert served.status_code == 200 and served["Content-Type"] == "image/png"
    assert b"".join(served.streaming_content) == PNG
    html = text(client_for().get(reverse("news:public_article", args=[t.cd_union.pk, article.pk])))
    assert f'<img src="{image_url}"' in html


def test_cover_and_video_are_served_with_ranges(t):
    video = b"\x00\x00\x00\x18ftypmp42" + b"v" * 1000
    article = published(
        t,
        cover=SimpleUploadedFile("封面.png", PNG, content_type="image/png"),
        video=SimpleUploadedFile("片段.mp4", video, content_type="video/mp4"),
    )
    reader = client_for()
    html = text(reader.get(reverse("news:public_article", args=[t.cd_union.pk, article.pk])))
    assert f'preload="metadata" src="{reverse("news:video", args=[article.pk])}"' in html
    cover = reader.get(reverse("news:cover", args=[article.pk]))
    assert cover.status_code == 200 and cover["Content-Type"] == "image/png"
    part = reader.get(reverse("news:video", args=[article.pk]), HTTP_RANGE="bytes=0-9")
    assert part.status_code == 206
    assert part["Content-Range"] == f"bytes 0-9/{len(video)}"
    assert part.content == video[:10]
    whole = reader.get(reverse("news:video", args=[article.pk]))
    assert whole.status_code == 200 and b"".join(whole.streaming_content) == video
    assert (
        reader.get(reverse("news:video", args=[article.pk]), HTTP_RANGE="bytes=5000-").status_code
        == 416
    )
    no_video = published(t, title="没有视频的稿件")
    assert reader.get(reverse("news:video", args=[no_video.pk])).status_code == 404


def test_the_responsible_editor_adds_a_channel_and_others_only_see_them(tree):
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import reverse

    from gonghui.news.models import Channel
    from gonghui.orgs import services as org_services
    from gonghui.orgs.models import RoleKind
    from gonghui.orgs.scoping import SYSTEM

    chief = get_user_model().objects.create_user(username="chief_channels")
    org_services.grant_role(actor=SYSTEM, user=chief, org=tree.cd_union, kind=RoleKind.CHIEF_EDITOR)
    url = reverse("news:channels", kwargs={"org_id": tree.cd_union.pk})
    client = Client()
    client.force_login(chief)
    assert client.get(url).status_code == 200
    response = client.post(url, {"code": "model-workers", "name": "劳模风采"})
    assert response.status_code == 302
    assert Channel.objects.filter(org=tree.cd_union, code="model-workers", name="劳模风采").exists()
    again = client.post(url, {"code": "model-workers", "name": "重复"})
    assert again.status_code == 422 and 'value="重复"' in again.content.decode()
    writer = Client()
    writer.force_login(tree.users["cd_union_admin"])
    page = writer.get(url).content.decode()
    assert "劳模风采" in page and 'id="add-channel"' not in page
    refused = writer.post(url, {"code": "x", "name": "x"})
    assert refused.status_code == 403  # only the responsible editor sets up channels
    assert not Channel.objects.filter(code="x").exists()
    other = Client()
    other.force_login(tree.users["mianyang_admin"])
    assert other.get(url).status_code == 404
