"""Learning: publishing materials, courses and quizzes; progress, attempts and points.

Rules that protect the figures:

- Scoring happens here only, from the attempt's snapshot; the phone receives questions
  without answers, sends answers by position, and can neither choose the questions nor
  send a score. Submitting twice returns the first result; late answers are not saved.
- Reading time is measured by the server's clock between opening and completing an item.
- Points are awarded once per (member, source) — the unique index decides, so a retry or
  two concurrent requests award once — and within each rule's daily cap.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import random
import re
import secrets
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from gonghui.accounts.models import ApiToken, hash_token
from gonghui.accounts.selectors import api_token_leading, api_token_shapes
from gonghui.audit.models import AuditAction
from gonghui.audit.services import record
from gonghui.core import rows
from gonghui.core.errors import ConcurrentEditError
from gonghui.learning import attempt_sql, figures
from gonghui.learning.models import (
    Attempt,
    AttemptStatus,
    Course,
    CourseCompletion,
    CourseItem,
    Difficulty,
    ItemProgress,
    Material,
    MaterialKind,
    PointsBalance,
    PointsEntry,
    PointsRule,
    PublishStatus,
    Question,
    QuestionBankStamp,
    QuestionKind,
    Quiz,
    QuizResult,
)
from gonghui.orgs import scoping
from gonghui.orgs.models import ANCESTOR_FIELDS, MEMBER_UNIT_KINDS, Member, Org
from gonghui.orgs.scoping import Perm
from gonghui.orgs.selectors import active_member_with_unit
from gonghui.stats import services as stats
from gonghui.stats.models import FactDelta

# Points per rule and the most one member can earn from a rule in one day. A province may
# set its own in settings.GONGHUI_POINTS_RULES.
DEFAULT_POINTS_RULES: dict[str, tuple[int, int]] = {
    PointsRule.READING: (1, 10),
    PointsRule.COURSE: (5, 20),
    PointsRule.QUIZ: (10, 30),
    PointsRule.CHECKIN: (2, 10),
}
# A submission this late after the deadline is still taken (network delay); later ones
# are scored with what was saved.
SUBMIT_GRACE = datetime.timedelta(seconds=10)
TRUE_FALSE_OPTIONS = ["正确", "错误"]


class LearningRefused(Exception):
    """A study action that must not count, with a code for the API and a message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def points_rules() -> dict[str, tuple[int, int]]:
    return {**DEFAULT_POINTS_RULES, **getattr(settings, "GONGHUI_POINTS_RULES", {})}


def _require_publish(actor: Any, org: Org) -> None:
    if not scoping.can(actor, Perm.LEARNING_MANAGE, org):
        raise PermissionDenied(_("You may not publish study content for %(org)s.") % {"org": org})


def _clean_audience(
    org: Org, kinds: Iterable[str], units: Iterable[Org]
) -> tuple[list[str], list[Org]]:
    kinds = [k for k in kinds if k]
    if any(k not in MEMBER_UNIT_KINDS for k in kinds):
        raise ValidationError(
            _("The audience is narrowed by grassroots unions, workshops or teams only."),
            code="audience_kind",
        )
    units = list(units)
    for unit in units:
        if not unit.is_descendant_of(org):
            raise ValidationError(
                _("%(unit)s is not below %(org)s.") % {"unit": unit.name, "org": org.name},
                code="audience_outside",
            )
    return kinds, units


def in_audience(thing: Material | Course | Quiz, member: Member) -> bool:
    unit = member.unit
    if not unit.is_descendant_of(thing.org):
        return False
    if thing.audience_kinds and unit.kind not in thing.audience_kinds:
        return False
    units = list(thing.audience_units.all())
    return not units or any(unit.is_descendant_of(u) for u in units)


# What the study services and their callers read of a member and their unit: the member
# row's personal data (the ID number's cipher, contact details) is not needed for study.
MEMBER_FIELDS = ("id", "name", "status", "unit_id", "user_id")
UNIT_FIELDS = (
    "id",
    "name",
    "code",
    "kind",
    "status",
    "parent_id",
    "path",
    "depth",
    *ANCESTOR_FIELDS,
)


def member_of(user: Any) -> Member:
    user = scoping.as_user(user)
    member = (
        active_member_with_unit(user.pk, member_fields=MEMBER_FIELDS, unit_fields=UNIT_FIELDS)
        if user is not None
        else None
    )
    if member is None:
        raise LearningRefused(
            "no_member", _("Your account is not linked to a union member record.")
        )
    return member


def _tags(tags: Iterable[str]) -> list[str]:
    seen: list[str] = []
    for tag in tags:
        tag = " ".join(str(tag).split())[:30]
        if tag and tag not in seen:
            seen.append(tag)
    return seen[:20]


# --- materials ----------------------------------------------------------------------------


@dataclass
class MaterialInput:
    kind: str
    title: str
    body: str = ""
    video_url: str = ""
    tags: list[str] = field(default_factory=list)
    audience_kinds: list[str] = field(default_factory=list)
    audience_units: list[Org] = field(default_factory=list)
    upload: Any = None


@transaction.atomic
def create_material(actor: Any, *, org: Org, data: MaterialInput) -> Material:
    from gonghui.notices.services import sanitise_html

    _require_publish(actor, org)
    title = " ".join((data.title or "").split())
    if not title:
        raise ValidationError(_("Give the material a title."), code="title")
    if data.kind not in MaterialKind.values:
        raise ValidationError(_("Unknown kind of material."), code="kind")
    kinds, units = _clean_audience(org, data.audience_kinds, data.audience_units)
    material = Material(
        org=org,
        kind=data.kind,
        title=title[:200],
        body=sanitise_html(data.body) if data.kind == MaterialKind.ARTICLE else "",
        tags=_tags(data.tags),
        audience_kinds=kinds,
        created_by=scoping.as_user(actor),
    )
    if data.kind == MaterialKind.ARTICLE and not material.body.strip():
        raise ValidationError(_("An article needs its text."), code="body")
    if data.kind == MaterialKind.VIDEO:
        url = (data.video_url or "").strip()
        if not re.match(r"^https?://", url):
            raise ValidationError(_("Give the video's http(s) link."), code="video_url")
        material.video_url = url[:200]
    if data.kind == MaterialKind.DOCUMENT:
        upload = data.upload
        if upload is None:
            raise ValidationError(_("Attach the PDF document."), code="file")
        head = upload.read(5)
        upload.seek(0)
        if not str(upload.name).lower().endswith(".pdf") or head != b"%PDF-":
            raise ValidationError(_("Only PDF documents can be attached."), code="file_type")
        if upload.size > 50 * 1024 * 1024:
            raise ValidationError(_("A document can be at most 50 MB."), code="file_size")
        material.file.save(f"{secrets.token_hex(8)}.pdf", upload, save=False)
    material.save()
    material.audience_units.set(units)
    record(
        actor=actor,
        action=AuditAction.CREATE,
        target=material,
        org=org,
        summary=_("Created study material “%(title)s”") % {"title": material.title},
    )
    return material


def _set_status(actor: Any, obj: Material | Course | Quiz, status: str, label: str) -> Any:
    _require_publish(actor, obj.org)
    model = type(obj)
    locked = model.objects.select_for_update().get(pk=obj.pk)
    if locked.status == status:
        return locked
    locked.status = status
    fields = ["status", "version"]
    if status == PublishStatus.PUBLISHED and hasattr(locked, "published_at"):
        locked.published_at = locked.published_at or timezone.now()
        fields.append("published_at")
    locked.version = F("version") + 1
    locked.save(update_fields=fields)
    locked.refresh_from_db()
    record(
        actor=actor,
        action=AuditAction.UPDATE,
        target=locked,
        org=locked.org,
        summary=label % {"title": str(locked)},
        after={"status": status},
    )
    return locked


