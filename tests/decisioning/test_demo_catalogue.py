"""``manage.py demo_catalogue``: the demo bank's offers, treatments, rules and
contact policies load for the demo products, validate, and load only once."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from core.models import AuditEvent
from customers.demo.catalogue import PRODUCTS
from decisioning.catalogue import lever_set
from decisioning.demo import OFFERS, demo_rules
from decisioning.models import (
    BusinessIssue,
    ContactPolicy,
    Offer,
    OfferGroup,
    RuleSetStatus,
    RuleSetVersion,
    Treatment,
)
from decisioning.rule_sets import (
    rule_set_compiled,
    rule_set_draft,
    rule_set_draft_save,
    rule_set_publish,
    rule_set_published,
    rules_validate,
)
from decisioning.rules import FIELDS, RuleContext
from decisioning.services import MAX_PUSH_CHARS
from decisioning.templates import template_fields, template_render
from tests.factories.customers import ProductFactory

NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def demo_products(db) -> dict[str, Any]:
    """The demo bank's products, as ``import_data`` writes them."""
    return {
        p.code: ProductFactory(
            code=p.code,
            name=p.name,
            family=p.family,
            tier=p.tier,
            value=Decimal(p.value),
            currency="EUR",
            is_credit=p.is_credit,
            min_age=p.min_age,
        )
        for p in PRODUCTS
    }


def load(*args: str) -> str:
    out = StringIO()
    call_command("demo_catalogue", *args, stdout=out)
    return out.getvalue()


def counts() -> dict[str, int]:
    return {
        "issues": BusinessIssue.objects.count(),
        "groups": OfferGroup.objects.count(),
        "offers": Offer.objects.count(),
        "treatments": Treatment.objects.count(),
        "policies": ContactPolicy.objects.count(),
        "rule_sets": RuleSetVersion.objects.count(),
        "audit": AuditEvent.objects.count(),
    }


def test_the_catalogue_covers_every_demo_product_on_every_channel(demo_products, bianca):
    output = load()  # --as defaults to bianca, the demo's business user

    assert "published the demo rules as rule set v1" in output
    assert set(BusinessIssue.objects.values_list("code", flat=True)) == {"grow", "retain"}
    assert not BusinessIssue.objects.filter(transactional=True).exists()
    offers = {o.product.code: o for o in Offer.objects.select_related("product", "group__issue")}
    assert set(offers) == set(demo_products)
    for code, offer in offers.items():
        product = demo_products[code]
        assert (offer.value, offer.currency, offer.is_credit) == (product.value, "EUR", product.is_credit)
        assert offer.headline_value
        assert offer.active
        assert sorted(offer.treatments.values_list("channel", flat=True)) == ["call_centre", "email", "push", "web"]
    # Every product family has its own group; the current account is the retention offer.
    assert len({o.group.code for o in offers.values()}) == len({p.family for p in demo_products.values()})
    assert offers["CURRENT"].group.issue.code == "retain"
    # The two cards exclude each other, and so do the loan and the mortgage.
    assert offers["CC_CLASSIC"].exclusion_group == offers["CC_PREMIUM"].exclusion_group != ""
    assert offers["PERSONAL_LOAN"].exclusion_group == offers["MORTGAGE"].exclusion_group != ""
    assert offers["CC_CLASSIC"].exclusion_group != offers["MORTGAGE"].exclusion_group
    mortgage = offers["MORTGAGE"]
    assert mortgage.starts_on is not None
    assert mortgage.ends_on is not None
    assert mortgage.ends_on > mortgage.starts_on
    policies = {(p.kind, p.channel, p.limit, p.period_days, p.suppress_days) for p in ContactPolicy.objects.all()}
    assert policies == {
        ("channel_cap", "email", 2, 7, 0),
        ("channel_cap", "push", 3, 7, 0),
        ("global_cap", "", 6, 30, 0),
        ("suppression", "", 3, 90, 60),
    }
    # Every write is audited as the person who ran it.
    assert set(AuditEvent.objects.values_list("actor__username", flat=True)) == {"bianca"}


