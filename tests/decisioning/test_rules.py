"""The rule language: validation names the failing node, nothing user-typed ever
runs as code, and compiled rules agree with a slow reference interpreter."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from decisioning.rules import (
    FIELDS,
    MAX_RULE_CONDITIONS,
    MAX_RULE_DEPTH,
    RuleContext,
    RuleValidationError,
    rule_compile,
    rule_validate,
)

NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.UTC)


def ctx(**values) -> RuleContext:
    return RuleContext(values={k.replace("__", "."): v for k, v in values.items()}, now=NOW)


def errors_of(tree) -> list[tuple[str, str]]:
    with pytest.raises(RuleValidationError) as caught:
        rule_validate(tree)
    return caught.value.errors


# --- what a business user writes ---------------------------------------------------------------------------------------

MORTGAGE_READY = {
    "all": [
        {"field": "customer.age", "op": "between", "value": [25, 60]},
        {"field": "feature.views_7d_total", "op": "gte", "value": 3},
        {"not": {"field": "holdings.products", "op": "contains", "value": "MORTGAGE"}},
        {
            "any": [
                {"field": "segments", "op": "contains_any", "value": ["value_tier_affluent", "value_tier_premier"]},
                {"field": "customer.customer_since", "op": "more_than_days_ago", "value": 730},
            ]
        },
    ]
}


@pytest.fixture(autouse=True)
def _views_field(monkeypatch):
    # A feature name used by the examples; the registry is built from the catalogue.
    from decisioning import rules

    spec = rules.FieldSpec("feature.views_7d_total", rules.FieldType.NUMBER, "Product-page views, 7 days", "feature")
    monkeypatch.setitem(rules.FIELDS, spec.name, spec)


def test_a_typical_eligibility_rule_compiles_and_decides():
    rule = rule_compile(MORTGAGE_READY)
    keen = ctx(
        customer__age=34,
        feature__views_7d_total=4,
        holdings__products={"CURRENT"},
        segments={"value_tier_core"},
        customer__customer_since=dt.date(2020, 1, 1),
    )
    holder = ctx(**{**{k.replace(".", "__"): v for k, v in keen.values.items()}, "holdings__products": {"MORTGAGE"}})

    assert rule.evaluate(keen) is True
    assert rule.evaluate(holder) is False
    assert rule.fields == {
        "customer.age",
        "feature.views_7d_total",
        "holdings.products",
        "segments",
        "customer.customer_since",
    }


def test_the_trace_records_every_evaluated_node_by_its_pointer():
    rule = rule_compile(MORTGAGE_READY)
    trace: list[tuple[str, bool]] = []

    rule.evaluate(ctx(customer__age=70, feature__views_7d_total=4), trace)

    assert ("/all/0", False) in trace
    assert trace[-1] == ("/", False)


def test_an_unknown_value_fails_every_test_but_exists():
    rule = rule_compile({"any": [{"field": "customer.age", "op": "lt", "value": 200}]})
    exists = rule_compile({"field": "customer.age", "op": "exists"})

    assert rule.evaluate(ctx()) is False
    assert exists.evaluate(ctx()) is False
    assert exists.evaluate(ctx(customer__age=40)) is True


def test_dates_relative_to_now():
    recent = rule_compile({"field": "customer.customer_since", "op": "within_last_days", "value": 90})

    assert recent.evaluate(ctx(customer__customer_since=dt.date(2026, 10, 1))) is True
    assert recent.evaluate(ctx(customer__customer_since=dt.date(2026, 1, 1))) is False


# --- refusals, each naming its node --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tree", "pointer", "words"),
    [
        ({"all": [{"field": "customer.nope", "op": "eq", "value": 1}]}, "/all/0/field", "unknown field"),
        ({"all": [{"field": "customer.age", "op": "like", "value": 1}]}, "/all/0/op", "not an operator"),
        ({"field": "customer.age", "op": "gt", "value": "forty"}, "/value", "is a number"),
        ({"field": "customer.age", "op": "gt", "value": 1e300}, "/value", "finite"),
        ({"field": "customer.age", "op": "between", "value": [60, 25]}, "/value", "lower bound"),
        ({"field": "customer.vulnerable", "op": "eq", "value": "yes"}, "/value", "true or false"),
        ({"field": "customer.customer_since", "op": "before", "value": "last week"}, "/value", "not a date"),
        ({"field": "customer.age", "op": "exists", "value": 3}, "/value", "takes no value"),
        ({"any": []}, "/any", "non-empty list"),
        ({"all": [{"field": "customer.age", "op": "gt", "value": 1, "code": "x"}]}, "/all/0/code", "unknown key"),
        ({"field": "context.page", "op": "eq", "value": "__import__('os')"}, "/value", "looks like code"),
        ({"field": "context.page", "op": "eq", "value": "lambda x: x"}, "/value", "looks like code"),
        ({"field": "__class__", "op": "eq", "value": 1}, "/field", "unknown field"),
        ({"field": "feature.gender", "op": "eq", "value": "F"}, "/field", "unknown field"),  # protected
        ({"field": "feature.risk_rating", "op": "eq", "value": "purple"}, "/value", "is not one of"),
        ([1, 2], "", "each node is an object"),
    ],
)
def test_a_bad_tree_is_refused_naming_the_node(tree, pointer, words):
    errors = errors_of(tree)

    assert any(path == pointer and words in message for path, message in errors), errors


def test_a_tree_deeper_than_the_limit_is_refused():
    tree: dict = {"field": "customer.age", "op": "gt", "value": 1}
    for _ in range(MAX_RULE_DEPTH):
        tree = {"not": tree}

    errors = errors_of(tree)

    assert any("levels deep" in message for _, message in errors)


def test_a_tree_with_too_many_conditions_is_refused():
    tree = {"any": [{"field": "customer.age", "op": "gt", "value": i} for i in range(MAX_RULE_CONDITIONS)]}

    assert any("at most" in message for _, message in errors_of(tree))


def test_a_megabyte_rule_is_refused_before_it_is_walked():
    tree = {"field": "context.page", "op": "in", "value": ["x" * 100] * 10_000}

    assert "bytes" in errors_of(tree)[0][1]


def test_nan_is_not_json_and_is_refused():
    assert "plain JSON" in errors_of({"field": "customer.age", "op": "gt", "value": float("nan")})[0][1]


def test_the_compiler_never_calls_eval_exec_or_compile(monkeypatch):
    import builtins

    for name in ("eval", "exec", "compile"):
        monkeypatch.setattr(builtins, name, _forbidden(name))
    rule = rule_compile(MORTGAGE_READY)

    assert rule.evaluate(ctx(customer__age=30, feature__views_7d_total=5, segments={"value_tier_premier"})) is True


def _forbidden(name):
    def call(*args, **kwargs):
        raise AssertionError(f"{name} called")

    return call


# --- property: compiled rules agree with a slow reference interpreter ---------------------------------------------------

NUMBER_FIELDS = ["customer.age", "feature.views_7d_total"]
TEXT_VALUES = ["low", "medium", "high"]


def reference(node, values, now) -> bool:
    """The language's meaning, written as plainly as possible."""
    if "all" in node:
        return all(reference(n, values, now) for n in node["all"])
    if "any" in node:
        return any(reference(n, values, now) for n in node["any"])
    if "not" in node:
        return not reference(node["not"], values, now)
    v, op, x = values.get(node["field"]), node["op"], node.get("value")
    if op == "exists":
        return v is not None
    if v is None:
        return False
    if op == "between":
        return x[0] <= v <= x[1]
    if op == "in":
        return v in x
    if op == "not_in":
        return v not in x
    if op == "contains":
        return x in v
    if op == "not_contains":
        return x not in v
    if op == "contains_any":
        return any(item in v for item in x)
    return {"eq": v == x, "ne": v != x, "lt": v < x, "lte": v <= x, "gt": v > x, "gte": v >= x}[op]


