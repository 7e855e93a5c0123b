"""Event triggers as data, compiled into small durable-rules rulesets.

A definition is JSON a business user builds in the UI: a leaf
``{"kind": "salary_up" | "page_views" | "large_deposit", ...parameters}`` or a
group ``{"all": [...]}`` / ``{"any": [...]}`` of them (see docs/campaigns.md,
"Triggers"). ``trigger_validate`` refuses anything else, naming the bad node by
JSON pointer (``/any/1/days``), and returns the definition with its defaults
filled in, which is what gets stored.

Compiling turns each leaf into one measure (a number computed from the
database) and the tree into one durable-rules rule over those measures:
``{"$or": [{"$gt": {"m0": 20}}, {"$gte": {"m1": 3}}]}``. Nothing a person typed
is ever run: kinds and parameters pick fixed queries and fixed comparisons.

Why the shape is what it is (STYLE.md section 12):

- Time windows ("3 views in 7 days") are computed here from the customer's
  transactions and interactions and fed in as one fact, so any worker can
  evaluate any customer; the engine keeps no memory between evaluations.
- Every fact asserted is retracted before ``trigger_evaluate`` returns.
- One ruleset of one rule per trigger version, registered once per process on a
  host without the engine's background dispatch threads (the action runs inside
  ``assert_fact``), and one lock around the engine, whose state is per process.

This is the only module that imports durable-rules.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import math
import os
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db.models import Max
from durable import engine as durable_engine

from customers import choices
from customers.models import Customer, Interaction, Transaction
from decisioning.rules import json_pointer

SALARY_UP = "salary_up"
PAGE_VIEWS = "page_views"
LARGE_DEPOSIT = "large_deposit"
KINDS = (SALARY_UP, PAGE_VIEWS, LARGE_DEPOSIT)
KIND_LABELS = {
    SALARY_UP: "Salary up on its recent average",
    PAGE_VIEWS: "Page views within a window",
    LARGE_DEPOSIT: "A large deposit",
}
# The events that can change a kind's measure: a trigger is evaluated for a
# customer only when one of these arrived for them.
KIND_EVENT_TYPES = {
    SALARY_UP: frozenset({choices.EventType.TRANSACTION.value}),
    PAGE_VIEWS: frozenset({choices.EventType.INTERACTION.value}),
    LARGE_DEPOSIT: frozenset({choices.EventType.TRANSACTION.value}),
}
MAX_DEPTH = 3
MAX_CONDITIONS = 10
MAX_DEFINITION_BYTES = 8_000
MAX_DAYS = 366
MAX_MONTHS = 24
MAX_PERCENT = 1000
MAX_COUNT = 1000
MAX_AMOUNT = Decimal("1e12")
# Events stamped a little ahead of this server's clock still count as "now".
CLOCK_SKEW = dt.timedelta(minutes=5)
# A payday moved by a weekend or holiday still belongs to its month.
PAYDAY_GRACE = dt.timedelta(days=3)
_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}")
_CURRENCY = re.compile(r"[A-Z]{3}")

# Parameters of each kind: name -> (default or REQUIRED, checker).
REQUIRED = object()


class TriggerValidationError(ValueError):
    """A definition that cannot be saved; ``errors`` lists (JSON pointer, message) pairs."""

    def __init__(self, errors: Sequence[tuple[str, str]]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(f"{path or '/'}: {message}" for path, message in self.errors))


# --- validation -----------------------------------------------------------------------------------------------------

Errors = list[tuple[str, str]]
Checker = Callable[[Any, str, Errors], Any]


def _whole(low: int, high: int, unit: str) -> Checker:
    def check(value: Any, path: str, errors: Errors) -> Any:
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            errors.append((path, f"a whole number of {unit} from {low} to {high}"))
        return value

    return check


def _percent(value: Any, path: str, errors: Errors) -> Any:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        errors.append((path, "a percentage: a number such as 20"))
    elif not 0 < value <= MAX_PERCENT:
        errors.append((path, f"a percentage above 0 and at most {MAX_PERCENT}"))
    return value


def _amount(value: Any, path: str, errors: Errors) -> Any:
    """Money as a decimal string ("10000.00"); a JSON number is read as its decimal text."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        errors.append((path, 'an amount such as "10000.00"'))
        return value
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        errors.append((path, f"{str(value)[:40]!r} is not an amount such as 10000.00"))
        return value
    if not amount.is_finite() or amount <= 0 or amount > MAX_AMOUNT:
        errors.append((path, f"an amount above 0 and at most {MAX_AMOUNT:,.0f}"))
        return value
    if amount != amount.quantize(Decimal("0.01")):
        errors.append((path, "an amount has at most 2 decimals"))
        return value
    return str(amount.quantize(Decimal("0.01")))


