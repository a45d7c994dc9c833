"""The dashboard of any org the user may see: its subtree, its children, rankings, trends."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from gonghui.audit.models import AuditAction
from gonghui.audit.services import record
from gonghui.core.xlsx import xlsx_response
from gonghui.orgs import selectors as org_selectors
from gonghui.orgs.models import Org
from gonghui.orgs.scoping import Perm, get_in_scope_or_404
from gonghui.stats import selectors
from gonghui.stats.exports import children_sheet

TREND_CHOICES = (30, 90, 365)


def _params(request: HttpRequest) -> dict:
    shown = selectors.metrics(headline_only=True)
    codes = {m.code for m in shown}
    every = selectors.metrics()
    focus = request.GET.get("metric")
    focus_metric = next((m for m in every if m.code == focus), shown[0] if shown else None)
    sort = request.GET.get("sort") or (focus_metric.code if focus_metric else None)
    if sort and sort.removesuffix(":ratio") not in codes:
        sort = focus_metric.code if focus_metric else None
    days = int(request.GET["days"]) if request.GET.get("days", "").isdigit() else 90
    return {
        "shown": shown,
        "every": every,
        "focus": focus_metric,
        "sort": sort,
        "descending": request.GET.get("dir", "desc") != "asc",
        "days": days if days in TREND_CHOICES else 90,
    }


@login_required
def dashboard(request: HttpRequest, org_id: int) -> HttpResponse:
    org = get_in_scope_or_404(Org.objects.all(), request.user, Perm.ORG_VIEW, pk=org_id)
    p = _params(request)
    board = selectors.dashboard(
        org, request.user, p["shown"], sort=p["sort"], descending=p["descending"]
    )
    fresh, rows = board.freshness, board.rows
    focus = p["focus"]
    chart = {}
    if focus is not None:
        name = selectors.stored_name(focus)
        focus_values = (
            {r.org.pk: r.values for r in rows}
            if all(name in r.values for r in rows)
            else selectors.figures_of([r.org for r in rows], [name], live=fresh.live)
        )
        ranked = sorted(rows, key=lambda r: focus_values[r.org.pk][name], reverse=True)[:15]
        points = selectors.trend(org, focus, days=p["days"])
        chart = {
            "metric": str(focus.label),
            "ranking": {
                "names": [r.org.name for r in ranked][::-1],
                "values": [focus_values[r.org.pk][name] for r in ranked][::-1],
            },
            "trend": {
                "days": [d.isoformat() for d, _c, _t in points],
                "changes": [c for _d, c, _t in points],
                "totals": [t for _d, _c, t in points],
            },
        }
    context = {
        "org": org,
        "trail": org_selectors.breadcrumb(org),
        "headline": board.headline,
        "rows": rows,
        "freshness": fresh,
        "chart": chart,
        "trend_choices": TREND_CHOICES,
        **p,
    }
    return render(request, "stats/dashboard.html", context)


@login_required
def dashboard_export(request: HttpRequest, org_id: int) -> HttpResponse:
    org = get_in_scope_or_404(Org.objects.all(), request.user, Perm.ORG_VIEW, pk=org_id)
    p = _params(request)
    rows = selectors.children_rows(
        org, request.user, p["shown"], sort=p["sort"], descending=p["descending"]
    )
    record(actor=request.user, action=AuditAction.EXPORT, target=org, org=org, summary="dashboard")
    return xlsx_response(
        children_sheet(org, selectors.headline(org, p["shown"]), rows, p["shown"]),
        f"figures-{org.code}.xlsx",
    )
