"""The deadline sweep: overdue marks (counted once, cleared when the step is done) and
reminders before and after deadlines (never twice), run by `gonghui worker`."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command

from gonghui.accounts.models import Notification
from gonghui.core import jobs
from gonghui.notices import services, sweep
from gonghui.notices.models import Dispatch, NoticeStatus, Reminder
from gonghui.notices.tests.test_services import (
    Clock,
    at,
    day,
    draft,
    fake_clock,
    figures_at,
    issued,
    report,
    settle,
)
from gonghui.stats import services as stats
from gonghui.stats.models import FactDelta


@pytest.fixture
def t(tree, settings) -> Iterator[Any]:
    settings.GONGHUI_REMIND_DAYS_BEFORE = 3
    with fake_clock() as clock:
        tree.clock = clock
        yield tree
        settle()  # after every scenario: live = folded = rebuilt = counted from dispatches


def sweep_on(clock: Clock, n: int) -> dict[str, int]:
    clock.set(n, hour=2)
    return sweep.run_sweep(today=day(n))


def overdue_orgs(notice: Any, flag: str) -> set[int]:
    return set(
        Dispatch.objects.filter(notice=notice, **{flag: True}).values_list("org_id", flat=True)
    )


def test_late_undone_dispatches_are_marked_overdue_once(t):
    notice = issued(t, ack_due=day(5), report_due=day(20))
    t.clock.set(1)
    services.acknowledge(actor=t.users["cd_union_admin"], dispatch=at(notice, t.cd_union))
    report(t, notice, t.chengdu, "chengdu_admin")
    assert sweep_on(t.clock, 5)["ack_overdue"] == 0  # due today is not late yet
    assert sweep_on(t.clock, 6)["ack_overdue"] == 8
    assert overdue_orgs(notice, "ack_overdue") == set(
        Dispatch.objects.filter(notice=notice, acknowledged_at__isnull=True).values_list(
            "org_id", flat=True
        )
    )
    assert not overdue_orgs(notice, "report_overdue")
    assert figures_at(notice, t.province)["ack_overdue"] == 8
    assert figures_at(notice, t.chengdu)["ack_overdue"] == 4
    settle()
    facts = FactDelta.objects.count()
    # Running again, the same day or later, changes nothing.
    again = [sweep_on(t.clock, 6), sweep_on(t.clock, 7)]
    assert [(r["ack_overdue"], r["report_overdue"]) for r in again] == [(0, 0), (0, 0)]
    assert FactDelta.objects.filter(metric__endswith="overdue").count() == 0
    assert FactDelta.objects.count() == facts
    assert figures_at(notice, t.province)["ack_overdue"] == 8


def test_doing_an_overdue_step_clears_its_mark(t):
    notice = issued(t, ack_due=day(5), report_due=day(20))
    sweep_on(t.clock, 6)
    assert figures_at(notice, t.province)["ack_overdue"] == 10
    services.acknowledge(actor=t.users["cd_union_admin"], dispatch=at(notice, t.cd_union))
    services.relay(actor=t.users["chengdu_admin"], dispatch=at(notice, t.chengdu))
    values = figures_at(notice, t.province)
    assert (values["ack_overdue"], values["acknowledged"], values["ack_on_time"]) == (8, 2, 0)
    assert not at(notice, t.cd_union).ack_overdue
    settle()
    # Reporting late clears the report mark, and acknowledges (late) on the way.
    assert sweep_on(t.clock, 21)["report_overdue"] == 10
    report(t, notice, t.my_union, "superuser")
    values = figures_at(notice, t.province)
    assert (values["report_overdue"], values["reported"], values["report_on_time"]) == (9, 1, 0)
    assert (values["ack_overdue"], values["acknowledged"]) == (7, 3)
    assert figures_at(notice, t.mianyang)["report_overdue"] == 3
    # A returned report is not overdue again: the step was done.
    services.review_report(
        actor=t.users["superuser"],
        report=at(notice, t.my_union).reports.get(),
        accept=False,
        comment="请补充",
    )
    assert sweep_on(t.clock, 22)["report_overdue"] == 0
    assert not at(notice, t.my_union).report_overdue


def test_notices_without_deadlines_are_never_overdue(t):
    notice = issued(t, requires_ack=False, ack_due=None, report_due=None)
    result = sweep_on(t.clock, 400)
    assert result == {"ack_overdue": 0, "report_overdue": 0, "reminders": 0}
    assert figures_at(notice, t.province)["audience"] == 10


def test_closed_notices_and_drafts_are_left_alone(t):
    closed = issued(t, ack_due=day(5), report_due=day(20))
    services.close_notice(actor=t.users["province_admin"], notice=closed)
    draft(t, title="草稿", ack_due=day(1), report_due=day(2))
    for n in (4, 6, 21):
        assert sweep_on(t.clock, n) == {"ack_overdue": 0, "report_overdue": 0, "reminders": 0}
    assert not Reminder.objects.exists() and not Notification.objects.exists()
    assert not Dispatch.objects.filter(ack_overdue=True).exists()


def test_a_notice_closed_after_being_swept_keeps_its_figures(t):
    notice = issued(t, ack_due=day(5), report_due=day(20))
    sweep_on(t.clock, 6)
    services.close_notice(actor=t.users["province_admin"], notice=notice)
    assert sweep_on(t.clock, 21)["report_overdue"] == 0
    values = figures_at(notice, t.province)
    assert (values["ack_overdue"], values["report_overdue"]) == (10, 0)
    assert notice.__class__.objects.get(pk=notice.pk).status == NoticeStatus.CLOSED


def reminder_keys(notice: Any) -> list[tuple[int, str]]:
    return sorted(
        Reminder.objects.filter(dispatch__notice=notice).values_list("dispatch__org_id", "key")
    )


def test_one_reminder_per_dispatch_and_deadline_before_and_once_late(t):
    notice = issued(t, ack_due=day(10), report_due=day(20))
    t.clock.set(1)
    services.acknowledge(actor=t.users["cd_union_admin"], dispatch=at(notice, t.cd_union))
    assert sweep_on(t.clock, 6)["reminders"] == 0  # four days before: not yet
    assert sweep_on(t.clock, 7)["reminders"] == 9  # three days before the acknowledgement
    keys = {key for _org, key in reminder_keys(notice)}
    assert keys == {f"auto:ack:{day(10)}:soon"}
    assert t.cd_union.pk not in {org for org, _key in reminder_keys(notice)}
    for n in (7, 8, 9, 10):
        assert sweep_on(t.clock, n)["reminders"] == 0
    services.acknowledge(actor=t.users["chengdu_admin"], dispatch=at(notice, t.chengdu))
    assert sweep_on(t.clock, 11)["reminders"] == 8  # once late, the city has acknowledged
    assert sweep_on(t.clock, 12)["reminders"] == 0
    assert sweep_on(t.clock, 16)["reminders"] == 0
    assert sweep_on(t.clock, 17)["reminders"] == 10  # the report, due in three days
    report(t, notice, t.cd_union, "cd_union_admin")
    assert sweep_on(t.clock, 21)["reminders"] == 9
    assert sweep_on(t.clock, 30)["reminders"] == 0
    counts = dict(Reminder.objects.filter(dispatch__org=t.chengdu).values_list("key", "recipients"))
    assert counts == {
        f"auto:ack:{day(10)}:soon": 2,  # chengdu_admin and chengdu_staff
        f"auto:report:{day(20)}:soon": 2,
        f"auto:report:{day(20)}:late": 2,
    }
    # Each reminder reached the cadres of its org: cd_union was reminded once (the report).
    for user in ("cd_union_admin", "cd_union_only"):
        titles = Notification.objects.filter(user=t.users[user]).values_list("title", flat=True)
        assert len([title for title in titles if notice.title in title]) == 1, list(titles)
    assert Notification.objects.filter(user=t.users["chengdu_viewer"]).count() == 0


def test_a_sweep_after_the_reminders_went_out_reads_no_dispatch_one_by_one(t):
    # A notice to the province has ~120,000 dispatches and the sweep runs every 5 minutes:
    # the dispatches already reminded of a deadline are left out in SQL, not looked up.
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    notice = issued(t, ack_due=day(10), report_due=day(20))
    assert sweep_on(t.clock, 11)["reminders"] == 10
    with CaptureQueriesContext(connection) as again:
        assert sweep_on(t.clock, 12)["reminders"] == 0
    reminder_reads = [q for q in again.captured_queries if "notices_reminder" in q["sql"]]
    # One read per kind of deadline and window (ack/report × soon/late), however many
    # dispatches are late.
    assert len(reminder_reads) == 4, [q["sql"] for q in reminder_reads]
    assert Dispatch.objects.filter(notice=notice).count() == 10


def test_reminders_go_out_in_bulk_not_one_dispatch_at_a_time(t, monkeypatch):
    # The first sweep after a province-wide deadline reminds ~120,000 unions: the
    # statements of a chunk must not grow with its dispatches.
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    issued(t, ack_due=day(10), report_due=day(20))
    issued(t, ack_due=day(10), report_due=day(20))
    t.clock.set(11)

    def remind(chunk: int) -> list[str]:
        monkeypatch.setattr(sweep, "REMIND_CHUNK", chunk)
        point = transaction.savepoint()
        with CaptureQueriesContext(connection) as captured:
            assert sweep._remind(day(11), 3) == 20  # every union of both notices is late
        counts = dict(
            Reminder.objects.filter(dispatch__org=t.chengdu).values_list("key", "recipients")
        )
        assert counts == {f"auto:ack:{day(10)}:late": 2}  # chengdu_admin and chengdu_staff
        assert Reminder.objects.filter(dispatch__org=t.chengdu).count() == 2
        assert Notification.objects.filter(user=t.users["chengdu_admin"]).count() == 2
        transaction.savepoint_rollback(point)
        return [q["sql"] for q in captured.captured_queries]

    one_chunk, five_chunks = remind(1000), remind(4)
    # Per chunk: the savepoint, the locked dispatches, their cadres, the inbox messages,
    # the reminders, the release: six statements, whatever the chunk's size.
    assert len(five_chunks) - len(one_chunk) == 4 * 6, five_chunks


def test_an_earlier_deadline_from_a_relay_gets_its_own_reminder(t):
    notice = issued(t, ack_due=day(10), report_due=day(20))
    assert sweep_on(t.clock, 7)["reminders"] == 10
    services.relay(
        actor=t.users["chengdu_admin"], dispatch=at(notice, t.chengdu), report_due=day(9)
    )
    # The five unions below chengdu now report by day 9: reminded at once, then once late.
    assert sweep_on(t.clock, 7)["reminders"] == 5
    assert sweep_on(t.clock, 8)["reminders"] == 0
    assert sweep_on(t.clock, 10)["reminders"] == 5
    assert sweep_on(t.clock, 10)["report_overdue"] == 0  # marked by the first run of day 10
    assert figures_at(notice, t.chengdu)["report_overdue"] == 5
    assert figures_at(notice, t.province)["report_overdue"] == 5


def test_the_worker_runs_the_sweep(t):
    job = jobs.JOBS["notice_deadline_sweep"]
    assert job.run is sweep.run_sweep
    notice = issued(t, ack_due=day(5), report_due=day(20))
    t.clock.set(6)
    saved = {name: j.next_at for name, j in jobs.JOBS.items()}
    out = io.StringIO()
    try:
        call_command("worker", "--once", stdout=out)
    finally:
        for name, next_at in saved.items():
            jobs.JOBS[name].next_at = next_at
    assert "ran notice_deadline_sweep" in out.getvalue()
    assert Dispatch.objects.filter(notice=notice, ack_overdue=True).count() == 10
    assert Reminder.objects.filter(key=f"auto:ack:{day(5)}:late").count() == 10
    stats.fold_pending()
    assert figures_at(notice, t.province)["ack_overdue"] == 10