def _choices_list(allowed: Sequence[str], what: str, *, empty_ok: bool = False) -> Checker:
    def check(value: Any, path: str, errors: Errors) -> Any:
        if not isinstance(value, list) or (not value and not empty_ok) or len(value) > len(allowed):
            errors.append((path, f"a list of {what}: {', '.join(allowed)}"))
            return value
        for i, item in enumerate(value):
            if not isinstance(item, str) or item not in allowed:
                errors.append((json_pointer(path, i), f"{str(item)[:40]!r} is not one of {', '.join(allowed)}"))
        if len(set(map(str, value))) != len(value):
            errors.append((path, f"each of the {what} once"))
        return value

    return check


def _optional_choice(allowed: Sequence[str], what: str) -> Checker:
    def check(value: Any, path: str, errors: Errors) -> Any:
        if value is not None and (not isinstance(value, str) or value not in allowed):
            errors.append((path, f"{what}: one of {', '.join(allowed)}, or null"))
        return value

    return check


def _optional_code(value: Any, path: str, errors: Errors) -> Any:
    if value is not None and (not isinstance(value, str) or not _CODE.fullmatch(value)):
        errors.append((path, "a product code (letters, digits, '-' or '_', at most 40), or null"))
    return value


def _optional_currency(value: Any, path: str, errors: Errors) -> Any:
    if value is not None and (not isinstance(value, str) or not _CURRENCY.fullmatch(value)):
        errors.append((path, "an ISO 4217 currency code such as EUR, or null for the customer's currency"))
    return value


CREDIT_CATEGORIES = tuple(choices.TransactionCategory.values)
PARAMETERS: dict[str, dict[str, tuple[Any, Checker]]] = {
    SALARY_UP: {
        "percent": (20, _percent),
        "months": (3, _whole(1, MAX_MONTHS, "months")),
        "within_days": (35, _whole(1, MAX_DAYS, "days")),
        "categories": (["salary"], _choices_list(CREDIT_CATEGORIES, "transaction categories")),
    },
    PAGE_VIEWS: {
        "count": (3, _whole(1, MAX_COUNT, "interactions")),
        "days": (7, _whole(1, MAX_DAYS, "days")),
        "event_types": (
            [choices.InteractionType.PRODUCT_PAGE_VIEW.value],
            _choices_list(tuple(choices.InteractionType.values), "interaction types"),
        ),
        "product_code": (None, _optional_code),
        "product_family": (None, _optional_choice(tuple(choices.ProductFamily.values), "a product family")),
        "channels": ([], _choices_list(tuple(choices.InteractionChannel.values), "channels", empty_ok=True)),
    },
    LARGE_DEPOSIT: {
        "amount": (REQUIRED, _amount),
        "days": (3, _whole(1, MAX_DAYS, "days")),
        "currency": (None, _optional_currency),
        "categories": ([], _choices_list(CREDIT_CATEGORIES, "transaction categories", empty_ok=True)),
    },
}


def _leaf_validate(node: Mapping[str, Any], path: str, errors: Errors) -> dict[str, Any]:
    kind = node.get("kind")
    if not isinstance(kind, str) or kind not in PARAMETERS:
        errors.append((json_pointer(path, "kind"), f"{str(kind)[:40]!r} is not a trigger kind ({', '.join(KINDS)})"))
        return dict(node)
    spec = PARAMETERS[kind]
    unknown = sorted(str(k) for k in node if k != "kind" and k not in spec)
    if unknown:
        errors.append((json_pointer(path, unknown[0]), f"unknown key {unknown[0]!r}: {kind} takes {', '.join(spec)}"))
        return dict(node)
    out: dict[str, Any] = {"kind": kind}
    for name, (default, check) in spec.items():
        here = json_pointer(path, name)
        if name not in node:
            if default is REQUIRED:
                errors.append((here, f"{kind} needs {name}"))
                continue
            out[name] = list(default) if isinstance(default, list) else default
            continue
        out[name] = check(node[name], here, errors)
    if kind == PAGE_VIEWS and out.get("product_code") and out.get("product_family"):
        errors.append((json_pointer(path, "product_family"), "name a product or a product family, not both"))
    return out