@transaction.atomic
def publish_material(actor: Any, material: Material) -> Material:
    return _set_status(actor, material, PublishStatus.PUBLISHED, _("Published “%(title)s”"))


@transaction.atomic
def withdraw_material(actor: Any, material: Material) -> Material:
    return _set_status(actor, material, PublishStatus.WITHDRAWN, _("Withdrew “%(title)s”"))


# --- courses ------------------------------------------------------------------------------


@dataclass
class CourseItemInput:
    material: Material
    min_seconds: int = 0
    confirm_watched: bool = False


@dataclass
class CourseInput:
    title: str
    description: str = ""
    items: list[CourseItemInput] = field(default_factory=list)
    due: datetime.date | None = None
    requirement_id: int | None = None
    audience_kinds: list[str] = field(default_factory=list)
    audience_units: list[Org] = field(default_factory=list)


def _check_requirement(org: Org, requirement_id: int) -> None:
    from gonghui.activities.services import _check_requirement as check

    check(org, requirement_id)


@transaction.atomic
def create_course(actor: Any, *, org: Org, data: CourseInput) -> Course:
    _require_publish(actor, org)
    title = " ".join((data.title or "").split())
    if not title:
        raise ValidationError(_("Give the course a title."), code="title")
    if not data.items:
        raise ValidationError(_("A course needs at least one material."), code="items")
    for item in data.items:
        if not item.material.org.is_descendant_of(org) and not org.is_descendant_of(
            item.material.org
        ):
            raise ValidationError(
                _("“%(title)s” is not a material of this union or of a union above or below it.")
                % {"title": item.material.title},
                code="material_outside",
            )
        if item.min_seconds < 0 or item.min_seconds > 4 * 3600:
            raise ValidationError(_("A reading time is between 0 and 4 hours."), code="min_seconds")
    if len({i.material.pk for i in data.items}) != len(data.items):
        raise ValidationError(_("A material appears twice in the course."), code="items")
    if data.requirement_id:
        _check_requirement(org, data.requirement_id)
    kinds, units = _clean_audience(org, data.audience_kinds, data.audience_units)
    course = Course.objects.create(
        org=org,
        title=title[:200],
        description=data.description or "",
        due=data.due,
        requirement_id=data.requirement_id,
        audience_kinds=kinds,
        created_by=scoping.as_user(actor),
    )
    course.audience_units.set(units)
    CourseItem.objects.bulk_create(
        [
            CourseItem(
                course=course,
                material=item.material,
                position=position,
                min_seconds=item.min_seconds,
                confirm_watched=item.confirm_watched,
            )
            for position, item in enumerate(data.items)
        ]
    )
    record(
        actor=actor,
        action=AuditAction.CREATE,
        target=course,
        org=org,
        summary=_("Created course “%(title)s”") % {"title": course.title},
    )
    return course


@transaction.atomic
def publish_course(actor: Any, course: Course) -> Course:
    unpublished = Material.objects.filter(pk__in=course.items.values("material_id")).exclude(
        status=PublishStatus.PUBLISHED
    )
    if unpublished.exists():
        raise ValidationError(
            _("Publish every material of the course first."), code="materials_unpublished"
        )
    return _set_status(actor, course, PublishStatus.PUBLISHED, _("Published “%(title)s”"))


def _course_for(member: Member, course: Course) -> None:
    if course.status != PublishStatus.PUBLISHED:
        raise LearningRefused("not_published", _("This course is not open."))
    if not in_audience(course, member):
        raise LearningRefused("not_in_audience", _("This course is not for you."))


@transaction.atomic
def open_item(member: Member, item: CourseItem) -> ItemProgress:
    """The member opened a material of a course: the reading clock starts (once)."""
    _course_for(member, item.course)
    progress, _created = ItemProgress.objects.get_or_create(item=item, member=member)
    return progress


@transaction.atomic
def complete_item(
    member: Member, item: CourseItem, *, watched: bool = False, now: datetime.datetime | None = None
) -> ItemProgress:
    """The member says they are done with an item; the server's clock decides whether they
    read long enough. Completing the last item completes the course."""
    now = now or timezone.now()
    course = item.course
    _course_for(member, course)
    progress = ItemProgress.objects.select_for_update().filter(item=item, member=member).first()
    if progress is None:
        raise LearningRefused("not_opened", _("Open the material first."))
    if progress.completed_at is not None:
        return progress  # a retry
    spent = int((now - progress.opened_at).total_seconds())
    if spent < item.min_seconds:
        raise LearningRefused(
            "too_soon",
            _("Read for at least %(n)d seconds more.") % {"n": item.min_seconds - spent},
        )
    if item.confirm_watched and not watched:
        raise LearningRefused("not_watched", _("Confirm that you watched the video to the end."))
    progress.seconds = spent
    progress.watched = watched
    progress.completed_at = now
    progress.save(update_fields=["seconds", "watched", "completed_at"])
    award_points(member, PointsRule.READING, f"reading:{item.material_id}", now=now)
    total = CourseItem.objects.filter(course=course).count()
    done = ItemProgress.objects.filter(
        item__course=course, member=member, completed_at__isnull=False
    ).count()
    if done >= total:
        _complete_course(member, course, now)
    return progress


def _complete_course(member: Member, course: Course, now: datetime.datetime) -> bool:
    day = timezone.localdate(now)
    try:
        with transaction.atomic():
            completion = CourseCompletion.objects.create(
                course=course, member=member, unit_id=member.unit_id, completed_at=now, day=day
            )
    except IntegrityError:
        return False  # completed already (a concurrent request)
    stats.emit(metric=figures.COMPLETIONS, org_id=member.unit_id, day=day)
    if course.requirement_id:
        stats.emit(
            metric=figures.requirement_metric(course.requirement_id, "completions"),
            org_id=member.unit_id,
            day=day,
        )
    stats.mark_distinct(metric=figures.LEARNERS, key=member.pk, org_id=member.unit_id, day=day)
    award_points(member, PointsRule.COURSE, f"course:{course.pk}", now=now)
    record(
        actor=member.user if member.user_id else scoping.SYSTEM,
        action=AuditAction.CREATE,
        target=completion,
        target_repr=f"{member.name} → {course.title}",
        org=member.unit,
        summary=_("Completed the course “%(title)s”") % {"title": course.title},
    )
    return True


# --- question bank ------------------------------------------------------------------------


def fingerprint(text: str) -> str:
    normalised = re.sub(r"[\s\W_]+", "", text or "").lower()
    return hashlib.sha256(normalised.encode()).hexdigest()


@dataclass
class QuestionInput:
    kind: str
    text: str
    options: list[str] = field(default_factory=list)
    answer: list[Any] = field(default_factory=list)
    explanation: str = ""
    tags: list[str] = field(default_factory=list)
    difficulty: int = Difficulty.MEDIUM


