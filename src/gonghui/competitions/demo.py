"""The demo's competitions: 成都市职工电工技能竞赛 with results published (members of a few
grassroots unions entered, two judges scored, the chief judge confirmed, awards with the
title 技术能手), qualifying for the province's final, which is open for registration now;
the demo worker has entered the city's competition and may enter the final.

Everything goes through `competitions.services` at the moment it happened, so the
figures come out as in use and `rebuild_rollups --check` agrees.
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from unittest import mock

from django.contrib.auth import get_user_model
from django.utils import timezone

from gonghui.core.demo_steps import DemoContext
from gonghui.orgs.models import Member, MemberStatus, Org, OrgKind
from gonghui.orgs.scoping import SYSTEM
from gonghui.orgs.selectors import grassroots_union_of

D = Decimal


@contextmanager
def _at(moment: datetime.datetime) -> Iterator[None]:
    with mock.patch("django.utils.timezone.now", return_value=moment):
        yield


def _sheet() -> list:
    from gonghui.competitions import services

    return [
        services.DisciplineInput(
            "电工",
            [
                services.CriterionInput("theory", "理论知识", D(100), D(30), tie_break=2),
                services.CriterionInput("practical", "配电柜安装与接线", D(60), D(50), tie_break=1),
                services.CriterionInput("practical", "故障排查", D(40), D(20)),
            ],
            min_certificate="4",
        ),
        services.DisciplineInput(
            "焊工",
            [
                services.CriterionInput("theory", "理论知识", D(100), D(30), tie_break=2),
                services.CriterionInput("practical", "板对接焊", D(100), D(70), tie_break=1),
            ],
        ),
    ]


def build_demo_competitions(context: DemoContext) -> None:
    from gonghui.competitions import services

    root = context.root
    city = Org.objects.filter(parent=root, code="5101").first()
    if city is None:
        return
    rng = random.Random(f"{context.seed}:{context.scale}:competitions")
    today = context.today

    def moment(day: int, hour: int = 10) -> datetime.datetime:
        local = datetime.datetime.combine(today + datetime.timedelta(days=day), datetime.time(hour))
        return timezone.make_aware(local)

    User = get_user_model()
    judges = list(User.objects.filter(username__in=["caipan1", "caipan2"]).order_by("username"))
    if len(judges) != 2:
        return
    with _at(moment(-40)):
        final = services.create_competition(
            SYSTEM,
            org=root,
            data=services.CompetitionInput(
                "四川省职工职业技能大赛（决赛）",
                moment(-40),
                moment(20),
                _sheet(),
                description="各市州总工会选拔推荐前两名选手参加省级决赛。",
                held_on=today + datetime.timedelta(days=30),
                combine_rule="trimmed",
            ),
        )
        final = services.open_competition(SYSTEM, final)
        city_round = services.create_competition(
            SYSTEM,
            org=city,
            data=services.CompetitionInput(
                "成都市职工电工焊工技能竞赛",
                moment(-40),
                moment(-20),
                _sheet(),
                description="各基层工会择优推荐选手参赛，前两名晋级省决赛。",
                held_on=today - datetime.timedelta(days=15),
                quota_per_unit=3,
                advance_count=2,
                parent_id=final.pk,
            ),
        )
        city_round = services.open_competition(SYSTEM, city_round)
    disciplines = list(city_round.disciplines.order_by("position"))
    worker = User.objects.filter(username="zhigong").first()
    demo_member = (
        Member.objects.filter(user=worker).select_related("unit").first() if worker else None
    )
    unions = list(
        Org.objects.filter(ancestor_1=city.pk, kind=OrgKind.GRASSROOTS).order_by("path")[:6]
    )
    # The demo worker registers below, and takes one of their union's three places.
    demo_union_id = grassroots_union_of(demo_member.unit).pk if demo_member else None
    entries = []
    with _at(moment(-30)):
        for union in unions:
            members = [
                m
                for m in Member.objects.filter(unit=union, status=MemberStatus.ACTIVE).order_by(
                    "pk"
                )[:8]
                if demo_member is None or m.pk != demo_member.pk
            ]
            rng.shuffle(members)
            for member in members[: 2 if union.pk == demo_union_id else 3]:
                discipline = rng.choice(disciplines)
                entry = services.register(
                    SYSTEM,
                    competition=city_round,
                    discipline=discipline,
                    member=member,
                    certificate=rng.choice(["4", "3", "2"]),
                )
                entries.append(services.decide_entry(SYSTEM, entry, approve=True))
        if demo_member is not None:
            entry = services.register(
                worker,
                competition=city_round,
                discipline=disciplines[0],
                member=demo_member,
                certificate="3",
            )
            entries.append(services.decide_entry(SYSTEM, entry, approve=True))
    for discipline in disciplines:
        services.seat_judge(SYSTEM, discipline, user=judges[0], chief=True)
        services.seat_judge(SYSTEM, discipline, user=judges[1])
    with _at(moment(-15, 9)):
        services.start_judging(SYSTEM, city_round)
    with _at(moment(-15, 16)):
        for entry in entries:
            criteria = list(entry.discipline.criteria.all())
            for judge in judges:
                marks = {
                    c.pk: (c.max_marks * D(rng.randint(55, 98)) / 100).quantize(D("0.5"))
                    for c in criteria
                }
                services.enter_marks(judge, entry, marks=marks)
        for discipline in disciplines:
            services.confirm_scores(judges[0], discipline)
            services.set_awards(
                SYSTEM,
                discipline,
                awards=[
                    services.AwardInput("一等奖", 1, 1, "成都市技术能手"),
                    services.AwardInput("二等奖", 2, 3),
                    services.AwardInput("三等奖", 4, 6),
                ],
            )
    with _at(moment(-14, 10)):
        services.publish_results(SYSTEM, city_round)
    context.say(f"competitions: {len(entries)} entries in {city_round.title}")
