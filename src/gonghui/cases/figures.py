"""Figures of worker cases and hardship aid, kept by the roll-up engine.

A case counts at the union handling it now (an escalation or a transfer moves its whole
contribution), never at the worker's unit: a case that skipped the employer's union must
not show up even as a number there. Each figure of a case is a function of its current
row (`contributions`); a service that changes a case emits the difference between the
figures before and after, and the rebuild sources below compute the same from the table.

- ``cases.filed`` (and per category), on the filing day; ``cases.open`` and
  ``cases.overdue``: open now, on the filing day;
- ``cases.acknowledged`` / ``cases.ack_on_time``: first accepted (within the first
  deadline), on that day;
- ``cases.closed`` (and per outcome) / ``cases.closed_on_time`` (by the deadline promised
  when filed), ``cases.days.<n>``: working days from filing to closing (for the median),
  money recovered and aid paid, on the closing day;
- ``cases.rated``, ``cases.rating_sum``, ``cases.satisfied`` (4 or 5 of 5), on the rating day;
- ``cases.escalated``: escalations away from a union, from the timeline;
- ``hardship.files`` (active files), ``hardship.aid_given`` and ``hardship.aid_paid``.
"""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Iterable

from django.db.models import (
    Case as When_,
)
from django.db.models import (
    CharField,
    Count,
    F,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Cast, Concat
from django.utils.translation import gettext_lazy as _

from gonghui.cases.models import (
    AidRecord,
    Case,
    CaseCategory,
    CaseEvent,
    CaseStatus,
    EventKind,
    HardshipFile,
    HardshipStatus,
    Outcome,
)
from gonghui.stats.registry import Metric, register_metric, register_sum_source

FILED = "cases.filed"
OPEN = "cases.open"
OVERDUE = "cases.overdue"
ACKNOWLEDGED = "cases.acknowledged"
ACK_ON_TIME = "cases.ack_on_time"
CLOSED = "cases.closed"
CLOSED_ON_TIME = "cases.closed_on_time"
ESCALATED = "cases.escalated"
MONEY_RECOVERED = "cases.money_recovered"
AID_PAID = "cases.aid_paid"
RATED = "cases.rated"
RATING_SUM = "cases.rating_sum"
SATISFIED = "cases.satisfied"
HARDSHIP_FILES = "hardship.files"
HARDSHIP_AID_GIVEN = "hardship.aid_given"
HARDSHIP_AID_PAID = "hardship.aid_paid"

# Working days to close, one figure per day up to this, then one for everything longer.
DAYS_CAP = 30

CountKey = tuple[int, str, datetime.date]


def filed_metric(category: str) -> str:
    return f"{FILED}.{category}"


def closed_metric(outcome: str) -> str:
    return f"{CLOSED}.{outcome}"


def days_metric(days: int) -> str:
    return f"cases.days.{days}" if days <= DAYS_CAP else f"cases.days.{DAYS_CAP + 1}+"


DAYS_METRICS = [days_metric(d) for d in range(DAYS_CAP + 2)]


def register() -> None:
    group = _("Worker cases")
    headline = [
        (FILED, _("Cases filed"), _("Requests from workers, counted where they are handled"), ""),
        (OPEN, _("Cases open"), _("Not closed yet"), ""),
        (OVERDUE, _("Cases overdue"), _("Open past their deadline"), ""),
        (ACK_ON_TIME, _("Accepted on time"), _("Share of accepted cases"), ACKNOWLEDGED),
        (CLOSED, _("Cases closed"), "", ""),
        (CLOSED_ON_TIME, _("Closed on time"), _("Share of closed cases"), CLOSED),
        (ESCALATED, _("Escalations"), _("Cases passed up for being late or by decision"), ""),
        (MONEY_RECOVERED, _("Money recovered (yuan)"), _("Wages and compensation recovered"), ""),
        (AID_PAID, _("Aid paid with cases (yuan)"), "", ""),
        (SATISFIED, _("Satisfied workers"), _("Ratings of 4 or 5 out of 5"), RATED),
    ]
    for order, (code, label, description, coverage_of) in enumerate(headline, start=80):
        register_metric(
            Metric(code, label, group, description, coverage_of=coverage_of, order=order)
        )
    for code, label in [
        (ACKNOWLEDGED, _("Cases accepted")),
        (RATED, _("Cases rated")),
        (RATING_SUM, _("Sum of ratings")),
    ]:
        register_metric(Metric(code, label, group, headline=False, order=95))
    for category in CaseCategory:
        register_metric(
            Metric(
                filed_metric(category),
                _("Filed: %(category)s") % {"category": category.label},
                group,
                headline=False,
                order=96,
            )
        )
    for outcome in Outcome:
        register_metric(
            Metric(
                closed_metric(outcome),
                _("Closed: %(outcome)s") % {"outcome": outcome.label},
                group,
                headline=False,
                order=97,
            )
        )
    for days in range(DAYS_CAP + 2):
        register_metric(
            Metric(
                days_metric(days),
                _("Closed after %(days)s working days") % {"days": days_metric(days)[11:]},
                group,
                headline=False,
                order=98,
            )
        )
    hardship = _("Hardship aid")
    register_metric(Metric(HARDSHIP_FILES, _("Families on hardship files"), hardship, order=110))
    register_metric(Metric(HARDSHIP_AID_GIVEN, _("Aid given (times)"), hardship, order=111))
    register_metric(Metric(HARDSHIP_AID_PAID, _("Aid paid (yuan)"), hardship, order=112))
    register_sum_source(sum_sources)


def contributions(case: Case) -> Counter[CountKey]:
    """Every figure this case adds, as its row stands now."""
    counts: Counter[CountKey] = Counter()
    if case.pk is None:
        return counts
    org = case.handling_org_id
    counts[(org, FILED, case.filed_on)] += 1
    counts[(org, filed_metric(case.category), case.filed_on)] += 1
    if case.first_accepted_on is not None:
        counts[(org, ACKNOWLEDGED, case.first_accepted_on)] += 1
        if case.first_accepted_on <= case.first_ack_due:
            counts[(org, ACK_ON_TIME, case.first_accepted_on)] += 1
    if case.status != CaseStatus.CLOSED:
        counts[(org, OPEN, case.filed_on)] += 1
        if case.overdue:
            counts[(org, OVERDUE, case.filed_on)] += 1
        return counts
    closed_on = case.closed_on
    assert closed_on is not None
    counts[(org, CLOSED, closed_on)] += 1
    counts[(org, closed_metric(case.outcome), closed_on)] += 1
    if closed_on <= case.first_resolve_due:
        counts[(org, CLOSED_ON_TIME, closed_on)] += 1
    counts[(org, days_metric(case.working_days_taken or 0), closed_on)] += 1
    counts[(org, MONEY_RECOVERED, closed_on)] += case.money_recovered
    counts[(org, AID_PAID, closed_on)] += case.aid_paid
    if case.rating is not None and case.rated_on is not None:
        counts[(org, RATED, case.rated_on)] += 1
        counts[(org, RATING_SUM, case.rated_on)] += case.rating
        if case.rating >= 4:
            counts[(org, SATISFIED, case.rated_on)] += 1
    return counts


def change(before: Counter[CountKey], after: Counter[CountKey]) -> Counter[CountKey]:
    """after - before, keeping negative changes (Counter's own minus drops them)."""
    diff: Counter[CountKey] = Counter()
    for key in set(before) | set(after):
        delta = after.get(key, 0) - before.get(key, 0)
        if delta:
            diff[key] = delta
    return diff


def _metric_from(prefix: str, field: str) -> Concat:
    return Concat(Value(prefix), F(field), output_field=CharField())


def sum_sources() -> Iterable[tuple[str | None, QuerySet]]:
    cases = Case.objects.all()

    def count(qs: QuerySet, day: str) -> QuerySet:
        return qs.values(r_org=F("handling_org_id"), r_day=F(day)).annotate(r_value=Count("id"))

    def total(qs: QuerySet, day: str, field: str) -> QuerySet:
        return qs.values(r_org=F("handling_org_id"), r_day=F(day)).annotate(r_value=Sum(field))

    yield FILED, count(cases, "filed_on")
    yield (
        None,
        cases.values(
            r_org=F("handling_org_id"),
            r_metric=_metric_from(f"{FILED}.", "category"),
            r_day=F("filed_on"),
        ).annotate(r_value=Count("id")),
    )
    accepted = cases.filter(first_accepted_on__isnull=False)
    yield ACKNOWLEDGED, count(accepted, "first_accepted_on")
    yield (
        ACK_ON_TIME,
        count(accepted.filter(first_accepted_on__lte=F("first_ack_due")), "first_accepted_on"),
    )
    still_open = cases.exclude(status=CaseStatus.CLOSED)
    yield OPEN, count(still_open, "filed_on")
    yield OVERDUE, count(still_open.filter(overdue=True), "filed_on")
    closed = cases.filter(status=CaseStatus.CLOSED)
    yield CLOSED, count(closed, "closed_on")
    yield CLOSED_ON_TIME, count(closed.filter(closed_on__lte=F("first_resolve_due")), "closed_on")
    yield (
        None,
        closed.values(
            r_org=F("handling_org_id"),
            r_metric=_metric_from(f"{CLOSED}.", "outcome"),
            r_day=F("closed_on"),
        ).annotate(r_value=Count("id")),
    )
    yield (
        None,
        closed.annotate(
            r_metric=When_(
                When(working_days_taken__gt=DAYS_CAP, then=Value(days_metric(DAYS_CAP + 1))),
                default=Concat(
                    Value("cases.days."),
                    Cast("working_days_taken", CharField()),
                    output_field=CharField(),
                ),
                output_field=CharField(),
            )
        )
        .values("r_metric", r_org=F("handling_org_id"), r_day=F("closed_on"))
        .annotate(r_value=Count("id")),
    )
    yield MONEY_RECOVERED, total(closed, "closed_on", "money_recovered")
    yield AID_PAID, total(closed, "closed_on", "aid_paid")
    rated = closed.filter(rating__isnull=False)
    yield RATED, count(rated, "rated_on")
    yield RATING_SUM, total(rated, "rated_on", "rating")
    yield SATISFIED, count(rated.filter(rating__gte=4), "rated_on")
    yield (
        ESCALATED,
        CaseEvent.objects.filter(kind=EventKind.ESCALATED)
        .values(r_org=F("from_org_id"), r_day=F("day"))
        .annotate(r_value=Count("id")),
    )
    yield (
        HARDSHIP_FILES,
        HardshipFile.objects.filter(status=HardshipStatus.ACTIVE)
        .values(r_org=F("org_id"), r_day=F("opened_on"))
        .annotate(r_value=Count("id")),
    )
    aid = AidRecord.objects.all()
    yield (
        HARDSHIP_AID_GIVEN,
        aid.values(r_org=F("org_id"), r_day=F("given_on")).annotate(r_value=Count("id")),
    )
    yield (
        HARDSHIP_AID_PAID,
        aid.values(r_org=F("org_id"), r_day=F("given_on")).annotate(r_value=Sum("amount")),
    )