def clean_question(data: QuestionInput) -> QuestionInput:
    """Check one question; the reasons are what a cadre sees, row by row on import."""
    text = (data.text or "").strip()
    if not text:
        raise ValidationError(_("The question text is missing."), code="text")
    if data.kind not in QuestionKind.values:
        raise ValidationError(_("Unknown kind of question."), code="kind")
    if data.difficulty not in Difficulty.values:
        raise ValidationError(_("The difficulty is 1, 2 or 3."), code="difficulty")
    options = [" ".join(str(o).split()) for o in data.options if str(o).strip()]
    answer = list(data.answer)
    if data.kind == QuestionKind.TRUE_FALSE:
        options = list(TRUE_FALSE_OPTIONS)
    if data.kind in (QuestionKind.SINGLE, QuestionKind.MULTIPLE):
        if len(options) < 2:
            raise ValidationError(
                _("A choice question needs at least two options."), code="options"
            )
        if len(set(options)) != len(options):
            raise ValidationError(_("Two options are the same."), code="options")
    if not answer:
        raise ValidationError(_("The answer is missing."), code="answer_missing")
    if data.kind == QuestionKind.FILL:
        answer = [" ".join(str(a).split()) for a in answer if str(a).strip()]
        if not answer:
            raise ValidationError(_("The answer is missing."), code="answer_missing")
        options = []
    else:
        if any(not isinstance(a, int) or a < 0 or a >= len(options) for a in answer):
            raise ValidationError(
                _("The answer is not among the options."), code="answer_not_option"
            )
        answer = sorted(set(answer))
        if data.kind != QuestionKind.MULTIPLE and len(answer) != 1:
            raise ValidationError(
                _("This kind of question has exactly one answer."), code="answer_count"
            )
    return QuestionInput(
        data.kind,
        text,
        options,
        answer,
        (data.explanation or "").strip(),
        _tags(data.tags),
        data.difficulty,
    )


@transaction.atomic
def add_question(actor: Any, *, org: Org, data: QuestionInput) -> Question:
    _require_publish(actor, org)
    data = clean_question(data)
    digest = fingerprint(data.text)
    if Question.objects.filter(org=org, fingerprint=digest, active=True).exists():
        raise ValidationError(_("The bank already has this question."), code="duplicate")
    question = Question.objects.create(
        org=org,
        kind=data.kind,
        text=data.text,
        options=data.options,
        answer=data.answer,
        explanation=data.explanation,
        tags=data.tags,
        difficulty=data.difficulty,
        fingerprint=digest,
    )
    record(
        actor=actor,
        action=AuditAction.CREATE,
        target=question,
        org=org,
        summary=_("Added a question"),
    )
    return question


@transaction.atomic
def edit_question(actor: Any, question: Question, data: QuestionInput, *, version: int) -> Question:
    """Past attempts keep their own snapshot, so an edit never changes a score."""
    _require_publish(actor, question.org)
    question = Question.objects.select_for_update().get(pk=question.pk)
    if question.version != version:
        raise ConcurrentEditError(
            _("Someone else changed this question meanwhile. Reload it and edit again."),
            code="stale",
        )
    data = clean_question(data)
    digest = fingerprint(data.text)
    if (
        Question.objects.filter(org=question.org, fingerprint=digest, active=True)
        .exclude(pk=question.pk)
        .exists()
    ):
        raise ValidationError(_("The bank already has this question."), code="duplicate")
    before = {"text": question.text, "options": question.options, "answer": question.answer}
    Question.objects.filter(pk=question.pk).update(
        kind=data.kind,
        text=data.text,
        options=data.options,
        answer=data.answer,
        explanation=data.explanation,
        tags=data.tags,
        difficulty=data.difficulty,
        fingerprint=digest,
        version=F("version") + 1,
    )
    question.refresh_from_db()
    record(
        actor=actor,
        action=AuditAction.UPDATE,
        target=question,
        org=question.org,
        summary=_("Changed a question"),
        before=before,
        after={"text": question.text, "options": question.options, "answer": question.answer},
    )
    return question


@transaction.atomic
def retire_question(actor: Any, question: Question) -> Question:
    _require_publish(actor, question.org)
    Question.objects.filter(pk=question.pk).update(active=False, version=F("version") + 1)
    question.refresh_from_db()
    record(
        actor=actor,
        action=AuditAction.DELETE,
        target=question,
        org=question.org,
        summary=_("Retired a question"),
    )
    return question


KIND_WORDS = {
    "单选": QuestionKind.SINGLE,
    "单选题": QuestionKind.SINGLE,
    "多选": QuestionKind.MULTIPLE,
    "多选题": QuestionKind.MULTIPLE,
    "判断": QuestionKind.TRUE_FALSE,
    "判断题": QuestionKind.TRUE_FALSE,
    "填空": QuestionKind.FILL,
    "填空题": QuestionKind.FILL,
}
DIFFICULTY_WORDS = {
    "易": 1,
    "简单": 1,
    "1": 1,
    "中": 2,
    "中等": 2,
    "2": 2,
    "难": 3,
    "困难": 3,
    "3": 3,
    "": 2,
}
OPTION_LETTERS = "ABCDEFGH"
QUESTION_COLUMNS = [
    "题型",
    "题目",
    *[f"选项{c}" for c in OPTION_LETTERS[:6]],
    "答案",
    "解析",
    "标签",
    "难度",
]


@dataclass
class QuestionRowError:
    row: int
    values: list[str]
    reasons: list[str]


class QuestionImportRejected(Exception):
    def __init__(
        self, file_error: str = "", row_errors: list[QuestionRowError] | None = None
    ) -> None:
        super().__init__(file_error or "rows")
        self.file_error = file_error
        self.row_errors = row_errors or []


def _parse_answer(kind: str, raw: str, options: list[str]) -> list[Any]:
    raw = (raw or "").strip()
    if not raw:
        return []
    if kind == QuestionKind.FILL:
        return [a for a in re.split(r"[|｜]", raw) if a.strip()]
    if kind == QuestionKind.TRUE_FALSE:
        words = {
            "正确": 0,
            "对": 0,
            "√": 0,
            "是": 0,
            "A": 0,
            "错误": 1,
            "错": 1,
            "×": 1,
            "否": 1,
            "B": 1,
        }
        if raw.upper() not in words:
            raise ValidationError(
                _("A true-or-false answer is 正确 or 错误."), code="answer_not_option"
            )
        return [words[raw.upper()]]
    letters = re.sub(r"[\s,，、]", "", raw).upper()
    answer = []
    for letter in letters:
        index = OPTION_LETTERS.find(letter)
        if index < 0 or index >= len(options):
            raise ValidationError(
                _("The answer %(letter)s is not among the options.") % {"letter": letter},
                code="answer_not_option",
            )
        answer.append(index)
    return answer


