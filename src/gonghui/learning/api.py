"""API of learning (学习): what a worker's phone needs (my courses and their progress,
reading an item, my quizzes, taking a quiz, my points) and what a cadre's client needs
(materials, courses, the question bank, quizzes, contest rankings, leaderboards).

Thin callers of `learning.services` and `learning.selectors`. A cadre reaches content
through the scoping filter (the publishing union in scope); a worker reaches published
content whose audience includes them; an attempt is reached by its owner only. Anything
else is a 404. Refusals of a study action answer with the service's own code
(`not_in_audience`, `closed`, `bad_answer`, …): 422, or 409 when the state of the quiz or
the attempt forbids it (`not_published`, `no_attempts_left`, `submitted`, `timed_out`,
`bank_too_small`).

The quiz is the hot path (a province-wide contest): starting an attempt costs the
service's queries plus the bearer token and the quiz; saving answers and submitting cost
the service's queries plus the bearer token (the service loads and locks the attempt and
checks that it is the worker's own). Whether the worker may know the quiz exists is
asked only when the service refuses. Answers and explanations never leave the server
before the attempt is scored, and afterwards only when `may_see_answers`.
"""

import datetime
from typing import Any, Literal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.http import Http404, HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from ninja import Field, File, Form, Query, Router, Schema, Status, UploadedFile
from ninja.pagination import LimitOffsetPagination, paginate

from gonghui.api import lane
from gonghui.api.lane import Answer
from gonghui.learning import selectors, services
from gonghui.learning.models import (
    Attempt,
    AttemptStatus,
    Course,
    CourseCompletion,
    CourseItem,
    ItemProgress,
    Material,
    MaterialKind,
    PointsEntry,
    PublishStatus,
    Question,
    QuestionKind,
    Quiz,
    QuizResult,
)
from gonghui.orgs import scoping
from gonghui.orgs.models import Member, Org
from gonghui.orgs.scoping import Perm, get_in_scope_or_404
from gonghui.orgs.selectors import org_in_scope_or_404, primary_org

courses_router = Router(tags=["courses"])
quizzes_router = Router(tags=["quizzes"])
points_router = Router(tags=["points"])


# --- schemas ------------------------------------------------------------------------------


class OrgRef(Schema):
    id: int
    name: str
    kind: str


class RefusalItemOut(Schema):
    field: str | None
    code: str
    message: str


class RefusalOut(Schema):
    code: str = Field(
        description="not_published, not_in_audience, not_open_yet, closed, no_attempts_left, "
        "unknown_question, bad_answer, timed_out, submitted, bank_too_small, no_member; "
        "courses: not_opened, too_soon, not_watched"
    )
    message: str = Field(description="For the worker, in their language")
    detail: list[RefusalItemOut]


# materials


class MaterialOut(Schema):
    id: int
    org: OrgRef = Field(description="The publishing union")
    kind: str = Field(description="article, document or video")
    title: str
    body: str = Field(description="An article's text (sanitised HTML)")
    video_url: str
    file_url: str | None = Field(description="A document's PDF")
    tags: list[str]
    status: str = Field(description="draft, published or withdrawn")
    published_at: datetime.datetime | None
    audience_kinds: list[str] = Field(
        description="Only members of units of these kinds (empty: every unit)"
    )
    audience_units: list[OrgRef] = Field(
        description="Only members of these units' subtrees (empty: the whole subtree)"
    )
    version: int
    created_at: datetime.datetime


class MaterialIn(Schema):
    org_id: int = Field(description="The publishing union; you need the right to manage there")
    kind: str = Field(description="article or video (documents are uploaded on the pages)")
    title: str
    body: str = Field("", description="An article's text (HTML, sanitised)")
    video_url: str = Field("", description="A video's http(s) link")
    tags: list[str] = []
    audience_kinds: list[str] = Field(
        [], description="Narrow the audience to units of these kinds: grassroots, branch, team"
    )
    audience_unit_ids: list[int] = Field(
        [], description="Narrow the audience to the subtrees of these units"
    )


class MaterialFilter(Schema):
    org_id: int | None = Field(None, description="Published by this union (default: any)")
    kind: str | None = Field(None, description="article, document or video")
    status: str | None = Field(None, description="draft, published or withdrawn")


# courses


class CourseOut(Schema):
    id: int
    org: OrgRef = Field(description="The publishing union")
    title: str
    description: str
    due: datetime.date | None = Field(description="Complete by this day")
    status: str = Field(description="draft, published or withdrawn")
    published_at: datetime.datetime | None
    requirement_id: int | None = Field(description="The notice requirement it meets")
    audience_kinds: list[str]
    audience_units: list[OrgRef]
    item_count: int = Field(description="Materials in the course")
    version: int
    created_at: datetime.datetime


class ProgressSummaryOut(Schema):
    items: int
    done: int = Field(description="Items completed")
    percent: int
    completed: bool = Field(description="The course is completed")


class CourseForMeOut(CourseOut):
    me: ProgressSummaryOut


class MaterialBriefOut(Schema):
    id: int
    kind: str
    title: str
    body: str
    video_url: str
    file_url: str | None


class ItemProgressOut(Schema):
    opened_at: datetime.datetime
    seconds: int = Field(description="Reading time counted when completed")
    watched: bool
    completed_at: datetime.datetime | None


class CourseItemOut(Schema):
    id: int
    position: int
    material: MaterialBriefOut
    min_seconds: int = Field(description="Read at least this long (server's clock)")
    confirm_watched: bool = Field(description="Completing needs watched=true")
    me: ItemProgressOut | None = Field(description="Your progress (null: not opened)")


class CourseDetailOut(CourseOut):
    items: list[CourseItemOut]
    may_manage: bool
    me: ProgressSummaryOut | None = Field(
        description="Your progress (null: your account has no member record)"
    )


class CourseItemIn(Schema):
    material_id: int
    min_seconds: int = Field(0, description="Minimum reading time; 0: opening is enough")
    confirm_watched: bool = Field(False, description="A video must be confirmed as watched")


class CourseIn(Schema):
    org_id: int = Field(description="The publishing union; you need the right to manage there")
    title: str
    description: str = ""
    items: list[CourseItemIn] = Field(
        [], description="Materials in order: of this union, or of a union above or below it"
    )
    due: datetime.date | None = None
    requirement_id: int | None = Field(
        None, description="A requirement of a notice the union received"
    )
    audience_kinds: list[str] = []
    audience_unit_ids: list[int] = []


class CourseFilter(Schema):
    org_id: int | None = Field(None, description="Published by this union (default: any)")
    status: str | None = Field(None, description="draft, published or withdrawn")


class CompleteIn(Schema):
    watched: bool = Field(False, description="The video was watched to the end")


class ProgressOut(Schema):
    course_id: int
    item_id: int
    opened_at: datetime.datetime
    seconds: int
    watched: bool
    completed_at: datetime.datetime | None
    course_completed: bool = Field(description="Every item of the course is done")


