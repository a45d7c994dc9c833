"""The ledger (台账) of a notice: one row per union of a subtree, in the layout upper
unions keep by hand today: the chain of unions above it in columns, level by level, then
the union's progress and the figures of its latest report. Streamed; audit-logged."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from typing import Any

from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy

from gonghui.audit.models import AuditAction
from gonghui.audit.services import record
from gonghui.core.xlsx import Sheet
from gonghui.notices import selectors
from gonghui.notices.models import Dispatch, Notice, Report, ReportStatus
from gonghui.orgs.models import Org, OrgKind, ancestor_field

CHUNK = 2000
REPORT_STATUS = {
    ReportStatus.NONE: pgettext_lazy("report", "Not reported"),
    ReportStatus.SUBMITTED: pgettext_lazy("report", "Submitted"),
    ReportStatus.ACCEPTED: pgettext_lazy("report", "Accepted"),
    ReportStatus.RETURNED: pgettext_lazy("report", "Returned"),
}


def level_names() -> list[str]:
    """Column titles of the tree levels, by depth (the usual shape of a provincial tree)."""
    return [
        _("Province level"),
        _("City level"),
        _("County level"),
        _("Township level"),
        _("Grassroots level"),
        _("Workshop level"),
        _("Team level"),
    ]


def _level(depth: int) -> str:
    names = level_names()
    return names[depth] if depth < len(names) else _("Level %(n)d") % {"n": depth + 1}


def _chunks(items: Iterator[Dispatch], size: int) -> Iterator[list[Dispatch]]:
    while chunk := list(islice(items, size)):
        yield chunk


def _local(value: Any) -> Any:
    return timezone.localtime(value).replace(tzinfo=None) if value is not None else None


def _late(flag: bool, due: Any, done: Any, today: Any) -> bool:
    """Late: marked by the sweep, or past the deadline and still not done."""
    return flag or (done is None and due is not None and due < today)


def ledger_sheet(user: Any, notice: Notice, org: Org) -> Sheet:
    """The ledger of `notice` for `org`'s subtree, as far as the user may see it."""
    from gonghui.stats.selectors import metrics

    figures = [m for m in metrics() if m.reportable]
    deepest = Dispatch.objects.filter(
        notice=notice, **{f"org__{ancestor_field(org.depth)}": org.pk}
    ).aggregate(deepest=Max("org__depth"))["deepest"]
    depths = list(range(org.depth, (deepest if deepest is not None else org.depth) + 1))
    record(
        actor=user,
        action=AuditAction.EXPORT,
        target=notice,
        org=org,
        summary=_("Exported the ledger of %(org)s") % {"org": org.name},
    )
    yes, no = _("yes"), _("no")
    today = timezone.localdate()
    names: dict[int, str] = {}

    def chain(o: Org) -> list[str]:
        ids = o.ancestor_ids
        return [
            (o.name if d == o.depth else names.get(ids[d], "")) if d <= o.depth else ""
            for d in depths
        ]

    def rows() -> Iterator[list[Any]]:
        for chunk in _chunks(selectors.ledger_rows(notice, org, user), CHUNK):
            # Names of the unions above the rows, read once per chunk for the new ones.
            wanted = {
                a for d in chunk for a in d.org.ancestor_ids[org.depth : d.org.depth]
            } - names.keys()
            if wanted:
                names.update(Org.objects.filter(pk__in=wanted).values_list("id", "name"))
            latest: dict[int, dict[str, Any]] = {}
            for dispatch_id, values in (
                Report.objects.filter(dispatch_id__in=[d.pk for d in chunk])
                .order_by("dispatch_id", "-submitted_at", "-id")
                .values_list("dispatch_id", "figures")
            ):
                latest.setdefault(dispatch_id, values)
            for d in chunk:
                o = d.org
                values = latest.get(d.pk, {})
                yield [
                    *chain(o),
                    OrgKind(o.kind).label,
                    o.code,
                    d.ack_due,
                    _local(d.acknowledged_at),
                    yes if d.planned_at else no,
                    d.report_due,
                    REPORT_STATUS.get(d.report_status, d.report_status),
                    _local(d.reported_at),
                    _local(d.accepted_at),
                    yes if _late(d.ack_overdue, d.ack_due, d.acknowledged_at, today) else no,
                    yes if _late(d.report_overdue, d.report_due, d.reported_at, today) else no,
                    *[values.get(m.code, "") for m in figures],
                ]

    return Sheet(
        title=_("Ledger"),
        headers=[
            *[_level(d) for d in depths],
            _("Kind"),
            _("Code"),
            _("Acknowledge by"),
            _("Acknowledged at"),
            _("Plan"),
            _("Report by"),
            _("Report"),
            _("Reported at"),
            _("Accepted at"),
            _("Acknowledgement overdue"),
            _("Report overdue"),
            *[str(m.label) for m in figures],
        ],
        rows=rows(),
        notes=[
            (
                _("About"),
                [
                    str(notice),
                    _("Issued by %(org)s") % {"org": notice.issuer.name},
                    _("Ledger of %(org)s, exported %(when)s")
                    % {"org": org.name, "when": timezone.localtime().strftime("%Y-%m-%d %H:%M")},
                ],
            )
        ],
    )
