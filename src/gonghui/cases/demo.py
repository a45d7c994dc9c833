"""The demo's worker cases and hardship files.

Workers of a few grassroots unions per city file requests over the last three months:
most were accepted and answered (some late, a few referred to arbitration), some were
rated; some are still open, a few were left unaccepted and escalated by the deadline
sweep. The demo worker (`zhigong`) has a wage-arrears request that skipped their own
union and was answered and rated by the county federation (account `weiquan`), and one
open request; the demo grassroots union keeps a hardship file with aid given.

Everything goes through `cases.services` at the moment it happened (the clock is set
for each step), so deadlines, escalations and figures come out as in use and
`rebuild_rollups --check` agrees.
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

from django.contrib.auth import get_user_model
from django.utils import timezone

from gonghui.core.demo_steps import DemoContext
from gonghui.orgs.models import Member, MemberStatus, Org, OrgKind, OrgStatus, ancestor_field
from gonghui.orgs.scoping import SYSTEM

UNIONS_PER_CITY = {"tiny": 3, "small": 1, "sichuan": 1}
CASES_PER_UNION = {"tiny": 4, "small": 3, "sichuan": 3}

REQUESTS = {
    "wages": [
        ("拖欠两个月工资", "公司以资金周转困难为由，拖欠我和班组同事两个月工资，多次讨要未果。"),
        ("加班费未足额发放", "国庆期间安排加班三天，工资条上没有体现三倍加班工资。"),
    ],
    "contract": [
        ("入职半年未签劳动合同", "入职已经六个月，单位一直没有和我签订书面劳动合同。"),
    ],
    "social_insurance": [
        ("未按实际工资缴纳社保", "单位按最低基数给我缴纳社保，与实际工资相差很大。"),
    ],
    "hours": [
        ("长期每天工作十二小时", "车间长期两班倒，每班十二小时，每月只休息两天。"),
    ],
    "safety": [
        ("车间粉尘防护不到位", "打磨工位没有除尘设备，发放的口罩不符合防尘要求。"),
    ],
    "hardship": [
        ("家属重病申请帮扶", "爱人确诊尿毒症需长期透析，家庭收入难以负担医疗费用。"),
    ],
    "medical_aid": [
        ("住院自付费用较高", "因工伤以外的疾病住院手术，自付部分超过三万元，申请医疗救助。"),
    ],
    "schooling_aid": [
        ("孩子考上大学学费困难", "孩子今年考上大学，学费和生活费一时难以凑齐，申请金秋助学。"),
    ],
    "legal_advice": [
        ("咨询经济补偿标准", "公司搬迁要求我们去外地上班，不去就解除合同，想咨询经济补偿。"),
    ],
}
ANSWERS = {
    "resolved": "经工会与企业协商，问题已解决，已向职工反馈。",
    "arbitration": "经调解未达成一致，已协助职工向劳动人事争议仲裁委员会申请仲裁。",
    "legal_aid": "已转介职工法律援助工作站，指派律师提供法律援助。",
    "out_of_remit": "该事项属于民事借贷纠纷，不属于工会维权职责范围，已告知职工可向人民法院起诉。",
}
COMMENTS = ("处理很及时，感谢工会！", "问题解决了，娘家人靠得住。", "结果还行，就是慢了点。", "")


@contextmanager
def _at(moment: datetime.datetime) -> Iterator[None]:
    with mock.patch("django.utils.timezone.now", return_value=moment):
        yield


class CaseStory:
    def __init__(self, context: DemoContext) -> None:
        self.context = context
        self.today = context.today
        self.rng = random.Random(f"{context.seed}:{context.scale}:cases")
        users = get_user_model().objects.filter(username__in=["zhigong", "weiquan", "jiceng"])
        self.users = {u.username: u for u in users}

    def moment(self, day: int, hour: int = 10) -> datetime.datetime:
        local = datetime.datetime.combine(
            self.today + datetime.timedelta(days=day), datetime.time(hour)
        )
        return timezone.make_aware(local)

    def demo_member(self) -> Member | None:
        worker = self.users.get("zhigong")
        if worker is None:
            return None
        return Member.objects.filter(user=worker).select_related("unit").first()

    def unions(self, exclude: Org | None) -> list[Org]:
        per_city = UNIONS_PER_CITY.get(self.context.scale, 1)
        chosen = []
        for city in Org.objects.filter(parent=self.context.root).order_by("path"):
            ids = list(
                Org.objects.filter(
                    ancestor_1=city.pk, kind=OrgKind.GRASSROOTS, status=OrgStatus.ACTIVE
                )
                .order_by("path")
                .values_list("pk", flat=True)[:200]
            )
            if exclude is not None and exclude.pk in ids:
                ids.remove(exclude.pk)
            chosen += sorted(self.rng.sample(ids, min(per_city, len(ids))))
        return list(Org.objects.filter(pk__in=chosen).order_by("path"))

    def handler_of(self, case: Any) -> Any:
        from gonghui.cases import services

        handlers = services.eligible_handlers(case)
        return handlers[0] if handlers else SYSTEM

    def run(self) -> None:
        from gonghui.cases import services

        member = self.demo_member()
        if member is not None:
            self.demo_worker_story(member)
        for union in self.unions(member.unit if member else None):
            members = list(
                Member.objects.filter(
                    **{f"unit__{ancestor_field(union.depth)}": union.pk},
                    status=MemberStatus.ACTIVE,
                ).order_by("pk")[:50]
            )
            if not members:
                continue
            for n in range(CASES_PER_UNION.get(self.context.scale, 2)):
                self.one_case(self.rng.choice(members), n)
        with _at(self.moment(0, 2)):
            services.sweep_cases(today=self.today)
        self.hardship_file(member)

    def one_case(self, member: Member, n: int) -> None:
        from gonghui.cases import services

        rng = self.rng
        category = rng.choice(list(REQUESTS))
        title, text = rng.choice(REQUESTS[category])
        filed_day = -rng.randint(3, 90)
        conceal = category in ("wages", "hours", "safety") and rng.random() < 0.3
        with _at(self.moment(filed_day, rng.randint(8, 20))):
            case = services.file_case(
                SYSTEM,
                member=member,
                data=services.CaseInput(category, title, text, conceal_from_employer_union=conceal),
                channel=rng.choice(["phone", "visit"]),
            )
        fate = rng.random()
        if fate < 0.12:
            return  # left unaccepted: the sweep escalates it
        handler = self.handler_of(case)
        accept_day = filed_day + rng.choice([0, 1, 1, 2, 4])
        if accept_day >= 0:
            accept_day = filed_day
        with _at(self.moment(accept_day, 9)):
            case = services.accept_case(handler, case)
            services.record_contact(handler, case, text="已电话联系职工，了解具体情况。")
        if fate < 0.3:
            return  # being handled
        close_day = min(accept_day + rng.randint(2, 30), -1)
        outcome = rng.choices(list(ANSWERS), weights=[75, 10, 10, 5])[0]
        money = (
            rng.randrange(2000, 60000, 500) if category == "wages" and outcome == "resolved" else 0
        )
        aid = (
            rng.randrange(1000, 10000, 500)
            if category in ("hardship", "medical_aid", "schooling_aid")
            else 0
        )
        with _at(self.moment(close_day, 16)):
            case = services.close_case(
                handler,
                case,
                closing=services.Closing(outcome, ANSWERS[outcome], money, aid),
            )
        worker = member.user
        if worker is not None and rng.random() < 0.7:
            with _at(self.moment(min(close_day + 1, 0), 12)):
                services.rate_case(
                    worker,
                    case,
                    rating=rng.choice([5, 5, 4, 4, 3, 2]),
                    comment=rng.choice(COMMENTS),
                )

    def demo_worker_story(self, member: Member) -> None:
        """zhigong: a wage claim that skipped their union, answered by the county and
        rated; and an open request about working hours."""
        from gonghui.cases import services

        worker = member.user
        with _at(self.moment(-20, 19)):
            case = services.file_case(
                worker,
                member=member,
                data=services.CaseInput(
                    "wages",
                    "拖欠两个月工资",
                    "公司以资金周转困难为由，拖欠我和班组同事八、九两个月工资，多次讨要未果。",
                    contact_preference="phone",
                    contact_phone=member.phone or "13800000000",
                    conceal_from_employer_union=True,
                ),
            )
        handler = self.users.get("weiquan") or self.handler_of(case)
        with _at(self.moment(-19, 9)):
            case = services.accept_case(handler, case)
            services.record_contact(handler, case, text="已电话联系职工，核实欠薪人数和金额。")
        with _at(self.moment(-15, 14)):
            services.post_message(
                handler, case, text="我们已约谈企业负责人，企业承诺本月底前补发，请耐心等待。"
            )
            services.post_message(worker, case, text="好的，谢谢！班组还有五位同事也被拖欠。")
        with _at(self.moment(-8, 16)):
            case = services.close_case(
                handler,
                case,
                closing=services.Closing(
                    "resolved",
                    "经区总工会协调，企业已补发六名职工两个月工资共计四万八千元。",
                    48000,
                ),
            )
        with _at(self.moment(-7, 20)):
            services.rate_case(
                worker, case, rating=5, comment="区总工会帮我们要回了工资，谢谢娘家人！"
            )
        with _at(self.moment(-2, 21)):
            services.file_case(
                worker,
                member=member,
                data=services.CaseInput(
                    "hours",
                    "班组长期加班",
                    "最近一个月班组每天加班三小时，周末也要上班，希望工会了解一下。",
                ),
            )

    def hardship_file(self, member: Member | None) -> None:
        from gonghui.cases import services
        from gonghui.orgs.models import Role

        if member is None:
            return
        union = Org.objects.filter(pk__in=member.unit.ancestor_ids, kind=OrgKind.GRASSROOTS).first()
        others = Member.objects.filter(unit=member.unit, status=MemberStatus.ACTIVE).exclude(
            pk=member.pk
        )
        family = others.order_by("pk").first()
        if union is None or family is None:
            return
        cadre = Role.objects.filter(org=union).select_related("user").first()
        actor = cadre.user if cadre else SYSTEM
        with _at(self.moment(-60, 10)):
            file = services.open_hardship_file(
                actor,
                member=family,
                org=union,
                data=services.HardshipInput(
                    "deep",
                    ["illness", "schooling"],
                    4,
                    650,
                    "爱人患尿毒症需长期透析，两个孩子在读，家庭人均月收入低于当地低保标准。",
                    self.today + datetime.timedelta(days=120),
                ),
            )
            services.record_aid(
                actor,
                file,
                kind="cash",
                amount=3000,
                given_on=self.today - datetime.timedelta(days=60),
                note="送温暖慰问金",
            )
        with _at(self.moment(-30, 10)):
            services.record_aid(
                actor,
                file,
                kind="schooling",
                amount=5000,
                given_on=self.today - datetime.timedelta(days=30),
                note="金秋助学",
            )


def build_demo_cases(context: DemoContext) -> None:
    from gonghui.cases import services

    services.load_default_calendar()
    CaseStory(context).run()
    context.say("cases: worker cases and a hardship file")
