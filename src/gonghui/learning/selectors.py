"""Reads of learning: what a worker may study, their progress, points and rank; an org's
content; leaderboards of members and units; a knowledge contest's rankings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from django.core.cache import cache
from django.db.models import Avg, Count, Max, Min, QuerySet
from django.utils import timezone

from gonghui.learning import figures
from gonghui.learning.models import (
    Attempt,
    Course,
    CourseCompletion,
    CourseItem,
    ItemProgress,
    Material,
    PointsBalance,
    PointsEntry,
    PublishStatus,
    Quiz,
    QuizResult,
)
from gonghui.learning.services import in_audience
from gonghui.orgs import scoping
from gonghui.orgs.figures import MEMBERS
from gonghui.orgs.models import Member, Org, OrgStatus, ancestor_field
from gonghui.orgs.scoping import Perm


def _published_for(model: type[Any], member: Member) -> list[Any]:
    """Published items of the unions above the member (and of their unit) whose audience
    includes them."""
    candidates = (
        model.objects.filter(status=PublishStatus.PUBLISHED, org_id__in=member.unit.ancestor_ids)
        .select_related("org")
        .prefetch_related("audience_units")
    )
    return [c for c in candidates if in_audience(c, member)]


def materials_of(user: Any, org: Org) -> QuerySet[Material]:
    return cast(
        "QuerySet[Material]", Material.objects.restrict(user, Perm.ORG_VIEW).filter(org=org)
    )


def courses_of(user: Any, org: Org) -> QuerySet[Course]:
    return cast("QuerySet[Course]", Course.objects.restrict(user, Perm.ORG_VIEW).filter(org=org))


def quizzes_of(user: Any, org: Org) -> QuerySet[Quiz]:
    return cast("QuerySet[Quiz]", Quiz.objects.restrict(user, Perm.ORG_VIEW).filter(org=org))


@dataclass
class CourseProgress:
    course: Course
    items: int
    done: int
    completed: bool

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.items) if self.items else 0


def courses_for(member: Member) -> list[CourseProgress]:
    courses = _published_for(Course, member)
    ids = [c.pk for c in courses]
    items = dict(
        CourseItem.objects.filter(course_id__in=ids)
        .values_list("course_id")
        .annotate(n=Count("id"))
        .values_list("course_id", "n")
    )
    done = dict(
        ItemProgress.objects.filter(
            member=member, item__course_id__in=ids, completed_at__isnull=False
        )
        .values_list("item__course_id")
        .annotate(n=Count("id"))
        .values_list("item__course_id", "n")
    )
    completed = set(
        CourseCompletion.objects.filter(member=member, course_id__in=ids).values_list(
            "course_id", flat=True
        )
    )
    return [
        CourseProgress(c, items.get(c.pk, 0), done.get(c.pk, 0), c.pk in completed) for c in courses
    ]


def course_items(course: Course, member: Member | None) -> list[tuple[CourseItem, Any]]:
    items = list(course.items.select_related("material"))
    progress = {}
    if member is not None:
        progress = {
            p.item_id: p for p in ItemProgress.objects.filter(member=member, item__in=items)
        }
    return [(item, progress.get(item.pk)) for item in items]


@dataclass
class QuizForMember:
    quiz: Quiz
    attempts: int
    best: int | None
    passed: bool
    open_attempt: Attempt | None

    @property
    def attempts_left(self) -> int:
        return max(0, self.quiz.attempts_allowed - self.attempts)


def quizzes_for(member: Member) -> list[QuizForMember]:
    now = timezone.now()
    quizzes = [q for q in _published_for(Quiz, member) if q.closes_at >= now]
    ids = [q.pk for q in quizzes]
    stats: dict[int, dict[str, Any]] = {
        row["quiz_id"]: dict(row)
        for row in Attempt.objects.filter(member=member, quiz_id__in=ids)
        .values("quiz_id")
        .annotate(n=Count("id"), best=Max("score"))
    }
    results = {r.quiz_id: r for r in QuizResult.objects.filter(member=member, quiz_id__in=ids)}
    open_attempts = {
        a.quiz_id: a
        for a in Attempt.objects.filter(
            member=member, quiz_id__in=ids, status="in_progress", deadline__gte=now
        )
    }
    return [
        QuizForMember(
            q,
            stats.get(q.pk, {}).get("n", 0),
            stats.get(q.pk, {}).get("best"),
            bool(results.get(q.pk) and results[q.pk].passed),
            open_attempts.get(q.pk),
        )
        for q in sorted(quizzes, key=lambda q: q.opens_at)
    ]


def attempts_of(member: Member, quiz: Quiz) -> QuerySet[Attempt]:
    return Attempt.objects.filter(member=member, quiz=quiz).order_by("number")


# --- points -----------------------------------------------------------------------------


def balance(member: Member) -> int:
    row = PointsBalance.objects.filter(member=member).first()
    return row.points if row else 0


def points_history(member: Member, limit: int = 50) -> QuerySet[PointsEntry]:
    return PointsEntry.objects.filter(member=member).order_by("-at", "-id")[:limit]


def rank_in_unit(member: Member) -> tuple[int, int]:
    """(rank, members in the unit): 1 is the most points; equal points share a rank."""
    mine = balance(member)
    ahead = PointsBalance.objects.filter(member__unit_id=member.unit_id, points__gt=mine).count()
    size = Member.objects.filter(unit_id=member.unit_id, status="active").count()
    return ahead + 1, size


@dataclass
class MemberRow:
    rank: int
    member_id: int
    name: str
    unit: str
    points: int


def members_leaderboard(org: Org, *, limit: int = 20) -> list[MemberRow]:
    """The members of `org`'s subtree with the most points (the index on points is read in
    order, so the province root costs as little as a unit)."""
    rows = (
        PointsBalance.objects.filter(
            **{f"member__unit__{ancestor_field(org.depth)}": org.pk}, points__gt=0
        )
        .order_by("-points", "member_id")
        .values_list("member_id", "member__name", "member__unit__name", "points")[:limit]
    )
    board: list[MemberRow] = []
    for member_id, name, unit, points in rows:
        rank = board[-1].rank if board and board[-1].points == points else len(board) + 1
        board.append(MemberRow(rank, member_id, name, unit, points))
    return board


@dataclass
class UnitRow:
    org: Org
    points: int
    members: int

    @property
    def per_member(self) -> float:
        return self.points / self.members if self.members else 0.0


def units_leaderboard(org: Org, user: Any) -> list[UnitRow]:
    """The children of `org`, ranked by points per member, from the roll-ups."""
    from gonghui.stats.selectors import figures_of

    children = list(
        Org.objects.restrict(user, Perm.ORG_VIEW).filter(parent=org, status=OrgStatus.ACTIVE)
    )
    values = figures_of(children, [figures.POINTS, MEMBERS])
    rows = [
        UnitRow(c, values[c.pk].get(figures.POINTS, 0), values[c.pk].get(MEMBERS, 0))
        for c in children
    ]
    return sorted(rows, key=lambda r: (-r.per_member, -r.points, r.org.code))


# --- leaderboards, cached ------------------------------------------------------------------
#
# During a contest the leaderboards are read back to back by cadres while thousands of
# members score; the board of an org is the same for every cadre allowed to see it. So the
# computed board is kept in Django's cache (per process, or shared when CACHES names one)
# for LEADERBOARD_SECONDS: a board may trail the points by up to 2 seconds. The callers
# check the permission first; nothing user-specific is in a cached board (the units board
# is cached only for users who see every unit below the org).
LEADERBOARD_SECONDS = 2
_board_generation = 0


def forget_leaderboards() -> None:
    """Make the next reads compute the boards afresh (tests, or after a correction)."""
    global _board_generation
    _board_generation += 1


def _board_key(org: Org, kind: str, limit: int) -> str:
    # The org's creation time and version: a renamed or moved org, or another org under a
    # reused id (a test database), never gets an old board.
    created = org.created_at.timestamp() if org.created_at else 0
    return f"learning:board:{_board_generation}:{org.pk}:{created}:{org.version}:{kind}:{limit}"


def cached_members_leaderboard(org: Org, *, limit: int = 20) -> list[MemberRow]:
    """`members_leaderboard`, up to LEADERBOARD_SECONDS old."""
    key = _board_key(org, "members", limit)
    board: list[MemberRow] | None = cache.get(key)
    if board is None:
        board = members_leaderboard(org, limit=limit)
        cache.set(key, board, LEADERBOARD_SECONDS)
    return board


def cached_units_leaderboard(org: Org, user: Any) -> list[UnitRow]:
    """`units_leaderboard`, up to LEADERBOARD_SECONDS old for users who see the whole
    subtree (for them it lists every active child, whoever asks); fresh for others."""
    if not scoping.can_in_subtree(user, Perm.ORG_VIEW, org):
        return units_leaderboard(org, user)
    key = _board_key(org, "units", 0)
    board: list[UnitRow] | None = cache.get(key)
    if board is None:
        board = units_leaderboard(org, user)
        cache.set(key, board, LEADERBOARD_SECONDS)
    return board


# --- a knowledge contest ----------------------------------------------------------------


@dataclass
class ContestRow:
    rank: int
    name: str
    unit: str
    score: int
    seconds: int


def contest_ranking(quiz: Quiz, *, org: Org | None = None, limit: int = 50) -> list[ContestRow]:
    """Individuals by best score, then by less time (the tie-break), then by who was first."""
    results = QuizResult.objects.filter(quiz=quiz)
    if org is not None:
        results = results.filter(**{f"unit__{ancestor_field(org.depth)}": org.pk})
    rows = results.order_by("-score", "seconds_taken", "attempt__submitted_at").values_list(
        "member__name", "unit__name", "score", "seconds_taken"
    )[:limit]
    board: list[ContestRow] = []
    for name, unit, score, seconds in rows:
        same = board and (board[-1].score, board[-1].seconds) == (score, seconds)
        rank = board[-1].rank if same else len(board) + 1
        board.append(ContestRow(rank, name, unit, score, seconds))
    return board


@dataclass
class ContestUnitRow:
    rank: int
    org: Org
    participants: int
    average: float
    best_time: int


def contest_unit_ranking(quiz: Quiz, org: Org) -> list[ContestUnitRow]:
    """The children of `org` by the average best score of their participants."""
    depth = org.depth + 1
    column = ancestor_field(depth)
    grouped = (
        QuizResult.objects.filter(quiz=quiz, **{f"unit__{ancestor_field(org.depth)}": org.pk})
        .exclude(**{f"unit__{column}": None})
        .values(f"unit__{column}")
        .annotate(n=Count("id"), avg=Avg("score"), fastest=Min("seconds_taken"))
    )
    rows = [(g[f"unit__{column}"], g["n"], float(g["avg"] or 0), g["fastest"]) for g in grouped]
    orgs = Org.objects.in_bulk([r[0] for r in rows])
    rows.sort(key=lambda r: (-r[2], -r[1], r[3]))
    board: list[ContestUnitRow] = []
    for org_id, n, avg, fastest in rows:
        same = board and round(board[-1].average, 2) == round(avg, 2)
        rank = board[-1].rank if same else len(board) + 1
        board.append(ContestUnitRow(rank, orgs[org_id], n, avg, fastest))
    return board


def visible_quiz(user: Any, pk: int) -> Quiz | None:
    return cast("Quiz | None", Quiz.objects.restrict(user, Perm.ORG_VIEW).filter(pk=pk).first())
