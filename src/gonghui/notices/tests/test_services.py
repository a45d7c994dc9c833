"""Every transition of a notice and every refusal, on SQLite and PostgreSQL.

After each test the supervision figures (live, then folded) must equal counts computed
directly from the dispatch rows, and a rebuild from the facts must find no difference.
The clock is fixed (`clock`), so deadlines and lateness do not depend on the day the
tests run.
"""

from __future__ import annotations

import datetime
import zoneinfo
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import Http404
from django.utils import timezone

from gonghui.accounts.models import Notification
from gonghui.audit.models import AuditEntry
from gonghui.core.errors import ConcurrentEditError
from gonghui.notices import figures, selectors, services
from gonghui.notices.models import (
    ATTACHMENT_MAX_BYTES,
    Attachment,
    Dispatch,
    Measure,
    Notice,
    NoticeStatus,
    Relay,
    Reminder,
    Report,
    ReportStatus,
    Requirement,
)
from gonghui.notices.services import RequirementInput
from gonghui.orgs import services as org_services
from gonghui.orgs.models import Org, OrgStatus
from gonghui.orgs.scoping import SYSTEM
from gonghui.stats import services as stats
from gonghui.stats.models import FactDelta, OrgDayCount

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
DAY0 = datetime.date(2026, 3, 2)
STEPS = [step for step, _label in figures.STEPS]


def day(n: int) -> datetime.date:
    return DAY0 + datetime.timedelta(days=n)


class Clock:
    """Stands in for `django.utils.timezone.now`: `set(n, hour)` is day(n) at that hour,
    Beijing time."""

    def __init__(self) -> None:
        self.set(0)

    def set(self, n: int, hour: int = 10, minute: int = 0) -> datetime.datetime:
        local = datetime.datetime.combine(day(n), datetime.time(hour, minute), tzinfo=SHANGHAI)
        self.moment = local.astimezone(datetime.UTC)
        return self.moment

    def __call__(self) -> datetime.datetime:
        return self.moment


@contextmanager
def fake_clock() -> Iterator[Clock]:
    fake = Clock()
    with mock.patch("django.utils.timezone.now", fake):
        yield fake


@pytest.fixture
def clock() -> Iterator[Clock]:
    with fake_clock() as fake:
        yield fake


# --- expected figures, straight from the dispatch rows ---------------------------------------


def dispatch_steps(d: Dispatch, relayed: set[int]) -> dict[str, int]:
    """Which supervision figures one dispatch counts in (0 or 1 each), from its state."""
    on_time_ack = d.acknowledged_at is not None and (
        d.ack_due is None or timezone.localdate(d.acknowledged_at) <= d.ack_due
    )
    on_time_report = d.reported_at is not None and (
        d.report_due is None or timezone.localdate(d.reported_at) <= d.report_due
    )
    return {
        "audience": 1,
        "acknowledged": int(d.acknowledged_at is not None),
        "ack_on_time": int(on_time_ack),
        "ack_overdue": int(d.ack_overdue),
        "relayed": int(d.org_id in relayed),
        "planned": int(d.planned_at is not None),
        "reported": int(d.reported_at is not None),
        "report_on_time": int(on_time_report),
        "report_overdue": int(d.report_overdue),
        "accepted": int(d.report_status == ReportStatus.ACCEPTED),
    }


def expected_by_org(notice: Notice) -> dict[int, dict[str, int]]:
    """{org id: the supervision figures of its subtree}, summed from the dispatch rows
    over each dispatched org's ancestors (itself included)."""
    totals: dict[int, dict[str, int]] = defaultdict(lambda: dict.fromkeys(STEPS, 0))
    if notice.status == NoticeStatus.DRAFT:
        return totals
    relayed = set(Relay.objects.filter(notice=notice).values_list("org_id", flat=True))
    for d in Dispatch.objects.filter(notice=notice).select_related("org"):
        steps = dispatch_steps(d, relayed)
        for ancestor in d.org.ancestor_ids:
            for step, value in steps.items():
                totals[ancestor][step] += value
    return totals


def expected_figures(notice: Notice, org: Org) -> dict[str, int]:
    """The supervision figures of `org`'s subtree, counted from the dispatches' state."""
    return expected_by_org(notice)[org.pk]


def assert_supervision_matches(notice: Notice, only: list[Org] | None = None) -> None:
    """For every org (or those in `only`): the head row and the per-child rows of
    `selectors.supervision` equal the counts from the dispatches."""
    notice.refresh_from_db()
    expected = expected_by_org(notice)
    orgs = list(Org.objects.all())
    for org in orgs if only is None else only:
        org.refresh_from_db()
        head, rows = selectors.supervision(notice, org, SYSTEM)
        assert head.values == expected[org.pk], (notice.title, org.name)
        children = [c for c in orgs if c.parent_id == org.pk and c.status == OrgStatus.ACTIVE]
        assert {r.org.pk: r.values for r in rows} == {
            c.pk: expected[c.pk] for c in children if expected[c.pk]["audience"]
        }, (notice.title, org.name)


def settle() -> None:
    """Figures read live (pending changes included), folded, rebuilt: all agree."""
    notices = list(Notice.objects.all())
    for notice in notices:
        assert_supervision_matches(notice)
    stats.fold_pending()
    assert not FactDelta.objects.exists()
    assert stats.rebuild(check=True) == []
    for notice in notices:
        assert_supervision_matches(notice)


def figures_at(notice: Notice, org: Org) -> dict[str, int]:
    return selectors.supervision(notice, org, SYSTEM)[0].values


@pytest.fixture
def t(clock, tree) -> Iterator[Any]:
    tree.clock = clock
    yield tree
    settle()  # after every scenario


@contextmanager
def refused(code: str) -> Iterator[Any]:
    with pytest.raises(ValidationError) as info:
        yield info
    assert info.value.code == code, info.value.messages


def draft(t: Any, *, issuer: Org | None = None, actor: Any = None, **given: Any) -> Notice:
    fields: dict[str, Any] = {
        "title": "关于学习宣传贯彻的通知",
        "ack_due": day(5),
        "report_due": day(20),
    }
    fields.update(given)
    return services.create_notice(
        actor=actor or t.users["province_admin"], issuer=issuer or t.province, **fields
    )


def issued(t: Any, *, actor: Any = None, **given: Any) -> Notice:
    actor = actor or t.users["province_admin"]
    return services.issue_notice(actor=actor, notice=draft(t, actor=actor, **given))


def at(notice: Notice, org: Org) -> Dispatch:
    return Dispatch.objects.get(notice=notice, org=org)


def report(t: Any, notice: Notice, org: Org, user: str, key: str = "k1", **given: Any) -> Report:
    fields: dict[str, Any] = {"figures_values": {"lectures": 3}, "narrative": "开展宣讲三场"}
    fields.update(given)
    return services.submit_report(
        actor=t.users[user], dispatch=at(notice, org), submission_key=key, **fields
    )


