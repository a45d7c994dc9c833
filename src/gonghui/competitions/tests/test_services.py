"""Competitions: setting up, registration and approval, judging, confirmation and
corrections, ranking with tie-breaks, awards, results, stages and figures."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from gonghui.audit.models import AuditEntry
from gonghui.competitions import figures, services
from gonghui.competitions.models import (
    CombineRule,
    Competition,
    CompetitionStatus,
    Entry,
    EntryStatus,
    Mark,
    MarkCorrection,
)
from gonghui.orgs import services as org_services
from gonghui.orgs.models import RoleKind
from gonghui.orgs.scoping import SYSTEM
from gonghui.stats import services as stats
from gonghui.stats.models import FactDelta
from gonghui.stats.selectors import live_subtree_figures

D = Decimal


def sheet() -> list[services.DisciplineInput]:
    return [
        services.DisciplineInput(
            "电工",
            [
                services.CriterionInput("theory", "理论知识", D(100), D(30), tie_break=2),
                services.CriterionInput("practical", "实操：配电柜接线", D(50), D(70), tie_break=1),
            ],
        )
    ]


def data(**extra: Any) -> services.CompetitionInput:
    now = timezone.now()
    values = {
        "title": "成都市职工电工技能竞赛",
        "registration_opens_at": now - datetime.timedelta(days=1),
        "registration_closes_at": now + datetime.timedelta(days=7),
        "disciplines": sheet(),
        **extra,
    }
    return services.CompetitionInput(**values)


def judge(tree: Any, name: str, org: Any) -> Any:
    user = get_user_model().objects.create_user(username=name)
    org_services.grant_role(actor=SYSTEM, user=user, org=org, kind=RoleKind.JUDGE)
    return user


@pytest.fixture
def c(tree) -> Any:
    """成都's competition, open, with three entries approved and two judges seated."""
    admin = tree.users["chengdu_admin"]
    competition = services.create_competition(admin, org=tree.chengdu, data=data())
    competition = services.open_competition(admin, competition)
    discipline = competition.disciplines.get()
    entries = []
    for member in (tree.cd_member, tree.cd_member2, tree.team_member):
        entry = services.register(
            admin, competition=competition, discipline=discipline, member=member
        )
        entries.append(services.decide_entry(tree.users["cd_union_admin"], entry, approve=True))
    tree.competition = competition
    tree.discipline = discipline
    tree.entries = entries
    tree.chief = judge(tree, "chief_judge", tree.chengdu)
    tree.judge2 = judge(tree, "judge_two", tree.chengdu)
    services.seat_judge(admin, discipline, user=tree.chief, chief=True)
    services.seat_judge(admin, discipline, user=tree.judge2)
    return tree


def criteria(t: Any) -> tuple[Any, Any]:
    theory, practical = t.discipline.criteria.order_by("position")
    return theory, practical


def mark_all(t: Any, marks: dict[int, tuple[int, int]], judges: list[Any] | None = None) -> None:
    theory, practical = criteria(t)
    for user in judges or [t.chief, t.judge2]:
        for entry in t.entries:
            th, pr = marks[entry.pk]
            services.enter_marks(user, entry, marks={theory.pk: th, practical.pk: pr})


# --- ranking --------------------------------------------------------------------------------


def test_ranks_share_a_place_and_skip_after_it():
    rows = [(1, D(90), [D(1)]), (2, D(95), [D(0)]), (3, D(90), [D(1)]), (4, D(80), [D(9)])]
    assert services.rank_rows(rows) == {2: 1, 1: 2, 3: 2, 4: 4}


def test_tie_breaks_order_equal_totals():
    rows = [(1, D(90), [D(40), D(10)]), (2, D(90), [D(45), D(0)]), (3, D(90), [D(40), D(20)])]
    assert services.rank_rows(rows) == {2: 1, 3: 2, 1: 3}


scores = st.decimals(min_value=0, max_value=100, places=1, allow_nan=False, allow_infinity=False)


