"""The demo's pledges (我为职工办实事): a handful at the province, at the demo worker's city
and at the demo grassroots union — under way with progress updates (two with a photo),
one overdue, two completed on time, one draft — and the demo worker's comments.

Everything goes through `pledges.services`, run as if on the days it happened (relative
to the build day), so the figures flow into the roll-ups as in use and
`rebuild_rollups --check` agrees. The number of pledges is fixed: cheap at every scale.
Progress values are drawn from the demo's seed.
"""

from __future__ import annotations

import datetime
import random
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from unittest import mock

from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from gonghui.core.demo_steps import DemoContext
from gonghui.orgs import scoping
from gonghui.orgs.models import Member, Org, OrgKind, Role
from gonghui.orgs.scoping import SYSTEM, Perm
from gonghui.orgs.selectors import member_record_of
from gonghui.pledges import services
from gonghui.pledges.models import Pledge, PledgeCategory


@contextmanager
def _at(moment: datetime.datetime) -> Iterator[None]:
    """Run services as if it were `moment` (timezone.now, localdate, auto_now fields)."""
    with mock.patch("django.utils.timezone.now", return_value=moment):
        yield


def demo_png(colour: tuple[int, int, int], width: int = 48, height: int = 32) -> bytes:
    """A small solid-colour PNG, made here (the demo ships no image files)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(colour) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


@dataclass(frozen=True)
class Story:
    """One pledge: when it was published and what happened to it (days from the build day)."""

    where: str  # province, city, union
    category: str
    title: str
    target: str
    target_value: int | None
    target_unit: str
    published: int | None  # None: a draft
    deadline: int
    updates: tuple[int, ...] = ()  # days of progress updates
    completed: int | None = None
    photo: bool = False
    description: str = ""


STORIES = (
    Story(
        "province",
        PledgeCategory.SERVICES,
        "全省一线职工免费健康体检",
        "为10000名一线职工免费健康体检",
        10000,
        "人",
        published=-30,
        deadline=60,
        updates=(-20, -5),
        photo=True,
        description="<p>联合省内定点医院，为一线职工、农民工免费开展健康体检。</p>",
    ),
    Story(
        "province",
        PledgeCategory.PROTECTION,
        "“工会驿站”户外劳动者服务站点建设",
        "新建户外劳动者服务站点200个",
        200,
        "个",
        published=-20,
        deadline=90,
        updates=(-10,),
    ),
    Story(
        "city",
        PledgeCategory.SKILLS,
        "新就业形态劳动者技能提升培训",
        "为1000名快递员、外卖骑手开展技能培训",
        1000,
        "人",
        published=-25,
        deadline=45,
        updates=(-15, -3),
    ),
    Story(
        "city",
        PledgeCategory.HARDSHIP,
        "困难职工家庭“金秋助学”",
        "资助困难职工子女300名",
        300,
        "名",
        published=-40,
        deadline=-5,
        updates=(-30, -12),
        completed=-7,
    ),
    Story(
        "city",
        PledgeCategory.PROTECTION,
        "夏季“送清凉”慰问一线职工",
        "走访慰问高温作业一线职工5000人次",
        5000,
        "人次",
        published=-35,
        deadline=-3,
        updates=(-20,),
    ),
    Story(
        "union",
        PledgeCategory.SERVICES,
        "职工食堂提质改造",
        "改造职工食堂，新增就餐座位120个",
        120,
        "个",
        published=-14,
        deadline=30,
        updates=(-6,),
        photo=True,
    ),
    Story(
        "union",
        PledgeCategory.SKILLS,
        "班组长管理能力培训",
        "为40名班组长开展管理能力培训",
        40,
        "人",
        published=-20,
        deadline=10,
        updates=(-9,),
        completed=-2,
    ),
    Story(
        "union",
        PledgeCategory.CULTURE,
        "职工子女暑期托管班",
        "开办职工子女暑期托管班",
        None,
        "",
        published=None,
        deadline=40,
    ),
)

UPDATE_TEXTS = (
    "已完成阶段性任务，相关工作按计划推进。",
    "召开专题推进会，落实责任到人，进度明显加快。",
    "本阶段工作已完成，职工反响良好。",
)
CLOSING_NOTE = "各项任务已全部完成，经职工代表评议，满意度较高。"
COMMENTS = ("为工会点赞！希望以后每年都能办。", "什么时候能轮到我们车间？")
COLOURS = ((200, 40, 40), (40, 120, 200), (60, 160, 80))


class PledgeStory:
    def __init__(self, context: DemoContext) -> None:
        self.context = context
        self.today = context.today
        self.rng = random.Random(f"{context.seed}:{context.scale}:pledges")
        User = get_user_model()
        self.users = {
            u.username: u
            for u in User.objects.filter(username__in=["sheng", "chengdu", "jiceng", "zhigong"])
        }

    def moment(self, day: int, hour: int = 10) -> datetime.datetime:
        local = datetime.datetime.combine(
            self.today + datetime.timedelta(days=day), datetime.time(hour)
        )
        return min(timezone.make_aware(local), timezone.now())

    def day(self, offset: int) -> datetime.date:
        return self.today + datetime.timedelta(days=offset)

    def demo_union(self) -> Org | None:
        """The demo worker's grassroots union (also the `jiceng` cadre's)."""
        member = (
            Member.objects.filter(user=self.users.get("zhigong")).select_related("unit").first()
        )
        if member is not None:
            if member.unit.kind == OrgKind.GRASSROOTS:
                return member.unit
            return Org.objects.filter(
                pk__in=member.unit.ancestor_ids, kind=OrgKind.GRASSROOTS
            ).first()
        role = Role.objects.filter(user=self.users.get("jiceng")).select_related("org").first()
        return role.org if role else None

    def places(self) -> dict[str, tuple[Org, Any]]:
        """Where the stories happen, and the cadre who acts there (else the system)."""
        root = self.context.root
        union = self.demo_union()
        city = (
            Org.objects.filter(pk=union.ancestor_1).first()
            if union is not None and union.depth >= 1
            else Org.objects.filter(parent=root).order_by("path").first()
        )
        places: dict[str, tuple[Org, Any]] = {"province": (root, self.users.get("sheng", SYSTEM))}
        if city is not None:
            places["city"] = (city, self.users.get("chengdu", SYSTEM))
        if union is not None:
            places["union"] = (union, self.users.get("jiceng", SYSTEM))
        return places

    def run(self) -> list[Pledge]:
        places = self.places()
        pledges = []
        for number, story in enumerate(STORIES):
            if story.where not in places:
                continue
            org, actor = places[story.where]
            if not (actor is SYSTEM or scoping.can(actor, Perm.PLEDGE_MANAGE, org)):
                actor = SYSTEM
            pledges.append(self.tell(number, story, org, actor))
        self.comment(pledges)
        self.context.say(f"pledges: {len(pledges)} at {len({p.org_id for p in pledges})} unions")
        return pledges

    def tell(self, number: int, story: Story, org: Org, actor: Any) -> Pledge:
        created = story.published - 3 if story.published is not None else -2
        with _at(self.moment(created, 9)):
            pledge = services.create_pledge(
                actor=actor,
                org=org,
                data=services.PledgeInput(
                    title=story.title,
                    category=story.category,
                    target=story.target,
                    target_value=story.target_value,
                    target_unit=story.target_unit,
                    deadline=self.day(story.deadline),
                    description=story.description or f"<p>{story.target}。</p>",
                ),
            )
        if story.published is None:
            return pledge
        with _at(self.moment(story.published, 9)):
            pledge = services.publish_pledge(actor=actor, pledge=pledge)
        steps = len(story.updates) + (1 if story.completed is not None else 0)
        value = 0
        for index, day in enumerate(story.updates):
            share = (index + 1) / max(steps, 1) * self.rng.uniform(0.8, 1.0)
            value = max(value, round((story.target_value or 100) * share))
            photos = []
            if story.photo and index == len(story.updates) - 1:
                colour = COLOURS[number % len(COLOURS)]
                photos = [
                    SimpleUploadedFile(
                        f"现场照片{number + 1}.png", demo_png(colour), content_type="image/png"
                    )
                ]
            with _at(self.moment(day, 16)):
                services.add_progress(
                    actor=actor,
                    pledge=pledge,
                    text=self.rng.choice(UPDATE_TEXTS),
                    progress=value,
                    day=self.day(day),
                    photos=photos,
                )
        if story.completed is not None:
            with _at(self.moment(story.completed, 11)):
                services.add_progress(
                    actor=actor,
                    pledge=pledge,
                    text="全部任务完成。",
                    progress=story.target_value or value,
                    day=self.day(story.completed),
                )
                pledge = services.complete_pledge(actor=actor, pledge=pledge, note=CLOSING_NOTE)
        pledge.refresh_from_db()
        return pledge

    def comment(self, pledges: list[Pledge]) -> None:
        """The demo worker comments on two pledges of their own union and city."""
        worker = self.users.get("zhigong")
        if worker is None or member_record_of(worker) is None:
            return
        member = member_record_of(worker)
        assert member is not None
        shown = [p for p in pledges if p.is_public and services.in_audience(p, member)]
        for text, pledge in zip(COMMENTS, shown[-2:], strict=False):
            with _at(self.moment(-1, 20)):
                services.add_comment(actor=worker, pledge=pledge, text=text)


def build_demo_pledges(context: DemoContext) -> list[Pledge]:
    """The demo step (registered in PledgesConfig.ready, after learning)."""
    return PledgeStory(context).run()