def inbox_count(user: Any) -> int:
    return Notification.objects.filter(user=user).count()


# --- drafting -------------------------------------------------------------------------------


def test_a_draft_sends_nothing(t):
    notice = draft(
        t,
        doc_number=" 川工发〔2026〕12号 ",
        body='<p onclick="x()">学习<script>alert(1)</script><a href="javascript:x">链接</a></p>',
        requirements=[
            RequirementInput("lecture", "宣讲进基层", Measure.PER_UNIT, Decimal(1), "grassroots"),
            RequirementInput("study", "  ", Measure.NONE),  # an empty line of the form
            RequirementInput("study", "学习覆盖", Measure.SHARE, Decimal(80), "grassroots"),
        ],
    )
    assert notice.status == NoticeStatus.DRAFT
    assert (notice.doc_number, notice.doc_year) == ("川工发〔2026〕12号", 2026)
    assert "script" not in notice.body and "onclick" not in notice.body
    assert "javascript" not in notice.body and "学习" in notice.body
    reqs = list(notice.requirements.all())
    assert [(r.title, r.measure, r.unit_kind) for r in reqs] == [
        ("宣讲进基层", Measure.PER_UNIT, "grassroots"),
        ("学习覆盖", Measure.SHARE, ""),  # "in every" only applies to per-unit targets
    ]
    assert not Dispatch.objects.exists()
    assert AuditEntry.objects.filter(target_type="notices.notice", target_id=str(notice.pk))


def test_the_title_is_required(t):
    with refused("title_missing"):
        draft(t, title="  \n ")
    assert not Notice.objects.exists()


def test_a_document_number_is_unique_per_issuer_and_year(t):
    draft(t, doc_number="川工发〔2026〕12号")
    with refused("doc_number_taken"):
        draft(t, doc_number="川工发〔2026〕12号")
    with refused("doc_number_taken"):
        draft(t, doc_number="  川工发〔2026〕12号")
    # Another issuer may use the same number; another year is another number.
    other = draft(
        t, issuer=t.chengdu, actor=t.users["chengdu_admin"], doc_number="川工发〔2026〕12号"
    )
    assert other.doc_year == 2026
    assert draft(t, doc_number="川工发〔2025〕12号").doc_year == 2025
    # The year comes from 〔2024〕, [2024] or (2024); without one it is this year.
    assert draft(t, doc_number="川工办[2024]3号").doc_year == 2024
    assert draft(t, doc_number="川工办（2023）3号").doc_year == 2023
    plain = draft(t, doc_number="川工函7号")
    assert plain.doc_year == 2026
    with refused("doc_number_taken"):
        draft(t, doc_number="川工函7号")
    # Without a number any number of drafts is fine.
    assert draft(t).doc_year is None and draft(t).doc_year is None


@pytest.mark.parametrize(
    ("requirement", "code"),
    [
        (RequirementInput("dance", "跳舞"), "requirement_kind"),
        (RequirementInput("study", "学习", "most"), "requirement_measure"),
        (
            RequirementInput("lecture", "宣讲", Measure.PER_UNIT, None, "grassroots"),
            "requirement_threshold",
        ),
        (RequirementInput("lecture", "宣讲", Measure.TOTAL, Decimal(0)), "requirement_threshold"),
        (RequirementInput("lecture", "宣讲", Measure.TOTAL, Decimal(-2)), "requirement_threshold"),
        (
            RequirementInput("study", "学习", Measure.SHARE, Decimal("100.01")),
            "requirement_threshold",
        ),
        (
            RequirementInput("lecture", "宣讲", Measure.PER_UNIT, Decimal(1)),
            "requirement_unit_kind",
        ),
        (
            RequirementInput("lecture", "宣讲", Measure.PER_UNIT, Decimal(1), "factory"),
            "requirement_unit_kind",
        ),
        (RequirementInput("study", "学习", due=day(21)), "requirement_due"),
    ],
)
def test_requirements_are_checked(t, requirement, code):
    ok = RequirementInput("study", "学习")
    with refused(code) as info:
        draft(t, requirements=[ok, requirement])
    assert "2" in info.value.messages[0]  # names the line
    assert not Notice.objects.exists() and not Requirement.objects.exists()


def test_requirements_at_the_limits_are_accepted(t):
    notice = draft(
        t,
        requirements=[
            RequirementInput("study", "全员学习", Measure.SHARE, Decimal(100), due=day(20)),
            RequirementInput("competition", "技能竞赛", Measure.TOTAL, Decimal(3)),
            RequirementInput("other", "其他", Measure.NONE, None, "team"),
        ],
    )
    assert notice.requirements.count() == 3
    assert notice.requirements.get(kind="other").unit_kind == ""


def test_an_unknown_audience_kind_is_refused(t):
    with refused("kind"):
        draft(t, audience_kinds=["grassroots", "planet"])


# --- the audience ---------------------------------------------------------------------------


def test_issuing_sends_one_dispatch_to_every_org_below(t):
    notice = issued(t)
    expected = set(
        Org.objects.filter(ancestor_0=t.province.pk)
        .exclude(pk=t.province.pk)
        .values_list("pk", flat=True)
    )
    dispatched = list(Dispatch.objects.filter(notice=notice).values_list("org_id", flat=True))
    assert sorted(dispatched) == sorted(expected) and len(expected) == 10
    assert notice.status == NoticeStatus.ISSUED and notice.audience_size == 10
    assert notice.issued_by == t.users["province_admin"] and notice.issued_at == t.clock()
    assert set(Dispatch.objects.values_list("ack_due", "report_due")) == {(day(5), day(20))}
    assert figures_at(notice, t.province)["audience"] == 10
    assert figures_at(notice, t.chengdu)["audience"] == 6  # chengdu itself and below


@pytest.mark.parametrize(
    ("kinds", "orgs", "expected"),
    [
        (["grassroots"], [], {"cd_union", "my_union"}),
        ([], ["chengdu"], {"chengdu", "jinjiang", "chunxilu", "cd_union", "cd_branch", "cd_team"}),
        (["grassroots", "team"], ["jinjiang"], {"cd_union", "cd_team"}),
        (
            [],
            ["cd_branch", "fucheng"],
            {"cd_branch", "cd_team", "fucheng", "chengxiang", "my_union"},
        ),
        (["city"], [], {"chengdu", "mianyang"}),
    ],
)
def test_the_audience_is_narrowed_by_kinds_and_orgs(t, kinds, orgs, expected):
    notice = issued(t, audience_kinds=kinds, audience_orgs=[getattr(t, o) for o in orgs])
    names = {k for k, v in vars(t).items() if isinstance(v, Org)}
    got = {n for n in names if Dispatch.objects.filter(notice=notice, org=getattr(t, n)).exists()}
    assert got == expected
    assert notice.audience_size == len(expected)


