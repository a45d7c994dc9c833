"""Reading competitions: lists scoped to the user, what a member may enter, what a judge
sees (entry numbers only, their own marks until confirmation), and published results."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone

from gonghui.competitions import services
from gonghui.competitions.models import (
    Award,
    Competition,
    CompetitionStatus,
    Criterion,
    Discipline,
    Entry,
    EntryStatus,
    Judge,
    Mark,
)
from gonghui.orgs import scoping
from gonghui.orgs import selectors as org_selectors
from gonghui.orgs.models import Member, Org, ancestor_field
from gonghui.orgs.scoping import Perm, get_in_scope_or_404

PUBLIC_STATUSES = (CompetitionStatus.OPEN, CompetitionStatus.JUDGING, CompetitionStatus.PUBLISHED)


def competitions_of(user: Any, org: Org, *, subtree: bool = True) -> QuerySet[Competition]:
    """Competitions organised in the org's subtree (or by the org) that the user sees."""
    qs = Competition.objects.restrict(user, Perm.ORG_VIEW).select_related("org", "parent")
    if subtree:
        return qs.filter(**{f"org__{ancestor_field(org.depth)}": org.pk})
    return qs.filter(org=org)


def competition_for(user: Any, competition_id: int) -> Competition:
    """A competition the user sees as a cadre, or 404: its organiser is in their scope, or
    it is open to a union they are a cadre of (organised above it and no longer a draft),
    so a grassroots union's cadres can follow and approve their members' entries."""
    try:
        return get_in_scope_or_404(
            Competition.objects.select_related("org", "parent"),
            user,
            Perm.ORG_VIEW,
            pk=competition_id,
        )
    except Http404:
        competition = (
            Competition.objects.select_related("org", "parent")
            .filter(pk=competition_id, status__in=PUBLIC_STATUSES)
            .first()
        )
        if competition is None or not _cadre_below(user, competition.org):
            raise
        return competition


def _cadre_below(user: Any, org: Org) -> bool:
    """Whether the user is a cadre of a union below `org`."""
    below = [g.org_id for g in scoping.grants_for(user) if Perm.ORG_VIEW in g.perms]
    return (
        bool(below)
        and Org.objects.filter(pk__in=below, **{ancestor_field(org.depth): org.pk}).exists()
    )


def may_register_members(user: Any, competition: Competition) -> bool:
    """Whether the user is a cadre (COMPETITION_MANAGE) of the organiser or of a union
    below it, and so may register members of their unions (报名 by the union)."""
    if scoping.is_unrestricted(user):
        return True
    org = competition.org
    grants = [g for g in scoping.grants_for(user) if Perm.COMPETITION_MANAGE in g.perms]
    if any(g.covers(org) for g in grants):
        return True
    return (
        bool(grants)
        and Org.objects.filter(
            pk__in=[g.org_id for g in grants], **{ancestor_field(org.depth): org.pk}
        ).exists()
    )


def registrable_members(user: Any, competition: Competition) -> QuerySet[Member]:
    """Active members a cadre may register for a competition: those they see
    (MEMBER_VIEW) in the organiser's subtree whose unit they manage competitions of."""
    return org_selectors.members_in_scope(user, org=competition.org).filter(
        scoping.scope_q(user, Perm.COMPETITION_MANAGE, "unit")
    )


def registrable_matches(
    user: Any,
    competition: Competition,
    query: str,
    *,
    chosen: Member | None = None,
    limit: int = 20,
) -> list[Member]:
    """The registrable members matching a search (name, pinyin, the last digits of the ID
    number or phone), the one already chosen first."""
    query = (query or "").strip()
    found: list[Member] = []
    if query:
        found = list(
            org_selectors.members_in_scope(user, org=competition.org, query=query)
            .filter(scoping.scope_q(user, Perm.COMPETITION_MANAGE, "unit"))
            .order_by("name", "id")[:limit]
        )
    if chosen is not None and all(m.pk != chosen.pk for m in found):
        found.insert(0, chosen)
    return found


def open_to_org(org: Org) -> QuerySet[Competition]:
    """Competitions of the unions above `org` that its members may enter or have results."""
    above = [pk for pk in org.ancestor_ids if pk != org.pk]
    return (
        Competition.objects.filter(org_id__in=above, status__in=PUBLIC_STATUSES)
        .select_related("org")
        .order_by("-registration_opens_at", "-id")
    )


