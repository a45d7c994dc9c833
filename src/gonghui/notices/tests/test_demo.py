"""The demo's notice: issued from 四川省总工会 down to the grassroots unions with the five
kinds of requirements, relayed by 成都市总工会 with one more and earlier deadlines,
acknowledged, planned, reported and reviewed in part; figures that agree with the facts."""

import datetime
import io
from collections import Counter

import pytest
from django.core.management import call_command
from django.utils import timezone

from gonghui.core.demo_steps import DemoContext, demo_steps, register_demo_step, run_demo_steps
from gonghui.notices import selectors
from gonghui.notices.models import (
    Dispatch,
    Notice,
    NoticeStatus,
    Relay,
    Report,
    ReportStatus,
    Requirement,
)
from gonghui.orgs.models import Org, OrgKind, Role
from gonghui.orgs.scoping import SYSTEM
from gonghui.stats import services as stats


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.fixture
def demo(db) -> Notice:
    run("demo", "--scale", "tiny")
    return Notice.objects.get()


def test_the_notice_is_issued_from_the_province_to_every_level(demo):
    today = timezone.localdate()
    root = Org.objects.get(parent__isnull=True)
    assert (demo.issuer, demo.status) == (root, NoticeStatus.ISSUED)
    assert demo.title == "关于在全省职工中深入开展学习宣传贯彻活动的通知"
    issued_on = timezone.localdate(demo.issued_at)
    assert issued_on == today - datetime.timedelta(days=13)
    assert demo.doc_number == f"川工发〔{issued_on.year}〕12号"
    assert "进企业、进车间、进班组" in demo.body and "<script" not in demo.body
    assert (demo.ack_due, demo.report_due) == (
        today - datetime.timedelta(days=6),
        today + datetime.timedelta(days=21),
    )
    # Cities, counties, townships and grassroots unions; not workshops or teams.
    audience = Org.objects.filter(kind__in=demo.audience_kinds).exclude(pk=root.pk)
    assert demo.audience_size == audience.count() == Dispatch.objects.filter(notice=demo).count()
    assert set(Dispatch.objects.values_list("org__kind", flat=True)) == {
        OrgKind.CITY,
        OrgKind.COUNTY,
        OrgKind.TOWNSHIP,
        OrgKind.GRASSROOTS,
    }


def test_the_notice_asks_for_the_five_kinds_of_work(demo):
    own = Requirement.objects.filter(notice=demo, relay__isnull=True)
    assert [r.kind for r in own] == ["study", "lecture", "competition", "service", "publicity"]
    by_kind = {r.kind: r for r in own}
    assert (by_kind["study"].measure, by_kind["study"].threshold) == ("share", 80)
    lecture = by_kind["lecture"]
    assert (lecture.measure, lecture.threshold, lecture.unit_kind) == ("per_unit", 1, "grassroots")
    assert "进车间" in lecture.title
    assert all(r.due is not None and r.due <= demo.report_due for r in own)


def test_chengdu_relays_with_one_more_requirement_and_earlier_deadlines(demo):
    chengdu = Org.objects.get(code="5101")
    relay = Relay.objects.get(notice=demo, org=chengdu)
    assert relay.ack_due < demo.ack_due and relay.report_due < demo.report_due
    assert relay.doc_number.startswith("成工发〔") and "蓉城工匠" in relay.note
    (extra,) = relay.requirements.all()
    assert (extra.kind, extra.measure, extra.unit_kind) == ("training", "per_unit", "county")
    assert extra.due <= relay.report_due
    # The deadlines below 成都 are the relay's (or earlier), 绵阳's the province's.
    below = Dispatch.objects.filter(notice=demo, org__ancestor_1=chengdu.pk).exclude(org=chengdu)
    assert all(d.report_due <= relay.report_due for d in below)
    mianyang = Dispatch.objects.filter(notice=demo, org__ancestor_1=Org.objects.get(code="5107").pk)
    assert {d.report_due for d in mianyang} == {demo.report_due}
    # The chain seen from the demo grassroots union: province, 成都, its county.
    jiceng = Role.objects.get(user__username="jiceng").org
    chain = selectors.relay_chain(Dispatch.objects.get(notice=demo, org=jiceng))
    assert [step.org.kind for step in chain] == [OrgKind.PROVINCE, OrgKind.CITY, OrgKind.COUNTY]