# quizzes


class DrawRuleOut(Schema):
    count: int
    tag: str
    difficulty: int | None


class QuizOut(Schema):
    id: int
    org: OrgRef = Field(description="The organising union")
    title: str
    description: str
    rules: list[DrawRuleOut] = Field(description="How the questions are drawn from the bank")
    question_count: int = Field(description="Questions in an attempt")
    time_limit_seconds: int
    pass_mark: int = Field(description="Percent")
    attempts_allowed: int
    opens_at: datetime.datetime
    closes_at: datetime.datetime
    explanations_after_close: bool
    is_contest: bool
    requirement_id: int | None
    status: str = Field(description="draft, published or withdrawn")
    audience_kinds: list[str]
    audience_units: list[OrgRef]
    version: int
    created_at: datetime.datetime


class MyQuizOut(Schema):
    attempts: int = Field(description="Attempts started")
    attempts_left: int
    best: int | None = Field(description="Best score (percent)")
    passed: bool
    open_attempt_id: int | None = Field(description="An attempt to resume")


class QuizForMeOut(QuizOut):
    me: MyQuizOut


class QuizDetailOut(QuizOut):
    may_manage: bool
    me: MyQuizOut | None = Field(
        description="Your attempts (null: your account has no member record)"
    )


class DrawRuleIn(Schema):
    count: int = Field(description="Questions to draw by this rule")
    tag: str = Field("", description="Only questions with this tag (empty: any)")
    difficulty: int | None = Field(None, description="1 easy, 2 medium, 3 hard (null: any)")


class QuizIn(Schema):
    org_id: int = Field(description="The organising union; questions come from its bank")
    title: str
    description: str = ""
    rules: list[DrawRuleIn] = []
    opens_at: datetime.datetime = Field(description="ISO 8601; without an offset Beijing time")
    closes_at: datetime.datetime
    time_limit_seconds: int = 600
    pass_mark: int = Field(60, description="Percent")
    attempts_allowed: int = 1
    explanations_after_close: bool = True
    is_contest: bool = Field(False, description="A knowledge contest (ranked)")
    requirement_id: int | None = None
    audience_kinds: list[str] = []
    audience_unit_ids: list[int] = []


class QuizFilter(Schema):
    org_id: int | None = Field(None, description="Organised by this union (default: any)")
    status: str | None = Field(None, description="draft, published or withdrawn")


class ShownQuestionOut(Schema):
    position: int
    kind: str = Field(description="single, multiple, truefalse or fill")
    text: str
    options: list[str] = Field(description="In the order shown; answer by index")


class AttemptStartOut(Schema):
    attempt_id: int
    number: int = Field(description="1 for the first attempt of this quiz")
    deadline: datetime.datetime = Field(description="Answers after this are not taken")
    questions: list[ShownQuestionOut]


class AnswersIn(Schema):
    answers: dict[str, Any] = Field(
        {},
        description='By position: option indexes for choices ({"0": [1]}), a text for a '
        'fill-in ({"3": "text"})',
    )


class AnswersOut(Schema):
    attempt_id: int
    given: dict[str, Any] = Field(description="Every answer saved so far, by position")
    answered: int
    deadline: datetime.datetime


class ResultOut(Schema):
    attempt_id: int
    status: str = Field(description="submitted, or timed_out (scored with what was saved)")
    correct: int
    total: int
    score: int = Field(description="Percent")
    passed: bool


class AttemptQuestionOut(ShownQuestionOut):
    given: Any = Field(description="Your answer (null: none)")
    right: bool | None = Field(description="Whether it was right (only with the answers)")
    answer: list[Any] | None = Field(
        description="The right option indexes or accepted texts (only when answers are shown)"
    )
    explanation: str | None


class AttemptOut(Schema):
    attempt_id: int
    quiz_id: int
    quiz_title: str
    number: int
    status: str = Field(description="in_progress, submitted or timed_out")
    started_at: datetime.datetime
    deadline: datetime.datetime
    submitted_at: datetime.datetime | None
    seconds_taken: int | None
    correct: int | None
    total: int
    score: int | None
    passed: bool | None
    answers_shown: bool = Field(
        description="Answers and explanations are shown (after the quiz closes, if it shows "
        "them at all)"
    )
    questions: list[AttemptQuestionOut]


class QuestionOut(Schema):
    id: int
    org: OrgRef = Field(description="The union whose bank it is in")
    kind: str = Field(description="single, multiple, truefalse or fill")
    text: str
    options: list[str]
    answer: list[Any] = Field(description="Option indexes, or the accepted texts of a fill-in")
    explanation: str
    tags: list[str]
    difficulty: int = Field(description="1 easy, 2 medium, 3 hard")
    active: bool = Field(description="false: retired (no longer drawn)")
    version: int = Field(description="Send it back with a change (PUT)")
    created_at: datetime.datetime


class QuestionFieldsIn(Schema):
    kind: str = Field(description="single, multiple, truefalse or fill")
    text: str
    options: list[str] = Field([], description="Choices (true/false: left out)")
    answer: list[Any] = Field(
        [], description="Option indexes (from 0), or the accepted texts of a fill-in"
    )
    explanation: str = ""
    tags: list[str] = []
    difficulty: int = Field(2, description="1 easy, 2 medium, 3 hard")


class QuestionIn(QuestionFieldsIn):
    org_id: int = Field(description="The union whose bank it goes in")


class QuestionUpdateIn(QuestionFieldsIn):
    version: int = Field(description="The version read; a stale one is refused with 409")


class QuestionFilter(Schema):
    org_id: int | None = Field(None, description="The bank of this union (default: any)")
    kind: str | None = Field(None, description="single, multiple, truefalse or fill")
    tag: str | None = None
    difficulty: int | None = None
    active: bool = Field(True, description="false: the retired questions")
    q: str = Field("", description="Words of the question's text")


class ImportOut(Schema):
    imported: int


class ImportRowOut(Schema):
    row: int = Field(description="The spreadsheet's row number")
    values: list[str]
    reasons: list[str]


class ImportRefusalOut(RefusalOut):
    rows: list[ImportRowOut] = Field(description="Every wrong row with its reasons")


class ContestRowOut(Schema):
    rank: int = Field(description="Equal score and time share a rank")
    name: str
    unit: str
    score: int
    seconds: int


class ContestUnitOut(Schema):
    rank: int
    org: OrgRef
    participants: int
    average: float = Field(description="Average best score of its participants")
    best_time: int = Field(description="The fastest participant's seconds")


class RankingFilter(Schema):
    org_id: int | None = Field(
        None, description="Within this union (default: the organising union)"
    )


# points


class PointsEntryOut(Schema):
    rule: str = Field(description="reading, course, quiz or checkin")
    label: str
    source: str = Field(description="What earned it, e.g. quiz:12")
    points: int
    day: datetime.date
    at: datetime.datetime


