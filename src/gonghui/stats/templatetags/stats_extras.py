from django import template

from gonghui.stats.selectors import stored_name

register = template.Library()


@register.filter
def figure(values: dict, metric) -> int:
    return values.get(stored_name(metric), 0)


@register.filter
def ratio(ratios: dict, metric) -> str:
    value = ratios.get(metric.code)
    return "—" if value is None else f"{value * 100:.1f}%"
