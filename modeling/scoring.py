"""Scoring customers with the active propensity models, in batch and in real time.

Batch: a ``ScoringRun`` scores every customer of one feature snapshot for every
product whose model was active when the run started (the run records those
versions, so a model activated mid-run does not mix into it). The run advances
in chunks of customer ids after ``run.cursor``. A chunk is computed outside any
transaction, then written in one: claim the chunk by compare-and-set on the
cursor, delete whatever rows of that chunk a replay may find, insert the scores
(COPY on PostgreSQL), advance the cursor. A worker killed at any point leaves
the run at its last committed chunk, and two workers stepping the same run never
both write a chunk: the second one's claim fails and it writes nothing.

Real time: ``score_customer`` computes one customer's features with the same
``compute_features`` that built the snapshot, then ``score_features`` scores
every active product with the models loaded once per process
(``registry.active_models``) and explains the best few. Without any active
model the result says scoring is unavailable and the engine decides on rules
alone; it never raises for that. ``score_values`` and ``values_reasons`` score
and explain a stored feature row (``modeling.online``) the same way, from one
vector per input layout and no DataFrame.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from django.db import connection, connections, transaction
from django.db.models import DateTimeField, F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from core.models import User
from core.services import audit_record
from modeling.features import compute_features
from modeling.models import FeatureSnapshot, ModelStatus, ModelVersion, Score, ScoringRun, ScoringRunStatus
from modeling.propensity import ArtifactError, LoadedModel, MissingFeatureError
from modeling.reasons import MAX_REASONS, Reason, reasons_from_contributions
from modeling.registry import active_models, model_version_load
from modeling.snapshots import SnapshotError, bank_today, feature_snapshot_get_or_build, feature_snapshot_load

logger = logging.getLogger(__name__)

# Customers per chunk: one transaction writes SCORING_BATCH_SIZE x products rows.
SCORING_BATCH_SIZE = 2_000
# Batch prediction threads per process (each model predicts on one thread; see
# _chunk_score). Real-time scoring predicts on the calling thread only.
SCORING_PREDICT_THREADS = min(2, os.cpu_count() or 1)
# A worker task steps a run for at most this long, then hands the rest to a fresh
# task: short tasks keep acks_late redelivery cheap and never near a broker timeout.
SCORING_TASK_SECONDS = 20.0
# A run that has not moved for this long is resumed by the sweeper.
SCORING_STALE_AFTER = dt.timedelta(minutes=10)
# Real time scores as of tomorrow's start in bank time: every fact known now,
# today's included (see score_customer).
REALTIME_CUTOFF_DAYS_AHEAD = 1
UNAVAILABLE = "No active propensity model: decisions use rules alone."

__all__ = [
    "MissingFeatureError",
    "NoActiveModelError",
    "ProductScore",
    "RealtimeScores",
    "ScoringError",
    "UnknownCustomerError",
    "latest_scores",
    "product_reasons",
    "score_customer",
    "score_features",
    "score_values",
    "scoring_caches_clear",
    "scoring_run_fail",
    "scoring_run_start",
    "scoring_run_step",
    "scoring_run_work",
    "scoring_runs_stale",
    "values_reasons",
]


class ScoringError(Exception):
    """A scoring run that cannot go on; the message says why."""


class NoActiveModelError(ScoringError):
    """No model is active: there is nothing to score, the engine runs on rules alone."""


class UnknownCustomerError(LookupError):
    """No such customer, or one who joined on or after the cut-off."""


# --- models and feature tables, once per process ------------------------------------------------------------------

_lock = threading.Lock()
_versions: dict[tuple[int, str], LoadedModel] = {}
_MAX_CACHED_VERSIONS = 64


def _version_model(version: ModelVersion) -> LoadedModel:
    key = (version.pk, version.artifact_sha256)
    with _lock:
        model = _versions.get(key)
    if model is None:
        model = model_version_load(version)
        with _lock:
            if len(_versions) >= _MAX_CACHED_VERSIONS:
                _versions.clear()
            _versions[key] = model
    return model


def _run_models(run: ScoringRun) -> dict[int, LoadedModel]:
    """Product id -> model of the versions the run recorded (not whatever is active now)."""
    versions = run.model_versions.order_by("product_id")
    return {version.product_id: _version_model(version) for version in versions}


@dataclass(frozen=True)
class _Table:
    key: tuple[int, str, tuple[str, ...]]
    frame: pd.DataFrame  # the model input columns, rows in customer id order
    ids: np.ndarray  # int64, sorted: frame.index


_table: _Table | None = None


def _model_columns(models: Mapping[int, LoadedModel]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for model in models.values():
        seen.update(dict.fromkeys(model.features))
    return tuple(seen)


def _run_table(snapshot: FeatureSnapshot, columns: tuple[str, ...]) -> _Table:
    """The snapshot's model columns, read (and hash-checked) once per process and run."""
    global _table
    key = (snapshot.pk, snapshot.sha256, columns)
    with _lock:
        if _table is not None and _table.key == key:
            return _table
    present = set(snapshot.columns)
    missing = [c for c in columns if c not in present]
    if missing:
        raise MissingFeatureError(missing, f"run's (snapshot {snapshot.pk})")
    frame = feature_snapshot_load(snapshot, columns=list(columns)).sort_index()
    table = _Table(key=key, frame=frame, ids=frame.index.to_numpy(dtype="int64"))
    with _lock:
        _table = table  # one table at a time: a worker scores one run after another
    return table


