"""What every channel adapter promises the outbox.

An adapter hands one queued ``Delivery`` to its channel and returns the peer's
reference. It raises ``ChannelUnavailable`` for what may pass (a peer down, a
timeout, a 5xx or 429), which the outbox retries with backoff, and
``ChannelRejected`` for what will not (no address on file, a 4xx), which goes
to the dead letter at once. Anything else is a bug: the row is set aside as
dead with the error, never retried in a loop.
"""

from __future__ import annotations


class ChannelUnavailable(Exception):
    """The channel could not take the message now; try again later."""


class ChannelRejected(Exception):
    """The channel will never take this message as it is."""
