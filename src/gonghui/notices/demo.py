"""The demo's notice: 四川省总工会 issues 川工发〔<year>〕12号 to every city, county,
township and grassroots union with the five kinds of requirements of a real one;
成都市总工会 relays it with one more requirement and earlier deadlines, and the county of
the demo grassroots union passes it on; the unions read, acknowledge, plan and report
over the following days; the unions above accept or return the reports; the late ones
are flagged overdue.

The story starts 14 days before the build day and runs up to it. Drafting, issuing,
relaying, reporting and reviewing go through `notices.services` with the clock set to
their moment (`_at`), so the audit log and the dates read like a notice in progress.
The thousands of readings, acknowledgements and plans are written in bulk with their
moments (as the demo's members are); the roll-up rebuild that ends the demo computes the
supervision figures from it all, so `rebuild_rollups --check` agrees. Which union does
what is drawn from the demo's seed: the same seed gives the same story, relative to the
build day. The demo grassroots union (account `jiceng`) is left with everything to do.
"""

from __future__ import annotations

import dataclasses
import datetime
import random
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any
from unittest import mock

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from gonghui.core.demo_steps import DemoContext
from gonghui.notices import selectors, services
from gonghui.notices.models import Dispatch, Measure, Notice, RequirementKind
from gonghui.notices.services import RequirementInput
from gonghui.orgs.models import Org, OrgKind, Role
from gonghui.orgs.scoping import PERMISSIONS_BY_ROLE, SYSTEM, Perm

TITLE = "关于在全省职工中深入开展学习宣传贯彻活动的通知"
RELAY_TITLE = "关于转发《关于在全省职工中深入开展学习宣传贯彻活动的通知》的通知"
AUDIENCE = [OrgKind.CITY, OrgKind.COUNTY, OrgKind.TOWNSHIP, OrgKind.GRASSROOTS]

BODY = """\
<p>各市（州）总工会，各县（市、区）总工会，各乡镇（街道）工会，各基层工会：</p>
<p>为深入学习宣传贯彻党的创新理论和省委决策部署，引导全省广大职工坚定信心、团结奋斗、\
建功立业，省总工会决定在全省职工中深入开展学习宣传贯彻活动。现将有关事项通知如下。</p>
<h3>一、分层分类开展学习培训</h3>
<p>各级工会要把学习宣传贯彻作为工会干部教育培训和会员职工教育的重要内容，通过中心组学习、\
专题培训班、“职工书屋”、网上答题等形式组织集中学习，会员职工参学率不低于80%。</p>
<h3>二、推动集中宣讲进企业、进车间、进班组</h3>
<p>组建劳模工匠宣讲团和职工宣讲员队伍，采取集中宣讲、分众化宣讲、“微宣讲”等方式，\
把宣讲送到生产一线。每个基层工会至少组织开展1场集中宣讲。</p>
<h3>三、深入开展劳动和技能竞赛</h3>
<p>围绕全省重点项目、重点产业和重大工程，广泛开展劳动竞赛和职业技能竞赛，以赛促学、\
以赛促干。每个县（市、区）总工会至少组织开展1项劳动和技能竞赛。</p>
<h3>四、用心用情服务职工</h3>
<p>把学习宣传贯彻成效体现到为职工办实事上，深入开展职工维权、困难职工帮扶、“金秋助学”、\
“送清凉”等服务，每个基层工会至少办成1件职工急难愁盼的实事。</p>
<h3>五、加强宣传引导</h3>
<p>充分运用工会报刊、网站和新媒体平台，及时宣传各地各单位的好做法、好经验，\
每个县（市、区）总工会报送宣传信息不少于2篇。</p>
<p>请各级工会按期签收本通知，结合实际制定实施方案，并按期通过平台报送活动开展情况。\
活动开展情况将纳入年度工会工作目标考核。</p>
<p style="text-align:right">四川省总工会</p>
"""

RELAY_NOTE = """\
<p>各区（市）县总工会，各乡镇（街道）工会，各基层工会：</p>
<p>现将四川省总工会《关于在全省职工中深入开展学习宣传贯彻活动的通知》转发给你们，\
请结合实际认真贯彻落实。结合成都实际，市总工会增加以下要求：各区（市）县总工会结合\
“蓉城工匠”培育，至少举办1期职工技能培训班。请提前签收并报送。</p>
"""

