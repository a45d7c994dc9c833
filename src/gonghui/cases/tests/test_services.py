"""Worker cases: routing, privacy, working-day deadlines, escalation, closing, rating,
reopening, hardship files — and figures that always equal a rebuild from the rows.

Dates are real 2026 days, so the shipped holiday calendar (国庆 1–7 October, make-up
workday Saturday 10 October) is what the deadlines are counted on.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import Http404

from gonghui.accounts.models import Notification
from gonghui.audit.models import AuditEntry
from gonghui.cases import figures, selectors, services
from gonghui.cases.models import (
    Case,
    CaseCategory,
    CaseEvent,
    CaseStatus,
    CategoryPolicy,
    EventKind,
    HardshipFile,
    Outcome,
    Route,
    WorkCalendarDay,
)
from gonghui.cases.workdays import WorkCalendar, add_workdays, workdays_between
from gonghui.core.errors import ConcurrentEditError
from gonghui.orgs import services as org_services
from gonghui.orgs.models import RoleKind
from gonghui.orgs.scoping import SYSTEM, Perm
from gonghui.stats import services as stats
from gonghui.stats.models import FactDelta
from gonghui.stats.selectors import live_subtree_figures

SHANGHAI = ZoneInfo("Asia/Shanghai")


class Clock:
    """Stands in for `django.utils.timezone.now`: a Beijing-time moment."""

    def __init__(self) -> None:
        self.set(datetime.date(2026, 9, 30))

    def set(self, day: datetime.date, hour: int = 10) -> None:
        local = datetime.datetime.combine(day, datetime.time(hour), tzinfo=SHANGHAI)
        self.moment = local.astimezone(datetime.UTC)

    def __call__(self) -> datetime.datetime:
        return self.moment


def d(month: int, day: int) -> datetime.date:
    return datetime.date(2026, month, day)


def settle() -> None:
    """Live figures, folded figures and a rebuild from the rows all agree."""
    stats.fold_pending()
    assert not FactDelta.objects.exists()
    assert stats.rebuild(check=True) == []


@pytest.fixture
def t(tree) -> Iterator[Any]:
    clock = Clock()
    with mock.patch("django.utils.timezone.now", clock):
        tree.clock = clock
        yield tree
        settle()


@contextmanager
def refused(code: str) -> Iterator[Any]:
    with pytest.raises(ValidationError) as info:
        yield info
    codes = (
        [e.code for errors in info.value.error_dict.values() for e in errors]
        if hasattr(info.value, "error_dict")
        else [e.code for e in info.value.error_list]
    )
    assert code in codes, codes


def wages(conceal: bool = False, **extra: Any) -> services.CaseInput:
    return services.CaseInput(
        CaseCategory.WAGES,
        "拖欠三个月工资",
        "公司自七月起拖欠全车间工资，多次讨要未果。",
        conceal_from_employer_union=conceal,
        **extra,
    )


def file(t: Any, conceal: bool = False, **kwargs: Any) -> Case:
    return services.file_case(t.users["worker"], member=t.cd_member, data=wages(conceal), **kwargs)


def figure(org: Any, name: str) -> int:
    return live_subtree_figures([org], [name])[org.pk][name]


# --- the working-day calendar -----------------------------------------------------------


def test_the_shipped_calendar_knows_the_2026_national_day_week(db):
    assert WorkCalendarDay.objects.filter(day__year=2026, is_workday=False).count() == 33
    calendar = WorkCalendar.around(d(9, 1), d(10, 31))
    assert not calendar.is_workday(d(10, 1))  # a Thursday, 国庆
    assert calendar.is_workday(d(10, 10))  # a Saturday, 调休上班
    assert not calendar.is_workday(d(10, 11))  # an ordinary Sunday
    assert calendar.is_workday(d(9, 30))


def test_deadlines_skip_holidays_and_count_make_up_workdays(db):
    # Filed on Wednesday 30 September: the next working day is Thursday 8 October.
    assert add_workdays(d(9, 30), 1) == d(10, 8)
    # 8, 9, 10 (Saturday, make-up), 12 ... : the 3rd working day is the Saturday.
    assert add_workdays(d(9, 30), 3) == d(10, 10)
    assert add_workdays(d(9, 30), 15) == d(10, 27)
    assert workdays_between(d(9, 30), d(10, 27)) == 15
    assert workdays_between(d(10, 5), d(10, 5)) == 0


def test_a_year_is_configured_by_replacing_its_exceptions(db):
    days = [(datetime.date(2027, 1, 1), False, "元旦"), (datetime.date(2027, 1, 4), True, "调休")]
    assert services.set_calendar_year(SYSTEM, year=2027, days=days) == 2
    calendar = WorkCalendar.around(datetime.date(2027, 1, 1), datetime.date(2027, 1, 10))
    assert not calendar.is_workday(datetime.date(2027, 1, 1))
    with pytest.raises(ValidationError):
        services.set_calendar_year(SYSTEM, year=2027, days=[(d(1, 1), False, "x")])
    assert WorkCalendarDay.objects.filter(day__year=2027).count() == 2
    entry = AuditEntry.objects.get(target_type="cases.workcalendarday")
    assert entry.target_id == "2027"


def test_only_the_back_office_sets_the_calendar(t):
    with pytest.raises(PermissionDenied):
        services.set_calendar_year(t.users["province_admin"], year=2027, days=[])


# --- filing and routing -----------------------------------------------------------------


def test_a_worker_files_and_it_goes_to_their_grassroots_union(t):
    case = file(t)
    assert case.handling_org == t.cd_union
    assert case.status == CaseStatus.NEW
    assert case.number == f"2026{case.pk:07d}"
    assert (case.filed_on, case.ack_due, case.resolve_due) == (d(9, 30), d(10, 8), d(10, 27))
    assert (case.first_ack_due, case.first_resolve_due) == (d(10, 8), d(10, 27))
    assert [e.kind for e in case.events.all()] == [EventKind.FILED, EventKind.ROUTED]
    assert case.events.get(kind=EventKind.FILED).by_worker
    # The union's administrator hears of it (no case handler is named there).
    note = Notification.objects.get(user=t.users["cd_union_admin"])
    assert case.number in note.title


def test_a_worker_of_a_team_is_handled_by_the_grassroots_union_above_it(t):
    t.team_member.user = t.users["nobody"]
    t.team_member.save()
    case = services.file_case(t.users["nobody"], member=t.team_member, data=wages())
    assert case.handling_org == t.cd_union
    assert case.unit == t.cd_team


def test_skipping_the_employer_union_routes_to_the_county_federation(t):
    case = file(t, conceal=True)
    assert case.handling_org == t.jinjiang
    assert case.conceal_from_employer_union


def test_legal_advice_goes_to_the_county_federation(t):
    data = services.CaseInput(CaseCategory.LEGAL_ADVICE, "咨询", "想咨询解除劳动合同的补偿标准。")
    case = services.file_case(t.users["worker"], member=t.cd_member, data=data)
    assert case.handling_org == t.jinjiang
    assert (case.ack_due, case.resolve_due) == (d(10, 9), d(10, 20))


def test_a_category_policy_row_overrides_the_defaults(t):
    CategoryPolicy.objects.create(
        category=CaseCategory.WAGES, ack_days=3, resolve_days=5, route=Route.PARENT
    )
    case = file(t)
    assert case.handling_org == t.chunxilu
    assert (case.ack_due, case.resolve_due) == (d(10, 10), d(10, 13))


def test_a_resubmitted_form_files_once(t):
    first = file(t, submission_key="k-1")
    again = file(t, submission_key="k-1")
    assert again.pk == first.pk
    assert Case.objects.count() == 1
    assert file(t, submission_key="k-2").pk != first.pk


def test_bad_input_is_refused_field_by_field(t):
    data = services.CaseInput("bribes", " ", "太短", contact_preference="phone")
    with pytest.raises(ValidationError) as info:
        services.file_case(t.users["worker"], member=t.cd_member, data=data)
    assert set(info.value.error_dict) == {"category", "title", "description", "contact_phone"}
    assert not Case.objects.exists()


def test_attachments_are_type_size_and_content_checked(t):
    fake = SimpleUploadedFile("工资条.png", b"MZ\x90\x00 not a png", content_type="image/png")
    with refused("file_content"):
        file(t, attachments=[fake])
    exe = SimpleUploadedFile("tool.exe", b"MZ", content_type="application/octet-stream")
    with refused("file_type"):
        file(t, attachments=[exe])
    big = SimpleUploadedFile("big.pdf", b"%PDF" + b"0" * (10 * 1024 * 1024), "application/pdf")
    with refused("file_size"):
        file(t, attachments=[big])
    assert not Case.objects.exists()
    png = SimpleUploadedFile("工资条.png", b"\x89PNG\r\n\x1a\n....", content_type="image/png")
    case = file(t, attachments=[png])
    attachment = case.attachments.get()
    assert (attachment.name, attachment.content_type, attachment.by_worker) == (
        "工资条.png",
        "image/png",
        True,
    )
    assert "工资条" not in attachment.file.name  # stored under a random name


def test_a_cadre_files_on_behalf_of_a_worker_in_their_scope(t):
    admin = t.users["chengdu_admin"]
    with refused("channel"):
        services.file_case(admin, member=t.cd_member, data=wages())
    case = services.file_case(admin, member=t.cd_member, data=wages(), channel="phone")
    assert (case.channel, case.filed_by, case.handling_org) == ("phone", admin, t.cd_union)
    kept = services.file_case(
        admin, member=t.cd_member2, data=wages(), channel="visit", handling_org=t.jinjiang
    )
    assert kept.handling_org == t.jinjiang
    with pytest.raises(Http404):
        services.file_case(admin, member=t.my_member, data=wages(), channel="phone")
    with pytest.raises(Http404):
        services.file_case(t.users["worker"], member=t.cd_member2, data=wages())


# --- who sees a case --------------------------------------------------------------------


def test_a_case_that_skips_the_employer_union_stays_invisible_to_it(t):
    case = file(t, conceal=True)
    visible = {
        name: Case.objects.restrict(t.users[name]).filter(pk=case.pk).exists() for name in t.users
    }
    assert visible == {
        "superuser": True,
        "province_admin": True,
        "chengdu_admin": True,
        "chengdu_staff": False,
        "chengdu_viewer": False,
        "mianyang_admin": False,
        "cd_union_admin": False,
        "cd_union_only": False,
        "worker": True,
        "nobody": False,
    }
    # Not through its audit log or inbox either.
    assert (
        not AuditEntry.objects.restrict(t.users["cd_union_admin"], Perm.AUDIT_VIEW)
        .filter(target_type="cases.case")
        .exists()
    )
    assert not Notification.objects.filter(user=t.users["cd_union_admin"]).exists()
    with pytest.raises(Http404):
        services.accept_case(t.users["cd_union_admin"], case)
    # Nor as a number in its figures: everything counts at the handling union.
    assert figure(t.cd_union, figures.FILED) == 0
    assert figure(t.chunxilu, figures.FILED) == 0
    assert figure(t.jinjiang, figures.FILED) == 1


def test_case_handlers_see_their_union_queue_and_their_own_cases(t):
    handler = t.users["nobody"]
    org_services.grant_role(actor=SYSTEM, user=handler, org=t.cd_union, kind=RoleKind.CASE_HANDLER)
    case = file(t)
    other = file(t, conceal=True)
    assert list(Case.objects.restrict(handler)) == [case]
    services.accept_case(t.users["cd_union_admin"], case)  # the admin takes it
    assert not Case.objects.restrict(handler).exists()
    services.assign_case(t.users["cd_union_admin"], Case.objects.get(pk=case.pk), handler=handler)
    assert list(Case.objects.restrict(handler)) == [case]
    assert other not in Case.objects.restrict(handler)


# --- handling ---------------------------------------------------------------------------


def test_accept_contact_note_message_and_close(t):
    case = file(t)
    admin = t.users["cd_union_admin"]
    t.clock.set(d(10, 8))
    case = services.accept_case(admin, case, version=case.version)
    assert (case.status, case.handler, case.first_accepted_on) == ("in_progress", admin, d(10, 8))
    with refused("status"):
        services.accept_case(admin, case)
    services.record_contact(admin, case, text="已电话联系职工，了解欠薪人数。")
    services.add_note(admin, case, text="企业负责人态度消极。")
    services.post_message(t.users["worker"], case, text="还有三位同事也被欠薪。")
    services.post_message(admin, case, text="已约企业周五协商。")
    t.clock.set(d(10, 20))
    case = services.close_case(
        admin,
        case,
        closing=services.Closing(Outcome.RESOLVED, "企业已补发全部工资。", money_recovered=38500),
        version=case.version,
    )
    assert (case.status, case.closed_on, case.working_days_taken) == ("closed", d(10, 20), 10)
    worker_kinds = [e.kind for e in selectors.timeline(case, for_worker=True)]
    assert worker_kinds == ["filed", "accepted", "contacted", "message", "message", "closed"]
    all_kinds = [e.kind for e in selectors.timeline(case, for_worker=False)]
    assert "note" in all_kinds and "routed" in all_kinds
    assert (
        Notification.objects.filter(user=t.users["worker"], title__contains=case.number).count()
        == 3
    )
    assert figure(t.chengdu, figures.CLOSED_ON_TIME) == 1
    assert figure(t.chengdu, figures.MONEY_RECOVERED) == 38500
    assert figure(t.chengdu, figures.days_metric(10)) == 1
    assert figure(t.chengdu, figures.ACK_ON_TIME) == 1


def test_closing_needs_an_outcome_a_reason_and_sane_amounts(t):
    case = file(t)
    admin = t.users["cd_union_admin"]
    with pytest.raises(ValidationError) as info:
        services.close_case(
            admin, case, closing=services.Closing("", "  ", money_recovered=-1, aid_paid=0)
        )
    assert set(info.value.error_dict) == {"outcome", "note", "money_recovered"}
    # Answering an unaccepted case accepts it.
    case = services.close_case(
        admin,
        case,
        closing=services.Closing(Outcome.OUT_OF_REMIT, "属劳动仲裁受理范围以外的民事纠纷。"),
    )
    assert case.first_accepted_on == d(9, 30)
    with refused("status"):
        services.close_case(admin, case, closing=services.Closing(Outcome.RESOLVED, "x"))


def test_a_stale_edit_is_refused(t):
    case = file(t)
    admin = t.users["cd_union_admin"]
    stale = case.version
    services.accept_case(admin, case, version=stale)
    with pytest.raises(ConcurrentEditError):
        services.close_case(admin, case, closing=services.Closing("resolved", "ok"), version=stale)
    assert Case.objects.get(pk=case.pk).status == CaseStatus.IN_PROGRESS


def test_the_worker_cannot_act_as_a_handler_and_others_cannot_act_as_the_worker(t):
    case = file(t)
    with pytest.raises(PermissionDenied):
        services.accept_case(t.users["worker"], case)
    with pytest.raises(PermissionDenied):
        services.withdraw_case(t.users["cd_union_admin"], case)
    with pytest.raises(Http404):
        services.withdraw_case(t.users["mianyang_admin"], case)
    with pytest.raises(Http404):
        services.post_message(t.users["mianyang_admin"], case, text="hi")


def test_assigning_only_to_someone_who_may_handle_there(t):
    case = file(t)
    admin = t.users["cd_union_admin"]
    with refused("handler"):
        services.assign_case(admin, case, handler=t.users["mianyang_admin"])
    assert set(services.eligible_handlers(case)) == {admin, t.users["cd_union_only"]}


# --- escalation and transfer ------------------------------------------------------------


def test_the_sweep_escalates_late_cases_upward_once(t):
    case = file(t)  # due: accept by 8 Oct, resolve by 27 Oct
    assert services.sweep_cases(today=d(10, 8)) == {"escalated": 0, "overdue": 0, "reminded": 1}
    assert services.sweep_cases(today=d(10, 8))["reminded"] == 0  # never twice
    t.clock.set(d(10, 9), hour=2)
    assert services.sweep_cases(today=d(10, 9))["escalated"] == 1
    assert services.sweep_cases(today=d(10, 9))["escalated"] == 0
    case.refresh_from_db()
    assert (case.handling_org, case.status, case.escalations) == (t.chunxilu, "new", 1)
    # Fresh deadlines for the township: the next working day is the make-up Saturday.
    assert (case.ack_due, case.first_ack_due) == (d(10, 10), d(10, 8))
    event = case.events.get(kind=EventKind.ESCALATED)
    assert (event.from_org, event.to_org, event.automatic) == (t.cd_union, t.chunxilu, True)
    assert figure(t.cd_union, figures.ESCALATED) == 1
    assert figure(t.cd_union, figures.FILED) == 0  # the case moved with its figures
    assert figure(t.chunxilu, figures.FILED) == 1
    t.clock.set(d(10, 12), hour=2)
    services.sweep_cases(today=d(10, 12))
    case.refresh_from_db()
    assert (case.handling_org, case.escalations) == (t.jinjiang, 2)
    assert figure(t.chengdu, figures.ESCALATED) == 2
    # The county accepts; the promise to the worker (27 Oct) passes: the case is overdue,
    # though the county's own window (15 working days from 12 Oct) is still open.
    services.accept_case(t.users["chengdu_admin"], case)
    t.clock.set(d(10, 28), hour=2)
    result = services.sweep_cases(today=d(10, 28))
    assert result == {"escalated": 0, "overdue": 1, "reminded": 0}
    case.refresh_from_db()
    assert case.overdue and case.handling_org == t.jinjiang
    assert case.events.filter(kind=EventKind.OVERDUE).count() == 1
    assert figure(t.province, figures.OVERDUE) == 1
    services.close_case(
        t.users["chengdu_admin"], case, closing=services.Closing("resolved", "已解决")
    )
    assert figure(t.province, figures.OVERDUE) == 0
    assert figure(t.province, figures.CLOSED_ON_TIME) == 0
    assert figure(t.province, figures.CLOSED) == 1


def test_at_the_top_a_late_case_stays_and_is_marked_overdue(t):
    data = services.CaseInput(CaseCategory.OTHER, "建议", "建议省总工会增加职工疗休养名额。")
    case = services.file_case(
        t.users["province_admin"],
        member=t.cd_member,
        data=data,
        channel="letter",
        handling_org=t.province,
    )
    t.clock.set(d(12, 1), hour=2)
    assert services.sweep_cases(today=d(12, 1)) == {"escalated": 0, "overdue": 1, "reminded": 0}
    case.refresh_from_db()
    assert case.handling_org == t.province and case.overdue


def test_manual_escalation_and_transfer(t):
    case = file(t)
    admin = t.users["cd_union_admin"]
    with refused("text"):
        services.escalate_case(admin, case, reason=" ")
    case = services.escalate_case(admin, case, reason="涉及多家企业，需上级协调。")
    assert case.handling_org == t.chunxilu
    county = t.users["chengdu_admin"]
    case = services.transfer_case(
        county, case, to_org=t.jinjiang, reason="由区总工会法律服务站办理"
    )
    assert case.handling_org == t.jinjiang
    assert case.events.filter(kind=EventKind.TRANSFERRED).count() == 1
    with refused("target_scope"):
        services.transfer_case(county, case, to_org=t.fucheng, reason="x")
    with refused("target"):
        services.transfer_case(county, case, to_org=t.cd_branch, reason="x")
    top = services.file_case(
        t.users["province_admin"],
        member=t.cd_member,
        data=wages(),
        channel="letter",
        handling_org=t.province,
    )
    with refused("no_parent"):
        services.escalate_case(t.users["province_admin"], top, reason="无上级")
    # One escalation (from 华信); the transfer is not one.
    assert figure(t.province, figures.ESCALATED) == 1
    assert figure(t.cd_union, figures.ESCALATED) == 1


def test_no_transfer_back_to_an_employer_union_the_worker_skipped(t):
    case = file(t, conceal=True)
    with refused("concealed"):
        services.transfer_case(t.users["chengdu_admin"], case, to_org=t.cd_union, reason="转回")
    case.refresh_from_db()
    assert case.handling_org == t.jinjiang


# --- the worker's answer ----------------------------------------------------------------


def closed(t: Any, outcome: str = Outcome.RESOLVED) -> Case:
    case = file(t)
    return services.close_case(
        t.users["cd_union_admin"], case, closing=services.Closing(outcome, "已处理", aid_paid=500)
    )


def test_rating_once_from_one_to_five(t):
    case = closed(t)
    worker = t.users["worker"]
    with refused("rating"):
        services.rate_case(worker, case, rating=6)
    with refused("rating"):
        services.rate_case(worker, case, rating=0)
    case = services.rate_case(worker, case, rating=4, comment="处理及时")
    assert (case.rating, case.rated_on) == (4, d(9, 30))
    with refused("rated"):
        services.rate_case(worker, case, rating=5)
    assert figure(t.province, figures.SATISFIED) == 1
    assert figure(t.province, figures.RATING_SUM) == 4
    assert figure(t.province, figures.AID_PAID) == 500


def test_reopen_once_within_the_window(t):
    case = closed(t)
    worker = t.users["worker"]
    services.rate_case(worker, case, rating=1)
    t.clock.set(d(10, 15))
    case = services.reopen_case(worker, case, reason="工资只补发了一半。")
    assert (case.status, case.reopened, case.rating, case.outcome) == (
        "in_progress",
        True,
        None,
        "",
    )
    assert figure(t.province, figures.RATED) == 0
    assert figure(t.province, figures.OPEN) == 1
    case = services.close_case(
        t.users["cd_union_admin"], case, closing=services.Closing("resolved", "已全部补发")
    )
    with refused("reopened"):
        services.reopen_case(worker, case, reason="还是不满意")


def test_reopening_is_refused_after_the_window_and_for_withdrawn_cases(t):
    case = closed(t)
    t.clock.set(d(10, 16))
    with refused("too_late"):
        services.reopen_case(t.users["worker"], case, reason="还没解决")
    withdrawn = services.withdraw_case(t.users["worker"], file(t), reason="已私下解决")
    assert withdrawn.outcome == Outcome.WITHDRAWN
    with refused("withdrawn"):
        services.reopen_case(t.users["worker"], withdrawn, reason="又出问题了")
    with refused("status"):
        services.rate_case(t.users["worker"], withdrawn, rating=5)


# --- figures ----------------------------------------------------------------------------


def test_figures_per_child_and_the_median(t):
    for n, days in enumerate([3, 5, 12]):
        case = file(t, submission_key=f"m{n}")
        t.clock.set(add_workdays(d(9, 30), days))
        services.close_case(
            t.users["cd_union_admin"], case, closing=services.Closing("resolved", "ok")
        )
        t.clock.set(d(9, 30))
    file(t, conceal=True)
    total, children = selectors.case_figures(t.chengdu, t.users["chengdu_admin"])
    assert total.get(figures.FILED) == 4
    assert total.get(figures.CLOSED) == 3 and total.get(figures.OPEN) == 1
    assert total.median_days == 5
    assert total.closed_on_time_rate == 1.0
    assert total.by_category[CaseCategory.WAGES] == 4
    assert [(c.org, c.get(figures.FILED)) for c in children] == [(t.jinjiang, 4)]
    union, _children = selectors.case_figures(t.cd_union, t.users["chengdu_admin"])
    assert union.get(figures.FILED) == 3  # the concealed one counts at 锦江区, not here


def test_the_median_reads_the_histogram():
    values = {figures.days_metric(2): 1, figures.days_metric(7): 2, figures.days_metric(40): 1}
    assert selectors.median_days(values) == 7
    assert selectors.median_days({}) is None
    assert selectors.median_days({figures.days_metric(99): 3}) == figures.DAYS_CAP + 1


# --- hardship files ---------------------------------------------------------------------


def hardship(review: datetime.date | None = None) -> services.HardshipInput:
    return services.HardshipInput(
        "deep",
        ["illness", "schooling"],
        4,
        600,
        "妻子患尿毒症，两个孩子上学。",
        review or d(12, 31),
    )


def test_hardship_files_aid_and_review(t):
    admin = t.users["cd_union_admin"]
    file_ = services.open_hardship_file(admin, member=t.cd_member, org=t.cd_union, data=hardship())
    with refused("duplicate"):
        services.open_hardship_file(admin, member=t.cd_member, org=t.cd_union, data=hardship())
    services.record_aid(admin, file_, kind="cash", amount=2000, given_on=d(9, 29), note="送温暖")
    services.record_aid(
        t.users["chengdu_admin"],
        file_,
        kind="schooling",
        amount=3000,
        given_on=d(9, 30),
        org=t.chengdu,
    )
    with refused("given_on"):
        services.record_aid(admin, file_, kind="cash", amount=1, given_on=d(10, 1))
    with pytest.raises(PermissionDenied):
        services.record_aid(admin, file_, kind="cash", amount=1, given_on=d(9, 30), org=t.chengdu)
    assert figure(t.cd_union, figures.HARDSHIP_AID_PAID) == 2000
    assert figure(t.chengdu, figures.HARDSHIP_AID_PAID) == 5000
    assert figure(t.chengdu, figures.HARDSHIP_FILES) == 1
    file_ = services.review_hardship_file(admin, file_, data=hardship(d(12, 15)), version=1)
    assert (file_.reviewed_on, file_.review_due, file_.version) == (d(9, 30), d(12, 15), 2)
    with pytest.raises(ConcurrentEditError):
        services.review_hardship_file(admin, file_, data=hardship(), version=1)
    services.lift_hardship_file(admin, file_, reason="妻子康复，重新就业。")
    assert figure(t.chengdu, figures.HARDSHIP_FILES) == 0
    assert HardshipFile.objects.get().status == "lifted"


def test_hardship_files_are_for_roles_that_need_them(t):
    admin = t.users["cd_union_admin"]
    file_ = services.open_hardship_file(admin, member=t.cd_member, org=t.cd_union, data=hardship())
    readers = {
        name
        for name, user in t.users.items()
        if HardshipFile.objects.restrict(user, Perm.HARDSHIP_VIEW).filter(pk=file_.pk).exists()
    }
    assert readers == {
        "superuser",
        "province_admin",
        "chengdu_admin",
        "cd_union_admin",
        "cd_union_only",
    }
    with pytest.raises(Http404):
        services.record_aid(
            t.users["mianyang_admin"], file_, kind="cash", amount=1, given_on=d(9, 30)
        )
    with pytest.raises(PermissionDenied):
        services.open_hardship_file(
            t.users["chengdu_staff"], member=t.cd_member2, org=t.cd_union, data=hardship()
        )
    with refused("review_due"):
        services.open_hardship_file(
            admin, member=t.cd_member2, org=t.cd_union, data=hardship(d(9, 30))
        )


def test_every_change_is_in_the_audit_log(t):
    case = file(t)
    admin = t.users["cd_union_admin"]
    services.accept_case(admin, case)
    services.escalate_case(admin, case, reason="需上级协调")
    entries = AuditEntry.objects.filter(target_type="cases.case", target_id=str(case.pk))
    assert entries.count() == 3
    assert all("张伟" not in e.target_repr + e.summary for e in entries)
    assert CaseEvent.objects.filter(case=case).count() == 4