@given(st.lists(st.tuples(scores, scores), min_size=1, max_size=30))
def test_ranking_properties(values):
    rows = [(n, total, [tie]) for n, (total, tie) in enumerate(values)]
    ranks = services.rank_rows(rows)
    assert set(ranks) == {n for n, _v, _t in rows}
    assert min(ranks.values()) == 1
    by_id = {n: (total, tie) for n, total, (tie,) in rows}
    for a in by_id:
        for b in by_id:
            if by_id[a] > by_id[b]:
                assert ranks[a] < ranks[b]
            elif by_id[a] == by_id[b]:
                assert ranks[a] == ranks[b]
    # A rank is 1 + the number of rows strictly better (competition ranking).
    for a in by_id:
        assert ranks[a] == 1 + sum(1 for b in by_id if by_id[b] > by_id[a])


@given(st.lists(scores, min_size=1, max_size=9))
def test_combining_marks(values):
    mean = services.combine(values, CombineRule.MEAN)
    assert min(values) <= mean <= max(values)
    trimmed = services.combine(values, CombineRule.TRIMMED)
    if len(values) >= 3:
        inner = sorted(values)[1:-1]
        assert trimmed == sum(inner) / len(inner)
    else:
        assert trimmed == mean


# --- setting up -----------------------------------------------------------------------------


def test_a_scoring_sheet_must_weigh_100(tree):
    bad = sheet()
    bad[0].criteria[0].weight = D(40)
    with pytest.raises(ValidationError) as info:
        services.create_competition(
            tree.users["chengdu_admin"], org=tree.chengdu, data=data(disciplines=bad)
        )
    assert info.value.code == "weights"
    out = sheet()
    out[0].criteria[0].max_marks = D(0)
    with pytest.raises(ValidationError) as info:
        services.create_competition(
            tree.users["chengdu_admin"], org=tree.chengdu, data=data(disciplines=out)
        )
    assert info.value.code == "max_marks"
    assert not Competition.objects.exists()


def test_only_organisers_of_the_subtree_set_up_competitions(tree):
    with pytest.raises(Http404):
        services.create_competition(tree.users["chengdu_admin"], org=tree.mianyang, data=data())
    with pytest.raises(PermissionDenied):
        services.create_competition(tree.users["chengdu_viewer"], org=tree.chengdu, data=data())


# --- registration ---------------------------------------------------------------------------


def test_registration_rules(c):
    competition, discipline = c.competition, c.discipline
    with pytest.raises(ValidationError) as info:
        services.register(
            c.users["worker"], competition=competition, discipline=discipline, member=c.cd_member
        )
    assert info.value.code == "duplicate"
    with pytest.raises(Http404):  # 成都 cannot even see 绵阳's member
        services.register(
            c.users["chengdu_admin"],
            competition=competition,
            discipline=discipline,
            member=c.my_member,
        )
    # 绵阳's worker registering themself: outside the organiser's subtree.
    c.my_member.user = c.users["nobody"]
    c.my_member.save()
    with pytest.raises(ValidationError) as info:
        services.register(
            c.users["nobody"], competition=competition, discipline=discipline, member=c.my_member
        )
    assert info.value.code == "eligibility"
    assert [e.number for e in c.entries] == ["01-001", "01-002", "01-003"]


def test_a_late_registration_is_refused(c):
    Competition.objects.filter(pk=c.competition.pk).update(
        registration_closes_at=timezone.now() - datetime.timedelta(minutes=1)
    )
    services.withdraw_entry(c.users["worker"], c.entries[0])
    with pytest.raises(ValidationError) as info:
        services.register(
            c.users["worker"],
            competition=Competition.objects.get(pk=c.competition.pk),
            discipline=c.discipline,
            member=c.cd_member,
        )
    assert info.value.code == "closed"


def test_quota_and_approval_by_the_members_union(tree):
    admin = tree.users["chengdu_admin"]
    competition = services.open_competition(
        admin,
        services.create_competition(admin, org=tree.chengdu, data=data(quota_per_unit=1)),
    )
    discipline = competition.disciplines.get()
    entry = services.register(
        tree.users["worker"], competition=competition, discipline=discipline, member=tree.cd_member
    )
    assert (entry.status, entry.number, entry.unit) == (EntryStatus.PENDING, "", tree.cd_union)
    with pytest.raises(ValidationError) as info:
        services.register(
            admin, competition=competition, discipline=discipline, member=tree.cd_member2
        )
    assert info.value.code == "quota"
    with pytest.raises(Http404):
        services.decide_entry(tree.users["worker"], entry, approve=True)
    with pytest.raises(PermissionDenied):
        services.decide_entry(tree.users["chengdu_viewer"], entry, approve=True)
    with pytest.raises(ValidationError):
        services.decide_entry(tree.users["cd_union_admin"], entry, approve=False, note=" ")
    entry = services.decide_entry(tree.users["cd_union_admin"], entry, approve=True)
    assert (entry.status, entry.number) == (EntryStatus.APPROVED, "01-001")


