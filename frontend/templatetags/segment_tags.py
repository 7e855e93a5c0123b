"""Template filters of the segment explorer."""

from __future__ import annotations

from django import template

register = template.Library()

# A standardised difference this large fills its half of the profile bar.
BAR_FULL_Z = 2.0


@register.filter
def percent(value: float | None) -> str:
    """A share (0 to 1) as a percentage people read at a glance: 12.3%, 0.4%."""
    if value is None:
        return "—"
    return f"{value * 100:.1f}%"


@register.filter
def signed(value: float | None) -> str:
    """A standardised difference with its sign: +1.20, -0.45."""
    if value is None:
        return "—"
    return f"{value:+.2f}"


@register.filter
def bar_width(value: float | None) -> str:
    """Width, in % of the whole bar, of a standardised difference drawn from the
    bar's middle: at most half of it."""
    if value is None:
        return "0"
    return f"{min(abs(value) / BAR_FULL_Z, 1.0) * 50:.0f}"


@register.filter
def profile_value(value: float | None, unit: str = "") -> str:
    """A profile figure in its unit: shares as %, money without cents, counts to one decimal."""
    if value is None:
        return "—"
    if unit == "share":
        return f"{value * 100:.1f}%"
    if unit == "money":
        return f"{value:,.0f}"
    if unit in ("count", "score", "months"):
        return f"{value:,.1f}"
    return f"{value:,.2f}"


@register.filter
def criterion(value: str) -> str:
    """How k was chosen, as people write it: BIC, silhouette."""
    return {"bic": "BIC"}.get(value, value)
