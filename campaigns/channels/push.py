"""The app push channel: an HTTP POST of the notification to the bank's push gateway.

The gateway is one ``PushGateway`` row edited in the UI. Each request is signed
(``X-Crossell-Signature``: hex HMAC-SHA256 of the exact body bytes with the
gateway's secret) so the gateway can tell it came from the bank, and carries the
delivery's public id as ``Idempotency-Key`` and ``message_id``, so a request
sent again after a crash is recognised as a repeat.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import urllib.error
import urllib.request
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import transaction

from campaigns.channels.base import ChannelRejected, ChannelUnavailable
from campaigns.channels.render import PUSH_TITLE_MAX_CHARS, delivery_render, one_line
from campaigns.models import Delivery, PushGateway
from core.models import User
from core.services import audit_record
from customers.models import ContactDetails

logger = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Crossell-Signature"
MIN_SECRET_CHARS = 16
MAX_RESPONSE_BYTES = 64 * 1024  # a gateway's answer is an id, not a document
USER_AGENT = "Crossell-Push/1"
_PEER_REF_CHARS = 200


def push_signature(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def push_gateway_active() -> PushGateway | None:
    return PushGateway.objects.filter(active=True).order_by("-updated_at", "-id").first()


# --- the gateway's settings ------------------------------------------------------------------------------------------


def push_url_check(url: str) -> str:
    """The URL stripped, or ``ValidationError`` naming "url": http or https with a
    host, an optional numeric port, no credentials and no spaces."""
    url = (url or "").strip()
    problem = ""
    if not url:
        problem = "Enter the push gateway's URL."
    elif len(url) > 500:
        problem = "At most 500 characters."
    elif any(ch.isspace() or ord(ch) < 32 for ch in url):
        problem = "A URL has no spaces or control characters."
    else:
        parts = urlsplit(url)
        try:
            parts.port  # noqa: B018 (raises on a port that is not a number from 0 to 65535)
        except ValueError:
            problem = "The port is not a number from 1 to 65535."
        else:
            if parts.scheme not in ("http", "https"):
                problem = "The URL starts with http:// or https://."
            elif not parts.hostname:
                problem = "The URL names a host, e.g. https://push.bank.example/notify."
            elif parts.username or parts.password:
                problem = "Put no credentials in the URL: the shared secret signs each request."
    if problem:
        raise ValidationError({"url": [problem]})
    return url


@transaction.atomic
def push_gateway_save(
    *, url: str, secret: str, timeout_seconds: Decimal | float | str, actor: User, now: datetime
) -> PushGateway:
    """Set where push notifications go. Blank ``secret`` keeps the current one.

    Raises ``ValidationError`` naming the field (url, secret, timeout_seconds);
    nothing is written then. The audit event says whether the secret changed,
    never what it is."""
    errors: dict[str, list[str]] = {}
    try:
        url = push_url_check(url)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    try:
        timeout = Decimal(str(timeout_seconds)).quantize(Decimal("0.1"))
        if not Decimal("0.5") <= timeout <= Decimal("60"):
            raise InvalidOperation
    except (InvalidOperation, ValueError):
        errors["timeout_seconds"] = ["Seconds, from 0.5 to 60."]
        timeout = Decimal("5")
    gateway = PushGateway.objects.select_for_update().order_by("-updated_at", "-id").first()
    secret = (secret or "").strip()
    if secret and len(secret) < MIN_SECRET_CHARS:
        errors["secret"] = [f"At least {MIN_SECRET_CHARS} characters."]
    elif not secret and gateway is None:
        errors["secret"] = ["Enter the secret shared with the gateway."]
    if errors:
        raise ValidationError(errors)
    before = None
    if gateway is None:
        gateway = PushGateway(url=url, secret=secret, timeout_seconds=timeout, active=True)
    else:
        before = {"url": gateway.url, "timeout_seconds": str(gateway.timeout_seconds), "active": gateway.active}
        gateway.url, gateway.timeout_seconds, gateway.active = url, timeout, True
        if secret:
            gateway.secret = secret
    gateway.save()
    audit_record(
        actor=actor,
        action="push_gateway.save",
        object_type="push_gateway",
        object_id=gateway.pk,
        before=before,
        after={
            "url": gateway.url,
            "timeout_seconds": str(gateway.timeout_seconds),
            "active": True,
            "secret": "changed" if secret else "unchanged",
        },
        now=now,
    )
    return gateway


# --- sending -----------------------------------------------------------------------------------------------------------


def push_contact_of(customer_id: int) -> tuple[list[str], str]:
    """The customer's device tokens and first name; ``ChannelRejected`` without a device."""
    contact = (
        ContactDetails.objects.filter(customer_id=customer_id).only("device_tokens", "first_name", "erased_at").first()
    )
    tokens = [] if contact is None or contact.erased_at is not None else contact.device_tokens or []
    tokens = [t for t in tokens if isinstance(t, str) and t]
    if not tokens or contact is None:
        raise ChannelRejected("no app device registered for the customer (none given, or erased)")
    return tokens, contact.first_name


def push_payload(delivery: Delivery) -> dict[str, Any]:
    tokens, first_name = push_contact_of(delivery.customer_id)
    rendered = delivery_render(delivery, first_name=first_name)
    return {
        "message_id": str(delivery.public_id),
        "customer_id": delivery.customer.external_id,
        "device_tokens": tokens,
        "title": one_line(rendered.subject, PUSH_TITLE_MAX_CHARS),
        "body": rendered.short,
        "offer_code": delivery.offer_code,
        "decision_id": str(delivery.decision_id),
    }


def _peer_reference(raw: bytes, fallback: str) -> str:
    """The gateway's id for the notification when it answers ``{"id": ...}``; else ours."""
    try:
        answer = json.loads(raw) if raw else None
    except ValueError:
        answer = None
    found = answer.get("id") if isinstance(answer, dict) else None
    return str(found)[:_PEER_REF_CHARS] if isinstance(found, str | int) and str(found) else fallback


def push_send(delivery: Delivery, *, now: datetime) -> str:
    """POST the notification to the active gateway; returns the gateway's reference.

    Raises ``ChannelUnavailable`` (no gateway, connection error, timeout, 5xx, 429,
    or a 3xx: a gateway that moved is fixed in its settings, not followed) or
    ``ChannelRejected`` (no device, another 4xx)."""
    gateway = push_gateway_active()
    if gateway is None:
        raise ChannelUnavailable("no push gateway is configured")
    payload = push_payload(delivery)
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    request = urllib.request.Request(  # noqa: S310 (the URL was checked to be http(s) at save)
        gateway.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
            "Idempotency-Key": str(delivery.public_id),
            SIGNATURE_HEADER: push_signature(body, gateway.secret),
        },
    )
    try:
        with _OPENER.open(request, timeout=float(gateway.timeout_seconds)) as response:
            raw = response.read(MAX_RESPONSE_BYTES)
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
        exc.close()
        if status == 429 or status >= 500 or status < 400:
            raise ChannelUnavailable(f"the push gateway answered {status}") from exc
        raise ChannelRejected(f"the push gateway refused the notification ({status})") from exc
    except (TimeoutError, urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ChannelUnavailable(f"the push gateway is unreachable ({type(reason).__name__})") from exc
    logger.info("push delivery=%s accepted with %s", delivery.pk, status)
    return _peer_reference(raw, str(delivery.public_id))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is not followed: it would resend the signed body to another host."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)
