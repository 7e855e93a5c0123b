"""TaskRun bookkeeping with tasks run in-process."""

from datetime import timedelta

import pytest
from celery import shared_task
from django.utils import timezone

from core.models import TaskRun, TaskRunState
from core.task_runs import task_run_enqueue, task_run_progress, task_runs_mark_stale

pytestmark = pytest.mark.django_db


@shared_task(bind=True, name="tests.count_to")
def count_to(self, n: int) -> dict[str, int]:
    for i in range(1, n + 1):
        task_run_progress(task_id=self.request.id, done=i, total=n, message=f"{i} of {n}")
    return {"counted": n}


@shared_task(name="tests.explode")
def explode() -> None:
    raise ValueError("the file has no header")


def test_a_task_run_records_progress_and_result(django_capture_on_commit_callbacks, bianca):
    with django_capture_on_commit_callbacks(execute=True):
        run = task_run_enqueue(count_to, kwargs={"n": 3}, label="count", requested_by=bianca)
    run.refresh_from_db()
    assert run.state == TaskRunState.SUCCESS
    assert (run.done, run.total, run.percent) == (3, 3, 100)
    assert run.result == {"counted": 3}
    assert run.message == "3 of 3"
    assert run.started_at
    assert run.finished_at


def test_a_failing_task_run_keeps_the_error():
    # Eager mode re-raises before Celery's failure signal, so run it as a worker would.
    TaskRun.objects.create(task_id="boom", name=explode.name, label="explode")
    explode.apply(task_id="boom", throw=False)
    run = TaskRun.objects.get(label="explode")
    assert run.state == TaskRunState.FAILURE
    assert "ValueError: the file has no header" in run.error


def test_the_task_is_not_sent_before_the_transaction_commits(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = task_run_enqueue(count_to, kwargs={"n": 1}, label="pending")
    run.refresh_from_db()
    assert run.state == TaskRunState.PENDING
    assert len(callbacks) == 1


def test_runs_silent_for_half_an_hour_are_marked_lost():
    now = timezone.now()
    stale = TaskRun.objects.create(task_id="a", name="x", state=TaskRunState.STARTED)
    fresh = TaskRun.objects.create(task_id="b", name="x", state=TaskRunState.STARTED)
    TaskRun.objects.filter(pk=stale.pk).update(updated_at=now - timedelta(minutes=31))
    assert task_runs_mark_stale(now=now) == 1
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert stale.state == TaskRunState.LOST
    assert fresh.state == TaskRunState.STARTED
