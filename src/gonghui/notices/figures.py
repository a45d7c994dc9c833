"""Supervision figures of a notice, kept by the roll-up engine.

Every dispatch contributes to one set of figures per notice, counted at its org and
summed up the tree: audience, acknowledged, on time, planned, reported, accepted, overdue.
They are all dated on the notice's day of issue, so a notice's figures are one row per
org whatever happens later, and the rebuild reads them back from the dispatches' state.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from django.db import connection
from django.db.models import CharField, Count, F, Q, QuerySet, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gonghui.notices.models import Dispatch, Notice, NoticeStatus, ReportStatus
from gonghui.stats import services as stats
from gonghui.stats.models import FactDelta
from gonghui.stats.registry import register_sum_source

STEPS = (
    ("audience", _("Audience")),
    ("acknowledged", _("Acknowledged")),
    ("ack_on_time", _("Acknowledged on time")),
    ("ack_overdue", _("Acknowledgement overdue")),
    ("relayed", _("Relayed")),
    ("planned", _("Planned")),
    ("reported", _("Reported")),
    ("report_on_time", _("Reported on time")),
    ("report_overdue", _("Report overdue")),
    ("accepted", _("Accepted")),
)
STEP_LABELS = dict(STEPS)


def metric(notice_id: int, step: str) -> str:
    return f"notice.{notice_id}.{step}"


def metrics_of(notice_id: int) -> list[str]:
    return [metric(notice_id, step) for step, _label in STEPS]


def fact_day(notice: Notice) -> datetime.date:
    return timezone.localdate(notice.issued_at) if notice.issued_at else timezone.localdate()


def emit_step(dispatch: Dispatch, step: str, delta: int = 1) -> None:
    stats.emit(
        metric=metric(dispatch.notice_id, step),
        org_id=dispatch.org_id,
        day=fact_day(dispatch.notice),
        delta=delta,
    )


def emit_audience(notice: Notice) -> None:
    """Audience +1 at every dispatched org, in one statement (~120k rows at Sichuan scale)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO "{FactDelta._meta.db_table}" (org_id, metric, day, delta) '  # noqa: S608
            f'SELECT org_id, %s, %s, 1 FROM "{Dispatch._meta.db_table}" WHERE notice_id = %s',
            [metric(notice.pk, "audience"), fact_day(notice), notice.pk],
        )


def register() -> None:
    register_sum_source(sources)


def _counted(condition: object, step: str) -> QuerySet:
    """Dispatches of issued notices where `condition` holds, one row per org and notice."""
    return (
        Dispatch.objects.filter(
            condition, notice__status__in=[NoticeStatus.ISSUED, NoticeStatus.CLOSED]
        )
        .values(
            r_org=F("org_id"),
            r_metric=Concat(
                Value("notice."),
                Cast("notice_id", CharField()),
                Value(f".{step}"),
                output_field=CharField(),
            ),
            r_day=F("notice__issued_at__date"),
        )
        .annotate(r_value=Count("id"))
    )


def sources() -> Iterable[tuple[None, QuerySet]]:
    on_time_ack = Q(acknowledged_at__isnull=False) & (
        Q(ack_due__isnull=True) | Q(acknowledged_at__date__lte=F("ack_due"))
    )
    on_time_report = Q(reported_at__isnull=False) & (
        Q(report_due__isnull=True) | Q(reported_at__date__lte=F("report_due"))
    )
    conditions = {
        "audience": Q(),
        "acknowledged": Q(acknowledged_at__isnull=False),
        "ack_on_time": on_time_ack,
        "ack_overdue": Q(ack_overdue=True),
        "relayed": Q(notice__relays__org_id=F("org_id")),
        "planned": Q(planned_at__isnull=False),
        "reported": Q(reported_at__isnull=False),
        "report_on_time": on_time_report,
        "report_overdue": Q(report_overdue=True),
        "accepted": Q(report_status=ReportStatus.ACCEPTED),
    }
    for step, condition in conditions.items():
        yield None, _counted(condition, step)