def scoring_caches_clear() -> None:
    """Forget the models of past runs and the cached feature table (tests)."""
    global _table
    with _lock:
        _versions.clear()
        _layout_cache.clear()
        _table = None


_Layouts = list[tuple[LoadedModel, list[tuple[int, LoadedModel]]]]
_layout_cache: dict[tuple[tuple[int, int], ...], tuple[Mapping[int, LoadedModel], _Layouts]] = {}


def _layouts(models: Mapping[int, LoadedModel]) -> _Layouts:
    """Models grouped by input layout, so one matrix serves every model of a group
    (models trained together share features and categories). Cached per set of
    model objects: real time asks for it on every call."""
    key = tuple((product_id, id(model)) for product_id, model in models.items())
    cached = _layout_cache.get(key)
    if cached is not None:
        return cached[1]
    groups: dict[object, tuple[LoadedModel, list[tuple[int, LoadedModel]]]] = {}
    for product_id, model in models.items():
        layout = (model.features, tuple(sorted(model.categories.items())))
        groups.setdefault(layout, (model, []))[1].append((product_id, model))
    layouts = list(groups.values())
    if len(_layout_cache) >= 8:
        _layout_cache.clear()
    # The value holds the models themselves, so their ids cannot be reused while cached.
    _layout_cache[key] = (dict(models), layouts)
    return layouts


def model_layouts(models: Mapping[int, LoadedModel]) -> _Layouts:
    """Models grouped by input layout: (a model of the group, [(product id, model)...]).
    For callers that build one matrix per layout themselves (batch decisions)."""
    return _layouts(models)


# --- batch -------------------------------------------------------------------------------------------------------