def import_questions(actor: Any, *, org: Org, stream: IO[bytes], file_name: str) -> int:
    """All or nothing: any bad row (missing answer, answer not among the options, duplicate
    question in the file or the bank) imports nothing, and every bad row comes back."""
    from gonghui.orgs.importing import ImportRejected, read_table

    _require_publish(actor, org)
    try:
        headers, rows = read_table(stream, file_name)
        positions = {h.strip().rstrip("*"): i for i, h in enumerate(headers)}
        missing = [c for c in ("题型", "题目", "答案") if c not in positions]
        if missing:
            raise QuestionImportRejected(
                _("Required columns are missing: %(cols)s. Use the template.")
                % {"cols": "、".join(missing)}
            )
        parsed = list(rows)
    except ImportRejected as rejected:
        raise QuestionImportRejected(rejected.file_error) from rejected
    if not parsed:
        raise QuestionImportRejected(_("The sheet has no rows."))
    if len(parsed) > 10_000:
        raise QuestionImportRejected(_("A sheet holds at most 10,000 questions."))

    def cell(values: list[str], name: str) -> str:
        index = positions.get(name)
        return values[index].strip() if index is not None and index < len(values) else ""

    existing = set(
        Question.objects.filter(org=org, active=True).values_list("fingerprint", flat=True)
    )
    seen: dict[str, int] = {}
    errors: list[QuestionRowError] = []
    cleaned: list[QuestionInput] = []
    for number, values in parsed:
        reasons: list[str] = []
        kind = KIND_WORDS.get(cell(values, "题型"), cell(values, "题型"))
        options = [cell(values, f"选项{c}") for c in OPTION_LETTERS[:6]]
        options = [o for o in options if o]
        difficulty = DIFFICULTY_WORDS.get(cell(values, "难度"))
        try:
            if kind not in QuestionKind.values:
                raise ValidationError(
                    _("Unknown kind of question: use 单选, 多选, 判断 or 填空."), code="kind"
                )
            if difficulty is None:
                raise ValidationError(_("The difficulty is 易, 中 or 难."), code="difficulty")
            answer = _parse_answer(kind, cell(values, "答案"), options)
            data = clean_question(
                QuestionInput(
                    kind,
                    cell(values, "题目"),
                    options,
                    answer,
                    cell(values, "解析"),
                    re.split(r"[,，、;；\s]+", cell(values, "标签")),
                    difficulty,
                )
            )
        except ValidationError as exc:
            reasons += [str(m) for m in exc.messages]
        else:
            digest = fingerprint(data.text)
            if digest in existing:
                reasons.append(_("The bank already has this question."))
            elif digest in seen:
                reasons.append(_("Same question as row %(n)d.") % {"n": seen[digest]})
            else:
                seen[digest] = number
                cleaned.append(data)
        if reasons:
            errors.append(QuestionRowError(number, values, reasons))
    if errors:
        raise QuestionImportRejected(row_errors=errors)
    with transaction.atomic():
        Question.objects.bulk_create(
            [
                Question(
                    org=org,
                    kind=q.kind,
                    text=q.text,
                    options=q.options,
                    answer=q.answer,
                    explanation=q.explanation,
                    tags=q.tags,
                    difficulty=q.difficulty,
                    fingerprint=fingerprint(q.text),
                )
                for q in cleaned
            ],
            batch_size=1000,
        )
        record(
            actor=actor,
            action=AuditAction.IMPORT,
            target_type="learning.question",
            target_repr=file_name[:200],
            org=org,
            summary=_("Imported %(n)d questions") % {"n": len(cleaned)},
        )
    return len(cleaned)


# --- quizzes ------------------------------------------------------------------------------


@dataclass
class DrawRule:
    count: int
    tag: str = ""
    difficulty: int | None = None


@dataclass
class QuizInput:
    title: str
    rules: list[DrawRule]
    opens_at: datetime.datetime
    closes_at: datetime.datetime
    description: str = ""
    time_limit_seconds: int = 600
    pass_mark: int = 60
    attempts_allowed: int = 1
    explanations_after_close: bool = True
    is_contest: bool = False
    requirement_id: int | None = None
    audience_kinds: list[str] = field(default_factory=list)
    audience_units: list[Org] = field(default_factory=list)


# --- the question bank, cached per process ---------------------------------------------
#
# Every start of an attempt draws from the organising union's bank; in a contest that is
# the same few hundred questions for every member. So each process keeps the bank's
# active questions (what a snapshot needs) and the ids matching each (tag, difficulty),
# and checks before every draw that the bank has not changed: its stamp
# (`QuestionBankStamp`, one indexed row, 0 without one) is drawn anew by database
# triggers whenever a question of the org is added, edited, retired or deleted, by any
# writer, and is never seen twice, even after a rollback — so a stale cache never draws a
# retired question or an old text, and the check costs the same for a bank of 200
# questions or 20,000 (an aggregate over the bank, before, grew with it).

BankStamp = int
# Banks of this many orgs per process, the least recently used dropped first.
BANK_CACHE_SIZE = 32


@dataclass(frozen=True)
class BankQuestion:
    """What a snapshot needs of a question (immutable: shared by the process's threads)."""

    id: int
    version: int
    kind: str
    text: str
    options: tuple[str, ...]
    answer: tuple[Any, ...]
    explanation: str
    tags: frozenset[str]
    difficulty: int
    created_at: datetime.datetime


@dataclass
class QuestionBank:
    stamp: BankStamp
    questions: dict[int, BankQuestion]  # by id, in id order
    _pools: dict[tuple[str, int | None], tuple[int, ...]] = field(default_factory=dict)

    def matching(self, rule: DrawRule) -> tuple[int, ...]:
        """Ids of the questions a rule draws from, in id order (the order the draw samples
        from, so a draw is the same as from the database)."""
        key = (rule.tag, rule.difficulty or None)
        pool = self._pools.get(key)
        if pool is None:
            pool = tuple(
                q.id
                for q in self.questions.values()
                if (not rule.difficulty or q.difficulty == rule.difficulty)
                and (not rule.tag or rule.tag in q.tags)
            )
            self._pools[key] = pool  # the same value whichever thread computes it
        return pool


_banks: OrderedDict[int, QuestionBank] = OrderedDict()
_banks_lock = threading.Lock()


@functools.cache
def _bank_stamp_sql() -> str:
    table = QuestionBankStamp._meta.db_table
    return f'SELECT stamp FROM "{table}" WHERE org_id = %s'  # noqa: S608 (our table)


def _bank_stamp(org_id: int) -> BankStamp:
    """The org's bank stamp now (0: unchanged since the stamps were made)."""
    return rows.one_value(_bank_stamp_sql(), [org_id]) or 0


def question_bank(org_id: int, stamp: BankStamp | None = None) -> QuestionBank:
    """The org's active questions: from this process's cache when the bank's stamp is
    unchanged (one statement, none when the caller read `stamp`), else read whole."""
    # The stamp is read before the questions (or by the caller, before): a change
    # committed in between draws a new stamp, so the next check reads the bank again.
    if stamp is None:
        stamp = _bank_stamp(org_id)
    with _banks_lock:
        bank = _banks.get(org_id)
        if bank is not None and bank.stamp == stamp:
            _banks.move_to_end(org_id)
            return bank
    rows = [
        BankQuestion(
            pk,
            version,
            kind,
            text,
            tuple(options or ()),
            tuple(answer or ()),
            explanation,
            frozenset(tags or ()),
            difficulty,
            created_at,
        )
        for pk, version, kind, text, options, answer, explanation, tags, difficulty, created_at in (
            Question.objects.filter(org_id=org_id, active=True)
            .order_by("id")
            .values_list(
                "pk",
                "version",
                "kind",
                "text",
                "options",
                "answer",
                "explanation",
                "tags",
                "difficulty",
                "created_at",
            )
        )
    ]
    bank = QuestionBank(stamp, {q.id: q for q in rows})
    with _banks_lock:
        _banks[org_id] = bank
        _banks.move_to_end(org_id)
        while len(_banks) > BANK_CACHE_SIZE:
            _banks.popitem(last=False)
    return bank


