"""The demo's study content: articles and a video published by the province, a course linked
to the demo notice's study requirement, a bank of 40 questions, a contest open for a
month; members who studied and answered through the services; figures exact."""

from __future__ import annotations

import datetime

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from gonghui.core.demo_steps import DemoContext, demo_steps
from gonghui.learning import figures, selectors, services
from gonghui.learning.demo import (
    COURSE_TITLE,
    PROXY_USERNAME,
    QUIZ_TITLE,
    build_demo_learning,
    delete_study_content,
)
from gonghui.learning.models import (
    Attempt,
    AttemptStatus,
    Course,
    CourseCompletion,
    ItemProgress,
    Material,
    MaterialKind,
    PointsEntry,
    PublishStatus,
    Question,
    Quiz,
    QuizResult,
)
from gonghui.notices.models import Requirement, RequirementKind
from gonghui.orgs.demo import DemoBuilder
from gonghui.orgs.models import Member, Org
from gonghui.stats import services as stats
from gonghui.stats.models import SubtreeCount

pytestmark = pytest.mark.django_db


def build(seed: int = 2026) -> None:
    """The tiny demo, with this step (registered by LearningConfig.ready)."""
    DemoBuilder(scale="tiny", seed=seed).build()
    if "learning" not in [step.name for step in demo_steps()]:
        root = Org.objects.get(parent__isnull=True)
        build_demo_learning(
            DemoContext(root=root, seed=seed, scale="tiny", today=timezone.localdate())
        )


def total(org: Org, metric: str) -> int:
    stats.fold_pending()
    row = SubtreeCount.objects.filter(org=org, metric=metric).first()
    return row.value if row else 0


def test_the_demo_publishes_study_content_and_members_use_it():
    assert "learning" in [step.name for step in demo_steps()]
    build()
    root = Org.objects.get(parent__isnull=True)
    materials = list(Material.objects.filter(org=root))
    assert {m.kind for m in materials} == {MaterialKind.ARTICLE, MaterialKind.VIDEO}
    assert len(materials) >= 4 and all(m.status == PublishStatus.PUBLISHED for m in materials)
    assert any("工会法" in m.title for m in materials)
    course = Course.objects.get(title=COURSE_TITLE)
    study = Requirement.objects.get(kind=RequirementKind.STUDY, relay__isnull=True)
    assert course.status == PublishStatus.PUBLISHED and course.requirement == study
    assert Question.objects.filter(org=root, active=True).count() == 40
    quiz = Quiz.objects.get(title=QUIZ_TITLE)
    assert quiz.is_contest and quiz.is_open and quiz.requirement == study
    assert quiz.closes_at - quiz.opens_at >= datetime.timedelta(days=28)
    # Members studied: some to the end, some part of the way; the contest was taken.
    completions = CourseCompletion.objects.filter(course=course)
    assert completions.count() >= 5
    partial = (
        ItemProgress.objects.filter(item__course=course)
        .exclude(member__in=completions.values("member"))
        .values("member")
        .distinct()
    )
    assert partial.exists()
    scored = Attempt.objects.filter(quiz=quiz).exclude(status=AttemptStatus.IN_PROGRESS)
    assert scored.count() >= 5 and not Attempt.objects.filter(status="in_progress").exists()
    results = QuizResult.objects.filter(quiz=quiz)
    assert results.filter(passed=True).exists()
    assert selectors.contest_ranking(quiz)[0].rank == 1
    assert not get_user_model().objects.filter(username=PROXY_USERNAME).exists()
    assert not Member.objects.filter(user__isnull=False).exclude(user__username="zhigong")
    # The figures are the facts; the rebuild finds nothing to correct.
    assert total(root, figures.COMPLETIONS) == completions.count()
    assert total(root, figures.PASSED) == results.filter(passed=True).count()
    assert total(root, figures.ATTEMPTS) == scored.count()
    assert total(root, figures.requirement_metric(study.pk, "completions")) == (completions.count())
    points = sum(PointsEntry.objects.values_list("points", flat=True))
    assert points > 0 and total(root, figures.POINTS) == points
    assert stats.rebuild(check=True) == []


def test_the_demo_worker_is_half_way_with_the_contest_to_take():
    build()
    member = Member.objects.select_related("unit", "user").get(user__username="zhigong")
    mine = {p.course.title: p for p in selectors.courses_for(member)}
    progress = mine[COURSE_TITLE]
    assert 0 < progress.done < progress.items and not progress.completed
    quizzes = {q.quiz.title: q for q in selectors.quizzes_for(member)}
    contest = quizzes[QUIZ_TITLE]
    assert contest.attempts == 0 and contest.attempts_left == 3
    # The worker can take it now, through the services, and the figures stay exact.
    attempt = services.start_attempt(member.user, contest.quiz)
    services.submit_attempt(member.user, attempt, {})
    assert stats.rebuild(check=True) == []


def test_same_seed_same_study():
    def story() -> list[tuple]:
        return sorted(
            (
                c.member.id_number_hash,
                c.course.title,
                timezone.localtime(c.completed_at).replace(microsecond=0),
            )
            for c in CourseCompletion.objects.select_related("member", "course")
        ) + sorted(
            # The questions drawn are random (the server's draw), the players and the
            # moments are the seed's.
            (a.member.id_number_hash, a.quiz.title, a.number, timezone.localtime(a.started_at))
            for a in Attempt.objects.select_related("member", "quiz")
        )

    build(seed=7)
    first = story()
    assert first
    # Again, on the same tree: the learning step alone, with the same seed and day.
    delete_study_content()
    root = Org.objects.get(parent__isnull=True)
    build_demo_learning(DemoContext(root=root, seed=7, scale="tiny", today=timezone.localdate()))
    assert story() == first