def _validate(node: Any, path: str, depth: int, counter: list[int], errors: Errors) -> Any:
    counter[0] += 1
    if counter[0] > MAX_CONDITIONS:
        if counter[0] == MAX_CONDITIONS + 1:
            errors.append((path, f"a trigger has at most {MAX_CONDITIONS} conditions and groups"))
        return node
    if depth > MAX_DEPTH:
        errors.append((path, f"a trigger nests at most {MAX_DEPTH} levels deep"))
        return node
    if not isinstance(node, dict):
        errors.append((path, "each node is an object: all, any, or a condition with a kind"))
        return node
    groups = [k for k in ("all", "any") if k in node]
    if not groups:
        return _leaf_validate(node, path, errors)
    if len(node) != 1:
        extra = sorted(str(k) for k in node if k != groups[0])
        errors.append((path, f"a group has one key; unexpected {', '.join(extra)}"))
        return node
    key = groups[0]
    here = json_pointer(path, key)
    children = node[key]
    if not isinstance(children, list) or not children:
        errors.append((here, f"'{key}' takes a non-empty list of conditions"))
        return node
    return {
        key: [_validate(child, json_pointer(here, i), depth + 1, counter, errors) for i, child in enumerate(children)]
    }


def trigger_validate(definition: Any) -> dict[str, Any]:
    """Return ``definition`` with every default filled in, or raise
    TriggerValidationError naming each bad node by JSON pointer."""
    try:
        size = len(json.dumps(definition, allow_nan=False))
    except (TypeError, ValueError):
        raise TriggerValidationError([("", "a trigger is plain JSON: objects, lists, text, finite numbers")]) from None
    if size > MAX_DEFINITION_BYTES:
        raise TriggerValidationError([("", f"a trigger is at most {MAX_DEFINITION_BYTES} bytes of JSON; got {size}")])
    errors: Errors = []
    normalized = _validate(definition, "", 1, [0], errors)
    if errors:
        raise TriggerValidationError(errors)
    return normalized