@transaction.atomic
def create_quiz(actor: Any, *, org: Org, data: QuizInput) -> Quiz:
    _require_publish(actor, org)
    title = " ".join((data.title or "").split())
    if not title:
        raise ValidationError(_("Give the quiz a title."), code="title")
    if data.closes_at <= data.opens_at:
        raise ValidationError(_("The quiz must close after it opens."), code="window")
    if not 30 <= data.time_limit_seconds <= 4 * 3600:
        raise ValidationError(
            _("The time limit is between 30 seconds and 4 hours."), code="time_limit"
        )
    if not 0 <= data.pass_mark <= 100:
        raise ValidationError(_("The pass mark is between 0 and 100."), code="pass_mark")
    if not 1 <= data.attempts_allowed <= 20:
        raise ValidationError(_("Allow between 1 and 20 attempts."), code="attempts")
    if not data.rules or any(r.count < 1 for r in data.rules):
        raise ValidationError(_("Say how many questions to draw."), code="rules")
    if sum(r.count for r in data.rules) > 200:
        raise ValidationError(_("A quiz has at most 200 questions."), code="rules")
    bank = question_bank(org.pk)
    for rule in data.rules:
        available = len(bank.matching(rule))
        if available < rule.count:
            raise ValidationError(
                _("The bank has %(have)d questions for “%(rule)s”, the quiz draws %(want)d.")
                % {"have": available, "rule": rule.tag or _("any tag"), "want": rule.count},
                code="bank_too_small",
            )
    if data.requirement_id:
        _check_requirement(org, data.requirement_id)
    kinds, units = _clean_audience(org, data.audience_kinds, data.audience_units)
    quiz = Quiz.objects.create(
        org=org,
        title=title[:200],
        description=data.description or "",
        rules=[{"count": r.count, "tag": r.tag, "difficulty": r.difficulty} for r in data.rules],
        time_limit_seconds=data.time_limit_seconds,
        pass_mark=data.pass_mark,
        attempts_allowed=data.attempts_allowed,
        opens_at=data.opens_at,
        closes_at=data.closes_at,
        explanations_after_close=data.explanations_after_close,
        is_contest=data.is_contest,
        requirement_id=data.requirement_id,
        audience_kinds=kinds,
        created_by=scoping.as_user(actor),
    )
    quiz.audience_units.set(units)
    _remember_audience(quiz, [u.pk for u in units])
    record(
        actor=actor,
        action=AuditAction.CREATE,
        target=quiz,
        org=org,
        summary=_("Created quiz “%(title)s”") % {"title": quiz.title},
    )
    return quiz


@transaction.atomic
def publish_quiz(actor: Any, quiz: Quiz) -> Quiz:
    return _set_status(actor, quiz, PublishStatus.PUBLISHED, _("Published “%(title)s”"))


def _draw(quiz: Quiz, rng: random.Random, bank: QuestionBank | None = None) -> list[dict[str, Any]]:
    """The attempt's questions: drawn by the rules, in random order, options shuffled."""
    bank = bank or question_bank(quiz.org_id)
    chosen: list[int] = []
    for raw in quiz.rules:
        rule = DrawRule(int(raw["count"]), raw.get("tag") or "", raw.get("difficulty"))
        taken = set(chosen)
        pool = [pk for pk in bank.matching(rule) if pk not in taken]
        if len(pool) < rule.count:
            raise LearningRefused(
                "bank_too_small", _("The question bank of this quiz is too small now.")
            )
        chosen += rng.sample(pool, rule.count)
    rng.shuffle(chosen)
    snapshot = []
    for pk in chosen:
        # New lists for every snapshot: the cached question is shared.
        q = bank.questions[pk]
        order = list(range(len(q.options)))
        if q.kind in (QuestionKind.SINGLE, QuestionKind.MULTIPLE):
            rng.shuffle(order)
        snapshot.append(
            {
                "id": q.id,
                "version": q.version,
                "kind": q.kind,
                "text": q.text,
                "options": [q.options[i] for i in order],
                # The answer in the order shown (or the accepted texts of a fill-in).
                "answer": sorted(order.index(a) for a in q.answer)
                if q.kind != QuestionKind.FILL
                else list(q.answer),
                "explanation": q.explanation,
            }
        )
    return snapshot


# A quiz's audience units are set when it is created and never changed afterwards (there
# is no edit of a quiz), so each process keeps their ids, keyed by the quiz's id and
# creation time (a test database reuses the ids of rolled-back tests): in a contest every
# start would otherwise read the same rows. Whether a unit is below an audience unit is
# then told by the unit's own ancestor ids, read fresh with the member.
AUDIENCE_CACHE_SIZE = 1000
_audiences: OrderedDict[tuple[int, datetime.datetime], frozenset[int]] = OrderedDict()
_audiences_lock = threading.Lock()


def _remember_audience(quiz: Quiz, unit_ids: Iterable[int]) -> frozenset[int]:
    ids = frozenset(unit_ids)
    with _audiences_lock:
        _audiences[(quiz.pk, quiz.created_at)] = ids
        _audiences.move_to_end((quiz.pk, quiz.created_at))
        while len(_audiences) > AUDIENCE_CACHE_SIZE:
            _audiences.popitem(last=False)
    return ids


def _audience_ids(quiz: Quiz) -> frozenset[int]:
    prefetched = getattr(quiz, "_prefetched_objects_cache", {}).get("audience_units")
    if prefetched is not None:
        return frozenset(u.pk for u in prefetched)
    with _audiences_lock:
        ids = _audiences.get((quiz.pk, quiz.created_at))
    if ids is not None:
        return ids
    return _remember_audience(quiz, quiz.audience_units.values_list("pk", flat=True))


def _quiz_for(quiz: Quiz, member: Member) -> bool:
    """`in_audience` for a quiz, from the cached audience."""
    unit = member.unit
    if not unit.is_descendant_of(quiz.org):
        return False
    if quiz.audience_kinds and unit.kind not in quiz.audience_kinds:
        return False
    units = _audience_ids(quiz)
    return not units or not units.isdisjoint(unit.ancestor_ids)


def start_attempt(user: Any, quiz: Quiz, *, now: datetime.datetime | None = None) -> Attempt:
    """Start (or resume) the worker's attempt. Starting twice resumes the open attempt."""
    now = now or timezone.now()
    member = member_of(user)
    if quiz.status != PublishStatus.PUBLISHED:
        raise LearningRefused("not_published", _("This quiz is not open."))
    if not _quiz_for(quiz, member):
        raise LearningRefused("not_in_audience", _("This quiz is not for you."))
    if now < quiz.opens_at:
        raise LearningRefused(
            "not_open_yet",
            _("The quiz opens at %(time)s.")
            % {"time": timezone.localtime(quiz.opens_at).strftime("%Y-%m-%d %H:%M")},
        )
    if now > quiz.closes_at:
        raise LearningRefused("closed", _("The quiz has closed."))
    with transaction.atomic():
        # One writer per member and quiz: the balance row is the member's lock.
        _lock_member(member)
        # The member's attempts of the quiz in one read (few: at most `attempts_allowed`),
        # the latest first: those whose time is up are scored, the open one is resumed,
        # and all of them count.
        attempts = list(
            Attempt.objects.filter(quiz=quiz, member=member).order_by("-started_at", "-id")
        )
        current = None
        for attempt in attempts:
            if attempt.status != AttemptStatus.IN_PROGRESS:
                continue
            if attempt.deadline < now - SUBMIT_GRACE:
                _expire(attempt.pk, now, member_locked=True)
            elif current is None:
                current = attempt
        if current is not None:
            current.quiz = quiz
            current.member = member
            return current
        used = len(attempts)
        if used >= quiz.attempts_allowed:
            raise LearningRefused("no_attempts_left", _("You have used all your attempts."))
        attempt = _new_attempt(quiz, member, used + 1, now)
        if attempt_sql.insert_attempt(attempt):
            return attempt
        # A start of the fast lane wrote that number meanwhile (it takes no lock): the
        # attempt it wrote is the one to resume.
        attempt = Attempt.objects.get(quiz=quiz, member=member, number=used + 1)
        attempt.quiz = quiz
        attempt.member = member
        return attempt


def _new_attempt(
    quiz: Quiz,
    member: Member,
    number: int,
    now: datetime.datetime,
    bank: QuestionBank | None = None,
) -> Attempt:
    """The member's attempt number `number` of `quiz`, drawn now (not written yet)."""
    snapshot = _draw(quiz, random.Random(secrets.randbits(64)), bank)
    return Attempt(
        quiz=quiz,
        member=member,
        unit_id=member.unit_id,
        number=number,
        started_at=now,
        deadline=min(now + datetime.timedelta(seconds=quiz.time_limit_seconds), quiz.closes_at),
        snapshot=snapshot,
    )


