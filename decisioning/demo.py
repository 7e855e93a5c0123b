"""The demo bank's decisioning setup as data, and the loader that puts it in place.

For the ten products of ``customers.demo.catalogue`` this holds what a bank's
marketing and risk teams would configure: two business issues (grow the
relationship, keep customers who may leave), an offer group per product family,
one offer per product with its headline and exclusion group, a treatment per
offer on every channel with its mandatory disclosures, the policy rules, and the
contact policies. ``manage.py demo_catalogue`` loads it for the demo and the
benchmarks.

No service (transactional) issue: a service message (card renewal, overdraft
alert) is not one of the demo products, and the catalogue keeps one offer per
product.

Rules read ``context.reason`` with these call reasons: ``complaint``,
``account_closure``, ``switching`` (the customer may leave), and ``bereavement``,
``fraud``, ``financial_difficulty``, ``power_of_attorney`` (no sales at all).
Web placements near debt help are ``context.page`` ``debt-help``,
``money-worries`` and ``financial-support``.

Loading is idempotent: what is missing is created, and a second run changes
nothing and publishes no new rule-set version. A row that differs from its
definition here was most likely edited by the bank's people since, so it is kept
and reported; ``reset`` puts the demo definitions back (and publishes the demo
rules as a new version if they differ from the published ones).
"""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction

from core.models import User
from core.permissions import user_can
from customers.models import Product
from decisioning.catalogue import (
    business_issue_create,
    business_issue_update,
    contact_policy_create,
    contact_policy_reactivate,
    contact_policy_update,
    lever_set,
    offer_create,
    offer_group_create,
    offer_group_update,
    offer_update,
)
from decisioning.models import (
    BusinessIssue,
    ContactPolicy,
    ContactPolicyKind,
    Offer,
    OfferGroup,
    RuleSetStatus,
    RuleSetVersion,
    Treatment,
    TreatmentChannel,
)
from decisioning.rule_sets import (
    content_hash,
    rule_set_draft,
    rule_set_draft_save,
    rule_set_publish,
    rule_set_published,
)
from decisioning.services import treatment_save

RULE_SET_NOTE = "Demo bank rules"

# --- business issues and offer groups -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoIssue:
    code: str
    name: str
    description: str
    lever_percent: int = 100
    transactional: bool = False


@dataclass(frozen=True)
class DemoGroup:
    code: str
    issue: str
    name: str
    lever_percent: int = 100


ISSUES: tuple[DemoIssue, ...] = (
    DemoIssue(
        "grow",
        "Grow the relationship",
        "Products a customer does not hold yet and is likely to need: the next best product.",
    ),
    # Keeping a customer is worth more than the current account's product value says
    # (their savings, cards and loans tend to leave with it): retention weighs 1.5x.
    DemoIssue(
        "retain",
        "Keep the customer",
        "Customers showing signs of leaving (falling balances, salary gone elsewhere, a complaint): "
        "give them a reason to stay.",
        lever_percent=150,
    ),
)

GROUPS: tuple[DemoGroup, ...] = (
    DemoGroup("current-accounts", "retain", "Current account rewards"),
    DemoGroup("savings", "grow", "Savings"),
    DemoGroup("cards", "grow", "Credit cards"),
    DemoGroup("loans", "grow", "Personal loans"),
    DemoGroup("mortgages", "grow", "Mortgages"),
    DemoGroup("investments", "grow", "Investments"),
    DemoGroup("pensions", "grow", "Pensions"),
    DemoGroup("insurance", "grow", "Insurance"),
)

# --- offers and their treatments ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Copy:
    """One channel's text: email subject and body, push title and text, web banner
    title and text, or a call-centre heading and talking points."""

    subject: str
    body: str


@dataclass(frozen=True)
class DemoOffer:
    code: str
    product: str  # customers.Product code
    group: str
    name: str
    headline_value: str
    disclosures: str
    copy: Mapping[str, Copy]
    exclusion_group: str = ""
    lever_percent: int = 100
    # A dated offer runs this many days from the day it is loaded; None: no end.
    runs_days: int | None = None


# Tokens filled from the product's currency before a text is saved: money amounts
# and the deposit guarantee wording differ by currency.
CURRENCY_SYMBOLS = {"EUR": "€", "GBP": "£", "USD": "$", "CHF": "CHF "}
DEPOSIT_PROTECTION = {
    "EUR": "Eligible deposits are protected up to €100,000 per depositor by the national deposit guarantee scheme.",
}
DEPOSIT_PROTECTION_OTHER = (
    "Eligible deposits are protected by the national deposit guarantee scheme, up to its limit per depositor."
)
CREDIT_WARNING = (
    "Credit is subject to status and affordability. Late or missed payments can affect your credit score "
    "and may make it harder to borrow."
)
CAPITAL_AT_RISK = (
    "Capital at risk: the value of investments can go down as well as up, and you may get back less than you "
    "invest. Past performance is not a reliable indicator of future results."
)
INSURANCE_TERMS = (
    "Cover is subject to the policy terms, conditions, exclusions and excesses: read the policy summary before "
    "you buy. You can cancel within 14 days of buying or receiving your documents for a full refund if no "
    "claim has been made. {{ bank.name }} introduces the insurer and is paid commission."
)

