"""Celery adapters for campaigns: ids and plain values in, one service call each.

Every task here is safe to run twice: claims are compare-and-set, chunks are
written once, and a firing or conversion is recorded under a unique key.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

from celery import shared_task
from django.db import OperationalError

logger = logging.getLogger(__name__)


def _worker_name(task: Any) -> str:
    return f"{getattr(task.request, 'hostname', None) or socket.gethostname()}:{os.getpid()}"


@shared_task(
    name="campaigns.evaluate_triggers",
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=1,
    max_retries=3,
)
def evaluate_triggers_task(*, inbound_event_ids: list[int], customer_ids: list[int] | None = None) -> dict[str, int]:
    """Follow-up of a committed event batch: evaluate the triggers for its customers.
    A redelivery or retry is a no-op for what already fired (cooldown, firing record)."""
    from django.utils import timezone

    from campaigns.triggers import triggers_evaluate

    fired = triggers_evaluate(inbound_event_ids=inbound_event_ids, now=timezone.now())
    return {"events": len(inbound_event_ids), "fired": len(fired)}


@shared_task(bind=True, name="campaigns.deliver", ignore_result=True)
def deliver_task(self: Any, rounds: int = 50) -> dict:
    """Send what is due, a claimed batch at a time, then re-enqueue itself while
    batches come back full (a short task, so a lost worker loses little). In eager
    mode (no broker) it drains everything due in one call."""
    from django.utils import timezone

    from campaigns.outbox import DELIVERY_CLAIM_BATCH, deliveries_send_due

    totals: dict[str, int] = {}
    full = False
    for _ in range(max(rounds, 1) if not self.request.is_eager else 1_000_000):
        report = deliveries_send_due(worker=_worker_name(self), clock=timezone.now)
        for key, value in vars(report).items():
            totals[key] = totals.get(key, 0) + value
        full = report.claimed >= DELIVERY_CLAIM_BATCH
        if not full:
            break
    if full and not self.request.is_eager:
        deliver_task.delay(rounds)
    elif totals.get("claimed"):
        from campaigns.outbox import runs_close

        runs_close(now=timezone.now())
    return totals


@shared_task(name="campaigns.sweep_deliveries", ignore_result=True)
def sweep_deliveries_task() -> dict:
    """Periodic: reclaim rows of dead workers, wake a sender for due retries, close runs."""
    from django.utils import timezone

    from campaigns.outbox import deliveries_sweep

    result = deliveries_sweep(now=timezone.now())
    if result["due"]:
        deliver_task.delay()
    return result


@shared_task(bind=True, name="campaigns.run_campaign", ignore_result=True)
def run_campaign_task(self: Any, run_id: int, max_seconds: float | None = None) -> dict:
    """Decide a campaign run's chunks and queue their offers for a short while, then
    re-enqueue itself for the rest (several may share a run)."""
    from campaigns.services import campaign_run_work

    try:
        more = campaign_run_work(
            run_id=run_id, task_id=self.request.id, eager=self.request.is_eager, max_seconds=max_seconds
        )
    except Exception as exc:
        if self.request.retries >= 3:
            from campaigns.services import campaign_run_fail

            campaign_run_fail(run_id=run_id, error=f"{type(exc).__name__}: {exc}")
            raise
        raise self.retry(exc=exc, countdown=5 * (self.request.retries + 1)) from exc
    if more:
        run_campaign_task.delay(run_id, max_seconds)
    return {"run_id": run_id, "more": more}


@shared_task(name="campaigns.run_due_campaigns", ignore_result=True)
def run_due_campaigns_task() -> dict:
    """Periodic: start the runs of campaigns whose next run is due."""
    from django.utils import timezone

    from campaigns.services import campaigns_run_due

    return {"started": campaigns_run_due(now=timezone.now())}


@shared_task(name="campaigns.attribute_conversions", ignore_result=True)
def attribute_conversions_task(since: str | None = None) -> dict:
    """Periodic: match newly opened accounts to the offers that preceded them. Safe
    to overlap or repeat: a conversion is unique per decision and offer."""
    import datetime as dt

    from django.utils import timezone

    from campaigns.outcomes import conversions_attribute

    start = dt.datetime.fromisoformat(since) if since else None
    return {"new": conversions_attribute(now=timezone.now(), since=start)}