# --- judging --------------------------------------------------------------------------------


def test_judging_confirming_and_ranking(c):
    admin = c.users["chengdu_admin"]
    services.start_judging(admin, c.competition)
    _theory, practical = criteria(c)
    a, b, d = c.entries
    with pytest.raises(ValidationError) as info:
        services.enter_marks(c.chief, a, marks={practical.pk: 51})
    assert info.value.code == "out_of_range"
    with pytest.raises(Http404):
        services.enter_marks(c.users["chengdu_admin"], a, marks={practical.pk: 40})
    mark_all(c, {a.pk: (80, 40), b.pk: (90, 40), d.pk: (80, 40)})
    with pytest.raises(PermissionDenied):
        services.confirm_scores(c.judge2, c.discipline)
    services.confirm_scores(c.chief, c.discipline)
    ranked = {e.pk: (e.total, e.rank) for e in Entry.objects.filter(competition=c.competition)}
    # 90/100*30 + 40/50*70 = 27 + 56 = 83; 80 → 24 + 56 = 80
    assert ranked == {a.pk: (D("80.000"), 2), b.pk: (D("83.000"), 1), d.pk: (D("80.000"), 2)}
    with pytest.raises(ValidationError) as info:
        services.enter_marks(c.judge2, a, marks={practical.pk: 45})
    assert info.value.code == "locked"
    # A correction after confirmation: by the chief judge, with a reason, logged.
    mark = Mark.objects.get(entry=a, criterion=practical, judge=c.judge2)
    with pytest.raises(ValidationError) as info:
        services.correct_mark(c.chief, mark, value=45, reason="")
    assert info.value.code == "reason"
    services.correct_mark(c.chief, mark, value=50, reason="复核发现漏计一项接线得分")
    a.refresh_from_db()
    # practical mean (40 + 50) / 2 = 45 → 63 + 24 = 87
    assert (a.total, a.rank) == (D("87.000"), 1)
    correction = MarkCorrection.objects.get()
    assert (correction.before, correction.after, correction.by) == (D(40), D(50), c.chief)
    assert AuditEntry.objects.filter(summary__contains="复核发现").exists()


def test_confirming_needs_every_mark(c):
    services.start_judging(c.users["chengdu_admin"], c.competition)
    a, b, d = c.entries
    mark_all(c, {a.pk: (80, 40), b.pk: (90, 40), d.pk: (80, 40)}, judges=[c.chief])
    with pytest.raises(ValidationError) as info:
        services.confirm_scores(c.chief, c.discipline)
    assert info.value.code == "missing_marks"
    assert "judge_two" in info.value.messages[0]


def test_trimmed_mean_drops_the_extremes(c):
    admin = c.users["chengdu_admin"]
    Competition.objects.filter(pk=c.competition.pk).update(combine_rule=CombineRule.TRIMMED)
    third = judge(c, "judge_three", c.chengdu)
    services.seat_judge(admin, c.discipline, user=third)
    services.start_judging(admin, c.competition)
    theory, practical = criteria(c)
    for entry in c.entries:
        for user, (th, pr) in zip(
            [c.chief, c.judge2, third], [(60, 10), (70, 30), (100, 50)], strict=True
        ):
            services.enter_marks(user, entry, marks={theory.pk: th, practical.pk: pr})
    services.confirm_scores(c.chief, c.discipline)
    # Middle marks: theory 70 → 21, practical 30 → 42; total 63.
    assert {e.total for e in Entry.objects.filter(competition=c.competition)} == {D("63.000")}
    assert {e.rank for e in Entry.objects.filter(competition=c.competition)} == {1}


