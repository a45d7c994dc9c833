"""Reading cases, timelines, hardship files and case figures. Every list goes through
`Case.objects.restrict` (the case visibility rule) or the org scoping function."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from gonghui.cases import figures
from gonghui.cases.models import (
    WORKER_VISIBLE_EVENTS,
    Case,
    CaseAttachment,
    CaseEvent,
    CaseStatus,
    HardshipFile,
    HardshipStatus,
    WorkCalendarDay,
)
from gonghui.cases.services import HANDLING_KINDS
from gonghui.orgs import scoping
from gonghui.orgs.models import Member, Org, OrgKind, OrgStatus, ancestor_field
from gonghui.orgs.scoping import Perm
from gonghui.orgs.selectors import members_in_scope
from gonghui.stats.selectors import live_subtree_figures

QUEUE_FILTERS = ("open", "new", "in_progress", "overdue", "closed", "all")


def visible_cases(user: Any) -> QuerySet[Case]:
    return Case.objects.restrict(user).select_related("handling_org", "handler", "member")


def case_for(user: Any, case_id: int) -> Case:
    """One case the user may read, or Http404."""
    from django.http import Http404

    try:
        return visible_cases(user).select_related("unit").get(pk=case_id)
    except (Case.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404 from exc


def queue(
    user: Any,
    org: Org,
    *,
    show: str = "open",
    subtree: bool = False,
    category: str = "",
    mine: bool = False,
    q: str = "",
) -> QuerySet[Case]:
    """The cases of a union (handled there, or anywhere below it with `subtree`) that the
    user may read: open ones first by deadline."""
    cases = visible_cases(user)
    if subtree:
        cases = cases.filter(**{f"handling_org__{ancestor_field(org.depth)}": org.pk})
    else:
        cases = cases.filter(handling_org=org)
    if show == "open":
        cases = cases.exclude(status=CaseStatus.CLOSED)
    elif show in (CaseStatus.NEW, CaseStatus.IN_PROGRESS, CaseStatus.CLOSED):
        cases = cases.filter(status=show)
    elif show == "overdue":
        cases = cases.exclude(status=CaseStatus.CLOSED).filter(
            Q(overdue=True) | Q(resolve_due__lt=timezone.localdate())
        )
    if category:
        cases = cases.filter(category=category)
    if mine:
        cases = cases.filter(handler=user)
    if q:
        cases = cases.filter(Q(number__icontains=q) | Q(title__icontains=q))
    if show in ("closed", "all"):
        return cases.order_by("-filed_at", "-id")
    return cases.order_by("resolve_due", "filed_at", "id")


def case_for_or_none(user: Any, case_id: Any) -> Case | None:
    """Like case_for, for an id from a query string: None instead of 404."""
    if not str(case_id).isdigit():
        return None
    return visible_cases(user).select_related("unit").filter(pk=int(case_id)).first()


def can_read(user: Any, case_id: int) -> bool:
    """Whether the user may still read the case (after an escalation or a transfer it may
    have left their union)."""
    return Case.objects.restrict(user).filter(pk=case_id).exists()


def case_by_number(user: Any, number: str) -> Case | None:
    """A case the user may read, by its number (what people quote), else None."""
    number = (number or "").strip()
    if not number:
        return None
    return visible_cases(user).filter(number=number).first()


def handles_cases_at(user: Any, org: Org) -> bool:
    """Whether the user works a union's cases (its queue, filing for workers, the ledger)."""
    return scoping.can(user, Perm.CASE_HANDLE, org) or scoping.can(user, Perm.CASE_SUPERVISE, org)


# A deadline within this many days shows yellow, a passed one red.
DUE_SOON_DAYS = 2


def deadline_light(due: datetime.date | None, today: datetime.date, *, late: bool = False) -> str:
    """The traffic light of one deadline: "red" past it, "yellow" close to it, "green"."""
    if due is None:
        return ""
    if late or due < today:
        return "red"
    if (due - today).days <= DUE_SOON_DAYS:
        return "yellow"
    return "green"


