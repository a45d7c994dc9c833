"""The demo's activities: lectures, study sessions and trainings across grassroots unions in
several cities, most already held with their members checked in, some upcoming, one
cancelled; lectures held since the demo notice linked to its lecture requirement
(集中宣讲进企业、进车间、进班组), so the notice's figures show what they reached.

Everything goes through `activities.services` — scheduling, check-in (by the cadre's
roster, or the member's own QR scan at the moment it happened), marking held, registering,
cancelling — so the attendances, members and units reached flow into the roll-ups as
they do in use, and `rebuild_rollups --check` agrees. Which unions, which members and
when are drawn from the demo's seed, relative to the build day.

The demo worker (account `zhigong`) attended a lecture linked to the notice, is in the
middle of a three-day training (open for check-in now, with the code shown on the
activity) and is registered for an upcoming lecture; the demo grassroots union (account
`jiceng`, the same union) organised them. At the Sichuan scale only a sample of unions
(a few per city) gets activities, so the big demo stays about as large as it was.
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from unittest import mock

from django.contrib.auth import get_user_model
from django.db.models import prefetch_related_objects
from django.utils import timezone

from gonghui.activities import services
from gonghui.activities.models import Activity, ActivityKind, CheckInMethod
from gonghui.core.demo_steps import DemoContext
from gonghui.orgs.models import Member, MemberStatus, Org, OrgKind, OrgStatus, Role
from gonghui.orgs.scoping import SYSTEM


@dataclass(frozen=True)
class Plan:
    unions_per_city: int  # besides the demo union
    dense_cities: tuple[str, ...]  # these get twice as many
    max_unions: int
    max_checkins: int  # per activity


PLANS = {
    "tiny": Plan(unions_per_city=4, dense_cities=(), max_unions=8, max_checkins=40),
    "small": Plan(unions_per_city=1, dense_cities=("5101", "5107"), max_unions=24, max_checkins=40),
    "sichuan": Plan(
        unions_per_city=2, dense_cities=("5101", "5107"), max_unions=48, max_checkins=60
    ),
}

LECTURES = (
    "劳模工匠宣讲进车间",
    "学习贯彻全会精神集中宣讲",
    "“微宣讲”进班组",
    "职工宣讲员分众化宣讲",
    "工会法律知识宣讲",
)
STUDIES = (
    "会员职工集中学习",
    "“职工书屋”读书分享会",
    "中心组专题学习",
    "班前会专题学习",
)
TRAININGS = (
    "安全生产技能培训",
    "班组长管理能力培训",
    "职业技能提升培训",
    "新入职职工岗前培训",
)
SPEAKERS = ("省劳动模范 王建军", "大国工匠 李红梅", "市总工会宣讲团 陈志强", "区职工宣讲员 刘晓东")
PLACES = ("职工之家", "三楼会议室", "车间班前会区", "培训中心", "职工书屋")
CANCEL_REASON = "因台风暴雨预警，为保障职工安全，本次活动延期举办，时间另行通知。"


@contextmanager
def _at(moment: datetime.datetime) -> Iterator[None]:
    """Run services as if it were `moment` (timezone.now, auto_now fields)."""
    with mock.patch("django.utils.timezone.now", return_value=moment):
        yield


class ActivityStory:
    def __init__(self, context: DemoContext) -> None:
        self.context = context
        self.today = context.today
        self.plan = PLANS.get(context.scale, PLANS["sichuan"])
        self.rng = random.Random(f"{context.seed}:{context.scale}:activities")
        User = get_user_model()
        self.users = {
            u.username: u for u in User.objects.filter(username__in=["jiceng", "zhigong"])
        }
        self.requirement_id = self._lecture_requirement()
        self.activities: list[Activity] = []
        self.checkins: list[tuple[datetime.datetime, Activity, Member, str]] = []

    def moment(self, day: int, hour: int, minute: int = 0) -> datetime.datetime:
        local = datetime.datetime.combine(
            self.today + datetime.timedelta(days=day), datetime.time(hour, minute)
        )
        return timezone.make_aware(local)

    def _lecture_requirement(self) -> int | None:
        """The demo notice's lecture requirement, when the notice step ran."""
        from gonghui.notices.models import NoticeStatus, Requirement, RequirementKind

        return (
            Requirement.objects.filter(
                kind=RequirementKind.LECTURE,
                relay__isnull=True,
                notice__issuer=self.context.root,
                notice__status=NoticeStatus.ISSUED,
            )
            .order_by("notice_id", "position", "pk")
            .values_list("pk", flat=True)
            .first()
        )

    # --- which unions -----------------------------------------------------------------

    def demo_union(self) -> Org | None:
        """The demo worker's grassroots union (also the `jiceng` cadre's)."""
        worker = self.users.get("zhigong")
        member = Member.objects.filter(user=worker).select_related("unit").first()
        if member is not None:
            if member.unit.kind == OrgKind.GRASSROOTS:
                return member.unit
            return Org.objects.filter(
                pk__in=member.unit.ancestor_ids, kind=OrgKind.GRASSROOTS
            ).first()
        role = Role.objects.filter(user=self.users.get("jiceng")).select_related("org").first()
        return role.org if role else None

    def unions(self, demo: Org | None) -> list[Org]:
        """A few grassroots unions per city, drawn by the seed (ordered by path)."""
        plan = self.plan
        root = self.context.root
        cities = list(Org.objects.filter(parent=root).order_by("path"))
        chosen: list[Org] = [demo] if demo is not None else []
        for city in cities:
            wanted = plan.unions_per_city * (2 if city.code in plan.dense_cities else 1)
            ids = list(
                Org.objects.filter(
                    ancestor_1=city.pk, kind=OrgKind.GRASSROOTS, status=OrgStatus.ACTIVE
                )
                .order_by("path")
                .values_list("pk", flat=True)
            )
            picked = sorted(self.rng.sample(ids, min(wanted, len(ids))))
            chosen += [
                org
                for org in Org.objects.filter(pk__in=picked).order_by("path")
                if demo is None or org.pk != demo.pk
            ]
        return chosen[: plan.max_unions]

    # --- building blocks --------------------------------------------------------------

    def schedule(
        self,
        org: Org,
        kind: str,
        title: str,
        *,
        day: int,
        hour: int,
        hours: int = 2,
        days: int = 0,
        venue: Org | None = None,
        actor: Any = SYSTEM,
        requirement: bool = False,
        **extra: Any,
    ) -> Activity:
        starts = self.moment(day, hour)
        ends = self.moment(day + days, hour + hours if not days else 17)
        rng = self.rng
        # Scheduled a few days ahead (or earlier today for one scheduled late).
        scheduled = min(starts - datetime.timedelta(days=rng.randint(2, 6)), timezone.now())
        with _at(scheduled):
            activity = services.schedule_activity(
                actor,
                org=org,
                data=services.ActivityInput(
                    kind=kind,
                    title=title,
                    starts_at=starts,
                    ends_at=ends,
                    venue_org=venue,
                    speaker=rng.choice(SPEAKERS) if kind == ActivityKind.LECTURE else "",
                    place=f"{(venue or org).name.removesuffix('工会委员会')}{rng.choice(PLACES)}",
                    description=f"{title}。请会员职工准时参加，现场扫码或输入签到码签到。",
                    requirement_id=self.requirement_id if requirement else None,
                    **extra,
                ),
            )
        self.activities.append(activity)
        return activity

    def audience(self, activity: Activity) -> list[Member]:
        venue = activity.venue_org
        members = Member.objects.filter(
            status=MemberStatus.ACTIVE, **{f"unit__ancestor_{venue.depth}": venue.pk}
        ).select_related("unit")
        return list(members.order_by("pk"))

    def attend(
        self,
        activity: Activity,
        share: float,
        *,
        must: Member | None = None,
        absent: Member | None = None,
    ) -> int:
        """A share of the audience will check in: by their own QR scan around the start,
        or (one activity in three) by the cadre's roster typed in after the end. Planned
        here, done by `check_in_all` in the order they happened."""
        rng = self.rng
        audience = [m for m in self.audience(activity) if absent is None or m.pk != absent.pk]
        count = min(max(1, round(len(audience) * share)), self.plan.max_checkins, len(audience))
        present = rng.sample(audience, count) if audience else []
        if must is not None and must not in present:
            present = [must, *present[: max(0, count - 1)]]
        by_roster = rng.random() < 0.34 and must is None
        for member in sorted(present, key=lambda m: m.pk):
            if by_roster:
                method = CheckInMethod.ROSTER
                at = activity.ends_at + datetime.timedelta(minutes=rng.randint(5, 50))
            else:
                method = CheckInMethod.QR
                at = activity.starts_at + datetime.timedelta(minutes=rng.randint(-15, 20))
            self.checkins.append((at, activity, member, method))
        return len(present)

    def check_in_all(self) -> int:
        """Every planned check-in, in the order they happened: a check-in taken live (the
        QR scan) is the member's latest fact, as in use, so the service's live path (no
        read of earlier marks) is right."""
        self.checkins.sort(key=lambda c: (c[0], c[1].pk, c[2].pk))
        # The audience check reads each activity's chosen units: once, not per member.
        prefetch_related_objects(self.activities, "audience_units")
        for at, activity, member, method in self.checkins:
            services.check_in(
                activity=activity,
                member=member,
                method=method,
                by=member.user if member.user_id else None,
                now=at,
            )
        return len(self.checkins)

    # --- the story --------------------------------------------------------------------

    def run(self) -> list[Activity]:
        demo = self.demo_union()
        for union in self.unions(demo):
            if demo is not None and union.pk == demo.pk:
                self.demo_union_story(union)
            else:
                self.union_story(union)
        checked_in = self.check_in_all()
        self.cancelled(demo)
        self.context.say(
            f"activities: {len(self.activities)} in {len({a.org_id for a in self.activities})} "
            f"unions, {checked_in} check-ins"
        )
        return self.activities

    def union_story(self, union: Org) -> None:
        """One to three activities: mostly held in the last two weeks, some upcoming."""
        rng = self.rng
        branches = list(Org.objects.filter(parent=union, status=OrgStatus.ACTIVE).order_by("path"))
        for _ in range(rng.randint(1, 3)):
            kind = rng.choices(
                (ActivityKind.LECTURE, ActivityKind.STUDY, ActivityKind.TRAINING), (5, 3, 2)
            )[0]
            title = rng.choice(
                {
                    ActivityKind.LECTURE: LECTURES,
                    ActivityKind.STUDY: STUDIES,
                    ActivityKind.TRAINING: TRAININGS,
                }[kind]
            )
            venue = rng.choice(branches) if branches and rng.random() < 0.3 else None
            if rng.random() < 0.7:  # held, since the notice came (day -12 on)
                day = -rng.randint(1, 12)
                linked = kind == ActivityKind.LECTURE and self.requirement_id is not None
                activity = self.schedule(
                    union,
                    kind,
                    title,
                    day=day,
                    hour=rng.choice((9, 10, 14, 15)),
                    venue=venue,
                    requirement=linked and rng.random() < 0.8,
                )
                if rng.random() < 0.1:  # held, attendance kept on paper only
                    with _at(activity.ends_at):
                        services.mark_held(SYSTEM, activity)
                else:
                    self.attend(activity, rng.uniform(0.4, 0.9))
            else:
                self.schedule(
                    union,
                    kind,
                    title,
                    day=rng.randint(1, 14),
                    hour=rng.choice((9, 10, 14, 15)),
                    venue=venue,
                    requirement=kind == ActivityKind.LECTURE and self.requirement_id is not None,
                )

    def demo_union_story(self, union: Org) -> None:
        """The demo worker's union (the `jiceng` cadre's): a lecture the worker attended,
        a three-day training under way, an upcoming lecture they registered for, and a
        county lecture sent down (送学上门) last week."""
        cadre = self.users.get("jiceng") or SYSTEM
        worker = self.users.get("zhigong")
        member = Member.objects.filter(user=worker).select_related("unit").first()
        attended = self.schedule(
            union,
            ActivityKind.LECTURE,
            "学习贯彻全会精神集中宣讲",
            day=-5,
            hour=14,
            actor=cadre,
            requirement=self.requirement_id is not None,
        )
        self.attend(attended, 0.8, must=member)
        training = self.schedule(
            union,
            ActivityKind.TRAINING,
            "“蓉城工匠”职业技能提升培训班",
            day=-1,
            hour=9,
            days=3,
            actor=cadre,
        )
        self.attend(training, 0.5, absent=member)  # the worker has not checked in yet
        upcoming = self.schedule(
            union,
            ActivityKind.LECTURE,
            "劳模工匠宣讲进车间、进班组",
            day=3,
            hour=14,
            actor=cadre,
            capacity=60,
            registration_required=True,
            requirement=self.requirement_id is not None,
        )
        if member is not None and worker is not None:
            services.register(worker, upcoming, member)
        self.schedule(
            union, ActivityKind.STUDY, "“职工书屋”读书分享会", day=8, hour=15, actor=cadre
        )
        county = Org.objects.filter(pk__in=union.ancestor_ids, kind=OrgKind.COUNTY).first()
        if county is not None:
            sent = self.schedule(
                county,
                ActivityKind.LECTURE,
                "区总工会宣讲团送学上门",
                day=-8,
                hour=10,
                venue=union,
                requirement=self.requirement_id is not None,
            )
            self.attend(sent, 0.6)

    def cancelled(self, demo: Org | None) -> None:
        """One upcoming activity is cancelled (the weather), with its reason; not one of
        the demo union's, whose worker is to see theirs still on."""
        upcoming = [
            a
            for a in self.activities
            if a.starts_at > self.moment(1, 0) and (demo is None or a.org_id != demo.pk)
        ]
        if not upcoming:
            return
        victim = sorted(upcoming, key=lambda a: a.pk)[len(upcoming) // 2]
        services.cancel_activity(SYSTEM, victim, reason=CANCEL_REASON)


def build_demo_activities(context: DemoContext) -> list[Activity]:
    """The demo step (to be registered in ActivitiesConfig.ready, after the notice)."""
    return ActivityStory(context).run()