OFFERS: tuple[DemoOffer, ...] = (
    DemoOffer(
        code="current-rewards",
        product="CURRENT",
        group="current-accounts",
        name="Bill cashback for loyal customers",
        headline_value="1% cashback on household bills",
        disclosures=(
            "1% cashback on household bills paid by Direct Debit from your {{ product.name }}, up to {cur}5 a "
            "month, paid monthly, when at least {cur}1,000 is paid into the account each month. Rewards may "
            "change with two months' notice. {dgs}"
        ),
        copy={
            TreatmentChannel.EMAIL: Copy(
                "{{ customer.first_name }}, a thank-you from {{ bank.name }}: {{ offer.value }}",
                "Hello {{ customer.first_name }},\n\n"
                "Thank you for banking with us. From this month your {{ product.name }} can earn "
                "{{ offer.value }} paid by Direct Debit: energy, water, phone and broadband, council and "
                "local taxes.\n\n"
                "There is nothing to fill in: switch the rewards on in the app or online banking and keep paying "
                "your salary in.\n\n"
                "The {{ bank.name }} team",
            ),
            TreatmentChannel.PUSH: Copy(
                "A thank-you for you",
                "{{ customer.first_name }}, your {{ product.name }} can now earn {{ offer.value }}. "
                "Tap to switch it on: it takes a few seconds.",
            ),
            TreatmentChannel.WEB: Copy(
                "{{ offer.value }}",
                "Your {{ product.name }} pays you back: {{ offer.value }} paid by Direct Debit. "
                "Switch the rewards on in one tap.",
            ),
            TreatmentChannel.CALL_CENTRE: Copy(
                "Retention: {{ offer.name }}",
                "- Listen first: resolve why {{ customer.first_name }} called before mentioning any offer.\n"
                "- Thank them for banking with {{ bank.name }}.\n"
                "- Offer {{ offer.value }} on their {{ product.name }}, up to {cur}5 a month.\n"
                "- Condition: at least {cur}1,000 paid in each month.\n"
                "- If they still want to close or switch, process it without further persuasion.",
            ),
        },
    ),
    DemoOffer(
        code="savings-instant",
        product="SAVINGS",
        group="savings",
        name="Instant access saver",
        headline_value="4.1% AER variable",
        disclosures=(
            "AER (Annual Equivalent Rate) shows what the interest rate would be if interest were paid and "
            "compounded once a year. The rate is variable and can change. Interest is paid monthly. Withdraw at "
            "any time without a penalty. {dgs}"
        ),
        copy={
            TreatmentChannel.EMAIL: Copy(
                "{{ customer.first_name }}, earn {{ offer.value }} on your savings",
                "Hello {{ customer.first_name }},\n\n"
                "Money in a current account earns little. Our {{ product.name }} pays {{ offer.value }}, and "
                "you can take your money out whenever you like, with no penalty.\n\n"
                "Open it in the app in two minutes and move money across from your current account whenever it "
                "suits you.\n\n"
                "The {{ bank.name }} team",
            ),
            TreatmentChannel.PUSH: Copy(
                "Make your money work",
                "{{ customer.first_name }}, our {{ product.name }} pays {{ offer.value }} and you can withdraw "
                "any time. Open it in two minutes.",
            ),
            TreatmentChannel.WEB: Copy(
                "{{ offer.value }} with instant access",
                "Save with {{ bank.name }} and withdraw whenever you need to. Open a {{ product.name }} in two "
                "minutes.",
            ),
            TreatmentChannel.CALL_CENTRE: Copy(
                "Savings: {{ offer.name }}",
                "- {{ product.name }} at {{ offer.value }}; the rate can change.\n"
                "- Instant access: no notice, no penalty.\n"
                "- Opens in two minutes; can be funded from the current account today.\n"
                "- Read the deposit protection statement if the customer asks about safety.",
            ),
        },
    ),
    DemoOffer(
        code="card-classic",
        product="CC_CLASSIC",
        group="cards",
        name="Classic card 0% purchase offer",
        headline_value="0% on purchases for 12 months",
        exclusion_group="credit-card",
        disclosures=(
            "Representative example: 24.9% APR representative (variable), based on an assumed credit limit of "
            "{cur}1,200 and a purchase rate of 24.9% a year (variable), no annual fee. 0% on purchases for 12 "
            "months from account opening, then the standard purchase rate applies. You must be 18 or over. "
            + CREDIT_WARNING
        ),
        copy={
            TreatmentChannel.EMAIL: Copy(
                "{{ customer.first_name }}, {{ offer.value }} on the {{ product.name }}",
                "Hello {{ customer.first_name }},\n\n"
                "Spread the cost of bigger purchases with the {{ product.name }}: {{ offer.value }}, no annual "
                "fee, and purchase protection on anything over {cur}100.\n\n"
                "Check whether you are likely to be accepted before you apply: it does not affect your credit "
                "score.\n\n"
                "The {{ bank.name }} team",
            ),
            TreatmentChannel.PUSH: Copy(
                "{{ offer.value }}",
                "{{ customer.first_name }}, the {{ product.name }} gives you {{ offer.value }} and no annual "
                "fee. See if you are eligible without affecting your credit score.",
            ),
            TreatmentChannel.WEB: Copy(
                "{{ offer.value }}",
                "The {{ product.name }}: {{ offer.value }}, no annual fee. Check your eligibility in a minute "
                "without affecting your credit score.",
            ),
            TreatmentChannel.CALL_CENTRE: Copy(
                "Cards: {{ offer.name }}",
                "- {{ product.name }}: {{ offer.value }}, then the standard rate; no annual fee.\n"
                "- Read the representative example in full before any application.\n"
                "- Offer the eligibility check first (soft search, no effect on the credit score).\n"
                "- Ask about income and regular outgoings; do not proceed if the customer mentions "
                "money worries.",
            ),
        },
    ),
    DemoOffer(
        code="card-premium",
        product="CC_PREMIUM",
        group="cards",
        name="Premium card travel offer",
        headline_value="No foreign transaction fees + lounge access",
        exclusion_group="credit-card",
        disclosures=(
            "Representative example: 50.7% APR representative (variable), based on an assumed credit limit of "
            "{cur}1,200, a purchase rate of 22.9% a year (variable) and an annual fee of {cur}120. Airport "
            "lounge access and travel benefits are subject to their terms. You must be 21 or over. " + CREDIT_WARNING
        ),
        copy={
            TreatmentChannel.EMAIL: Copy(
                "{{ customer.first_name }}, travel better with the {{ product.name }}",
                "Hello {{ customer.first_name }},\n\n"
                "The {{ product.name }} is made for the way you spend: {{ offer.value }}, 1% cashback on "
                "travel and dining, and worldwide purchase protection.\n\n"
                "The card has an annual fee of {cur}120. Check your eligibility online in a minute without "
                "affecting your credit score.\n\n"
                "The {{ bank.name }} team",
            ),
            TreatmentChannel.PUSH: Copy(
                "Travel better",
                "{{ customer.first_name }}, the {{ product.name }}: {{ offer.value }}. Annual fee {cur}120. "
                "Check your eligibility without affecting your credit score.",
            ),
            TreatmentChannel.WEB: Copy(
                "The {{ product.name }}",
                "{{ offer.value }}, 1% cashback on travel and dining. Annual fee {cur}120. Check your "
                "eligibility in a minute.",
            ),
            TreatmentChannel.CALL_CENTRE: Copy(
                "Cards: {{ offer.name }}",
                "- {{ product.name }}: {{ offer.value }}; 1% cashback on travel and dining.\n"
                "- Annual fee {cur}120: say it up front, before the benefits are discussed in detail.\n"
                "- Read the representative example in full before any application.\n"
                "- A Classic card holder can upgrade and keep the same account number.",
            ),
        },
    ),
    DemoOffer(
        code="loan-personal",
        product="PERSONAL_LOAN",
        group="loans",
        name="Personal loan rate offer",
        headline_value="6.4% APR representative",
        exclusion_group="lending",
        disclosures=(
            "Representative example: borrowing {cur}10,000 over 60 months at 6.4% APR representative, a fixed "
            "rate of 6.22% a year, you would repay 60 monthly payments of {cur}194.35; total amount payable "
            "{cur}11,661.00. The rate you are offered depends on your circumstances and may differ from the "
            "representative rate. You must be 18 or over. " + CREDIT_WARNING
        ),
        copy={
            TreatmentChannel.EMAIL: Copy(
                "{{ customer.first_name }}, a {{ product.name }} at {{ offer.value }}",
                "Hello {{ customer.first_name }},\n\n"
                "Planning a car, a new kitchen or a big event? A {{ product.name }} from {{ bank.name }} at "
                "{{ offer.value }} gives you fixed monthly payments over one to seven years, and you can repay "
                "early at any time.\n\n"
                "See your personal rate before you apply: checking does not affect your credit score.\n\n"
                "The {{ bank.name }} team",
            ),
            TreatmentChannel.PUSH: Copy(
                "Fixed payments, your rate in a minute",
                "{{ customer.first_name }}, a {{ product.name }} at {{ offer.value }} with fixed monthly "
                "payments. See your personal rate without affecting your credit score.",
            ),
            TreatmentChannel.WEB: Copy(
                "{{ product.name }} at {{ offer.value }}",
                "Borrow {cur}1,000 to {cur}25,000 over one to seven years with fixed monthly payments. See your "
                "personal rate without affecting your credit score.",
            ),
            TreatmentChannel.CALL_CENTRE: Copy(
                "Lending: {{ offer.name }}",
                "- {{ product.name }} at {{ offer.value }}; {cur}1,000 to {cur}25,000, one to seven years.\n"
                "- Ask what the loan is for and whether the payments are comfortable alongside other "
                "commitments.\n"
                "- Quote only the representative example until the customer's own rate is known.\n"
                "- Never offer to consolidate debts the customer is struggling with: refer to the money "
                "worries team.",
            ),
        },
    ),
    DemoOffer(
        code="mortgage-home",
        product="MORTGAGE",
        group="mortgages",
        name="5-year fixed-rate mortgage",
        headline_value="4.29% fixed for 5 years",
        exclusion_group="lending",
        runs_days=91,
        disclosures=(
            "Your home may be repossessed if you do not keep up repayments on your mortgage. Representative "
            "example: a mortgage of {cur}200,000 over 25 years, initially at a fixed rate of 4.29% for 5 "
            "years and then at our variable rate of 6.49% for the remaining 20 years, would require 60 monthly "
            "payments of {cur}1,087.96 followed by 240 monthly payments of {cur}1,304.40. Total amount payable "
            "{cur}379,332.60, including a product fee of {cur}999. The overall cost for comparison is 5.7% APRC "
            "representative. Rate available for applications until {{ offer.ends_on }}."
        ),
        copy={
            TreatmentChannel.EMAIL: Copy(
                "{{ customer.first_name }}, fix your mortgage at {{ offer.value }}",
                "Hello {{ customer.first_name }},\n\n"
                "Buying a home or looking to switch your mortgage? Our {{ product.name }} at {{ offer.value }} "
                "keeps your payments the same for five years.\n\n"
                "Book a free appointment with one of our mortgage advisers to see how much you could borrow. "
                "This rate is available until {{ offer.ends_on }}.\n\n"
                "The {{ bank.name }} team",
            ),
            TreatmentChannel.PUSH: Copy(
                "Thinking of moving?",
                "{{ customer.first_name }}, fix your {{ product.name }} at {{ offer.value }} until "
                "{{ offer.ends_on }}. Book a free call with an adviser.",
            ),
            TreatmentChannel.WEB: Copy(
                "{{ offer.value }}",
                "Fix your payments for five years with a {{ product.name }}. Book a free appointment with a "
                "mortgage adviser. Available until {{ offer.ends_on }}.",
            ),
            TreatmentChannel.CALL_CENTRE: Copy(
                "Mortgages: {{ offer.name }}",
                "- Do not advise: offer a free appointment with a qualified mortgage adviser.\n"
                "- Headline rate {{ offer.value }}, available until {{ offer.ends_on }}; product fee {cur}999.\n"
                "- Read the repossession warning before discussing any figures.\n"
                "- Note whether the customer is buying, moving or switching lender for the adviser.",
            ),
        },
    ),
    DemoOffer(
        code="fund-global",
        product="INVEST_FUND",
        group="investments",
        name="Global fund starter offer",
        headline_value="0.45% a year ongoing charge",
        disclosures=(
            CAPITAL_AT_RISK + " Ongoing charge 0.45% a year, included in the fund price; no dealing fees. This "
            "is not advice: if you are not sure whether investing is right for you, ask a financial adviser."
        ),
        copy={
            TreatmentChannel.EMAIL: Copy(
                "{{ customer.first_name }}, put your savings to work for the long term",
                "Hello {{ customer.first_name }},\n\n"
                "If you have savings you will not need for five years or more, the {{ product.name }} spreads "
                "your money across thousands of companies worldwide, for {{ offer.value }}.\n\n"
                "Start with {cur}50 a month or a lump sum from {cur}500, and stop or withdraw at any time.\n\n"
                "The {{ bank.name }} team",
            ),
            TreatmentChannel.PUSH: Copy(
                "Investing made simple",
                "{{ customer.first_name }}, invest in the {{ product.name }} from {cur}50 a month, "
                "{{ offer.value }}. Capital at risk.",
            ),
            TreatmentChannel.WEB: Copy(
                "Invest from {cur}50 a month",
                "The {{ product.name }}: thousands of companies worldwide in one fund, {{ offer.value }}. "
                "Capital at risk.",
            ),
            TreatmentChannel.CALL_CENTRE: Copy(
                "Investments: {{ offer.name }}",
                "- Information only, no advice: do not recommend an amount or say it suits the customer.\n"
                "- {{ product.name }}, {{ offer.value }}; from {cur}50 a month or {cur}500.\n"
                "- Say clearly that capital is at risk and that it is for money not needed for five years.\n"
                "- Suggest an emergency fund in savings first if the customer has none.",
            ),
        },
    ),
    DemoOffer(
        code="pension-personal",
        product="PENSION",
        group="pensions",
        name="Personal pension with tax relief",
        headline_value="Tax relief on every contribution",
        disclosures=(
            CAPITAL_AT_RISK + " You can normally take money from a pension only from the minimum pension age "
            "set by law. Tax relief depends on your circumstances and tax rules may change. Annual charge 0.5% "
            "of the pension's value. This is not advice."
        ),
        copy={
            TreatmentChannel.EMAIL: Copy(
                "{{ customer.first_name }}, give your retirement a boost",
                "Hello {{ customer.first_name }},\n\n"
                "{{ offer.value }}: every contribution you pay into a {{ product.name }} with "
                "{{ bank.name }} is worth more than it costs you.\n\n"
                "Start from {cur}25 a month, bring old workplace pensions together in one place, and see your "
                "projected retirement income in the app.\n\n"
                "The {{ bank.name }} team",
            ),
            TreatmentChannel.PUSH: Copy(
                "Your future self says thanks",
                "{{ offer.value }} with a {{ product.name }}, {{ customer.first_name }}. Start from {cur}25 a "
                "month. Capital at risk.",
            ),
            TreatmentChannel.WEB: Copy(
                "{{ offer.value }}",
                "Save for retirement with a {{ product.name }} from {cur}25 a month and combine old pensions in "
                "one place. Capital at risk.",
            ),
            TreatmentChannel.CALL_CENTRE: Copy(
                "Pensions: {{ offer.name }}",
                "- Information only, no advice.\n"
                "- {{ product.name }}: {{ offer.value }}; from {cur}25 a month; annual charge 0.5%.\n"
                "- Before a transfer, the customer should check for guarantees or exit fees on old pensions.\n"
                "- Money is locked in until the minimum pension age: say so plainly.",
            ),
        },
    ),
    DemoOffer(
        code="insurance-home",
        product="HOME_INS",
        group="insurance",
        name="Home insurance first-year discount",
        headline_value="15% off your first year online",
        disclosures="15% discount on the first year's premium when bought online; renewals at the standard price. "
        + INSURANCE_TERMS,
        copy={
            TreatmentChannel.EMAIL: Copy(
                "{{ customer.first_name }}, {{ offer.value }} on home insurance",
                "Hello {{ customer.first_name }},\n\n"
                "Protect your home and belongings with {{ product.name }} from {{ bank.name }}: buildings, "
                "contents or both, with 24/7 emergency help and new-for-old replacement.\n\n"
                "Get a quote in five minutes and get {{ offer.value }}.\n\n"
                "The {{ bank.name }} team",
            ),
            TreatmentChannel.PUSH: Copy(
                "{{ offer.value }}",
                "{{ customer.first_name }}, get a {{ product.name }} quote in five minutes and save {{ offer.value }}.",
            ),
            TreatmentChannel.WEB: Copy(
                "{{ product.name }}: {{ offer.value }}",
                "Buildings, contents or both, with 24/7 emergency help. Get a quote in five minutes.",
            ),
            TreatmentChannel.CALL_CENTRE: Copy(
                "Insurance: {{ offer.name }}",
                "- {{ product.name }}: buildings, contents or both; {{ offer.value }}.\n"
                "- Renters need contents cover only.\n"
                "- Mention the 14-day cooling-off period and the policy summary.\n"
                "- Quotes are online or by transfer to the insurer's team; do not quote a price.",
            ),
        },
    ),
    DemoOffer(
        code="insurance-travel",
        product="TRAVEL_INS",
        group="insurance",
        name="Annual multi-trip travel cover",
        headline_value="Worldwide cover from {cur}59 a year",
        disclosures="Price for one adult aged 18 to 64, European cover; worldwide cover and older travellers cost "
        "more. Pre-existing medical conditions must be declared or they are not covered. " + INSURANCE_TERMS,
        copy={
            TreatmentChannel.EMAIL: Copy(
                "{{ customer.first_name }}, cover every trip this year",
                "Hello {{ customer.first_name }},\n\n"
                "One {{ product.name }} policy covers every trip in the next twelve months: medical costs, "
                "cancellation, lost luggage and travel delays. {{ offer.value }}.\n\n"
                "Buy before you book and you are covered if you have to cancel.\n\n"
                "The {{ bank.name }} team",
            ),
            TreatmentChannel.PUSH: Copy(
                "Going away?",
                "{{ customer.first_name }}, one {{ product.name }} policy covers every trip this year. "
                "{{ offer.value }}.",
            ),
            TreatmentChannel.WEB: Copy(
                "{{ offer.value }}",
                "{{ product.name }}: medical costs, cancellation and lost luggage for every trip in a year.",
            ),
            TreatmentChannel.CALL_CENTRE: Copy(
                "Insurance: {{ offer.name }}",
                "- {{ product.name }}: every trip for twelve months; {{ offer.value }}.\n"
                "- Pre-existing medical conditions must be declared.\n"
                "- Cover for cancellation starts when the policy is bought, so buying early matters.",
            ),
        },
    ),
)