PLAN = (
    "一、成立活动工作小组，工会主席任组长，明确专人负责。\n"
    "二、本月内组织会员职工集中学习，开展网上答题，力争全员参学。\n"
    "三、邀请劳模工匠宣讲进车间、进班组，利用班前会开展“微宣讲”。\n"
    "四、结合岗位开展技能比武，走访慰问困难职工，办好职工关心的实事。\n"
    "五、在厂务公开栏、职工微信群及时宣传活动开展情况。"
)

RETURN_COMMENT = "请补充宣讲活动的签到表和现场照片等佐证材料，并写明参学会员人数。"


def _requirements(today: datetime.date) -> list[RequirementInput]:
    def day(n: int) -> datetime.date:
        return today + datetime.timedelta(days=n)

    return [
        RequirementInput(
            RequirementKind.STUDY,
            "组织工会干部和会员职工集中学习，参学率不低于80%",
            Measure.SHARE,
            Decimal(80),
            due=day(21),
        ),
        RequirementInput(
            RequirementKind.LECTURE,
            "集中宣讲进企业、进车间、进班组，每个基层工会至少1场",
            Measure.PER_UNIT,
            Decimal(1),
            OrgKind.GRASSROOTS,
            due=day(14),
        ),
        RequirementInput(
            RequirementKind.COMPETITION,
            "每个县（市、区）总工会至少组织1项劳动和技能竞赛",
            Measure.PER_UNIT,
            Decimal(1),
            OrgKind.COUNTY,
            due=day(21),
        ),
        RequirementInput(
            RequirementKind.SERVICE,
            "每个基层工会至少办成1件职工急难愁盼的实事（维权、帮扶、送清凉等）",
            Measure.PER_UNIT,
            Decimal(1),
            OrgKind.GRASSROOTS,
            due=day(21),
        ),
        RequirementInput(
            RequirementKind.PUBLICITY,
            "每个县（市、区）总工会报送宣传信息不少于2篇",
            Measure.PER_UNIT,
            Decimal(2),
            OrgKind.COUNTY,
            due=day(21),
        ),
    ]


CHENGDU_EXTRA = RequirementInput(
    RequirementKind.TRAINING,
    "结合“蓉城工匠”培育，每个区（市）县总工会至少举办1期职工技能培训班",
    Measure.PER_UNIT,
    Decimal(1),
    OrgKind.COUNTY,
)

# Chance that a union of each kind has acknowledged / planned by the build day.
ACK_SHARE = {
    OrgKind.CITY: 1.0,
    OrgKind.COUNTY: 0.9,
    OrgKind.TOWNSHIP: 0.75,
    OrgKind.GRASSROOTS: 0.6,
}
PLAN_SHARE = {
    OrgKind.CITY: 0.9,
    OrgKind.COUNTY: 0.6,
    OrgKind.TOWNSHIP: 0.4,
    OrgKind.GRASSROOTS: 0.35,
}
REPORT_SHARE = 0.05  # of the planned
MIN_REPORTS = 4
MAX_REPORTS = 300  # each goes through the services, with its review
# Days after the relay that the acknowledgement came (most in the first days).
ACK_DELAY_DAYS = (0, 0, 0, 1, 1, 1, 2, 2, 3, 3, 4, 5, 6, 8, 10)


@contextmanager
def _at(moment: datetime.datetime) -> Iterator[None]:
    """Run services as if it were `moment` (timezone.now, localdate, auto_now fields)."""
    with mock.patch("django.utils.timezone.now", return_value=moment):
        yield