def open_for_member(member: Member) -> QuerySet[Competition]:
    """Competitions a member could enter: organised by a union on their path to the root,
    published (open, judging or with results)."""
    return (
        Competition.objects.filter(org_id__in=member.unit.ancestor_ids, status__in=PUBLIC_STATUSES)
        .select_related("org")
        .order_by("-registration_closes_at", "-id")
    )


def visible_to_member(member: Member, competition_id: int) -> Competition:
    try:
        return open_for_member(member).get(pk=competition_id)
    except (Competition.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404 from exc


def entries_of_member(member: Member) -> QuerySet[Entry]:
    return (
        Entry.objects.filter(Q(member=member) | Q(team_members=member))
        .select_related("competition", "discipline", "competition__org")
        .distinct()
        .order_by("-registered_at")
    )


def entries_of(user: Any, competition: Competition) -> QuerySet[Entry]:
    """The entries a cadre sees: all for the organiser's cadres, else their unions' own.
    A judge's role gives no view of the unions, so judging stays blind."""
    qs = Entry.objects.filter(competition=competition).select_related(
        "member", "unit", "discipline"
    )
    if services.can_manage(user, competition):
        return qs
    return qs.filter(pk__in=Entry.objects.restrict(user, Perm.ORG_VIEW).values("pk"))


def own_entry(user: Any, entry_id: int) -> Entry:
    """An entry the user registered as its member (the leader of a team), or 404."""
    try:
        return Entry.objects.select_related("competition", "discipline", "member").get(
            pk=entry_id, member__user=user
        )
    except (Entry.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404 from exc


def live_entry(member: Member, competition: Competition) -> Entry | None:
    """The member's pending or approved entry of a competition, as leader or team member."""
    return (
        entries_of_member(member)
        .filter(competition=competition, status__in=[EntryStatus.PENDING, EntryStatus.APPROVED])
        .first()
    )


def stage_parents(org: Org, current: int | None = None) -> QuerySet[Competition]:
    """Competitions a competition of `org` may be a stage of: published competitions of the
    unions above it once opened (members below see them too), and the one chosen already."""
    above = [pk for pk in org.ancestor_ids if pk != org.pk]
    return (
        Competition.objects.filter(
            Q(org_id__in=above, status__in=PUBLIC_STATUSES) | Q(pk=current or 0)
        )
        .select_related("org")
        .order_by("-registration_opens_at", "-id")
    )


def theory_quizzes(org: Org, limit: int = 100) -> list[tuple[int, str]]:
    """Quizzes of the learning app a trade's theory part may use: the union's and those of
    the unions above it."""
    from gonghui.learning.models import Quiz

    return list(
        Quiz.objects.filter(org_id__in=org.ancestor_ids)
        .order_by("-opens_at", "-id")
        .values_list("pk", "title")[:limit]
    )


def entry_for(user: Any, entry_id: int) -> Entry:
    """An entry the user may see as a cadre (of its union or the organiser), or 404."""
    return get_in_scope_or_404(
        Entry.objects.select_related(
            "competition", "competition__org", "discipline", "member", "unit"
        ),
        user,
        Perm.ORG_VIEW,
        pk=entry_id,
    )


# --- judges ---------------------------------------------------------------------------------


def seats_of(user: Any) -> QuerySet[Judge]:
    if getattr(user, "pk", None) is None:
        return Judge.objects.none()
    return Judge.objects.filter(user=user).select_related(
        "discipline", "competition", "competition__org"
    )


def seat_for(user: Any, discipline_id: int) -> Judge:
    """The user's seat on a trade's panel, or 404: judges see nothing else."""
    seat = seats_of(user).filter(discipline_id=discipline_id).first()
    if seat is None:
        raise Http404
    return seat


@dataclass
class JudgeRow:
    """What a judge sees of an entry: its number, never the name or the union."""

    entry_id: int
    number: str
    marks: dict[int, Decimal]  # criterion id -> this judge's mark
    others: dict[int, list[Decimal]]  # other judges' marks, only once confirmed
    total: Decimal | None
    rank: int | None


def judge_sheet(seat: Judge) -> tuple[list[Criterion], list[JudgeRow]]:
    discipline = seat.discipline
    criteria = list(discipline.criteria.all())
    entries = list(
        discipline.entries.filter(status=EntryStatus.APPROVED)
        .order_by("number")
        .only("pk", "number", "total", "rank")
    )
    own: dict[int, dict[int, Decimal]] = {}
    others: dict[int, dict[int, list[Decimal]]] = {}
    show_others = discipline.locked or seat.chief
    for entry_id, criterion_id, judge_id, value in Mark.objects.filter(
        entry__in=entries
    ).values_list("entry_id", "criterion_id", "judge_id", "value"):
        if judge_id == seat.user_id:
            own.setdefault(entry_id, {})[criterion_id] = value
        elif show_others:
            others.setdefault(entry_id, {}).setdefault(criterion_id, []).append(value)
    rows = [
        JudgeRow(
            e.pk,
            e.number,
            own.get(e.pk, {}),
            others.get(e.pk, {}),
            e.total if discipline.locked else None,
            e.rank if discipline.locked else None,
        )
        for e in entries
    ]
    return criteria, rows


def judge_entry(seat: Judge, entry_id: int) -> Entry:
    try:
        return seat.discipline.entries.get(pk=entry_id, status=EntryStatus.APPROVED)
    except (Entry.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404 from exc


def marks_to_correct(seat: Judge) -> dict[int, list[Mark]]:
    """Every mark of the trade by entry, for the chief judge once the scores are locked."""
    if not (seat.chief and seat.discipline.locked):
        return {}
    marks: dict[int, list[Mark]] = {}
    for mark in (
        Mark.objects.filter(entry__discipline=seat.discipline, entry__status=EntryStatus.APPROVED)
        .select_related("criterion", "judge")
        .order_by("criterion__position", "criterion_id", "judge_id")
    ):
        marks.setdefault(mark.entry_id, []).append(mark)
    return marks


def mark_for_correction(seat: Judge, mark_id: int) -> Mark:
    if not seat.chief:
        raise Http404
    try:
        return Mark.objects.select_related("entry", "criterion").get(
            pk=mark_id, entry__discipline=seat.discipline
        )
    except (Mark.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404 from exc


# --- results --------------------------------------------------------------------------------


@dataclass
class ResultRow:
    rank: int | None
    number: str
    name: str
    team_name: str
    unit: str
    total: Decimal | None
    award: Award | None
    entry_id: int


def results(competition: Competition) -> list[tuple[Discipline, list[ResultRow]]]:
    """Ranked results per trade, with the award of each rank (published competitions)."""
    out = []
    for discipline in competition.disciplines.prefetch_related("awards"):
        awards = list(discipline.awards.all())
        rows = [
            ResultRow(
                e.rank,
                e.number,
                e.member.name,
                e.team_name,
                e.unit.name,
                e.total,
                services.award_of(e, awards),
                e.pk,
            )
            for e in discipline.entries.filter(status=EntryStatus.APPROVED)
            .select_related("member", "unit")
            .order_by("rank", "number")
        ]
        out.append((discipline, rows))
    return out


def published(competition_id: int) -> Competition:
    """A competition whose results are public, or 404."""
    try:
        return Competition.objects.select_related("org").get(
            pk=competition_id, status=CompetitionStatus.PUBLISHED
        )
    except (Competition.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404 from exc


def public_results() -> QuerySet[Competition]:
    return (
        Competition.objects.filter(status=CompetitionStatus.PUBLISHED)
        .select_related("org")
        .order_by("-published_at")
    )


def registration_is_open(competition: Competition) -> bool:
    now = timezone.now()
    return (
        competition.status == CompetitionStatus.OPEN
        and competition.registration_opens_at <= now <= competition.registration_closes_at
    )


def competitions_of_requirements(
    requirement_ids: list[int], org: Org
) -> dict[int, tuple[int, int]]:
    """For each notice requirement: (competitions held, competitors) linked to it in
    `org`'s subtree, read from the roll-ups in one statement."""
    from gonghui.competitions.figures import requirement_metric
    from gonghui.stats.selectors import figures_of

    names = {
        pk: (requirement_metric(pk, "competitions"), requirement_metric(pk, "competitors"))
        for pk in requirement_ids
    }
    flat = [n for pair in names.values() for n in pair]
    values = figures_of([org], flat)[org.pk] if flat else {}
    return {pk: (values.get(a, 0), values.get(b, 0)) for pk, (a, b) in names.items()}
