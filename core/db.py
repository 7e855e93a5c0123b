"""Database helpers for the hot paths, above Django's ORM."""

from __future__ import annotations

from typing import Any

import psycopg
from django.db import connection

# psycopg prepares a statement on its own after this many runs: never, in effect (see ``pg_cursor``).
PREPARE_EXPLICIT_ONLY = 2**31 - 1


def pg_cursor() -> Any:
    """A psycopg cursor on Django's connection (same transaction) binding parameters
    on the server, so the hot statements can be prepared (``prepare=True``):
    planning the facts query costs more than running it, and client-side binding
    spends a millisecond escaping a decision record's JSON.

    Both need saying: the connection's own ``cursor()`` binds on the client (Django's
    cursor factory), and Django opens connections with ``prepare_threshold=None``,
    under which psycopg ignores ``prepare=True``. A threshold no statement reaches
    prepares the statements that ask, and only those. PostgreSQL only."""
    connection.ensure_connection()
    raw = connection.connection
    if raw.prepare_threshold is None:
        raw.prepare_threshold = PREPARE_EXPLICIT_ONLY
    return psycopg.Cursor(raw)