# --- rules ----------------------------------------------------------------------------------------------------------


def _is(field_name: str, op: str, value: Any = None) -> dict[str, Any]:
    node: dict[str, Any] = {"field": field_name, "op": op}
    if op != "exists":
        node["value"] = value
    return node


def _holds(code: str) -> dict[str, Any]:
    return _is("holdings.products", "contains", code)


def _all(*nodes: dict[str, Any]) -> dict[str, Any]:
    return {"all": list(nodes)}


def _any(*nodes: dict[str, Any]) -> dict[str, Any]:
    return {"any": list(nodes)}


def _not(node: dict[str, Any]) -> dict[str, Any]:
    # Blocking conditions are written as "not (bad sign)": an unknown value fails
    # the inner test, so a missing feature never blocks on its own.
    return {"not": node}


def _rule(rule_id: str, name: str, kind: str, scope: str, scope_code: str, tree: dict[str, Any]) -> dict[str, Any]:
    return {"id": rule_id, "name": name, "kind": kind, "scope": scope, "scope_code": scope_code, "tree": tree}


SENSITIVE_REASONS = ["bereavement", "fraud", "financial_difficulty", "power_of_attorney"]
LEAVING_REASONS = ["complaint", "account_closure", "switching"]
DEBT_HELP_PAGES = ["debt-help", "money-worries", "financial-support"]