numbers = st.integers(min_value=-5, max_value=100)
number_leaf = st.one_of(
    st.builds(
        lambda f, op, x: {"field": f, "op": op, "value": x},
        st.sampled_from(NUMBER_FIELDS),
        st.sampled_from(["eq", "ne", "lt", "lte", "gt", "gte"]),
        numbers,
    ),
    st.builds(
        lambda f, a, b: {"field": f, "op": "between", "value": sorted([a, b])},
        st.sampled_from(NUMBER_FIELDS),
        numbers,
        numbers,
    ),
    st.builds(
        lambda f, xs, op: {"field": f, "op": op, "value": xs},
        st.sampled_from(NUMBER_FIELDS),
        st.lists(numbers, min_size=1, max_size=4),
        st.sampled_from(["in", "not_in"]),
    ),
    st.builds(lambda f: {"field": f, "op": "exists"}, st.sampled_from(NUMBER_FIELDS)),
)
text_leaf = st.builds(
    lambda op, x: {"field": "customer.risk_rating", "op": op, "value": x if op in ("eq", "ne") else [x]},
    st.sampled_from(["eq", "ne", "in", "not_in"]),
    st.sampled_from(TEXT_VALUES),
)
set_leaf = st.builds(
    lambda op, x: {"field": "holdings.products", "op": op, "value": x if op != "contains_any" else [x, "SAVINGS"]},
    st.sampled_from(["contains", "not_contains", "contains_any"]),
    st.sampled_from(["MORTGAGE", "CURRENT", "CARD"]),
)
trees = st.recursive(
    st.one_of(number_leaf, text_leaf, set_leaf),
    lambda inner: st.one_of(
        st.builds(lambda xs: {"all": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda xs: {"any": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda x: {"not": x}, inner),
    ),
    max_leaves=12,
)
contexts = st.fixed_dictionaries(
    {},
    optional={
        "customer.age": numbers,
        "feature.views_7d_total": numbers,
        "customer.risk_rating": st.sampled_from(TEXT_VALUES),
        "holdings.products": st.frozensets(st.sampled_from(["MORTGAGE", "CURRENT", "CARD", "SAVINGS"])),
    },
)


@settings(max_examples=300, deadline=None)
@given(tree=trees, values=contexts)
def test_compiled_rules_agree_with_the_reference_interpreter(tree, values):
    rule = rule_compile(tree)

    assert rule.evaluate(RuleContext(values=values, now=NOW)) == reference(tree, values, NOW)


junk = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["all", "any", "not", "field", "op", "value", "x"]), inner, max_size=3),
    ),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(tree=junk)
def test_any_tree_is_either_valid_or_refused_with_a_pointer(tree):
    errors: list[tuple[str, str]] = []
    try:
        rule_validate(tree)
    except RuleValidationError as refused:
        errors = refused.errors or [("?", "")]
    if not errors:
        rule_compile(tree).evaluate(RuleContext(values={}, now=NOW))  # a valid tree always evaluates
    for pointer, message in errors:
        assert pointer == "" or pointer.startswith("/")
        assert message


def test_every_field_has_operators_and_no_field_is_protected():
    from modeling.feature_catalogue import Use, feature_get

    for name, spec in FIELDS.items():
        assert spec.type in spec.type.__class__
        if name.startswith("feature."):
            assert feature_get(name.removeprefix("feature.")).use is not Use.FAIRNESS_ONLY
    assert json.dumps(sorted(FIELDS))  # names are plain text
