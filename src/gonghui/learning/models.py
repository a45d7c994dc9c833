"""Learning (学习): materials, courses, a question bank, quizzes, and study points.

An org publishes Materials and Courses (ordered materials with completion rules) to an
audience in its subtree; members' progress is kept per course item, and a completed
course is one CourseCompletion. Quizzes draw questions from the org's bank by rules; each
Attempt keeps a snapshot of the questions it drew (text, shuffled options, the answer), so
editing a question never changes past scores, and scoring happens on the server only.
Points (积分) are an append-only ledger, one entry per (member, source) so that a retried
request never awards twice.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from gonghui.orgs.scoping import ScopedQuerySet


class PublishStatus(models.TextChoices):
    DRAFT = "draft", pgettext_lazy("learning status", "Draft")
    PUBLISHED = "published", pgettext_lazy("learning status", "Published")
    WITHDRAWN = "withdrawn", pgettext_lazy("learning status", "Withdrawn")


class Audience(models.Model):
    """The org's subtree, narrowed by unit kinds and/or to the subtrees of chosen units."""

    audience_kinds = models.JSONField(_("kinds of unit"), default=list, blank=True)
    audience_units = models.ManyToManyField(
        "orgs.Org", verbose_name=_("only these units"), blank=True, related_name="+"
    )

    class Meta:
        abstract = True


class MaterialKind(models.TextChoices):
    ARTICLE = "article", _("Article")
    DOCUMENT = "document", _("Document (PDF)")
    VIDEO = "video", _("Video link")


class Material(Audience):
    org = models.ForeignKey(
        "orgs.Org", verbose_name=_("published by"), on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(_("kind"), max_length=10, choices=MaterialKind.choices)
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("text"), blank=True, default="")
    file = models.FileField(upload_to="learning/%Y/%m/", blank=True)
    video_url = models.URLField(_("video link"), blank=True, default="")
    tags = models.JSONField(_("tags"), default=list, blank=True)
    status = models.CharField(
        max_length=10, choices=PublishStatus.choices, default=PublishStatus.DRAFT
    )
    published_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    version = models.PositiveIntegerField(default=1, editable=False)

    objects = ScopedQuerySet.as_manager()
    scope_org_field = "org"

    class Meta:
        verbose_name = _("study material")
        verbose_name_plural = _("study materials")
        ordering = ["-published_at", "-id"]

    def __str__(self) -> str:
        return self.title


class Course(Audience):
    org = models.ForeignKey(
        "orgs.Org", verbose_name=_("published by"), on_delete=models.PROTECT, related_name="+"
    )
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), blank=True, default="")
    requirement = models.ForeignKey(
        "notices.Requirement",
        verbose_name=_("meets notice requirement"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="courses",
    )
    due = models.DateField(_("complete by"), null=True, blank=True)
    status = models.CharField(
        max_length=10, choices=PublishStatus.choices, default=PublishStatus.DRAFT
    )
    published_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    version = models.PositiveIntegerField(default=1, editable=False)

    objects = ScopedQuerySet.as_manager()
    scope_org_field = "org"

    class Meta:
        verbose_name = _("course")
        verbose_name_plural = _("courses")
        ordering = ["-published_at", "-id"]

    def __str__(self) -> str:
        return self.title


class CourseItem(models.Model):
    """One material of a course and what completing it takes."""

    # No index of its own: `one_item_per_material` leads with it.
    course = models.ForeignKey(
        Course, on_delete=models.CASCADE, related_name="items", db_index=False
    )
    material = models.ForeignKey(Material, on_delete=models.PROTECT, related_name="+")
    position = models.PositiveSmallIntegerField(default=0)
    # Reading for at least this long (articles, documents), or confirming a video was
    # watched to the end; 0 and False: opening it is enough.
    min_seconds = models.PositiveIntegerField(_("minimum reading time (s)"), default=0)
    confirm_watched = models.BooleanField(_("watch confirmation"), default=False)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["course", "material"], name="one_item_per_material")
        ]

    def __str__(self) -> str:
        return f"{self.course_id}#{self.position}"


class ItemProgress(models.Model):
    # No index of its own: `one_progress_per_item` leads with it.
    item = models.ForeignKey(CourseItem, on_delete=models.CASCADE, related_name="+", db_index=False)
    member = models.ForeignKey("orgs.Member", on_delete=models.CASCADE, related_name="+")
    opened_at = models.DateTimeField(default=timezone.now)
    seconds = models.PositiveIntegerField(default=0)
    watched = models.BooleanField(default=False)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "member"], name="one_progress_per_item")
        ]

    def __str__(self) -> str:
        return f"{self.member_id} on {self.item_id}"


