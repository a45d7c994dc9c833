"""Activities: scheduling, registration, every check-in path, and what they count."""

from __future__ import annotations

import datetime
import io

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from openpyxl import Workbook

from conftest import make_id_number
from gonghui.activities import figures, services
from gonghui.activities.models import (
    ActivityKind,
    ActivityStatus,
    CheckIn,
    CheckInMethod,
    RegistrationStatus,
    UnitReach,
)
from gonghui.orgs import services as org_services
from gonghui.orgs.scoping import SYSTEM
from gonghui.stats import services as stats
from gonghui.stats.models import SubtreeCount

pytestmark = pytest.mark.django_db


def total(org, metric: str) -> int:
    stats.fold_pending()
    row = SubtreeCount.objects.filter(org=org, metric=metric).first()
    return row.value if row else 0


def lecture(tree, *, org=None, venue=None, starts_in=datetime.timedelta(minutes=-10), **extra):
    now = timezone.now()
    data = services.ActivityInput(
        kind=extra.pop("kind", ActivityKind.LECTURE),
        title=extra.pop("title", "学习贯彻全会精神宣讲"),
        starts_at=now + starts_in,
        ends_at=now + starts_in + datetime.timedelta(hours=2),
        venue_org=venue,
        **extra,
    )
    return services.schedule_activity(
        tree.users["chengdu_admin"], org=org or tree.cd_union, data=data
    )


def test_schedule_checks_scope_and_venue(tree):
    with pytest.raises(PermissionDenied):
        lecture(tree, org=tree.my_union)  # a 成都 cadre cannot schedule for 绵阳
    with pytest.raises(ValidationError) as exc:
        lecture(tree, org=tree.cd_union, venue=tree.my_union)
    assert exc.value.code == "venue_outside"
    # A county sends a lecture down to a grassroots union (送学上门).
    sent = lecture(tree, org=tree.jinjiang, venue=tree.cd_union)
    assert sent.venue_org == tree.cd_union
    assert len(sent.check_in_code) == 6


def test_check_in_counts_once_and_reaches_units(tree):
    activity = lecture(tree, venue=tree.cd_union)
    first = services.check_in(
        activity=activity, member=tree.team_member, method=CheckInMethod.ROSTER, by=SYSTEM
    )
    again = services.check_in(
        activity=activity, member=tree.team_member, method=CheckInMethod.ROSTER, by=SYSTEM
    )
    assert first.created and not again.created
    assert CheckIn.objects.filter(activity=activity).count() == 1
    activity.refresh_from_db()
    assert activity.status == ActivityStatus.HELD
    assert total(tree.province, figures.CHECKINS) == 1
    assert total(tree.province, f"{figures.REACHED}@all") == 1
    assert total(tree.province, figures.HELD) == 1
    assert total(tree.province, figures.held_metric("lecture")) == 1
    # The team member's team, its workshop and the grassroots union are all reached.
    assert set(UnitReach.objects.values_list("unit_id", flat=True)) == {
        tree.cd_union.pk,
        tree.cd_branch.pk,
        tree.cd_team.pk,
    }
    assert total(tree.chengdu, f"{figures.units_metric('grassroots')}@all") == 1
    assert total(tree.chengdu, f"{figures.units_metric('team')}@all") == 1
    # A second lecture for the same person: two attendances, one person reached.
    other = lecture(tree, title="第二讲")
    services.check_in(
        activity=other, member=tree.team_member, method=CheckInMethod.ROSTER, by=SYSTEM
    )
    assert total(tree.province, figures.CHECKINS) == 2
    assert total(tree.province, f"{figures.REACHED}@all") == 1
    assert stats.rebuild(check=True) == []


def test_refusals_have_reasons(tree):
    activity = lecture(tree)
    with pytest.raises(services.CheckInRefused) as exc:
        services.check_in(activity=activity, member=tree.my_member, method="qr", by=SYSTEM)
    assert exc.value.code == "not_in_audience"
    later = lecture(tree, starts_in=datetime.timedelta(hours=5))
    with pytest.raises(services.CheckInRefused) as exc:
        services.check_in(activity=later, member=tree.cd_member, method="qr", by=SYSTEM)
    assert exc.value.code == "too_early"
    past = lecture(tree, starts_in=datetime.timedelta(hours=-6))
    with pytest.raises(services.CheckInRefused) as exc:
        services.check_in(activity=past, member=tree.cd_member, method="qr", by=SYSTEM)
    assert exc.value.code == "too_late"
    # ... but the cadre may still type in the paper sheet afterwards.
    assert services.check_in(
        activity=past, member=tree.cd_member, method=CheckInMethod.ROSTER, by=SYSTEM
    ).created
    services.cancel_activity(tree.users["chengdu_admin"], activity, reason="天气原因")
    activity.refresh_from_db()
    with pytest.raises(services.CheckInRefused) as exc:
        services.check_in(activity=activity, member=tree.cd_member, method="qr", by=SYSTEM)
    assert exc.value.code == "cancelled"


