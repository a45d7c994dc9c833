"""Figures of news, kept by the roll-up engine:

- ``news.published`` (and ``news.published.<channel code>``): articles published, at the
  union whose site carries them, on the day published; a withdrawal takes it back;
- ``news.recommended``: articles a union recommended to the union above, on that day;
- ``news.accepted``: of those, published by the union above (counted at the union that
  recommended them, on the day the copy was published).
"""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Iterable

from django.db.models import CharField, Count, F, QuerySet, Value
from django.db.models.functions import Concat
from django.utils.translation import gettext_lazy as _

from gonghui.news.models import Article, ArticleStatus
from gonghui.stats.registry import Metric, register_metric, register_sum_source

PUBLISHED = "news.published"
RECOMMENDED = "news.recommended"
ACCEPTED = "news.accepted"


def channel_metric(code: str) -> str:
    return f"{PUBLISHED}.{code}"


def register() -> None:
    group = _("Publicity")
    register_metric(Metric(PUBLISHED, _("Articles published"), group, order=120))
    register_metric(
        Metric(RECOMMENDED, _("Articles recommended upward"), group, headline=False, order=121)
    )
    register_metric(
        Metric(
            ACCEPTED,
            _("Recommended articles published above"),
            group,
            coverage_of=RECOMMENDED,
            headline=False,
            order=122,
        )
    )
    register_sum_source(sum_sources)


def published_counts(article: Article, sign: int) -> Counter[tuple[int, str, datetime.date]]:
    """The figures a published article adds (sign +1) or takes back (-1)."""
    day = article.published_on
    assert day is not None
    counts: Counter[tuple[int, str, datetime.date]] = Counter()
    counts[(article.org_id, PUBLISHED, day)] += sign
    counts[(article.org_id, channel_metric(article.channel.code), day)] += sign
    if article.origin_id is not None:
        origin_org = (
            Article.objects.filter(pk=article.origin_id).values_list("org_id", flat=True).first()
        )
        if origin_org is not None:
            counts[(origin_org, ACCEPTED, day)] += sign
    return counts


def sum_sources() -> Iterable[tuple[str | None, QuerySet]]:
    published = Article.objects.filter(status=ArticleStatus.PUBLISHED)
    yield (
        PUBLISHED,
        published.values(r_org=F("org_id"), r_day=F("published_on")).annotate(r_value=Count("id")),
    )
    yield (
        None,
        published.values(
            r_org=F("org_id"),
            r_metric=Concat(Value(f"{PUBLISHED}."), F("channel__code"), output_field=CharField()),
            r_day=F("published_on"),
        ).annotate(r_value=Count("id")),
    )
    copies = Article.objects.filter(origin__isnull=False)
    yield (
        RECOMMENDED,
        copies.values(r_org=F("origin__org_id"), r_day=F("recommended_on")).annotate(
            r_value=Count("id")
        ),
    )
    yield (
        ACCEPTED,
        copies.filter(status=ArticleStatus.PUBLISHED)
        .values(r_org=F("origin__org_id"), r_day=F("published_on"))
        .annotate(r_value=Count("id")),
    )
