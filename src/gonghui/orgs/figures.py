"""The figures the union tree reports upward, and the facts they come from."""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Iterable

from django.db.models import Count, F, IntegerField, QuerySet, Sum, Value
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gonghui.orgs.bulk import SharedConnection, insert_rows
from gonghui.orgs.models import MemberEvent, MemberEventKind, Org, OrgKind
from gonghui.stats import services as stats
from gonghui.stats.registry import Metric, register_metric, register_sum_source

MEMBERS = "members"
EVENT_METRICS = {
    MemberEventKind.JOINED: "members.joined",
    MemberEventKind.LEFT: "members.left",
    MemberEventKind.TRANSFERRED_IN: "members.transferred_in",
    MemberEventKind.TRANSFERRED_OUT: "members.transferred_out",
}
EVENT_SIGN = {
    MemberEventKind.JOINED: 1,
    MemberEventKind.TRANSFERRED_IN: 1,
    MemberEventKind.LEFT: -1,
    MemberEventKind.TRANSFERRED_OUT: -1,
}
COUNTED_KINDS = [k for k in OrgKind if k != OrgKind.PROVINCE]


def org_metric(kind: str) -> str:
    return f"orgs.{kind}"


def register() -> None:
    group_members = _("Members")
    group_orgs = _("Unions")
    register_metric(Metric(MEMBERS, _("Members"), group_members, _("Active members"), order=10))
    labels = {
        "members.joined": _("Joined"),
        "members.left": _("Left"),
        "members.transferred_in": _("Transferred in"),
        "members.transferred_out": _("Transferred out"),
    }
    for order, (code, label) in enumerate(labels.items(), start=11):
        register_metric(
            Metric(
                code,
                label,
                group_members,
                headline=False,
                reportable=code == "members.joined",
                order=order,
            )
        )
    for order, kind in enumerate(COUNTED_KINDS, start=20):
        register_metric(
            Metric(
                org_metric(kind),
                OrgKind(kind).label,
                group_orgs,
                headline=kind in (OrgKind.GRASSROOTS, OrgKind.BRANCH, OrgKind.TEAM),
                order=order,
            )
        )
    register_sum_source(sources)


def sources() -> Iterable[tuple[str, QuerySet]]:
    signed = Sum(
        # joined and in count +1, left and out -1
        F("sign"),
        output_field=IntegerField(),
    )
    from django.db.models import Case, When

    events = MemberEvent.objects.annotate(
        sign=Case(
            *[When(kind=k, then=Value(v)) for k, v in EVENT_SIGN.items()],
            output_field=IntegerField(),
        )
    )
    yield MEMBERS, events.values(r_org=F("unit_id"), r_day=F("day")).annotate(r_value=signed)
    for kind, metric in EVENT_METRICS.items():
        yield (
            metric,
            MemberEvent.objects.filter(kind=kind)
            .values(r_org=F("unit_id"), r_day=F("day"))
            .annotate(r_value=Count("id")),
        )
    for kind in COUNTED_KINDS:
        orgs = Org.objects.filter(kind=kind)
        yield (
            org_metric(kind),
            orgs.values(r_org=F("id"), r_day=TruncDate("created_at")).annotate(r_value=Count("id")),
        )
        yield (
            org_metric(kind),
            orgs.filter(dissolved_at__isnull=False)
            .values(r_org=F("id"), r_day=TruncDate("dissolved_at"))
            .annotate(r_value=Value(0) - Count("id")),
        )


# --- emitting, called by the orgs services in their transactions ---------------------------


def record_member_event(*, member_id: int, unit_id: int, kind: str, day: datetime.date) -> None:
    MemberEvent.objects.create(member_id=member_id, unit_id=unit_id, kind=kind, day=day)
    stats.emit(metric=MEMBERS, org_id=unit_id, day=day, delta=EVENT_SIGN[kind])
    stats.emit(metric=EVENT_METRICS[kind], org_id=unit_id, day=day)


def record_member_events(events: list[MemberEvent]) -> None:
    """Many events at once (imports, dissolving a unit): one delta per unit and day."""
    MemberEvent.objects.bulk_create(events, batch_size=2000)
    counts: Counter[tuple[int, str, datetime.date]] = Counter()
    for e in events:
        counts[(e.unit_id, MEMBERS, e.day)] += EVENT_SIGN[e.kind]
        counts[(e.unit_id, EVENT_METRICS[e.kind], e.day)] += 1
    stats.emit_counts(counts)


def record_org_created(org: Org) -> None:
    if org.kind in COUNTED_KINDS:
        stats.emit(
            metric=org_metric(org.kind), org_id=org.pk, day=timezone.localdate(org.created_at)
        )


def record_orgs_created(orgs: list[Org]) -> None:
    counts: Counter[tuple[int, str, datetime.date]] = Counter()
    for org in orgs:
        if org.kind in COUNTED_KINDS:
            counts[(org.pk, org_metric(org.kind), timezone.localdate(org.created_at))] += 1
    stats.emit_counts(counts)


def record_org_dissolved(org: Org) -> None:
    if org.kind in COUNTED_KINDS and org.dissolved_at is not None:
        stats.emit(
            metric=org_metric(org.kind),
            org_id=org.pk,
            day=timezone.localdate(org.dissolved_at),
            delta=-1,
        )


def record_imported_joins(rows: list[dict], *, shared: SharedConnection | None = None) -> None:
    """The join events and figures of a batch of members just inserted by an import (rows
    with their ids): one event per member, one figure change per unit and joining day.
    Written batch by batch, so a million-row file never holds its figures in memory.
    `shared`: written through that connection (see bulk.insert_rows)."""
    insert_rows(
        MemberEvent,
        [
            {
                "member_id": row["id"],
                "unit_id": row["unit_id"],
                "kind": MemberEventKind.JOINED,
                "day": row["joined_on"],
            }
            for row in rows
        ],
        shared=shared,
    )
    counts: Counter[tuple[int, str, datetime.date]] = Counter()
    for row in rows:
        counts[(row["unit_id"], MEMBERS, row["joined_on"])] += 1
        counts[(row["unit_id"], EVENT_METRICS[MemberEventKind.JOINED], row["joined_on"])] += 1
    stats.emit_counts(counts, shared=shared)
