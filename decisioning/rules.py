"""Business rules as data: JSON condition trees, validated on save and compiled to
plain Python closures.

A tree is ``{"all": [...]}``, ``{"any": [...]}``, ``{"not": node}`` or a leaf
``{"field": name, "op": operator, "value": ...}``. The field registry below is
the only path from a name a person typed to a value: fields are looked up in
``FIELDS`` (customer attributes, model- and rules-usable features, products held,
segments, request context), operators in ``OPERATORS`` by the field's type. No
``eval``, ``exec``, ``compile`` or ``getattr`` on user text, ever.

Validation names the failing node by JSON pointer (``/all/2/op``) and refuses
unknown fields or operators, type mismatches, trees deeper than
``MAX_RULE_DEPTH`` or larger than ``MAX_RULE_CONDITIONS`` nodes, oversized or
non-finite numbers, and values that look like code. Protected attributes
(fairness-only features) are not fields: no rule can target them.

Evaluation takes a plain ``RuleContext`` (values by field name, and ``now``) and
returns the outcome; with a trace list it also records every evaluated node's
outcome, so a decision can say which condition passed or failed.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from modeling.feature_catalogue import CATALOGUE, Kind, Use

MAX_RULE_DEPTH = 10
MAX_RULE_CONDITIONS = 200
MAX_RULE_BYTES = 64_000
MAX_TEXT = 200
MAX_LIST = 100
MAX_ABS_NUMBER = 1e15
# Text values that look like code are refused: they would never run, but a rule
# carrying them is a mistake or a probe, and the person saving it should hear so.
_CODE_LIKE = re.compile(r"__|\blambda\b|\bimport\b|\beval\b|\bexec\b|[(){};`]")


class FieldType(StrEnum):
    NUMBER = "number"
    BOOLEAN = "boolean"
    TEXT = "text"
    DATE = "date"
    SET = "set"  # a set of codes: products held, segments


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: FieldType
    description: str
    source: str  # customer, feature, holdings, segments, context
    choices: tuple[str, ...] = ()


# Operators by field type, each with the shape of value it takes.
OPERATORS: dict[FieldType, dict[str, str]] = {
    FieldType.NUMBER: {
        "eq": "scalar",
        "ne": "scalar",
        "lt": "scalar",
        "lte": "scalar",
        "gt": "scalar",
        "gte": "scalar",
        "between": "pair",
        "in": "list",
        "not_in": "list",
        "exists": "none",
    },
    FieldType.BOOLEAN: {"eq": "scalar", "ne": "scalar", "exists": "none"},
    FieldType.TEXT: {"eq": "scalar", "ne": "scalar", "in": "list", "not_in": "list", "exists": "none"},
    FieldType.DATE: {
        "before": "scalar",
        "after": "scalar",
        "between": "pair",
        "within_last_days": "days",
        "more_than_days_ago": "days",
        "exists": "none",
    },
    FieldType.SET: {"contains": "scalar", "not_contains": "scalar", "contains_any": "list", "exists": "none"},
}


def _customer_fields() -> list[FieldSpec]:
    return [
        FieldSpec("customer.age", FieldType.NUMBER, "Age in whole years today.", "customer"),
        FieldSpec("customer.customer_since", FieldType.DATE, "Date the customer joined the bank.", "customer"),
        FieldSpec("customer.kyc_status", FieldType.TEXT, "KYC status.", "customer"),
        FieldSpec("customer.risk_rating", FieldType.TEXT, "Risk rating.", "customer"),
        FieldSpec("customer.region", FieldType.TEXT, "Region.", "customer"),
        FieldSpec("customer.employment_type", FieldType.TEXT, "Employment type.", "customer"),
        FieldSpec("customer.vulnerable", FieldType.BOOLEAN, "Flagged as a vulnerable customer.", "customer"),
        FieldSpec("holdings.products", FieldType.SET, "Codes of the products the customer holds.", "holdings"),
        FieldSpec("holdings.families", FieldType.SET, "Product families the customer holds.", "holdings"),
        FieldSpec("segments", FieldType.SET, "Codes of the customer's current segments.", "segments"),
        FieldSpec("context.channel", FieldType.TEXT, "Channel of the request.", "context"),
        FieldSpec("context.page", FieldType.TEXT, "Page or placement the request is for.", "context"),
        FieldSpec("context.reason", FieldType.TEXT, "Reason for the contact (call-centre).", "context"),
    ]


_KIND_TYPES = {Kind.NUMERIC: FieldType.NUMBER, Kind.BOOLEAN: FieldType.BOOLEAN, Kind.CATEGORICAL: FieldType.TEXT}


def _feature_fields() -> list[FieldSpec]:
    out = []
    for feature in CATALOGUE:
        # Protected attributes are for fairness tests only: never a rule's target.
        if feature.template or feature.use is Use.FAIRNESS_ONLY:
            continue
        out.append(
            FieldSpec(
                f"feature.{feature.name}",
                _KIND_TYPES[feature.kind],
                feature.description,
                "feature",
                tuple(feature.categories),
            )
        )
    return out


FIELDS: dict[str, FieldSpec] = {f.name: f for f in (*_customer_fields(), *_feature_fields())}


class RuleValidationError(ValueError):
    """A tree that cannot be saved; ``errors`` lists (JSON pointer, message) pairs."""

    def __init__(self, errors: Sequence[tuple[str, str]]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(f"{path or '/'}: {message}" for path, message in self.errors))


@dataclass(frozen=True)
class RuleContext:
    """What a rule may read: values by field name (missing = unknown) and the clock."""

    values: Mapping[str, Any]
    now: dt.datetime

    @property
    def today(self) -> dt.date:
        return self.now.date()


TraceEntry = tuple[str, bool]
Evaluator = Callable[[RuleContext, list[TraceEntry] | None], bool]


@dataclass(frozen=True)
class CompiledRule:
    tree: Mapping[str, Any]
    evaluate_fn: Evaluator
    fields: frozenset[str] = field(default_factory=frozenset)

    def evaluate(self, context: RuleContext, trace: list[TraceEntry] | None = None) -> bool:
        return self.evaluate_fn(context, trace)


# --- validation -----------------------------------------------------------------------------------------------------


def json_pointer(path: str, key: str | int) -> str:
    """The JSON pointer of ``key`` under ``path`` (RFC 6901 escaping)."""
    return f"{path}/{str(key).replace('~', '~0').replace('/', '~1')}"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_scalar(spec: FieldSpec, value: Any, path: str, errors: list[tuple[str, str]]) -> None:
    kind = spec.type
    if kind is FieldType.NUMBER:
        if not _is_number(value):
            errors.append((path, f"{spec.name} is a number; got {type(value).__name__}"))
        elif not math.isfinite(value) or abs(value) > MAX_ABS_NUMBER:
            errors.append((path, f"numbers must be finite and at most {MAX_ABS_NUMBER:g} in size"))
    elif kind is FieldType.BOOLEAN:
        if not isinstance(value, bool):
            errors.append((path, f"{spec.name} is true or false; got {type(value).__name__}"))
    elif kind is FieldType.DATE:
        if not isinstance(value, str):
            errors.append((path, f"{spec.name} is a date (YYYY-MM-DD); got {type(value).__name__}"))
        else:
            try:
                dt.date.fromisoformat(value)
            except ValueError:
                errors.append((path, f"{value[:40]!r} is not a date (YYYY-MM-DD)"))
    else:  # text, and the code in a set
        if not isinstance(value, str):
            errors.append((path, f"{spec.name} takes text; got {type(value).__name__}"))
        elif len(value) > MAX_TEXT:
            errors.append((path, f"text longer than {MAX_TEXT} characters"))
        elif _CODE_LIKE.search(value):
            errors.append((path, "looks like code, which rules never run: use plain values"))
        elif spec.choices and value not in spec.choices:
            errors.append((path, f"{value!r} is not one of {', '.join(spec.choices)}"))


def _check_value(spec: FieldSpec, op: str, node: Mapping[str, Any], path: str, errors: list[tuple[str, str]]) -> None:
    shape = OPERATORS[spec.type][op]
    here = json_pointer(path, "value")
    if shape == "none":
        if "value" in node:
            errors.append((here, f"'{op}' takes no value"))
        return
    if "value" not in node:
        errors.append((here, f"'{op}' needs a value"))
        return
    value = node["value"]
    if shape == "scalar":
        _check_scalar(spec, value, here, errors)
    elif shape == "days":
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 36_500:
            errors.append((here, "a whole number of days between 0 and 36500"))
    elif shape in ("pair", "list"):
        if not isinstance(value, list):
            errors.append((here, f"'{op}' takes a list"))
            return
        if shape == "pair" and len(value) != 2:
            errors.append((here, f"'{op}' takes two values, lowest first"))
            return
        if shape == "list" and not 1 <= len(value) <= MAX_LIST:
            errors.append((here, f"'{op}' takes 1 to {MAX_LIST} values"))
            return
        before = len(errors)
        for i, item in enumerate(value):
            _check_scalar(spec, item, json_pointer(here, i), errors)
        if shape == "pair" and len(errors) == before and value[0] > value[1]:
            errors.append((here, "the lower bound comes first"))


def _validate(node: Any, path: str, depth: int, counter: list[int], errors: list[tuple[str, str]]) -> None:
    counter[0] += 1
    if counter[0] > MAX_RULE_CONDITIONS:
        if counter[0] == MAX_RULE_CONDITIONS + 1:
            errors.append((path, f"a rule has at most {MAX_RULE_CONDITIONS} conditions and groups"))
        return
    if depth > MAX_RULE_DEPTH:
        errors.append((path, f"a rule nests at most {MAX_RULE_DEPTH} levels deep"))
        return
    if not isinstance(node, dict):
        errors.append((path, "each node is an object: all, any, not, or a condition"))
        return
    groups = [k for k in ("all", "any", "not") if k in node]
    if groups:
        if len(node) != 1:
            extra = sorted(k for k in node if k != groups[0])
            errors.append((path, f"a group has one key; unexpected {', '.join(map(str, extra))}"))
            return
        key = groups[0]
        here = json_pointer(path, key)
        if key == "not":
            _validate(node["not"], here, depth + 1, counter, errors)
            return
        children = node[key]
        if not isinstance(children, list) or not children:
            errors.append((here, f"'{key}' takes a non-empty list of conditions"))
            return
        for i, child in enumerate(children):
            _validate(child, json_pointer(here, i), depth + 1, counter, errors)
        return
    unknown = sorted(str(k) for k in node if k not in ("field", "op", "value"))
    if unknown:
        errors.append((json_pointer(path, unknown[0]), f"unknown key {unknown[0]!r}: a condition has field, op, value"))
        return
    name = node.get("field")
    if not isinstance(name, str) or name not in FIELDS:
        shown = repr(name)[:60]
        errors.append((json_pointer(path, "field"), f"unknown field {shown}"))
        return
    spec = FIELDS[name]
    op = node.get("op")
    if not isinstance(op, str) or op not in OPERATORS[spec.type]:
        allowed = ", ".join(OPERATORS[spec.type])
        errors.append((json_pointer(path, "op"), f"{repr(op)[:40]} is not an operator for {name} ({allowed})"))
        return
    _check_value(spec, op, node, path, errors)


def rule_validate(tree: Any) -> None:
    """Raise RuleValidationError naming every failing node; return if the tree is sound."""
    try:
        size = len(json.dumps(tree, allow_nan=False))
    except (TypeError, ValueError):
        raise RuleValidationError([("", "a rule is plain JSON: objects, lists, text, finite numbers")]) from None
    if size > MAX_RULE_BYTES:
        raise RuleValidationError([("", f"a rule is at most {MAX_RULE_BYTES} bytes of JSON; this one is {size}")])
    errors: list[tuple[str, str]] = []
    _validate(tree, "", 1, [0], errors)
    if errors:
        raise RuleValidationError(errors)


# --- compilation ----------------------------------------------------------------------------------------------------


def _as_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _leaf(spec: FieldSpec, op: str, raw: Any) -> Callable[[RuleContext], bool]:
    """One condition as a closure. An unknown (missing) value fails every test but
    ``exists``, and never raises: rules decide on what is known."""
    name = spec.name
    if op == "exists":
        return lambda ctx: ctx.values.get(name) is not None
    kind = spec.type
    if kind is FieldType.DATE:
        if op in ("within_last_days", "more_than_days_ago"):
            days = dt.timedelta(days=int(raw))
            if op == "within_last_days":
                return lambda ctx: (d := _as_date(ctx.values.get(name))) is not None and d >= ctx.today - days
            return lambda ctx: (d := _as_date(ctx.values.get(name))) is not None and d < ctx.today - days
        bounds = [dt.date.fromisoformat(v) for v in (raw if isinstance(raw, list) else [raw])]
        if op == "before":
            return lambda ctx: (d := _as_date(ctx.values.get(name))) is not None and d < bounds[0]
        if op == "after":
            return lambda ctx: (d := _as_date(ctx.values.get(name))) is not None and d > bounds[0]
        low, high = bounds
        return lambda ctx: (d := _as_date(ctx.values.get(name))) is not None and low <= d <= high
    if kind is FieldType.SET:
        if op == "contains_any":
            wanted = frozenset(raw)
            return lambda ctx: bool(wanted & frozenset(ctx.values.get(name) or ()))
        code = raw
        if op == "contains":
            return lambda ctx: code in (ctx.values.get(name) or ())
        return lambda ctx: ctx.values.get(name) is not None and code not in ctx.values.get(name)
    if op in ("in", "not_in"):
        members = frozenset(raw)
        if op == "in":
            return lambda ctx: (v := ctx.values.get(name)) is not None and v in members
        return lambda ctx: (v := ctx.values.get(name)) is not None and v not in members
    if op == "between":
        low, high = raw
        return lambda ctx: _is_number(v := ctx.values.get(name)) and low <= v <= high
    compare: dict[str, Callable[[Any, Any], bool]] = {
        "eq": lambda a, b: a == b,
        "ne": lambda a, b: a != b,
        "lt": lambda a, b: a < b,
        "lte": lambda a, b: a <= b,
        "gt": lambda a, b: a > b,
        "gte": lambda a, b: a >= b,
    }
    test = compare[op]
    if kind is FieldType.NUMBER:
        return lambda ctx: _is_number(v := ctx.values.get(name)) and test(v, raw)
    if kind is FieldType.BOOLEAN:
        return lambda ctx: isinstance(v := ctx.values.get(name), bool | int) and test(bool(v), raw)
    return lambda ctx: (v := ctx.values.get(name)) is not None and test(str(v), raw)


def _compile(node: Mapping[str, Any], path: str, fields: set[str]) -> Evaluator:
    if "all" in node or "any" in node:
        key = "all" if "all" in node else "any"
        children = [
            _compile(child, json_pointer(json_pointer(path, key), i), fields) for i, child in enumerate(node[key])
        ]
        where = path or "/"
        if key == "all":

            def every(ctx: RuleContext, trace: list[TraceEntry] | None) -> bool:
                result = all(child(ctx, trace) for child in children)
                if trace is not None:
                    trace.append((where, result))
                return result

            return every

        def some(ctx: RuleContext, trace: list[TraceEntry] | None) -> bool:
            result = any(child(ctx, trace) for child in children)
            if trace is not None:
                trace.append((where, result))
            return result

        return some
    if "not" in node:
        inner = _compile(node["not"], json_pointer(path, "not"), fields)
        where = path or "/"

        def negation(ctx: RuleContext, trace: list[TraceEntry] | None) -> bool:
            result = not inner(ctx, trace)
            if trace is not None:
                trace.append((where, result))
            return result

        return negation
    spec = FIELDS[node["field"]]
    fields.add(spec.name)
    test = _leaf(spec, node["op"], node.get("value"))
    where = path or "/"

    def condition(ctx: RuleContext, trace: list[TraceEntry] | None) -> bool:
        result = bool(test(ctx))
        if trace is not None:
            trace.append((where, result))
        return result

    return condition


def rule_compile(tree: Mapping[str, Any]) -> CompiledRule:
    """Validate, then compile a tree to closures over the registry's accessors."""
    rule_validate(tree)
    fields: set[str] = set()
    evaluator = _compile(tree, "", fields)
    return CompiledRule(tree=tree, evaluate_fn=evaluator, fields=frozenset(fields))
