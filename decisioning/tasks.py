"""Celery adapters for decisioning: ids and plain values in, one service call each."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(bind=True, name="decisioning.run_batch")
def run_batch_task(self: Any, run_id: int, max_seconds: float | None = None) -> dict:
    """Work on a batch run for a short while, then re-enqueue itself for the rest.

    Each chunk is claimed, written and marked done in one transaction, so several
    of these tasks share a run (start as many as there are workers to spare), and
    a redelivered or duplicated one writes nothing twice. In eager mode (no
    broker) it runs the whole run in one call.
    """
    from core.task_runs import task_run_progress
    from decisioning.batch import BATCH_TASK_SECONDS, batch_run_fail, batch_run_work
    from decisioning.models import BatchDecisionRun

    if not BatchDecisionRun.objects.filter(pk=run_id).exists():
        return {"ok": True, "run_id": run_id, "more": False}
    task_id = self.request.id

    def progress(done: int, total: int) -> None:
        task_run_progress(task_id=task_id, done=done, total=total, message=f"batch run {run_id}: {done}/{total}")

    try:
        more = batch_run_work(
            run_id=run_id,
            max_seconds=None if self.request.is_eager else (max_seconds or BATCH_TASK_SECONDS),
            progress=progress,
        )
    except Exception as exc:
        if self.request.retries >= 3:
            batch_run_fail(run_id=run_id, error=f"{type(exc).__name__}: {exc}")
            raise
        raise self.retry(exc=exc, countdown=5 * (self.request.retries + 1)) from exc
    if more:
        run_batch_task.delay(run_id, max_seconds)
    return {"ok": True, "run_id": run_id, "more": more}