def test_qr_token_checks_in_the_signed_in_worker(tree, settings):
    activity = lecture(tree)
    token = services.qr_token(activity)
    worker = tree.users["worker"]
    result = services.check_in_with_token(worker, token)
    assert result.created and result.checkin.member == tree.cd_member
    assert not services.check_in_with_token(worker, token).created  # a phone's retry
    with pytest.raises(services.CheckInRefused) as exc:
        services.check_in_with_token(worker, token[:-2] + "xx")
    assert exc.value.code == "bad_token"
    # A renewed secret invalidates every token already shown.
    services.renew_qr_secret(tree.users["chengdu_admin"], activity)
    with pytest.raises(services.CheckInRefused) as exc:
        services.check_in_with_token(worker, token)
    assert exc.value.code == "bad_token"


def test_expired_qr_token_is_refused(tree, monkeypatch):
    activity = lecture(tree)
    token = services.qr_token(activity)
    monkeypatch.setattr(services, "QR_TOKEN_SECONDS", -1)
    with pytest.raises(services.CheckInRefused) as exc:
        services.check_in_with_token(tree.users["worker"], token)
    assert exc.value.code == "expired_token"


def test_numeric_code_and_its_rate_limit(tree):
    activity = lecture(tree)
    worker = tree.users["worker"]
    wrong = "000000" if activity.check_in_code != "000000" else "111111"
    for _attempt in range(services.CODE_ATTEMPTS):
        with pytest.raises(services.CheckInRefused) as exc:
            services.check_in_with_code(worker, wrong)
        assert exc.value.code == "wrong_code"
    with pytest.raises(services.CheckInRefused) as exc:
        services.check_in_with_code(worker, activity.check_in_code)
    assert exc.value.code == "too_many_attempts"
    other = tree.users["nobody"]
    tree.cd_member2.user = other
    tree.cd_member2.save(update_fields=["user"])
    assert services.check_in_with_code(other, activity.check_in_code).created


def test_registration_waiting_list(tree):
    activity = lecture(
        tree, capacity=1, registration_required=True, starts_in=datetime.timedelta(hours=1)
    )
    admin = tree.users["chengdu_admin"]
    first = services.register(admin, activity, tree.cd_member)
    second = services.register(admin, activity, tree.cd_member2)
    assert first.status == RegistrationStatus.CONFIRMED
    assert second.status == RegistrationStatus.WAITLISTED
    assert services.register(admin, activity, tree.cd_member2).pk == second.pk  # idempotent
    with pytest.raises(ValidationError):
        services.register(admin, activity, tree.my_member)  # outside the audience
    services.cancel_registration(tree.users["worker"], first)
    second.refresh_from_db()
    assert second.status == RegistrationStatus.CONFIRMED
    # Registration required: a member without a place cannot check in by code.
    activity.starts_at = timezone.now() - datetime.timedelta(minutes=5)
    activity.save(update_fields=["starts_at"])
    with pytest.raises(services.CheckInRefused) as exc:
        services.check_in(activity=activity, member=tree.cd_member, method="code", by=SYSTEM)
    assert exc.value.code == "not_registered"
    assert services.check_in(
        activity=activity, member=tree.cd_member2, method="code", by=SYSTEM
    ).created


def test_cancelling_withdraws_everything_it_counted(tree):
    kept = lecture(tree, title="保留的一讲")
    services.check_in(activity=kept, member=tree.cd_member, method=CheckInMethod.ROSTER, by=SYSTEM)
    doomed = lecture(tree, title="取消的一讲")
    for member in (tree.cd_member, tree.team_member):
        services.check_in(activity=doomed, member=member, method=CheckInMethod.ROSTER, by=SYSTEM)
    assert total(tree.province, f"{figures.REACHED}@all") == 2
    assert total(tree.province, figures.HELD) == 2
    services.cancel_activity(tree.users["chengdu_admin"], doomed, reason="重复录入")
    assert total(tree.province, figures.CHECKINS) == 1
    assert total(tree.province, f"{figures.REACHED}@all") == 1  # 张伟 still reached by `kept`
    assert total(tree.province, figures.HELD) == 1
    assert total(tree.province, f"{figures.units_metric('team')}@all") == 0
    assert total(tree.province, f"{figures.units_metric('grassroots')}@all") == 1
    assert stats.rebuild(check=True) == []


