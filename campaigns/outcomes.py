"""What comes back from an offer: responses reported by channels, and conversions
(the product opened within the attribution window after the offer).

Responses are keyed by (decision, offer, kind), so a channel that reports twice
changes nothing; each also moves the offer's contact-history row to the strongest
outcome so far, which is what the next training run learns from. Conversions are
found in the accounts the bank imports, for the offers customers received and for
the offers control-group customers would have received: the two rates are what
lift compares.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max, Q

from campaigns.models import (
    Campaign,
    CampaignMember,
    CampaignRun,
    Conversion,
    Delivery,
    DeliveryStatus,
    OfferResponse,
    ResponseKind,
    Trigger,
)
from core.models import User
from core.services import audit_record
from customers.choices import OfferOutcome
from customers.models import Account, Product
from customers.services import contact_history_respond
from decisioning.decisions import contact_id
from decisioning.models import Decision, DecisionKind, Offer

logger = logging.getLogger(__name__)

# Real-time decisions made outside any campaign (a channel asking the decision API)
# have no campaign to set the window: this one applies.
DEFAULT_ATTRIBUTION_DAYS = 30
# A channel's clock may run a little ahead of ours; more than this is a wrong timestamp.
CLOCK_SKEW = dt.timedelta(minutes=5)
# Customers whose new accounts are matched to offers in one transaction.
ATTRIBUTION_BATCH_SIZE = 2_000

KIND_OUTCOME = {
    ResponseKind.IMPRESSION: OfferOutcome.IMPRESSION,
    ResponseKind.CLICK: OfferOutcome.CLICK,
    ResponseKind.ACCEPT: OfferOutcome.ACCEPTED,
    ResponseKind.REJECT: OfferOutcome.REJECTED,
    ResponseKind.DISMISS: OfferOutcome.DISMISSED,
}


class UnknownDecision(LookupError):
    """No decision has that id (the API answers 404)."""


class ResponseRefused(ValueError):
    """A response that cannot be true of its decision (the API answers 422).
    ``errors`` names each field by JSON pointer."""

    def __init__(self, errors: Sequence[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{pointer}: {message}" for pointer, message in errors))
        self.errors = list(errors)


# --- responses ---------------------------------------------------------------------------------------------------------


def _decision_get(decision_id: str | uuid.UUID) -> Decision:
    try:
        public_id = decision_id if isinstance(decision_id, uuid.UUID) else uuid.UUID(str(decision_id))
    except ValueError:
        raise UnknownDecision(f"no decision with id {decision_id!r}") from None
    decision = (
        Decision.objects.filter(public_id=public_id)
        .only("public_id", "customer_id", "kind", "channel", "made_at", "offers")
        .first()
    )
    if decision is None:
        raise UnknownDecision(f"no decision with id {decision_id!r}")
    return decision


def _offer_currency(offer_code: str, view: Mapping[str, Any]) -> tuple[Decimal | None, str]:
    offer = Offer.objects.filter(code=offer_code).values("value", "currency").first()
    if offer is not None:
        return offer["value"], offer["currency"]
    value = view.get("value")
    return (Decimal(str(value)) if value not in (None, "") else None), view.get("currency") or settings.BASE_CURRENCY


def _response_find(decision_id: uuid.UUID, offer_code: str, kind: str) -> OfferResponse | None:
    return OfferResponse.objects.filter(decision_id=decision_id, offer_code=offer_code, kind=kind).first()


def response_record(
    *,
    decision_id: str | uuid.UUID,
    offer_code: str,
    kind: str,
    occurred_at: dt.datetime,
    amount: Decimal | None = None,
    source: str,
    now: dt.datetime,
    actor: User | None = None,
) -> tuple[OfferResponse, bool]:
    """Record a customer's response to one offer of a decision; returns the response
    and whether it is new. A repeat (same decision, offer and kind) returns the one
    stored first and changes nothing, even when two arrive at once.

    Raises ``UnknownDecision``, or ``ResponseRefused`` for an offer the decision did
    not make (or never sent), a time before the decision or in the future, or an
    amount on anything but an accept. ``actor``: the person who recorded it, audited.
    """
    decision = _decision_get(decision_id)
    errors: list[tuple[str, str]] = []
    if kind not in KIND_OUTCOME:
        errors.append(("#/kind", f"one of {', '.join(ResponseKind.values)}"))
    view = next((o for o in decision.offers or [] if o.get("offer_code") == offer_code), None)
    delivery = None
    if view is None:
        errors.append(("#/offer_code", f"decision {decision.public_id} did not make offer {offer_code!r}"))
    elif decision.kind == DecisionKind.SIMULATION:
        errors.append(("#/offer_code", "the decision was a simulation: no offer was made to the customer"))
    elif decision.kind == DecisionKind.HELD_OUT:
        errors.append(("#/offer_code", "the customer is in the campaign's control group: nothing was sent"))
    else:
        delivery = (
            Delivery.objects.filter(decision_id=decision.public_id, offer_code=offer_code)
            .exclude(status=DeliveryStatus.CANCELLED)
            .order_by("id")
            .first()
        )
        if decision.kind == DecisionKind.BATCH and delivery is None:
            # A batch decision proposes; only a delivery makes the offer (a control-group
            # customer's decision has none, and cannot have responded).
            errors.append(("#/offer_code", f"offer {offer_code!r} of this decision was never sent to the customer"))
    # Channels often stamp to the second: a response in the decision's own second is not "before" it.
    if occurred_at < decision.made_at.replace(microsecond=0):
        errors.append(("#/occurred_at", f"before the decision was made ({decision.made_at.isoformat()})"))
    elif occurred_at > now + CLOCK_SKEW:
        errors.append(("#/occurred_at", "in the future"))
    if amount is not None:
        if kind != ResponseKind.ACCEPT:
            errors.append(("#/amount", "only an accept carries an amount"))
        elif amount < 0:
            errors.append(("#/amount", "zero or more"))
    if errors:
        raise ResponseRefused(errors)
    assert view is not None  # for the type checker: errors were raised otherwise

    found = _response_find(decision.public_id, offer_code, kind)
    if found is not None:
        return found, False
    try:
        with transaction.atomic():
            response = OfferResponse.objects.create(
                decision_id=decision.public_id,
                offer_code=offer_code,
                customer_id=decision.customer_id,
                channel=delivery.channel if delivery else decision.channel,
                campaign_id=delivery.campaign_id if delivery else None,
                kind=kind,
                occurred_at=occurred_at,
                amount=amount,
                source=source[:80],
                received_at=now,
            )
            contact_history_respond(
                external_id=(delivery.contact_id if delivery and delivery.contact_id else None)
                or contact_id(decision.public_id, view["rank"]),
                outcome=KIND_OUTCOME[ResponseKind(kind)],
                responded_at=occurred_at,
                revenue=amount,
            )
            if kind == ResponseKind.ACCEPT and amount is not None:
                _conversion_from_response(response=response, decision=decision, view=view)
            if actor is not None:
                audit_record(
                    actor=actor,
                    action="offer_response.record",
                    object_type="decision",
                    object_id=str(decision.public_id),
                    after={
                        "offer_code": offer_code,
                        "kind": kind,
                        "occurred_at": occurred_at.isoformat(),
                        "amount": str(amount) if amount is not None else None,
                    },
                    now=now,
                )
    except IntegrityError:
        # Another report of the same response committed first: that one stands.
        found = _response_find(decision.public_id, offer_code, kind)
        if found is None:
            raise
        return found, False
    logger.debug("response %s recorded for decision %s offer %s", kind, decision.public_id, offer_code)
    return response, True


def _conversion_from_response(*, response: OfferResponse, decision: Decision, view: Mapping[str, Any]) -> None:
    """An accept with an amount is a conversion with that revenue; one already found
    in the accounts takes the reported amount (the channel knows the deal)."""
    assert response.amount is not None
    _, currency = _offer_currency(response.offer_code, view)
    product_id = Product.objects.filter(code=view.get("product_code")).values_list("id", flat=True).first()
    updated = Conversion.objects.filter(decision_id=decision.public_id, offer_code=response.offer_code).update(
        revenue=response.amount
    )
    if updated or product_id is None:
        return
    with transaction.atomic():  # a savepoint: an attribution run may insert the same conversion meanwhile
        try:
            Conversion.objects.create(
                decision_id=decision.public_id,
                offer_code=response.offer_code,
                customer_id=decision.customer_id,
                product_id=product_id,
                channel=response.channel,
                campaign_id=response.campaign_id,
                control=False,
                converted_at=response.occurred_at,
                revenue=response.amount,
                currency=currency,
                source="response",
                evidence=f"response:{response.pk}",
                created_at=response.received_at,
            )
        except IntegrityError:
            pass
    Conversion.objects.filter(decision_id=decision.public_id, offer_code=response.offer_code).update(
        revenue=response.amount
    )


# --- conversions -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Exposure:
    """An offer of a product made to a customer (or, for a control-group customer,
    one they would have received), with the window in which an opening counts."""

    decision_id: uuid.UUID
    offer_code: str
    customer_id: int
    product_id: int
    made_at: dt.datetime
    channel: str
    campaign_id: int | None
    control: bool
    days: int


def _bank_day(moment: dt.datetime) -> dt.date:
    return moment.astimezone(zoneinfo.ZoneInfo(settings.BANK_TIME_ZONE)).date()


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=zoneinfo.ZoneInfo(settings.BANK_TIME_ZONE)).astimezone(dt.UTC)


def attribution_window_days() -> int:
    """The longest window of any campaign (or the default): openings older than
    this before today can no longer be attributed to anything new."""
    longest = Campaign.objects.aggregate(days=Max("attribution_days"))["days"] or 0
    return max(longest, DEFAULT_ATTRIBUTION_DAYS)


def _exposures(customer_ids: Sequence[int], *, since: dt.datetime) -> dict[int, list[Exposure]]:
    """Every offer made to these customers since ``since``, and every offer their
    campaigns' control groups would have received."""
    products = dict(Product.objects.values_list("code", "id"))
    found: dict[int, list[Exposure]] = defaultdict(list)
    delivered: set[uuid.UUID] = set()
    deliveries = Delivery.objects.filter(customer_id__in=customer_ids, decision__made_at__gte=since).values(
        "decision_id",
        "offer_code",
        "customer_id",
        "product_id",
        "channel",
        "campaign_id",
        "campaign__attribution_days",
        "decision__made_at",
        "status",
    )
    for row in deliveries:
        delivered.add(row["decision_id"])
        if row["status"] != DeliveryStatus.SENT:
            continue
        found[row["customer_id"]].append(
            Exposure(
                decision_id=row["decision_id"],
                offer_code=row["offer_code"],
                customer_id=row["customer_id"],
                product_id=row["product_id"],
                made_at=row["decision__made_at"],
                channel=row["channel"],
                campaign_id=row["campaign_id"],
                control=False,
                days=row["campaign__attribution_days"] or DEFAULT_ATTRIBUTION_DAYS,
            )
        )

    def from_views(decision: Mapping[str, Any], *, campaign_id: int | None, control: bool, days: int) -> None:
        for view in decision["offers"] or []:
            product_id = products.get(view.get("product_code"))
            if product_id is None:
                continue
            found[decision["customer_id"]].append(
                Exposure(
                    decision_id=decision["public_id"],
                    offer_code=view["offer_code"],
                    customer_id=decision["customer_id"],
                    product_id=product_id,
                    made_at=decision["made_at"],
                    channel=decision["channel"],
                    campaign_id=campaign_id,
                    control=control,
                    days=days,
                )
            )

    # Control-group customers: the decision of their campaign's batch run, or the
    # held-out decision a trigger made, holds the offers they would have received.
    members = CampaignMember.objects.filter(customer_id__in=customer_ids, control=True).values_list(
        "campaign_id", "customer_id", "campaign__attribution_days"
    )
    held_out = {(campaign_id, customer_id): days for campaign_id, customer_id, days in members}
    if held_out:
        campaign_ids = {c for c, _ in held_out}
        runs = dict(CampaignRun.objects.filter(campaign_id__in=campaign_ids).values_list("batch_run_id", "campaign_id"))
        # A held-out decision names who asked for it: "campaign:<code>" or "trigger:<code>".
        askers = {
            f"campaign:{code}": pk
            for pk, code in Campaign.objects.filter(pk__in=campaign_ids).values_list("pk", "code")
        }
        askers |= {
            f"trigger:{code}": campaign_id
            for code, campaign_id in Trigger.objects.filter(campaign_id__in=campaign_ids).values_list(
                "code", "campaign_id"
            )
        }
        decisions = (
            Decision.objects.filter(customer_id__in={c for _, c in held_out}, made_at__gte=since)
            .filter(Q(batch_run_id__in=list(runs)) | Q(kind=DecisionKind.HELD_OUT, requested_by__in=list(askers)))
            .values("public_id", "customer_id", "made_at", "channel", "offers", "batch_run_id", "requested_by")
        )
        for decision in decisions:
            campaign_id = runs.get(decision["batch_run_id"]) or askers.get(decision["requested_by"])
            days = held_out.get((campaign_id, decision["customer_id"]))
            if days is not None and decision["public_id"] not in delivered:
                from_views(decision, campaign_id=campaign_id, control=True, days=days)

    # Real-time decisions a channel asked for outside any campaign: their offers were made.
    realtime = Decision.objects.filter(
        customer_id__in=customer_ids, kind=DecisionKind.REALTIME, made_at__gte=since
    ).values("public_id", "customer_id", "made_at", "channel", "offers")
    for decision in realtime:
        if decision["public_id"] not in delivered:
            from_views(decision, campaign_id=None, control=False, days=DEFAULT_ATTRIBUTION_DAYS)
    return found


