"""Reads for the operations pages (task runs, audit trail).

They read ``core`` tables; they live here because only the web UI lists them
this way, and each does its own ``select_related`` so a page costs a fixed
number of queries.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet

from core.models import AuditEvent, TaskRun

TASK_RUNS_PER_PAGE = 25
AUDIT_EVENTS_PER_PAGE = 50


def task_run_page(*, page: int | str | None = 1, state: str = "") -> Page:
    runs: QuerySet[TaskRun] = TaskRun.objects.select_related("requested_by").order_by("-created_at", "-id")
    if state:
        runs = runs.filter(state=state)
    return Paginator(runs, TASK_RUNS_PER_PAGE).get_page(page)


def task_run_get(*, task_id: str) -> TaskRun | None:
    return TaskRun.objects.select_related("requested_by").filter(task_id=task_id).first()


def _bank_day_start(day: dt.date) -> dt.datetime:
    """Midnight of ``day`` in the bank's time zone: people filter by the bank's calendar."""
    return dt.datetime.combine(day, dt.time.min, tzinfo=zoneinfo.ZoneInfo(settings.BANK_TIME_ZONE))


def audit_event_page(
    *,
    page: int | str | None = 1,
    actor: str = "",
    action: str = "",
    object_type: str = "",
    object_id: str = "",
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> Page:
    """Audit events, newest first, filtered by actor (username contains), action
    (prefix, so ``user.`` finds every user action), object type and id (exact),
    and bank-calendar dates (both ends included)."""
    events: QuerySet[AuditEvent] = AuditEvent.objects.select_related("actor").order_by("-at", "-id")
    if actor:
        events = events.filter(actor_label__icontains=actor)
    if action:
        events = events.filter(action__startswith=action)
    if object_type:
        events = events.filter(object_type=object_type)
    if object_id:
        events = events.filter(object_id=object_id)
    if since:
        events = events.filter(at__gte=_bank_day_start(since))
    if until:
        events = events.filter(at__lt=_bank_day_start(until + dt.timedelta(days=1)))
    return Paginator(events, AUDIT_EVENTS_PER_PAGE).get_page(page)