class MyPointsOut(Schema):
    member_id: int | None = Field(description="null: your account has no member record")
    unit: OrgRef | None
    points: int = Field(description="The balance")
    rank: int | None = Field(description="Rank in your unit (1: most points)")
    unit_members: int = Field(description="Members of your unit")
    history: list[PointsEntryOut] = Field(description="The latest entries first")


class MeFilter(Schema):
    limit: int = Field(50, ge=1, le=200, description="Entries of history")


class MemberRowOut(Schema):
    rank: int
    member_id: int
    name: str
    unit: str
    points: int


class UnitRowOut(Schema):
    rank: int
    org: OrgRef
    points: int
    members: int
    per_member: float


class LeaderboardOut(Schema):
    org: OrgRef
    kind: str = Field(description="members or units")
    members: list[MemberRowOut] = Field(description="kind=members: the members with most points")
    units: list[UnitRowOut] = Field(description="kind=units: the units below, by points/member")


class LeaderboardFilter(Schema):
    org_id: int | None = Field(None, description="Default: the top union of your scope")
    kind: Literal["members", "units"] = "members"
    limit: int = Field(20, ge=1, le=100, description="Members listed (kind=members)")


# --- conversion ---------------------------------------------------------------------------


def org_ref(org: Org) -> dict[str, Any]:
    return {"id": org.pk, "name": org.name, "kind": org.kind}


def _file_url(material: Material) -> str | None:
    return material.file.url if material.file else None


def material_out(m: Material) -> dict[str, Any]:
    return {
        "id": m.pk,
        "org": org_ref(m.org),
        "kind": m.kind,
        "title": m.title,
        "body": m.body,
        "video_url": m.video_url,
        "file_url": _file_url(m),
        "tags": list(m.tags),
        "status": m.status,
        "published_at": m.published_at,
        "audience_kinds": list(m.audience_kinds),
        "audience_units": [org_ref(u) for u in m.audience_units.all()],
        "version": m.version,
        "created_at": m.created_at,
    }


def course_out(c: Course, item_count: int) -> dict[str, Any]:
    return {
        "id": c.pk,
        "org": org_ref(c.org),
        "title": c.title,
        "description": c.description,
        "due": c.due,
        "status": c.status,
        "published_at": c.published_at,
        "requirement_id": c.requirement_id,
        "audience_kinds": list(c.audience_kinds),
        "audience_units": [org_ref(u) for u in c.audience_units.all()],
        "item_count": item_count,
        "version": c.version,
        "created_at": c.created_at,
    }


def summary_out(items: int, done: int, completed: bool) -> dict[str, Any]:
    return {
        "items": items,
        "done": done,
        "percent": round(100 * done / items) if items else 0,
        "completed": completed,
    }


def item_out(item: CourseItem, progress: ItemProgress | None) -> dict[str, Any]:
    m = item.material
    return {
        "id": item.pk,
        "position": item.position,
        "material": {
            "id": m.pk,
            "kind": m.kind,
            "title": m.title,
            "body": m.body,
            "video_url": m.video_url,
            "file_url": _file_url(m),
        },
        "min_seconds": item.min_seconds,
        "confirm_watched": item.confirm_watched,
        "me": None
        if progress is None
        else {
            "opened_at": progress.opened_at,
            "seconds": progress.seconds,
            "watched": progress.watched,
            "completed_at": progress.completed_at,
        },
    }


def quiz_out(q: Quiz) -> dict[str, Any]:
    rules = [
        {
            "count": int(r["count"]),
            "tag": r.get("tag") or "",
            "difficulty": r.get("difficulty"),
        }
        for r in q.rules
    ]
    return {
        "id": q.pk,
        "org": org_ref(q.org),
        "title": q.title,
        "description": q.description,
        "rules": rules,
        "question_count": sum(r["count"] for r in rules),
        "time_limit_seconds": q.time_limit_seconds,
        "pass_mark": q.pass_mark,
        "attempts_allowed": q.attempts_allowed,
        "opens_at": q.opens_at,
        "closes_at": q.closes_at,
        "explanations_after_close": q.explanations_after_close,
        "is_contest": q.is_contest,
        "requirement_id": q.requirement_id,
        "status": q.status,
        "audience_kinds": list(q.audience_kinds),
        "audience_units": [org_ref(u) for u in q.audience_units.all()],
        "version": q.version,
        "created_at": q.created_at,
    }


def start_out(attempt: Attempt) -> dict[str, Any]:
    return {
        "attempt_id": attempt.pk,
        "number": attempt.number,
        "deadline": attempt.deadline,
        "questions": services.public_questions(attempt),
    }


def result_out(attempt: Attempt) -> dict[str, Any]:
    return {
        "attempt_id": attempt.pk,
        "status": attempt.status,
        "correct": attempt.correct,
        "total": len(attempt.snapshot),
        "score": attempt.score,
        "passed": attempt.passed,
    }


def attempt_out(attempt: Attempt) -> dict[str, Any]:
    shown = services.may_see_answers(attempt)
    questions = []
    for shown_question, q in zip(services.public_questions(attempt), attempt.snapshot, strict=True):
        given = attempt.answers.get(str(shown_question["position"]))
        questions.append(
            {
                **shown_question,
                "given": given,
                "right": services.score_answers([q], {"0": given}) == 1 if shown else None,
                "answer": list(q["answer"]) if shown else None,
                "explanation": q.get("explanation", "") if shown else None,
            }
        )
    return {
        "attempt_id": attempt.pk,
        "quiz_id": attempt.quiz_id,
        "quiz_title": attempt.quiz.title,
        "number": attempt.number,
        "status": attempt.status,
        "started_at": attempt.started_at,
        "deadline": attempt.deadline,
        "submitted_at": attempt.submitted_at,
        "seconds_taken": attempt.seconds_taken,
        "correct": attempt.correct,
        "total": len(attempt.snapshot),
        "score": attempt.score,
        "passed": attempt.passed,
        "answers_shown": shown,
        "questions": questions,
    }


def question_out(q: Question) -> dict[str, Any]:
    return {
        "id": q.pk,
        "org": org_ref(q.org),
        "kind": q.kind,
        "text": q.text,
        "options": list(q.options),
        "answer": list(q.answer),
        "explanation": q.explanation,
        "tags": list(q.tags),
        "difficulty": q.difficulty,
        "active": q.active,
        "version": q.version,
        "created_at": q.created_at,
    }


class _PageOf:
    """A queryset for the paginator that converts only the rows of the page it slices."""

    def __init__(self, queryset: Any, convert: Any) -> None:
        self.queryset = queryset
        self.convert = convert

    def __len__(self) -> int:
        return self.queryset.count()

    def __getitem__(self, index: slice) -> list[Any]:
        return [self.convert(row) for row in self.queryset[index]]


# --- refusals -----------------------------------------------------------------------------

# Refusals that are the state of the quiz or the attempt (409); the others are 422.
REFUSAL_STATUS = {
    "not_published": 409,
    "no_attempts_left": 409,
    "submitted": 409,
    "timed_out": 409,
    "bank_too_small": 409,
}


