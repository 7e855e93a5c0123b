"""Web content: what the bank's website shows a signed-in customer in a page slot.

A campaign's web offer waiting for the customer (queued or sent, not shown yet)
comes first; without one, a real-time decision on the web channel for that page
picks the offer. Either way the offer shown is recorded as an impression, so it
counts as seen (and is not served again as "waiting") and the models learn
from it.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q

from campaigns.channels.render import offer_render
from campaigns.models import Delivery, DeliveryStatus, OfferResponse, ResponseKind
from campaigns.outcomes import response_record
from customers.models import Customer
from decisioning.decisions import UnknownCustomer, contact_id, decision_make
from decisioning.models import Decision, DecisionKind, TreatmentChannel

logger = logging.getLogger(__name__)

# A campaign's web offer older than this is no longer news: decide afresh instead.
WEB_OFFER_MAX_AGE = dt.timedelta(days=30)
# Delivery states in which a web offer may be shown: the outbox may not have
# reached it yet (queued, sending) or has made it available (sent).
SHOWABLE = (DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.SENT)


@dataclass(frozen=True)
class WebContent:
    decision_id: str
    offer_code: str
    title: str  # plain text: the website escapes it
    html: str  # HTML fragment, every value escaped, disclosures included
    disclosures: str  # plain text
    message_id: str  # the delivery's public id, or the offer's contact id for a real-time decision
    from_campaign: bool


def web_delivery_waiting(*, customer: Customer, slot: str, now: dt.datetime) -> Delivery | None:
    """The newest web offer queued for the customer and not shown yet, for this
    slot: one decided for another page waits for that page."""
    shown = OfferResponse.objects.filter(
        decision_id=OuterRef("decision_id"), offer_code=OuterRef("offer_code"), kind=ResponseKind.IMPRESSION
    )
    page = Q(decision__inputs__context__page__isnull=True) | Q(decision__inputs__context__page=slot)
    return (
        Delivery.objects.filter(
            customer=customer,
            channel=TreatmentChannel.WEB,
            status__in=SHOWABLE,
            due_at__lte=now,
            created_at__gte=now - WEB_OFFER_MAX_AGE,
        )
        .filter(page)
        .filter(~Exists(shown))
        .select_related("decision", "customer")
        .order_by("-created_at", "-id")
        .first()
    )


def web_content_get(*, customer_id: str, slot: str, source: str, now: dt.datetime) -> WebContent | None:
    """The content for ``slot`` (None: no offer for this customer now) and its
    impression recorded.

    Raises ``UnknownCustomer`` and whatever ``decision_make`` raises for bad input."""
    customer = Customer.objects.filter(external_id=customer_id).only("id", "external_id", "public_id").first()
    if customer is None:
        raise UnknownCustomer(f"no customer with id {customer_id!r}")
    delivery = web_delivery_waiting(customer=customer, slot=slot, now=now)
    decision: Decision
    if delivery is not None:
        decision, offer_code = delivery.decision, delivery.offer_code
        message_id = str(delivery.public_id)
    else:
        outcome = decision_make(
            customer_id=customer.external_id,
            channel=TreatmentChannel.WEB,
            context={"page": slot},
            max_results=1,
            kind=DecisionKind.REALTIME,
            requested_by=source,
            now=now,
        )
        decision = outcome.decision
        if not decision.offers:
            return None
        view = decision.offers[0]
        offer_code, rank = view["offer_code"], view["rank"]
        message_id = contact_id(decision.public_id, rank)
    rendered = offer_render(offer_code=offer_code, channel=TreatmentChannel.WEB, customer=customer)
    response_record(
        decision_id=decision.public_id,
        offer_code=offer_code,
        kind=ResponseKind.IMPRESSION,
        occurred_at=now,
        source=source,
        now=now,
    )
    logger.info("web content slot=%s decision=%s offer=%s", slot[:40], decision.public_id, offer_code)
    return WebContent(
        decision_id=str(decision.public_id),
        offer_code=offer_code,
        title=rendered.subject,
        html=rendered.html,
        disclosures=rendered.disclosures,
        message_id=message_id,
        from_campaign=delivery is not None,
    )
