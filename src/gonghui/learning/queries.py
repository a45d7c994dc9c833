"""Reads the learning pages need beyond `selectors`: a course's or a quiz's audience and
the members' progress, the materials a course may use, the question bank with its
filters, and who may look at an attempt. Every read of members is limited to those the
user may see (the scoping filter)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from gonghui.learning.models import (
    Attempt,
    AttemptStatus,
    Course,
    CourseCompletion,
    CourseItem,
    ItemProgress,
    Material,
    PublishStatus,
    Question,
    Quiz,
    QuizResult,
)
from gonghui.orgs import scoping
from gonghui.orgs.models import Member, MemberStatus, Org, ancestor_field
from gonghui.orgs.scoping import Perm

# The question bank's filter on tags reads the tags of the bank's active questions; a bank
# larger than this lists the tags of its first rows only (the filter still works typed).
TAGS_READ_LIMIT = 20_000


def audience_q(thing: Course | Quiz | Material, prefix: str = "unit__") -> Q:
    """Members (through their unit) in the audience: the publisher's subtree, narrowed to
    units of the chosen kinds and to the subtrees of the chosen units."""
    org = thing.org
    q = Q(**{f"{prefix}{ancestor_field(org.depth)}": org.pk})
    if thing.audience_kinds:
        q &= Q(**{f"{prefix}kind__in": list(thing.audience_kinds)})
    units = list(thing.audience_units.all())
    if units:
        within = Q(pk__in=[])
        for unit in units:
            within |= Q(**{f"{prefix}{ancestor_field(unit.depth)}": unit.pk})
        q &= within
    return q


def audience_members(thing: Course | Quiz, user: Any) -> QuerySet[Member]:
    """Active members of the audience that `user` may see."""
    return Member.objects.filter(
        audience_q(thing),
        scoping.scope_q(user, Perm.MEMBER_VIEW, "unit"),
        status=MemberStatus.ACTIVE,
    )


# --- a course's progress ------------------------------------------------------------------


@dataclass(frozen=True)
class CourseCounts:
    items: int
    audience: int  # members of the audience the user may see
    completed: int  # of them, those who completed the course

    @property
    def percent(self) -> int:
        return round(100 * self.completed / self.audience) if self.audience else 0


def course_counts(course: Course, user: Any) -> CourseCounts:
    members = audience_members(course, user)
    done = CourseCompletion.objects.filter(course=course, member__in=members.values("pk"))
    return CourseCounts(
        items=CourseItem.objects.filter(course=course).count(),
        audience=members.count(),
        completed=done.count(),
    )


PROGRESS_ALL = ""
PROGRESS_COMPLETED = "completed"
PROGRESS_NOT_COMPLETED = "not_completed"


def course_progress(course: Course, user: Any, *, show: str = PROGRESS_ALL) -> QuerySet[Member]:
    """The audience the user may see, each member with `done` (items completed) and
    `completed_at` (the course, or None), ordered by unit and name."""
    completion = CourseCompletion.objects.filter(course=course, member=OuterRef("pk"))
    done = (
        ItemProgress.objects.filter(
            item__course=course, member=OuterRef("pk"), completed_at__isnull=False
        )
        .order_by()
        .values("member")
        .annotate(n=Count("id"))
        .values("n")
    )
    members = (
        audience_members(course, user)
        .select_related("unit")
        .annotate(
            done=Subquery(done),
            completed_at=Subquery(completion.values("completed_at")[:1]),
        )
    )
    if show == PROGRESS_COMPLETED:
        members = members.filter(Exists(completion))
    elif show == PROGRESS_NOT_COMPLETED:
        members = members.exclude(Exists(completion))
    return members.order_by("unit__path", "name", "id")


# --- what a course may be made of ---------------------------------------------------------


def usable_materials(org: Org) -> QuerySet[Material]:
    """Published materials of `org` and of the unions above it: what a course of `org`
    may be made of."""
    return cast(
        "QuerySet[Material]",
        Material.objects.filter(org_id__in=org.ancestor_ids, status=PublishStatus.PUBLISHED)
        .select_related("org")
        .order_by("-org__depth", "-published_at", "-id"),
    )


def material_for_member(material: Material, member: Member) -> bool:
    """Whether the member may open the material: it is published and for them, or it is an
    item of a published course that is for them."""
    from gonghui.learning.services import in_audience

    if material.status == PublishStatus.PUBLISHED and in_audience(material, member):
        return True
    courses = Course.objects.filter(
        status=PublishStatus.PUBLISHED,
        items__material=material,
        org_id__in=member.unit.ancestor_ids,
    ).prefetch_related("audience_units")
    return any(in_audience(c, member) for c in courses)


# --- the question bank --------------------------------------------------------------------


@dataclass(frozen=True)
class BankFilters:
    tag: str = ""
    difficulty: int | None = None
    kind: str = ""
    retired: bool = False


def question_bank(org: Org, filters: BankFilters) -> QuerySet[Question]:
    """The org's own questions (active, or retired), narrowed by the filters. Tags are a
    JSON list, which the databases query differently: the tag filter is applied to the
    ids read with their tags (see `_ids_with_tag`)."""
    questions = Question.objects.filter(org=org, active=not filters.retired)
    if filters.difficulty:
        questions = questions.filter(difficulty=filters.difficulty)
    if filters.kind:
        questions = questions.filter(kind=filters.kind)
    if filters.tag:
        questions = questions.filter(pk__in=_ids_with_tag(questions, filters.tag))
    return questions.order_by("-id")


def _ids_with_tag(questions: QuerySet[Question], tag: str) -> list[int]:
    return [pk for pk, tags in questions.values_list("pk", "tags") if tag in (tags or [])]


def bank_tags(org: Org) -> list[str]:
    """The tags used in the org's active questions, most used first."""
    counts: dict[str, int] = {}
    rows = Question.objects.filter(org=org, active=True).values_list("tags", flat=True)
    for tags in rows[:TAGS_READ_LIMIT]:
        for tag in tags or []:
            counts[tag] = counts.get(tag, 0) + 1
    return sorted(counts, key=lambda t: (-counts[t], t))