def test_the_audience_stays_inside_the_issuers_subtree(t):
    chengdu_admin = t.users["chengdu_admin"]
    with refused("audience_outside"):
        draft(t, issuer=t.chengdu, actor=chengdu_admin, audience_orgs=[t.fucheng])
    with refused("audience_outside"):
        draft(t, issuer=t.chengdu, actor=chengdu_admin, audience_orgs=[t.chengdu])
    with refused("audience_outside"):
        draft(t, issuer=t.chengdu, actor=t.users["province_admin"], audience_orgs=[t.province])
    notice = draft(t, issuer=t.chengdu, actor=chengdu_admin)
    with refused("audience_outside"):
        services.update_notice(
            actor=chengdu_admin,
            notice=notice,
            version=notice.version,
            title=notice.title,
            audience_orgs=[t.my_union],
        )
    notice = services.issue_notice(actor=chengdu_admin, notice=notice)
    assert notice.audience_size == 5
    assert not Dispatch.objects.filter(notice=notice, org__ancestor_1=t.mianyang.pk).exists()


def test_dissolved_orgs_receive_nothing(t):
    org_services.dissolve_org(actor=SYSTEM, org=t.cd_team, reason="合并", members_leave=True)
    notice = issued(t)
    assert notice.audience_size == 9
    assert not Dispatch.objects.filter(org=t.cd_team).exists()


def test_an_empty_audience_is_refused(t):
    org_services.dissolve_org(actor=SYSTEM, org=t.cd_team, reason="合并", members_leave=True)
    notice = draft(t, audience_orgs=[t.cd_team])
    with refused("audience_empty"):
        services.issue_notice(actor=t.users["province_admin"], notice=notice)
    notice = draft(t, issuer=t.chengdu, actor=t.users["chengdu_admin"], audience_kinds=["city"])
    with refused("audience_empty"):
        services.issue_notice(actor=t.users["chengdu_admin"], notice=notice)
    notice.refresh_from_db()
    assert notice.status == NoticeStatus.DRAFT and notice.audience_size == 0
    assert (
        not Dispatch.objects.exists()
        and not FactDelta.objects.filter(metric__startswith="notice.").exists()
    )


# --- editing --------------------------------------------------------------------------------


def test_a_draft_is_edited_with_its_version(t):
    admin = t.users["province_admin"]
    notice = draft(
        t, doc_number="川工发〔2026〕12号", requirements=[RequirementInput("study", "学习")]
    )
    assert notice.version == 1
    edited = services.update_notice(
        actor=admin,
        notice=notice,
        version=1,
        title="关于学习的通知（修订）",
        doc_number="川工发〔2026〕12号",  # its own number is no clash
        audience_kinds=["grassroots"],
        audience_orgs=[t.chengdu],
        ack_due=day(3),
        report_due=day(10),
        requirements=[RequirementInput("lecture", "宣讲", Measure.TOTAL, Decimal(5), due=day(9))],
    )
    assert edited.version == 2 and edited.title == "关于学习的通知（修订）"
    assert [r.title for r in edited.requirements.all()] == ["宣讲"]
    assert list(edited.audience_orgs.all()) == [t.chengdu]
    # Somebody still holding version 1 overwrites nothing.
    with refused("stale") as info:
        services.update_notice(actor=admin, notice=notice, version=1, title="旧的")
    assert isinstance(info.value, ConcurrentEditError)
    edited.refresh_from_db()
    assert edited.title == "关于学习的通知（修订）" and edited.version == 2
    # Without requirements given, they are kept; bad requirements change nothing.
    services.update_notice(actor=admin, notice=edited, version=2, title="三稿", report_due=day(10))
    assert edited.requirements.count() == 1
    with refused("requirement_due"):
        services.update_notice(
            actor=admin,
            notice=edited,
            version=3,
            title="四稿",
            report_due=day(8),
            requirements=[RequirementInput("lecture", "宣讲", due=day(9))],
        )
    # Moving the report deadline before a kept requirement's deadline is refused too.
    with refused("requirement_due"):
        services.update_notice(
            actor=admin, notice=edited, version=3, title="五稿", report_due=day(8)
        )
    edited.refresh_from_db()
    assert edited.title == "三稿" and edited.version == 3


def test_a_document_number_clash_is_refused_on_edit(t):
    draft(t, doc_number="川工发〔2026〕1号")
    notice = draft(t, doc_number="川工发〔2026〕2号")
    with refused("doc_number_taken"):
        services.update_notice(
            actor=t.users["province_admin"],
            notice=notice,
            version=notice.version,
            title=notice.title,
            doc_number="川工发〔2026〕1号",
        )
    with refused("title_missing"):
        services.update_notice(
            actor=t.users["province_admin"], notice=notice, version=notice.version, title=""
        )


def test_an_issued_notice_cannot_be_changed_only_corrected(t, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    admin = t.users["province_admin"]
    notice = issued(t, doc_number="川工发〔2026〕12号")
    with refused("not_draft"):
        services.update_notice(actor=admin, notice=notice, version=notice.version, title="改")
    with refused("not_draft"):
        services.add_attachment(actor=admin, notice=notice, upload=pdf())
    notice.refresh_from_db()
    assert notice.title == "关于学习宣传贯彻的通知"
    correction = draft(t, title="关于更正的通知", doc_number="川工发〔2026〕13号", corrects=notice)
    assert correction.corrects == notice and list(notice.corrections.all()) == [correction]
    # A correction must correct an issued notice of the same issuer.
    with refused("corrects"):
        draft(t, title="更正草稿", corrects=correction)
    city_notice = issued(t, issuer=t.chengdu, actor=t.users["chengdu_admin"])
    with refused("corrects"):
        draft(t, title="更正", corrects=city_notice)
    with refused("corrects"):
        draft(t, issuer=t.chengdu, actor=t.users["chengdu_admin"], title="更正", corrects=notice)


def test_only_issuing_cadres_draft_and_edit(t):
    with pytest.raises(Http404):  # the province is outside a city cadre's tree
        draft(t, issuer=t.province, actor=t.users["chengdu_admin"])
    with pytest.raises(PermissionDenied):  # a viewer sees chengdu but may not issue
        draft(t, issuer=t.chengdu, actor=t.users["chengdu_viewer"])
    with pytest.raises(Http404):
        draft(t, issuer=t.chengdu, actor=t.users["mianyang_admin"])
    with pytest.raises(Http404):
        draft(t, issuer=t.chengdu, actor=t.users["nobody"])
    notice = draft(t, issuer=t.chengdu, actor=t.users["chengdu_staff"])
    with pytest.raises(PermissionDenied):
        services.update_notice(
            actor=t.users["chengdu_viewer"], notice=notice, version=1, title="改"
        )
    assert Notice.objects.count() == 1


# --- attachments ----------------------------------------------------------------------------


def pdf(name: str = "方案.pdf", size: int = 100) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, b"%PDF-1.7\n" + b"0" * max(0, size - 9))