def read_for_lane_start(
    api_key: str, quiz_id: int
) -> tuple[ApiToken, attempt_sql.StartRead] | None:
    """The bearer token `api_key` with its user and what a start of the quiz reads, in one
    statement (a contest's start in the API's fast lane); None for an unknown token."""
    return attempt_sql.read_start_by_api_token(hash_token(api_key), quiz_id)


def start_new_attempt(read: attempt_sql.StartRead, now: datetime.datetime) -> Attempt | None:
    """A start in its common case, from `read` alone: the member may start a new attempt
    (published quiz, open now, in the audience, nothing in progress, attempts left, bank
    large enough), written in one statement. None, with nothing written, whenever
    `start_attempt` must decide: a refusal, an attempt to resume or to score, or a start
    of the same member at the same moment."""
    quiz, member = read.quiz, read.member
    if quiz is None or member is None or read.in_progress:
        return None
    if quiz.status != PublishStatus.PUBLISHED or not quiz.opens_at <= now <= quiz.closes_at:
        return None
    if read.attempts >= quiz.attempts_allowed or not _quiz_for(quiz, member):
        return None
    bank = question_bank(quiz.org_id, read.bank_stamp)
    try:
        attempt = _new_attempt(quiz, member, read.attempts + 1, now, bank)
    except LearningRefused:  # the bank is too small now: start_attempt answers it
        return None
    return attempt if attempt_sql.insert_attempt(attempt) else None


def _lock_member(member: Member) -> int:
    """Lock the member's balance row (creating it at 0 the first time) until the end of the
    transaction; returns the balance. One statement: an upsert that rewrites nothing takes
    the row lock as a `SELECT … FOR UPDATE` would (SQLite: the write lock of the database)."""
    with connection.cursor() as cursor:
        cursor.execute(_lock_member_sql(), [member.pk])
        return int(cursor.fetchone()[0])


def _lock_member_sql() -> str:
    table = connection.ops.quote_name(PointsBalance._meta.db_table)
    return (
        f"INSERT INTO {table} (member_id, points) VALUES (%s, 0) "  # noqa: S608 (our table)
        f"ON CONFLICT (member_id) DO UPDATE SET points = {table}.points RETURNING points"
    )


def public_questions(attempt: Attempt) -> list[dict[str, Any]]:
    """What the phone may see while the attempt is open: never the answers."""
    return [
        {"position": n, "kind": q["kind"], "text": q["text"], "options": q["options"]}
        for n, q in enumerate(attempt.snapshot)
    ]


def _clean_answers(attempt: Attempt, answers: dict[str, Any]) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    for key, value in (answers or {}).items():
        position = int(key) if str(key).isdigit() else -1
        if not 0 <= position < len(attempt.snapshot):
            raise LearningRefused(
                "unknown_question", _("An answer is for a question not in this attempt.")
            )
        question = attempt.snapshot[position]
        if question["kind"] == QuestionKind.FILL:
            cleaned[str(position)] = " ".join(str(value or "").split())[:200]
            continue
        chosen = value if isinstance(value, list) else [value]
        if any(not isinstance(c, int) or not 0 <= c < len(question["options"]) for c in chosen):
            raise LearningRefused("bad_answer", _("An answer is not among the options."))
        cleaned[str(position)] = sorted(set(chosen))
    return cleaned


def _owned(user: Any, attempt: Attempt) -> Attempt:
    owner = attempt.member.user_id
    if owner is None or scoping.as_user(user) is None or owner != user.pk:
        raise PermissionDenied(_("This is not your attempt."))
    return attempt


@transaction.atomic
def save_answers(
    user: Any, attempt: Attempt, answers: dict[str, Any], *, now: datetime.datetime | None = None
) -> Attempt:
    """Save answers as the worker goes (a timed-out attempt is scored with these)."""
    now = now or timezone.now()
    attempt = _owned(
        user,
        Attempt.objects.select_for_update(of=("self",)).select_related("member").get(pk=attempt.pk),
    )
    if attempt.status != AttemptStatus.IN_PROGRESS:
        raise LearningRefused("submitted", _("This attempt is already scored."))
    if now > attempt.deadline + SUBMIT_GRACE:
        raise LearningRefused("timed_out", _("Time is up: answers are no longer saved."))
    attempt.answers = {**attempt.answers, **_clean_answers(attempt, answers)}
    attempt.save(update_fields=["answers"])
    return attempt


def score_answers(snapshot: Sequence[dict[str, Any]], answers: dict[str, Any]) -> int:
    """How many answers are right."""
    correct = 0
    for position, question in enumerate(snapshot):
        given = answers.get(str(position))
        if given is None:
            continue
        if question["kind"] == QuestionKind.FILL:
            accepted = {" ".join(str(a).split()).lower() for a in question["answer"]}
            correct += str(given).lower() in accepted
        else:
            correct += sorted(given) == sorted(question["answer"])
    return correct


def submit_attempt(
    user: Any,
    attempt: Attempt,
    answers: dict[str, Any] | None = None,
    *,
    now: datetime.datetime | None = None,
) -> Attempt:
    """Score the attempt. A second submission returns the first result; a late one is
    scored with what was saved before the deadline."""
    now = now or timezone.now()
    with transaction.atomic():
        return _submit_locked(_owned(user, _locked_attempt(attempt.pk)), answers, now)


def _submit_locked(
    attempt: Attempt, answers: dict[str, Any] | None, now: datetime.datetime
) -> Attempt:
    """`submit_attempt` of the attempt read and locked in this transaction, its owner
    checked."""
    if attempt.status != AttemptStatus.IN_PROGRESS:
        return attempt
    late = now > attempt.deadline + SUBMIT_GRACE
    if answers and not late:
        attempt.answers = {**attempt.answers, **_clean_answers(attempt, answers)}
    _score(attempt, AttemptStatus.TIMED_OUT if late else AttemptStatus.SUBMITTED, now)
    return attempt


def submit_in_lane(
    api_key: str, attempt_id: int, answers: dict[str, Any] | None
) -> tuple[ApiToken, Attempt] | None:
    """`submit_attempt` for the user of the bearer token `api_key`, the token read with
    the locked attempt in one statement (a contest's submit in the API's fast lane). None,
    with nothing written, when no active user holds the token or the attempt is missing
    (the caller tells which); PermissionDenied when the attempt is another member's."""
    now = timezone.now()
    with transaction.atomic():
        found = _locked_attempt_by_api_token(hash_token(api_key), attempt_id)
        if found is None:
            return None
        token, attempt = found
        return token, _submit_locked(_owned(token.user, attempt), answers, now)


# What scoring reads of the attempt's quiz and member (with the whole attempt: its
# snapshot is what is scored), and what callers show of the quiz afterwards.
QUIZ_FIELDS_FOR_SCORING = (
    "id",
    "title",
    "org_id",
    "pass_mark",
    "requirement_id",
    "closes_at",
    "explanations_after_close",
)


@functools.cache
def _attempt_shapes() -> tuple[rows.Shape, rows.Shape, rows.Shape]:
    return (
        rows.Shape(Attempt, [f.name for f in Attempt._meta.concrete_fields]),
        rows.Shape(Quiz, QUIZ_FIELDS_FOR_SCORING),
        rows.Shape(Member, MEMBER_FIELDS),
    )