def test_transfer_moves_members_reached_but_not_units(tree):
    activity = lecture(tree)
    services.check_in(
        activity=activity, member=tree.cd_member2, method=CheckInMethod.ROSTER, by=SYSTEM
    )
    transfer = org_services.request_transfer(
        actor=SYSTEM, member=tree.cd_member2, to_unit=tree.my_union
    )
    assert transfer.status == "accepted"
    assert total(tree.mianyang, f"{figures.REACHED}@all") == 1
    assert total(tree.chengdu, f"{figures.units_metric('grassroots')}@all") == 1
    assert stats.rebuild(check=True) == []


def test_attendance_sheet_is_all_or_nothing(tree):
    activity = lecture(tree)
    admin = tree.users["chengdu_admin"]

    def sheet(rows):
        wb = Workbook()
        ws = wb.active
        ws.append(["姓名", "身份证号"])
        for row in rows:
            ws.append(row)
        buffer = io.BytesIO()
        wb.save(buffer)
        buffer.seek(0)
        return buffer

    bad = sheet(
        [
            ["张伟", make_id_number(seq=11)],
            ["刘芳", make_id_number(region="510703", seq=44)],  # 绵阳: not in the audience
            ["某某", "123"],
        ]
    )
    with pytest.raises(services.AttendanceSheetRejected) as exc:
        services.import_attendance_sheet(admin, activity, bad, "签到表.xlsx")
    assert [e.row for e in exc.value.row_errors] == [3, 4]
    assert not CheckIn.objects.exists()
    good = sheet([["张伟", make_id_number(seq=11)], ["李娜", make_id_number(seq=22)]])
    outcome = services.import_attendance_sheet(admin, activity, good, "签到表.xlsx")
    assert outcome.checked_in == 2
    good.seek(0)
    again = services.import_attendance_sheet(admin, activity, good, "签到表.xlsx")
    assert again.checked_in == 0 and again.already == 2


def test_requirement_figures(tree):
    from gonghui.notices import services as notices
    from gonghui.notices.models import RequirementKind
    from gonghui.notices.selectors import report_prefill

    notice = notices.create_notice(
        actor=tree.users["province_admin"],
        issuer=tree.province,
        title="关于开展宣讲活动的通知",
        requires_ack=False,
        requirements=[notices.RequirementInput(RequirementKind.LECTURE, "宣讲进企业")],
    )
    notices.issue_notice(actor=tree.users["province_admin"], notice=notice)
    requirement = notice.requirements.get()
    linked = lecture(tree, requirement_id=requirement.pk)
    lecture(tree, title="未关联的一讲")
    for member in (tree.cd_member, tree.team_member):
        services.check_in(activity=linked, member=member, method=CheckInMethod.ROSTER, by=SYSTEM)
    assert total(tree.chengdu, figures.requirement_metric(requirement.pk, "held")) == 1
    assert total(tree.chengdu, figures.requirement_metric(requirement.pk, "checkins")) == 2
    assert total(tree.chengdu, figures.requirement_metric(requirement.pk, "reached") + "@all") == 2
    assert total(tree.chengdu, figures.requirement_metric(requirement.pk, "units") + "@all") == 3
    # The report pre-fill of the grassroots union shows what was recorded since the notice.
    dispatch = notice.dispatches.get(org=tree.cd_union)
    prefill = {f.code: f.value for f in report_prefill(dispatch)}
    assert prefill[figures.CHECKINS] == 2
    assert prefill[figures.REACHED] == 2
    # A member transferred away takes the requirement's "reached" along.
    org_services.request_transfer(actor=SYSTEM, member=tree.team_member, to_unit=tree.my_union)
    assert total(tree.mianyang, figures.requirement_metric(requirement.pk, "reached") + "@all") == 1
    assert stats.rebuild(check=True) == []


def test_a_sheet_typed_in_later_counts_on_the_day_it_happened(tree):
    today = timezone.localdate()
    now_lecture = lecture(tree, title="今天的一讲")
    services.check_in(activity=now_lecture, member=tree.cd_member, method="code", by=SYSTEM)
    earlier = lecture(tree, title="三天前的一讲", starts_in=datetime.timedelta(days=-3))
    services.check_in(
        activity=earlier, member=tree.cd_member, method=CheckInMethod.SHEET, by=SYSTEM
    )
    stats.fold_pending()
    from gonghui.stats.models import DistinctMark

    mark = DistinctMark.objects.get(metric=figures.REACHED, bucket="all", key=tree.cd_member.pk)
    assert mark.day == earlier.start_day < today
    assert total(tree.province, f"{figures.REACHED}@all") == 1
    assert stats.rebuild(check=True) == []
