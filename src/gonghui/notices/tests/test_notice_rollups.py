"""Supervision figures stay exact under any sequence of notice work: issuing, acknowledging,
relaying, planning, reporting, reviewing, closing, deadline sweeps on random days and
restructuring of the tree. The live figures (folded + pending), the folded figures and a
rebuild from the dispatches must all equal counts taken straight from the dispatch rows."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from conftest import build_tree
from gonghui.notices import services, sweep
from gonghui.notices.models import Dispatch, Notice, Report, ReportStatus
from gonghui.notices.services import RequirementInput
from gonghui.notices.tests.test_services import (
    Clock,
    assert_supervision_matches,
    day,
    expected_figures,
    fake_clock,
)
from gonghui.orgs import services as org_services
from gonghui.orgs.models import Org, OrgStatus
from gonghui.orgs.scoping import SYSTEM
from gonghui.stats import services as stats
from gonghui.stats.models import FactDelta

KINDS = [[], ["grassroots"], ["city", "county", "township"], ["grassroots", "branch", "team"]]
ack_offset = st.one_of(st.none(), st.integers(0, 3))  # days from now, for a relay
report_offset = st.one_of(st.none(), st.integers(0, 10))
index = st.integers(0, 60)

issue = st.tuples(
    st.just("issue"),
    st.integers(0, 2),  # issuer: the province or one of the cities
    st.integers(0, len(KINDS) - 1),
    st.one_of(st.none(), index),  # an explicit org to narrow the audience to
    st.booleans(),  # acknowledgement required
    st.integers(0, 4),  # acknowledge by (days from now)
    st.integers(0, 15),  # report by (days after that)
)
handling = [
    st.tuples(st.just("acknowledge"), index),
    st.tuples(st.just("relay"), index, ack_offset, report_offset),
    st.tuples(st.just("plan"), index),
    st.tuples(st.just("report"), index, st.integers(0, 2)),
    st.tuples(st.just("review"), index, st.booleans()),
]
operations = st.lists(
    st.one_of(
        issue,
        *handling,
        *handling,  # thrice as likely as the rest: most of the work is done on dispatches
        *handling,
        st.tuples(st.just("close"), index),
        st.tuples(st.just("sweep")),
        st.tuples(st.just("later"), st.integers(0, 3), st.integers(0, 23)),
        st.tuples(st.just("move"), index, index),
        st.tuples(st.just("dissolve"), index),
        st.tuples(st.just("fold")),
        st.tuples(st.just("check")),
    ),
    min_size=10,
    max_size=30,
)


def pick(items: list[Any], i: int) -> Any:
    return items[i % len(items)]


class Run:
    """One sequence of operations on a fresh tree, on a fake clock."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.tree = build_tree()
        self.today = 0

    def apply(self, op: tuple[Any, ...]) -> bool:
        """Do `op`; False when there was nothing to do it to."""
        name = op[0]
        orgs = list(Org.objects.filter(status=OrgStatus.ACTIVE).order_by("pk"))
        dispatches = list(Dispatch.objects.order_by("pk"))
        if name == "issue":
            _, who, kinds, chosen, requires_ack, ack_in, report_after = op
            issuer = [self.tree.province, self.tree.chengdu, self.tree.mianyang][who]
            issuer.refresh_from_db()
            below = [o for o in orgs if o.pk != issuer.pk and o.is_descendant_of(issuer)]
            notice = services.create_notice(
                actor=SYSTEM,
                issuer=issuer,
                title=f"通知 {Notice.objects.count() + 1}",
                audience_kinds=KINDS[kinds],
                audience_orgs=[pick(below, chosen)] if chosen is not None and below else [],
                requires_ack=requires_ack,
                ack_due=day(self.today + ack_in) if requires_ack else None,
                report_due=day(self.today + ack_in + report_after),
                requirements=[RequirementInput("lecture", "宣讲")],
            )
            services.issue_notice(actor=SYSTEM, notice=notice)
        elif name in ("acknowledge", "relay", "plan", "report"):
            if not dispatches:
                return False
            if name == "relay":  # mostly to a union that has unions below it
                parents = {o.parent_id for o in orgs}
                dispatches = [d for d in dispatches if d.org_id in parents] or dispatches
            dispatch = pick(dispatches, op[1])
            if name == "acknowledge":
                services.acknowledge(actor=SYSTEM, dispatch=dispatch)
            elif name == "relay":
                services.relay(
                    actor=SYSTEM,
                    dispatch=dispatch,
                    ack_due=None if op[2] is None else day(self.today + op[2]),
                    report_due=None if op[3] is None else day(self.today + op[3]),
                )
            elif name == "plan":
                services.save_plan(actor=SYSTEM, dispatch=dispatch, plan="方案")
            else:
                services.submit_report(
                    actor=SYSTEM,
                    dispatch=dispatch,
                    figures_values={"lectures": op[2]},
                    narrative="做了",
                    submission_key=f"k{op[2]}",  # repeated keys are retries
                )
        elif name == "review":
            reports = list(Report.objects.order_by("pk"))
            if not reports:
                return False
            services.review_report(
                actor=SYSTEM, report=pick(reports, op[1]), accept=op[2], comment="请补充"
            )
        elif name == "close":
            notices = list(Notice.objects.order_by("pk"))
            if not notices:
                return False
            services.close_notice(actor=SYSTEM, notice=pick(notices, op[1]))
        elif name == "sweep":
            sweep.run_sweep(today=day(self.today))
        elif name == "later":
            self.today += op[1]
            self.clock.set(self.today, hour=op[2], minute=30)  # 00:30 tests the day's edge
        elif name == "move":
            # Under another union of the kind its parent has, so the move is allowed.
            movable = [o for o in orgs if o.parent_id is not None]
            org = pick(movable, op[1])
            parents = [o for o in orgs if o.kind == org.parent.kind and o.pk != org.parent_id]
            if not parents:
                return False
            org_services.move_org(actor=SYSTEM, org=org, new_parent=pick(parents, op[2]))
        elif name == "dissolve":
            leaves = [o for o in orgs if o.parent_id and not o.children.filter(status="active")]
            org_services.dissolve_org(
                actor=SYSTEM, org=pick(leaves, op[1]), reason="合并", members_leave=True
            )
        elif name == "fold":
            stats.fold_pending()
        elif name == "check":  # live figures midway, seen from the top levels
            top = [self.tree.province, self.tree.chengdu, self.tree.mianyang]
            for notice in Notice.objects.all():
                assert_supervision_matches(notice, only=top)
        return True

    def check(self) -> None:
        for notice in Notice.objects.all():
            assert_supervision_matches(notice)  # live: folded + pending
        stats.fold_pending()
        assert not FactDelta.objects.exists()
        assert stats.rebuild(check=True) == []
        for notice in Notice.objects.all():
            assert_supervision_matches(notice)
            # The issuer's subtree holds the whole audience unless a union moved out.
            issuer_values = expected_figures(notice, notice.issuer)
            assert issuer_values["audience"] <= notice.audience_size
        for report in Report.objects.filter(status=ReportStatus.ACCEPTED):
            assert report.dispatch.report_status == ReportStatus.ACCEPTED


class RandomNoticeSequences(TestCase):
    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(first=issue, ops=operations)
    def test_incremental_equals_rebuild(self, first, ops):
        with fake_clock() as clock:
            run = Run(clock)
            for op in [first, *ops]:
                try:
                    done = run.apply(op)
                except ValidationError as error:
                    event(f"refused: {op[0]} ({error.code})")  # and nothing changed
                else:
                    event(f"{'done' if done else 'nothing to do'}: {op[0]}")
            run.check()