class CourseCompletion(models.Model):
    # No index of its own: `one_completion` leads with it.
    course = models.ForeignKey(
        Course, on_delete=models.CASCADE, related_name="completions", db_index=False
    )
    member = models.ForeignKey("orgs.Member", on_delete=models.CASCADE, related_name="+")
    unit = models.ForeignKey("orgs.Org", on_delete=models.PROTECT, related_name="+")
    completed_at = models.DateTimeField(default=timezone.now)
    day = models.DateField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["course", "member"], name="one_completion")]

    def __str__(self) -> str:
        return f"{self.member_id} completed {self.course_id}"


class QuestionKind(models.TextChoices):
    SINGLE = "single", _("Single choice")
    MULTIPLE = "multiple", _("Multiple choice")
    TRUE_FALSE = "truefalse", _("True or false")
    FILL = "fill", _("Fill in the blank")


class Difficulty(models.IntegerChoices):
    EASY = 1, _("Easy")
    MEDIUM = 2, _("Medium")
    HARD = 3, _("Hard")


class Question(models.Model):
    """A question of an org's bank. `options` are texts; `answer` is a list of option
    indexes (choice, true/false with options 正确/错误) or of accepted texts (fill-in)."""

    # No index of its own: `question_org_active_idx` leads with it.
    org = models.ForeignKey("orgs.Org", on_delete=models.PROTECT, related_name="+", db_index=False)
    kind = models.CharField(_("kind"), max_length=10, choices=QuestionKind.choices)
    text = models.TextField(_("question"))
    options = models.JSONField(default=list, blank=True)
    answer = models.JSONField(default=list)
    explanation = models.TextField(_("explanation"), blank=True, default="")
    tags = models.JSONField(_("tags"), default=list, blank=True)
    difficulty = models.PositiveSmallIntegerField(
        _("difficulty"), choices=Difficulty.choices, default=Difficulty.MEDIUM
    )
    # Normalised text, to refuse the same question twice in one bank.
    fingerprint = models.CharField(max_length=64, editable=False)
    active = models.BooleanField(default=True)
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedQuerySet.as_manager()
    scope_org_field = "org"

    class Meta:
        verbose_name = _("question")
        verbose_name_plural = _("questions")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["org", "fingerprint"],
                condition=models.Q(active=True),
                name="one_active_question_per_text",
            )
        ]
        indexes = [models.Index(fields=["org", "active"], name="question_org_active_idx")]

    def __str__(self) -> str:
        return self.text[:60]


class QuestionBankStamp(models.Model):
    """A value drawn anew whenever an org's bank of questions changes. Database triggers
    on the question table draw it on every insert, update and delete (services, imports,
    the demo, any SQL), in the writing transaction, from a sequence (PostgreSQL) or at
    random (SQLite), so a value is never seen twice, even after a rollback. A process
    keeps a bank in memory while this one row is unchanged: a contest's start checks its
    cached bank with one indexed row, whatever the bank's size. No row: no change since
    this table was made."""

    org = models.OneToOneField(
        "orgs.Org", primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    stamp = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.org_id}: {self.stamp}"


