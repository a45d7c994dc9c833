"""Figures of pledges (我为职工办实事), kept by the roll-up engine.

Global figures, for every org and period, at the pledge's own union:

- ``pledges.published``: pledges published, on the day published; a cancelled pledge
  withdraws it (cancelling means the promise no longer stands);
- ``pledges.completed``: pledges completed (办结), on the completion day;
- ``pledges.completed_on_time``: of those, completed on or before the deadline, with
  coverage over ``pledges.completed`` (按期办结率).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Count, F, QuerySet
from django.utils.translation import gettext_lazy as _

from gonghui.pledges.models import PUBLIC_STATUSES, Pledge, PledgeStatus
from gonghui.stats.registry import Metric, register_metric, register_sum_source

PUBLISHED = "pledges.published"
COMPLETED = "pledges.completed"
COMPLETED_ON_TIME = "pledges.completed_on_time"


def register() -> None:
    group = _("Practical things for workers")
    register_metric(
        Metric(
            PUBLISHED,
            _("Pledges published"),
            group,
            _("Practical things promised to workers publicly (cancelled ones withdrawn)"),
            order=80,
        )
    )
    register_metric(
        Metric(
            COMPLETED,
            _("Pledges completed"),
            group,
            _("Practical things done and closed (办结)"),
            order=81,
        )
    )
    register_metric(
        Metric(
            COMPLETED_ON_TIME,
            _("Pledges completed on time"),
            group,
            _("Completed on or before the deadline; the rate is of those completed"),
            coverage_of=COMPLETED,
            order=82,
        )
    )
    register_sum_source(sum_sources)


def sum_sources() -> Iterable[tuple[str | None, QuerySet]]:
    public = Pledge.objects.filter(status__in=PUBLIC_STATUSES)
    yield (
        PUBLISHED,
        public.values(r_org=F("org_id"), r_day=F("published_on")).annotate(r_value=Count("id")),
    )
    completed = Pledge.objects.filter(status=PledgeStatus.COMPLETED)
    yield (
        COMPLETED,
        completed.values(r_org=F("org_id"), r_day=F("completed_on")).annotate(r_value=Count("id")),
    )
    yield (
        COMPLETED_ON_TIME,
        completed.filter(completed_on__lte=F("deadline"))
        .values(r_org=F("org_id"), r_day=F("completed_on"))
        .annotate(r_value=Count("id")),
    )
