"""The online feature store: each customer's latest feature row, read by real-time
decisions in one indexed query instead of computed (``compute_features`` runs
dozens of queries for one customer).

A row holds every catalogue column a model or a rule may use (never a protected
attribute) as JSON: numbers with a missing value as null, booleans, categories
as text, dates in ISO form. ``LoadedModel.vector`` turns it into exactly the
array ``LoadedModel.matrix`` gives for the same row of a frame, so scores from
a stored row equal scores from a computed one (``modeling.scoring.score_values``).

Rows are written three ways, all through one guarded bulk upsert:

1. ``online_features_refresh``: computed now, with the real-time convention of
   ``score_customer`` (cut-off tomorrow in bank time, facts known at ``now``).
   The event API's follow-up task (``modeling.refresh_online_features``) does it
   for the customers whose events were just accepted; with no customer ids it
   walks the whole bank.
2. ``online_features_load``: copied from a feature snapshot, at the end of a
   batch scoring run, which has just read (and hash-checked) that table anyway:
   no feature is computed twice. These rows carry the snapshot's cut-off (today:
   facts dated before midnight), a day behind the real-time cut-off, until an
   event refreshes the customer.
3. ``online_features_ensure``: computed on a miss, for one customer.

An upsert never moves a row back: it replaces the stored one only when its
(cut-off, knowledge time) is not older, so a slow task, a redelivered one or a
snapshot built before today's events cannot overwrite what a fresher write
stored. Writing a chunk again with the same inputs stores the same row
(idempotent). On PostgreSQL a chunk goes in by COPY into a temporary table,
then one INSERT ... ON CONFLICT in customer order (so two writers lock rows in
the same order); elsewhere by one executemany of the same upsert.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from django.db import connection, transaction

from customers.models import Customer
from modeling.feature_catalogue import Use, feature_get
from modeling.features import MAX_IN_LIST, compute_features
from modeling.models import FeatureSnapshot, OnlineFeatures
from modeling.scoring import REALTIME_CUTOFF_DAYS_AHEAD, UnknownCustomerError
from modeling.snapshots import bank_today, feature_snapshot_load

# Customers per chunk: one compute_features call (read by id range when walking
# the whole bank) and one upsert transaction.
ONLINE_BATCH_SIZE = 2_000
# A worker task writes for at most this long, then hands the rest to a fresh task.
ONLINE_TASK_SECONDS = 20.0

__all__ = [
    "ONLINE_BATCH_SIZE",
    "ONLINE_TASK_SECONDS",
    "OnlineProgress",
    "OnlineRow",
    "online_columns",
    "online_features_ensure",
    "online_features_get",
    "online_features_load",
    "online_features_refresh",
    "online_features_refresh_all",
    "online_values",
]


@dataclass(frozen=True)
class OnlineRow:
    """One customer's stored features: ``values`` by column name, as of ``cutoff``
    with facts received before ``known_at``."""

    customer_id: int
    values: dict[str, Any]
    cutoff: dt.date
    known_at: dt.datetime


@dataclass(frozen=True)
class OnlineProgress:
    """How far a chunked write got: rows written, the last customer id handled
    (the cursor to resume after) and whether customers remain."""

    written: int
    cursor: int
    more: bool


# --- reading ------------------------------------------------------------------------------------------------------

_TABLE = OnlineFeatures._meta.db_table
_GET_SQL = f'SELECT "values", cutoff, known_at FROM {_TABLE} WHERE customer_id = %s'


def online_features_get(customer_id: int) -> OnlineRow | None:
    """The customer's stored row, or None: one primary-key query, no ORM on the way
    (the decision API calls this on every request)."""
    with connection.cursor() as cursor:
        cursor.execute(_GET_SQL, [customer_id])
        found = cursor.fetchone()
    if found is None:
        return None
    values, cutoff, known_at = found
    return OnlineRow(
        customer_id=customer_id,
        # PostgreSQL hands jsonb over as text (Django's loader), SQLite stores text.
        values=json.loads(values) if isinstance(values, str | bytes) else values,
        cutoff=cutoff if isinstance(cutoff, dt.date) else dt.date.fromisoformat(cutoff),
        known_at=_aware(known_at),
    )


def _aware(value: dt.datetime | str) -> dt.datetime:
    if isinstance(value, str):  # SQLite: naive UTC text
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def online_features_ensure(customer_id: int, *, now: dt.datetime) -> OnlineRow:
    """The stored row, or one computed now (real-time convention), stored and
    returned. UnknownCustomerError for a customer who does not exist."""
    row = online_features_get(customer_id)
    if row is not None:
        return row
    cutoff = _realtime_cutoff(now)
    frame = compute_features(cutoff=cutoff, customer_ids=[customer_id], known_at=now)
    if customer_id not in frame.index:
        raise UnknownCustomerError(f"customer {customer_id} does not exist or joined on or after {cutoff}")
    ids, texts = online_values(frame)
    _rows_write(ids, texts, cutoff=cutoff, known_at=now, snapshot_id=None, now=now)
    return OnlineRow(customer_id=customer_id, values=json.loads(texts[0]), cutoff=cutoff, known_at=now)


# --- computing and loading ----------------------------------------------------------------------------------------


def _realtime_cutoff(now: dt.datetime) -> dt.date:
    # The convention of modeling.scoring.score_customer: tomorrow in bank time, so today's facts count.
    return bank_today(now) + dt.timedelta(days=REALTIME_CUTOFF_DAYS_AHEAD)


def online_features_refresh(
    *, customer_ids: Sequence[int] | None, now: dt.datetime, batch_size: int = ONLINE_BATCH_SIZE
) -> int:
    """Compute and store the rows of ``customer_ids`` (None: every customer) as
    ``score_customer`` would at ``now``; return the rows written. Ids of customers
    who do not exist are skipped."""
    if customer_ids is None:
        return online_features_refresh_all(now=now, batch_size=batch_size).written
    ids = sorted(set(customer_ids))
    # A list of ids goes into an IN list: longer ones would be read by id range.
    size = max(1, min(batch_size, MAX_IN_LIST))
    return sum(_refresh_chunk(ids[i : i + size], now) for i in range(0, len(ids), size))


def online_features_refresh_all(
    *, now: dt.datetime, after: int = 0, batch_size: int = ONLINE_BATCH_SIZE, max_seconds: float | None = None
) -> OnlineProgress:
    """Compute and store the rows of every customer with an id above ``after``, a
    chunk of consecutive ids at a time, until done or ``max_seconds`` have passed
    (checked between chunks)."""
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    written = 0
    while True:
        ids = list(Customer.objects.filter(pk__gt=after).order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not ids:
            return OnlineProgress(written=written, cursor=after, more=False)
        written += _refresh_chunk(ids, now)
        after = ids[-1]
        if len(ids) < batch_size:
            return OnlineProgress(written=written, cursor=after, more=False)
        if deadline is not None and time.monotonic() >= deadline:
            return OnlineProgress(written=written, cursor=after, more=True)


def _refresh_chunk(ids: list[int], now: dt.datetime) -> int:
    if not ids:
        return 0
    cutoff = _realtime_cutoff(now)
    frame = compute_features(cutoff=cutoff, customer_ids=ids, known_at=now)
    customer_ids, texts = online_values(frame)
    return _rows_write(customer_ids, texts, cutoff=cutoff, known_at=now, snapshot_id=None, now=now)


def online_features_load(
    *,
    snapshot: FeatureSnapshot,
    now: dt.datetime,
    after: int = 0,
    batch_size: int = ONLINE_BATCH_SIZE,
    max_seconds: float | None = None,
) -> OnlineProgress:
    """Store the snapshot's rows of customers with an id above ``after``, until done
    or ``max_seconds`` have passed. A stored row with a later cut-off or
    knowledge time is kept. SnapshotError if the table cannot be read."""
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    frame = feature_snapshot_load(snapshot, columns=online_columns(snapshot.columns)).sort_index()
    ids = frame.index.to_numpy(dtype="int64")
    start = int(np.searchsorted(ids, after, side="right"))
    written = 0
    cursor = after
    while start < len(ids):
        chunk = frame.iloc[start : start + batch_size]
        customer_ids, texts = online_values(chunk)
        written += _rows_write(
            customer_ids, texts, cutoff=snapshot.cutoff, known_at=snapshot.known_at, snapshot_id=snapshot.pk, now=now
        )
        start += len(chunk)
        cursor = customer_ids[-1]
        if deadline is not None and time.monotonic() >= deadline:
            break
    return OnlineProgress(written=written, cursor=cursor, more=start < len(ids))


# --- encoding -----------------------------------------------------------------------------------------------------


def online_columns(columns: Iterable[str]) -> list[str]:
    """The columns a row stores: every catalogue column a model or a rule may use,
    in the given order; protected attributes (fairness only) never."""
    return [c for c in columns if feature_get(c).use is not Use.FAIRNESS_ONLY]


def online_values(frame: pd.DataFrame) -> tuple[list[int], list[str]]:
    """Customer ids and each row's stored JSON text, for a frame as
    ``compute_features`` returns it. Converted a column at a time: numpy scalars
    become Python ones, NaN and infinities null, dates ISO text."""
    columns = online_columns(frame.columns)
    converted = [_json_column(frame[name]) for name in columns]
    encode = _ENCODER.encode
    texts = [encode(dict(zip(columns, row, strict=True))) for row in zip(*converted, strict=True)]
    return [int(i) for i in frame.index], texts


# Compact and strict: a NaN that slipped through raises rather than writing invalid JSON.
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


def _json_column(series: pd.Series) -> list[Any]:
    kind = series.dtype.kind if isinstance(series.dtype, np.dtype) else "O"
    if kind == "b":
        return series.tolist()
    if kind in "iu":
        return series.to_numpy().tolist()
    if kind == "f":
        values = series.to_numpy()
        out = values.tolist()
        if not np.isfinite(values).all():
            out = [v if math.isfinite(v) else None for v in out]
        return out
    return [_json_value(v) for v in series.tolist()]


def _json_value(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, str | bool):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer | int):
        return int(value)
    if isinstance(value, np.floating | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, dt.date):  # datetime and pandas' Timestamp too
        return value.isoformat()
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else pd.Timestamp(value).isoformat()
    return str(value)


# --- writing ------------------------------------------------------------------------------------------------------

_COLUMNS = ("customer_id", '"values"', "cutoff", "known_at", "snapshot_id", "refreshed_at")
_CUSTOMERS = Customer._meta.db_table
_CUSTOMER_PK = Customer._meta.pk.column
_UPDATE = ", ".join(f"{c} = EXCLUDED.{c}" for c in _COLUMNS[1:])
# Only ever forward: a write older than the stored row changes nothing.
_NEWER = f"({_TABLE}.cutoff, {_TABLE}.known_at) <= (EXCLUDED.cutoff, EXCLUDED.known_at)"
_LOAD_TABLE = "online_features_load"
_PG_UPSERT = (
    f"INSERT INTO {_TABLE} ({', '.join(_COLUMNS)}) "
    f"SELECT {', '.join('l.' + c for c in _COLUMNS)} FROM {_LOAD_TABLE} l "
    f"JOIN {_CUSTOMERS} c ON c.{_CUSTOMER_PK} = l.customer_id ORDER BY l.customer_id "
    f"ON CONFLICT (customer_id) DO UPDATE SET {_UPDATE} WHERE {_NEWER}"
)
_PORTABLE_UPSERT = (
    f"INSERT INTO {_TABLE} ({', '.join(_COLUMNS)}) "
    f"SELECT %s, %s, %s, %s, %s, %s WHERE EXISTS (SELECT 1 FROM {_CUSTOMERS} WHERE {_CUSTOMER_PK} = %s) "
    f"ON CONFLICT (customer_id) DO UPDATE SET {_UPDATE} WHERE {_NEWER}"
)


def _rows_write(
    customer_ids: list[int],
    texts: list[str],
    *,
    cutoff: dt.date,
    known_at: dt.datetime,
    snapshot_id: int | None,
    now: dt.datetime,
) -> int:
    """Upsert rows in one transaction, customers that no longer exist skipped;
    return the rows inserted or replaced."""
    if not customer_ids:
        return 0
    rows = sorted(zip(customer_ids, texts, strict=True))
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"CREATE TEMPORARY TABLE {_LOAD_TABLE} (LIKE {_TABLE}) ON COMMIT DROP")
            columns = ", ".join(_COLUMNS)
            with cursor.copy(f"COPY {_LOAD_TABLE} ({columns}) FROM STDIN") as copy:
                for customer_id, text in rows:
                    copy.write_row((customer_id, text, cutoff, known_at, snapshot_id, now))
            cursor.execute(_PG_UPSERT)
            written = cursor.rowcount
            # Dropped now, not only at commit: an enclosing transaction may write another chunk.
            cursor.execute(f"DROP TABLE {_LOAD_TABLE}")
            return written
        ops = connection.ops
        day, known, refreshed = (
            ops.adapt_datefield_value(cutoff),
            ops.adapt_datetimefield_value(known_at),
            ops.adapt_datetimefield_value(now),
        )
        cursor.executemany(
            _PORTABLE_UPSERT,
            [(customer_id, text, day, known, snapshot_id, refreshed, customer_id) for customer_id, text in rows],
        )
        return cursor.rowcount