@functools.cache
def _locked_attempt_sql(skip_locked: bool, by_api_token: bool = False) -> str:
    attempt, quiz, member = _attempt_shapes()
    lock = ""
    if connection.features.has_select_for_update:  # SQLite: the database's write lock
        lock = "FOR UPDATE OF a" + (" SKIP LOCKED" if skip_locked else "")
    columns = f"{attempt.select('a')}, {quiz.select('q')}, {member.select('m')}"
    token_join = ""
    if by_api_token:
        # The bearer token and its active user too: no row when either is unknown.
        token, user = api_token_shapes()
        columns = f"{token.select('t')}, {user.select('tu')}, {columns}"
        token_join = f"""
JOIN "{ApiToken._meta.db_table}" t ON t.key_hash = %s
JOIN "{get_user_model()._meta.db_table}" tu ON tu.id = t.user_id AND tu.is_active = %s"""
    return f"""
SELECT {columns}
FROM "{Attempt._meta.db_table}" a
JOIN "{Quiz._meta.db_table}" q ON q.id = a.quiz_id
JOIN "{Member._meta.db_table}" m ON m.id = a.member_id{token_join}
WHERE a.id = %s {lock}"""  # noqa: S608 (table and column names from our models)


def _attempt_from_row(row: Sequence[Any]) -> Attempt:
    attempt, quiz, member = rows.take(_attempt_shapes(), row)
    rows.link(attempt, "quiz", quiz)
    rows.link(attempt, "member", member)
    return attempt


def _locked_attempt(pk: int, *, skip_locked: bool = False) -> Attempt:
    """The attempt with the quiz and member columns scoring reads, locked until the end of
    the transaction (`DoesNotExist` if it is gone, or locked by another scorer with
    `skip_locked`). Written by hand: every submit of a contest reads it, and building the
    ORM's query cost more than PostgreSQL's answer."""
    row = rows.one_row(_locked_attempt_sql(skip_locked), [pk])
    if row is None:
        raise Attempt.DoesNotExist(f"no attempt {pk} (or locked)")
    return _attempt_from_row(row)


def _locked_attempt_by_api_token(key_hash: str, pk: int) -> tuple[ApiToken, Attempt] | None:
    """`_locked_attempt` with the bearer token whose hash is `key_hash` and its active
    user, in the same statement; None when the token, its user or the attempt is missing."""
    row = rows.one_row(_locked_attempt_sql(False, by_api_token=True), [key_hash, True, pk])
    if row is None:
        return None
    token, rest = api_token_leading(row)
    return token, _attempt_from_row(rest)


def _keep_result(
    attempt: Attempt, day: datetime.date, counts: Counter[stats.CountKey] | None = None
) -> bool:
    """Keep the member's best result of the quiz in one upsert; returns whether this
    attempt is the member's first pass of it (the pass counts on its day and unit).
    `counts` (PostgreSQL): figure changes written by the same statement.

    The caller holds the member's lock when the attempt passed, so the passes of one member
    are serialised and the previous pass, if any, is committed and visible here."""
    qn = connection.ops.quote_name
    meta = QuizResult._meta
    table = qn(meta.db_table)
    where = "quiz_id = %s AND member_id = %s"
    keys = [attempt.quiz_id, attempt.member_id]
    before = ""
    passed_before = False
    if attempt.passed:
        if connection.vendor == "postgresql":
            # A subquery of RETURNING sees the row as it was before this statement.
            before = (
                f", (SELECT o.passed FROM {table} o "  # noqa: S608
                f"WHERE o.quiz_id = %s AND o.member_id = %s)"
            )
        else:
            # SQLite's RETURNING sees the new row; its transaction holds the database's
            # write lock, so a read first is as good.
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT passed FROM {table} WHERE {where}", keys)  # noqa: S608
                row = cursor.fetchone()
            passed_before = bool(row and row[0])
    # A better attempt (higher score, then less time) replaces the best; the day and unit
    # are those of the first pass; passed once, passed for good.
    better = (
        "(excluded.score > r.score OR "
        "(excluded.score = r.score AND excluded.seconds_taken < r.seconds_taken))"
    )
    first = "(excluded.passed AND NOT r.passed)"
    sql = (
        f"INSERT INTO {table} AS r (quiz_id, member_id, unit_id, attempt_id, score, "  # noqa: S608
        f"seconds_taken, passed, day) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
        f"ON CONFLICT (quiz_id, member_id) DO UPDATE SET "
        f"attempt_id = CASE WHEN {better} THEN excluded.attempt_id ELSE r.attempt_id END, "
        f"score = CASE WHEN {better} THEN excluded.score ELSE r.score END, "
        f"seconds_taken = CASE WHEN {better} THEN excluded.seconds_taken "
        f"ELSE r.seconds_taken END, "
        f"day = CASE WHEN {first} THEN excluded.day ELSE r.day END, "
        f"unit_id = CASE WHEN {first} THEN excluded.unit_id ELSE r.unit_id END, "
        f"passed = r.passed OR excluded.passed "
        f"RETURNING id{before}"
    )
    params = [
        attempt.quiz_id,
        attempt.member_id,
        attempt.unit_id,
        attempt.pk,
        attempt.score,
        attempt.seconds_taken,
        bool(attempt.passed),
        meta.get_field("day").get_db_prep_save(day, connection),  # type: ignore[union-attr]
        *(keys if before else []),
    ]
    facts = stats.counts_insert_sql(counts) if counts else None
    if facts is not None:
        sql = f"WITH facts AS ({facts[0]}) {sql}"
        params = [*facts[1], *params]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if before:
        passed_before = bool(row[1])
    return bool(attempt.passed) and not passed_before


def _score(
    attempt: Attempt, status: str, now: datetime.datetime, *, member_locked: bool = False
) -> None:
    """Score the (locked) attempt, keep the member's best result, count the figures and
    award the points of a first pass. `member_locked`: the transaction holds the member's
    lock already (a start expiring an old attempt)."""
    quiz = attempt.quiz
    total = len(attempt.snapshot)
    attempt.correct = score_answers(attempt.snapshot, attempt.answers)
    attempt.score = round(100 * attempt.correct / total) if total else 0
    attempt.passed = attempt.score >= quiz.pass_mark
    ended = min(now, attempt.deadline)
    attempt.submitted_at = ended
    attempt.seconds_taken = max(0, int((ended - attempt.started_at).total_seconds()))
    attempt.status = status
    day = timezone.localdate(ended)
    member = attempt.member
    # The figure changes of this scoring, written with the last statement that can.
    counts: Counter[stats.CountKey] = Counter()
    counts[(attempt.unit_id, figures.ATTEMPTS, day)] += 1
    # The member's lock serialises the first pass (below) and the award of its points.
    lock = bool(attempt.passed) and not member_locked
    # PostgreSQL: the lock taken by the attempt's UPDATE, the figure changes written by the
    # result's upsert and the award (data-modifying CTEs): a contest's passed submit is
    # three statements after its read, not six.
    combined = connection.vendor == "postgresql"
    _write_scored(attempt, lock_member=lock and combined)
    if lock and not combined:
        _lock_member(member)
    first_pass = _keep_result(attempt, day, counts if combined else None)
    if combined:
        counts.clear()  # written
    if first_pass:
        counts[(attempt.unit_id, figures.PASSED, day)] += 1
        if quiz.requirement_id:
            metric = figures.requirement_metric(quiz.requirement_id, "passed")
            counts[(attempt.unit_id, metric, day)] += 1
        _award_locked(
            member, PointsRule.QUIZ, f"quiz:{quiz.pk}", ended, counts, write_counts=combined
        )
        if combined:
            return
    stats.emit_counts(counts)


_SCORED_FIELDS = (
    "answers",
    "correct",
    "score",
    "passed",
    "submitted_at",
    "seconds_taken",
    "status",
)


@functools.cache
def _scored_sql() -> str:
    meta = Attempt._meta
    qn = connection.ops.quote_name
    column = {f.name: str(f.column) for f in meta.concrete_fields}
    sets = ", ".join(f"{qn(column[n])} = %s" for n in _SCORED_FIELDS)
    return f"UPDATE {qn(meta.db_table)} SET {sets} WHERE id = %s"  # noqa: S608 (our names)


