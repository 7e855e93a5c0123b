"""The call-centre channel: offers an agent makes on a call, and what the customer says.

An agent's decision is a real-time decision on the ``call_centre`` channel (an
inbound call: the contact history records it under ``nba:call_centre``). The
customer's answer is recorded as a response to the offer, as the agent; a
customer who wants to think it over gets a call back: a queued call-centre
``Delivery`` due at the time agreed, which the outbox makes available on the
desk then, after checking consent and contact caps again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef

from campaigns.channels.render import offer_view_of
from campaigns.models import Delivery, DeliveryStatus, OfferResponse, ResponseKind
from campaigns.outcomes import response_record
from core.models import User
from core.services import audit_record
from customers.models import Product
from decisioning.decisions import contact_id
from decisioning.models import Decision, DecisionKind, TreatmentChannel

# The answers an agent records on the desk.
AGENT_RESPONSES = (ResponseKind.ACCEPT, ResponseKind.REJECT)
CALLBACK_MAX_AHEAD = dt.timedelta(days=30)
# A call back not yet made: the outbox has not reached it, or has put it on the desk.
CALLBACK_OPEN = (DeliveryStatus.QUEUED, DeliveryStatus.RETRY, DeliveryStatus.SENDING, DeliveryStatus.SENT)


def agent_source(agent: User) -> str:
    return f"agent:{agent.get_username()}"[:80]


def call_centre_decision_get(decision_id: Any) -> Decision | None:
    """A call-centre decision whose offers were made, by public id: an agent's (real
    time) or a campaign's call list (batch). None for any other."""
    return (
        Decision.objects.filter(
            public_id=decision_id,
            channel=TreatmentChannel.CALL_CENTRE,
            kind__in=(DecisionKind.REALTIME, DecisionKind.BATCH),
        )
        .select_related("customer")
        .first()
    )


def _offer_view(decision: Decision, offer_code: str) -> Mapping[str, Any]:
    view = offer_view_of(decision, offer_code)
    if view is None:
        raise ValidationError({"offer_code": [f"The decision did not make offer {offer_code!r}."]})
    return view


@dataclass(frozen=True)
class OfferAnswers:
    """What is recorded of one offer of a decision: the customer's answer and any call back."""

    answer: str  # "accept", "reject" or ""
    callback: Delivery | None


def call_centre_answers(decision: Decision) -> dict[str, OfferAnswers]:
    """Offer code -> its answer and open call back, for the desk."""
    kinds: dict[str, str] = {}
    for code, kind in OfferResponse.objects.filter(
        decision_id=decision.public_id, kind__in=AGENT_RESPONSES
    ).values_list("offer_code", "kind"):
        kinds.setdefault(code, kind)
    callbacks: dict[str, Delivery] = {}
    for delivery in Delivery.objects.filter(
        decision_id=decision.public_id, channel=TreatmentChannel.CALL_CENTRE, status__in=CALLBACK_OPEN
    ).order_by("-due_at"):
        callbacks.setdefault(delivery.offer_code, delivery)
    codes = {o["offer_code"] for o in decision.offers}
    return {code: OfferAnswers(answer=kinds.get(code, ""), callback=callbacks.get(code)) for code in codes}