def _attributions(
    accounts: Iterable[Mapping[str, Any]],
    exposures: Mapping[int, list[Exposure]],
    *,
    taken: set[tuple[uuid.UUID, str]],
    evidenced: set[tuple[int | None, bool, str]],
) -> list[tuple[Exposure, Mapping[str, Any]]]:
    """Match openings to offers: an account counts for an offer of its product made
    on or up to ``days`` days before the day it opened (bank dates; an opening on
    the offer's own day counts). Within each campaign (treated and control apart)
    the last offer before the opening takes it. An offer made outside campaigns
    takes it only when no campaign's offer did, so revenue is not counted twice for
    the common case."""
    out: list[tuple[Exposure, Mapping[str, Any]]] = []
    for account in accounts:
        evidence = f"account:{account['external_id']}"
        matching = [
            e
            for e in exposures.get(account["customer_id"], ())
            if e.product_id == account["product_id"]
            and _bank_day(e.made_at) <= account["opened_on"] <= _bank_day(e.made_at) + dt.timedelta(days=e.days)
        ]
        groups: dict[tuple[int | None, bool], Exposure] = {}
        for exposure in matching:
            key = (exposure.campaign_id, exposure.control)
            if key not in groups or exposure.made_at > groups[key].made_at:
                groups[key] = exposure
        if any(c is not None and not control for c, control in groups):
            groups.pop((None, False), None)
        for (campaign_id, control), exposure in groups.items():
            if (campaign_id, control, evidence) in evidenced or (exposure.decision_id, exposure.offer_code) in taken:
                continue
            taken.add((exposure.decision_id, exposure.offer_code))
            evidenced.add((campaign_id, control, evidence))
            out.append((exposure, account))
    return out


