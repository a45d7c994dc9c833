"""The deadline sweep (run by `gonghui worker`): marks late dispatches overdue, so the
supervision figures count them, and reminds unions before and at their deadlines."""

from __future__ import annotations

import datetime
from collections import Counter
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import CharField, Exists, OuterRef, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from gonghui.accounts.services import notify_each
from gonghui.notices import figures
from gonghui.notices.models import Dispatch, NoticeStatus, Reminder, ReminderKind
from gonghui.notices.services import cadres_at_orgs, reminder_message
from gonghui.orgs.scoping import Perm
from gonghui.stats import services as stats

CHUNK = 5000
REMIND_CHUNK = 1000


def _mark_overdue(today: datetime.date, kind: str) -> int:
    """Flag the late, undone dispatches of open notices; one figure change per org."""
    if kind == ReminderKind.ACK:
        late = Dispatch.objects.filter(
            ack_due__lt=today, acknowledged_at__isnull=True, ack_overdue=False
        )
        flag, step = "ack_overdue", "ack_overdue"
    else:
        late = Dispatch.objects.filter(
            report_due__lt=today, reported_at__isnull=True, report_overdue=False
        )
        flag, step = "report_overdue", "report_overdue"
    late = late.filter(notice__status=NoticeStatus.ISSUED)
    marked = 0
    while True:
        with transaction.atomic():
            rows = list(
                late.select_for_update(skip_locked=True, of=("self",))
                .select_related("notice")
                .only("id", "org_id", "notice__id", "notice__issued_at")[:CHUNK]
            )
            if not rows:
                return marked
            Dispatch.objects.filter(pk__in=[d.pk for d in rows]).update(**{flag: True})
            counts: Counter[tuple[int, str, datetime.date]] = Counter()
            for d in rows:
                counts[
                    (d.org_id, figures.metric(d.notice_id, step), figures.fact_day(d.notice))
                ] += 1
            stats.emit_counts(counts)
            marked += len(rows)


def _remind(today: datetime.date, days_before: int) -> int:
    """One reminder per dispatch and deadline: `days_before` days ahead, and once late."""
    sent = 0
    soon = today + datetime.timedelta(days=days_before)
    for kind, due_field, done_field in (
        (ReminderKind.ACK, "ack_due", "acknowledged_at"),
        (ReminderKind.REPORT, "report_due", "reported_at"),
    ):
        pending = Dispatch.objects.filter(
            notice__status=NoticeStatus.ISSUED, **{f"{done_field}__isnull": True}
        ).select_related("notice", "org")
        for label, window in (
            ("soon", {f"{due_field}__gte": today, f"{due_field}__lte": soon}),
            ("late", {f"{due_field}__lt": today}),
        ):
            # Only dispatches not yet reminded of this deadline: a notice to the province
            # has ~120,000 of them, and the sweep runs every few minutes.
            already = Reminder.objects.filter(
                dispatch=OuterRef("pk"),
                key=_reminder_key_in_sql(kind, OuterRef(due_field), label),
            )
            due_now = pending.filter(**window).filter(~Exists(already))
            while True:
                # A chunk at a time, each in one transaction: its dispatches locked (a
                # second worker skips them, and finds them reminded once this commits),
                # their cadres read at once, reminders and inbox messages inserted in bulk.
                with transaction.atomic():
                    chunk = list(
                        due_now.select_for_update(skip_locked=True, of=("self",)).order_by("pk")[
                            :REMIND_CHUNK
                        ]
                    )
                    if not chunk:
                        break
                    sent += _remind_chunk(chunk, kind, due_field, label)
    return sent


def _remind_chunk(chunk: list[Dispatch], kind: str, due_field: str, label: str) -> int:
    cadres = cadres_at_orgs({d.org_id for d in chunk}, Perm.NOTICE_HANDLE)
    messages = []
    for dispatch in chunk:
        title, body, link = reminder_message(dispatch, kind)
        messages.append((cadres.get(dispatch.org_id, []), title, body, link))
    counts = notify_each(messages)
    Reminder.objects.bulk_create(
        [
            Reminder(
                dispatch=dispatch,
                kind=kind,
                key=_reminder_key(kind, getattr(dispatch, due_field), label),
                recipients=count,
            )
            for dispatch, count in zip(chunk, counts, strict=True)
        ]
    )
    return len(chunk)


def _reminder_key(kind: str, due: datetime.date, label: str) -> str:
    """One automatic reminder per dispatch, deadline and window ("soon", "late"): a moved
    deadline is reminded of again."""
    return f"auto:{kind}:{due.isoformat()}:{label}"


def _reminder_key_in_sql(kind: str, due: Any, label: str) -> Concat:
    """`_reminder_key` of the date expression `due`, computed by the database (a date cast
    to text is ISO on both databases)."""
    head, tail = _reminder_key(kind, datetime.date.min, label).split(datetime.date.min.isoformat())
    return Concat(Value(head), Cast(due, CharField()), Value(tail), output_field=CharField())


def run_sweep(today: datetime.date | None = None) -> dict[str, Any]:
    today = today or timezone.localdate()
    return {
        "ack_overdue": _mark_overdue(today, ReminderKind.ACK),
        "report_overdue": _mark_overdue(today, ReminderKind.REPORT),
        "reminders": _remind(today, settings.GONGHUI_REMIND_DAYS_BEFORE),
    }