def refusal(code: str, message: str, detail: list[dict[str, Any]] | None = None) -> Status:
    items = detail or [{"field": None, "code": code, "message": message}]
    return Status(
        REFUSAL_STATUS.get(code, 422), {"code": code, "message": message, "detail": items}
    )


REFUSALS: dict[int | str, Any] = {409: RefusalOut, 422: RefusalOut}


# --- fetching through the scoping filter ---------------------------------------------------


def _org(request: HttpRequest, org_id: int) -> Org:
    return get_in_scope_or_404(Org.objects.all(), request.user, Perm.ORG_VIEW, pk=org_id)


def _orgs(request: HttpRequest, ids: list[int]) -> list[Org]:
    wanted = set(ids)
    found = list(Org.objects.restrict(request.user, Perm.ORG_VIEW).filter(pk__in=wanted))
    if len(found) != len(wanted):
        raise Http404
    return found


def _member_of(user: Any) -> Member | None:
    """The signed-in worker's member record (active), or None."""
    try:
        return services.member_of(user)
    except services.LearningRefused:
        return None


def _require_member(user: Any) -> Member:
    member = _member_of(user)
    if member is None:
        raise services.LearningRefused(
            "no_member", _("Your account is not linked to a union member record.")
        )
    return member


def _reachable(model: type[Any], user: Any, pk: int, member: Member | None) -> Any:
    """Content the user may see: as a cadre (publishing union in scope) or as a worker
    (published or withdrawn, and its audience includes them). Others: None."""
    qs = model.objects.select_related("org").prefetch_related("audience_units")
    found = qs.restrict(user, Perm.ORG_VIEW).filter(pk=pk).first()
    if found is None and member is not None:
        found = qs.filter(pk=pk).exclude(status=PublishStatus.DRAFT).first()
        if found is not None and not services.in_audience(found, member):
            found = None
    return found


def _course(request: HttpRequest, course_id: int) -> tuple[Course, Member | None]:
    member = _member_of(request.user)
    course = _reachable(Course, request.user, course_id, member)
    if course is None:
        raise Http404
    return course, member


def _managed_course(request: HttpRequest, course_id: int) -> Course:
    return get_in_scope_or_404(
        Course.objects.select_related("org").prefetch_related("audience_units"),
        request.user,
        Perm.ORG_VIEW,
        pk=course_id,
    )


def _managed_material(request: HttpRequest, material_id: int) -> Material:
    return get_in_scope_or_404(
        Material.objects.select_related("org").prefetch_related("audience_units"),
        request.user,
        Perm.ORG_VIEW,
        pk=material_id,
    )


def _quiz(request: HttpRequest, quiz_id: int) -> tuple[Quiz, Member | None]:
    member = _member_of(request.user)
    quiz = _reachable(Quiz, request.user, quiz_id, member)
    if quiz is None:
        raise Http404
    return quiz, member


def _managed_quiz(request: HttpRequest, quiz_id: int) -> Quiz:
    return get_in_scope_or_404(
        Quiz.objects.select_related("org").prefetch_related("audience_units"),
        request.user,
        Perm.ORG_VIEW,
        pk=quiz_id,
    )


def _quiz_visible(user: Any, quiz: Quiz) -> bool:
    """Whether the user may know that the quiz exists (asked after a refusal)."""
    if Quiz.objects.restrict(user, Perm.ORG_VIEW).filter(pk=quiz.pk).exists():
        return True
    if quiz.status == PublishStatus.DRAFT:
        return False
    member = _member_of(user)
    return member is not None and services.in_audience(quiz, member)


def _question(request: HttpRequest, question_id: int) -> Question:
    """The bank holds the answers: only cadres who manage learning there see it."""
    return get_in_scope_or_404(
        Question.objects.select_related("org"),
        request.user,
        Perm.LEARNING_MANAGE,
        pk=question_id,
    )


def _aware(moment: datetime.datetime) -> datetime.datetime:
    """A time sent without an offset is local (Beijing) time."""
    if timezone.is_naive(moment):
        return timezone.make_aware(moment)
    return moment


def _may_manage(user: Any, org: Org) -> bool:
    return scoping.can(user, Perm.LEARNING_MANAGE, org)


# --- materials ----------------------------------------------------------------------------


@courses_router.get("/materials", response=list[MaterialOut], summary="Study materials")
@paginate(LimitOffsetPagination)
def material_list(request: HttpRequest, filters: Query[MaterialFilter]):
    """Materials of the unions in your scope (with `org_id`: of that union), the latest
    first."""
    qs = Material.objects.restrict(request.user, Perm.ORG_VIEW)
    if filters.org_id:
        qs = qs.filter(org=_org(request, filters.org_id))
    if filters.kind:
        if filters.kind not in MaterialKind.values:
            raise ValidationError(_("Unknown kind of material."), code="kind")
        qs = qs.filter(kind=filters.kind)
    if filters.status:
        if filters.status not in PublishStatus.values:
            raise ValidationError(_("Unknown status."), code="status")
        qs = qs.filter(status=filters.status)
    qs = qs.select_related("org").prefetch_related("audience_units").order_by("-created_at", "-id")
    return _PageOf(qs, material_out)


@courses_router.post("/materials", response={201: MaterialOut}, summary="Add a material")
def material_create(request: HttpRequest, payload: MaterialIn):
    """An article (HTML text, sanitised) or a video link, as a draft. Refusals: `title`,
    `kind`, `body`, `video_url`, `audience_kind`, `audience_outside`; a document (PDF) is
    uploaded on the pages (`file`)."""
    org = _org(request, payload.org_id)
    material = services.create_material(
        request.user,
        org=org,
        data=services.MaterialInput(
            kind=payload.kind,
            title=payload.title,
            body=payload.body,
            video_url=payload.video_url,
            tags=list(payload.tags),
            audience_kinds=list(payload.audience_kinds),
            audience_units=_orgs(request, payload.audience_unit_ids),
        ),
    )
    return Status(201, material_out(_managed_material(request, material.pk)))


@courses_router.get("/materials/{material_id}", response=MaterialOut, summary="A material")
def material_detail(request: HttpRequest, material_id: int):
    return material_out(_managed_material(request, material_id))


@courses_router.post(
    "/materials/{material_id}/publish", response=MaterialOut, summary="Publish a material"
)
def material_publish(request: HttpRequest, material_id: int):
    """Publishing again changes nothing."""
    material = _managed_material(request, material_id)
    services.publish_material(request.user, material)
    return material_out(_managed_material(request, material_id))


# --- courses: a worker's phone ------------------------------------------------------------


@courses_router.get("/for-me", response=list[CourseForMeOut], summary="Courses for me")
@paginate(LimitOffsetPagination)
def course_for_me(request: HttpRequest):
    """Published courses whose audience includes the signed-in worker, with their progress.
    Empty for an account without a member record."""
    member = _member_of(request.user)
    if member is None:
        return []
    return [
        {
            **course_out(p.course, p.items),
            "me": summary_out(p.items, p.done, p.completed),
        }
        for p in selectors.courses_for(member)
    ]


