"""Locks that keep a customer's contact and their consent changes apart.

A message must never leave after a consent withdrawal has committed. A sender
holds a customer's *contact* lock in shared mode from its last consent check
until the channel has taken the message; a consent change takes the same lock
exclusively inside its transaction. So a withdrawal waits for a send already
past its check, and a send that checks after the withdrawal began waits for its
commit and then sees it. PostgreSQL advisory locks: the sender's is held by the
session (no transaction stays open across the network call), the writer's ends
with its transaction. SQLite (embedded mode) has one writer at a time and no
such locks; there the check and the send are as close as the code can make them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from django.db import connection

# The first key of the two-key advisory lock space: "customer contact".
CONTACT_LOCK_SPACE = 72_011


@contextmanager
def customer_contact_shared(customer_ids: Iterable[int]) -> Iterator[None]:
    """Hold the customers' contact locks in shared mode (senders), outside any
    transaction: one statement to take them, one to give them back."""
    ids = sorted(set(customer_ids))
    if connection.vendor != "postgresql" or not ids:
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_advisory_lock_shared(%s, id)) FROM unnest(%s::int[]) AS id", [CONTACT_LOCK_SPACE, ids]
        )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_advisory_unlock_shared(%s, id)) FROM unnest(%s::int[]) AS id",
                [CONTACT_LOCK_SPACE, ids],
            )


def customer_contact_exclusive(customer_ids: Iterable[int]) -> None:
    """Take the customers' contact locks exclusively until the current transaction
    ends (consent writers). In ascending order, so two writers never deadlock."""
    if connection.vendor != "postgresql":
        return
    ids = sorted(set(customer_ids))
    if not ids:
        return
    if not connection.in_atomic_block:
        raise RuntimeError("customer_contact_exclusive needs a transaction: the lock ends with it")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, id) FROM unnest(%s::int[]) AS id ORDER BY id",
            [CONTACT_LOCK_SPACE, ids],
        )
