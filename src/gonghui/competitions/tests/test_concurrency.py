"""Judges entering marks at the same moment, on PostgreSQL: nothing is lost.

Four judges, each in their own thread and database connection, mark every entry at once,
and each also re-submits (a double tap from a second tab) at the same time: every judge's
mark of every criterion is there exactly once, with the value they last sent, and the
chief judge's confirmation totals them all. SQLite serialises writers, so the module is
skipped there, saying so.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from conftest import build_tree
from gonghui.activities.tests.test_concurrency import run_at_once
from gonghui.competitions import services
from gonghui.competitions.models import Entry, Mark
from gonghui.orgs import services as org_services
from gonghui.orgs.models import RoleKind
from gonghui.orgs.scoping import SYSTEM

POSTGRES = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not POSTGRES,
        reason="needs PostgreSQL (DATABASE_URL=postgres://...): SQLite serialises writers, "
        "so concurrent judges cannot race there",
    ),
]


@pytest.fixture
def judged(transactional_db) -> Any:
    tree = build_tree()
    admin = tree.users["chengdu_admin"]
    now = timezone.now()
    competition = services.create_competition(
        admin,
        org=tree.chengdu,
        data=services.CompetitionInput(
            "成都市职工焊工技能竞赛",
            now - datetime.timedelta(hours=1),
            now + datetime.timedelta(days=1),
            [
                services.DisciplineInput(
                    "焊工",
                    [
                        services.CriterionInput("theory", "理论", Decimal(100), Decimal(30)),
                        services.CriterionInput("practical", "板对接", Decimal(100), Decimal(70)),
                    ],
                )
            ],
        ),
    )
    services.open_competition(admin, competition)
    discipline = competition.disciplines.get()
    entries = []
    for member in (tree.cd_member, tree.cd_member2, tree.team_member):
        entry = services.register(
            admin, competition=competition, discipline=discipline, member=member
        )
        entries.append(services.decide_entry(admin, entry, approve=True))
    judges = []
    for n in range(4):
        user = get_user_model().objects.create_user(username=f"judge{n}")
        org_services.grant_role(actor=SYSTEM, user=user, org=tree.chengdu, kind=RoleKind.JUDGE)
        services.seat_judge(admin, discipline, user=user, chief=n == 0)
        judges.append(user)
    services.start_judging(admin, competition)
    return discipline, entries, judges


def test_judges_marking_at_once_lose_nothing(judged):
    discipline, entries, judges = judged
    theory, practical = discipline.criteria.order_by("position")

    def marks_of(n: int, entry: Entry, bump: int) -> dict[int, int]:
        return {theory.pk: 60 + n * 5 + bump, practical.pk: 50 + n * 10 + bump}

    jobs = []
    for n, judge in enumerate(judges):
        for _tab in range(2):  # two tabs of the same judge, sending the same marks
            jobs.append(
                [
                    (
                        lambda j=judge, e=entry, n=n: services.enter_marks(
                            j, e, marks=marks_of(n, e, 0)
                        )
                    )
                    for entry in entries
                ]
            )
    results = run_at_once(jobs)
    errors = [r for thread in results for r in thread if isinstance(r, Exception)]
    assert errors == []
    assert Mark.objects.count() == len(judges) * len(entries) * 2
    for n, judge in enumerate(judges):
        for entry in entries:
            got = dict(
                Mark.objects.filter(entry=entry, judge=judge).values_list("criterion_id", "value")
            )
            assert got == {k: Decimal(v) for k, v in marks_of(n, entry, 0).items()}
    services.confirm_scores(judges[0], discipline)
    # theory mean (60+65+70+75)/4 = 67.5 → 20.25; practical (50+60+70+80)/4 = 65 → 45.5
    assert set(Entry.objects.values_list("total", flat=True)) == {Decimal("65.750")}
