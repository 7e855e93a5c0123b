"""The declared feature catalogue: every column ``compute_features`` returns, with
what it means, where it comes from, how a missing value is handled and what it
may be used for.

Protected attributes (gender, marital status, age) are declared here so fairness
tests can group customers by them, but ``model_feature_names`` never returns
them: the catalogue, not each caller, decides what a model may see.

Some families depend on the bank's data (one column per product, one per market
indicator). They are declared as templates with a ``{key}`` placeholder and
matched by ``feature_get``. ``python -m modeling.feature_catalogue`` prints
docs/features.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from customers import choices


class Kind(StrEnum):
    NUMERIC = "numeric"
    BOOLEAN = "boolean"
    CATEGORICAL = "categorical"


class Use(StrEnum):
    MODEL = "model"  # a model input; rules and reports may use it too
    RULES = "rules"  # rules, eligibility and reports, never a model input
    FAIRNESS_ONLY = "fairness_only"  # protected: fairness tests only


@dataclass(frozen=True)
class Feature:
    name: str
    description: str
    kind: Kind
    source: str
    use: Use
    missing: str  # how a missing value is handled, in words
    fill: float | str | bool  # the value a missing one becomes
    indicator: str = ""  # the boolean feature that flags the missing value, if any
    categories: tuple[str, ...] = ()  # the vocabulary of a categorical feature; () means open
    template: bool = False  # name has a {key} placeholder filled from the bank's data


UNKNOWN = "unknown"
RECENCY_LOOKBACK_DAYS = 183  # transactions and interactions are read this far back
SATISFACTION_LOOKBACK_DAYS = 365
CREDIT_SCORE_CHANGE_DAYS = 182
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+", "under 18", "unknown")

# Category groups: several categories that mean the same to a propensity model.
CATEGORY_GROUPS: dict[str, tuple[str, ...]] = {
    "income": ("salary", "pension_income", "benefits"),
    "transfers": ("transfer_in", "transfer_out"),
    "housing": ("rent", "mortgage_payment"),
    "bills": ("utilities", "insurance"),
    "everyday": ("groceries", "transport", "fuel", "health", "childcare", "education"),
    "leisure": ("dining", "travel", "entertainment", "shopping", "gambling"),
    "credit": ("loan_payment", "card_payment"),
    "saving": ("savings", "investment"),
    "cash_fees_other": ("cash", "fees", "other"),
}
GROUP_OF_CATEGORY = {category: group for group, cats in CATEGORY_GROUPS.items() for category in cats}
assert set(GROUP_OF_CATEGORY) == set(choices.TransactionCategory.values), "every category belongs to one group"
INCOME_CATEGORIES = frozenset(CATEGORY_GROUPS["income"]) | {"transfer_in"}
SPEND_CATEGORIES = tuple(c for c in choices.TransactionCategory.values if c not in INCOME_CATEGORIES)
CHANNELS = tuple(choices.TransactionChannel.values)
PRODUCT_FAMILIES = tuple(choices.ProductFamily.values)
DAY_WINDOWS = (30, 90)

TXN = "customers_transaction"
INTER = "customers_interaction"
BAL = "customers_monthlybalance"
ACC = "customers_account + customers_accountholder + customers_product"
CUST = "customers_customer"
HIST = "customers_customerattributechange (value in force at the cut-off; customers_customer if no history)"
SCORE = "customers_creditscore"
MARKET = "customers_marketindicator"

ZERO = "none in the window counts as 0"


def _f(name: str, description: str, source: str, **kw: object) -> Feature:
    kw.setdefault("kind", Kind.NUMERIC)
    kw.setdefault("use", Use.MODEL)
    kw.setdefault("missing", ZERO)
    kw.setdefault("fill", 0.0)
    return Feature(name=name, description=description, source=source, **kw)  # type: ignore[arg-type]


def _flag(name: str, description: str, source: str) -> Feature:
    return _f(name, description, source, kind=Kind.BOOLEAN, missing="never missing", fill=False)


# --- Contact history, phone and calendar ------------------------------------------------------------------------------

OFFERS = "customers_contacthistory"
DETAILS = "customers_contactdetails"
OFFER_LOOKBACK_DAYS = 365  # offers are read this far back
MARKET_CHANGE_DAYS = 30
OFFER_WINDOWS = (30, 90, 365)
# What the latest offer had come to at the cut-off (see ``last_offer_response``).
OFFER_RESPONSES = ("accepted", "rejected", "no_response", "none")
PHONE_TYPES = ("mobile", "other", "none")
# E.164 prefixes of mobile numbers: Portugal, Spain, France, the United Kingdom, Germany, Italy,
# Ireland, the Netherlands, Belgium, Luxembourg, Austria, Switzerland. Extend for other countries.
MOBILE_PREFIXES = (
    "+3519",
    "+346",
    "+3471",
    "+3472",
    "+3473",
    "+3474",
    "+336",
    "+337",
    "+4471",
    "+4472",
    "+4473",
    "+4474",
    "+4475",
    "+4477",
    "+4478",
    "+4479",
    "+4915",
    "+4916",
    "+4917",
    "+393",
    "+3538",
    "+316",
    "+324",
    "+3526",
    "+436",
    "+417",
)


def _contact_features() -> list[Feature]:
    """What the bank's own contact history says: how often, how recently and with what answer
    the customer was offered something. Answers count only once recorded (``responded_at``)
    before the cut-off, so an offer answered after it reads as unanswered."""
    out: list[Feature] = []
    add = out.append
    answered = "answer recorded before the cut-off"
    for days in OFFER_WINDOWS:
        add(
            _f(
                f"offers_{days}d",
                f"Offers made to the customer in the last {days} days, any product or channel.",
                OFFERS,
            )
        )
    add(_f("offers_accepted_365d", f"Offers of the last 365 days the customer accepted ({answered}).", OFFERS))
    add(
        _f(
            "offers_rejected_365d",
            f"Offers of the last 365 days the customer rejected or dismissed ({answered}).",
            OFFERS,
        )
    )
    add(
        _f(
            "days_since_last_offer",
            f"Days from the latest offer to the cut-off (read back {OFFER_LOOKBACK_DAYS} days).",
            OFFERS,
            missing=f"none in {OFFER_LOOKBACK_DAYS} days: {OFFER_LOOKBACK_DAYS}, flagged by no_offer_365d",
            fill=float(OFFER_LOOKBACK_DAYS),
            indicator="no_offer_365d",
        )
    )
    add(_flag("no_offer_365d", f"No offer in the last {OFFER_LOOKBACK_DAYS} days.", OFFERS))
    add(
        _f(
            "days_since_last_response",
            "Days from the latest acceptance, rejection or dismissal of an offer of the last 365 days "
            f"({answered}) to the cut-off.",
            OFFERS,
            missing=f"no such answer: {OFFER_LOOKBACK_DAYS}",
            fill=float(OFFER_LOOKBACK_DAYS),
        )
    )
    add(
        _f(
            "last_offer_response",
            "What the latest offer of the last 365 days had come to at the cut-off: accepted, rejected (or "
            "dismissed), no_response (no answer recorded before the cut-off, whatever came later) or none "
            "(no offer). Offers made at the same instant: accepted first, then rejected.",
            OFFERS,
            kind=Kind.CATEGORICAL,
            categories=(*OFFER_RESPONSES, UNKNOWN),
            fill="none",
            missing="no offer: 'none'",
        )
    )
    add(_f("campaigns_365d", "Distinct campaigns that made the customer an offer in the last 365 days.", OFFERS))
    add(
        _f(
            "offers_latest_campaign",
            "Offers of the last 365 days from the campaign that made the latest one: how many times that "
            "campaign has tried already.",
            OFFERS,
        )
    )
    add(
        _f(
            "offers_earlier_campaigns_365d",
            "Offers of the last 365 days from other campaigns than the one that made the latest offer.",
            OFFERS,
        )
    )
    for name, what in (
        ("offers_365d", "Offers of one product in the last 365 days"),
        ("accepted_365d", f"Offers of one product in the last 365 days accepted ({answered})"),
        ("rejected_365d", f"Offers of one product in the last 365 days rejected or dismissed ({answered})"),
    ):
        add(_f(f"{name}_{{key}}", f"{what}; key: the product code in lower case.", OFFERS, template=True))
    add(
        _f(
            "phone_type",
            "The kind of phone number on file: mobile (an E.164 number in a mobile range of MOBILE_PREFIXES: "
            "PT, ES, FR, UK, DE, IT, IE, NL, BE, LU, AT, CH), other (any other number) or none. Contact details "
            "keep no history: the number on file now, if Crossell had received it before the cut-off.",
            DETAILS,
            kind=Kind.CATEGORICAL,
            categories=(*PHONE_TYPES, UNKNOWN),
            fill="none",
            missing="no number, erased, or received after the cut-off: 'none'",
        )
    )
    add(
        _f(
            "calendar_month",
            "Month of the cut-off (1 to 12), for seasonality.",
            "the cut-off date",
            missing="never missing",
        )
    )
    return out


def _build() -> list[Feature]:
    out: list[Feature] = []
    add = out.append
    money = "in BASE_CURRENCY at the latest FX rate before the cut-off"
    # Balances (complete calendar months before the cut-off).
    for months in (3, 6, 12):
        add(
            _f(
                f"avg_balance_{months}m",
                f"Mean over the last {months} complete months of the customer's total monthly average balance, "
                f"{money}.",
                BAL,
                missing="no balance month in the window: 0, flagged by no_balance_history",
                indicator="no_balance_history",
            )
        )
    add(
        _f(
            "balance_trend_6m",
            "Least-squares slope of the monthly total balance over the last 6 complete months, per month.",
            BAL,
            missing="fewer than 2 months: 0",
        )
    )
    add(_flag("no_balance_history", "No balance month in the last 12 complete months.", BAL))
    add(_f("days_overdrawn_3m", "Days overdrawn over the last 3 complete months, all accounts.", BAL))
    add(_f("missed_payments_3m", "Payments missed over the last 3 complete months, all accounts.", BAL))
    # Transactions.
    for days in DAY_WINDOWS:
        add(_f(f"txn_count_{days}d", f"Transactions booked in the last {days} days.", TXN))
        add(_f(f"spend_{days}d", f"Debits (money out) in the last {days} days, {money}.", TXN))
        for group, cats in CATEGORY_GROUPS.items():
            listed = ", ".join(cats)
            add(_f(f"txn_count_{group}_{days}d", f"Transactions in group {group} ({listed}), last {days} days.", TXN))
            add(
                _f(
                    f"txn_amount_{group}_{days}d",
                    f"Sum of absolute amounts in group {group} ({listed}), last {days} days, {money}.",
                    TXN,
                )
            )
        for channel in CHANNELS:
            add(_f(f"txn_count_{channel}_{days}d", f"Transactions through channel {channel}, last {days} days.", TXN))
            add(
                _f(
                    f"txn_amount_{channel}_{days}d",
                    f"Sum of absolute amounts through channel {channel}, last {days} days, {money}.",
                    TXN,
                )
            )
    for category in SPEND_CATEGORIES:
        add(
            _f(
                f"spend_share_{category}_90d",
                f"Share of the last 90 days' debits spent on {category} (0 to 1).",
                TXN,
                missing="no debit in 90 days: 0, flagged by no_spend_90d",
                indicator="no_spend_90d",
            )
        )
    add(_flag("no_spend_90d", "No debit in the last 90 days.", TXN))
    add(_f("travel_spend_30d", f"Travel debits in the last 30 days, {money}.", TXN))
    add(
        _f(
            "travel_spend_spike",
            "log(1 + travel debits of the last 30 days) - log(1 + monthly mean of travel debits in the 90 days "
            "before them): above 0 when travel spending jumps.",
            TXN,
            missing="no travel spend in either period: 0",
        )
    )
    add(
        _f(
            "spend_spike",
            "log(1 + debits of the last 30 days) - log(1 + monthly mean of debits in the 90 days before them).",
            TXN,
            missing="no spend in either period: 0",
        )
    )
    add(
        _f(
            "days_since_last_transaction",
            f"Days from the last transaction to the cut-off (read back {RECENCY_LOOKBACK_DAYS} days).",
            TXN,
            missing=f"none in {RECENCY_LOOKBACK_DAYS} days: {RECENCY_LOOKBACK_DAYS}, flagged by no_recent_transaction",
            fill=float(RECENCY_LOOKBACK_DAYS),
            indicator="no_recent_transaction",
        )
    )
    add(_flag("no_recent_transaction", f"No transaction in the last {RECENCY_LOOKBACK_DAYS} days.", TXN))
    add(_f("salary_monthly_3m", f"Salary credits per month over the last 3 months, {money}.", TXN))
    add(_f("salary_monthly_prev_3m", f"Salary credits per month over the 3 months before those, {money}.", TXN))
    add(_f("salary_change_3m", "salary_monthly_3m minus salary_monthly_prev_3m.", TXN))
    add(_flag("salary_detected", "At least one salary credit in the last 3 months.", TXN))
    # Interactions.
    add(
        _f(
            "days_since_last_login",
            f"Days from the last login to the cut-off (read back {RECENCY_LOOKBACK_DAYS} days).",
            INTER,
            missing=f"none in {RECENCY_LOOKBACK_DAYS} days: {RECENCY_LOOKBACK_DAYS}, flagged by no_recent_login",
            fill=float(RECENCY_LOOKBACK_DAYS),
            indicator="no_recent_login",
        )
    )
    add(_flag("no_recent_login", f"No login in the last {RECENCY_LOOKBACK_DAYS} days.", INTER))
    add(_f("logins_30d", "Logins in the last 30 days (digital engagement).", INTER))
    add(_f("logins_90d", "Logins in the last 90 days.", INTER))
    add(_f("digital_events_30d", "Interactions through web or app in the last 30 days.", INTER))
    add(_f("complaints_90d", "Complaints in the last 90 days.", INTER))
    add(_f("service_calls_90d", "Service calls in the last 90 days.", INTER))
    add(_f("calculator_uses_30d", "Product calculator uses in the last 30 days.", INTER))
    add(_f("applications_started_30d", "Product applications started in the last 30 days.", INTER))
    for days in (7, 30):
        add(_f(f"product_page_views_{days}d", f"Product-page views, all products, last {days} days.", INTER))
        add(
            _f(
                f"views_{days}d_{{key}}",
                f"Views of one product's page in the last {days} days; key: the product code in lower case.",
                INTER,
                template=True,
            )
        )
    add(
        _f(
            "latest_satisfaction",
            f"The latest satisfaction score (1 to 5) given in the last {SATISFACTION_LOOKBACK_DAYS} days.",
            INTER,
            missing="none: 0, flagged by no_satisfaction",
            indicator="no_satisfaction",
        )
    )
    add(_flag("no_satisfaction", f"No satisfaction score in the last {SATISFACTION_LOOKBACK_DAYS} days.", INTER))
    # Holdings at the cut-off (opened before it, not closed before it; primary or joint holder).
    for family in PRODUCT_FAMILIES:
        add(_flag(f"holds_{family}", f"Holds at least one open {family} product at the cut-off.", ACC))
    add(_f("products_held", "Distinct products held at the cut-off.", ACC))
    # Credit score.
    add(
        _f(
            "credit_score",
            "The latest credit score dated before the cut-off.",
            SCORE,
            missing="no score: 0, flagged by no_credit_score",
            indicator="no_credit_score",
        )
    )
    add(_flag("no_credit_score", "No credit score before the cut-off.", SCORE))
    add(
        _f(
            "credit_score_change_6m",
            f"credit_score minus the latest score dated more than {CREDIT_SCORE_CHANGE_DAYS} days before the cut-off.",
            SCORE,
            missing="either score missing: 0",
        )
    )
    # Market context.
    # Declared before market_{key}, whose pattern would match its names too.
    add(
        _f(
            f"market_change_{MARKET_CHANGE_DAYS}d_{{key}}",
            f"Latest value of one market indicator dated before the cut-off minus the latest dated more than "
            f"{MARKET_CHANGE_DAYS} days before it (for a monthly indicator, about this month's value minus the "
            "previous month's): which way the market is moving. Key: the indicator name in lower case.",
            MARKET,
            missing="either value missing: 0",
            template=True,
        )
    )
    add(
        _f(
            "market_{key}",
            "Latest value of one market indicator dated before the cut-off; key: the indicator name in lower case.",
            MARKET,
            missing="no value before the cut-off: 0",
            template=True,
        )
    )
    out.extend(_contact_features())
    # The customer.
    add(_f("tenure_months", "Whole months from customer_since to the cut-off.", CUST, missing="never missing"))
    add(
        _f(
            "income",
            f"Yearly income in force at the cut-off, {money}.",
            HIST,
            missing="unknown: 0, flagged by income_missing",
            indicator="income_missing",
        )
    )
    add(_flag("income_missing", "Income unknown at the cut-off.", HIST))
    categorical = {"kind": Kind.CATEGORICAL, "fill": UNKNOWN, "missing": f"unknown: '{UNKNOWN}'"}
    add(
        _f(
            "employment_type",
            "Employment type in force at the cut-off.",
            HIST,
            categories=tuple(choices.EmploymentType.values),
            **categorical,
        )
    )
    add(
        _f(
            "risk_rating",
            "Risk rating in force at the cut-off.",
            HIST,
            categories=(*choices.RiskRating.values, UNKNOWN),
            **categorical,
        )
    )
    add(_f("region", "Region in force at the cut-off (open vocabulary).", HIST, **categorical))
    add(
        _f(
            "age",
            "Whole years of age at the cut-off. Protected: for eligibility rules (minimum age), never a model input.",
            CUST,
            use=Use.RULES,
            missing="never missing",
        )
    )
    protected = {**categorical, "use": Use.FAIRNESS_ONLY}
    add(_f("age_band", "Age band at the cut-off, for fairness tests.", CUST, categories=AGE_BANDS, **protected))
    add(_f("gender", "Gender, for fairness tests.", CUST, categories=(*choices.Gender.values, UNKNOWN), **protected))
    add(
        _f(
            "marital_status",
            "Marital status in force at the cut-off, for fairness tests.",
            HIST,
            categories=tuple(choices.MaritalStatus.values),
            **protected,
        )
    )
    return out


CATALOGUE: tuple[Feature, ...] = tuple(_build())
_BY_NAME = {f.name: f for f in CATALOGUE if not f.template}
_TEMPLATES = [
    (re.compile(re.escape(f.name).replace(r"\{key\}", "[a-z0-9_]+") + "$"), f) for f in CATALOGUE if f.template
]
assert len(_BY_NAME) + len(_TEMPLATES) == len(CATALOGUE), "feature names are unique"


def feature_key(text: str) -> str:
    """The ``{key}`` form of a product code or indicator name: lower case, runs of
    other characters as one underscore."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "_"