def test_attachments_are_checked_by_extension_and_content(t, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    admin = t.users["province_admin"]
    notice = draft(t)
    good = [
        pdf(),
        SimpleUploadedFile("报名表.DOCX", b"PK\x03\x04rest-of-zip"),
        SimpleUploadedFile("旧表.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"),
        SimpleUploadedFile("海报.png", b"\x89PNG\r\n\x1a\n...."),
        SimpleUploadedFile("照片.jpeg", b"\xff\xd8\xff\xe0...."),
    ]
    for upload in good:
        services.add_attachment(actor=admin, notice=notice, upload=upload)
    assert sorted(notice.attachments.values_list("content_type", flat=True)) == sorted(
        [
            "application/pdf",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/msword",
            "image/png",
            "image/jpeg",
        ]
    )
    stored = notice.attachments.get(name="方案.pdf")
    assert stored.size == 100 and stored.file.read().startswith(b"%PDF")
    bad = [
        (SimpleUploadedFile("run.exe", b"MZ\x90\x00"), "file_type"),
        (SimpleUploadedFile("notes.txt", b"%PDF-1.7"), "file_type"),
        (SimpleUploadedFile("no-extension", b"%PDF-1.7"), "file_type"),
        (SimpleUploadedFile("方案.pdf", b"MZ\x90\x00 a program"), "file_content"),
        (SimpleUploadedFile("海报.png", b"\xff\xd8\xff\xe0 a jpeg"), "file_content"),
        (SimpleUploadedFile("空.pdf", b""), "file_content"),
        (pdf("大.pdf", size=ATTACHMENT_MAX_BYTES + 1), "file_size"),
    ]
    for upload, code in bad:
        with refused(code):
            services.add_attachment(actor=admin, notice=notice, upload=upload)
    assert notice.attachments.count() == 5
    # Exactly at the limit is fine.
    services.add_attachment(
        actor=admin, notice=notice, upload=pdf("刚好.pdf", ATTACHMENT_MAX_BYTES)
    )
    path = tmp_path / stored.file.name
    assert path.exists()
    services.remove_attachment(actor=admin, attachment=stored)
    assert not Attachment.objects.filter(pk=stored.pk).exists()
    assert not path.exists()


def test_attachments_only_on_drafts_and_by_issuing_cadres(t, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    notice = draft(t)
    attachment = services.add_attachment(
        actor=t.users["province_admin"], notice=notice, upload=pdf()
    )
    with pytest.raises(Http404):
        services.add_attachment(actor=t.users["chengdu_admin"], notice=notice, upload=pdf())
    services.issue_notice(actor=t.users["province_admin"], notice=notice)
    with refused("not_draft"):
        services.remove_attachment(actor=t.users["province_admin"], attachment=attachment)
    assert Attachment.objects.count() == 1


# --- issuing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "code"),
    [
        ({"ack_due": day(-1)}, "deadline_past"),
        ({"report_due": day(-1), "ack_due": None, "requires_ack": False}, "deadline_past"),
        ({"ack_due": day(9), "report_due": day(8)}, "deadline_order"),
        ({"ack_due": None}, "ack_due_missing"),
    ],
)
def test_bad_deadlines_are_refused_at_issue(t, given, code):
    notice = draft(t, **given)
    with refused(code):
        services.issue_notice(actor=t.users["province_admin"], notice=notice)
    notice.refresh_from_db()
    assert notice.status == NoticeStatus.DRAFT and not Dispatch.objects.exists()


def test_a_notice_issued_just_after_midnight_is_dated_that_day(t):
    # 00:30 in Beijing is still the day before in UTC: figures use the local day.
    t.clock.set(3, hour=0, minute=30)
    notice = issued(t, ack_due=day(3), report_due=day(3))
    services.acknowledge(actor=t.users["chengdu_admin"], dispatch=at(notice, t.chengdu))
    t.clock.set(4, hour=0, minute=30)
    services.acknowledge(actor=t.users["mianyang_admin"], dispatch=at(notice, t.mianyang))
    assert figures.fact_day(notice) == day(3)
    values = figures_at(notice, t.province)
    assert (values["acknowledged"], values["ack_on_time"]) == (2, 1)
    settle()
    days = set(
        OrgDayCount.objects.filter(metric__startswith=f"notice.{notice.pk}.").values_list(
            "day", flat=True
        )
    )
    assert days == {day(3)}


def test_deadlines_of_today_and_without_acknowledgement(t):
    notice = issued(t, ack_due=day(0), report_due=day(0))
    assert notice.status == NoticeStatus.ISSUED
    no_ack = issued(t, requires_ack=False, ack_due=None, report_due=None)
    assert set(Dispatch.objects.filter(notice=no_ack).values_list("ack_due", "report_due")) == {
        (None, None)
    }
    # An acknowledgement deadline on a notice that needs none is not passed down.
    loose = issued(t, requires_ack=False, ack_due=day(2))
    assert set(Dispatch.objects.filter(notice=loose).values_list("ack_due", flat=True)) == {None}


def test_issuing_twice_creates_nothing_twice(t):
    admin = t.users["province_admin"]
    notice = draft(t)
    first = services.issue_notice(actor=admin, notice=notice)
    facts = FactDelta.objects.count()
    t.clock.set(1)
    again = services.issue_notice(actor=admin, notice=notice)  # the stale draft object
    assert again.pk == first.pk and again.issued_at == first.issued_at
    assert again.audience_size == 10 and Dispatch.objects.count() == 10
    assert FactDelta.objects.count() == facts
    assert figures_at(notice, t.province)["audience"] == 10


def test_only_cadres_of_the_issuer_issue(t):
    province_draft = draft(t)
    with pytest.raises(Http404):
        services.issue_notice(actor=t.users["chengdu_admin"], notice=province_draft)
    city_draft = draft(t, issuer=t.chengdu, actor=t.users["chengdu_admin"])
    with pytest.raises(PermissionDenied):
        services.issue_notice(actor=t.users["chengdu_viewer"], notice=city_draft)
    with pytest.raises(Http404):
        services.issue_notice(actor=t.users["mianyang_admin"], notice=city_draft)
    with pytest.raises(Http404):
        services.issue_notice(actor=t.users["cd_union_admin"], notice=city_draft)
    assert not Dispatch.objects.exists()
    assert services.issue_notice(actor=t.users["chengdu_staff"], notice=city_draft).audience_size
    assert Dispatch.objects.count() == 5


# --- acknowledging --------------------------------------------------------------------------


def test_acknowledge_once_on_time(t):
    notice = issued(t)
    t.clock.set(2)
    d = services.acknowledge(actor=t.users["cd_union_admin"], dispatch=at(notice, t.cd_union))
    assert d.acknowledged_at == t.clock() and d.acknowledged_by == t.users["cd_union_admin"]
    assert d.read_at == t.clock()
    t.clock.set(3)
    again = services.acknowledge(actor=t.users["cd_union_only"], dispatch=at(notice, t.cd_union))
    assert again.acknowledged_at == d.acknowledged_at
    assert again.acknowledged_by == t.users["cd_union_admin"]
    values = figures_at(notice, t.province)
    assert (values["acknowledged"], values["ack_on_time"]) == (1, 1)
    settle()


def test_acknowledging_late_counts_but_not_as_on_time(t):
    notice = issued(t)  # acknowledge by day 5
    t.clock.set(5, hour=23, minute=59)
    services.acknowledge(actor=t.users["chengdu_admin"], dispatch=at(notice, t.chengdu))
    t.clock.set(6, hour=0, minute=5)  # five minutes too late (Beijing time)
    services.acknowledge(actor=t.users["cd_union_admin"], dispatch=at(notice, t.cd_union))
    values = figures_at(notice, t.province)
    assert (values["acknowledged"], values["ack_on_time"]) == (2, 1)
    assert figures_at(notice, t.cd_union)["ack_on_time"] == 0


def test_only_the_target_org_acknowledges(t):
    notice = issued(t)
    city = at(notice, t.chengdu)
    with pytest.raises(PermissionDenied):  # the province sees the city but is not it
        services.acknowledge(actor=t.users["province_admin"], dispatch=city)
    with pytest.raises(PermissionDenied):  # a viewer of the city may not act
        services.acknowledge(actor=t.users["chengdu_viewer"], dispatch=city)
    with pytest.raises(Http404):
        services.acknowledge(actor=t.users["mianyang_admin"], dispatch=city)
    with pytest.raises(Http404):
        services.acknowledge(actor=t.users["cd_union_admin"], dispatch=city)
    with pytest.raises(PermissionDenied):  # a city cadre does not sign for a union below
        services.acknowledge(actor=t.users["chengdu_admin"], dispatch=at(notice, t.cd_union))
    with pytest.raises(Http404):  # an org-only role sees nothing below its org
        services.acknowledge(actor=t.users["cd_union_only"], dispatch=at(notice, t.cd_branch))
    with pytest.raises(PermissionDenied):
        services.acknowledge(actor=t.users["cd_union_admin"], dispatch=at(notice, t.cd_branch))
    assert not Dispatch.objects.filter(acknowledged_at__isnull=False).exists()
    services.acknowledge(actor=t.users["cd_union_only"], dispatch=at(notice, t.cd_union))
    services.acknowledge(actor=t.users["chengdu_staff"], dispatch=city)
    assert Dispatch.objects.filter(acknowledged_at__isnull=False).count() == 2


def test_reading_marks_only_the_targets_own_opening(t):
    notice = issued(t)
    d = at(notice, t.cd_union)
    services.mark_read(actor=t.users["chengdu_admin"], dispatch=d)
    assert at(notice, t.cd_union).read_at is None
    services.mark_read(actor=t.users["cd_union_only"], dispatch=d)
    assert at(notice, t.cd_union).read_at == t.clock()


# --- relaying -------------------------------------------------------------------------------


def test_relay_passes_earlier_deadlines_down_but_not_to_steps_done(t):
    notice = issued(t, ack_due=day(10), report_due=day(30))
    t.clock.set(1)
    services.acknowledge(actor=t.users["cd_union_admin"], dispatch=at(notice, t.cd_union))
    relay = services.relay(
        actor=t.users["chengdu_admin"],
        dispatch=at(notice, t.chengdu),
        note="<p>请各单位认真落实<script>x</script></p>",
        doc_number="成工发〔2026〕5号",
        ack_due=day(4),
        report_due=day(20),
        requirements=[
            RequirementInput("lecture", "宣讲进车间", Measure.PER_UNIT, Decimal(1), "branch"),
            RequirementInput("publicity", "宣传报道", Measure.TOTAL, Decimal(10), due=day(15)),
        ],
    )
    assert relay.org == t.chengdu and "script" not in relay.note
    assert [r.title for r in relay.requirements.all()] == ["宣讲进车间", "宣传报道"]
    dues = dict(Dispatch.objects.filter(notice=notice).values_list("org_id", "ack_due"))
    assert dues[t.chengdu.pk] == day(10)  # the relaying org keeps what it was given
    assert dues[t.jinjiang.pk] == dues[t.cd_team.pk] == day(4)
    assert dues[t.cd_union.pk] == day(10)  # acknowledged already under the old deadline
    assert dues[t.mianyang.pk] == dues[t.my_union.pk] == day(10)  # another city
    reports = dict(Dispatch.objects.filter(notice=notice).values_list("org_id", "report_due"))
    assert reports[t.cd_union.pk] == day(20) and reports[t.my_union.pk] == day(30)
    # The relay acknowledged the city's own dispatch.
    city = at(notice, t.chengdu)
    assert city.acknowledged_by == t.users["chengdu_admin"]
    values = figures_at(notice, t.province)
    assert (values["relayed"], values["acknowledged"], values["ack_on_time"]) == (1, 2, 2)
    # The chain is visible below.
    chain = selectors.relay_chain(at(notice, t.cd_team))
    assert [(s.org, s.ack_due) for s in chain] == [(t.province, day(10)), (t.chengdu, day(4))]
    assert [r.title for r in chain[1].requirements] == ["宣讲进车间", "宣传报道"]


def test_a_relay_below_a_relay_keeps_the_earliest_deadline(t):
    notice = issued(t, ack_due=day(10), report_due=day(30))
    services.relay(
        actor=t.users["chengdu_admin"], dispatch=at(notice, t.chengdu), report_due=day(20)
    )
    with refused("deadline_later_than_parent"):
        services.relay(
            actor=t.users["superuser"], dispatch=at(notice, t.jinjiang), report_due=day(21)
        )
    services.relay(actor=t.users["superuser"], dispatch=at(notice, t.jinjiang), report_due=day(15))
    services.relay(actor=t.users["cd_union_only"], dispatch=at(notice, t.cd_union), ack_due=day(8))
    dues = {d.org_id: (d.ack_due, d.report_due) for d in Dispatch.objects.filter(notice=notice)}
    assert dues[t.chunxilu.pk] == (day(10), day(15))
    assert dues[t.cd_team.pk] == (day(8), day(15))
    assert dues[t.cd_union.pk] == (day(10), day(15))
    chain = selectors.relay_chain(at(notice, t.cd_team))
    assert [s.org for s in chain] == [t.province, t.chengdu, t.jinjiang, t.cd_union]
    assert figures_at(notice, t.chengdu)["relayed"] == 3


def test_relay_refusals(t):
    notice = issued(t, ack_due=day(10), report_due=day(30))
    city = at(notice, t.chengdu)
    admin = t.users["chengdu_admin"]
    with refused("deadline_later_than_parent"):
        services.relay(actor=admin, dispatch=city, ack_due=day(11))
    with refused("deadline_later_than_parent"):
        services.relay(actor=admin, dispatch=city, report_due=day(31))
    with refused("deadline_past"):
        services.relay(actor=admin, dispatch=city, ack_due=day(-1))
    with refused("requirement_due"):  # a requirement due after the relay's own deadline
        services.relay(
            actor=admin,
            dispatch=city,
            report_due=day(20),
            requirements=[RequirementInput("study", "学习", due=day(21))],
        )
    with refused("requirement_threshold"):
        services.relay(
            actor=admin,
            dispatch=city,
            requirements=[RequirementInput("study", "学习", Measure.SHARE, Decimal(120))],
        )
    with pytest.raises(PermissionDenied):
        services.relay(actor=t.users["province_admin"], dispatch=city)
    with pytest.raises(Http404):
        services.relay(actor=t.users["mianyang_admin"], dispatch=city)
    with refused("nothing_below"):
        services.relay(actor=t.users["superuser"], dispatch=at(notice, t.cd_team))
    assert not Relay.objects.exists() and not Requirement.objects.exists()
    assert at(notice, t.chengdu).acknowledged_at is None  # nothing half done
    assert set(Dispatch.objects.values_list("ack_due", flat=True)) == {day(10)}
    services.relay(actor=admin, dispatch=city, ack_due=day(10), report_due=day(30))
    with refused("relayed"):
        services.relay(actor=t.users["chengdu_staff"], dispatch=city, report_due=day(20))
    assert Relay.objects.count() == 1 and figures_at(notice, t.province)["relayed"] == 1


def test_relay_with_nobody_left_below(t):
    # Only the grassroots unions receive it: cd_union has nobody below that received it.
    notice = issued(t, audience_kinds=["grassroots"])
    with refused("nothing_below"):
        services.relay(actor=t.users["cd_union_admin"], dispatch=at(notice, t.cd_union))


# --- planning -------------------------------------------------------------------------------


def test_plan_is_saved_revised_and_counted_once(t):
    notice = issued(t)
    d = at(notice, t.cd_union)
    with refused("plan_missing"):
        services.save_plan(actor=t.users["cd_union_admin"], dispatch=d, plan="  ")
    with pytest.raises(PermissionDenied):
        services.save_plan(actor=t.users["chengdu_admin"], dispatch=d, plan="上级代写")
    first = services.save_plan(actor=t.users["cd_union_admin"], dispatch=d, plan="三月宣讲")
    t.clock.set(1)
    second = services.save_plan(actor=t.users["cd_union_only"], dispatch=d, plan="四月宣讲")
    assert second.plan == "四月宣讲" and second.planned_at == first.planned_at
    assert figures_at(notice, t.province)["planned"] == 1
    report(t, notice, t.cd_union, "cd_union_admin")
    services.review_report(
        actor=t.users["chengdu_admin"],
        report=Report.objects.get(dispatch__org=t.cd_union),
        accept=True,
    )
    with refused("accepted"):
        services.save_plan(actor=t.users["cd_union_admin"], dispatch=d, plan="五月")


# --- reporting ------------------------------------------------------------------------------


def test_a_report_is_submitted_once_per_key(t):
    notice = issued(t)
    t.clock.set(3)
    stale = at(notice, t.cd_union)  # two tabs / a double click hold the same object
    first = services.submit_report(
        actor=t.users["cd_union_admin"],
        dispatch=stale,
        figures_values={"lectures": "3", "members_reached": 40},
        narrative="  开展宣讲三场  ",
        submission_key="form-1",
    )
    again = services.submit_report(
        actor=t.users["cd_union_only"],
        dispatch=stale,
        figures_values={"lectures": 99},
        narrative="别的",
        submission_key="form-1",
    )
    assert again.pk == first.pk and Report.objects.count() == 1
    assert first.figures == {"lectures": 3, "members_reached": 40}
    assert first.narrative == "开展宣讲三场"
    d = at(notice, t.cd_union)
    assert d.report_status == ReportStatus.SUBMITTED and d.reported_at == t.clock()
    assert d.acknowledged_at == t.clock()  # reporting acknowledges
    values = figures_at(notice, t.province)
    assert (values["reported"], values["report_on_time"], values["acknowledged"]) == (1, 1, 1)
    # Another form while the report is with the reviewer: refused.
    with refused("report_pending"):
        report(t, notice, t.cd_union, "cd_union_admin", key="form-2")
    assert Report.objects.count() == 1


def test_a_key_that_raced_past_the_first_lookup_returns_the_same_report(t):
    """Two requests with the same key both pass the "already there?" lookup; the second
    insert hits the unique key and returns the first report."""
    notice = issued(t)
    first = report(t, notice, t.cd_union, "cd_union_admin", key="race")
    Dispatch.objects.filter(pk=first.dispatch_id).update(report_status=ReportStatus.RETURNED)
    real_filter = Report.objects.filter

    class Missing:
        def first(self) -> None:
            return None

    def filter_missing_once(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("submission_key") == "race" and "pk" not in kwargs:
            return Missing()
        return real_filter(*args, **kwargs)

    with mock.patch.object(Report.objects, "filter", side_effect=filter_missing_once):
        second = report(t, notice, t.cd_union, "cd_union_only", key="race", narrative="重复")
    assert second.pk == first.pk and Report.objects.count() == 1
    Dispatch.objects.filter(pk=first.dispatch_id).update(report_status=ReportStatus.SUBMITTED)


@pytest.mark.parametrize(
    ("given", "code"),
    [
        ({"narrative": "  "}, "narrative_missing"),
        ({"figures_values": {"lectures": -1}}, "figure"),
        ({"figures_values": {"lectures": "三"}}, "figure"),
        ({"figures_values": {"lectures": "2.5"}}, "figure"),
        ({"figures_values": {"lectures": 2.5}}, "figure"),
        ({"figures_values": {"lectures": Decimal("0.5")}}, "figure"),
        ({"figures_values": {"lectures": None}}, "figure"),
        ({"figures_values": {"lectures": float("inf")}}, "figure"),
        ({"figures_values": {"lectures": float("nan")}}, "figure"),
        ({"figures_values": {"lectures": True}}, "figure"),
        ({"submission_key": " "}, "submission_key"),
    ],
)
def test_bad_reports_are_refused(t, given, code):
    notice = issued(t)
    fields: dict[str, Any] = {
        "figures_values": {"lectures": 3},
        "narrative": "开展宣讲",
        "submission_key": "k",
    }
    fields.update(given)
    with refused(code):
        services.submit_report(
            actor=t.users["cd_union_admin"], dispatch=at(notice, t.cd_union), **fields
        )
    d = at(notice, t.cd_union)
    assert d.report_status == "" and d.reported_at is None and not Report.objects.exists()


def test_whole_numbers_in_any_spelling_are_accepted(t):
    notice = issued(t)
    r = report(
        t,
        notice,
        t.cd_union,
        "cd_union_admin",
        figures_values={"a": 0, "b": " 12 ", "c": 4.0, "d": Decimal("5")},
    )
    assert r.figures == {"a": 0, "b": 12, "c": 4, "d": 5}


def test_evidence_files_are_checked(t, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    notice = issued(t)
    with refused("file_content"):
        fake_photo = SimpleUploadedFile("x.jpg", b"GIF89a")
        report(t, notice, t.cd_union, "cd_union_admin", evidence=[pdf(), fake_photo])
    assert not Report.objects.exists()
    r = report(t, notice, t.cd_union, "cd_union_admin", evidence=[pdf("照片.pdf")])
    assert [(e.name, e.content_type) for e in r.evidence.all()] == [("照片.pdf", "application/pdf")]


def test_only_the_target_org_reports(t):
    notice = issued(t)
    with pytest.raises(PermissionDenied):
        report(t, notice, t.cd_union, "chengdu_admin")
    with pytest.raises(Http404):
        report(t, notice, t.cd_union, "mianyang_admin")
    with pytest.raises(PermissionDenied):
        report(t, notice, t.chengdu, "province_admin")
    with pytest.raises(PermissionDenied):
        report(t, notice, t.chengdu, "chengdu_viewer")
    assert not Report.objects.exists()


def test_a_late_report_is_counted_but_not_on_time(t):
    notice = issued(t)  # report by day 20
    t.clock.set(21)
    report(t, notice, t.cd_union, "cd_union_admin")
    values = figures_at(notice, t.province)
    assert (values["reported"], values["report_on_time"]) == (1, 0)
    assert (values["acknowledged"], values["ack_on_time"]) == (1, 0)


def test_returned_reports_are_resubmitted_and_history_kept(t):
    notice = issued(t)
    reviewer = t.users["chengdu_admin"]
    first = report(t, notice, t.cd_union, "cd_union_admin", key="a")
    t.clock.set(1)
    with refused("comment_missing"):
        services.review_report(actor=reviewer, report=first, accept=False, comment=" ")
    returned = services.review_report(
        actor=reviewer, report=first, accept=False, comment="补充照片"
    )
    assert returned.status == ReportStatus.RETURNED and returned.review_comment == "补充照片"
    assert at(notice, t.cd_union).report_status == ReportStatus.RETURNED
    t.clock.set(2)
    second = report(t, notice, t.cd_union, "cd_union_admin", key="b", narrative="已补充")
    assert second.pk != first.pk
    d = at(notice, t.cd_union)
    assert d.report_status == ReportStatus.SUBMITTED
    assert d.reported_at == first.submitted_at  # the first submission counts
    accepted = services.review_report(actor=reviewer, report=second, accept=True)
    assert accepted.status == ReportStatus.ACCEPTED and at(notice, t.cd_union).accepted_at
    history = list(Report.objects.filter(dispatch=d).order_by("submitted_at"))
    assert [(r.narrative, r.status) for r in history] == [
        ("开展宣讲三场", ReportStatus.RETURNED),
        ("已补充", ReportStatus.ACCEPTED),
    ]
    values = figures_at(notice, t.province)
    assert (values["reported"], values["accepted"], values["report_on_time"]) == (1, 1, 1)
    with refused("report_pending"):
        report(t, notice, t.cd_union, "cd_union_admin", key="c")
    # The old, returned report cannot be accepted now.
    with refused("reviewed"):
        services.review_report(actor=reviewer, report=first, accept=True)


# --- reviewing ------------------------------------------------------------------------------


def test_a_double_click_on_review_returns_the_same_decision(t):
    notice = issued(t)
    r = report(t, notice, t.cd_union, "cd_union_admin")
    before = inbox_count(t.users["cd_union_admin"])
    first = services.review_report(actor=t.users["chengdu_admin"], report=r, accept=True)
    again = services.review_report(actor=t.users["chengdu_staff"], report=r, accept=True)
    assert again.pk == first.pk and again.reviewed_by == t.users["chengdu_admin"]
    assert inbox_count(t.users["cd_union_admin"]) == before + 1
    with refused("reviewed"):
        services.review_report(actor=t.users["chengdu_admin"], report=r, accept=False, comment="x")
    assert figures_at(notice, t.province)["accepted"] == 1
    other = report(t, notice, t.my_union, "superuser")
    services.review_report(actor=t.users["province_admin"], report=other, accept=False, comment="a")
    services.review_report(actor=t.users["province_admin"], report=other, accept=False, comment="b")
    other.refresh_from_db()
    assert other.review_comment == "a"
    with refused("reviewed"):
        services.review_report(actor=t.users["province_admin"], report=other, accept=True)


def test_only_the_unions_above_review(t):
    notice = issued(t)
    union_report = report(t, notice, t.cd_union, "cd_union_admin")
    city_report = report(t, notice, t.chengdu, "chengdu_admin")
    with pytest.raises(PermissionDenied):  # not one's own report
        services.review_report(actor=t.users["cd_union_admin"], report=union_report, accept=True)
    with pytest.raises(PermissionDenied):
        services.review_report(actor=t.users["cd_union_only"], report=union_report, accept=True)
    with pytest.raises(PermissionDenied):
        services.review_report(actor=t.users["chengdu_viewer"], report=union_report, accept=True)
    with pytest.raises(Http404):
        services.review_report(actor=t.users["mianyang_admin"], report=union_report, accept=True)
    with pytest.raises(PermissionDenied):  # the city does not review itself
        services.review_report(actor=t.users["chengdu_admin"], report=city_report, accept=True)
    assert Report.objects.filter(status=ReportStatus.SUBMITTED).count() == 2
    services.review_report(actor=t.users["province_admin"], report=city_report, accept=True)
    services.review_report(actor=t.users["province_admin"], report=union_report, accept=True)
    # The org-only admin of a union reviews its branch (its own org is the parent).
    branch_report = report(t, notice, t.cd_branch, "superuser")
    services.review_report(actor=t.users["cd_union_only"], report=branch_report, accept=True)
    assert figures_at(notice, t.province)["accepted"] == 3


# --- reminding ------------------------------------------------------------------------------


def test_remind_late_reaches_only_late_undone_dispatches_in_the_subtree(t):
    notice = issued(t, ack_due=day(5), report_due=day(20))
    services.acknowledge(actor=t.users["cd_union_admin"], dispatch=at(notice, t.cd_union))
    chengdu_admin = t.users["chengdu_admin"]
    # Nothing is late yet.
    assert services.remind_late(actor=chengdu_admin, notice=notice, org=t.chengdu, kind="ack") == 0
    t.clock.set(6)
    inbox = {name: inbox_count(t.users[name]) for name in ("cd_union_admin", "chengdu_admin")}
    n = services.remind_late(
        actor=chengdu_admin, notice=notice, org=t.chengdu, kind="ack", batch_key="b1"
    )
    # jinjiang, chunxilu, cd_branch, cd_team; not cd_union (done), not chengdu itself.
    assert n == 4
    reminded = set(Reminder.objects.values_list("dispatch__org_id", flat=True))
    assert reminded == {t.jinjiang.pk, t.chunxilu.pk, t.cd_branch.pk, t.cd_team.pk}
    assert inbox["cd_union_admin"] == inbox_count(t.users["cd_union_admin"])
    again = services.remind_late(
        actor=chengdu_admin, notice=notice, org=t.chengdu, kind="ack", batch_key="b1"
    )
    assert again == 0 and Reminder.objects.count() == 4
    # The province reminds its whole tree, the city included; another batch reminds again.
    n = services.remind_late(
        actor=t.users["province_admin"], notice=notice, org=t.province, kind="ack", batch_key="p"
    )
    assert n == 9
    assert inbox_count(t.users["chengdu_admin"]) == inbox["chengdu_admin"] + 1
    assert inbox_count(t.users["chengdu_staff"]) >= 1
    assert inbox_count(t.users["chengdu_viewer"]) == 0  # may not act on it
    city = Reminder.objects.get(dispatch__org=t.chengdu)
    assert city.recipients == 2 and city.sent_by == t.users["province_admin"]
    # Reports are not late yet.
    assert (
        services.remind_late(
            actor=t.users["province_admin"], notice=notice, org=t.province, kind="report"
        )
        == 0
    )


def test_reminders_notify_the_cadres_of_each_late_org(t):
    notice = issued(t, ack_due=day(5), report_due=day(20))
    t.clock.set(21)
    report(t, notice, t.my_union, "superuser")
    before = {u: inbox_count(t.users[u]) for u in ("cd_union_admin", "cd_union_only")}
    n = services.remind_late(
        actor=t.users["province_admin"], notice=notice, org=t.province, kind="report"
    )
    assert n == 9
    for user, count in before.items():
        assert inbox_count(t.users[user]) == count + 1
        message = Notification.objects.filter(user=t.users[user]).first()
        assert notice.title in message.title
        assert message.link.endswith(f"/{at(notice, t.cd_union).pk}/")
    assert Reminder.objects.get(dispatch__org=t.cd_union).recipients == 2
    assert Reminder.objects.get(dispatch__org=t.jinjiang).recipients == 0


def test_who_may_remind(t):
    notice = issued(t)
    t.clock.set(6)
    with pytest.raises(PermissionDenied):
        services.remind_late(
            actor=t.users["chengdu_viewer"], notice=notice, org=t.chengdu, kind="ack"
        )
    with pytest.raises(Http404):
        services.remind_late(
            actor=t.users["mianyang_admin"], notice=notice, org=t.chengdu, kind="ack"
        )
    with refused("reminder_kind"):
        services.remind_late(actor=t.users["chengdu_admin"], notice=notice, org=t.chengdu, kind="x")
    assert not Reminder.objects.exists()


def test_a_closed_notice_is_not_chased(t):
    notice = issued(t)
    t.clock.set(6)
    services.close_notice(actor=t.users["province_admin"], notice=notice)
    with refused("notice_closed"):
        services.remind_late(
            actor=t.users["province_admin"], notice=notice, org=t.province, kind="ack"
        )
    assert not Reminder.objects.exists() and not Notification.objects.exists()


# --- closing --------------------------------------------------------------------------------


def test_closing(t):
    notice = issued(t)
    services.acknowledge(actor=t.users["cd_union_admin"], dispatch=at(notice, t.cd_union))
    report(t, notice, t.cd_union, "cd_union_admin")
    with pytest.raises(Http404):
        services.close_notice(actor=t.users["chengdu_admin"], notice=notice)
    with refused("not_issued"):
        services.close_notice(actor=t.users["province_admin"], notice=draft(t, title="草稿"))
    closed = services.close_notice(actor=t.users["province_admin"], notice=notice)
    assert closed.status == NoticeStatus.CLOSED and closed.closed_at == t.clock()
    t.clock.set(1)
    entries = AuditEntry.objects.count()
    again = services.close_notice(actor=t.users["province_admin"], notice=notice)  # double click
    assert again.closed_at == closed.closed_at and again.version == closed.version
    assert AuditEntry.objects.count() == entries
    for step in (
        lambda: services.acknowledge(
            actor=t.users["chengdu_admin"], dispatch=at(notice, t.chengdu)
        ),
        lambda: services.relay(actor=t.users["chengdu_admin"], dispatch=at(notice, t.chengdu)),
        lambda: services.save_plan(
            actor=t.users["chengdu_admin"], dispatch=at(notice, t.chengdu), plan="x"
        ),
        lambda: report(t, notice, t.chengdu, "chengdu_admin"),
    ):
        with refused("notice_closed"):
            step()
    # Its figures stay as they were.
    values = figures_at(notice, t.province)
    assert (values["audience"], values["acknowledged"], values["reported"]) == (10, 1, 1)


# --- the whole story ----------------------------------------------------------------------


def test_the_seed_story_moves_the_supervision_figures(t):
    notice = issued(
        t,
        doc_number="川工发〔2026〕12号",
        ack_due=day(5),
        report_due=day(30),
        requirements=[
            RequirementInput("lecture", "宣讲进企业", Measure.PER_UNIT, Decimal(1), "grassroots"),
            RequirementInput("study", "职工学习", Measure.SHARE, Decimal(80)),
        ],
    )
    t.clock.set(1)
    services.relay(actor=t.users["chengdu_admin"], dispatch=at(notice, t.chengdu), ack_due=day(3))
    settle()
    t.clock.set(2)
    services.save_plan(
        actor=t.users["cd_union_admin"], dispatch=at(notice, t.cd_union), plan="方案"
    )
    r = report(t, notice, t.cd_union, "cd_union_admin")
    services.review_report(actor=t.users["chengdu_admin"], report=r, accept=True)
    head, rows = selectors.supervision(notice, t.province, t.users["province_admin"])
    assert {k: head.values[k] for k in ("audience", "acknowledged", "planned", "accepted")} == {
        "audience": 10,
        "acknowledged": 2,
        "planned": 1,
        "accepted": 1,
    }
    by_org = {row.org: row for row in rows}
    assert by_org[t.chengdu].values["accepted"] == 1 and by_org[t.mianyang].values["accepted"] == 0
    assert by_org[t.chengdu].rate("acknowledged") == pytest.approx(2 / 6)
    # A city cadre's supervision shows only its subtree.
    head, rows = selectors.supervision(notice, t.chengdu, t.users["chengdu_admin"])
    assert head.values["audience"] == 6 and [r.org for r in rows] == [t.jinjiang]
