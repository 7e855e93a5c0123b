"""Number formats of the performance pages: rates as percentages, differences of
rates in percentage points."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def pct(value: float | None) -> str:
    """0.1234 -> "12.3%"; nothing -> ""."""
    if value is None or value == "":
        return ""
    return f"{float(value) * 100:.1f}%"


@register.filter
def pp(value: float | None) -> str:
    """A difference of two rates: 0.05 -> "+5.0 pp"."""
    if value is None or value == "":
        return ""
    return f"{float(value) * 100:+.1f} pp"