def feature_get(name: str) -> Feature:
    """The declaration of a column, templates included; KeyError names an undeclared one."""
    if name in _BY_NAME:
        return _BY_NAME[name]
    for pattern, feature in _TEMPLATES:
        if pattern.match(name):
            return feature
    raise KeyError(f"feature {name!r} is not declared in modeling/feature_catalogue.py")


def model_feature_names(columns: Iterable[str] | None = None) -> list[str]:
    """The features a model may take as input, in catalogue order.

    Without ``columns``, the fixed features only; pass a feature frame's columns to
    include the data-dependent ones (per product, per market indicator) too.
    Protected and rules-only features are never returned."""
    if columns is None:
        return [f.name for f in CATALOGUE if not f.template and f.use is Use.MODEL]
    return [c for c in columns if feature_get(c).use is Use.MODEL]


# --- docs/features.md ----------------------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_features_doc() -> str:
    """docs/features.md as Markdown, generated from the catalogue so it cannot drift."""
    lines = [
        "# Crossell features",
        "",
        "<!-- Generated from modeling/feature_catalogue.py by `python -m modeling.feature_catalogue`; "
        "do not edit by hand. -->",
        "",
        "`modeling.features.compute_features(cutoff=..., customer_ids=...)` returns one row per customer who",
        "joined before the cut-off, indexed by customer id, with the columns below.",
        "",
        "## Point in time",
        "",
        "- The cut-off is a date; features describe the customer at the start of that day in the bank's time",
        "  zone (`BANK_TIME_ZONE`), converted to UTC. Only facts dated strictly before that instant are read,",
        "  and only facts Crossell had received by then (`received_at`), so a transaction booked before the",
        "  cut-off but delivered after it is not seen. `known_at` may move the second bound later, for history",
        "  loaded in bulk after the fact, whose `received_at` is the load time.",
        "- Day windows (`_7d`, `_30d`, `_90d`) run from the start of the day N days before the cut-off to the",
        "  cut-off. Month windows (`_3m`, `_6m`, `_12m`) on balances are complete calendar months before the",
        "  cut-off's month; salary months are calendar months back from the cut-off date.",
        "- Customer attributes (income, employment type, region, risk rating, marital status) are the value",
        "  in force at the cut-off from their dated history. The customer's current row is used only when the",
        "  attribute has no history at all; when it has history but none in force yet, the value is unknown.",
        "- Holdings are accounts opened before the cut-off and not closed before it, held as primary or joint",
        "  holder; the account's current status is not used, as it may have changed since.",
        "- Money is converted to `BASE_CURRENCY` at the latest FX rate dated before the cut-off; amounts in a",
        "  currency without such a rate are left out of money features (they still count in counts).",
        "- Offers (contact history) count by `offered_at`; an offer's answer counts only once recorded",
        "  (`responded_at`) before the cut-off, so an offer answered later reads as unanswered. Contact details",
        "  keep no history: `phone_type` reads the number on file now, if received before the cut-off.",
        "",
        "## Allowed use",
        "",
        "- `model`: a model input (rules and reports may use it too). `model_feature_names()` returns these.",
        "- `rules`: rules, eligibility and reports only, never a model input.",
        "- `fairness_only`: a protected attribute, for fairness tests only.",
        "",
        "## Missing values and encoding",
        "",
        "- Numeric features are float64. A missing value becomes the fill value listed; where the absence",
        "  itself is informative a boolean indicator feature says so.",
        "- Boolean features are `bool`.",
        f"- Categorical features are text; missing or unrecognised values become `{UNKNOWN}`. Models encode",
        "  them as LightGBM categorical codes over the vocabulary listed (for an open vocabulary, the values",
        "  seen in training, stored with the model); a value outside it is treated as `unknown`.",
        "- Template names (`{key}`) give one column per product (the product code in lower case) or per",
        "  market indicator (its name in lower case), from the products and indicators known at the cut-off.",
        "",
        "## Features",
        "",
        "| Name | Type | Use | Source | Missing | Description |",
        "|---|---|---|---|---|---|",
    ]
    for f in CATALOGUE:
        kind = f.kind.value
        if f.categories:
            kind += ": " + ", ".join(f"`{c}`" for c in f.categories)
        lines.append(
            f"| `{f.name}` | {_cell(kind)} | {f.use.value} | {_cell(f.source)} | {_cell(f.missing)} | "
            f"{_cell(f.description)} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render_features_doc(), end="")
