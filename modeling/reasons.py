"""Why a customer scores high for a product, in words a business user can read.

A reason is one of the features that pushed a score up the most, by LightGBM's
own SHAP contributions (``LoadedModel.contributions``, log-odds space), written
from the feature catalogue with the customer's value: "Viewed the Home mortgage
page 3 times in the last 7 days". Only positive contributions count (they
explain why the score is high, not why it is not higher), and a feature the
catalogue does not allow as a model input (protected attributes above all) is
never given as a reason, even if a model somehow carried it.

Contributions cost about 50 times a prediction (STYLE.md section 12): callers
compute them for the products they return, never for every product.
"""

from __future__ import annotations

import functools
import math
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.conf import settings

from customers import choices
from customers.models import Product
from modeling.feature_catalogue import Use, feature_get, feature_key

MAX_REASONS = 4
# Product names change rarely; a process re-reads them at most this often (and at
# once when a feature names a product it does not know yet).
PRODUCT_NAMES_TTL_SECONDS = 300.0


@dataclass(frozen=True)
class Reason:
    feature: str
    value: Any  # the customer's value of the feature, as computed (number, bool or text)
    contribution: float  # log-odds added to the score by this feature
    text: str


def reasons_from_contributions(
    *,
    contributions: np.ndarray,
    features: Sequence[str],
    row: Mapping[str, Any],
    limit: int = MAX_REASONS,
    product_names: Mapping[str, str] | None = None,
) -> tuple[Reason, ...]:
    """The ``limit`` features that raised this score the most, largest first.

    ``contributions`` is one row of ``LoadedModel.contributions`` (one value per
    feature, then the bias, which is never a reason); ``row`` gives the
    customer's value of each feature by name.
    """
    values = np.asarray(contributions, dtype="float64")[: len(features)]
    order = np.argsort(-values, kind="stable")
    out: list[Reason] = []
    for index in order:
        contribution = float(values[index])
        if not contribution > 0.0:  # also stops at NaN
            break
        name = features[index]
        if not _may_explain(name):
            continue
        value = row[name]
        out.append(Reason(name, _plain(value), contribution, reason_text(name, value, product_names=product_names)))
        if len(out) >= limit:
            break
    return tuple(out)


def _may_explain(name: str) -> bool:
    try:
        return feature_get(name).use is Use.MODEL
    except KeyError:
        return False


def _plain(value: Any) -> Any:
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.floating | np.integer):
        return value.item()
    return value


# --- wording ---------------------------------------------------------------------------------------------------------


def _number(value: Any) -> str:
    number = float(value)
    if math.isnan(number):
        return "unknown"
    if number.is_integer():
        return f"{int(number):,}"
    return f"{number:,.2f}".rstrip("0").rstrip(".")


def _money(value: Any, *, signed: bool = False) -> str:
    number = float(value)
    sign = "+" if signed and number > 0 else ""
    return f"{sign}{number:,.0f} {settings.BASE_CURRENCY}"


def _times(value: Any, one: str, many: str) -> str:
    return f"{_number(value)} {one if float(value) == 1 else many}"


def _label(key: str) -> str:
    return key.replace("_", " ")


_FAMILY_LABELS = {value: label.lower() for value, label in choices.ProductFamily.choices}

# When a flag is false its description would read backwards; say what it means instead.
_FLAG_FALSE = {
    "no_balance_history": "Has balances over the last 12 months",
    "no_spend_90d": "Spent money in the last 90 days",
    "no_recent_transaction": "Made transactions recently",
    "no_recent_login": "Logged in recently",
    "no_satisfaction": "Gave a satisfaction score in the last year",
    "no_credit_score": "Has a credit score",
    "income_missing": "Declared an income",
    "salary_detected": "No salary credit detected in the last 3 months",
}

_Phrase = Callable[[re.Match[str], Any, Callable[[str], str]], str]


def _views(m: re.Match[str], v: Any, product: Callable[[str], str]) -> str:
    return f"Viewed the {product(m[2])} page {_times(v, 'time', 'times')} in the last {m[1]} days"


def _holds(m: re.Match[str], v: Any, _: Callable[[str], str]) -> str:
    family = _FAMILY_LABELS.get(m[1], _label(m[1]))
    return f"Already holds {family}" if bool(v) else f"Holds no {family} yet"