class Quiz(Audience):
    org = models.ForeignKey(
        "orgs.Org", verbose_name=_("organised by"), on_delete=models.PROTECT, related_name="+"
    )
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), blank=True, default="")
    # [{"tag": "", "difficulty": null, "count": 10}, ...]: drawn in this order of rules.
    rules = models.JSONField(_("drawing rules"), default=list)
    time_limit_seconds = models.PositiveIntegerField(_("time limit (s)"), default=600)
    pass_mark = models.PositiveSmallIntegerField(_("pass mark (%)"), default=60)
    attempts_allowed = models.PositiveSmallIntegerField(_("attempts allowed"), default=1)
    opens_at = models.DateTimeField(_("opens at"))
    closes_at = models.DateTimeField(_("closes at"))
    explanations_after_close = models.BooleanField(
        _("show answers and explanations after it closes"), default=True
    )
    is_contest = models.BooleanField(_("knowledge contest (ranked)"), default=False)
    requirement = models.ForeignKey(
        "notices.Requirement",
        verbose_name=_("meets notice requirement"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="quizzes",
    )
    status = models.CharField(
        max_length=10, choices=PublishStatus.choices, default=PublishStatus.DRAFT
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    version = models.PositiveIntegerField(default=1, editable=False)

    objects = ScopedQuerySet.as_manager()
    scope_org_field = "org"

    class Meta:
        verbose_name = _("quiz")
        verbose_name_plural = _("quizzes")
        ordering = ["-opens_at", "-id"]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        now = timezone.now()
        return self.status == PublishStatus.PUBLISHED and self.opens_at <= now <= self.closes_at


class AttemptStatus(models.TextChoices):
    IN_PROGRESS = "in_progress", _("In progress")
    SUBMITTED = "submitted", _("Submitted")
    TIMED_OUT = "timed_out", _("Timed out")


class Attempt(models.Model):
    # No index of their own: `one_attempt_number` (quiz, member, number) and
    # `attempt_member_idx` (member, quiz) lead with them. Two indexes fewer to write per
    # attempt, and a plan on stale statistics cannot pick the quiz's index and read every
    # attempt of a contest to find one member's.
    quiz = models.ForeignKey(
        Quiz, on_delete=models.CASCADE, related_name="attempts", db_index=False
    )
    member = models.ForeignKey(
        "orgs.Member", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    unit = models.ForeignKey("orgs.Org", on_delete=models.PROTECT, related_name="+")
    number = models.PositiveSmallIntegerField(default=1)
    started_at = models.DateTimeField(default=timezone.now)
    deadline = models.DateTimeField()
    # Server only: [{"id", "version", "kind", "text", "options" (shown order),
    # "answer" (in shown order), "explanation"}]. Never sent before the attempt is scored.
    snapshot = models.JSONField(default=list)
    # {question position (str): answer as given}, saved as the worker goes.
    answers = models.JSONField(default=dict)
    status = models.CharField(
        max_length=12, choices=AttemptStatus.choices, default=AttemptStatus.IN_PROGRESS
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    correct = models.PositiveSmallIntegerField(null=True, blank=True)
    score = models.PositiveSmallIntegerField(null=True, blank=True)  # percent
    passed = models.BooleanField(null=True, blank=True)
    seconds_taken = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["quiz", "member", "number"], name="one_attempt_number")
        ]
        indexes = [
            models.Index(fields=["quiz", "status", "deadline"], name="attempt_open_idx"),
            models.Index(fields=["member", "quiz"], name="attempt_member_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.member_id} on {self.quiz_id} #{self.number}"

    @property
    def is_open(self) -> bool:
        return self.status == AttemptStatus.IN_PROGRESS and timezone.now() <= self.deadline


class QuizResult(models.Model):
    """A member's best scored attempt of a quiz: the contest ranking and the figures."""

    # No index of its own: `one_result_per_member` and `quiz_result_rank_idx` lead with it.
    quiz = models.ForeignKey(Quiz, on_delete=models.CASCADE, related_name="results", db_index=False)
    member = models.ForeignKey("orgs.Member", on_delete=models.CASCADE, related_name="+")
    unit = models.ForeignKey("orgs.Org", on_delete=models.PROTECT, related_name="+")
    attempt = models.ForeignKey(Attempt, on_delete=models.CASCADE, related_name="+")
    score = models.PositiveSmallIntegerField()
    seconds_taken = models.PositiveIntegerField()
    passed = models.BooleanField()
    day = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["quiz", "member"], name="one_result_per_member")
        ]
        indexes = [
            models.Index(fields=["quiz", "-score", "seconds_taken"], name="quiz_result_rank_idx")
        ]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.score}"


class PointsRule(models.TextChoices):
    READING = "reading", _("Reading")
    COURSE = "course", _("Course completed")
    QUIZ = "quiz", _("Quiz passed")
    CHECKIN = "checkin", _("Activity check-in")


class PointsEntry(models.Model):
    """Append-only. `source` names what earned it (e.g. "checkin:42"), once per member."""

    # No index of its own: `one_award_per_source` and `points_cap_idx` lead with it.
    member = models.ForeignKey(
        "orgs.Member", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    unit = models.ForeignKey("orgs.Org", on_delete=models.PROTECT, related_name="+")
    rule = models.CharField(max_length=10, choices=PointsRule.choices)
    source = models.CharField(max_length=60)
    points = models.IntegerField()
    day = models.DateField()
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["member", "source"], name="one_award_per_source")
        ]
        indexes = [models.Index(fields=["member", "rule", "day"], name="points_cap_idx")]

    def __str__(self) -> str:
        return f"{self.member_id} {self.points:+d} {self.source}"


class PointsBalance(models.Model):
    """A member's running total (the ledger's sum), for ranks without summing the ledger."""

    member = models.OneToOneField(
        "orgs.Member", primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    points = models.IntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["-points"], name="points_rank_idx")]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.points}"


def today() -> datetime.date:
    return timezone.localdate()


class PointsCursor(models.Model):
    """How far the points job has read a stream of facts (activity check-ins)."""

    name = models.CharField(max_length=40, unique=True)
    last_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.last_at}"
