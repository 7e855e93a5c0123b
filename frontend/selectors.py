"""Reads for the operations pages (task runs, audit trail) and the catalogue pages.

They read ``core`` and ``decisioning`` tables; they live here because only the web UI lists them
this way, and each does its own ``select_related`` so a page costs a fixed
number of queries.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import Prefetch, QuerySet

from core.models import AuditEvent, TaskRun
from decisioning.models import BusinessIssue, Offer, OfferGroup, RuleSetVersion

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


def catalogue_issues() -> list[BusinessIssue]:
    """Every business issue with its groups, their offers (with product) and the
    offers' treatments, in four queries whatever the catalogue's size."""
    offers = Offer.objects.select_related("product").prefetch_related("treatments").order_by("code")
    groups = OfferGroup.objects.prefetch_related(Prefetch("offers", queryset=offers)).order_by("name", "code")
    return list(BusinessIssue.objects.prefetch_related(Prefetch("groups", queryset=groups)).order_by("code"))


def rule_set_versions(*, limit: int = 10) -> list[RuleSetVersion]:
    """The latest rule set versions, newest first, with who made and published them."""
    return list(RuleSetVersion.objects.select_related("created_by", "published_by").order_by("-version")[:limit])
