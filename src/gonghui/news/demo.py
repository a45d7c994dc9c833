"""The demo's news: a few articles at the province, 成都 and the demo grassroots union,
through the whole editorial chain (author, 编辑 `bianji`, 责任编辑 `zebian` at 成都), one
grassroots article recommended to the union above and published there, one scheduled
for tomorrow, one still waiting for the editor."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

from django.contrib.auth import get_user_model
from django.utils import timezone

from gonghui.core.demo_steps import DemoContext
from gonghui.orgs.models import Member, Org, OrgKind
from gonghui.orgs.scoping import SYSTEM

STORIES = [
    (
        "省总工会召开全省工会学习贯彻全会精神宣讲动员会",
        "省总工会宣传部",
        "<p>会议要求各级工会推动宣讲进企业、进车间、进班组，引导广大职工听党话、跟党走。</p>",
        "news",
    ),
    (
        "成都市总工会举办职工电工焊工技能竞赛",
        "成都市总工会宣传部 李明",
        "<p>来自全市基层工会的选手同台竞技，前两名将代表成都参加全省决赛。</p>",
        "news",
    ),
]


@contextmanager
def _at(moment: datetime.datetime) -> Iterator[None]:
    with mock.patch("django.utils.timezone.now", return_value=moment):
        yield


def build_demo_news(context: DemoContext) -> None:
    from gonghui.news import services

    User = get_user_model()
    users = {
        u.username: u for u in User.objects.filter(username__in=["bianji", "zebian", "jiceng"])
    }
    editor, chief = users.get("bianji"), users.get("zebian")
    city = Org.objects.filter(parent=context.root, code="5101").first()
    if editor is None or chief is None or city is None:
        return
    today = context.today

    def moment(day: int, hour: int) -> datetime.datetime:
        local = datetime.datetime.combine(today + datetime.timedelta(days=day), datetime.time(hour))
        return timezone.make_aware(local)

    def through(org: Org, title: str, byline: str, body: str, code: str, day: int, writer=SYSTEM):
        channels = {c.code: c for c in services.channels_of(org)}
        with _at(moment(day, 9)):
            article = services.create_article(
                writer, org=org, data=services.ArticleInput(channels[code].pk, title, byline, body)
            )
            article = services.submit_article(writer, article)
        with _at(moment(day, 11)):
            data = services.ArticleInput(article.channel_id, title, byline, body)
            article = services.update_article(
                SYSTEM if not org.is_descendant_of(city) else editor,
                article,
                data=data,
                version=article.version,
            )
        with _at(moment(day, 15)):
            return services.approve_article(
                SYSTEM if not org.is_descendant_of(city) else chief, article
            )

    through(context.root, *STORIES[0], day=-6)
    through(city, *STORIES[1], day=-3)
    worker = User.objects.filter(username="zhigong").first()
    member = Member.objects.filter(user=worker).select_related("unit").first() if worker else None
    union = (
        Org.objects.filter(pk__in=member.unit.ancestor_ids, kind=OrgKind.GRASSROOTS).first()
        if member
        else None
    )
    if union is not None:
        writer = users.get("jiceng") or SYSTEM
        grassroots = through(
            union,
            f"{union.name.removesuffix('工会委员会')}开展劳模宣讲进车间活动",
            "基层通讯员 王小明",
            "<p>省劳动模范走进机加车间，与一线职工面对面交流，80余名职工参加。</p>",
            "grassroots",
            -2,
            writer,
        )
        with _at(moment(-1, 10)):
            copy = services.recommend_upward(writer, grassroots)
        parent_editor = editor if copy.org.is_descendant_of(city) else SYSTEM
        parent_chief = chief if copy.org.is_descendant_of(city) else SYSTEM
        with _at(moment(-1, 14)):
            data = services.ArticleInput(copy.channel_id, copy.title, copy.byline, copy.body)
            copy = services.update_article(parent_editor, copy, data=data, version=copy.version)
            services.approve_article(parent_chief, copy)
    channels = {c.code: c for c in services.channels_of(city)}
    with _at(moment(-1, 16)):
        waiting = services.create_article(
            SYSTEM,
            org=city,
            data=services.ArticleInput(
                channels["notices"].pk,
                "关于开展“我为职工办实事”项目征集的通知",
                "成都市总工会",
                "<p>请各基层工会于月底前报送本单位办实事项目。</p>",
            ),
        )
        services.submit_article(SYSTEM, waiting)
    context.say("news: articles through the editorial chain")