def _offer_rules() -> list[dict[str, Any]]:
    """Per-offer rules; an offer of a product the customer holds is never made."""
    e, a, s = "eligibility", "applicability", "suitability"
    return [
        # Retention: for holders only, when the relationship is cooling.
        _rule("current-holder", "Holds an everyday current account", e, "offer", "current-rewards", _holds("CURRENT")),
        _rule(
            "current-cooling",
            "Signs the relationship is cooling",
            s,
            "offer",
            "current-rewards",
            _any(
                # Balances falling by more than a small amount a month, or the salary
                # that used to arrive has stopped (paid into another bank now).
                _is("feature.balance_trend_6m", "lt", -250),
                _all(_is("feature.salary_monthly_prev_3m", "gt", 0), _is("feature.salary_detected", "eq", False)),
                _is("feature.days_since_last_login", "gt", 60),
                _is("feature.complaints_90d", "gte", 1),
                _all(_is("feature.no_satisfaction", "eq", False), _is("feature.latest_satisfaction", "lte", 2)),
            ),
        ),
        _rule(
            "current-calls-leaving",
            "Not a call about something else",
            a,
            "offer",
            "current-rewards",
            _not(_all(_is("context.channel", "eq", "call_centre"), _is("context.reason", "not_in", LEAVING_REASONS))),
        ),
        # Savings.
        _rule("savings-new", "No instant access saver yet", e, "offer", "savings-instant", _not(_holds("SAVINGS"))),
        _rule(
            "savings-money-to-save",
            "Money left over to save",
            s,
            "offer",
            "savings-instant",
            _any(
                _is("feature.salary_monthly_3m", "gte", 1500),
                _is("feature.avg_balance_3m", "gte", 2000),
                _is("feature.txn_amount_income_90d", "gte", 4500),
            ),
        ),
        # Cards: one card each; the premium card is also an upgrade for Classic holders.
        _rule(
            "card-classic-new",
            "No credit card with us yet",
            e,
            "offer",
            "card-classic",
            _all(_not(_holds("CC_CLASSIC")), _not(_holds("CC_PREMIUM"))),
        ),
        _rule(
            "card-classic-affordable",
            "Income and credit score suit a card",
            s,
            "offer",
            "card-classic",
            _all(_is("feature.income", "gte", 12000), _is("feature.credit_score", "gte", 580)),
        ),
        _rule("card-premium-new", "No premium card yet", e, "offer", "card-premium", _not(_holds("CC_PREMIUM"))),
        _rule("card-premium-age", "21 or over", e, "offer", "card-premium", _is("customer.age", "gte", 21)),
        _rule(
            "card-premium-affluent",
            "Income, credit score and spending suit a premium card",
            s,
            "offer",
            "card-premium",
            _all(
                _is("feature.income", "gte", 60000),
                _is("feature.credit_score", "gte", 700),
                _any(
                    _is("feature.avg_balance_3m", "gte", 10000),
                    _is("feature.spend_30d", "gte", 1500),
                    _is("feature.txn_amount_leisure_90d", "gte", 1500),
                ),
            ),
        ),
        # Personal loan.
        _rule("loan-new", "No personal loan already", e, "offer", "loan-personal", _not(_holds("PERSONAL_LOAN"))),
        _rule("loan-age", "Aged 18 to 75", e, "offer", "loan-personal", _is("customer.age", "between", [18, 75])),
        _rule(
            "loan-affordable",
            "Income, credit score and employment suit a loan",
            s,
            "offer",
            "loan-personal",
            _all(
                _is("feature.income", "gte", 15000),
                _is("feature.credit_score", "gte", 620),
                _is("customer.employment_type", "in", ["employed", "self_employed", "retired"]),
            ),
        ),
        # Mortgage.
        _rule("mortgage-new", "No mortgage with us", e, "offer", "mortgage-home", _not(_holds("MORTGAGE"))),
        _rule("mortgage-age", "Aged 21 to 70", e, "offer", "mortgage-home", _is("customer.age", "between", [21, 70])),
        _rule(
            "mortgage-affordable",
            "Income, credit score and employment suit a mortgage",
            s,
            "offer",
            "mortgage-home",
            _all(
                _is("feature.income", "gte", 25000),
                _is("feature.credit_score", "gte", 660),
                _is("customer.employment_type", "in", ["employed", "self_employed"]),
            ),
        ),
        _rule(
            "mortgage-no-push",
            "Not a push notification: mortgages need a conversation",
            a,
            "offer",
            "mortgage-home",
            _not(_is("context.channel", "eq", "push")),
        ),
        # Investments.
        _rule("fund-new", "No fund holding yet", e, "offer", "fund-global", _not(_holds("INVEST_FUND"))),
        _rule(
            "fund-not-vulnerable",
            "Not flagged as vulnerable",
            s,
            "offer",
            "fund-global",
            _not(_is("customer.vulnerable", "eq", True)),
        ),
        _rule("fund-income", "Income to invest", s, "offer", "fund-global", _is("feature.income", "gte", 30000)),
        # Pension.
        _rule("pension-new", "No personal pension yet", e, "offer", "pension-personal", _not(_holds("PENSION"))),
        _rule("pension-age", "Under 65", e, "offer", "pension-personal", _is("customer.age", "lt", 65)),
        _rule(
            "pension-earning",
            "Earning an income to pay in",
            s,
            "offer",
            "pension-personal",
            _is("customer.employment_type", "in", ["employed", "self_employed"]),
        ),
        _rule(
            "pension-no-push",
            "Not a push notification: pensions need a conversation",
            a,
            "offer",
            "pension-personal",
            _not(_is("context.channel", "eq", "push")),
        ),
        # Insurance.
        _rule("home-ins-new", "No home insurance with us", e, "offer", "insurance-home", _not(_holds("HOME_INS"))),
        _rule(
            "home-ins-has-home",
            "Owns or rents a home",
            s,
            "offer",
            "insurance-home",
            _any(
                _holds("MORTGAGE"),
                _is("feature.spend_share_mortgage_payment_90d", "gt", 0),
                _is("feature.spend_share_rent_90d", "gt", 0),
            ),
        ),
        _rule("travel-ins-new", "No travel cover with us", e, "offer", "insurance-travel", _not(_holds("TRAVEL_INS"))),
        _rule(
            "travel-ins-age",
            "Aged 18 to 79 for annual cover",
            e,
            "offer",
            "insurance-travel",
            _is("customer.age", "between", [18, 79]),
        ),
    ]