def trigger_leaves(definition: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The conditions of a valid definition in order, each with its JSON pointer."""
    out: list[tuple[str, dict[str, Any]]] = []

    def walk(node: Mapping[str, Any], path: str) -> None:
        for key in ("all", "any"):
            if key in node:
                for i, child in enumerate(node[key]):
                    walk(child, json_pointer(json_pointer(path, key), i))
                return
        out.append((path, dict(node)))

    walk(definition, "")
    return out


# --- compilation ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Leaf:
    key: str  # the measure's name in the fact: m0, m1...
    pointer: str
    kind: str
    params: Mapping[str, Any]


@dataclass(frozen=True)
class CompiledTrigger:
    """A definition ready to evaluate: its leaves and the durable-rules ruleset
    (registered in this process under ``name``)."""

    name: str
    definition: Mapping[str, Any]
    leaves: tuple[Leaf, ...]
    rule: Mapping[str, Any]  # the durable-rules condition, for the audit trail and tests

    @property
    def event_types(self) -> frozenset[str]:
        return frozenset().union(*(KIND_EVENT_TYPES[leaf.kind] for leaf in self.leaves))


def _condition(leaf: Leaf) -> dict[str, Any]:
    """The comparison of one leaf's measure with its threshold, as durable-rules JSON."""
    if leaf.kind == SALARY_UP:
        return {"$gt": {leaf.key: float(leaf.params["percent"])}}
    if leaf.kind == PAGE_VIEWS:
        return {"$gte": {leaf.key: int(leaf.params["count"])}}
    return {"$gte": {leaf.key: float(Decimal(leaf.params["amount"]))}}


def _rule(node: Mapping[str, Any], leaves: list[Leaf], path: str) -> dict[str, Any]:
    for key, op in (("all", "$and"), ("any", "$or")):
        if key in node:
            parts = [
                _rule(child, leaves, json_pointer(json_pointer(path, key), i)) for i, child in enumerate(node[key])
            ]
            return parts[0] if len(parts) == 1 else {op: parts}
    leaf = Leaf(key=f"m{len(leaves)}", pointer=path, kind=node["kind"], params=dict(node))
    leaves.append(leaf)
    return _condition(leaf)


class _QuietHost(durable_engine.Host):
    """A host without the engine's dispatch threads: actions run inside
    ``assert_fact`` on the caller's thread, so an outcome can never be picked up
    by a background thread after the call returned."""

    def _run(self) -> None:
        return None


_lock = threading.Lock()
_host: _QuietHost | None = None
_host_pid = 0
_compiled: dict[str, CompiledTrigger] = {}
_matched: set[int] = set()
_fact_ids = itertools.count(1)
FACT_SID = "0"  # one state per ruleset: facts never outlive an evaluation


def _on_match(c: Any) -> None:
    _matched.add(int(c.m["id"]))


def _engine() -> _QuietHost:
    """This process's host; a forked worker child starts its own."""
    global _host, _host_pid
    if _host is None or _host_pid != os.getpid():
        _host, _host_pid = _QuietHost(), os.getpid()
        _compiled.clear()
    return _host


def _ruleset_name(definition: Mapping[str, Any], key: str) -> str:
    digest = hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()[:12]
    safe = re.sub(r"[^A-Za-z0-9_]", "_", key)[:60]
    return f"trigger_{safe}_{digest}"


def trigger_compile(definition: Any, *, key: str) -> CompiledTrigger:
    """Validate ``definition`` and register its ruleset in this process, once per
    (key, definition): ``key`` names the trigger version, e.g. ``"<public id>-v3"``."""
    normalized = trigger_validate(definition)
    name = _ruleset_name(normalized, key)
    with _lock:
        host = _engine()
        found = _compiled.get(name)
        if found is not None:
            return found
        leaves: list[Leaf] = []
        rule = _rule(normalized, leaves, "")
        host.register_rulesets({name: {"fire": {"all": [{"m": rule}], "run": _on_match}}})
        compiled = CompiledTrigger(name=name, definition=normalized, leaves=tuple(leaves), rule=rule)
        _compiled[name] = compiled
        return compiled


def trigger_evaluate(compiled: CompiledTrigger, measures: Mapping[str, float | int | None]) -> bool:
    """Assert the measures as one fact, see whether the rule fired, retract the fact.
    A measure that is None (nothing to compare, e.g. no salary history) is left
    out of the fact, and a comparison on a missing measure is false."""
    with _lock:
        host = _engine()
        if compiled.name not in _compiled:  # a forked child: register again
            _compiled[compiled.name] = compiled
            host.register_rulesets({compiled.name: {"fire": {"all": [{"m": compiled.rule}], "run": _on_match}}})
        fact_id = next(_fact_ids)
        fact: dict[str, Any] = {"sid": FACT_SID, "id": fact_id}
        fact.update({k: v for k, v in measures.items() if v is not None})
        try:
            host.assert_fact(compiled.name, fact)
        except durable_engine.MessageNotHandledException:
            pass  # no rule matched: the engine kept nothing
        finally:
            host.retract_fact(compiled.name, fact)
        fired = fact_id in _matched
        _matched.discard(fact_id)
        return fired


def trigger_facts_held(compiled: CompiledTrigger) -> list[Any]:
    """The facts the ruleset holds now: always empty between evaluations."""
    with _lock:
        return list(_engine().get_facts(compiled.name, FACT_SID))


# --- measures from the database -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TriggerCheck:
    """One evaluation: whether it fired, the measures fed to the engine, and the
    evidence behind each measure (by the leaf's JSON pointer) for the audit trail."""

    fired: bool
    measures: dict[str, float | int | None]
    evidence: dict[str, dict[str, Any]]


def _months_before(moment: dt.datetime, months: int) -> dt.datetime:
    """The same instant ``months`` calendar months earlier, the day clamped to the month's end."""
    index = moment.year * 12 + (moment.month - 1) - months
    year, month = index // 12, index % 12 + 1
    next_first = dt.date(year + (month == 12), month % 12 + 1, 1)
    last_day = (next_first - dt.timedelta(days=1)).day
    return moment.replace(year=year, month=month, day=min(moment.day, last_day))


def _money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


def _salary_up(customer: Customer, params: Mapping[str, Any], now: dt.datetime) -> tuple[float | None, dict]:
    credits = Transaction.objects.filter(customer=customer, category__in=params["categories"], amount__gt=0)
    latest = credits.filter(booked_at__lte=now + CLOCK_SKEW).order_by("-booked_at", "-id").first()
    if latest is None:
        return None, {"latest": None}
    evidence: dict[str, Any] = {
        "latest": _money(latest.amount),
        "currency": latest.currency,
        "booked_at": latest.booked_at.isoformat(),
    }
    if latest.booked_at < now - dt.timedelta(days=params["within_days"]):
        return None, {**evidence, "too_old": True}
    previous = list(
        credits.filter(
            currency=latest.currency,
            booked_at__gte=_months_before(latest.booked_at, params["months"]) - PAYDAY_GRACE,
            booked_at__lt=latest.booked_at,
        ).values_list("amount", flat=True)
    )
    if not previous:
        return None, {**evidence, "previous": 0}
    average = sum(previous, Decimal(0)) / len(previous)
    if average <= 0:
        return None, {**evidence, "previous": len(previous)}
    change = ((latest.amount - average) / average * 100).quantize(Decimal("0.0001"))
    return float(change), {**evidence, "previous": len(previous), "average": _money(average), "change_pct": str(change)}


def _page_views(customer: Customer, params: Mapping[str, Any], now: dt.datetime) -> tuple[int, dict]:
    since = now - dt.timedelta(days=params["days"])
    rows = Interaction.objects.filter(
        customer=customer,
        event_type__in=params["event_types"],
        occurred_at__gte=since,
        occurred_at__lte=now + CLOCK_SKEW,
    )
    if params.get("product_code"):
        rows = rows.filter(product__code=params["product_code"])
    if params.get("product_family"):
        rows = rows.filter(product__family=params["product_family"])
    if params.get("channels"):
        rows = rows.filter(channel__in=params["channels"])
    count = rows.count()
    return count, {"count": count, "since": since.isoformat()}


def _large_deposit(customer: Customer, params: Mapping[str, Any], now: dt.datetime) -> tuple[float, dict]:
    currency = params.get("currency") or customer.income_currency or settings.BASE_CURRENCY
    since = now - dt.timedelta(days=params["days"])
    rows = Transaction.objects.filter(
        customer=customer, amount__gt=0, currency=currency, booked_at__gte=since, booked_at__lte=now + CLOCK_SKEW
    )
    if params.get("categories"):
        rows = rows.filter(category__in=params["categories"])
    largest = rows.aggregate(largest=Max("amount"))["largest"] or Decimal(0)
    return float(largest), {"largest": _money(largest), "currency": currency, "since": since.isoformat()}


_MEASURES = {SALARY_UP: _salary_up, PAGE_VIEWS: _page_views, LARGE_DEPOSIT: _large_deposit}


def trigger_check(compiled: CompiledTrigger, *, customer: Customer, now: dt.datetime) -> TriggerCheck:
    """Compute each leaf's measure for ``customer`` as of ``now`` and evaluate."""
    measures: dict[str, float | int | None] = {}
    evidence: dict[str, dict[str, Any]] = {}
    for leaf in compiled.leaves:
        value, seen = _MEASURES[leaf.kind](customer, leaf.params, now)
        measures[leaf.key] = value
        evidence[leaf.pointer or "/"] = {"kind": leaf.kind, **seen}
    return TriggerCheck(fired=trigger_evaluate(compiled, measures), measures=measures, evidence=evidence)


def trigger_summary(definition: Mapping[str, Any]) -> str:
    """A definition in words, for lists and the audit trail."""
    for key, word in (("all", " and "), ("any", " or ")):
        if key in definition:
            parts = [trigger_summary(child) for child in definition[key]]
            return parts[0] if len(parts) == 1 else "(" + word.join(parts) + ")"
    kind = definition.get("kind")
    if kind == SALARY_UP:
        return (
            f"salary up more than {definition['percent']}% on its {definition['months']}-month average"
            f" (paid in the last {definition['within_days']} days)"
        )
    if kind == PAGE_VIEWS:
        what = definition.get("product_code") or definition.get("product_family") or "any product"
        kinds = ", ".join(t.replace("_", " ") for t in definition["event_types"])
        return f"at least {definition['count']} × {kinds} ({what}) within {definition['days']} days"
    if kind == LARGE_DEPOSIT:
        currency = definition.get("currency") or "the customer's currency"
        return f"a credit of at least {definition['amount']} in {currency} within {definition['days']} days"
    return "?"
