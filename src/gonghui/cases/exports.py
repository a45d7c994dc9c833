"""The case ledger (诉求台账) of a union: one row per case handled in its subtree that the
user may read, in the columns upper unions ask for. Workers' names are masked unless the
user may export personal data there. Streamed; every export is audit-logged."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from gonghui.audit.models import AuditAction
from gonghui.audit.services import record
from gonghui.cases import selectors
from gonghui.cases.models import Case, CaseStatus
from gonghui.core.xlsx import Sheet
from gonghui.orgs import scoping
from gonghui.orgs.models import Org
from gonghui.orgs.scoping import Perm


def mask_name(name: str) -> str:
    """张伟 -> 张*, 欧阳小明 -> 欧***: the family name stays, enough to tell rows apart."""
    return name[:1] + "*" * max(len(name) - 1, 1) if name else ""


def _local(value: Any) -> Any:
    return timezone.localtime(value).replace(tzinfo=None) if value is not None else None


def _on_time(case: Case, today: Any) -> str:
    """Against the deadline promised when filed, as the figures count it; an open case is
    late once past it, else not decided yet."""
    if case.status == CaseStatus.CLOSED:
        return _("yes") if case.closed_on and case.closed_on <= case.first_resolve_due else _("no")
    return _("no") if case.overdue or today > case.first_resolve_due else ""


def ledger_sheet(user: Any, org: Org) -> Sheet:
    personal = scoping.can(user, Perm.MEMBER_EXPORT_PERSONAL, org)
    cases = selectors.queue(user, org, show="all", subtree=True)
    record(
        actor=user,
        action=AuditAction.EXPORT,
        target=org,
        org=org,
        summary=(
            _("Exported the case ledger of %(org)s with workers' names")
            if personal
            else _("Exported the case ledger of %(org)s (names masked)")
        )
        % {"org": org.name},
    )
    today = timezone.localdate()

    def rows() -> Iterator[list[Any]]:
        for case in cases.iterator(chunk_size=2000):
            name = case.member.name
            yield [
                case.number,
                case.get_category_display(),
                case.title,
                name if personal else mask_name(name),
                case.filed_on,
                case.handling_org.name,
                case.get_status_display(),
                case.first_accepted_on,
                case.first_ack_due,
                case.first_resolve_due,
                case.closed_on,
                _on_time(case, today),
                case.get_outcome_display() if case.outcome else "",
                case.working_days_taken,
                case.money_recovered,
                case.aid_paid,
                case.rating,
            ]

    return Sheet(
        title=_("Case ledger"),
        headers=[
            _("Case number"),
            _("Category"),
            _("Subject"),
            _("Worker"),
            _("Filed on"),
            _("Handling union"),
            _("Status"),
            _("Accepted on"),
            _("Accept by"),
            _("Resolve by"),
            _("Closed on"),
            _("On time"),
            _("Outcome"),
            _("Working days taken"),
            _("Money recovered (yuan)"),
            _("Aid paid (yuan)"),
            _("Satisfaction (1-5)"),
        ],
        rows=rows(),
        notes=[
            (
                _("About"),
                [
                    _("Case ledger of %(org)s and the unions below it, exported %(when)s")
                    % {"org": org.name, "when": timezone.localtime().strftime("%Y-%m-%d %H:%M")},
                    _("Cases count at the union handling them, not at the worker's unit."),
                    _(
                        "Deadlines are the ones promised to the worker when filed, in working "
                        "days; “on time” is measured against them."
                    ),
                ],
            )
        ],
    )