_PHRASES: list[tuple[re.Pattern[str], _Phrase]] = [
    (re.compile(r"views_(\d+)d_(.+)"), _views),
    (
        re.compile(r"offers_365d_(.+)"),
        lambda m, v, p: f"Offered the {p(m[1])} {_times(v, 'time', 'times')} in the last year",
    ),
    (
        re.compile(r"accepted_365d_(.+)"),
        lambda m, v, p: f"Accepted {_times(v, 'offer', 'offers')} of the {p(m[1])} in the last year",
    ),
    (
        re.compile(r"rejected_365d_(.+)"),
        lambda m, v, p: f"Turned down {_times(v, 'offer', 'offers')} of the {p(m[1])} in the last year",
    ),
    (re.compile(r"offers_(\d+)d"), lambda m, v, _: f"Received {_times(v, 'offer', 'offers')} in the last {m[1]} days"),
    (re.compile(r"offers_accepted_365d"), lambda m, v, _: f"Accepted {_times(v, 'offer', 'offers')} in the last year"),
    (
        re.compile(r"offers_rejected_365d"),
        lambda m, v, _: f"Turned down {_times(v, 'offer', 'offers')} in the last year",
    ),
    (re.compile(r"days_since_last_offer"), lambda m, v, _: f"Last offer {_times(v, 'day', 'days')} ago"),
    (
        re.compile(r"campaigns_365d"),
        lambda m, v, _: f"Reached by {_times(v, 'campaign', 'campaigns')} in the last year",
    ),
    (
        re.compile(r"product_page_views_(\d+)d"),
        lambda m, v, _: f"Viewed product pages {_times(v, 'time', 'times')} in the last {m[1]} days",
    ),
    (re.compile(r"holds_(.+)"), _holds),
    (re.compile(r"logins_(\d+)d"), lambda m, v, _: f"Logged in {_times(v, 'time', 'times')} in the last {m[1]} days"),
    (re.compile(r"days_since_last_login"), lambda m, v, _: f"Last logged in {_times(v, 'day', 'days')} ago"),
    (re.compile(r"days_since_last_transaction"), lambda m, v, _: f"Last transaction {_times(v, 'day', 'days')} ago"),
    (
        re.compile(r"avg_balance_(\d+)m"),
        lambda m, v, _: f"Average balance of {_money(v)} over the last {m[1]} months",
    ),
    (re.compile(r"balance_trend_6m"), lambda m, v, _: f"Balance moving by {_money(v, signed=True)} a month"),
    (re.compile(r"salary_monthly_3m"), lambda m, v, _: f"Salary of {_money(v)} a month"),
    (
        re.compile(r"salary_change_3m"),
        lambda m, v, _: f"Salary changed by {_money(v, signed=True)} a month against the 3 months before",
    ),
    (re.compile(r"travel_spend_30d"), lambda m, v, _: f"Spent {_money(v)} on travel in the last 30 days"),
    (re.compile(r"spend_(\d+)d"), lambda m, v, _: f"Spent {_money(v)} in the last {m[1]} days"),
    (
        re.compile(r"spend_share_(.+)_(\d+)d"),
        lambda m, v, _: f"{float(v):.0%} of the last {m[2]} days' spending went on {_label(m[1])}",
    ),
    (
        re.compile(r"txn_count_(\d+)d"),
        lambda m, v, _: f"{_times(v, 'transaction', 'transactions')} in the last {m[1]} days",
    ),
    (
        re.compile(r"txn_count_(.+)_(\d+)d"),
        lambda m, v, _: (
            f"{_times(v, _label(m[1]) + ' transaction', _label(m[1]) + ' transactions')} in the last {m[2]} days"
        ),
    ),
    (
        re.compile(r"txn_amount_(.+)_(\d+)d"),
        lambda m, v, _: f"{_money(v)} of {_label(m[1])} transactions in the last {m[2]} days",
    ),
    (
        re.compile(r"complaints_(\d+)d"),
        lambda m, v, _: f"{_times(v, 'complaint', 'complaints')} in the last {m[1]} days",
    ),
    (
        re.compile(r"service_calls_(\d+)d"),
        lambda m, v, _: f"{_times(v, 'service call', 'service calls')} in the last {m[1]} days",
    ),
    (
        re.compile(r"calculator_uses_(\d+)d"),
        lambda m, v, _: f"Used a product calculator {_times(v, 'time', 'times')} in the last {m[1]} days",
    ),
    (
        re.compile(r"applications_started_(\d+)d"),
        lambda m, v, _: f"Started {_times(v, 'product application', 'product applications')} in the last {m[1]} days",
    ),
    (re.compile(r"digital_events_(\d+)d"), lambda m, v, _: f"{_number(v)} web or app visits in the last {m[1]} days"),
    (re.compile(r"tenure_months"), lambda m, v, _: f"Customer for {_times(v, 'month', 'months')}"),
    (re.compile(r"products_held"), lambda m, v, _: f"Holds {_times(v, 'product', 'products')}"),
    (re.compile(r"credit_score"), lambda m, v, _: f"Credit score of {_number(v)}"),
    (
        re.compile(r"credit_score_change_6m"),
        lambda m, v, _: f"Credit score {'up' if float(v) >= 0 else 'down'} {_number(abs(float(v)))} points in 6 months",
    ),
    (
        re.compile(r"(travel_)?spend_spike"),
        lambda m, v, _: (
            f"{'Travel spending' if m[1] else 'Spending'} {'up' if float(v) >= 0 else 'down'} "
            "in the last 30 days against the months before"
        ),
    ),
    (re.compile(r"income"), lambda m, v, _: f"Yearly income of {_money(v)}"),
    (re.compile(r"latest_satisfaction"), lambda m, v, _: f"Latest satisfaction score {_number(v)} out of 5"),
    (re.compile(r"market_(.+)"), lambda m, v, _: f"Market indicator {_label(m[1])} at {_number(v)}"),
]

