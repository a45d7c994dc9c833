"""The demo's cases: the demo worker's story and figures that agree with a rebuild."""

from __future__ import annotations

import io

from django.contrib.auth import get_user_model
from django.core.management import call_command

from gonghui.cases.models import Case, CaseStatus, EventKind, HardshipFile
from gonghui.orgs.models import OrgKind
from gonghui.stats import services as stats


def test_the_demo_tells_the_worker_story_and_its_figures_agree(db):
    call_command("demo", "--scale", "tiny", stdout=io.StringIO())
    users = {u.username: u for u in get_user_model().objects.all()}
    mine = list(Case.objects.filter(member__user=users["zhigong"]).order_by("filed_at"))
    assert [(c.category, c.status) for c in mine] == [
        ("wages", CaseStatus.CLOSED),
        ("hours", CaseStatus.NEW),
    ]
    claim = mine[0]
    assert claim.conceal_from_employer_union
    assert claim.handling_org.kind == OrgKind.COUNTY
    assert (claim.rating, claim.money_recovered, claim.handler) == (5, 48000, users["weiquan"])
    # The county's case handler sees it; the worker's own union (jiceng) does not.
    assert Case.objects.restrict(users["weiquan"]).filter(pk=claim.pk).exists()
    assert not Case.objects.restrict(users["jiceng"]).filter(pk=claim.pk).exists()
    assert Case.objects.restrict(users["jiceng"]).filter(pk=mine[1].pk).exists()
    assert Case.objects.count() > 10
    assert Case.objects.filter(events__kind=EventKind.ESCALATED).exists()
    assert HardshipFile.objects.get().aid.count() == 2
    stats.fold_pending()
    assert stats.rebuild(check=True) == []
