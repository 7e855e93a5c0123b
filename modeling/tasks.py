"""Celery adapters for modeling: ids and plain values in, one service call each."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(bind=True, name="modeling.train_models")
def train_models_task(
    self: Any, requested_by_id: int | None = None, product_codes: list[str] | None = None, force: bool = False
) -> dict[str, Any]:
    """Train a candidate model per product. Beat runs it with no arguments; it
    trains nothing when the training data has not changed since the last run."""
    from django.utils import timezone

    from core.models import User
    from core.task_runs import task_run_progress
    from customers.models import Product
    from modeling.training import models_train

    actor = User.objects.filter(pk=requested_by_id).first() if requested_by_id else None
    products = list(Product.objects.filter(code__in=product_codes)) if product_codes else None
    task_id = self.request.id

    def progress(done: int, total: int, message: str) -> None:
        task_run_progress(task_id=task_id, done=done, total=total, message=message)

    try:
        report = models_train(products=products, actor=actor, now=timezone.now(), force=force, progress=progress)
    except ValueError as exc:
        # Refused input (a cut-off without data after it...): a failed run with the reason, not a retry.
        logger.warning("training refused: %s", exc)
        return {"ok": False, "error": str(exc)}
    return {
        "ok": True,
        "unchanged": report.unchanged,
        "trained": [f"{v.product.code} v{v.version}" for v in report.trained],
        "skipped": report.skipped,
    }


@shared_task(bind=True, name="modeling.score_customers")
def score_customers_task(
    self: Any, run_id: int, batch_size: int | None = None, max_seconds: float | None = None
) -> dict[str, Any]:
    """Step a scoring run for a short while, then re-enqueue itself for the rest.

    Each chunk commits with the run's cursor, so a redelivery (acks_late after a
    killed worker) or a duplicate task resumes at the cursor and writes nothing
    twice. Short tasks (``max_seconds``, default ``SCORING_TASK_SECONDS``) keep
    redelivery cheap. In eager mode (no broker) it runs the whole run in one call.
    """
    from core.task_runs import task_run_progress
    from modeling.models import ScoringRun, ScoringRunStatus
    from modeling.scoring import SCORING_BATCH_SIZE, SCORING_TASK_SECONDS, ScoringError, scoring_run_work

    if not ScoringRun.objects.filter(pk=run_id).exists():
        logger.info("scoring run %s is gone; nothing to do", run_id)
        return {"ok": True, "run_id": run_id, "more": False}
    task_id = self.request.id

    def progress(done: int, total: int) -> None:
        task_run_progress(task_id=task_id, done=done, total=total, message=f"scoring run {run_id}: {done}/{total}")

    try:
        more = scoring_run_work(
            run_id=run_id,
            batch_size=batch_size or SCORING_BATCH_SIZE,
            max_seconds=None if self.request.is_eager else (max_seconds or SCORING_TASK_SECONDS),
            progress=progress,
        )
    except ScoringError as exc:
        # The run is marked failed with the reason; retrying would fail the same way.
        return {"ok": False, "run_id": run_id, "error": str(exc)}
    failed = ScoringRun.objects.filter(pk=run_id, status=ScoringRunStatus.FAILED).values_list("error", flat=True)
    if failed:
        return {"ok": False, "run_id": run_id, "error": failed[0]}
    # Same queue it came from, so a dedicated scoring queue keeps its work.
    queue = (self.request.delivery_info or {}).get("routing_key")
    if more:
        self.apply_async(kwargs={"run_id": run_id, "batch_size": batch_size, "max_seconds": max_seconds}, queue=queue)
    else:
        _online_features_load_after(run_id, queue)
    return {"ok": True, "run_id": run_id, "more": more}


def _online_features_load_after(run_id: int, queue: str | None) -> None:
    """A finished run's snapshot becomes the online feature rows: the table was
    just read for scoring, so the real-time store costs a copy, not a recompute.
    (A duplicate of this task enqueues the load again; the upsert is idempotent.)"""
    from modeling.models import ScoringRun, ScoringRunStatus

    snapshot_id = (
        ScoringRun.objects.filter(pk=run_id, status=ScoringRunStatus.DONE).values_list("snapshot_id", flat=True).first()
    )
    if snapshot_id is not None:
        refresh_online_features_task.apply_async(kwargs={"snapshot_id": snapshot_id}, queue=queue)


@shared_task(name="modeling.scoring_runs_resume")
def scoring_runs_resume_task() -> dict[str, Any]:
    """Sweeper (beat): re-enqueue runs that stopped moving, e.g. after a whole worker
    was killed and the broker holds its task until the visibility timeout."""
    from django.utils import timezone

    from modeling.scoring import scoring_runs_stale

    stale = scoring_runs_stale(now=timezone.now())
    for run_id in stale:
        score_customers_task.delay(run_id=run_id)
    return {"resumed": stale}


@shared_task(bind=True, name="modeling.build_segments")
def segments_build_task(
    self: Any, snapshot_id: int | None = None, requested_by_id: int | None = None
) -> dict[str, Any]:
    """Build a new current version of every segmentation from a feature snapshot
    (default: today's, built if there is no recent one)."""
    from django.utils import timezone

    from core.models import User
    from core.task_runs import task_run_progress
    from modeling.models import FeatureSnapshot
    from modeling.segments import SegmentationError, segmentations_build
    from modeling.snapshots import SnapshotError, bank_today, feature_snapshot_get_or_build

    now = timezone.now()
    actor = User.objects.filter(pk=requested_by_id).first() if requested_by_id else None
    if snapshot_id is None:
        snapshot = feature_snapshot_get_or_build(cutoff=bank_today(now), now=now)
    else:
        snapshot = FeatureSnapshot.objects.filter(pk=snapshot_id).first()
        if snapshot is None:
            logger.info("segments: feature snapshot %s is gone", snapshot_id)
            return {"ok": False, "error": f"no feature snapshot {snapshot_id}"}
    task_id = self.request.id

    def progress(done: int, total: int, message: str) -> None:
        task_run_progress(task_id=task_id, done=done, total=total, message=message)

    try:
        built = segmentations_build(snapshot=snapshot, actor=actor, now=now, progress=progress)
    except (SegmentationError, SnapshotError) as exc:
        logger.warning("segments refused: %s", exc)
        return {"ok": False, "error": str(exc)}
    return {"ok": True, "snapshot_id": snapshot.pk, "segmentations": [f"{s.kind} v{s.version}" for s in built]}


@shared_task(bind=True, name="modeling.start_scoring")
def scoring_start_task(self: Any, requested_by_id: int | None = None) -> dict[str, Any]:
    """Start a batch scoring run with today's feature table (built here if needed,
    which can take a minute on a large bank: too long for a web request), then
    hand the run to ``score_customers_task``."""
    from django.db import transaction
    from django.utils import timezone

    from core.models import User
    from modeling.propensity import MissingFeatureError
    from modeling.scoring import NoActiveModelError, scoring_run_start

    actor = User.objects.filter(pk=requested_by_id).first() if requested_by_id else None
    try:
        run = scoring_run_start(snapshot=None, actor=actor, now=timezone.now())
    except (NoActiveModelError, MissingFeatureError) as exc:
        return {"ok": False, "error": str(exc)}
    transaction.on_commit(lambda: score_customers_task.delay(run_id=run.pk))
    return {"ok": True, "run_id": run.pk, "customers": run.total}


@shared_task(bind=True, name="modeling.refresh_online_features")
def refresh_online_features_task(
    self: Any,
    customer_ids: list[int] | None = None,
    snapshot_id: int | None = None,
    after: int = 0,
    batch_size: int | None = None,
    inbound_event_ids: list[int] | None = None,
) -> dict[str, Any]:
    """Write customers' online feature rows (``modeling.online``).

    - ``customer_ids``: compute those customers' rows now (the event API sends this
      after a batch commits; ``inbound_event_ids`` comes with it and is not needed);
    - ``snapshot_id``: copy a feature snapshot's rows (after a batch scoring run);
    - neither: compute every customer's row.
    The last two walk customers by id after ``after`` for a short while, then
    re-enqueue themselves for the rest. Every write is an upsert that never moves a
    row back in time, so a redelivered or duplicate task changes nothing.
    """
    from django.utils import timezone

    from modeling.models import FeatureSnapshot
    from modeling.online import (
        ONLINE_BATCH_SIZE,
        ONLINE_TASK_SECONDS,
        online_features_load,
        online_features_refresh,
        online_features_refresh_all,
    )
    from modeling.snapshots import SnapshotError

    now = timezone.now()
    size = batch_size or ONLINE_BATCH_SIZE
    if customer_ids is not None:
        written = online_features_refresh(customer_ids=customer_ids, now=now, batch_size=size)
        return {"ok": True, "customers": len(set(customer_ids)), "written": written}
    max_seconds = None if self.request.is_eager else ONLINE_TASK_SECONDS
    if snapshot_id is not None:
        snapshot = FeatureSnapshot.objects.filter(pk=snapshot_id).first()
        if snapshot is None:
            logger.info("online features: feature snapshot %s is gone; nothing to load", snapshot_id)
            return {"ok": False, "error": f"no feature snapshot {snapshot_id}"}
        try:
            progress = online_features_load(
                snapshot=snapshot, now=now, after=after, batch_size=size, max_seconds=max_seconds
            )
        except SnapshotError as exc:
            # A missing or altered table fails the same way on every retry.
            logger.warning("online features: snapshot %s refused: %s", snapshot_id, exc)
            return {"ok": False, "error": str(exc)}
    else:
        progress = online_features_refresh_all(now=now, after=after, batch_size=size, max_seconds=max_seconds)
    if progress.more:
        queue = (self.request.delivery_info or {}).get("routing_key")
        kwargs = {"snapshot_id": snapshot_id, "after": progress.cursor, "batch_size": batch_size}
        self.apply_async(kwargs=kwargs, queue=queue)
    return {"ok": True, "snapshot_id": snapshot_id, "written": progress.written, "more": progress.more}