# --- results, awards, figures, stages -------------------------------------------------------


def publish(c: Any) -> Competition:
    admin = c.users["chengdu_admin"]
    services.start_judging(admin, c.competition)
    a, b, d = c.entries
    mark_all(c, {a.pk: (80, 40), b.pk: (90, 45), d.pk: (70, 30)})
    services.confirm_scores(c.chief, c.discipline)
    services.set_awards(
        admin,
        c.discipline,
        awards=[
            services.AwardInput("一等奖", 1, 1, "技术能手"),
            services.AwardInput("二等奖", 2, 3),
        ],
    )
    return services.publish_results(admin, c.competition)


def test_publishing_counts_the_figures(c):
    competition = publish(c)
    assert competition.status == CompetitionStatus.PUBLISHED
    values = live_subtree_figures(
        [c.chengdu, c.cd_union],
        [figures.HELD, figures.PARTICIPANTS, f"{figures.UNITS}@all"],
    )
    assert values[c.chengdu.pk] == {
        figures.HELD: 1,
        figures.PARTICIPANTS: 3,
        f"{figures.UNITS}@all": 1,
    }
    # The team's worker counts for 华信 too: entries count at the grassroots union.
    assert values[c.cd_union.pk][figures.PARTICIPANTS] == 3
    awards = list(c.discipline.awards.all())
    b = Entry.objects.get(pk=c.entries[1].pk)
    assert services.award_of(b, awards).title == "技术能手"
    stats.fold_pending()
    assert not FactDelta.objects.exists()
    assert stats.rebuild(check=True) == []


def test_awards_may_not_overlap(c):
    with pytest.raises(ValidationError) as info:
        services.set_awards(
            c.users["chengdu_admin"],
            c.discipline,
            awards=[services.AwardInput("一等奖", 1, 2), services.AwardInput("二等奖", 2, 3)],
        )
    assert info.value.code == "award_overlap"


def test_the_top_n_are_nominated_to_the_next_stage(c):
    province = c.users["province_admin"]
    final = services.open_competition(
        province, services.create_competition(province, org=c.province, data=data(title="省决赛"))
    )
    Competition.objects.filter(pk=c.competition.pk).update(parent=final, advance_count=1)
    c.competition.refresh_from_db()
    publish(c)
    first, second = (
        Entry.objects.get(pk=c.entries[1].pk),
        Entry.objects.get(pk=c.entries[0].pk),
    )
    assert (first.rank, second.rank) == (1, 2)
    with pytest.raises(ValidationError) as info:
        services.nominate(c.users["chengdu_admin"], second)
    assert info.value.code == "not_qualified"
    nomination = services.nominate(c.users["chengdu_admin"], first)
    assert nomination.to_entry.competition == final
    assert nomination.to_entry.status == EntryStatus.APPROVED
    with pytest.raises(ValidationError) as info:
        services.nominate(c.users["chengdu_admin"], first)
    assert info.value.code == "duplicate"


def test_a_round_linked_to_a_notice_requirement_counts_under_it(c):
    from gonghui.competitions.selectors import competitions_of_requirements
    from gonghui.notices import services as notices

    province = c.users["province_admin"]
    notice = notices.create_notice(
        actor=province,
        issuer=c.province,
        title="关于开展职工劳动和技能竞赛的通知",
        requires_ack=False,
        requirements=[notices.RequirementInput("competition", "各市举办选拔赛")],
    )
    notices.issue_notice(actor=province, notice=notice)
    requirement = notice.requirements.get()
    with pytest.raises(ValidationError) as info:
        services.create_competition(
            c.users["mianyang_admin"],
            org=c.mianyang,
            data=data(requirement_id=requirement.pk + 1000),
        )
    assert info.value.code == "requirement"
    Competition.objects.filter(pk=c.competition.pk).update(requirement=requirement)
    c.competition.refresh_from_db()
    publish(c)
    assert competitions_of_requirements([requirement.pk], c.chengdu) == {requirement.pk: (1, 3)}
    assert competitions_of_requirements([requirement.pk], c.mianyang) == {requirement.pk: (0, 0)}
    stats.fold_pending()
    assert stats.rebuild(check=True) == []
