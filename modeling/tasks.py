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
def score_customers_task(self: Any, run_id: int, batch_size: int | None = None) -> dict[str, Any]:
    """Step a scoring run for a short while, then re-enqueue itself for the rest.

    Each chunk commits with the run's cursor, so a redelivery (acks_late after a
    killed worker) or a duplicate task resumes at the cursor and writes nothing
    twice. Short tasks (``SCORING_TASK_SECONDS``) keep redelivery cheap. In eager
    mode (no broker) it runs the whole run in one call.
    """
    from core.task_runs import task_run_progress
    from modeling.models import ScoringRun
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
            max_seconds=None if self.request.is_eager else SCORING_TASK_SECONDS,
            progress=progress,
        )
    except ScoringError as exc:
        # The run is marked failed with the reason; retrying would fail the same way.
        return {"ok": False, "run_id": run_id, "error": str(exc)}
    if more:
        # Same queue it came from, so a dedicated scoring queue keeps its work.
        queue = (self.request.delivery_info or {}).get("routing_key")
        self.apply_async(kwargs={"run_id": run_id, "batch_size": batch_size}, queue=queue)
    return {"ok": True, "run_id": run_id, "more": more}


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