def scoring_run_start(*, snapshot: FeatureSnapshot | None, actor: User | None, now: dt.datetime) -> ScoringRun:
    """Create a run scoring ``snapshot`` (default: a snapshot as of today, bank
    time, reused if built in the last hours) with the versions active now.

    Refuses (NoActiveModelError) when no model is active, and MissingFeatureError
    when the snapshot lacks a feature an active model needs. The caller enqueues
    ``score_customers_task`` (after commit) to do the work.
    """
    if not ModelVersion.objects.filter(status=ModelStatus.ACTIVE).exists():
        raise NoActiveModelError(f"{UNAVAILABLE} Activate a model before scoring.")
    if snapshot is None:
        # Outside the run's transaction: building a snapshot can take a minute.
        snapshot = feature_snapshot_get_or_build(cutoff=bank_today(now), now=now)
    with transaction.atomic():
        versions = list(ModelVersion.objects.filter(status=ModelStatus.ACTIVE).select_related("product"))
        if not versions:
            raise NoActiveModelError(f"{UNAVAILABLE} Activate a model before scoring.")
        columns = set(snapshot.columns)
        for version in versions:
            missing = [name for name in version.features if name not in columns]
            if missing:
                raise MissingFeatureError(missing, f"{version.product.code} v{version.version}")
        run = ScoringRun.objects.create(snapshot=snapshot, total=snapshot.customer_count, requested_by=actor)
        run.model_versions.set(versions)
        audit_record(
            actor=actor,
            action="scoring_run.start",
            object_type="scoring_run",
            object_id=run.pk,
            after={
                "snapshot": snapshot.pk,
                "cutoff": snapshot.cutoff.isoformat(),
                "model_versions": {v.product.code: v.version for v in versions},
            },
            now=now,
        )
    logger.info("scoring run %s: %d customers x %d products", run.pk, run.total, len(versions))
    return run


@dataclass
class _Chunk:
    run_id: int
    after: int  # the cursor this chunk starts after: the compare-and-set's expected value
    last: int  # the chunk's last customer id: the cursor once it is written
    customer_ids: np.ndarray
    product_ids: list[int] = field(default_factory=list)
    version_ids: list[int] = field(default_factory=list)
    propensity: list[np.ndarray] = field(default_factory=list)  # one array per product, by customer
    raw: list[np.ndarray] = field(default_factory=list)
    more: bool = False


def _chunk_score(run_id: int, cursor: int, table: _Table, models: Mapping[int, LoadedModel], batch_size: int) -> _Chunk:
    """Score the next ``batch_size`` customers after ``cursor`` (no database access)."""
    start = int(np.searchsorted(table.ids, cursor, side="right"))
    ids = table.ids[start : start + batch_size]
    chunk = _Chunk(
        run_id=run_id,
        after=cursor,
        last=int(ids[-1]) if len(ids) else cursor,
        customer_ids=ids,
        more=start + len(ids) < len(table.ids),
    )
    if not len(ids):
        return chunk
    rows = table.frame.iloc[start : start + len(ids)]
    work = []
    for first, group in _layouts(models):
        x = first.matrix(rows)
        work += [(product_id, model, x) for product_id, model in group]
    # One model per thread at a time: LightGBM releases the GIL while it predicts,
    # and each model's scores are the same whichever thread computes them.
    raws = _predict_pool().map(lambda item: item[1].predict_raw(item[2]), work)
    for (product_id, model, _), raw in zip(work, raws, strict=True):
        chunk.product_ids.append(product_id)
        chunk.version_ids.append(_version_id(model))
        chunk.raw.append(raw)
        chunk.propensity.append(model.calibrate(raw))
    return chunk


_pool: ThreadPoolExecutor | None = None


def _predict_pool() -> ThreadPoolExecutor:
    """Threads for batch prediction, started in the process that scores (never
    before a fork)."""
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=SCORING_PREDICT_THREADS, thread_name_prefix="scoring-predict")
        return _pool


def _version_id(model: LoadedModel) -> int:
    if model.model_version_id is None:
        raise ScoringError(f"model of {model.product_code} was loaded without its version id")
    return model.model_version_id


def scoring_run_step(*, run_id: int, batch_size: int = SCORING_BATCH_SIZE, now: dt.datetime | None = None) -> bool:
    """Score the next chunk of a run and commit it; return whether more remain.

    Safe to call from any number of workers at once and to replay: a chunk is
    written only by the step that moves the cursor from where it found it.
    A run that cannot go on (artifact refused, snapshot missing or altered,
    feature missing) is marked failed and ScoringError raised.
    """
    prepared = _run_prepare(run_id, now=now)
    if prepared is None:
        return False
    run, models, table = prepared
    chunk = _chunk_score(run.pk, run.cursor, table, models, batch_size)
    outcome = _chunk_commit(chunk, now=now or timezone.now())
    if not outcome.more:
        _table_forget(table)  # a worker should not hold a finished run's table in memory
    return outcome.more


