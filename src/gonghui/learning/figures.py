"""Learning figures, kept by the roll-up engine.

- ``learning.completions``: courses completed (one per member and course), at the
  member's unit then;
- ``learning.learners``: distinct members who completed a course (coverage over members);
- ``learning.attempts``: quiz attempts scored; ``learning.passed``: members who passed a
  quiz (one per member and quiz, counted when first passed);
- ``points``: study points awarded, at the member's unit then (for points per member);
- per notice requirement: ``req.<id>.completions`` and ``req.<id>.passed``.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import CharField, Count, F, QuerySet, Sum, Value
from django.db.models.functions import Cast, Concat
from django.utils.translation import gettext_lazy as _

from gonghui.learning.models import (
    Attempt,
    AttemptStatus,
    CourseCompletion,
    PointsEntry,
    QuizResult,
)
from gonghui.orgs.figures import MEMBERS
from gonghui.stats.registry import (
    Metric,
    register_distinct_source,
    register_metric,
    register_sum_source,
)

COMPLETIONS = "learning.completions"
LEARNERS = "learning.learners"
ATTEMPTS = "learning.attempts"
PASSED = "learning.passed"
POINTS = "points"


def requirement_metric(requirement_id: int, what: str) -> str:
    return f"req.{requirement_id}.{what}"


def register() -> None:
    group = _("Learning")
    register_metric(
        Metric(
            COMPLETIONS,
            _("Courses completed"),
            group,
            _("One per member and course"),
            reportable=True,
            order=60,
        )
    )
    register_metric(
        Metric(
            LEARNERS,
            _("Members who completed a course"),
            group,
            _("Distinct people"),
            distinct=True,
            coverage_of=MEMBERS,
            order=61,
        )
    )
    register_metric(Metric(ATTEMPTS, _("Quiz attempts"), group, headline=False, order=62))
    register_metric(
        Metric(
            PASSED,
            _("Quizzes passed"),
            group,
            _("One per member and quiz"),
            reportable=True,
            order=63,
        )
    )
    register_metric(Metric(POINTS, _("Study points"), group, _("Points awarded (积分)"), order=64))
    register_sum_source(sum_sources)
    register_distinct_source(distinct_sources)


def _req_metric(field: str, what: str) -> Concat:
    return Concat(
        Value("req."), Cast(field, CharField()), Value(f".{what}"), output_field=CharField()
    )


def sum_sources() -> Iterable[tuple[str | None, QuerySet]]:
    completions = CourseCompletion.objects.all()
    yield (
        COMPLETIONS,
        completions.values(r_org=F("unit_id"), r_day=F("day")).annotate(r_value=Count("id")),
    )
    yield (
        None,
        completions.filter(course__requirement__isnull=False)
        .values(
            r_org=F("unit_id"),
            r_metric=_req_metric("course__requirement_id", "completions"),
            r_day=F("day"),
        )
        .annotate(r_value=Count("id")),
    )
    scored = Attempt.objects.exclude(status=AttemptStatus.IN_PROGRESS)
    yield (
        ATTEMPTS,
        scored.values(r_org=F("unit_id"), r_day=F("submitted_at__date")).annotate(
            r_value=Count("id")
        ),
    )
    passed = QuizResult.objects.filter(passed=True)
    yield PASSED, passed.values(r_org=F("unit_id"), r_day=F("day")).annotate(r_value=Count("id"))
    yield (
        None,
        passed.filter(quiz__requirement__isnull=False)
        .values(
            r_org=F("unit_id"),
            r_metric=_req_metric("quiz__requirement_id", "passed"),
            r_day=F("day"),
        )
        .annotate(r_value=Count("id")),
    )
    yield (
        POINTS,
        PointsEntry.objects.values(r_org=F("unit_id"), r_day=F("day")).annotate(
            r_value=Sum("points")
        ),
    )


def distinct_sources() -> Iterable[tuple[str | None, QuerySet]]:
    yield (
        LEARNERS,
        CourseCompletion.objects.values(
            r_key=F("member_id"), r_org=F("member__unit_id"), r_day=F("day")
        ),
    )