_TIDY = (
    (re.compile(r",? in BASE_CURRENCY at the latest FX rate before the cut-off"), ""),
    (re.compile(r" in force at the cut-off"), ""),
    (re.compile(r" at the cut-off"), ""),
    (re.compile(r"\s*\.\s*$"), ""),
)


@functools.lru_cache(maxsize=4096)
def _phrase_of(name: str) -> tuple[re.Match[str], Callable[..., str]] | None:
    """The phrasing of a feature, found once per name (decisions explain thousands a second)."""
    for pattern, phrase in _PHRASES:
        match = pattern.fullmatch(name)
        if match:
            return match, phrase
    return None


def reason_text(name: str, value: Any, *, product_names: Mapping[str, str] | None = None) -> str:
    """One feature and the customer's value of it, as a sentence without a full stop.

    Well-known features have their own phrasing; any other is its catalogue
    description followed by the value. Per-product features name the product.
    """

    def product(key: str) -> str:
        names = product_names if product_names is not None else product_names_by_key(key)
        return names.get(key) or key.upper()

    found = _phrase_of(name)
    if found is not None:
        match, phrase = found
        try:
            return phrase(match, value, product)
        except (TypeError, ValueError):
            pass  # an unexpected value type: fall back to the plain description
    feature = feature_get(name)
    if isinstance(value, bool | np.bool_):
        if not value and name in _FLAG_FALSE:
            return _FLAG_FALSE[name]
        text = _tidy(feature.description)
        return text if value else f"Not so: {text[0].lower()}{text[1:]}"
    if isinstance(value, str):
        return f"{_tidy(feature.description)}: {_label(value)}"
    shown = _money(value) if "BASE_CURRENCY" in feature.description else _number(value)
    return f"{_tidy(feature.description)}: {shown}"


def _tidy(description: str) -> str:
    for pattern, replacement in _TIDY:
        description = pattern.sub(replacement, description)
    return description


# --- product names ---------------------------------------------------------------------------------------------------

_names_lock = threading.Lock()
_names: dict[str, str] = {}
_names_loaded_at = -math.inf


def product_names_by_key(wanted: str | None = None) -> dict[str, str]:
    """Feature key (``feature_key(product.code)``) -> product name, cached per process.

    Re-read after ``PRODUCT_NAMES_TTL_SECONDS``, or at once if ``wanted`` is a key
    the cache does not hold (a product added since)."""
    global _names, _names_loaded_at
    with _names_lock:
        age = time.monotonic() - _names_loaded_at
        # An unknown key triggers a re-read, but at most every few seconds: a key
        # that names no product at all must not cost a query per reason.
        if age > PRODUCT_NAMES_TTL_SECONDS or (wanted is not None and wanted not in _names and age > 5.0):
            _names = {feature_key(code): name for code, name in Product.objects.values_list("code", "name")}
            _names_loaded_at = time.monotonic()
        return _names


def product_names_clear() -> None:
    """Forget cached product names (tests)."""
    global _names, _names_loaded_at
    with _names_lock:
        _names, _names_loaded_at = {}, -math.inf
