"""Changes people make to a customer's data: consents and contact details.

Each takes the ``actor`` and writes its audit event in the same transaction as
the change, so there is never a change without its record, nor a record of a
change that did not happen. Bulk imports and the event API write facts through
their own services; these are the hand-made corrections.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connection, transaction

from core.db import pg_cursor
from core.models import User
from core.services import audit_record
from customers import choices
from customers.lock_objects import customer_contact_exclusive
from customers.models import Consent, ContactDetails, ContactHistory, Customer

# Personal fields of ContactDetails. The audit trail says which of them changed
# but never holds their values: otherwise erasing a customer's contact details
# would leave a copy in the audit log.
PERSONAL_FIELDS = ("first_name", "last_name", "email", "phone", "device_tokens")
CONTACT_FIELDS = (*PERSONAL_FIELDS, "language")
REDACTED = "<redacted>"


def _audit_view(field: str, value: Any) -> Any:
    if field in PERSONAL_FIELDS:
        return REDACTED if value else ""
    return value


def _consent_state(consent: Consent | None) -> dict[str, Any] | None:
    if consent is None:
        return None
    return {
        "channel": consent.channel,
        "purpose": consent.purpose,
        "status": consent.status,
        "effective_at": consent.effective_at.isoformat(),
        "source": consent.source,
    }


@transaction.atomic
def consent_record(
    *,
    customer: Customer,
    channel: str,
    purpose: str,
    status: str,
    effective_at: datetime,
    source: str,
    actor: User,
    now: datetime,
) -> Consent:
    """Record a consent change a person made (a letter, a call, a correction).

    The row for the same (channel, purpose, effective_at) is updated, as an
    import or event would; ``before`` in the audit is the consent that was in
    force at ``effective_at`` until now.

    Raises ``django.core.exceptions.ValidationError`` for a value outside the choices.
    """
    before = (
        Consent.objects.filter(customer=customer, channel=channel, purpose=purpose, effective_at__lte=effective_at)
        .order_by("-effective_at", "-id")
        .first()
    )
    before_state = _consent_state(before)
    # A message past its consent check leaves before this commits; none leaves after.
    customer_contact_exclusive([customer.pk])
    consent = Consent.objects.filter(
        customer=customer, channel=channel, purpose=purpose, effective_at=effective_at
    ).first() or Consent(customer=customer, channel=channel, purpose=purpose, effective_at=effective_at)
    consent.status = status
    consent.source = source[:64]
    consent.received_at = now
    consent.full_clean(validate_unique=False, validate_constraints=False)
    consent.save()
    audit_record(
        actor=actor,
        action="consent.record",
        object_type="customer",
        object_id=customer.external_id,
        before=before_state,
        after=_consent_state(consent),
        now=now,
    )
    return consent


@transaction.atomic
def consent_withdraw_by_customer(
    *, customer: Customer, channel: str, purpose: str, source: str, now: datetime
) -> Consent:
    """Record a withdrawal the customer made themselves (an unsubscribe link), from ``now``.

    No staff member acted, so the audit event has no actor and says it was the
    customer. Withdrawing what is already withdrawn changes nothing and returns
    the consent in force, so a link clicked twice (or a mail client's automatic
    one-click POST, then the customer's own) leaves one row.

    Raises ``django.core.exceptions.ValidationError`` for a value outside the choices.
    """
    # The customer's row is locked so two clicks at once cannot both find consent in force.
    Customer.objects.select_for_update().filter(pk=customer.pk).first()
    current = (
        Consent.objects.filter(customer=customer, channel=channel, purpose=purpose, effective_at__lte=now)
        .order_by("-effective_at", "-id")
        .first()
    )
    if current is not None and current.status == choices.ConsentStatus.WITHDRAWN:
        return current
    consent = Consent(
        customer=customer,
        channel=channel,
        purpose=purpose,
        status=choices.ConsentStatus.WITHDRAWN,
        effective_at=now,
        source=source[:64],
        received_at=now,
    )
    consent.full_clean(validate_unique=False, validate_constraints=False)
    consent.save()
    audit_record(
        actor=None,
        action="consent.withdraw_by_customer",
        object_type="customer",
        object_id=customer.external_id,
        before=_consent_state(current),
        after=_consent_state(consent),
        note=f"by the customer ({source[:64]})",
        now=now,
    )
    return consent


@transaction.atomic
def contact_details_update(
    *,
    customer: Customer,
    actor: User,
    now: datetime,
    first_name: str | None = None,
    last_name: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    device_tokens: list[str] | None = None,
    language: str | None = None,
) -> ContactDetails:
    """Change the given contact fields (``None`` leaves a field as it is).

    Raises ``django.core.exceptions.ValidationError`` for an invalid email or an
    over-long value; nothing is written then.
    """
    given = {
        "first_name": first_name,
        "last_name": last_name,
        "email": email,
        "phone": phone,
        "device_tokens": device_tokens,
        "language": language,
    }
    contact = ContactDetails.objects.select_for_update().filter(customer=customer).first()
    if contact is None:
        contact = ContactDetails(customer=customer, received_at=now)
    changed = {name: value for name, value in given.items() if value is not None and getattr(contact, name) != value}
    before = {name: _audit_view(name, getattr(contact, name)) for name in changed}
    for name, value in changed.items():
        setattr(contact, name, value)
    if not changed and contact.pk is not None:
        return contact
    contact.full_clean(exclude=["customer"])
    contact.save()
    audit_record(
        actor=actor,
        action="contact_details.update",
        object_type="customer",
        object_id=customer.external_id,
        before=before,
        after={name: _audit_view(name, value) for name, value in changed.items()},
        now=now,
    )
    return contact


@transaction.atomic
def contact_details_erase(*, customer: Customer, actor: User, now: datetime, reason: str = "") -> ContactDetails:
    """Erase a customer's contact details (a right-to-erasure request), keeping
    the facts: transactions, consents and history stay for the models and audit.

    Erasing again is harmless and recorded again.
    """
    contact = ContactDetails.objects.select_for_update().filter(customer=customer).first()
    if contact is None:
        contact = ContactDetails(customer=customer, received_at=now)
    before = {name: _audit_view(name, getattr(contact, name)) for name in CONTACT_FIELDS}
    before["erased_at"] = contact.erased_at.isoformat() if contact.erased_at else None
    for name in PERSONAL_FIELDS:
        setattr(contact, name, [] if name == "device_tokens" else "")
    contact.language = ""
    contact.erased_at = now
    contact.save()
    audit_record(
        actor=actor,
        action="contact_details.erase",
        object_type="customer",
        object_id=customer.external_id,
        before=before,
        after={name: "" for name in CONTACT_FIELDS} | {"erased_at": now.isoformat()},
        note=reason,
        now=now,
    )
    return contact


_CONTACT_COLUMNS = (
    "external_id",
    "customer_id",
    "product_id",
    "campaign_code",
    "channel",
    "offered_at",
    "outcome",
    "source",
    "received_at",
)


_OFFER_CHANNELS = frozenset(choices.OfferChannel.values)


@dataclass(frozen=True)
class OfferMade:
    """One offer a decision made, for the contact history."""

    external_id: str  # stable: outcomes reported later find the row by it
    product_id: int
    campaign_code: str


def contact_history_record(*, customer_id: int, channel: str, offers: Sequence[OfferMade], now: datetime) -> int:
    """Append offers made to a customer to the contact history, outcome pending.

    Models learn from these rows exactly as from the imported history, and contact
    policies count them. Call it in the transaction that records the decision, so
    an offer is never counted without its decision nor made without being counted.
    """
    if channel not in _OFFER_CHANNELS:
        raise ValueError(f"unknown contact channel {channel!r}")
    if connection.vendor == "postgresql" and offers:
        # One plain multi-row INSERT: on the decision API's path the ORM's bulk_create
        # costs more to prepare than the database takes to run it.
        columns = _CONTACT_COLUMNS
        row = "(" + ", ".join(["%s"] * len(columns)) + ")"
        params: list[Any] = []
        for offer in offers:
            params += [
                offer.external_id,
                customer_id,
                offer.product_id,
                offer.campaign_code,
                channel,
                now,
                choices.OfferOutcome.PENDING,
                "decision",
                now,
            ]
        # Bound and prepared on the server (one plan per number of offers).
        with pg_cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {ContactHistory._meta.db_table} ({', '.join(columns)}) VALUES "
                + ", ".join([row] * len(offers)),
                params,
                prepare=True,
            )
        return len(offers)
    rows = [
        ContactHistory(
            external_id=offer.external_id,
            customer_id=customer_id,
            product_id=offer.product_id,
            campaign_code=offer.campaign_code,
            channel=channel,
            offered_at=now,
            outcome=choices.OfferOutcome.PENDING,
            source="decision",
            received_at=now,
        )
        for offer in offers
    ]
    ContactHistory.objects.bulk_create(rows)
    return len(rows)


@dataclass(frozen=True)
class ContactMade:
    """An offer made to one customer on one channel (a campaign queues many at once)."""

    customer_id: int
    channel: str
    offer: OfferMade


def contact_history_record_many(*, contacts: Sequence[ContactMade], now: datetime) -> int:
    """``contact_history_record`` for many customers in one statement, for a
    campaign's chunk of queued messages; the same rules apply."""
    for contact in contacts:
        if contact.channel not in choices.OfferChannel.values:
            raise ValueError(f"unknown contact channel {contact.channel!r}")
    rows = [
        ContactHistory(
            external_id=c.offer.external_id,
            customer_id=c.customer_id,
            product_id=c.offer.product_id,
            campaign_code=c.offer.campaign_code,
            channel=c.channel,
            offered_at=now,
            outcome=choices.OfferOutcome.PENDING,
            source="decision",
            received_at=now,
        )
        for c in contacts
    ]
    ContactHistory.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


def contact_history_withdraw(*, external_ids: Sequence[str]) -> int:
    """Remove offers that were queued but never made (blocked at send time, dead,
    or cancelled): they must not count toward caps, nor teach a model that the
    customer ignored them."""
    if not external_ids:
        return 0
    deleted, _ = ContactHistory.objects.filter(
        external_id__in=list(external_ids), source="decision", outcome=choices.OfferOutcome.PENDING
    ).delete()
    return deleted


# How strong an outcome is: a report only ever moves a contact-history row up this
# scale, so a late impression cannot hide an accept, and models learn the best
# the customer did. The final answers outrank engagement; an accept outranks a refusal
# (a customer who said no and later yes took the product).
OUTCOME_STRENGTH = {
    choices.OfferOutcome.PENDING: 0,
    choices.OfferOutcome.NO_RESPONSE: 0,
    choices.OfferOutcome.IMPRESSION: 1,
    choices.OfferOutcome.CLICK: 2,
    choices.OfferOutcome.DISMISSED: 3,
    choices.OfferOutcome.REJECTED: 3,
    choices.OfferOutcome.ACCEPTED: 4,
}


def contact_history_respond(
    *, external_id: str, outcome: str, responded_at: datetime, revenue: Decimal | None = None
) -> int:
    """Record a customer's response on the contact-history row ``external_id``
    (an offer Crossell made), if it is stronger than what the row holds.

    One conditional UPDATE, so two reports racing leave the stronger one. Returns
    the rows changed (0: unknown row, or a weaker or equal outcome already there).
    """
    if outcome not in OUTCOME_STRENGTH:
        raise ValueError(f"unknown outcome {outcome!r}")
    weaker = [name for name, strength in OUTCOME_STRENGTH.items() if strength < OUTCOME_STRENGTH[outcome]]
    changes: dict[str, Any] = {"outcome": outcome, "responded_at": responded_at}
    if revenue is not None:
        changes["revenue"] = revenue
    return ContactHistory.objects.filter(external_id=external_id, outcome__in=weaker).update(**changes)