def _run_prepare(
    run_id: int, *, now: dt.datetime | None = None
) -> tuple[ScoringRun, dict[int, LoadedModel], _Table] | None:
    """The run, its models and its feature table; None if there is nothing to do."""
    run = ScoringRun.objects.select_related("snapshot").filter(pk=run_id).first()
    if run is None:
        logger.info("scoring run %s is gone; nothing to do", run_id)
        return None
    if run.status not in (ScoringRunStatus.PENDING, ScoringRunStatus.RUNNING):
        return None
    try:
        models = _run_models(run)
        if not models:
            raise ScoringError("the run recorded no model version")
        table = _run_table(run.snapshot, _model_columns(models))
    except (ArtifactError, SnapshotError, MissingFeatureError, ScoringError) as exc:
        scoring_run_fail(run_id=run_id, error=str(exc), now=now)
        raise ScoringError(f"scoring run {run_id} failed: {exc}") from exc
    return run, models, table


def _table_forget(table: _Table) -> None:
    global _table
    with _lock:
        if _table is table:
            _table = None


@dataclass(frozen=True)
class _Outcome:
    claimed: bool  # False: another worker had already moved the cursor; nothing was written
    more: bool  # the run has customers left


def _chunk_commit(chunk: _Chunk, *, now: dt.datetime) -> _Outcome:
    """Claim, write and advance in one transaction; a lost claim writes nothing."""
    count = len(chunk.customer_ids)
    fields: dict[str, object] = {
        "cursor": chunk.last,
        "done": F("done") + count,
        "status": ScoringRunStatus.RUNNING if chunk.more else ScoringRunStatus.DONE,
        "started_at": Coalesce(F("started_at"), Value(now, output_field=DateTimeField())),
        "updated_at": now,
    }
    if not chunk.more:
        fields["finished_at"] = now
    live = Q(status__in=[ScoringRunStatus.PENDING, ScoringRunStatus.RUNNING])
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # Do not wait for the WAL flush: a chunk lost to a server crash loses its
            # cursor move with it (same transaction), so the run simply redoes it.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit = off")
        # The compare-and-set takes the run row's lock (PostgreSQL) or the write lock
        # (SQLite) until commit: a concurrent step waits, then finds the cursor moved.
        claimed = ScoringRun.objects.filter(live, pk=chunk.run_id, cursor=chunk.after).update(**fields)
        if claimed != 1:
            logger.info("scoring run %s: chunk after %s already written elsewhere", chunk.run_id, chunk.after)
            return _Outcome(claimed=False, more=ScoringRun.objects.filter(live, pk=chunk.run_id).exists())
        if count:
            _scores_write(chunk)
    return _Outcome(claimed=True, more=chunk.more)


def _scores_write(chunk: _Chunk) -> None:
    # Rows of this chunk can only exist if something wrote them outside a step (a
    # step's own writes commit with the cursor): delete them so the run stays one
    # score per (customer, product) whatever happened before.
    Score.objects.filter(run_id=chunk.run_id, customer_id__gt=chunk.after, customer_id__lte=chunk.last).delete()
    if connection.vendor == "postgresql":
        _scores_copy(chunk)
    else:
        Score.objects.bulk_create(
            [
                Score(
                    run_id=chunk.run_id,
                    customer_id=int(customer_id),
                    product_id=product_id,
                    model_version_id=version_id,
                    propensity=float(propensity[i]),
                    raw_score=float(raw[i]),
                )
                for i, customer_id in enumerate(chunk.customer_ids)
                for product_id, version_id, propensity, raw in zip(
                    chunk.product_ids, chunk.version_ids, chunk.propensity, chunk.raw, strict=True
                )
            ],
            batch_size=1_000,
        )


_COPY_COLUMNS = ("run_id", "customer_id", "product_id", "model_version_id", "propensity", "raw_score")
_BINARY_TYPES = {"bigint": ">i8", "integer": ">i4", "smallint": ">i2", "double precision": ">f8"}
_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
_COPY_TRAILER = b"\xff\xff"


