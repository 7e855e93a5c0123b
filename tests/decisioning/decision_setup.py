"""A small bank ready to decide: the scoring tests' bank with real tiny models,
an offer per product with treatments on every channel, consents, and helpers to
publish rules and add contact policies."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from core.models import Role, User
from customers import choices
from customers.models import Customer
from decisioning.inputs import caches_clear as decision_caches_clear
from decisioning.models import BusinessIssue, ContactPolicy, Offer, OfferGroup, RuleSetVersion, Treatment
from decisioning.rule_sets import rule_set_draft, rule_set_draft_save, rule_set_publish
from tests.factories.customers import ConsentFactory, ContactDetailsFactory
from tests.modeling.scoring_setup import NOW, Bank, bank_build

CHANNELS = ("email", "push", "web", "call_centre")


@dataclass
class DecisionBank:
    bank: Bank
    offers: dict[str, Offer]  # product code -> offer
    customer: Customer
    editor: User


def treatment_add(offer: Offer, channel: str) -> Treatment:
    return Treatment.objects.create(
        offer=offer,
        channel=channel,
        subject="{{ offer.name }} for {{ customer.first_name }}",
        body="Hello {{ customer.first_name }}, {{ product.name }} at {{ offer.value }} from {{ bank.name }}.",
        disclosures="Terms apply.",
    )


def decision_bank_build(n_customers: int = 60, *, models: bool = True) -> DecisionBank:
    decision_caches_clear()
    bank = bank_build(n_customers)
    if not models:
        from modeling.models import ModelStatus, ModelVersion
        from modeling.registry import active_models_clear

        ModelVersion.objects.update(status=ModelStatus.RETIRED)
        active_models_clear()
    grow = BusinessIssue.objects.create(code="grow", name="Grow")
    offers = {}
    for product in bank.products:
        group = OfferGroup.objects.create(issue=grow, code=f"g-{product.family}", name=product.family)
        offer = Offer.objects.create(
            group=group,
            product=product,
            code=product.code.lower(),
            name=f"{product.name} offer",
            headline_value="4.1% APR",
            value=Decimal("100.00"),
            currency="EUR",
        )
        for channel in CHANNELS:
            treatment_add(offer, channel)
        offers[product.code] = offer
    for customer in bank.customers:
        ConsentFactory(customer=customer, channel="email", purpose="marketing", status="granted")
        ConsentFactory(customer=customer, channel="app_push", purpose="marketing", status="granted")
    customer = bank.customers[7]
    ContactDetailsFactory(customer=customer, first_name="Ada", email="ada@example.org", phone="+44 7700 900123")
    editor = User.objects.create_user(username="rules-editor", password="x", role=Role.BUSINESS)
    return DecisionBank(bank=bank, offers=offers, customer=customer, editor=editor)


def rules_publish(editor: User, rules: list[dict[str, Any]], *, now: dt.datetime = NOW) -> RuleSetVersion:
    draft = rule_set_draft(actor=editor)
    rule_set_draft_save(draft=draft, rules=rules, actor=editor, now=now)
    return rule_set_publish(draft=draft, actor=editor, now=now)


def rule(rule_id: str, kind: str, scope: str, code: str, tree: dict[str, Any], name: str = "") -> dict[str, Any]:
    return {"id": rule_id, "name": name or rule_id, "kind": kind, "scope": scope, "scope_code": code, "tree": tree}


def policy(code: str, kind: str, *, limit: int, period_days: int, channel: str = "", suppress_days: int = 0):
    return ContactPolicy.objects.create(
        code=code,
        name=code.replace("-", " "),
        kind=kind,
        channel=channel,
        limit=limit,
        period_days=period_days,
        suppress_days=suppress_days,
    )


__all__ = ["NOW", "CHANNELS", "DecisionBank", "decision_bank_build", "rules_publish", "rule", "policy", "choices"]