def test_every_treatment_validates_renders_short_enough_and_carries_its_disclosures(demo_products, bianca):
    load("--as", "bianca")

    for treatment in Treatment.objects.select_related("offer__product"):
        offer = treatment.offer
        for text in (treatment.subject, treatment.body, treatment.disclosures):
            template_fields(text)  # raises on an unknown field or stray syntax
        values = {
            "customer.first_name": "Maximiliana-Josefina",
            "customer.external_id": "C000001",
            "offer.name": offer.name,
            "offer.value": offer.headline_value,
            "offer.ends_on": "31 Dec 2026",
            "product.name": offer.product.name,
            "product.family": offer.product.family,
            "bank.name": "Crossell Demo Bank",
        }
        rendered = template_render(treatment.body, values, escape=False)
        assert "{" not in rendered
        assert "}" not in rendered
        if treatment.channel == "push":
            assert len(rendered) <= MAX_PUSH_CHARS, (offer.code, len(rendered))
        family = offer.product.family
        if offer.is_credit:
            assert "APR" in treatment.disclosures, offer.code
        if family in ("investment", "pension"):
            assert "Capital at risk" in treatment.disclosures, offer.code
        if family in ("savings", "current_account"):
            assert "€100,000 per depositor" in treatment.disclosures, offer.code
        if family == "mortgage":
            assert "repossessed" in treatment.disclosures
        if family == "insurance":
            assert "policy summary" in treatment.disclosures


def test_the_published_rules_compile_over_real_fields(demo_products, bianca):
    load()

    published = rule_set_published()
    assert published is not None
    assert published.version == 1
    assert published.note == "Demo bank rules"
    assert 20 <= len(published.rules) <= 50
    rules_validate(published.rules)
    compiled = rule_set_compiled(published)
    assert len(compiled.rules) == len(published.rules)
    used = set().union(*(rule.fields for _, rule in compiled.rules))
    assert used <= set(FIELDS)
    assert {r["kind"] for r in published.rules} == {"eligibility", "applicability", "suitability"}
    # Every growth offer is refused to a customer who holds its product.
    held_rules = {
        r["scope_code"] for r in published.rules if r["scope"] == "offer" and "holdings.products" in str(r["tree"])
    }
    assert held_rules == {o.code for o in OFFERS}


def _passes(offer_code: str, values: dict[str, Any]) -> list[str]:
    """The rules an offer fails for these values (empty: it may be made)."""
    offer = Offer.objects.select_related("group__issue").get(code=offer_code)
    compiled = rule_set_compiled(rule_set_published())
    outcomes = compiled.evaluate(
        RuleContext(values=values, now=NOW),
        scopes={"issue": offer.group.issue.code, "group": offer.group.code, "offer": offer.code},
    )
    return [o.rule_id for o in outcomes if not o.passed]


AFFLUENT = {
    "customer.age": 45,
    "customer.customer_since": "2015-03-01",
    "customer.employment_type": "employed",
    "customer.vulnerable": False,
    "holdings.products": ["CURRENT", "CC_CLASSIC"],
    "holdings.families": ["current_account", "card"],
    "context.channel": "email",
    "feature.income": 95000.0,
    "feature.credit_score": 780.0,
    "feature.avg_balance_3m": 25000.0,
    "feature.spend_30d": 900.0,
    "feature.spend_share_gambling_90d": 0.0,
    "feature.spend_share_rent_90d": 0.3,
    "feature.salary_monthly_3m": 6000.0,
    "feature.complaints_90d": 0.0,
    "feature.no_recent_transaction": False,
}


