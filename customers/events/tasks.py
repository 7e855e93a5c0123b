"""Tasks of the event API. Follow-up tasks are sent by name (settings.EVENT_FOLLOW_UP_TASKS)."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="customers.events_received")
def events_received_task(*, inbound_event_ids: list[int], customer_ids: list[int] | None = None) -> dict[str, Any]:
    """Record what a committed batch brought (the summary lands in the TaskRun's
    result). The simplest follow-up: proof that the hook after commit works."""
    from customers.events.services import inbound_events_summarize

    summary = inbound_events_summarize(inbound_event_ids=inbound_event_ids)
    logger.info(
        "events received: %d stored, %d missing, by type %s, %d customer(s)",
        summary["received"],
        summary["missing"],
        summary["by_type"],
        summary["customers"],
    )
    return summary
