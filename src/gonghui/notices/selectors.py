"""Reads of notices: inboxes, relay chains, report pre-fill, supervision, ledgers."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from django.db.models import Case, F, IntegerField, Q, QuerySet, Value, When
from django.utils import timezone

from gonghui.notices import figures
from gonghui.notices.models import Dispatch, Notice, NoticeStatus, Relay, Requirement
from gonghui.orgs import scoping
from gonghui.orgs.models import Org, OrgStatus, ancestor_field
from gonghui.orgs.scoping import Perm


def notices_issued_by(user: Any, org: Org) -> QuerySet[Notice]:
    """Notices (drafts included) issued by `org`, if the user may see `org`."""
    return Notice.objects.restrict(user, Perm.ORG_VIEW).filter(issuer=org)


def inbox(user: Any, org: Org | list[Org]) -> QuerySet[Dispatch]:
    """The notices `org` (or each of a list of orgs) received: unread first, then by
    nearest deadline (none last), newest first; the same order on both databases."""
    orgs = [org] if isinstance(org, Org) else list(org)
    # (django-stubs loses the model through ScopedQuerySet.annotate.)
    return cast(
        "QuerySet[Dispatch]",
        Dispatch.objects.restrict(user, Perm.ORG_VIEW)
        .filter(org__in=orgs, notice__status__in=[NoticeStatus.ISSUED, NoticeStatus.CLOSED])
        .select_related("notice", "notice__issuer", "org")
        .annotate(
            unread=Case(
                When(read_at__isnull=True, then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            )
        )
        .order_by("unread", F("report_due").asc(nulls_last=True), "-notice__issued_at", "-pk"),
    )


def dispatch_for(user: Any, notice: Notice, org: Org) -> Dispatch | None:
    return Dispatch.objects.restrict(user, Perm.ORG_VIEW).filter(notice=notice, org=org).first()


@dataclass
class ChainStep:
    org: Org
    relay: Relay | None  # None for the issuer
    requirements: list[Requirement] = field(default_factory=list)
    ack_due: datetime.date | None = None
    report_due: datetime.date | None = None
    doc_number: str = ""
    note: str = ""


def relay_chain(dispatch: Dispatch) -> list[ChainStep]:
    """How the notice came down to this org: the issuer, then every relaying union above
    it, each with its own additions and deadlines."""
    notice = dispatch.notice
    ancestors = dispatch.org.ancestor_ids
    relays = {
        r.org_id: r
        for r in Relay.objects.filter(notice=notice, org_id__in=ancestors).select_related("org")
    }
    requirements: dict[int | None, list[Requirement]] = {}
    for req in Requirement.objects.filter(
        Q(relay__isnull=True) | Q(relay__in=list(relays.values())), notice=notice
    ):
        requirements.setdefault(req.relay_id, []).append(req)
    chain = [
        ChainStep(
            notice.issuer,
            None,
            requirements.get(None, []),
            notice.ack_due,
            notice.report_due,
            notice.doc_number,
        )
    ]
    for org_id in ancestors:
        relay = relays.get(org_id)
        if relay is not None and org_id != dispatch.org_id:
            chain.append(
                ChainStep(
                    relay.org,
                    relay,
                    requirements.get(relay.pk, []),
                    relay.ack_due,
                    relay.report_due,
                    relay.doc_number,
                    relay.note,
                )
            )
    return chain


def own_relay(dispatch: Dispatch) -> Relay | None:
    return Relay.objects.filter(notice=dispatch.notice, org=dispatch.org).first()


# --- report pre-fill ----------------------------------------------------------------------


@dataclass(frozen=True)
class PrefillFigure:
    code: str
    label: str
    value: int


def report_prefill(dispatch: Dispatch) -> list[PrefillFigure]:
    """Figures recorded in the org's subtree since the notice was issued, for every
    reportable metric other domains registered (activities held, members reached, ...)."""
    from gonghui.stats.selectors import metrics, period_total

    notice = dispatch.notice
    start = timezone.localdate(notice.issued_at) if notice.issued_at else timezone.localdate()
    end = timezone.localdate()
    shown = [m for m in metrics() if m.reportable]
    return [
        PrefillFigure(m.code, str(m.label), period_total(dispatch.org, m, start=start, end=end))
        for m in shown
    ]


# --- supervision --------------------------------------------------------------------------


RATE_OF = {
    "acknowledged": "audience",
    "ack_on_time": "audience",
    "planned": "audience",
    "reported": "audience",
    "report_on_time": "audience",
    "accepted": "audience",
    "ack_overdue": "audience",
    "report_overdue": "audience",
}


@dataclass
class SupervisionRow:
    org: Org
    values: dict[str, int]

    def rate(self, step: str) -> float | None:
        base = self.values.get(RATE_OF.get(step, "audience"), 0)
        return self.values.get(step, 0) / base if base else None

    @property
    def late(self) -> int:
        return self.values.get("ack_overdue", 0) + self.values.get("report_overdue", 0)


def supervision(notice: Notice, org: Org, user: Any) -> tuple[SupervisionRow, list[SupervisionRow]]:
    """Expected vs actual for `org`'s subtree and for each child's: O(children) rows from
    the roll-ups, exact now."""
    from gonghui.stats.selectors import live_subtree_figures

    children = list(
        Org.objects.restrict(user, Perm.ORG_VIEW)
        .filter(parent=org, status=OrgStatus.ACTIVE)
        .order_by("kind", "code")
    )
    names = figures.metrics_of(notice.pk)
    values = live_subtree_figures([org, *children], names)

    def row(o: Org) -> SupervisionRow:
        return SupervisionRow(
            o, {name.rsplit(".", 1)[1]: value for name, value in values[o.pk].items()}
        )

    rows = [row(c) for c in children]
    return row(org), [r for r in rows if r.values.get("audience")]


def late_list(notice: Notice, org: Org, user: Any, *, kind: str) -> QuerySet[Dispatch]:
    from gonghui.notices.services import late_dispatches

    return (
        late_dispatches(notice, org, kind=kind)
        .filter(scoping.scope_q(user, Perm.ORG_VIEW, "org"))
        .select_related("org", "org__parent")
        .order_by("org__path")
    )


def can_supervise(user: Any, notice: Notice, org: Org) -> bool:
    """The issuer and every level that received the notice supervise their subtree; so
    does any union between them that the notice passed through (a notice to grassroots
    unions only still drills down from the province through the cities)."""
    if not scoping.can(user, Perm.ORG_VIEW, org):
        return False
    if org.pk == notice.issuer_id:
        return True
    if not org.is_descendant_of(notice.issuer, inclusive=False):
        return False
    return Dispatch.objects.filter(
        notice=notice, **{f"org__{ancestor_field(org.depth)}": org.pk}
    ).exists()


# --- the ledger (台账) --------------------------------------------------------------------


def ledger_rows(notice: Notice, org: Org, user: Any) -> Iterator[Dispatch]:
    """Every dispatch of `org`'s subtree the user may see, in tree order, streamed."""
    qs = (
        Dispatch.objects.filter(notice=notice, **{f"org__{ancestor_field(org.depth)}": org.pk})
        .filter(scoping.scope_q(user, Perm.ORG_VIEW, "org"))
        .select_related("org")
        .order_by("org__path")
    )
    return qs.iterator(chunk_size=2000)
