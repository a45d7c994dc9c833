"""The editorial chain: write, submit, edit (revisions kept and compared), approve,
publish now or on schedule (once), withdraw; recommend upward; sanitising; figures."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import Http404
from django.utils import timezone

from gonghui.news import figures, selectors, services
from gonghui.news.models import Article, ArticleStatus, Channel
from gonghui.orgs import services as org_services
from gonghui.orgs.models import RoleKind
from gonghui.orgs.scoping import SYSTEM
from gonghui.stats import services as stats
from gonghui.stats.models import FactDelta
from gonghui.stats.selectors import live_subtree_figures

XSS = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    '<a href="javascript:alert(1)">点我</a>',
    '<p style="background:url(javascript:alert(1))">样式</p>',
    "<svg onload=alert(1)>",
    '<iframe src="https://evil.example"></iframe>',
    "<style>body{display:none}</style>",
]


def user(name: str, org: Any, kind: str) -> Any:
    u = get_user_model().objects.create_user(username=name)
    org_services.grant_role(actor=SYSTEM, user=u, org=org, kind=kind)
    return u


@pytest.fixture
def t(tree) -> Any:
    tree.writer = tree.users["cd_union_admin"]
    tree.editor = user("editor", tree.cd_union, RoleKind.EDITOR)
    tree.chief = user("chief_editor", tree.cd_union, RoleKind.CHIEF_EDITOR)
    tree.city_editor = user("city_editor", tree.chengdu, RoleKind.EDITOR)
    tree.city_chief = user("city_chief", tree.chengdu, RoleKind.CHIEF_EDITOR)
    yield tree
    stats.fold_pending()
    assert not FactDelta.objects.exists()
    assert stats.rebuild(check=True) == []


def draft(t: Any, **extra: Any) -> Article:
    channel = services.channels_of(t.cd_union)[1]  # 基层动态
    data = services.ArticleInput(
        channel.pk,
        extra.pop("title", "华信公司开展劳模宣讲进车间活动"),
        extra.pop("byline", "王小明"),
        extra.pop("body", "<p>12月5日，华信公司工会邀请省劳动模范走进机加车间。</p>"),
        **extra,
    )
    return services.create_article(t.writer, org=t.cd_union, data=data)


def through_editing(t: Any, article: Article) -> Article:
    article = services.submit_article(t.writer, article)
    data = services.ArticleInput(
        article.channel_id,
        article.title,
        article.byline,
        article.body + "<p>活动吸引一线职工80余人参加。</p>",
    )
    return services.update_article(t.editor, article, data=data, version=article.version)


def figure(org: Any, name: str) -> int:
    return live_subtree_figures([org], [name])[org.pk][name]


def test_the_whole_chain_and_the_three_names(t):
    article = draft(t)
    assert (article.status, article.revisions.count()) == (ArticleStatus.DRAFT, 1)
    with pytest.raises(ValidationError) as info:
        services.approve_article(t.chief, article)  # a draft: nobody edited it yet
    assert info.value.code == "status"
    article = through_editing(t, article)
    assert (article.status, article.editor) == (ArticleStatus.EDITED, t.editor)
    with pytest.raises(PermissionDenied):
        services.approve_article(t.editor, article)
    article = services.approve_article(t.chief, article)
    assert article.status == ArticleStatus.PUBLISHED
    assert (article.created_by, article.editor, article.chief_editor) == (
        t.writer,
        t.editor,
        t.chief,
    )
    first, second = article.revisions.order_by("number")[:2]
    changes = selectors.diff(first, second)
    assert ("+", "活动吸引一线职工80余人参加。") in changes
    assert figure(t.chengdu, figures.PUBLISHED) == 1
    assert figure(t.chengdu, figures.channel_metric("grassroots")) == 1
    assert list(selectors.public_articles(t.cd_union)) == [article]


def test_the_approve_step_needs_an_edited_article(t):
    article = services.submit_article(t.writer, draft(t))
    with pytest.raises(ValidationError) as info:
        services.approve_article(t.chief, article)
    assert info.value.code == "status"


def test_returned_articles_go_back_to_the_author(t):
    article = services.submit_article(t.writer, draft(t))
    with pytest.raises(ValidationError):
        services.return_article(t.editor, article, note=" ")
    article = services.return_article(t.editor, article, note="请补充活动照片")
    assert (article.status, article.return_note) == (ArticleStatus.RETURNED, "请补充活动照片")
    article = services.submit_article(t.writer, article)
    assert article.status == ArticleStatus.SUBMITTED


def test_scheduled_publishing_happens_once(t):
    article = through_editing(t, draft(t))
    later = timezone.now() + datetime.timedelta(hours=2)
    article = services.approve_article(t.chief, article, publish_at=later)
    assert article.status == ArticleStatus.APPROVED
    assert services.publish_due() == 0
    assert services.publish_due(now=later + datetime.timedelta(minutes=1)) == 1
    assert services.publish_due(now=later + datetime.timedelta(minutes=2)) == 0  # a restart
    article.refresh_from_db()
    assert article.status == ArticleStatus.PUBLISHED
    assert figure(t.cd_union, figures.PUBLISHED) == 1


def test_withdrawing_takes_the_figures_back(t):
    article = services.approve_article(t.chief, through_editing(t, draft(t)))
    with pytest.raises(ValidationError):
        services.withdraw_article(t.chief, article, reason="")
    services.withdraw_article(t.chief, article, reason="数据有误，核实后重发")
    assert figure(t.chengdu, figures.PUBLISHED) == 0
    assert not selectors.public_articles(t.cd_union).exists()


@pytest.mark.parametrize("payload", XSS)
def test_injection_never_reaches_readers(t, payload):
    article = draft(
        t, title=f"标题{payload}", body=f"<p>正文</p>{payload}", byline=f"作者{payload}"
    )
    stored = " ".join([article.title, article.body, article.byline]).lower()
    for bad in ("<script", "onerror", "javascript:", "onload", "<iframe", "<style", "style="):
        assert bad not in stored, (payload, stored)


def test_uploads_are_checked(t):
    fake = SimpleUploadedFile("cover.png", b"MZ not an image", content_type="image/png")
    with pytest.raises(ValidationError) as info:
        draft(t, cover=fake)
    assert info.value.code == "file_content"
    exe = SimpleUploadedFile("video.exe", b"MZ", content_type="video/mp4")
    with pytest.raises(ValidationError) as info:
        draft(t, video=exe)
    assert info.value.code == "file_type"
    assert not Article.objects.exists()


def test_an_editor_of_one_union_cannot_touch_another(t):
    article = services.submit_article(t.writer, draft(t))
    outsider = user("my_editor", t.mianyang, RoleKind.EDITOR)
    data = services.ArticleInput(article.channel_id, "改", "某人", "<p>改写</p>")
    with pytest.raises(Http404):
        services.update_article(outsider, article, data=data, version=article.version)
    with pytest.raises(Http404):
        services.return_article(outsider, article, note="x")
    assert Article.objects.get().title == "华信公司开展劳模宣讲进车间活动"


def test_recommend_upward_and_accepted(t):
    article = services.approve_article(t.chief, through_editing(t, draft(t)))
    copy = services.recommend_upward(t.writer, article)
    assert (copy.org, copy.origin, copy.status, copy.channel.code) == (
        t.chunxilu,
        article,
        ArticleStatus.SUBMITTED,
        "grassroots",
    )
    with pytest.raises(ValidationError) as info:
        services.recommend_upward(t.writer, article)
    assert info.value.code == "duplicate"
    assert figure(t.cd_union, figures.RECOMMENDED) == 1
    # 春熙路's own editors take it through (the city's roles cover it too).
    data = services.ArticleInput(copy.channel_id, copy.title, copy.byline, copy.body)
    copy = services.update_article(t.city_editor, copy, data=data, version=copy.version)
    services.approve_article(t.city_chief, copy)
    assert figure(t.cd_union, figures.ACCEPTED) == 1
    # 春熙路's subtree: its copy and 华信's original.
    assert figure(t.chunxilu, figures.PUBLISHED) == 2


def test_channels_are_per_union(t):
    assert [c.name for c in services.channels_of(t.chengdu)] == [
        "要闻",
        "基层动态",
        "视讯",
        "通知公告",
    ]
    services.add_channel(t.city_chief, org=t.chengdu, code="model-workers", name="劳模风采")
    with pytest.raises(ValidationError):
        services.add_channel(t.city_chief, org=t.chengdu, code="model-workers", name="重复")
    with pytest.raises(PermissionDenied):
        services.add_channel(t.city_editor, org=t.chengdu, code="x", name="x")
    assert Channel.objects.filter(org=t.chengdu).count() == 5