def test_progress_is_partial_and_the_figures_agree_with_the_facts(demo):
    dispatches = list(Dispatch.objects.filter(notice=demo))
    acknowledged = [d for d in dispatches if d.acknowledged_at is not None]
    assert 0 < len(acknowledged) < len(dispatches)
    assert all(d.read_at is not None for d in acknowledged)
    assert all(d.acknowledged_at < timezone.now() for d in acknowledged)
    planned = [d for d in dispatches if d.planned_at is not None]
    assert planned and all(d.acknowledged_at is not None for d in planned)
    statuses = Counter(
        Report.objects.filter(dispatch__notice=demo).values_list("status", flat=True)
    )
    assert statuses[ReportStatus.ACCEPTED] >= 2 and statuses[ReportStatus.RETURNED] >= 1
    returned = Report.objects.filter(status=ReportStatus.RETURNED).first()
    assert returned.review_comment and returned.reviewed_by is not None
    # Late and not acknowledged: flagged overdue, like the demo grassroots union's.
    today = timezone.localdate()
    for d in dispatches:
        assert d.ack_overdue == (d.acknowledged_at is None and d.ack_due < today)
    jiceng = Role.objects.get(user__username="jiceng").org
    mine = Dispatch.objects.get(notice=demo, org=jiceng)
    assert (mine.acknowledged_at, mine.report_status, mine.ack_overdue) == (None, "", True)
    # The supervision page's numbers, from the roll-ups, equal the dispatches' state.
    head, rows = selectors.supervision(demo, demo.issuer, SYSTEM)
    assert head.values["audience"] == len(dispatches)
    assert head.values["acknowledged"] == len(acknowledged)
    assert head.values["planned"] == len(planned)
    assert head.values["reported"] == sum(statuses.values())
    assert head.values["accepted"] == statuses[ReportStatus.ACCEPTED]
    assert head.values["ack_overdue"] == sum(d.ack_overdue for d in dispatches)
    assert head.values["relayed"] == Relay.objects.filter(notice=demo).count() == 2
    assert sum(r.values["audience"] for r in rows) == len(dispatches)
    assert stats.rebuild(check=True) == []
    assert "agree" in run("rebuild_rollups", "--check")


def test_same_seed_same_story(db):
    from gonghui.orgs.demo import DemoBuilder

    def story():
        return sorted(
            Dispatch.objects.values_list(
                "org__code", "ack_due", "report_due", "read_at", "acknowledged_at",
                "planned_at", "report_status", "reported_at", "accepted_at", "ack_overdue",
            )
        )  # fmt: skip

    DemoBuilder(scale="tiny", seed=5).build()
    first = story()
    from conftest import wipe_union_data

    wipe_union_data()
    DemoBuilder(scale="tiny", seed=5).build()
    assert story() == first


def test_demo_steps_run_in_order(monkeypatch):
    from gonghui.core import demo_steps as registry

    assert "notices" in [step.name for step in demo_steps()]  # registered by the app
    monkeypatch.setattr(registry, "_steps", {})
    ran: list[str] = []
    register_demo_step("second", lambda c: ran.append(f"second {c.scale}"), order=20)
    register_demo_step("first", lambda c: ran.append(f"first {c.seed}"), order=10)
    # The same name again replaces the step (AppConfig.ready may run more than once).
    register_demo_step("first", lambda c: ran.append(f"first again {c.seed}"), order=10)
    context = DemoContext(root=None, seed=7, scale="tiny", today=datetime.date(2026, 3, 2))
    assert run_demo_steps(context) == ["first", "second"]
    assert ran == ["first again 7", "second tiny"]