def _course_detail(request: HttpRequest, course: Course, member: Member | None) -> dict:
    rows = selectors.course_items(course, member)
    me = None
    if member is not None:
        done = sum(1 for _item, p in rows if p is not None and p.completed_at is not None)
        completed = CourseCompletion.objects.filter(course=course, member=member).exists()
        me = summary_out(len(rows), done, completed)
    return {
        **course_out(course, len(rows)),
        "items": [item_out(item, progress) for item, progress in rows],
        "may_manage": _may_manage(request.user, course.org),
        "me": me,
    }


def _course_item(course: Course, item_id: int) -> CourseItem:
    item = CourseItem.objects.filter(pk=item_id, course=course).first()
    if item is None:
        raise Http404
    item.course = course
    return item


def _progress_out(item: CourseItem, progress: ItemProgress, member: Member) -> dict[str, Any]:
    return {
        "course_id": item.course_id,
        "item_id": item.pk,
        "opened_at": progress.opened_at,
        "seconds": progress.seconds,
        "watched": progress.watched,
        "completed_at": progress.completed_at,
        "course_completed": CourseCompletion.objects.filter(
            course_id=item.course_id, member=member
        ).exists(),
    }


@courses_router.post(
    "/{course_id}/items/{item_id}/open",
    response={200: ProgressOut, **REFUSALS},
    summary="Open an item (the reading clock starts)",
)
def item_open(request: HttpRequest, course_id: int, item_id: int):
    """The server's clock starts once, at the first opening. Refusals: `not_published`
    (409), `not_in_audience`, `no_member` (422)."""
    course, member = _course(request, course_id)
    item = _course_item(course, item_id)
    try:
        member = _require_member(request.user) if member is None else member
        progress = services.open_item(member, item)
    except services.LearningRefused as refused:
        return refusal(refused.code, refused.message)
    return _progress_out(item, progress, member)


@courses_router.post(
    "/{course_id}/items/{item_id}/complete",
    response={200: ProgressOut, **REFUSALS},
    summary="Complete an item",
)
def item_complete(request: HttpRequest, course_id: int, item_id: int, payload: CompleteIn):
    """Done reading or watching; the server's clock decides whether it was long enough.
    Completing the last item completes the course (points and figures once). Again
    changes nothing. Refusals: `not_opened`, `too_soon`, `not_watched`,
    `not_in_audience`, `no_member` (422), `not_published` (409)."""
    course, member = _course(request, course_id)
    item = _course_item(course, item_id)
    try:
        member = _require_member(request.user) if member is None else member
        progress = services.complete_item(member, item, watched=payload.watched)
    except services.LearningRefused as refused:
        return refusal(refused.code, refused.message)
    return _progress_out(item, progress, member)


# --- courses: a cadre's client ------------------------------------------------------------


@courses_router.get("", response=list[CourseOut], summary="Courses in your scope")
@paginate(LimitOffsetPagination)
def course_list(request: HttpRequest, filters: Query[CourseFilter]):
    """Courses of the unions in your scope (with `org_id`: of that union), the latest
    first."""
    qs = Course.objects.restrict(request.user, Perm.ORG_VIEW)
    if filters.org_id:
        qs = qs.filter(org=_org(request, filters.org_id))
    if filters.status:
        if filters.status not in PublishStatus.values:
            raise ValidationError(_("Unknown status."), code="status")
        qs = qs.filter(status=filters.status)
    qs = (
        qs.select_related("org")
        .prefetch_related("audience_units")
        .annotate(n_items=Count("items"))
        .order_by("-created_at", "-id")
    )
    return _PageOf(qs, lambda c: course_out(c, c.n_items))


@courses_router.post("", response={201: CourseDetailOut}, summary="Create a course")
def course_create(request: HttpRequest, payload: CourseIn):
    """From materials in order (of this union, or published by a union above it), as a
    draft. Refusals: `title`, `items`, `material_outside`, `min_seconds`, `requirement`,
    `audience_kind`, `audience_outside`."""
    org = _org(request, payload.org_id)
    wanted = {i.material_id for i in payload.items}
    found = {
        m.pk: m
        for m in Material.objects.restrict(request.user, Perm.ORG_VIEW)
        .filter(pk__in=wanted)
        .select_related("org")
    }
    if len(found) != len(wanted):
        # Materials published by the unions above this one may be used too.
        found.update(
            (m.pk, m)
            for m in Material.objects.filter(
                pk__in=wanted - set(found),
                status=PublishStatus.PUBLISHED,
                org_id__in=org.ancestor_ids,
            ).select_related("org")
        )
    if len(found) != len(wanted):
        raise Http404
    course = services.create_course(
        request.user,
        org=org,
        data=services.CourseInput(
            title=payload.title,
            description=payload.description,
            items=[
                services.CourseItemInput(
                    found[i.material_id],
                    min_seconds=i.min_seconds,
                    confirm_watched=i.confirm_watched,
                )
                for i in payload.items
            ],
            due=payload.due,
            requirement_id=payload.requirement_id,
            audience_kinds=list(payload.audience_kinds),
            audience_units=_orgs(request, payload.audience_unit_ids),
        ),
    )
    course = _managed_course(request, course.pk)
    return Status(201, _course_detail(request, course, _member_of(request.user)))


@courses_router.get("/{course_id}", response=CourseDetailOut, summary="A course")
def course_detail(request: HttpRequest, course_id: int):
    """Its items (with the material to read) and your progress; for a cadre in scope, or
    a worker in its audience."""
    course, member = _course(request, course_id)
    return _course_detail(request, course, member)


@courses_router.post("/{course_id}/publish", response=CourseDetailOut, summary="Publish")
def course_publish(request: HttpRequest, course_id: int):
    """Every material must be published first (`materials_unpublished`). Publishing again
    changes nothing."""
    course = _managed_course(request, course_id)
    services.publish_course(request.user, course)
    course = _managed_course(request, course_id)
    return _course_detail(request, course, _member_of(request.user))


# --- the question bank --------------------------------------------------------------------


def _question_input(payload: QuestionFieldsIn) -> services.QuestionInput:
    return services.QuestionInput(
        kind=payload.kind,
        text=payload.text,
        options=list(payload.options),
        answer=list(payload.answer),
        explanation=payload.explanation,
        tags=list(payload.tags),
        difficulty=payload.difficulty,
    )


