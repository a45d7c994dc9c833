"""The demo's pledges: at the province, the demo worker's city and union, under way with
progress (and photos), one overdue, two completed, one draft; the worker's comments;
deterministic by seed; a fixed handful at any scale; figures exact."""

from __future__ import annotations

import pytest
from django.utils import timezone

from gonghui.core.demo_steps import DemoContext, demo_steps
from gonghui.orgs.demo import DemoBuilder
from gonghui.orgs.models import Member, Org, OrgKind
from gonghui.pledges import figures, selectors
from gonghui.pledges.demo import STORIES, build_demo_pledges
from gonghui.pledges.models import Pledge, PledgeComment, PledgePhoto, PledgeStatus
from gonghui.stats import services as stats
from gonghui.stats.models import SubtreeCount

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def build(seed: int = 2026) -> Org:
    DemoBuilder(scale="tiny", seed=seed).build()
    root = Org.objects.get(parent__isnull=True)
    if "pledges" not in [step.name for step in demo_steps()]:
        build_demo_pledges(
            DemoContext(root=root, seed=seed, scale="tiny", today=timezone.localdate())
        )
    return root


def total(org: Org, metric: str) -> int:
    stats.fold_pending()
    row = SubtreeCount.objects.filter(org=org, metric=metric).first()
    return row.value if row else 0


def story() -> list[tuple]:
    return sorted(
        (
            p.org.code,
            p.title,
            p.status,
            p.progress,
            p.deadline,
            p.published_on,
            p.completed_on,
            tuple(p.updates.order_by("day", "id").values_list("day", "progress")),
        )
        for p in Pledge.objects.select_related("org")
    )


def test_the_demo_has_pledges_at_three_levels_with_exact_figures():
    root = build()
    pledges = list(Pledge.objects.select_related("org"))
    assert len(pledges) == len(STORIES) == 8
    assert {p.org.kind for p in pledges} == {OrgKind.PROVINCE, OrgKind.CITY, OrgKind.GRASSROOTS}
    by_status = {s: [p for p in pledges if p.status == s] for s in PledgeStatus.values}
    assert len(by_status["draft"]) == 1
    assert len(by_status["completed"]) == 2
    assert all(p.on_time for p in by_status["completed"])
    assert all(p.progress == p.target_value for p in by_status["completed"])
    under_way = by_status["published"]
    assert len(under_way) == 5 and sum(p.is_overdue for p in under_way) == 1
    assert all(0 < p.progress <= p.target_value for p in under_way)
    assert PledgePhoto.objects.count() == 2
    # The demo worker sees the pledges of their union, city and the province.
    member = Member.objects.select_related("unit").get(user__username="zhigong")
    mine = list(selectors.pledges_for(member))
    assert len(mine) == 7
    assert PledgeComment.objects.filter(member=member).count() == 2
    # Figures folded from the facts; the rebuild agrees.
    assert total(root, figures.PUBLISHED) == 7
    assert total(root, figures.COMPLETED) == 2
    assert total(root, figures.COMPLETED_ON_TIME) == 2
    assert stats.rebuild(check=True) == []


def test_same_seed_same_pledges():
    root = build(seed=5)
    first = story()
    Pledge.objects.all().delete()
    context = DemoContext(root=root, seed=5, scale="tiny", today=timezone.localdate())
    build_demo_pledges(context)
    assert story() == first
    Pledge.objects.all().delete()
    build_demo_pledges(DemoContext(root=root, seed=6, scale="tiny", today=timezone.localdate()))
    assert story() != first