def case_lights(case: Case, today: datetime.date | None = None) -> dict[str, str]:
    """Lights of a case's two deadlines while they still matter: acknowledging while it
    waits for acceptance, resolving while it is open."""
    today = today or timezone.localdate()
    if not case.is_open:
        return {"ack": "", "resolve": ""}
    return {
        "ack": deadline_light(case.ack_due, today) if case.status == CaseStatus.NEW else "",
        "resolve": deadline_light(case.resolve_due, today, late=case.overdue),
    }


def transfer_targets(user: Any, case: Case) -> QuerySet[Org]:
    """Unions the user may hand the case to: active handling unions they supervise, not
    the current one, and nothing at or below the worker's own union when the worker asked
    that it not see the case (the service checks all of this again)."""
    orgs = (
        Org.objects.restrict(user, Perm.CASE_SUPERVISE)
        .filter(status=OrgStatus.ACTIVE, kind__in=HANDLING_KINDS)
        .exclude(pk=case.handling_org_id)
    )
    if case.conceal_from_employer_union:
        employer = (
            Org.objects.filter(pk__in=case.unit.ancestor_ids, kind=OrgKind.GRASSROOTS)
            .order_by("-depth")
            .first()
        )
        if employer is not None:
            orgs = orgs.exclude(**{ancestor_field(employer.depth): employer.pk})
    return orgs.order_by("path")


def member_matches(
    user: Any, org: Org, query: str, *, chosen: Member | None = None, limit: int = 20
) -> list[Member]:
    """Members of `org`'s subtree the user may see matching a search (name, pinyin, the
    last digits of the ID number or phone), the one already chosen first: a cadre picks
    the worker a case or a hardship file is for."""
    query = (query or "").strip()
    found = (
        list(members_in_scope(user, org=org, query=query).order_by("name", "id")[:limit])
        if query
        else []
    )
    if chosen is not None and all(m.pk != chosen.pk for m in found):
        found.insert(0, chosen)
    return found


def cases_of_worker(user: Any) -> QuerySet[Case]:
    return (
        Case.objects.filter(member__user=user)
        .select_related("handling_org")
        .order_by("-filed_at", "-id")
    )


def timeline(case: Case, *, for_worker: bool) -> list[CaseEvent]:
    events = case.events.select_related("from_org", "to_org").prefetch_related("attachments")
    if for_worker:
        events = events.filter(kind__in=WORKER_VISIBLE_EVENTS)
    return list(events)


def attachments_of(case: Case) -> list[CaseAttachment]:
    return list(case.attachments.all())


