"""Channel adapters: hand one queued ``Delivery`` to its channel.

``channel_send`` is what the outbox calls. Email and app push go out now; web
content and call-centre offers wait to be fetched (by the bank's website through
``GET /api/v1/web-content``, or on the agent's desktop), so "sending" them only
makes them available.
"""

from __future__ import annotations

from datetime import datetime

from campaigns.channels.base import ChannelRejected, ChannelUnavailable
from campaigns.channels.email import email_batch, email_send
from campaigns.channels.push import push_send
from campaigns.models import Delivery
from decisioning.models import TreatmentChannel

AVAILABLE = "available"

__all__ = ["AVAILABLE", "ChannelRejected", "ChannelUnavailable", "channel_send", "email_batch"]


def channel_send(delivery: Delivery, *, now: datetime) -> str:
    """Send the delivery on its channel; returns the peer's reference (a Message-ID,
    the push gateway's id) or "available" for channels that are fetched.

    Raises ``ChannelUnavailable`` to retry later, ``ChannelRejected`` for never."""
    if delivery.channel == TreatmentChannel.EMAIL:
        return email_send(delivery, now=now)
    if delivery.channel == TreatmentChannel.PUSH:
        return push_send(delivery, now=now)
    if delivery.channel in (TreatmentChannel.WEB, TreatmentChannel.CALL_CENTRE):
        return AVAILABLE
    raise ChannelRejected(f"no adapter for channel {delivery.channel!r}")
