"""The worker's fold job: folds in SQL, and keeps the queue of pending changes tidy."""

from __future__ import annotations

import datetime

import pytest
from django.conf import settings
from django.db import connection

from conftest import build_tree
from gonghui.stats import services as stats
from gonghui.stats.models import FactDelta, OrgDayCount, SubtreeCount, SubtreeDayCount

POSTGRES = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
DAY = datetime.date(2026, 3, 2)


@pytest.mark.django_db
def test_a_fold_spreads_each_change_to_every_ancestor_and_empties_the_queue():
    tree = build_tree()
    stats.fold_pending()  # the tree's own facts
    team, grassroots, city = tree.cd_team, tree.cd_union, tree.chengdu
    stats.emit_counts({(team.pk, "test.fold", DAY): 3, (grassroots.pk, "test.fold", DAY): 2})
    stats.emit(metric="test.fold", org_id=team.pk, day=DAY, delta=-1)
    stats.emit(metric="test.zero", org_id=team.pk, day=DAY, delta=1)
    stats.emit(metric="test.zero", org_id=team.pk, day=DAY, delta=-1)

    assert stats.fold_and_tidy() == 5
    assert not FactDelta.objects.exists()
    own = dict(OrgDayCount.objects.filter(metric="test.fold").values_list("org_id", "value"))
    assert own == {team.pk: 2, grassroots.pk: 2}
    subtree = dict(SubtreeCount.objects.filter(metric="test.fold").values_list("org_id", "value"))
    for depth, org_id in enumerate(team.ancestor_ids):
        # The team's change counts up to the province, the grassroots union's from there.
        expected = 4 if depth <= grassroots.depth else 2
        assert subtree[org_id] == expected, org_id
    assert subtree[city.pk] == 4
    # Per-day subtree rows only down to the trend depth; a change summing to nothing
    # leaves no counter behind.
    day_rows = SubtreeDayCount.objects.filter(metric="test.fold")
    assert all(row.org.depth <= 4 for row in day_rows.select_related("org"))
    assert not OrgDayCount.objects.filter(metric="test.zero").exists()


@pytest.mark.django_db
def test_changes_of_an_org_that_is_gone_are_dropped():
    tree = build_tree()
    stats.fold_pending()  # the tree's own facts
    stats.emit(metric="test.fold", org_id=10**12, day=DAY)
    stats.emit(metric="test.fold", org_id=tree.cd_team.pk, day=DAY)
    assert stats.fold_and_tidy() == 2
    assert not FactDelta.objects.exists()
    assert not OrgDayCount.objects.filter(org_id=10**12).exists()
    assert OrgDayCount.objects.get(metric="test.fold").value == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES, reason="needs PostgreSQL (DATABASE_URL=postgres://...)")
def test_after_many_folded_changes_the_worker_vacuums_the_queue(monkeypatch):
    tree = build_tree()
    stats.fold_pending()  # the tree's own facts
    monkeypatch.setattr(stats, "TIDY_AFTER", 10)
    monkeypatch.setattr(stats, "_folded_since_tidy", 0)
    stats.emit_counts({(tree.cd_team.pk, "test.fold", DAY + datetime.timedelta(n)): 1
                       for n in range(12)})  # fmt: skip

    def vacuums() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_force_next_flush()")
            cursor.execute(
                "SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = %s",
                [FactDelta._meta.db_table],
            )
            return int(cursor.fetchone()[0])

    before = vacuums()
    assert stats.fold_and_tidy() == 12
    assert vacuums() == before + 1
    assert stats._folded_since_tidy == 0
    # Few changes since: no vacuum on the next pass.
    stats.emit(metric="test.fold", org_id=tree.cd_team.pk, day=DAY)
    assert stats.fold_and_tidy() == 1
    assert vacuums() == before + 1
