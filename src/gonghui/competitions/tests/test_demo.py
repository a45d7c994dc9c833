"""The demo's competitions: a city round with published results qualifying for the
province's final, the demo worker among the competitors, figures equal to a rebuild."""

from __future__ import annotations

import io

from django.core.management import call_command

from gonghui.competitions.models import Competition, CompetitionStatus, Entry, EntryStatus
from gonghui.stats import services as stats


def test_the_demo_runs_a_city_round_into_the_provincial_final(db):
    call_command("demo", "--scale", "tiny", stdout=io.StringIO())
    city_round = Competition.objects.get(title="成都市职工电工焊工技能竞赛")
    final = Competition.objects.get(title="四川省职工职业技能大赛（决赛）")
    assert (city_round.status, city_round.parent, final.status) == (
        CompetitionStatus.PUBLISHED,
        final,
        CompetitionStatus.OPEN,
    )
    entries = Entry.objects.filter(competition=city_round, status=EntryStatus.APPROVED)
    assert entries.count() > 5
    assert not entries.filter(rank__isnull=True).exists()
    assert set(entries.filter(rank=1).values_list("discipline__name", flat=True)) == {
        "电工",
        "焊工",
    }
    assert entries.filter(member__user__username="zhigong").exists()
    stats.fold_pending()
    assert stats.rebuild(check=True) == []