def attachment_for(user: Any, attachment_id: int) -> CaseAttachment:
    """An attachment whose case the user may read, or Http404."""
    from django.http import Http404

    try:
        return CaseAttachment.objects.select_related("case").get(
            pk=attachment_id, case__in=Case.objects.restrict(user)
        )
    except (CaseAttachment.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404 from exc


def hardship_files(
    user: Any, org: Org, *, status: str = HardshipStatus.ACTIVE, due: bool = False, q: str = ""
) -> QuerySet[HardshipFile]:
    files = (
        HardshipFile.objects.restrict(user, Perm.HARDSHIP_VIEW)
        .filter(**{f"org__{ancestor_field(org.depth)}": org.pk})
        .select_related("member", "member__unit", "org")
    )
    if status:
        files = files.filter(status=status)
    if due:
        files = files.filter(review_due__lte=timezone.localdate())
    if q:
        files = files.filter(member__name__icontains=q)
    return files.order_by("review_due", "id")


def hardship_file_for(user: Any, file_id: int) -> HardshipFile:
    from django.http import Http404

    try:
        return (
            HardshipFile.objects.restrict(user, Perm.HARDSHIP_VIEW)
            .select_related("member", "member__unit", "org", "case")
            .get(pk=file_id)
        )
    except (HardshipFile.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404 from exc


# --- figures ----------------------------------------------------------------------------

FIGURE_NAMES = [
    figures.FILED,
    figures.OPEN,
    figures.OVERDUE,
    figures.ACKNOWLEDGED,
    figures.ACK_ON_TIME,
    figures.CLOSED,
    figures.CLOSED_ON_TIME,
    figures.ESCALATED,
    figures.MONEY_RECOVERED,
    figures.AID_PAID,
    figures.RATED,
    figures.RATING_SUM,
    figures.SATISFIED,
    figures.HARDSHIP_FILES,
    figures.HARDSHIP_AID_GIVEN,
    figures.HARDSHIP_AID_PAID,
    *figures.DAYS_METRICS,
]


def median_days(values: dict[str, int]) -> int | None:
    """The median working days to close, from the per-day counts (None if none closed;
    DAYS_CAP + 1 means "more than DAYS_CAP")."""
    counts = [values.get(name, 0) for name in figures.DAYS_METRICS]
    total = sum(counts)
    if total == 0:
        return None
    # The lower median: the smallest n with at least half the cases closed within n days.
    half = (total + 1) // 2
    running = 0
    for days, count in enumerate(counts):
        running += count
        if running >= half:
            return days
    return len(counts) - 1


@dataclass
class CaseFigures:
    org: Org
    values: dict[str, int]
    by_category: dict[str, int] = field(default_factory=dict)

    def _ratio(self, part: str, whole: str) -> float | None:
        denominator = self.values.get(whole, 0)
        return self.values.get(part, 0) / denominator if denominator else None

    @property
    def ack_on_time_rate(self) -> float | None:
        return self._ratio(figures.ACK_ON_TIME, figures.ACKNOWLEDGED)

    @property
    def closed_on_time_rate(self) -> float | None:
        return self._ratio(figures.CLOSED_ON_TIME, figures.CLOSED)

    @property
    def satisfaction_rate(self) -> float | None:
        return self._ratio(figures.SATISFIED, figures.RATED)

    @property
    def average_rating(self) -> float | None:
        return self._ratio(figures.RATING_SUM, figures.RATED)

    @property
    def median_days(self) -> int | None:
        return median_days(self.values)

    @property
    def median_over_cap(self) -> bool:
        median = self.median_days
        return median is not None and median > figures.DAYS_CAP

    def get(self, name: str) -> int:
        return self.values.get(name, 0)


def case_figures(org: Org, user: Any) -> tuple[CaseFigures, list[CaseFigures]]:
    """The subtree's case figures and each visible child's, exact now: O(children) rows."""
    from gonghui.cases.models import CaseCategory

    children = list(
        Org.objects.restrict(user, Perm.ORG_VIEW)
        .filter(parent=org, status=OrgStatus.ACTIVE)
        .order_by("kind", "code")
    )
    category_names = [figures.filed_metric(c) for c in CaseCategory.values]
    values = live_subtree_figures([org, *children], FIGURE_NAMES + category_names)

    def build(o: Org) -> CaseFigures:
        v = values[o.pk]
        return CaseFigures(
            o,
            v,
            {c: v.get(figures.filed_metric(c), 0) for c in CaseCategory.values},
        )

    return build(org), [build(c) for c in children]


def period_days(days: int) -> tuple[datetime.date, datetime.date]:
    today = timezone.localdate()
    return today - datetime.timedelta(days=days - 1), today


# --- for the API (appended) --------------------------------------------------------------


def case_list(
    user: Any, *, show: str = "open", category: str = "", mine: bool = False, q: str = ""
) -> QuerySet[Case]:
    """Every case the user may read, whichever union handles it (a worker's own cases
    among them), filtered and ordered like `queue`."""
    cases = visible_cases(user)
    if show == "open":
        cases = cases.exclude(status=CaseStatus.CLOSED)
    elif show in (CaseStatus.NEW, CaseStatus.IN_PROGRESS, CaseStatus.CLOSED):
        cases = cases.filter(status=show)
    elif show == "overdue":
        cases = cases.exclude(status=CaseStatus.CLOSED).filter(
            Q(overdue=True) | Q(resolve_due__lt=timezone.localdate())
        )
    if category:
        cases = cases.filter(category=category)
    if mine:
        cases = cases.filter(handler=user)
    if q:
        cases = cases.filter(Q(number__icontains=q) | Q(title__icontains=q))
    if show in ("closed", "all"):
        return cases.order_by("-filed_at", "-id")
    return cases.order_by("resolve_due", "filed_at", "id")


def calendar_year(year: int) -> QuerySet[WorkCalendarDay]:
    """The exceptions to the Monday–Friday week in `year`: holidays on weekdays and
    make-up workdays on weekends, by day."""
    return WorkCalendarDay.objects.filter(day__year=year).order_by("day")