def _conversions_write(customer_ids: Sequence[int], accounts: list[dict[str, Any]], *, now: dt.datetime) -> int:
    earliest = min(a["opened_on"] for a in accounts) - dt.timedelta(days=attribution_window_days() + 1)
    exposures = _exposures(customer_ids, since=_day_start(earliest))
    if not exposures:
        return 0
    existing = Conversion.objects.filter(customer_id__in=customer_ids).values_list(
        "decision_id", "offer_code", "campaign_id", "control", "evidence"
    )
    taken = {(d, o) for d, o, _, _, _ in existing}
    evidenced = {(c, control, e) for _, _, c, control, e in existing}
    matches = _attributions(accounts, exposures, taken=taken, evidenced=evidenced)
    if not matches:
        return 0
    offers = {o["code"]: o for o in Offer.objects.values("code", "value", "currency")}
    product_values = {p["id"]: p for p in Product.objects.values("id", "value", "currency")}
    rows = []
    for exposure, account in matches:
        priced = offers.get(exposure.offer_code) or product_values[exposure.product_id]
        rows.append(
            Conversion(
                decision_id=exposure.decision_id,
                offer_code=exposure.offer_code,
                customer_id=exposure.customer_id,
                product_id=exposure.product_id,
                channel=exposure.channel,
                campaign_id=exposure.campaign_id,
                control=exposure.control,
                # An account has a date, not a time: a same-day opening is taken to follow the offer.
                converted_at=max(exposure.made_at, _day_start(account["opened_on"])),
                revenue=priced["value"],
                currency=priced["currency"],
                source="account",
                evidence=f"account:{account['external_id']}"[:100],
                created_at=now,
            )
        )
    before = Conversion.objects.filter(customer_id__in=customer_ids).count()
    with transaction.atomic():
        # ignore_conflicts: a response's conversion or a concurrent run may hold the same offer.
        Conversion.objects.bulk_create(rows, ignore_conflicts=True)
    return Conversion.objects.filter(customer_id__in=customer_ids).count() - before