def _shared_rules() -> list[dict[str, Any]]:
    """Rules on a whole issue or offer group."""
    e, a, s = "eligibility", "applicability", "suitability"
    no_sensitive_call = _not(_is("context.reason", "in", SENSITIVE_REASONS))
    no_debt_help_page = _not(_is("context.page", "in", DEBT_HELP_PAGES))
    no_gambling_pattern = _not(_is("feature.spend_share_gambling_90d", "gte", 0.05))
    return [
        _rule(
            "grow-no-sensitive-calls",
            "Not a sensitive call (bereavement, fraud, hardship)",
            a,
            "issue",
            "grow",
            no_sensitive_call,
        ),
        _rule(
            "retain-no-sensitive-calls",
            "Not a sensitive call (bereavement, fraud, hardship)",
            a,
            "issue",
            "retain",
            no_sensitive_call,
        ),
        _rule(
            "grow-not-on-complaint-calls",
            "Not a complaint call",
            a,
            "issue",
            "grow",
            _not(_all(_is("context.channel", "eq", "call_centre"), _is("context.reason", "eq", "complaint"))),
        ),
        _rule(
            "grow-not-after-complaints",
            "Fewer than two complaints in 90 days",
            s,
            "issue",
            "grow",
            _not(_is("feature.complaints_90d", "gte", 2)),
        ),
        _rule(
            "grow-respect-a-no",
            "No refusal in the last 30 days",
            s,
            "issue",
            "grow",
            _not(
                _all(
                    _is("feature.last_offer_response", "eq", "rejected"),
                    _is("feature.days_since_last_response", "lt", 30),
                )
            ),
        ),
        _rule(
            "grow-active-customers",
            "Active in the last six months",
            e,
            "issue",
            "grow",
            _not(_is("feature.no_recent_transaction", "eq", True)),
        ),
        _rule(
            "retain-established",
            "Customer for more than six months",
            e,
            "issue",
            "retain",
            _is("customer.customer_since", "more_than_days_ago", 182),
        ),
        _rule("cards-not-near-debt-help", "Not next to debt help", a, "group", "cards", no_debt_help_page),
        _rule("loans-not-near-debt-help", "Not next to debt help", a, "group", "loans", no_debt_help_page),
        _rule("mortgages-not-near-debt-help", "Not next to debt help", a, "group", "mortgages", no_debt_help_page),
        _rule(
            "cards-no-gambling-pattern",
            "Gambling under 5% of spending",
            s,
            "group",
            "cards",
            no_gambling_pattern,
        ),
        _rule(
            "loans-no-gambling-pattern",
            "Gambling under 5% of spending",
            s,
            "group",
            "loans",
            no_gambling_pattern,
        ),
        _rule(
            "investments-cash-cushion",
            "Has savings or a healthy balance",
            s,
            "group",
            "investments",
            _any(_is("holdings.families", "contains", "savings"), _is("feature.avg_balance_3m", "gte", 10000)),
        ),
    ]


