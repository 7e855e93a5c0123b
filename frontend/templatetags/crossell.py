"""Template filters of the web UI."""

from __future__ import annotations

import json

from django import template

register = template.Library()


@register.filter
def seconds(value: float | None) -> str:
    """A duration people read at a glance: 0.4 s, 42 s, 3 min 5 s, 2 h 10 min."""
    if value is None:
        return "—"
    if value < 10:
        return f"{value:.1f} s"
    total = round(value)
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


@register.filter
def as_json(value: object) -> str:
    """A stored JSON value as JSON (not Python's repr), keys sorted, for the audit trail."""
    if value is None:
        return ""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
