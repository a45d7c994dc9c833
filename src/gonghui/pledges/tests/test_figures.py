"""What pledges count in the roll-ups — published (withdrawn by a cancellation), completed,
completed on time (按期办结率) — and that a rebuild from the Pledge table finds the
incremental figures exact after any sequence of publish, complete and cancel."""

from __future__ import annotations

import datetime
from typing import Any
from unittest import mock

import pytest
from django.utils import timezone, translation

from gonghui.pledges import figures, services
from gonghui.pledges.models import Pledge, PledgeCategory
from gonghui.stats import services as stats
from gonghui.stats.models import OrgDayCount, SubtreeCount
from gonghui.stats.registry import registry
from gonghui.stats.selectors import headline

pytestmark = pytest.mark.django_db


def total(org: Any, metric: str) -> int:
    stats.fold_pending()
    row = SubtreeCount.objects.filter(org=org, metric=metric).first()
    return row.value if row else 0


def own_on(org: Any, metric: str, day: datetime.date) -> int:
    stats.fold_pending()
    row = OrgDayCount.objects.filter(org=org, metric=metric, day=day).first()
    return row.value if row else 0


def make(tree: Any, org: Any, user: str, title: str, *, deadline_in: int = 30) -> Pledge:
    return services.create_pledge(
        actor=tree.users[user],
        org=org,
        data=services.PledgeInput(
            title=title,
            category=PledgeCategory.SKILLS,
            target="为50名职工开展技能培训",
            target_value=50,
            target_unit="人",
            deadline=timezone.localdate() + datetime.timedelta(days=deadline_in),
        ),
    )


def publish(tree: Any, pledge: Pledge, user: str) -> Pledge:
    return services.publish_pledge(actor=tree.users[user], pledge=pledge)


def test_the_metrics_are_registered_with_the_on_time_rate():
    codes = [figures.PUBLISHED, figures.COMPLETED, figures.COMPLETED_ON_TIME]
    with translation.override("en"):
        groups = {str(registry.metrics[code].group) for code in codes}
        labels = [str(registry.metrics[code].label) for code in codes]
    assert groups == {"Practical things for workers"}
    assert labels == ["Pledges published", "Pledges completed", "Pledges completed on time"]
    on_time = registry.metrics[figures.COMPLETED_ON_TIME]
    assert on_time.coverage_of == figures.COMPLETED
    assert not on_time.distinct


def test_publish_complete_and_cancel_count_and_the_rebuild_agrees(tree):
    today = timezone.localdate()
    three_days_ago = today - datetime.timedelta(days=3)
    admin = "chengdu_admin"
    # Published three days ago at 成都, completed today on time.
    on_time = make(tree, tree.chengdu, admin, "准时办结")
    with mock.patch(
        "django.utils.timezone.now", return_value=timezone.now() - datetime.timedelta(days=3)
    ):
        publish(tree, on_time, admin)
    services.complete_pledge(actor=tree.users[admin], pledge=on_time, note="完成")
    # At 华信's union, completed after its deadline.
    late = publish(tree, make(tree, tree.cd_union, "cd_union_admin", "逾期办结"), "cd_union_admin")
    Pledge.objects.filter(pk=late.pk).update(deadline=today - datetime.timedelta(days=1))
    services.complete_pledge(actor=tree.users["cd_union_admin"], pledge=late, note="完成")
    # At the province, published three days ago, cancelled today: withdrawn on its day.
    withdrawn = make(tree, tree.province, "province_admin", "取消")
    with mock.patch(
        "django.utils.timezone.now", return_value=timezone.now() - datetime.timedelta(days=3)
    ):
        publish(tree, withdrawn, "province_admin")
    assert own_on(tree.province, figures.PUBLISHED, three_days_ago) == 1
    services.cancel_pledge(
        actor=tree.users["province_admin"], pledge=withdrawn, reason="并入省级项目"
    )
    # A draft cancelled counts nothing; one under way at 绵阳 counts as published.
    services.cancel_pledge(
        actor=tree.users[admin], pledge=make(tree, tree.chengdu, admin, "草稿"), reason="重复"
    )
    publish(tree, make(tree, tree.mianyang, "mianyang_admin", "绵阳"), "mianyang_admin")

    assert own_on(tree.province, figures.PUBLISHED, three_days_ago) == 0
    assert own_on(tree.chengdu, figures.PUBLISHED, three_days_ago) == 1
    assert own_on(tree.chengdu, figures.COMPLETED, today) == 1
    assert total(tree.province, figures.PUBLISHED) == 3
    assert total(tree.chengdu, figures.PUBLISHED) == 2
    assert total(tree.cd_union, figures.PUBLISHED) == 1
    assert total(tree.mianyang, figures.PUBLISHED) == 1
    assert total(tree.province, figures.COMPLETED) == 2
    assert total(tree.province, figures.COMPLETED_ON_TIME) == 1
    assert total(tree.cd_union, figures.COMPLETED_ON_TIME) == 0
    # 按期办结率: on time over completed.
    shown = [registry.metrics[figures.COMPLETED], registry.metrics[figures.COMPLETED_ON_TIME]]
    row = headline(tree.chengdu, shown)
    assert row.values[figures.COMPLETED] == 2
    assert row.ratios[figures.COMPLETED_ON_TIME] == 0.5
    # Recomputed from the Pledge table: the same numbers.
    assert stats.rebuild(check=True) == []
    # Cancelling again changes nothing, and still agrees.
    services.cancel_pledge(actor=tree.users["province_admin"], pledge=withdrawn, reason="再次")
    assert total(tree.province, figures.PUBLISHED) == 3
    assert stats.rebuild(check=True) == []


def test_a_wrong_figure_is_named_by_the_rebuild_check(tree):
    """The control: the check above passes because the figures are right, not because the
    sources are empty."""
    pledge = publish(tree, make(tree, tree.chengdu, "chengdu_admin", "承诺"), "chengdu_admin")
    stats.fold_pending()
    OrgDayCount.objects.filter(org=tree.chengdu, metric=figures.PUBLISHED).update(value=5)
    differences = stats.rebuild(check=True)
    assert any(
        d.metric == figures.PUBLISHED and d.org_id == tree.chengdu.pk and d.expected == 1
        for d in differences
    )
    assert pledge.published_on == timezone.localdate()