def conversions_attribute(*, now: dt.datetime, since: dt.datetime | None = None) -> int:
    """Find the products customers opened after an offer of them and write one
    ``Conversion`` per offer converted; returns how many were new. Idempotent: run
    it as often as accounts arrive.

    1. Read the accounts opened or received since ``since`` (default: the longest
       attribution window back from ``now``), grouped by customer in batches.
    2. For each batch, read the offers made to those customers (deliveries sent,
       real-time decisions) and those their control groups would have received.
    3. Match and write, skipping openings and offers already converted.
    """
    today = _bank_day(now)
    since = since if since is not None else now - dt.timedelta(days=attribution_window_days())
    # Opened lately, or learnt lately: an import may bring an opening weeks after the fact.
    opened = Account.objects.filter(opened_on__lte=today).filter(
        Q(opened_on__gte=_bank_day(since)) | Q(received_at__gte=since)
    )
    customer_ids = list(opened.values_list("customer_id", flat=True).distinct().order_by("customer_id"))
    written = 0
    for start in range(0, len(customer_ids), ATTRIBUTION_BATCH_SIZE):
        batch = customer_ids[start : start + ATTRIBUTION_BATCH_SIZE]
        accounts = list(
            opened.filter(customer_id__in=batch)
            .order_by("opened_on", "id")
            .values("customer_id", "product_id", "opened_on", "external_id")
        )
        written += _conversions_write(batch, accounts, now=now)
    logger.info("conversions attributed: %d new, accounts opened or received since %s", written, since)
    return written