class NoticeStory:
    def __init__(self, context: DemoContext) -> None:
        self.context = context
        self.rng = random.Random(f"{context.seed}:{context.scale}:notices")
        self.today = context.today
        self.start = self.moment(-14, 9, 0)
        User = get_user_model()
        self.users = {u.username: u for u in User.objects.filter(is_active=True)}

    def moment(self, day: int, hour: int, minute: int = 0) -> datetime.datetime:
        local = datetime.datetime.combine(
            self.today + datetime.timedelta(days=day), datetime.time(hour, minute)
        )
        return timezone.make_aware(local)

    def last_moment(self) -> datetime.datetime:
        """Actions stop before the build day begins."""
        return self.moment(-1, 18, 0)

    def reviewer(self, org: Org) -> Any:
        """The nearest demo cadre above `org` (at its parent or higher), else the system."""
        parent = org.parent
        if parent is None:
            return SYSTEM
        if not hasattr(self, "_roles"):
            self._roles = sorted(
                Role.objects.filter(user__in=self.users.values()).select_related("org", "user"),
                key=lambda r: -r.org.depth,
            )
        for role in self._roles:
            reviews = Perm.NOTICE_REVIEW in PERMISSIONS_BY_ROLE.get(role.kind, frozenset())
            if reviews and not role.org_only and parent.is_descendant_of(role.org):
                return role.user
        return SYSTEM

    # --- the story ------------------------------------------------------------------------

    def run(self) -> Notice:
        root: Org = self.context.root
        sheng = self.users.get("sheng", SYSTEM)
        year = self.moment(-13, 9).year
        with _at(self.moment(-14, 16, 30)):
            notice = services.create_notice(
                actor=sheng,
                issuer=root,
                title=TITLE,
                doc_number=f"川工发〔{year}〕12号",
                body=BODY,
                audience_kinds=AUDIENCE,
                requires_ack=True,
                ack_due=self.today - datetime.timedelta(days=6),
                report_due=self.today + datetime.timedelta(days=21),
                requirements=_requirements(self.today),
            )
        with _at(self.moment(-13, 9, 30)):
            notice = services.issue_notice(actor=sheng, notice=notice)
        self.context.say(f"{notice}: {notice.audience_size} unions")
        relayed = self.relays(notice)
        self.handle(notice, relayed)
        # Late and still not done: flagged as the deadline sweep flags them (the worker's
        # sweep then sends the reminders). The figures follow from the roll-up rebuild
        # that ends the demo.
        Dispatch.objects.filter(
            notice=notice, acknowledged_at__isnull=True, ack_due__lt=self.today
        ).update(ack_overdue=True)
        Dispatch.objects.filter(
            notice=notice, reported_at__isnull=True, report_due__lt=self.today
        ).update(report_overdue=True)
        return notice

    def relays(self, notice: Notice) -> set[int]:
        """成都 relays with one more requirement and earlier deadlines; the county of the
        demo grassroots account passes it on with its own deadlines, none later."""
        chengdu = Org.objects.filter(parent=notice.issuer, kind=OrgKind.CITY, code="5101").first()
        if chengdu is None:
            return set()
        done = set()
        dispatch = Dispatch.objects.get(notice=notice, org=chengdu)
        with _at(self.moment(-13, 14, 10)):
            services.acknowledge(actor=self.users.get("chengdu", SYSTEM), dispatch=dispatch)
        with _at(self.moment(-12, 10, 0)):
            services.relay(
                actor=self.users.get("chengdu", SYSTEM),
                dispatch=dispatch,
                note=RELAY_NOTE,
                doc_number=f"成工发〔{self.moment(-12, 10).year}〕8号",
                ack_due=self.today - datetime.timedelta(days=8),
                report_due=self.today + datetime.timedelta(days=14),
                requirements=[
                    dataclasses.replace(CHENGDU_EXTRA, due=self.today + datetime.timedelta(days=14))
                ],
            )
        done.add(dispatch.pk)
        jiceng = self.demo_grassroots()
        county = jiceng.parent.parent if jiceng is not None and jiceng.parent else None
        if county is not None and county.kind == OrgKind.COUNTY:
            county_dispatch = Dispatch.objects.get(notice=notice, org=county)
            with _at(self.moment(-11, 15, 20)):
                services.relay(
                    actor=SYSTEM,
                    dispatch=county_dispatch,
                    note=f"<p>请各乡镇（街道）工会、各基层工会按照省、市总工会要求抓好落实。"
                    f"</p><p>{county.name}</p>",
                    ack_due=self.today - datetime.timedelta(days=9),
                    report_due=self.today + datetime.timedelta(days=10),
                )
            done.add(county_dispatch.pk)
        return done

    def demo_grassroots(self) -> Org | None:
        jiceng = self.users.get("jiceng")
        role = Role.objects.filter(user=jiceng).select_related("org").first() if jiceng else None
        return role.org if role else None

    def handle(self, notice: Notice, relayed: set[int]) -> None:
        """Most unions read and acknowledge, many plan, a few report; the demo grassroots
        union is left with everything still to do. Reading, acknowledging and planning
        are written in bulk with the moments they happened (thousands of unions, as the
        members are written in bulk); reports and reviews go through the services."""
        jiceng = self.demo_grassroots()
        dispatches = list(
            Dispatch.objects.filter(notice=notice)
            .exclude(pk__in=relayed)
            .exclude(org=jiceng)
            .select_related("org", "org__parent", "notice")
            .order_by("org__path")
        )
        rng = self.rng
        after_relays = self.moment(-12, 11, 0)
        changed: list[Dispatch] = []
        planned: list[tuple[Dispatch, datetime.datetime]] = []
        reporting: list[tuple[Dispatch, datetime.datetime]] = []
        for dispatch in dispatches:
            kind = dispatch.org.kind
            if rng.random() >= ACK_SHARE.get(kind, 0.5):
                if rng.random() < 0.3:  # opened, not yet acknowledged
                    dispatch.read_at = after_relays + datetime.timedelta(hours=rng.randint(1, 200))
                    changed.append(dispatch)
                continue
            acked = min(
                after_relays
                + datetime.timedelta(
                    days=rng.choice(ACK_DELAY_DAYS),
                    hours=rng.randint(0, 8),
                    minutes=rng.randint(0, 59),
                ),
                self.last_moment(),
            )
            dispatch.read_at = dispatch.acknowledged_at = acked
            dispatch.version += 1
            changed.append(dispatch)
            if rng.random() >= PLAN_SHARE.get(kind, 0.3):
                continue
            plan_at = min(acked + datetime.timedelta(days=rng.randint(1, 4)), self.last_moment())
            dispatch.plan, dispatch.planned_at = PLAN, plan_at
            dispatch.version += 1
            planned.append((dispatch, plan_at))
            if rng.random() < REPORT_SHARE:
                reporting.append((dispatch, plan_at))
        _write_progress(changed)
        if len(reporting) > MAX_REPORTS:  # the Sichuan scale: a spread of them
            reporting = sorted(rng.sample(reporting, MAX_REPORTS), key=lambda p: p[0].org.path)
        if len(reporting) < MIN_REPORTS:
            chosen = {d.pk for d, _ in reporting}
            extra = [p for p in planned if p[0].pk not in chosen]
            reporting += extra[: MIN_REPORTS - len(reporting)]
            reporting.sort(key=lambda p: p[0].org.path)
        for number, (dispatch, plan_at) in enumerate(reporting):
            self.report(dispatch, plan_at, number)

    def report(self, dispatch: Dispatch, plan_at: datetime.datetime, number: int) -> None:
        rng = self.rng
        reported = min(plan_at + datetime.timedelta(days=rng.randint(1, 3)), self.last_moment())
        with _at(reported):
            prefill = {f.code: f.value for f in selectors.report_prefill(dispatch)}
            lectures, attendances, matters = (
                rng.randint(1, 4),
                rng.randint(20, 400),
                rng.randint(1, 5),
            )
            report = services.submit_report(
                actor=SYSTEM,
                dispatch=dispatch,
                figures_values={
                    **prefill,
                    "lectures_held": lectures,
                    "attendances": attendances,
                    "matters_done": matters,
                },
                narrative=(
                    f"{dispatch.org.name}组织会员职工集中学习，开展宣讲进车间、进班组"
                    f"{lectures}场，参与职工{attendances}人次；结合岗位开展技能比武；"
                    f"为职工办实事{matters}件；在厂务公开栏和微信群开展宣传。"
                ),
                submission_key=f"demo-{dispatch.pk}",
            )
        # Four in five are reviewed: three accepted, one returned; the fifth still waits.
        decision = number % 5
        if decision == 4:
            return
        reviewed = min(reported + datetime.timedelta(hours=rng.randint(2, 40)), self.last_moment())
        with _at(reviewed):
            services.review_report(
                actor=self.reviewer(dispatch.org),
                report=report,
                accept=decision != 2,
                comment="" if decision != 2 else RETURN_COMMENT,
            )


def _write_progress(dispatches: list[Dispatch]) -> None:
    """One prepared UPDATE for every changed dispatch (bulk_update's CASE expressions
    take far longer to build for thousands of rows)."""
    ops = connection.ops

    def at(value: datetime.datetime | None) -> Any:
        return ops.adapt_datetimefield_value(value)

    rows = [
        (at(d.read_at), at(d.acknowledged_at), d.plan, at(d.planned_at), d.version, d.pk)
        for d in dispatches
    ]
    with connection.cursor() as cursor:
        cursor.executemany(
            f'UPDATE "{Dispatch._meta.db_table}" SET read_at = %s, acknowledged_at = %s, '  # noqa: S608
            "plan = %s, planned_at = %s, version = %s WHERE id = %s",
            rows,
        )


def build_demo_notice(context: DemoContext) -> Notice:
    """The demo step (registered in NoticesConfig.ready)."""
    return NoticeStory(context).run()
