from __future__ import annotations

import pytest

from core.models import TaskRun, TaskRunState
from customers import models
from customers.importing.tasks import import_files_task


@pytest.mark.django_db
def test_the_task_imports_and_reports_progress_on_its_task_run(bank_files):
    TaskRun.objects.create(task_id="t-1", name="customers.import_files")

    result = import_files_task.apply(kwargs={"paths": [str(bank_files)], "dry_run": False}, task_id="t-1").get()

    run = TaskRun.objects.get(task_id="t-1")
    assert result["ok"] is True
    total = sum(f["rows_read"] for f in result["files"])
    assert (run.done, run.total) == (total, total)
    assert run.state == TaskRunState.SUCCESS
    assert models.Transaction.objects.count() == 3


@pytest.mark.django_db
def test_the_task_reports_progress_while_it_runs(bank_files, monkeypatch):
    from customers.importing import tasks

    calls = []
    monkeypatch.setattr(tasks, "PROGRESS_EVERY_SECONDS", 0.0)
    monkeypatch.setattr("core.task_runs.task_run_progress", lambda **kw: calls.append(kw))
    TaskRun.objects.create(task_id="t-2", name="customers.import_files")

    import_files_task.apply(kwargs={"paths": [str(bank_files)]}, task_id="t-2").get()

    assert len(calls) >= len(list(bank_files.iterdir()))
    assert all(c["task_id"] == "t-2" for c in calls)
    dones = [c["done"] for c in calls]
    assert dones == sorted(dones)