@dataclass(frozen=True)
class BankCounts:
    active: int
    retired: int


def bank_counts(org: Org) -> BankCounts:
    rows = dict(
        Question.objects.filter(org=org)
        .order_by()
        .values_list("active")
        .annotate(n=Count("id"))
        .values_list("active", "n")
    )
    return BankCounts(active=rows.get(True, 0), retired=rows.get(False, 0))


# --- quizzes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuizCounts:
    participants: int  # members with a scored attempt
    passed: int
    attempts: int  # scored attempts
    in_progress: int


def quiz_counts(quiz: Quiz, org: Org | None = None) -> QuizCounts:
    """How the quiz went, in `org`'s subtree (default: everywhere)."""
    results = QuizResult.objects.filter(quiz=quiz)
    attempts = Attempt.objects.filter(quiz=quiz)
    if org is not None:
        within = {f"unit__{ancestor_field(org.depth)}": org.pk}
        results = results.filter(**within)
        attempts = attempts.filter(**within)
    now = timezone.now()
    return QuizCounts(
        participants=results.count(),
        passed=results.filter(passed=True).count(),
        attempts=attempts.exclude(status=AttemptStatus.IN_PROGRESS).count(),
        in_progress=attempts.filter(status=AttemptStatus.IN_PROGRESS, deadline__gte=now).count(),
    )


def bank_size(quiz: Quiz) -> int:
    """Questions the quiz draws per attempt."""
    return sum(int(rule.get("count") or 0) for rule in quiz.rules or [])


def attempt_for_cadre(user: Any, attempt: Attempt) -> bool:
    """Whether a cadre may look at an attempt's outcome (never its questions): the quiz is
    theirs to see, or the member's unit is."""
    if Quiz.objects.restrict(user, Perm.ORG_VIEW).filter(pk=attempt.quiz_id).exists():
        return True
    return Org.objects.restrict(user, Perm.MEMBER_VIEW).filter(pk=attempt.unit_id).exists()


def within_quiz(user: Any, quiz: Quiz, org_id: str) -> Org:
    """The union whose results to show: the quiz's organiser, or a union below it that the
    user may see (anything else falls back to the organiser)."""
    if org_id.isdigit():
        org = Org.objects.restrict(user, Perm.ORG_VIEW).filter(pk=int(org_id)).first()
        if org is not None and org.is_descendant_of(quiz.org):
            return cast(Org, org)
    return quiz.org