def _copy_dtype() -> np.dtype:
    """The binary COPY tuple of a Score row as a packed numpy record: a field count,
    then each field's byte length and big-endian value."""
    parts: list[tuple[str, str]] = [("count", ">i2")]
    for column in _COPY_COLUMNS:
        db_type = Score._meta.get_field(column.removesuffix("_id")).db_type(connection)
        parts += [(f"{column}_len", ">i4"), (column, _BINARY_TYPES[db_type])]
    return np.dtype(parts)


def _scores_copy(chunk: _Chunk) -> None:
    """Write the chunk with one binary COPY, built by numpy rather than row by row."""
    n_customers, n_products = len(chunk.customer_ids), len(chunk.product_ids)
    dtype = _copy_dtype()
    rows = np.empty(n_customers * n_products, dtype=dtype)
    rows["count"] = len(_COPY_COLUMNS)
    for column in _COPY_COLUMNS:
        rows[f"{column}_len"] = dtype[column].itemsize
    # Customer-major order: a customer's products sit together, as read back.
    rows["run_id"] = chunk.run_id
    rows["customer_id"] = np.repeat(chunk.customer_ids, n_products)
    rows["product_id"] = np.tile(np.asarray(chunk.product_ids, dtype="int64"), n_customers)
    rows["model_version_id"] = np.tile(np.asarray(chunk.version_ids, dtype="int64"), n_customers)
    rows["propensity"] = np.column_stack(chunk.propensity).reshape(-1)
    rows["raw_score"] = np.column_stack(chunk.raw).reshape(-1)
    table = Score._meta.db_table
    sql = f"COPY {table} ({', '.join(_COPY_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
    with connection.cursor() as cursor, cursor.copy(sql) as copy:
        copy.write(_COPY_SIGNATURE + rows.tobytes() + _COPY_TRAILER)


def scoring_run_fail(*, run_id: int, error: str, now: dt.datetime | None = None) -> None:
    """Mark an unfinished run failed, with the reason; a finished one stays done."""
    now = now or timezone.now()
    ScoringRun.objects.filter(pk=run_id).exclude(status=ScoringRunStatus.DONE).update(
        status=ScoringRunStatus.FAILED, error=error[:5000], finished_at=now, updated_at=now
    )
    logger.warning("scoring run %s failed: %s", run_id, error)


def scoring_run_work(
    *,
    run_id: int,
    batch_size: int = SCORING_BATCH_SIZE,
    max_seconds: float | None = SCORING_TASK_SECONDS,
    progress: Callable[[int, int], None] | None = None,
) -> bool:
    """Score a run's chunks until it is finished or ``max_seconds`` have passed
    (checked between chunks); return whether more remain.

    On PostgreSQL outside a transaction, chunks are pipelined: a writer thread
    commits chunk n (COPY, in the database server's process) while this thread
    scores chunk n + 1 (LightGBM releases the GIL). Each commit is still the
    same compare-and-set transaction as ``scoring_run_step``; should one lose its
    claim (another worker is on the run), the rest goes step by step.
    """
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        # (The writer's own connection could not see a transaction open here, and
        # SQLite has one writer at a time anyway.)
        more = _work_pipelined(run_id=run_id, batch_size=batch_size, deadline=deadline, progress=progress)
        if more is not None:
            return more
    while True:
        more = scoring_run_step(run_id=run_id, batch_size=batch_size)
        _progress_report(run_id, progress)
        if not more or _expired(deadline):
            return more


