"""Template helpers of the case pages, and the case links other apps' pages show."""

from typing import Any

from django import template
from django.utils.translation import pgettext_lazy

from gonghui.cases import selectors
from gonghui.cases.models import EventKind

register = template.Library()

# Steps whose plain labels other pages already translate otherwise (a report "accepted",
# a notice "closed"): on a case's timeline they read as 受理 and 办结.
EVENT_LABELS = {
    EventKind.ACCEPTED: pgettext_lazy("case event", "Accepted"),
    EventKind.CLOSED: pgettext_lazy("case event", "Closed"),
}


@register.filter
def event_label(event: Any) -> str:
    return EVENT_LABELS.get(event.kind) or event.get_kind_display()


@register.simple_tag
def handles_cases_at(user: Any, org: Any) -> bool:
    """Whether `user` works the cases of `org` (the union page links to its queue)."""
    return selectors.handles_cases_at(user, org)


@register.filter
def stars(rating: Any) -> str:
    """4 -> ★★★★☆"""
    try:
        n = max(0, min(5, int(rating)))
    except (TypeError, ValueError):
        return ""
    return "★" * n + "☆" * (5 - n)


@register.filter
def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


@register.filter
def fig(figures: Any, name: str) -> int:
    """One figure of a CaseFigures by its metric name: {{ total|fig:"cases.filed" }}."""
    return figures.get(name)
