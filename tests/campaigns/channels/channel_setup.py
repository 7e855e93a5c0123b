"""A queued delivery without the decision engine: a customer, an offer with a
treatment per channel, the decision that chose it and its outbox row, written
directly so the channel tests need no models, rules or catalogue runs."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from campaigns.models import Delivery
from customers.models import ContactDetails, Customer
from decisioning.models import CatalogueSnapshot, Decision, DecisionKind, Offer, Treatment
from tests.factories.customers import ContactDetailsFactory, CustomerFactory, ProductFactory
from tests.factories.decisioning import OfferFactory

NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.UTC)
SUBJECT = "{{ offer.name }} for {{ customer.first_name }}"
BODY = (
    "Hello {{ customer.first_name }},\n\n{{ product.name }} at {{ offer.value }} from {{ bank.name }}.\nSee you soon."
)
DISCLOSURES = "Terms apply. {{ offer.value }} is variable."


@dataclass
class Queued:
    customer: Customer
    contact: ContactDetails
    offer: Offer
    treatment: Treatment
    decision: Decision
    delivery: Delivery


def treatment_for(offer: Offer, channel: str, **texts: str) -> Treatment:
    return Treatment.objects.create(
        offer=offer,
        channel=channel,
        subject=texts.get("subject", SUBJECT),
        body=texts.get("body", BODY),
        disclosures=texts.get("disclosures", DISCLOSURES),
    )


def delivery_queue(
    *,
    channel: str = "email",
    first_name: str = "Ada",
    email: str = "ada@example.org",
    device_tokens: list[str] | None = None,
    offer_name: str = "Easy saver offer",
    customer: Customer | None = None,
    offer: Offer | None = None,
    now: dt.datetime = NOW,
) -> Queued:
    customer = customer or CustomerFactory()
    contact = ContactDetails.objects.filter(customer=customer).first() or ContactDetailsFactory(
        customer=customer,
        first_name=first_name,
        email=email,
        device_tokens=["device-token-1"] if device_tokens is None else device_tokens,
    )
    if offer is None:
        offer = OfferFactory(product=ProductFactory(name="Easy Saver"), name=offer_name, headline_value="4.1% AER")
        for each in ("email", "push", "web", "call_centre"):
            treatment_for(offer, each)
    treatment = Treatment.objects.get(offer=offer, channel=channel)
    snapshot, _ = CatalogueSnapshot.objects.get_or_create(sha256="0" * 64, defaults={"content": {}})
    decision = Decision.objects.create(
        customer=customer,
        kind=DecisionKind.BATCH,
        channel=channel,
        made_at=now,
        catalogue=snapshot,
        inputs={"customer": {"external_id": customer.external_id}, "context": {}},
        offers=[
            {
                "rank": 1,
                "offer_code": offer.code,
                "offer_name": offer.name,
                "product_code": offer.product.code,
                "treatment_id": treatment.pk,
                "transactional": False,
            }
        ],
    )
    delivery = Delivery.objects.create(
        decision=decision,
        customer=customer,
        channel=channel,
        offer_code=offer.code,
        product=offer.product,
        rank=1,
        contact_id=f"nba-{decision.public_id.hex}-1",
        due_at=now,
        created_at=now,
    )
    return Queued(
        customer=customer, contact=contact, offer=offer, treatment=treatment, decision=decision, delivery=delivery
    )
