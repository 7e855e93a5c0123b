"""Task runs recorded by a real Celery worker (run by .ci/run on Redis + PostgreSQL)."""

import pytest
from django.db import transaction

from core.models import TaskRun, TaskRunState
from core.task_runs import task_run_enqueue
from core.tasks import task_runs_mark_stale_task

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_real_worker_records_the_run_from_queued_to_succeeded(wait_for, bianca):
    # given a task enqueued from a committed transaction
    with transaction.atomic():
        run = task_run_enqueue(task_runs_mark_stale_task, kwargs={}, label="sweep", requested_by=bianca)
    # when the worker picks it up
    finished = wait_for(lambda: TaskRun.objects.filter(pk=run.pk, state=TaskRunState.SUCCESS).first())
    # then the row shows who asked, the timings and the result
    assert finished.requested_by == bianca
    assert finished.attempts == 1
    assert finished.started_at is not None
    assert finished.finished_at >= finished.started_at
    assert finished.result == {"marked_lost": 0}


def test_a_task_enqueued_in_a_rolled_back_transaction_never_runs(wait_for):
    def enqueue_then_fail() -> None:
        with transaction.atomic():
            task_run_enqueue(task_runs_mark_stale_task, kwargs={}, label="never")
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        enqueue_then_fail()
    # A later task still runs, so the worker is alive and the first one was never sent.
    with transaction.atomic():
        later = task_run_enqueue(task_runs_mark_stale_task, kwargs={}, label="later")
    wait_for(lambda: TaskRun.objects.filter(pk=later.pk, state=TaskRunState.SUCCESS).exists())
    assert not TaskRun.objects.filter(label="never").exists()