def call_centre_respond(
    *, decision: Decision, offer_code: str, kind: str, agent: User, now: dt.datetime
) -> OfferResponse:
    """Record the customer's accept or reject of an offer, as the agent.

    The first answer stands: an offer accepted cannot then be rejected on the desk
    (a ``ValidationError`` naming "kind" says what was recorded). Answering closes
    any call back booked for the offer."""
    if kind not in AGENT_RESPONSES:
        raise ValidationError({"kind": ["Accept or reject."]})
    _offer_view(decision, offer_code)
    with transaction.atomic():
        earlier = (
            OfferResponse.objects.filter(
                decision_id=decision.public_id, offer_code=offer_code, kind__in=AGENT_RESPONSES
            )
            .exclude(kind=kind)
            .first()
        )
        if earlier is not None:
            raise ValidationError({"kind": [f"The customer's answer is already recorded: {earlier.kind}."]})
        response, _ = response_record(
            decision_id=decision.public_id,
            offer_code=offer_code,
            kind=kind,
            occurred_at=now,
            source=agent_source(agent),
            now=now,
            actor=agent,
        )
        Delivery.objects.filter(
            decision_id=decision.public_id,
            offer_code=offer_code,
            channel=TreatmentChannel.CALL_CENTRE,
            status__in=(DeliveryStatus.QUEUED, DeliveryStatus.RETRY),
        ).update(status=DeliveryStatus.CANCELLED, last_error="answered on an earlier call", updated_at=now)
    return response


@transaction.atomic
def call_centre_callback_schedule(
    *, decision: Decision, offer_code: str, due_at: dt.datetime, agent: User, now: dt.datetime
) -> Delivery:
    """Book a call back about an offer: a queued call-centre delivery due at
    ``due_at``. A call back already booked for the offer and not yet due is
    moved, not doubled."""
    view = _offer_view(decision, offer_code)
    if due_at <= now:
        raise ValidationError({"due_at": ["A time in the future."]})
    if due_at > now + CALLBACK_MAX_AHEAD:
        raise ValidationError({"due_at": [f"Within {CALLBACK_MAX_AHEAD.days} days."]})
    if OfferResponse.objects.filter(
        decision_id=decision.public_id, offer_code=offer_code, kind__in=AGENT_RESPONSES
    ).exists():
        raise ValidationError({"offer_code": ["The customer has answered: no call back is needed."]})
    booked = (
        Delivery.objects.select_for_update()
        .filter(
            decision_id=decision.public_id,
            offer_code=offer_code,
            channel=TreatmentChannel.CALL_CENTRE,
            status=DeliveryStatus.QUEUED,
        )
        .first()
    )
    before = None
    if booked is not None:
        before = {"offer_code": offer_code, "due_at": booked.due_at.isoformat()}
        booked.due_at = due_at
        booked.save(update_fields=["due_at", "updated_at"])
        delivery = booked
    else:
        product_id = Product.objects.filter(code=view["product_code"]).values_list("id", flat=True).first()
        if product_id is None:
            raise ValidationError({"offer_code": ["The offer's product is no longer in the catalogue."]})
        delivery = Delivery.objects.create(
            decision_id=decision.public_id,
            customer_id=decision.customer_id,
            channel=TreatmentChannel.CALL_CENTRE,
            offer_code=offer_code,
            product_id=product_id,
            rank=view["rank"],
            # The decision wrote this contact-history row when the offer was made on the call.
            contact_id=contact_id(decision.public_id, view["rank"]),
            transactional=bool(view.get("transactional")),
            status=DeliveryStatus.QUEUED,
            due_at=due_at,
            created_at=now,
        )
    audit_record(
        actor=agent,
        action="call_centre.callback_schedule",
        object_type="decision",
        object_id=str(decision.public_id),
        before=before,
        after={"offer_code": offer_code, "due_at": due_at.isoformat(), "delivery": str(delivery.public_id)},
        now=now,
    )
    return delivery


def calls_due(*, now: dt.datetime, limit: int = 25) -> list[Delivery]:
    """Calls to make, the earliest first (overdue ones included): call backs agents
    booked and campaigns' call-centre offers not answered yet."""
    answered = OfferResponse.objects.filter(
        decision_id=OuterRef("decision_id"), offer_code=OuterRef("offer_code"), kind__in=AGENT_RESPONSES
    )
    return list(
        Delivery.objects.filter(
            channel=TreatmentChannel.CALL_CENTRE,
            status__in=CALLBACK_OPEN,
            due_at__gte=now - dt.timedelta(days=2),
        )
        .filter(~Exists(answered))
        .select_related("customer")
        .order_by("due_at", "id")[:limit]
    )