def test_the_rules_decide_as_a_bank_would(demo_products, bianca):
    load()

    assert _passes("card-premium", AFFLUENT) == []  # an upgrade for a Classic card holder
    assert _passes("card-classic", AFFLUENT) == ["card-classic-new"]
    assert _passes("card-premium", {**AFFLUENT, "feature.income": 30000.0}) == ["card-premium-affluent"]
    assert _passes("mortgage-home", AFFLUENT) == []
    assert _passes("mortgage-home", {**AFFLUENT, "customer.age": 72}) == ["mortgage-age"]
    assert _passes("mortgage-home", {**AFFLUENT, "context.channel": "push"}) == ["mortgage-no-push"]
    assert _passes("pension-personal", {**AFFLUENT, "customer.age": 66}) == ["pension-age"]
    assert "cards-not-near-debt-help" in _passes("card-premium", {**AFFLUENT, "context.page": "debt-help"})
    # A complaint call is for keeping the customer, not for selling.
    complaint_call = {**AFFLUENT, "context.channel": "call_centre", "context.reason": "complaint"}
    assert "grow-not-on-complaint-calls" in _passes("savings-instant", complaint_call)
    leaving = {**complaint_call, "feature.balance_trend_6m": -800.0}
    assert _passes("current-rewards", leaving) == []
    assert _passes("current-rewards", {**leaving, "context.reason": "bereavement"}) == [
        "retain-no-sensitive-calls",
        "current-calls-leaving",
    ]
    # Unknown features never block on their own, but a suitability test needs its facts.
    assert _passes("insurance-travel", {"customer.age": 30, "holdings.products": []}) == []
    assert "savings-money-to-save" in _passes("savings-instant", {"customer.age": 30, "holdings.products": []})


def test_a_second_run_changes_nothing(demo_products, bianca):
    load()
    before = counts()
    offers = dict(Offer.objects.values_list("code", "updated_at"))

    output = load()

    assert counts() == before
    assert dict(Offer.objects.values_list("code", "updated_at")) == offers
    assert "rule set v1 already holds the demo rules" in output
    assert "0 created, 0 reset, 0 kept as edited" in output


def test_edits_are_kept_unless_reset(demo_products, bianca):
    load()
    mortgage = Offer.objects.get(code="mortgage-home")
    lever_set(target=mortgage, percent=250, actor=bianca, now=NOW)
    draft = rule_set_draft(actor=bianca)
    rule_set_draft_save(draft=draft, rules=demo_rules()[1:], actor=bianca, now=NOW)
    rule_set_publish(draft=draft, actor=bianca, now=NOW, note="fewer rules")

    output = load()

    mortgage.refresh_from_db()
    assert mortgage.lever_percent == 250
    assert "kept offer mortgage-home (differs: lever_percent)" in output
    assert "rule set v2 differs from the demo rules: kept as published" in output
    assert RuleSetVersion.objects.count() == 2

    output = load("--reset")

    mortgage.refresh_from_db()
    assert mortgage.lever_percent == 100
    assert "reset offer mortgage-home" in output
    published = rule_set_published()
    assert published.version == 3
    assert published.rules == demo_rules()
    assert RuleSetVersion.objects.filter(status=RuleSetStatus.RETIRED).count() == 2
    assert "rule set v3 already holds the demo rules" in load("--reset")


def test_an_expired_offer_gets_a_fresh_window_on_reset(demo_products, bianca):
    load()
    Offer.objects.filter(code="mortgage-home").update(starts_on=dt.date(2020, 1, 1), ends_on=dt.date(2020, 3, 31))

    assert "kept offer mortgage-home (differs: window)" in load()
    load("--reset")

    mortgage = Offer.objects.get(code="mortgage-home")
    assert mortgage.ends_on is not None
    assert mortgage.ends_on > timezone.localdate()


def test_refuses_without_the_demo_products(db, bianca):
    with pytest.raises(CommandError, match="missing CURRENT, SAVINGS.*run generate_demo_bank and import_data"):
        load()
    assert counts()["offers"] == 0


def test_refuses_when_a_product_is_missing_and_writes_nothing(demo_products, bianca):
    demo_products["TRAVEL_INS"].delete()

    with pytest.raises(CommandError, match="missing TRAVEL_INS"):
        load()
    assert sum(counts().values()) == 0


def test_refuses_a_user_who_may_not_manage_offers(demo_products, carlos):
    with pytest.raises(CommandError, match="carlos may not manage offers"):
        load("--as", "carlos")
    with pytest.raises(CommandError, match="no user named 'nobody'"):
        load("--as", "nobody")
    assert counts()["offers"] == 0