def demo_rules() -> list[dict[str, Any]]:
    """The demo rule set as plain JSON (a fresh copy each call)."""
    return json.loads(json.dumps(_shared_rules() + _offer_rules()))


# --- contact policies -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoContactPolicy:
    code: str
    name: str
    kind: str
    limit: int
    period_days: int
    channel: str = ""
    suppress_days: int = 0


# Outbound channels are capped; the web and call-centre channels answer the customer,
# who came to us, so only the global cap and the suppression apply there.
CONTACT_POLICIES: tuple[DemoContactPolicy, ...] = (
    DemoContactPolicy(
        "email-weekly", "At most 2 marketing emails a week", ContactPolicyKind.CHANNEL_CAP, 2, 7, TreatmentChannel.EMAIL
    ),
    DemoContactPolicy(
        "push-weekly", "At most 3 marketing pushes a week", ContactPolicyKind.CHANNEL_CAP, 3, 7, TreatmentChannel.PUSH
    ),
    DemoContactPolicy("all-monthly", "At most 6 marketing offers a month", ContactPolicyKind.GLOBAL_CAP, 6, 30),
    DemoContactPolicy(
        "rest-after-3-noes",
        "Rest a product for 60 days after 3 refusals or ignores in 90 days",
        ContactPolicyKind.SUPPRESSION,
        3,
        90,
        suppress_days=60,
    ),
)