def _expired(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() >= deadline


def _progress_report(run_id: int, progress: Callable[[int, int], None] | None) -> None:
    if progress is not None:
        done, total = ScoringRun.objects.filter(pk=run_id).values_list("done", "total").first() or (0, 0)
        progress(done, total)


def _work_pipelined(
    *, run_id: int, batch_size: int, deadline: float | None, progress: Callable[[int, int], None] | None
) -> bool | None:
    """Whether more remain, or None when a claim was lost (go on step by step)."""
    prepared = _run_prepare(run_id)
    if prepared is None:
        return False
    run, models, table = prepared
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scoring-writer")
    pending: Future[_Outcome] | None = None
    try:
        chunk = _chunk_score(run.pk, run.cursor, table, models, batch_size)
        while True:
            pending = writer.submit(_chunk_commit_now, chunk)
            ahead = None
            if chunk.more and not _expired(deadline):
                ahead = _chunk_score(run.pk, chunk.last, table, models, batch_size)  # while chunk commits
            outcome = pending.result()
            pending = None
            if not outcome.claimed:
                return None
            _progress_report(run_id, progress)
            if ahead is None:
                if not outcome.more:
                    _table_forget(table)
                return outcome.more
            chunk = ahead
    finally:
        if pending is not None:  # this thread failed: let the commit in flight end before leaving
            with contextlib.suppress(Exception):
                pending.result()
        writer.submit(connections.close_all).result()  # the writer thread's own connection
        writer.shutdown()


def _chunk_commit_now(chunk: _Chunk) -> _Outcome:
    return _chunk_commit(chunk, now=timezone.now())


def scoring_runs_stale(*, now: dt.datetime, older_than: dt.timedelta = SCORING_STALE_AFTER) -> list[int]:
    """Unfinished runs that have not moved for ``older_than``: their worker died and
    the broker has not redelivered its task yet (Redis waits for its visibility
    timeout). The sweeper enqueues a task for each; a duplicate is harmless."""
    return list(
        ScoringRun.objects.filter(
            status__in=[ScoringRunStatus.PENDING, ScoringRunStatus.RUNNING], updated_at__lt=now - older_than
        ).values_list("pk", flat=True)
    )


def latest_scores(customer_id: int) -> dict[int, Score]:
    """Product id -> the customer's score in the latest finished run (empty if none)."""
    run = ScoringRun.objects.filter(status=ScoringRunStatus.DONE).order_by("-finished_at", "-pk").first()
    if run is None:
        return {}
    return {score.product_id: score for score in Score.objects.filter(run=run, customer_id=customer_id)}


# --- real time ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProductScore:
    product_id: int
    product_code: str
    model_version_id: int | None
    propensity: float  # calibrated probability of take-up within the horizon
    raw_score: float  # the booster's probability before calibration
    reasons: tuple[Reason, ...] = ()


@dataclass(frozen=True)
class RealtimeScores:
    """Scores of one customer for every product with an active model, best first.

    ``available`` is False when no model is active: ``scores`` is then empty and
    ``message`` says the engine decides on rules alone."""

    available: bool
    scores: tuple[ProductScore, ...] = ()
    message: str = ""
    customer_id: int | None = None
    cutoff: dt.date | None = None

    def by_product(self) -> dict[int, ProductScore]:
        return {score.product_id: score for score in self.scores}


def score_customer(
    *, customer_id: int, now: dt.datetime, cutoff: dt.date | None = None, with_reasons: int = 3
) -> RealtimeScores:
    """Score one customer for every active product, now.

    Features come from ``compute_features`` for this customer alone, the function
    that built the batch snapshot. The cut-off defaults to tomorrow (bank time)
    with facts known at ``now``: everything received so far counts, today's
    events included, and day windows ("last 7 days") end now. Scores a past
    ``cutoff`` with facts known at ``now`` exactly as a snapshot of that cut-off
    built at ``now`` does. Reasons are computed for the best ``with_reasons``
    products only (each costs about 50 predictions).
    """
    models = active_models()
    cutoff = cutoff or bank_today(now) + dt.timedelta(days=REALTIME_CUTOFF_DAYS_AHEAD)
    if not models:
        return RealtimeScores(available=False, message=UNAVAILABLE, customer_id=customer_id, cutoff=cutoff)
    frame = compute_features(cutoff=cutoff, customer_ids=[customer_id], known_at=now)
    if customer_id not in frame.index:
        raise UnknownCustomerError(f"customer {customer_id} does not exist or joined on or after {cutoff}")
    scores = score_features(frame.loc[[customer_id]], models, with_reasons=with_reasons)
    return replace(scores, customer_id=customer_id, cutoff=cutoff)


def score_features(features: pd.DataFrame, models: Mapping[int, LoadedModel], with_reasons: int = 3) -> RealtimeScores:
    """Score one customer's feature row (a one-row frame as ``compute_features``
    returns) with ``models`` (product id -> model), best first, with reasons for
    the best ``with_reasons``. MissingFeatureError names a feature a model needs
    and the row lacks."""
    if len(features) != 1:
        raise ValueError(f"score_features takes one customer's row, got {len(features)}")
    if not models:
        return RealtimeScores(available=False, message=UNAVAILABLE)
    found: list[tuple[float, float, int, LoadedModel, np.ndarray]] = []
    for first, group in _layouts(models):
        x = first.matrix(features)
        for product_id, model in group:
            raw = model.predict_raw(x)
            found.append((float(model.calibrate(raw)[0]), float(raw[0]), product_id, model, x))
    found.sort(key=lambda item: (-item[0], item[2]))
    row = _RowView(features)
    scores = []
    for rank, (propensity, raw, product_id, model, x) in enumerate(found):
        reasons = _reasons(model, x, row) if rank < with_reasons else ()
        scores.append(
            ProductScore(
                product_id=product_id,
                product_code=model.product_code,
                model_version_id=model.model_version_id,
                propensity=propensity,
                raw_score=raw,
                reasons=reasons,
            )
        )
    return RealtimeScores(available=True, scores=tuple(scores))


def product_reasons(features: pd.DataFrame, model: LoadedModel, *, limit: int = MAX_REASONS) -> tuple[Reason, ...]:
    """Reasons for one product's score of one customer: for callers that pick the
    products they return by more than propensity (the decision engine)."""
    return _reasons(model, model.matrix(features), _RowView(features), limit=limit)


def score_values(values: Mapping[str, Any], models: Mapping[int, LoadedModel]) -> list[ProductScore]:
    """Score one customer's stored feature values (name -> value, as
    ``modeling.online`` keeps them) with ``models`` (product id -> model), best
    first, without reasons: the same propensities ``score_features`` gives for the
    same row, from one vector per input layout and no DataFrame. MissingFeatureError
    names a feature a model needs and the values lack."""
    found: list[tuple[float, float, int, LoadedModel]] = []
    for first, group in _layouts(models):
        x = first.vector(values)
        for product_id, model in group:
            raw = model.predict_raw(x)
            found.append((float(model.calibrate(raw)[0]), float(raw[0]), product_id, model))
    found.sort(key=lambda item: (-item[0], item[2]))
    return [
        ProductScore(
            product_id=product_id,
            product_code=model.product_code,
            model_version_id=model.model_version_id,
            propensity=propensity,
            raw_score=raw,
        )
        for propensity, raw, product_id, model in found
    ]


def values_reasons(model: LoadedModel, values: Mapping[str, Any], *, limit: int = MAX_REASONS) -> tuple[Reason, ...]:
    """Reasons for one product's score of one customer's stored feature values: the
    same reasons ``product_reasons`` gives for the same row as a frame."""
    contributions = model.contributions(model.vector(values))[0]
    return reasons_from_contributions(contributions=contributions, features=model.features, row=values, limit=limit)


def _reasons(model: LoadedModel, x: np.ndarray, row: _RowView, *, limit: int = MAX_REASONS) -> tuple[Reason, ...]:
    contributions = model.contributions(x)[0]
    return reasons_from_contributions(contributions=contributions, features=model.features, row=row, limit=limit)


class _RowView(Mapping[str, object]):
    """One row of a one-row frame by column name, read lazily: reasons need only a
    few values, and converting the whole row would cost more than the scores."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self._frame = frame

    def __getitem__(self, name: str) -> object:
        return self._frame.iat[0, self._frame.columns.get_loc(name)]

    def __iter__(self) -> Iterator[str]:
        return iter(self._frame.columns)

    def __len__(self) -> int:
        return len(self._frame.columns)