def _write_scored(attempt: Attempt, *, lock_member: bool) -> None:
    """Write the scored attempt's columns (what `save(update_fields=…)` wrote), by hand:
    every submit of a contest writes it. `lock_member` (PostgreSQL): the same statement
    takes the member's lock (`_lock_member`'s upsert as a data-modifying CTE)."""
    meta = Attempt._meta
    params = [
        meta.get_field(n).get_db_prep_save(getattr(attempt, n), connection)  # type: ignore[union-attr]
        for n in _SCORED_FIELDS
    ]
    sql = _scored_sql()
    if lock_member:
        sql = f"WITH member_lock AS ({_lock_member_sql()}) {sql}"
        params = [attempt.member_id, *params]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, attempt.pk])


def expire_attempts(
    *, quiz: Quiz | None = None, member: Member | None = None, now: datetime.datetime | None = None
) -> int:
    """Score attempts whose time is up with what they saved (the worker runs this too)."""
    now = now or timezone.now()
    due = Attempt.objects.filter(status=AttemptStatus.IN_PROGRESS, deadline__lt=now - SUBMIT_GRACE)
    if quiz is not None:
        due = due.filter(quiz=quiz)
    if member is not None:
        due = due.filter(member=member)
    done = 0
    for pk in list(due.values_list("pk", flat=True)[:1000]):
        done += _expire(pk, now)
    return done


def _expire(pk: int, now: datetime.datetime, *, member_locked: bool = False) -> bool:
    """Score one attempt whose time is up, unless another request is scoring it."""
    with transaction.atomic():
        try:
            attempt = _locked_attempt(pk, skip_locked=True)
        except Attempt.DoesNotExist:
            return False
        if attempt.status != AttemptStatus.IN_PROGRESS:
            return False
        _score(attempt, AttemptStatus.TIMED_OUT, now, member_locked=member_locked)
    return True


def may_see_answers(attempt: Attempt, *, now: datetime.datetime | None = None) -> bool:
    """Answers and explanations of a scored attempt: after the quiz closes, if the quiz
    shows them at all."""
    now = now or timezone.now()
    quiz = attempt.quiz
    return (
        attempt.status != AttemptStatus.IN_PROGRESS
        and quiz.explanations_after_close
        and now > quiz.closes_at
    )


# --- points -------------------------------------------------------------------------------


def award_points(
    member: Member, rule: str, source: str, *, now: datetime.datetime | None = None
) -> PointsEntry | None:
    """Award the rule's points for `source` once, within the rule's daily cap. Returns the
    entry, or None when nothing was awarded (a repeat, or the cap is reached)."""
    now = now or timezone.now()
    # No savepoint: nothing here is caught and retried (the conflicts are settled by
    # ON CONFLICT), so inside a caller's transaction the caller's transaction suffices.
    with transaction.atomic(savepoint=False):
        _lock_member(member)  # serialises this member's awards: the cap holds
        counts: Counter[stats.CountKey] = Counter()
        entry = _award_locked(member, rule, source, now, counts)
        stats.emit_counts(counts)
    return entry


def _award_locked(
    member: Member,
    rule: str,
    source: str,
    now: datetime.datetime,
    counts: Counter[stats.CountKey],
    *,
    write_counts: bool = False,
) -> PointsEntry | None:
    """`award_points` in a transaction that holds the member's lock; the figure change
    goes into `counts` for the caller to write. Two statements: the entry, inserted only
    below the day's cap (read in the same statement, exact because the member's awards are
    serialised by the lock) and only once per source (the unique index), then the balance.

    `write_counts` (PostgreSQL): one statement — the entry, the balance, `counts` and the
    points' own figure change as data-modifying CTEs of the entry's INSERT."""
    points, cap = points_rules()[rule]
    day = timezone.localdate(now)
    source = source[:60]
    meta = PointsEntry._meta
    qn = connection.ops.quote_name
    table = qn(meta.db_table)
    prep = {
        name: meta.get_field(name).get_db_prep_save(value, connection)  # type: ignore[union-attr]
        for name, value in (("day", day), ("at", now))
    }
    sql = (
        f"INSERT INTO {table} (member_id, unit_id, rule, source, points, day, {qn('at')}) "  # noqa: S608
        f"SELECT %s, %s, %s, %s, "
        f"CASE WHEN %s < %s - e.earned THEN %s ELSE %s - e.earned END, %s, %s "
        f"FROM (SELECT COALESCE(SUM(points), 0) AS earned FROM {table} "
        f"WHERE member_id = %s AND rule = %s AND day = %s) e "
        f"WHERE %s - e.earned > 0 "
        f"ON CONFLICT (member_id, source) DO NOTHING RETURNING id, points"
    )
    params = [
        member.pk,
        member.unit_id,
        rule,
        source,
        points,
        cap,
        points,
        cap,
        prep["day"],
        prep["at"],
        member.pk,
        rule,
        prep["day"],
        cap,
    ]
    if write_counts:
        # The entry's points (below the cap: known only to the INSERT) go to the balance
        # and to the figures within the same statement.
        balance = qn(PointsBalance._meta.db_table)
        facts = qn(FactDelta._meta.db_table)
        parts = [
            f"entry AS ({sql})",
            f"balance AS (UPDATE {balance} SET points = {balance}.points + entry.points "  # noqa: S608
            f"FROM entry WHERE {balance}.member_id = %s)",
            f"points_fact AS (INSERT INTO {facts} (org_id, metric, day, delta) "  # noqa: S608
            f"SELECT %s, %s, %s, points FROM entry)",
        ]
        params += [member.pk, member.unit_id, figures.POINTS, prep["day"]]
        other = stats.counts_insert_sql(counts)
        if other is not None:
            parts.append(f"facts AS ({other[0]})")
            params += other[1]
        counts.clear()  # written
        sql = f"WITH {', '.join(parts)} SELECT id, points FROM entry"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None  # awarded before, or the day's cap is reached
    entry = PointsEntry(
        pk=int(row[0]),
        member=member,
        unit_id=member.unit_id,
        rule=rule,
        source=source,
        points=int(row[1]),
        day=day,
        at=now,
    )
    entry._state.adding = False
    if not write_counts:
        PointsBalance.objects.filter(member=member).update(points=F("points") + entry.points)
        counts[(member.unit_id, figures.POINTS, day)] += entry.points
    return entry


# Check-ins earn points through this job, not in the check-in request: the check-in stays
# one lean transaction, and points follow within a minute. Re-reading an overlap of the
# stream is harmless (one award per source), and catches check-ins committed late.
CHECKIN_OVERLAP = datetime.timedelta(minutes=2)


def award_checkin_points(*, limit: int = 5000) -> int:
    from gonghui.activities.models import ActivityStatus, CheckIn
    from gonghui.learning.models import PointsCursor

    cursor = PointsCursor.objects.filter(name="checkins").first()
    since = cursor.last_at - CHECKIN_OVERLAP if cursor else None
    checkins = CheckIn.objects.filter(
        activity__status__in=[ActivityStatus.PLANNED, ActivityStatus.HELD]
    ).select_related("member__unit")
    if since is not None:
        checkins = checkins.filter(at__gte=since)
    batch = list(checkins.order_by("at", "id")[:limit])
    if not batch:
        return 0
    awarded = 0
    for checkin in batch:
        awarded += (
            award_points(
                checkin.member, PointsRule.CHECKIN, f"checkin:{checkin.pk}", now=checkin.at
            )
            is not None
        )
    PointsCursor.objects.update_or_create(name="checkins", defaults={"last_at": batch[-1].at})
    return awarded