@quizzes_router.get("/questions", response=list[QuestionOut], summary="The question bank")
@paginate(LimitOffsetPagination)
def question_list(request: HttpRequest, filters: Query[QuestionFilter]):
    """Questions of the banks you manage (with `org_id`: that union's bank), in the order
    added. The bank holds the answers, so it is shown only to cadres who manage learning."""
    qs = Question.objects.restrict(request.user, Perm.LEARNING_MANAGE).filter(active=filters.active)
    if filters.org_id:
        qs = qs.filter(org=_org(request, filters.org_id))
    if filters.kind:
        if filters.kind not in QuestionKind.values:
            raise ValidationError(_("Unknown kind of question."), code="kind")
        qs = qs.filter(kind=filters.kind)
    if filters.difficulty:
        qs = qs.filter(difficulty=filters.difficulty)
    if filters.q.strip():
        for word in filters.q.split():
            qs = qs.filter(text__icontains=word)
    if filters.tag:
        # Tags are a JSON list: matched here, the same on SQLite and PostgreSQL.
        tag = filters.tag.strip()
        qs = qs.filter(pk__in=[pk for pk, tags in qs.values_list("pk", "tags") if tag in tags])
    return _PageOf(qs.select_related("org").order_by("id"), question_out)


@quizzes_router.post("/questions", response={201: QuestionOut}, summary="Add a question")
def question_create(request: HttpRequest, payload: QuestionIn):
    """Refusals: `text`, `kind`, `difficulty`, `options`, `answer_missing`,
    `answer_not_option`, `answer_count`, `duplicate`."""
    org = _org(request, payload.org_id)
    question = services.add_question(request.user, org=org, data=_question_input(payload))
    return Status(201, question_out(question))


IMPORT_MAX_MB = 20


