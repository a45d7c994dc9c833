"""The demo's activities: held ones with members checked in through the services, some
linked to the demo notice's lecture requirement, upcoming ones, one cancelled; the demo
worker attended one and has one ahead; deterministic by seed; figures exact."""

from __future__ import annotations

import pytest
from django.utils import timezone

from gonghui.activities import figures, services
from gonghui.activities.demo import CANCEL_REASON, build_demo_activities
from gonghui.activities.models import (
    Activity,
    ActivityKind,
    ActivityStatus,
    CheckIn,
    CheckInMethod,
    RegistrationStatus,
)
from gonghui.core.demo_steps import DemoContext, demo_steps
from gonghui.notices.models import Requirement, RequirementKind
from gonghui.orgs.demo import DemoBuilder
from gonghui.orgs.models import Member, Org
from gonghui.stats import services as stats
from gonghui.stats.models import SubtreeCount

pytestmark = pytest.mark.django_db


def build(seed: int = 2026) -> None:
    """The tiny demo (the tree, the accounts, the notice) and then this step, unless
    ActivitiesConfig.ready registered it and the builder already ran it."""
    DemoBuilder(scale="tiny", seed=seed).build()
    if "activities" not in [step.name for step in demo_steps()]:
        root = Org.objects.get(parent__isnull=True)
        build_demo_activities(
            DemoContext(root=root, seed=seed, scale="tiny", today=timezone.localdate())
        )


def total(org: Org, metric: str) -> int:
    row = SubtreeCount.objects.filter(org=org, metric=metric).first()
    return row.value if row else 0


def test_the_demo_has_held_upcoming_and_cancelled_activities_with_exact_figures():
    build()
    now = timezone.now()
    activities = list(Activity.objects.select_related("org", "venue_org"))
    assert len(activities) >= 10
    assert {a.kind for a in activities} >= {
        ActivityKind.LECTURE,
        ActivityKind.STUDY,
        ActivityKind.TRAINING,
    }
    cities = {a.venue_org.ancestor_ids[1] for a in activities}
    assert len(cities) >= 2  # tiny has two cities
    held = [a for a in activities if a.status == ActivityStatus.HELD]
    upcoming = [a for a in activities if a.status == ActivityStatus.PLANNED and a.starts_at > now]
    cancelled = [a for a in activities if a.status == ActivityStatus.CANCELLED]
    assert len(held) >= 5 and upcoming
    assert len(cancelled) == 1 and cancelled[0].cancelled_reason == CANCEL_REASON
    assert all(a.held_on is not None and a.starts_at < now for a in held)
    # Members checked in, by their own QR scan and by the cadre's roster, on the day.
    checkins = list(CheckIn.objects.select_related("activity"))
    assert len(checkins) >= 30
    assert {c.method for c in checkins} == {CheckInMethod.QR, CheckInMethod.ROSTER}
    assert all(c.day == c.activity.held_on for c in checkins)
    # Lectures linked to the demo notice's lecture requirement.
    lecture_req = Requirement.objects.get(kind=RequirementKind.LECTURE, relay__isnull=True)
    linked = [a for a in held if a.requirement_id == lecture_req.pk]
    assert linked and all(a.kind == ActivityKind.LECTURE for a in linked)
    # The figures, folded, are the facts; the rebuild finds nothing to correct.
    stats.fold_pending()
    root = Org.objects.get(parent__isnull=True)
    counted = CheckIn.objects.exclude(activity__status=ActivityStatus.CANCELLED)
    assert total(root, figures.CHECKINS) == counted.count()
    assert total(root, f"{figures.REACHED}@all") == counted.values("member").distinct().count()
    assert total(root, figures.HELD) == len(held)
    req_checkins = counted.filter(activity__requirement=lecture_req).count()
    assert total(root, figures.requirement_metric(lecture_req.pk, "checkins")) == req_checkins
    assert total(root, figures.requirement_metric(lecture_req.pk, "held")) == len(linked)
    assert stats.rebuild(check=True) == []


def test_the_demo_worker_attended_one_and_has_one_ahead():
    build()
    member = Member.objects.select_related("user", "unit").get(user__username="zhigong")
    mine = Activity.objects.filter(checkins__member=member)
    assert mine.filter(status=ActivityStatus.HELD, kind=ActivityKind.LECTURE).exists()
    now = timezone.now()
    ahead = [
        a
        for a in Activity.objects.filter(status=ActivityStatus.PLANNED, starts_at__gt=now)
        if services.in_audience(a, member)
    ]
    assert ahead
    assert any(
        r.member_id == member.pk and r.status == RegistrationStatus.CONFIRMED
        for a in ahead
        for r in a.registrations.all()
    )
    # A training under way that the worker can check in to now, with its code.
    training = Activity.objects.get(kind=ActivityKind.TRAINING, org__pk=member.unit_id)
    assert training.check_in_open and not training.checkins.filter(member=member).exists()
    result = services.check_in_self(member.user, training, code=training.check_in_code)
    assert result.created
    assert stats.rebuild(check=True) == []


def test_same_seed_same_activities():
    def story() -> list[tuple]:
        return sorted(
            (
                a.org.code,
                a.venue_org.code,
                a.kind,
                a.title,
                timezone.localtime(a.starts_at),
                a.status,
                a.requirement_id is not None,
                tuple(sorted(a.checkins.values_list("member__id_number_hash", "method"))),
            )
            for a in Activity.objects.select_related("org", "venue_org")
        )

    build(seed=5)
    first = story()
    from conftest import wipe_union_data

    wipe_union_data()
    build(seed=5)
    assert story() == first
