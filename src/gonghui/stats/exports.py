from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.utils.translation import gettext as _

from gonghui.core.xlsx import Sheet
from gonghui.orgs.models import Org
from gonghui.stats.registry import Metric
from gonghui.stats.selectors import Row, stored_name


def children_sheet(org: Org, total: Row, rows: list[Row], shown: list[Metric]) -> Sheet:
    """The dashboard's children table as a sheet, with the subtree's own total last."""
    headers: list[Any] = [_("Union"), _("Code")]
    for metric in shown:
        headers.append(metric.label)
        if metric.coverage_of:
            headers.append(_("%(metric)s (coverage)") % {"metric": metric.label})

    def line(row: Row, name: str) -> list[Any]:
        cells: list[Any] = [name, row.org.code]
        for metric in shown:
            cells.append(row.values.get(stored_name(metric), 0))
            if metric.coverage_of:
                ratio = row.ratios.get(metric.code)
                cells.append(round(ratio, 4) if ratio is not None else "")
        return cells

    def lines() -> Iterator[list[Any]]:
        for row in rows:
            yield line(row, row.org.name)
        yield line(total, _("%(org)s (whole subtree)") % {"org": org.name})

    return Sheet(title=_("Figures"), headers=headers, rows=lines())
