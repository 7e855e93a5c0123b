"""The email channel: an offer as a text and HTML message through Django's email
backend (SMTP in production, files in the embedded mode).

Each message's ``Message-ID`` is made from the delivery's public id, so a message
sent again after a crash (between the server's acceptance and our commit) is the
same message to the server and to the customer's mail client. Every message
carries a one-click unsubscribe link (RFC 8058) signed with the secret key: no
table of tokens, and a link cannot be forged for another customer.
"""

from __future__ import annotations

import logging
import re
import smtplib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from email.utils import formatdate, parseaddr
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives, get_connection
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import mark_safe

from campaigns.channels.base import ChannelRejected, ChannelUnavailable
from campaigns.channels.render import delivery_render
from campaigns.models import Delivery
from customers import choices
from customers.models import Consent, ContactDetails, Customer
from customers.services import consent_withdraw_by_customer

logger = logging.getLogger(__name__)
UNSUBSCRIBE_SALT = "campaigns.email.unsubscribe"
UNSUBSCRIBE_SOURCE = "unsubscribe"
_ENHANCED_STATUS = re.compile(rb"^\s*([245]\.\d{1,3}\.\d{1,3})")


def message_domain() -> str:
    """The domain of the sender address, which names each Message-ID."""
    address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    return address.rpartition("@")[2] or "localhost"


def message_id_for(delivery: Delivery) -> str:
    return f"<{delivery.public_id}@{message_domain()}>"


# --- unsubscribe -----------------------------------------------------------------------------------------------------


def unsubscribe_token(delivery: Delivery) -> str:
    """A signed token naming the customer (by public id) and the message. It does not
    expire: an unsubscribe link must work for as long as the email is kept."""
    # No timestamp (plain Signer): the same message gets the same link on every retry.
    return signing.Signer(salt=UNSUBSCRIBE_SALT).sign_object(
        {"c": delivery.customer.public_id.hex, "m": delivery.public_id.hex}
    )


def unsubscribe_url(delivery: Delivery) -> str:
    return settings.SITE_URL + reverse("frontend:unsubscribe", kwargs={"token": unsubscribe_token(delivery)})


@dataclass(frozen=True)
class UnsubscribeRequest:
    customer: Customer
    message_id: str  # the delivery's public id (hex), for the audit note


def unsubscribe_read(token: str) -> UnsubscribeRequest | None:
    """The customer a token names, or None for a token that is forged, altered or
    names no customer any more."""
    try:
        payload = signing.Signer(salt=UNSUBSCRIBE_SALT).unsign_object(token)
    except signing.BadSignature:
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("c"), str):
        return None
    customer = Customer.objects.filter(public_id=payload["c"]).first()
    if customer is None:
        return None
    return UnsubscribeRequest(customer=customer, message_id=str(payload.get("m", "")))


def email_marketing_withdrawn(customer: Customer, *, now: datetime) -> bool:
    """True when the customer's email marketing consent in force is withdrawn."""
    current = (
        Consent.objects.filter(
            customer=customer,
            channel=choices.ConsentChannel.EMAIL,
            purpose=choices.ConsentPurpose.MARKETING,
            effective_at__lte=now,
        )
        .order_by("-effective_at", "-id")
        .first()
    )
    return current is not None and current.status == choices.ConsentStatus.WITHDRAWN


def unsubscribe_record(*, request: UnsubscribeRequest, now: datetime) -> Consent:
    """The customer's opt-out from marketing email, through the link of a message."""
    consent = consent_withdraw_by_customer(
        customer=request.customer,
        channel=choices.ConsentChannel.EMAIL,
        purpose=choices.ConsentPurpose.MARKETING,
        source=UNSUBSCRIBE_SOURCE,
        now=now,
    )
    logger.info("unsubscribe customer=%s message=%s", request.customer.pk, request.message_id)
    return consent


# --- sending -----------------------------------------------------------------------------------------------------------


def email_contact_of(customer_id: int, *, loaded: Customer | None = None) -> ContactDetails:
    """The contact details with an address; ``ChannelRejected`` when there is none or it was erased.
    ``loaded``: the customer with its contact details already read (the outbox reads a batch at once)."""
    if loaded is not None and Customer.contact.is_cached(loaded):
        contact = getattr(loaded, "contact", None)
    else:
        contact = (
            ContactDetails.objects.filter(customer_id=customer_id).only("email", "first_name", "erased_at").first()
        )
    if contact is None or contact.erased_at is not None or not contact.email:
        raise ChannelRejected("no email address on file (none given, or erased)")
    return contact