def _import_refusal(
    code: str, message: str, field: str | None, rows: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    detail = [{"field": field, "code": code, "message": message}]
    if rows:
        detail = [
            {"field": None, "code": code, "message": f"{r['row']}: {'; '.join(r['reasons'])}"}
            for r in rows
        ]
    return {"code": code, "message": message, "detail": detail, "rows": rows or []}


@quizzes_router.post(
    "/questions/import",
    response={201: ImportOut, 422: ImportRefusalOut},
    summary="Import questions from a sheet",
)
def question_import(request: HttpRequest, org_id: Form[int], file: File[UploadedFile]) -> Any:
    """multipart/form-data: `org_id` and `file` (.xlsx or .csv) with the columns 题型,
    题目, 选项A…选项F, 答案, 解析, 标签, 难度. All or nothing: any wrong row imports
    nothing and every wrong row comes back with its reasons (422 `rows`); an unreadable
    file, or one over 20 MB, is 422 `file`."""
    org = _org(request, org_id)
    if file.size > IMPORT_MAX_MB * 1024 * 1024:
        message = _("A file can be at most %(mb)d MB.") % {"mb": IMPORT_MAX_MB}
        return Status(422, _import_refusal("file", message, "file"))
    try:
        n = services.import_questions(request.user, org=org, stream=file, file_name=file.name)
    except services.QuestionImportRejected as rejected:
        if rejected.file_error:
            return Status(422, _import_refusal("file", rejected.file_error, "file"))
        count = len(rejected.row_errors)
        message = ngettext(
            "The sheet was not imported: %(n)s row is wrong.",
            "The sheet was not imported: %(n)s rows are wrong.",
            count,
        ) % {"n": count}
        rows = [
            {"row": e.row, "values": list(e.values), "reasons": [str(r) for r in e.reasons]}
            for e in rejected.row_errors
        ]
        return Status(422, _import_refusal("rows", message, None, rows))
    return Status(201, {"imported": n})


@quizzes_router.get("/questions/{question_id}", response=QuestionOut, summary="A question")
def question_detail(request: HttpRequest, question_id: int):
    return question_out(_question(request, question_id))


@quizzes_router.put("/questions/{question_id}", response=QuestionOut, summary="Change")
def question_update(request: HttpRequest, question_id: int, payload: QuestionUpdateIn):
    """Replaces every field; `version` must be the one read (409 `stale`). Attempts
    already drawn keep their own copy, so no score changes."""
    question = _question(request, question_id)
    updated = services.edit_question(
        request.user, question, _question_input(payload), version=payload.version
    )
    return question_out(updated)


@quizzes_router.delete("/questions/{question_id}", response=QuestionOut, summary="Retire")
def question_retire(request: HttpRequest, question_id: int):
    """The question is no longer drawn; attempts that drew it keep it. Again changes
    nothing."""
    question = _question(request, question_id)
    return question_out(services.retire_question(request.user, question))


# --- quizzes: a worker's phone ------------------------------------------------------------


def _my_quiz(q: Any) -> dict[str, Any]:
    return {
        "attempts": q.attempts,
        "attempts_left": q.attempts_left,
        "best": q.best,
        "passed": q.passed,
        "open_attempt_id": q.open_attempt.pk if q.open_attempt else None,
    }


@quizzes_router.get("/for-me", response=list[QuizForMeOut], summary="Quizzes for me")
@paginate(LimitOffsetPagination)
def quiz_for_me(request: HttpRequest):
    """Published quizzes whose audience includes the signed-in worker and that have not
    closed, the soonest open first, each with the worker's attempts. Empty for an account
    without a member record."""
    member = _member_of(request.user)
    if member is None:
        return []
    return [{**quiz_out(q.quiz), "me": _my_quiz(q)} for q in selectors.quizzes_for(member)]


def _quiz_detail(request: HttpRequest, quiz: Quiz, member: Member | None) -> dict[str, Any]:
    me = None
    if member is not None:
        attempts = list(
            Attempt.objects.filter(quiz=quiz, member=member).values(
                "pk", "status", "deadline", "score"
            )
        )
        result = QuizResult.objects.filter(quiz=quiz, member=member).first()
        now = timezone.now()
        open_attempt = next(
            (
                a["pk"]
                for a in attempts
                if a["status"] == AttemptStatus.IN_PROGRESS and a["deadline"] >= now
            ),
            None,
        )
        scores = [a["score"] for a in attempts if a["score"] is not None]
        me = {
            "attempts": len(attempts),
            "attempts_left": max(0, quiz.attempts_allowed - len(attempts)),
            "best": max(scores) if scores else None,
            "passed": bool(result and result.passed),
            "open_attempt_id": open_attempt,
        }
    return {**quiz_out(quiz), "may_manage": _may_manage(request.user, quiz.org), "me": me}


@quizzes_router.post(
    "/{quiz_id}/attempts",
    response={200: AttemptStartOut, 201: AttemptStartOut, **REFUSALS},
    summary="Start (or resume) an attempt",
)
def attempt_start(request: HttpRequest, quiz_id: int):
    """201 with a new attempt: its questions drawn for you, options shuffled, never the
    answers. 200 with the open attempt when you start again (resume). Refusals:
    `not_in_audience`, `not_open_yet`, `closed`, `no_member` (422), `not_published`,
    `no_attempts_left`, `bank_too_small` (409)."""
    answer = start_answer(request.user, quiz_id)
    return Status(answer.status, answer.body)


def start_answer(user: Any, quiz_id: int) -> Answer:
    """The answer of the view above, also served in the API's fast lane (a province-wide
    contest starts at one moment). Http404 when the quiz is missing or not for the user."""
    # The audience units come from the service's per-process cache (a quiz's audience
    # never changes), not from a read per start.
    quiz = Quiz.objects.select_related("org").filter(pk=quiz_id).first()
    if quiz is None:
        raise Http404
    now = timezone.now()
    try:
        attempt = services.start_attempt(user, quiz, now=now)
    except services.LearningRefused as refused:
        if not _quiz_visible(user, quiz):
            raise Http404 from refused
        return _refusal_answer(refused)
    # A new attempt starts now; a resumed one started before.
    return Answer(201 if attempt.started_at == now else 200, start_out(attempt))


def _refusal_answer(refused: services.LearningRefused) -> Answer:
    status = refusal(refused.code, refused.message)
    return Answer(status.status_code, RefusalOut.model_validate(status.value).model_dump())


@quizzes_router.put(
    "/attempts/{attempt_id}/answers",
    response={200: AnswersOut, **REFUSALS},
    summary="Save answers as you go",
)
def attempt_answers(request: HttpRequest, attempt_id: int, payload: AnswersIn):
    """Answers by position, merged with those saved before; an attempt whose time runs
    out is scored with what was saved. Refusals: `unknown_question`, `bad_answer` (422),
    `submitted`, `timed_out` (409)."""
    try:
        # The service loads and locks the attempt and checks that it is yours.
        attempt = services.save_answers(request.user, Attempt(pk=attempt_id), payload.answers)
    except (Attempt.DoesNotExist, PermissionDenied) as exc:
        raise Http404 from exc
    except services.LearningRefused as refused:
        return refusal(refused.code, refused.message)
    return {
        "attempt_id": attempt.pk,
        "given": attempt.answers,
        "answered": len(attempt.answers),
        "deadline": attempt.deadline,
    }


@quizzes_router.post(
    "/attempts/{attempt_id}/submit",
    response={200: ResultOut, **REFUSALS},
    summary="Submit and score",
)
def attempt_submit(request: HttpRequest, attempt_id: int, payload: AnswersIn):
    """Scored on the server from the questions drawn. `answers` (optional) are merged with
    those saved before. Submitting again answers the first result; after the time limit
    the attempt is scored with what was saved (`status` timed_out). Refusals:
    `unknown_question`, `bad_answer` (422)."""
    answer = submit_answer(request.user, attempt_id, payload.answers)
    return Status(answer.status, answer.body)


def submit_answer(user: Any, attempt_id: int, answers: dict[str, Any]) -> Answer:
    """The answer of the view above, also served in the API's fast lane. Http404 when the
    attempt is missing or not the user's."""
    try:
        attempt = services.submit_attempt(user, Attempt(pk=attempt_id), answers)
    except (Attempt.DoesNotExist, PermissionDenied) as exc:
        raise Http404 from exc
    except services.LearningRefused as refused:
        return _refusal_answer(refused)
    return Answer(200, result_out(attempt))


@lane.route("POST", r"/api/quizzes/(\d+)/attempts")
def lane_start(api_key: str, ids: tuple[int, ...], payload: None) -> Answer | None:
    """A contestant's start, in the API's fast lane: its token read with the quiz, the
    member and their attempts in one statement, and a new attempt written in one more;
    anything else a start may meet (a refusal, a resume) is answered by the view's own
    function."""
    found = services.read_for_lane_start(api_key, ids[0])
    if found is None:
        return None  # no active user holds this token: Django's answer (401 or 403)
    api_token, read = found
    lane.token_used(api_token)
    attempt = services.start_new_attempt(read, timezone.now())
    if attempt is None:
        return start_answer(api_token.user, ids[0])
    return Answer(201, start_out(attempt))


@lane.route("POST", r"/api/quizzes/attempts/(\d+)/submit", AnswersIn)
def lane_submit(api_key: str, ids: tuple[int, ...], payload: AnswersIn) -> Answer | None:
    """A contestant's submit, in the API's fast lane: its token read with the locked
    attempt in one statement."""
    try:
        found = services.submit_in_lane(api_key, ids[0], payload.answers)
    except (PermissionDenied, services.LearningRefused) as exc:
        lane.token_user(api_key)  # its use recorded, as on every answer (a rare one here)
        if isinstance(exc, PermissionDenied):
            raise Http404 from exc
        return _refusal_answer(exc)
    if found is None:  # an unknown token (Django answers) or a missing attempt (404)
        user = lane.token_user(api_key)
        return None if user is None else submit_answer(user, ids[0], payload.answers)
    api_token, attempt = found
    lane.token_used(api_token)
    return Answer(200, result_out(attempt))


@quizzes_router.get("/attempts/{attempt_id}", response=AttemptOut, summary="An attempt")
def attempt_detail(request: HttpRequest, attempt_id: int):
    """Your attempt: while open, its questions and your saved answers (to resume); once
    scored, the score, and the answers and explanations only after the quiz closes (if
    the quiz shows them). An open attempt whose time is up is scored now."""
    attempt = (
        Attempt.objects.select_related("quiz")
        .filter(pk=attempt_id, member__user=request.user)
        .first()
    )
    if attempt is None:
        raise Http404
    if (
        attempt.status == AttemptStatus.IN_PROGRESS
        and timezone.now() > attempt.deadline + services.SUBMIT_GRACE
    ):
        attempt = services.submit_attempt(request.user, attempt)
    return attempt_out(attempt)


# --- quizzes: a cadre's client -------------------------------------------------------------


@quizzes_router.get("", response=list[QuizOut], summary="Quizzes in your scope")
@paginate(LimitOffsetPagination)
def quiz_list(request: HttpRequest, filters: Query[QuizFilter]):
    """Quizzes of the unions in your scope (with `org_id`: of that union), the latest
    opening first."""
    qs = Quiz.objects.restrict(request.user, Perm.ORG_VIEW)
    if filters.org_id:
        qs = qs.filter(org=_org(request, filters.org_id))
    if filters.status:
        if filters.status not in PublishStatus.values:
            raise ValidationError(_("Unknown status."), code="status")
        qs = qs.filter(status=filters.status)
    qs = qs.select_related("org").prefetch_related("audience_units").order_by("-opens_at", "-id")
    return _PageOf(qs, quiz_out)


@quizzes_router.post("", response={201: QuizDetailOut}, summary="Create a quiz")
def quiz_create(request: HttpRequest, payload: QuizIn):
    """Drawn from the organising union's bank by `rules`, as a draft. Refusals: `title`,
    `window`, `time_limit`, `pass_mark`, `attempts`, `rules`, `bank_too_small`,
    `requirement`, `audience_kind`, `audience_outside`."""
    org = _org(request, payload.org_id)
    quiz = services.create_quiz(
        request.user,
        org=org,
        data=services.QuizInput(
            title=payload.title,
            rules=[
                services.DrawRule(r.count, tag=r.tag.strip(), difficulty=r.difficulty)
                for r in payload.rules
            ],
            opens_at=_aware(payload.opens_at),
            closes_at=_aware(payload.closes_at),
            description=payload.description,
            time_limit_seconds=payload.time_limit_seconds,
            pass_mark=payload.pass_mark,
            attempts_allowed=payload.attempts_allowed,
            explanations_after_close=payload.explanations_after_close,
            is_contest=payload.is_contest,
            requirement_id=payload.requirement_id,
            audience_kinds=list(payload.audience_kinds),
            audience_units=_orgs(request, payload.audience_unit_ids),
        ),
    )
    quiz = _managed_quiz(request, quiz.pk)
    return Status(201, _quiz_detail(request, quiz, _member_of(request.user)))


@quizzes_router.get("/{quiz_id}", response=QuizDetailOut, summary="A quiz")
def quiz_detail(request: HttpRequest, quiz_id: int):
    """For a cadre in scope, or a worker in its audience (with their attempts)."""
    quiz, member = _quiz(request, quiz_id)
    return _quiz_detail(request, quiz, member)


@quizzes_router.post("/{quiz_id}/publish", response=QuizDetailOut, summary="Publish a quiz")
def quiz_publish(request: HttpRequest, quiz_id: int):
    """Publishing again changes nothing."""
    quiz = _managed_quiz(request, quiz_id)
    services.publish_quiz(request.user, quiz)
    quiz = _managed_quiz(request, quiz_id)
    return _quiz_detail(request, quiz, _member_of(request.user))


def _ranking_scope(request: HttpRequest, quiz_id: int, org_id: int | None) -> tuple[Quiz, Org]:
    """The quiz and the union whose participants are ranked: the organising union (in
    scope), or `org_id` in scope at or above or below it (a city's share of a provincial
    contest)."""
    quiz = Quiz.objects.select_related("org").filter(pk=quiz_id).first()
    if quiz is None:
        raise Http404
    if org_id is None:
        if not scoping.can(request.user, Perm.ORG_VIEW, quiz.org):
            raise Http404
        return quiz, quiz.org
    org = _org(request, org_id)
    if not (org.is_descendant_of(quiz.org) or quiz.org.is_descendant_of(org)):
        raise Http404
    return quiz, org


@quizzes_router.get(
    "/{quiz_id}/ranking", response=list[ContestRowOut], summary="Ranking of participants"
)
def quiz_ranking(request: HttpRequest, quiz_id: int, filters: Query[RankingFilter]):
    """The best 50 by best score, then less time, then who was first. Names of members:
    for cadres who may see the members of the whole union (403 otherwise)."""
    quiz, org = _ranking_scope(request, quiz_id, filters.org_id)
    if not scoping.can_in_subtree(request.user, Perm.MEMBER_VIEW, org):
        raise PermissionDenied
    within = None if org.pk == quiz.org_id else org
    return [vars(row) for row in selectors.contest_ranking(quiz, org=within)]


@quizzes_router.get(
    "/{quiz_id}/ranking/units", response=list[ContestUnitOut], summary="Ranking of units"
)
def quiz_unit_ranking(request: HttpRequest, quiz_id: int, filters: Query[RankingFilter]):
    """The unions directly below `org_id` (default: the organising union) by the average
    best score of their participants."""
    quiz, org = _ranking_scope(request, quiz_id, filters.org_id)
    rows = selectors.contest_unit_ranking(quiz, org)
    return [
        {
            "rank": r.rank,
            "org": org_ref(r.org),
            "participants": r.participants,
            "average": round(r.average, 2),
            "best_time": r.best_time,
        }
        for r in rows
        if scoping.can(request.user, Perm.ORG_VIEW, r.org)
    ]


# --- points -------------------------------------------------------------------------------


def _entry_out(e: PointsEntry) -> dict[str, Any]:
    return {
        "rule": e.rule,
        "label": str(e.get_rule_display()),
        "source": e.source,
        "points": e.points,
        "day": e.day,
        "at": e.at,
    }


@points_router.get("/me", response=MyPointsOut, summary="My points")
def points_me(request: HttpRequest, filters: Query[MeFilter]):
    """The balance, the rank in your unit and the latest entries. An account without a
    member record has no points (`member_id` null)."""
    member = _member_of(request.user)
    if member is None:
        return {
            "member_id": None,
            "unit": None,
            "points": 0,
            "rank": None,
            "unit_members": 0,
            "history": [],
        }
    rank, size = selectors.rank_in_unit(member)
    return {
        "member_id": member.pk,
        "unit": org_ref(member.unit),
        "points": selectors.balance(member),
        "rank": rank,
        "unit_members": size,
        "history": [_entry_out(e) for e in selectors.points_history(member, filters.limit)],
    }


@points_router.get("/leaderboard", response=LeaderboardOut, summary="Leaderboard")
def points_leaderboard(request: HttpRequest, filters: Query[LeaderboardFilter]):
    """`members`: the members of the union's subtree with the most points (names: for
    cadres who may see the members of the whole union, 403 otherwise). `units`: the unions
    directly below it by points per member."""
    return leaderboard_body(request.user, filters)


def leaderboard_body(user: Any, filters: LeaderboardFilter) -> dict[str, Any]:
    """The answer of the view above, also served in the API's fast lane (a contest's
    phones and screens watch it). Http404 / PermissionDenied as the view raises them."""
    if filters.org_id:
        org = org_in_scope_or_404(user, Perm.ORG_VIEW, filters.org_id)
    else:
        org = primary_org(user)
        if org is None:
            raise Http404
    members: list[dict[str, Any]] = []
    units: list[dict[str, Any]] = []
    if filters.kind == "members":
        if not scoping.can_in_subtree(user, Perm.MEMBER_VIEW, org):
            raise PermissionDenied
        # Computed at most every 2 s (the board may trail by up to 2 s), after the check.
        board = selectors.cached_members_leaderboard(org, limit=filters.limit)
        members = [vars(r) for r in board]
    else:
        for row in selectors.cached_units_leaderboard(org, user):
            same = units and units[-1]["per_member"] == round(row.per_member, 2)
            units.append(
                {
                    "rank": units[-1]["rank"] if same else len(units) + 1,
                    "org": org_ref(row.org),
                    "points": row.points,
                    "members": row.members,
                    "per_member": round(row.per_member, 2),
                }
            )
    return {"org": org_ref(org), "kind": filters.kind, "members": members, "units": units}


@lane.route("GET", r"/api/points/leaderboard", LeaderboardFilter)
def lane_leaderboard(
    api_key: str, ids: tuple[int, ...], filters: LeaderboardFilter
) -> Answer | None:
    """A leaderboard, in the API's fast lane. Only its 200 answer: a refusal (404, 403)
    is handed to Django, which answers it (a read writes nothing)."""
    user = lane.token_user(api_key)
    if user is None:
        return None
    try:
        body = leaderboard_body(user, filters)
    except (Http404, PermissionDenied):
        return None
    # The body has the schema's keys, in its order, and its types (the tests compare the
    # bytes with the full stack's): not validated again.
    return Answer(200, body)