# --- loading --------------------------------------------------------------------------------------------------------

PRODUCT_CODES: tuple[str, ...] = tuple(o.product for o in OFFERS)


class DemoCatalogueError(ValueError):
    """The catalogue cannot be loaded (the demo products are missing)."""


@dataclass
class DemoCatalogueReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)  # put back to the demo definition (reset)
    kept: list[str] = field(default_factory=list)  # differ from the demo definition; left as edited
    unchanged: int = 0
    rule_set: str = ""
    rule_set_kept: bool = False  # the published rules (or an open draft) differ and were left alone


def _fill(text: str, currency: str) -> str:
    symbol = CURRENCY_SYMBOLS.get(currency, f"{currency} ")
    dgs = DEPOSIT_PROTECTION.get(currency, DEPOSIT_PROTECTION_OTHER)
    return text.replace("{cur}", symbol).replace("{dgs}", dgs)


def _differences(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    return sorted(name for name, value in wanted.items() if current[name] != value)


class _Loader:
    """Brings each row to its definition through the catalogue services, which
    validate and audit every write."""

    def __init__(self, *, actor: User, now: dt.datetime, reset: bool) -> None:
        self.actor = actor
        self.now = now
        self.reset = reset
        self.today = now.astimezone(zoneinfo.ZoneInfo(settings.BANK_TIME_ZONE)).date()
        self.report = DemoCatalogueReport()

    def _compare(self, label: str, current: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
        """The fields to change: none when equal, or when edited and not resetting."""
        changed = _differences(current, wanted)
        if not changed:
            self.report.unchanged += 1
            return []
        if not self.reset:
            self.report.kept.append(f"{label} (differs: {', '.join(changed)})")
            return []
        self.report.updated.append(label)
        return changed

    def _lever(self, row: BusinessIssue | OfferGroup | Offer, changed: list[str], percent: int) -> None:
        if "lever_percent" in changed:
            lever_set(target=row, percent=percent, actor=self.actor, now=self.now)

    def issue(self, spec: DemoIssue) -> None:
        label = f"business issue {spec.code}"
        issue = BusinessIssue.objects.filter(code=spec.code).first()
        if issue is None:
            business_issue_create(
                code=spec.code,
                name=spec.name,
                description=spec.description,
                transactional=spec.transactional,
                lever_percent=spec.lever_percent,
                actor=self.actor,
                now=self.now,
            )
            self.report.created.append(label)
            return
        wanted = {
            "name": spec.name,
            "description": spec.description,
            "transactional": spec.transactional,
            "lever_percent": spec.lever_percent,
        }
        changed = self._compare(label, {name: getattr(issue, name) for name in wanted}, wanted)
        if set(changed) - {"lever_percent"}:
            issue = business_issue_update(
                issue=issue,
                name=spec.name,
                description=spec.description,
                transactional=spec.transactional,
                actor=self.actor,
                now=self.now,
            )
        self._lever(issue, changed, spec.lever_percent)

    def group(self, spec: DemoGroup) -> None:
        label = f"offer group {spec.code}"
        group = OfferGroup.objects.select_related("issue").filter(code=spec.code).first()
        if group is None:
            offer_group_create(
                issue_code=spec.issue,
                code=spec.code,
                name=spec.name,
                lever_percent=spec.lever_percent,
                actor=self.actor,
                now=self.now,
            )
            self.report.created.append(label)
            return
        current = {"issue": group.issue.code, "name": group.name, "lever_percent": group.lever_percent}
        wanted = {"issue": spec.issue, "name": spec.name, "lever_percent": spec.lever_percent}
        changed = self._compare(label, current, wanted)
        if set(changed) - {"lever_percent"}:
            group = offer_group_update(
                group=group, issue_code=spec.issue, name=spec.name, actor=self.actor, now=self.now
            )
        self._lever(group, changed, spec.lever_percent)

    def offer(self, spec: DemoOffer, product: Product) -> Offer:
        label = f"offer {spec.code}"
        terms: dict[str, Any] = {
            "group_code": spec.group,
            "product_code": product.code,
            "name": spec.name,
            "headline_value": _fill(spec.headline_value, product.currency),
            "value": product.value,
            "currency": product.currency,
            "is_credit": product.is_credit,
            "exclusion_group": spec.exclusion_group,
            "active": True,
        }
        window: dict[str, dt.date | None] = {"starts_on": None, "ends_on": None}
        if spec.runs_days is not None:
            window = {"starts_on": self.today, "ends_on": self.today + dt.timedelta(days=spec.runs_days)}
        offer = Offer.objects.select_related("group", "product").filter(code=spec.code).first()
        if offer is None:
            offer = offer_create(
                code=spec.code,
                **terms,
                **window,
                lever_percent=spec.lever_percent,
                actor=self.actor,
                now=self.now,
            )
            self.report.created.append(label)
            return offer
        current = {
            "group_code": offer.group.code,
            "product_code": offer.product.code,
            "name": offer.name,
            "headline_value": offer.headline_value,
            "value": offer.value,
            "currency": offer.currency,
            "is_credit": offer.is_credit,
            "exclusion_group": offer.exclusion_group,
            "active": offer.active,
            "lever_percent": offer.lever_percent,
            # Only whether a window is wanted and still open is compared, so a running
            # window's dates do not move every day; a reset opens a fresh one.
            "window": offer.ends_on is not None and offer.ends_on >= self.today,
        }
        wanted = {**terms, "lever_percent": spec.lever_percent, "window": spec.runs_days is not None}
        if spec.runs_days is None and (offer.starts_on or offer.ends_on):
            current["window"] = True
        changed = self._compare(label, current, wanted)
        if set(changed) - {"lever_percent"}:
            dates = window if "window" in changed else {"starts_on": offer.starts_on, "ends_on": offer.ends_on}
            offer = offer_update(offer=offer, **terms, **dates, actor=self.actor, now=self.now)
        self._lever(offer, changed, spec.lever_percent)
        return offer

    def treatments(self, spec: DemoOffer, offer: Offer) -> None:
        existing = {t.channel: t for t in Treatment.objects.filter(offer=offer)}
        disclosures = _fill(spec.disclosures, offer.currency)
        for channel in TreatmentChannel.values:
            text = spec.copy[channel]
            subject, body = _fill(text.subject, offer.currency), _fill(text.body, offer.currency)
            label = f"treatment {offer.code}/{channel}"
            found = existing.get(channel)
            if found is not None:
                current = {"subject": found.subject, "body": found.body, "disclosures": found.disclosures}
                wanted = {"subject": subject, "body": body, "disclosures": disclosures}
                if not self._compare(label, current, wanted):
                    continue
            treatment_save(
                offer=offer,
                channel=channel,
                subject=subject,
                body=body,
                disclosures=disclosures,
                actor=self.actor,
                now=self.now,
            )
            if found is None:
                self.report.created.append(label)

    def contact_policy(self, spec: DemoContactPolicy) -> None:
        label = f"contact policy {spec.code}"
        terms = {
            "name": spec.name,
            "kind": spec.kind,
            "channel": spec.channel,
            "limit": spec.limit,
            "period_days": spec.period_days,
            "suppress_days": spec.suppress_days,
        }
        policy = ContactPolicy.objects.filter(code=spec.code).first()
        if policy is None:
            contact_policy_create(code=spec.code, **terms, actor=self.actor, now=self.now)
            self.report.created.append(label)
            return
        wanted = {**terms, "active": True}
        changed = self._compare(label, {name: getattr(policy, name) for name in wanted}, wanted)
        if set(changed) - {"active"}:
            policy = contact_policy_update(policy=policy, **terms, actor=self.actor, now=self.now)
        if "active" in changed:
            contact_policy_reactivate(policy=policy, actor=self.actor, now=self.now)

    def rules(self) -> None:
        rules = demo_rules()
        wanted = content_hash(rules)
        published = rule_set_published()
        if published is not None and (published.content_sha256 or content_hash(published.rules)) == wanted:
            self.report.rule_set = f"rule set v{published.version} already holds the demo rules"
            return
        if published is not None and not self.reset:
            self.report.rule_set = f"rule set v{published.version} differs from the demo rules: kept as published"
            self.report.rule_set_kept = True
            return
        draft = RuleSetVersion.objects.filter(status=RuleSetStatus.DRAFT).first()
        if draft is not None and draft.rules and content_hash(draft.rules) != wanted and not self.reset:
            self.report.rule_set = f"rule set draft v{draft.version} holds other rules: kept as drafted"
            self.report.rule_set_kept = True
            return
        draft = rule_set_draft(actor=self.actor)
        rule_set_draft_save(draft=draft, rules=rules, actor=self.actor, now=self.now)
        version = rule_set_publish(draft=draft, actor=self.actor, now=self.now, note=RULE_SET_NOTE)
        self.report.rule_set = f"published the demo rules as rule set v{version.version} ({len(rules)} rules)"


@transaction.atomic
def demo_catalogue_load(*, actor: User, now: dt.datetime, reset: bool = False) -> DemoCatalogueReport:
    """Put the demo catalogue, rules and contact policies in place for the demo
    products, all or nothing, every change audited as ``actor``.

    1. Refuse unless the actor may manage offers and every demo product exists.
    2. Create missing issues, groups, offers, treatments and contact policies; with
       ``reset``, bring edited ones back to their definitions.
    3. Publish the demo rules unless the published version already holds them
       (compared by content hash), so a re-run creates no new version.
    """
    if not user_can(actor, "manage_offers"):
        raise PermissionDenied(f"{actor.get_username()} may not manage offers")
    products = {p.code: p for p in Product.objects.filter(code__in=PRODUCT_CODES)}
    missing = [code for code in PRODUCT_CODES if code not in products]
    if missing:
        raise DemoCatalogueError(
            f"the demo products are not imported (missing {', '.join(missing)}): "
            "run generate_demo_bank and import_data first"
        )
    loader = _Loader(actor=actor, now=now, reset=reset)
    for issue in ISSUES:
        loader.issue(issue)
    for group in GROUPS:
        loader.group(group)
    for spec in OFFERS:
        offer = loader.offer(spec, products[spec.product])
        loader.treatments(spec, offer)
    for policy in CONTACT_POLICIES:
        loader.contact_policy(policy)
    loader.rules()
    return loader.report