def email_message(delivery: Delivery, *, now: datetime) -> EmailMultiAlternatives:
    """The message for a delivery, text and HTML, ready for the backend."""
    customer = delivery.customer if Delivery.customer.is_cached(delivery) else None
    contact = email_contact_of(delivery.customer_id, loaded=customer)
    rendered = delivery_render(delivery, first_name=contact.first_name)
    link = unsubscribe_url(delivery)
    context = {
        "rendered": rendered,
        # Both are built from escaped text by render.text_to_html.
        "body_html": mark_safe(rendered.body_html),  # noqa: S308
        "disclosures_html": mark_safe(rendered.disclosures_html),  # noqa: S308
        "unsubscribe_url": link,
        "bank_name": settings.BANK_NAME,
        "transactional": delivery.transactional,
    }
    message = EmailMultiAlternatives(
        subject=rendered.subject,
        body=render_to_string("campaigns/email/offer.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[contact.email],
        headers={
            "Message-ID": message_id_for(delivery),
            "Date": formatdate(now.timestamp(), usegmt=True),
            "List-Unsubscribe": f"<{link}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
    message.attach_alternative(render_to_string("campaigns/email/offer.html", context), "text/html")
    return message


def _smtp_code_text(code: int, text: bytes | str) -> str:
    """The reply code and enhanced status, never the server's words: they often
    quote the address, which must not end up in logs or the delivery row."""
    raw = text if isinstance(text, bytes) else str(text).encode()
    found = _ENHANCED_STATUS.match(raw)
    return f"SMTP {code}" + (f" {found.group(1).decode()}" if found else "")


def smtp_failure(exc: Exception) -> ChannelUnavailable | ChannelRejected:
    """What an SMTP error means for the delivery: a 5xx reply about this message is
    permanent; a 4xx, a refused or timed-out connection, or a server that will not
    talk to us at all (greeting, HELO, login) is for later."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        replies = list(exc.recipients.values())
        codes = [code for code, _ in replies]
        where = ", ".join(_smtp_code_text(code, text) for code, text in replies) or "no reply"
        if codes and all(500 <= code < 600 for code in codes):
            return ChannelRejected(f"the mail server refused the recipient ({where})")
        return ChannelUnavailable(f"the mail server deferred the recipient ({where})")
    if isinstance(exc, smtplib.SMTPConnectError | smtplib.SMTPHeloError | smtplib.SMTPAuthenticationError):
        return ChannelUnavailable(
            f"the mail server would not take messages ({type(exc).__name__}, SMTP {exc.smtp_code})"
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        where = _smtp_code_text(exc.smtp_code, exc.smtp_error)
        if 500 <= exc.smtp_code < 600:
            return ChannelRejected(f"the mail server refused the message ({where})")
        return ChannelUnavailable(f"the mail server deferred the message ({where})")
    return ChannelUnavailable(f"the mail server is unreachable ({type(exc).__name__})")


def email_send(delivery: Delivery, *, now: datetime) -> str:
    """Send the delivery's email; returns its Message-ID. Inside ``email_batch()``,
    over the batch's open connection (one SMTP handshake for a batch, not one per message).

    Raises ``ChannelRejected`` (no address, no treatment, a 5xx reply) or
    ``ChannelUnavailable`` (server down, timeout, a 4xx reply)."""
    message = email_message(delivery, now=now)
    session = _batch.get()
    try:
        if session is not None:
            message.connection = session.connection()
        message.send(fail_silently=False)
    except (smtplib.SMTPException, OSError) as exc:
        if session is not None:
            session.drop()  # its state after a failure is unknown: the next message opens a fresh one
        failure = smtp_failure(exc)
        logger.info("email delivery=%s failed: %s", delivery.pk, failure)
        raise failure from exc
    return str(message.extra_headers["Message-ID"])


class EmailSession:
    """One email backend connection shared by the messages a sender sends in a row,
    opened on first use and closed by ``close``."""

    def __init__(self) -> None:
        self._connection: Any = None

    def connection(self) -> Any:
        if self._connection is None:
            connection = get_connection(fail_silently=False)
            connection.open()
            self._connection = connection
        return self._connection

    def drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except (smtplib.SMTPException, OSError):
                logger.info("closing a failed email connection failed too", exc_info=True)

    def close(self) -> None:
        self.drop()


_batch: ContextVar[EmailSession | None] = ContextVar("email_batch", default=None)


@contextmanager
def email_batch() -> Iterator[EmailSession]:
    """Send the emails of the enclosed block over one connection, closed at the end."""
    session = EmailSession()
    token = _batch.set(session)
    try:
        yield session
    finally:
        _batch.reset(token)
        session.close()
