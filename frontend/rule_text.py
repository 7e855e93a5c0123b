"""Rules in words: operator labels and one-line summaries of condition trees for
the rules pages, and the field registry shaped for the visual rule builder."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from decisioning.rules import FIELDS, OPERATORS

OP_LABELS: dict[str, str] = {
    "eq": "is",
    "ne": "is not",
    "lt": "is less than",
    "lte": "is at most",
    "gt": "is more than",
    "gte": "is at least",
    "between": "is between",
    "in": "is one of",
    "not_in": "is none of",
    "exists": "is known",
    "before": "is before",
    "after": "is after",
    "within_last_days": "is within the last",
    "more_than_days_ago": "is more than",
    "contains": "includes",
    "not_contains": "does not include",
    "contains_any": "includes any of",
}

SOURCE_LABELS: dict[str, str] = {
    "customer": "Customer",
    "holdings": "Products held",
    "segments": "Segments",
    "context": "Request context",
    "feature": "Features (as the models see them)",
}

MAX_SUMMARY = 400


def builder_fields() -> list[dict[str, Any]]:
    """Every rule field, grouped by source in ``SOURCE_LABELS`` order, as plain JSON."""
    order = {source: i for i, source in enumerate(SOURCE_LABELS)}
    specs = sorted(FIELDS.values(), key=lambda f: (order.get(f.source, len(order)), f.source))
    return [
        {
            "name": f.name,
            "type": str(f.type),
            "description": f.description,
            "source": f.source,
            "choices": list(f.choices),
        }
        for f in specs
    ]


def builder_operators() -> dict[str, dict[str, str]]:
    """Operators by field type, with the shape of value each takes."""
    return {str(kind): dict(ops) for kind, ops in OPERATORS.items()}


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"“{value}”"
    return str(value)


def _condition_text(node: Mapping[str, Any]) -> str:
    field, op = str(node.get("field", "?")), str(node.get("op", "?"))
    label = OP_LABELS.get(op, op)
    if op == "exists" or "value" not in node:
        return f"{field} {label}"
    value = node["value"]
    if op == "between" and isinstance(value, list) and len(value) == 2:
        return f"{field} {label} {_value_text(value[0])} and {_value_text(value[1])}"
    if op == "within_last_days":
        return f"{field} {label} {value} days"
    if op == "more_than_days_ago":
        return f"{field} {label} {value} days ago"
    if isinstance(value, list):
        return f"{field} {label} {', '.join(_value_text(v) for v in value)}"
    return f"{field} {label} {_value_text(value)}"


def _text(node: Any, top: bool) -> str:
    if not isinstance(node, Mapping):
        return "?"
    for key, joiner in (("all", " and "), ("any", " or ")):
        if key in node and isinstance(node[key], list):
            parts = [_text(child, False) for child in node[key]]
            joined = joiner.join(parts) if parts else "(nothing)"
            return joined if top or len(parts) < 2 else f"({joined})"
    if "not" in node:
        return f"not {_text(node['not'], False)}"  # "not" binds tightest: no brackets needed around it
    return _condition_text(node)


def tree_summary(tree: Any) -> str:
    """A condition tree in one line: ``customer.age is at least 21 and not (...)``."""
    text = _text(tree, True)
    return text if len(text) <= MAX_SUMMARY else text[: MAX_SUMMARY - 1] + "…"
