"""Figures through the API: the same selectors as the dashboard, scoped the same way."""

import datetime

from django.http import HttpRequest
from ninja import Field, Router, Schema

from gonghui.orgs.models import Org
from gonghui.orgs.scoping import Perm, get_in_scope_or_404
from gonghui.stats import selectors

router = Router(tags=["stats"])


class MetricOut(Schema):
    code: str
    label: str
    group: str
    distinct: bool = Field(description="Counts distinct people, e.g. members reached")
    headline: bool
    coverage_of: str = Field(description="Metric this one is a share of, if any")


class FiguresOut(Schema):
    org_id: int
    org_name: str
    kind: str
    values: dict[str, int] = Field(description="Subtree totals by metric (distinct: all time)")
    coverage: dict[str, float | None] = Field(description="Share of the coverage_of metric")


class FreshnessOut(Schema):
    folded_at: datetime.datetime | None = Field(description="When the worker last folded")
    pending: int = Field(description="Changes not yet folded (10001: more than 10,000)")
    live: bool = Field(
        description="true: the figures add the pending changes (exact at this moment); "
        "false (a long queue, during a burst): the folded totals, exact as of folded_at"
    )


class OrgFiguresOut(FiguresOut):
    freshness: FreshnessOut


class TrendPointOut(Schema):
    day: datetime.date
    change: int
    total: int


def _org(request: HttpRequest, org_id: int) -> Org:
    return get_in_scope_or_404(Org.objects.all(), request.user, Perm.ORG_VIEW, pk=org_id)


def _shown(codes: str) -> list:
    wanted = {c for c in codes.split(",") if c}
    shown = selectors.metrics(headline_only=not wanted)
    return [m for m in shown if not wanted or m.code in wanted] if wanted else shown


def _figures(row) -> dict:
    return {
        "org_id": row.org.pk,
        "org_name": row.org.name,
        "kind": row.org.kind,
        "values": row.values,
        "coverage": row.ratios,
    }


@router.get("/metrics", response=list[MetricOut], summary="Every figure there is")
def metric_list(request: HttpRequest):
    return [
        {
            "code": m.code,
            "label": str(m.label),
            "group": str(m.group),
            "distinct": m.distinct,
            "headline": m.headline,
            "coverage_of": m.coverage_of,
        }
        for m in selectors.metrics()
    ]


@router.get("/orgs/{org_id}", response=OrgFiguresOut, summary="Figures of an org's subtree")
def org_figures(request: HttpRequest, org_id: int, metrics: str = ""):
    org = _org(request, org_id)
    fresh = selectors.freshness()
    return {
        **_figures(selectors.headline(org, _shown(metrics), live=fresh.live)),
        "freshness": {"folded_at": fresh.folded_at, "pending": fresh.pending, "live": fresh.live},
    }


@router.get(
    "/orgs/{org_id}/children",
    response=list[FiguresOut],
    summary="The same figures for each child's subtree, sorted",
)
def children_figures(
    request: HttpRequest, org_id: int, metrics: str = "", sort: str = "", descending: bool = True
):
    org = _org(request, org_id)
    rows = selectors.children_rows(
        org, request.user, _shown(metrics), sort=sort or None, descending=descending
    )
    return [_figures(r) for r in rows]


@router.get("/orgs/{org_id}/trend", response=list[TrendPointOut], summary="Daily trend")
def trend(request: HttpRequest, org_id: int, metric: str = "members", days: int = 90):
    org = _org(request, org_id)
    found = next((m for m in selectors.metrics() if m.code == metric), None)
    if found is None:
        from django.core.exceptions import ValidationError

        raise ValidationError(f"Unknown metric {metric}", code="unknown_metric")
    points = selectors.trend(org, found, days=min(max(days, 1), 731))
    return [{"day": d, "change": c, "total": t} for d, c, t in points]
