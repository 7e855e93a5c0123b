"""Every Celery task run is a ``TaskRun`` row, kept from Celery's own signals.

Bookkeeping only: no business logic hangs off these handlers. Long tasks call
``task_run_progress`` after each chunk so the UI can show a progress bar.
"""

from __future__ import annotations

import logging
import traceback
import uuid
from datetime import timedelta
from typing import Any

from celery import Task
from celery.signals import before_task_publish, task_failure, task_postrun, task_prerun, task_retry
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core.models import TaskRun, TaskRunState, User

logger = logging.getLogger(__name__)

STALE_AFTER = timedelta(minutes=30)


def _short(value: Any, limit: int = 500) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@before_task_publish.connect
def _on_publish(sender: str | None = None, headers: dict[str, Any] | None = None, **_: Any) -> None:
    if not headers or not headers.get("id"):
        return
    TaskRun.objects.get_or_create(task_id=headers["id"], defaults={"name": sender or headers.get("task", "")})


@task_prerun.connect
def _on_prerun(task_id: str | None = None, task: Task | None = None, **_: Any) -> None:
    if not task_id:
        return
    now = timezone.now()
    run, created = TaskRun.objects.get_or_create(
        task_id=task_id,
        defaults={"name": getattr(task, "name", ""), "state": TaskRunState.STARTED, "started_at": now, "attempts": 1},
    )
    if not created:
        TaskRun.objects.filter(pk=run.pk).update(
            state=TaskRunState.STARTED,
            started_at=run.started_at or now,
            finished_at=None,
            attempts=F("attempts") + 1,
            updated_at=now,
        )


@task_postrun.connect
def _on_postrun(task_id: str | None = None, state: str | None = None, retval: Any = None, **_: Any) -> None:
    if not task_id or state not in ("SUCCESS", "FAILURE"):
        return
    fields: dict[str, Any] = {"finished_at": timezone.now(), "updated_at": timezone.now()}
    if state == "SUCCESS":
        # A task that returns {"ok": False, ...} ran to the end but refused its
        # input (an import with invalid rows): shown as failed, not succeeded.
        refused = isinstance(retval, dict) and retval.get("ok") is False
        fields["state"] = TaskRunState.FAILURE if refused else TaskRunState.SUCCESS
        if isinstance(retval, dict):
            fields["result"] = retval
    else:
        fields["state"] = TaskRunState.FAILURE
    TaskRun.objects.filter(task_id=task_id).update(**fields)


@task_failure.connect
def _on_failure(task_id: str | None = None, exception: BaseException | None = None, **_: Any) -> None:
    if not task_id:
        return
    detail = "".join(traceback.format_exception_only(type(exception), exception)) if exception else ""
    TaskRun.objects.filter(task_id=task_id).update(
        state=TaskRunState.FAILURE, error=detail[:5000], finished_at=timezone.now(), updated_at=timezone.now()
    )


@task_retry.connect
def _on_retry(request: Any = None, reason: Any = None, **_: Any) -> None:
    task_id = getattr(request, "id", None)
    if task_id:
        TaskRun.objects.filter(task_id=task_id).update(
            state=TaskRunState.RETRY, message=_short(f"retrying: {reason}"), updated_at=timezone.now()
        )


def task_run_progress(*, task_id: str | None, done: int, total: int | None = None, message: str = "") -> None:
    """Record how far a task has got. Cheap: one UPDATE by unique key."""
    if not task_id:
        return
    fields: dict[str, Any] = {"done": done, "updated_at": timezone.now()}
    if total is not None:
        fields["total"] = total
    if message:
        fields["message"] = _short(message)
    TaskRun.objects.filter(task_id=task_id).update(**fields)


def task_run_enqueue(task: Task, *, kwargs: dict[str, Any], label: str, requested_by: User | None = None) -> TaskRun:
    """Create the run's row now (so the UI can show it at once) and send the task
    once the surrounding transaction commits."""
    task_id = str(uuid.uuid4())
    run = TaskRun.objects.create(task_id=task_id, name=task.name, label=label[:200], requested_by=requested_by)
    transaction.on_commit(lambda: task.apply_async(kwargs=kwargs, task_id=task_id))
    return run


def task_runs_mark_stale(*, now: Any = None) -> int:
    """Mark runs that stopped reporting long ago as lost, so the UI does not show
    them running forever after their worker died."""
    now = now or timezone.now()
    return TaskRun.objects.filter(
        state__in=[TaskRunState.STARTED, TaskRunState.RETRY], updated_at__lt=now - STALE_AFTER
    ).update(state=TaskRunState.LOST, finished_at=now, message="no progress reported for 30 minutes")
