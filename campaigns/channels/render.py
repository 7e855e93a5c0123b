"""An offer's treatment, filled for one customer, in the forms each channel needs.

The text is the offer's treatment on the channel: an offer has one per channel,
so it is the one the decision chose (the ``treatment_id`` of its offer view),
as edited since; a treatment deleted and written anew is replaced by the new one.

Treatment texts are plain text with ``{{ field }}`` placeholders. For HTML
channels the whole filled text is escaped (the template's own characters and
the customer's values alike), then blank lines become paragraphs: nothing a
customer or an editor typed can become markup. Disclosures go with every
rendering.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from campaigns.channels.base import ChannelRejected
from campaigns.models import Delivery
from customers.choices import ProductFamily
from customers.models import ContactDetails, Customer
from decisioning.models import Decision, Offer, Treatment
from decisioning.templates import template_render

# Longest push notification text: what lock screens show without cutting it.
PUSH_MAX_CHARS = 240
PUSH_TITLE_MAX_CHARS = 65
SUBJECT_MAX_CHARS = 200
_SPACES = re.compile(r"\s+")
_PARAGRAPHS = re.compile(r"\n\s*\n")


class NoTreatment(ChannelRejected):
    """The offer has no treatment on the channel: nothing can be sent."""


@dataclass(frozen=True)
class RenderedOffer:
    channel: str
    offer_code: str
    subject: str  # one line of plain text: email subject, banner title, push title
    text: str  # plain-text body
    disclosures: str  # plain text
    html: str  # HTML fragment of the body then the disclosures, everything escaped
    short: str  # push text, at most PUSH_MAX_CHARS

    @property
    def body_html(self) -> str:
        return text_to_html(self.text)

    @property
    def disclosures_html(self) -> str:
        return text_to_html(self.disclosures)


def one_line(text: str, limit: int) -> str:
    """Collapse whitespace (a header never holds a newline) and cut at ``limit``."""
    flat = _SPACES.sub(" ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def text_to_html(text: str) -> str:
    """Plain text as escaped HTML paragraphs; single newlines become line breaks."""
    paragraphs = [p.strip() for p in _PARAGRAPHS.split(text.strip()) if p.strip()]
    return "\n".join("<p>" + html.escape(p, quote=True).replace("\n", "<br>\n") + "</p>" for p in paragraphs)


def template_values(*, offer: Offer, customer_id: str, first_name: str) -> dict[str, Any]:
    """The values of ``decisioning.templates.TEMPLATE_FIELDS`` for this offer and customer."""
    family = offer.product.family
    return {
        "customer.first_name": first_name,
        "customer.external_id": customer_id,
        "offer.name": offer.name,
        "offer.value": offer.headline_value,
        "offer.ends_on": offer.ends_on.strftime("%-d %b %Y") if isinstance(offer.ends_on, dt.date) else "",
        "product.name": offer.product.name,
        "product.family": ProductFamily(family).label if family in ProductFamily.values else "",
        "bank.name": settings.BANK_NAME,
    }


def first_name_of(customer_id: int) -> str:
    """The customer's first name, or empty when unknown or erased."""
    found = (
        ContactDetails.objects.filter(customer_id=customer_id, erased_at__isnull=True)
        .values_list("first_name", flat=True)
        .first()
    )
    return found or ""


def offer_view_of(decision: Decision, offer_code: str, rank: int | None = None) -> Mapping[str, Any] | None:
    """The decision's stored view of an offer, by code (and rank, when given)."""
    views = [o for o in decision.offers if o.get("offer_code") == offer_code]
    if rank is not None:
        views = [o for o in views if o.get("rank") == rank] or views
    return views[0] if views else None


# Treatments read by the senders, for a few seconds: a campaign sends thousands of
# messages of a handful of treatments, and an edit reaches the next message soon after.
TREATMENT_CACHE_SECONDS = 5.0
_treatments: dict[tuple[str, str], tuple[float, Treatment]] = {}


def treatment_of(*, offer_code: str, channel: str) -> Treatment:
    """The offer's treatment on the channel, with the offer and product (cached for
    ``TREATMENT_CACHE_SECONDS``).

    An offer has one treatment per channel, so the one the decision chose (its
    ``treatment_id``) is this row, edited since or not; if it was deleted and
    written anew, the new one is the offer's current text."""
    key = (offer_code, channel)
    cached = _treatments.get(key)
    if cached is not None and time.monotonic() - cached[0] < TREATMENT_CACHE_SECONDS:
        return cached[1]
    treatment = _treatment_read(offer_code=offer_code, channel=channel)
    _treatments[key] = (time.monotonic(), treatment)
    return treatment


def treatments_forget() -> None:
    """Drop cached treatments (tests, and a process that just edited one)."""
    _treatments.clear()


def _treatment_read(*, offer_code: str, channel: str) -> Treatment:
    found = list(
        Treatment.objects.filter(offer__code=offer_code, channel=channel)
        .select_related("offer__product")
        .order_by()[:1]
    )
    if not found:
        raise NoTreatment(f"offer {offer_code} has no treatment on {channel}")
    return found[0]


def offer_render(*, offer_code: str, channel: str, customer: Customer, first_name: str | None = None) -> RenderedOffer:
    """Fill the treatment of ``offer_code`` on ``channel`` for the customer.
    ``first_name``: when the caller has read the contact details already (None: read here).

    Raises ``NoTreatment`` (a ``ChannelRejected``) when the offer is gone or has
    no treatment on the channel."""
    treatment = treatment_of(offer_code=offer_code, channel=channel)
    offer = treatment.offer
    if first_name is None:
        first_name = first_name_of(customer.pk)
    values = template_values(offer=offer, customer_id=customer.external_id, first_name=first_name)
    subject = template_render(treatment.subject, values, escape=False)
    text = template_render(treatment.body, values, escape=False).strip()
    disclosures = template_render(treatment.disclosures, values, escape=False).strip()
    return RenderedOffer(
        channel=channel,
        offer_code=offer_code,
        subject=one_line(subject, SUBJECT_MAX_CHARS),
        text=text,
        disclosures=disclosures,
        html=f'{text_to_html(text)}\n<div class="disclosures">{text_to_html(disclosures)}</div>',
        short=one_line(text, PUSH_MAX_CHARS),
    )


def delivery_render(delivery: Delivery, *, first_name: str | None = None) -> RenderedOffer:
    """The message of a queued delivery."""
    return offer_render(
        offer_code=delivery.offer_code, channel=delivery.channel, customer=delivery.customer, first_name=first_name
    )
