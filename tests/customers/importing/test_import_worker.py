"""An import started as a task runs on a real Celery worker (run by .ci/run)."""

import pytest
from django.db import transaction

from core.models import TaskRun, TaskRunState
from core.task_runs import task_run_enqueue
from customers.importing.tasks import import_files_task
from customers.models import Customer, Transaction
from tests.customers.importing.conftest import write

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_real_worker_imports_the_files_and_reports_progress(bank_files, wait_for, bianca):
    # given the small bank enqueued as an import task from a committed transaction
    with transaction.atomic():
        run = task_run_enqueue(
            import_files_task,
            kwargs={"paths": [str(bank_files)], "dry_run": False},
            label="import",
            requested_by=bianca,
        )
    # when the worker has run it
    finished = wait_for(lambda: TaskRun.objects.filter(pk=run.pk).exclude(state__in=["pending", "started"]).first())
    # then the rows are stored and the run shows the whole file count done
    assert finished.state == TaskRunState.SUCCESS, finished.error
    assert Customer.objects.exists()
    assert Transaction.objects.exists()
    assert finished.total is not None
    assert finished.done == finished.total


def test_a_worker_import_of_a_bad_file_is_refused_naming_the_place_and_writes_nothing(tmp_path, wait_for):
    folder = tmp_path / "bad"
    write(
        folder,
        "customers.csv",
        "customer_id,birth_date,customer_since,kyc_status,sanctions_status\nC1,not-a-date,2020-01-01,verified,clear\n",
    )
    with transaction.atomic():
        run = task_run_enqueue(import_files_task, kwargs={"paths": [str(folder)], "dry_run": False}, label="bad")
    finished = wait_for(lambda: TaskRun.objects.filter(pk=run.pk).exclude(state__in=["pending", "started"]).first())
    assert finished.state == TaskRunState.FAILURE
    assert finished.result["ok"] is False
    [error] = finished.result["errors"]
    assert (error["file"], error["line"], error["column"]) == ("customers.csv", 2, "birth_date")
    assert "customers.csv, line 2, column birth_date" in finished.error
    assert not Customer.objects.exists()
