"""The import as a Celery task, so the UI and the API can start it and watch its TaskRun."""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from celery import shared_task

logger = logging.getLogger(__name__)

PROGRESS_EVERY_SECONDS = 1.0


class _ProgressWriter:
    """Writes TaskRun progress from a thread of its own on PostgreSQL.

    The import holds one transaction (and, while loading, a COPY) on this
    thread's connection: an update made there would wait for the COPY and stay
    invisible until the commit. A second thread has its own connection in
    autocommit, so the UI sees each update at once. SQLite allows one writer:
    there the update goes through the import's own connection.
    """

    def __init__(self, task_id: str | None) -> None:
        from django.db import connection

        self.task_id = task_id
        self.last = 0.0
        self.pool = ThreadPoolExecutor(max_workers=1) if connection.vendor == "postgresql" else None

    def __call__(self, done: int, total: int | None, message: str) -> None:
        now = time.monotonic()
        if now - self.last < PROGRESS_EVERY_SECONDS:
            return
        self.last = now
        if self.pool is None:
            self._write(done, total, message)
        else:
            self.pool.submit(self._write_and_close, done, total, message)

    def _write(self, done: int, total: int | None, message: str) -> None:
        from core import task_runs

        task_runs.task_run_progress(task_id=self.task_id, done=done, total=total, message=message)

    def _write_and_close(self, done: int, total: int | None, message: str) -> None:
        from django.db import connection

        try:
            self._write(done, total, message)
        except Exception:  # progress is best effort: never fail the import for it
            logger.warning("import task %s: progress not recorded", self.task_id, exc_info=True)
        finally:
            connection.close()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True)


def _uploads_remove(paths: list[str]) -> None:
    """Delete uploaded files once imported or refused: they may hold personal data
    that must not outlive an erasure. Only folders under IMPORT_DIR are touched."""
    import shutil

    from django.conf import settings

    root = Path(settings.IMPORT_DIR).resolve()
    for raw in paths:
        path = Path(raw).resolve()
        if path.parent == root and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)


@shared_task(bind=True, name="customers.import_files")
def import_files_task(self: Any, *, paths: list[str], dry_run: bool = False) -> dict[str, Any]:
    """Run ``import_files`` and report progress on the TaskRun.

    Invalid files are an outcome, not a crash: the errors are returned as the
    run's result (and kept in its error text), never retried."""
    from core import task_runs
    from core.models import TaskRun
    from customers.importing.services import ImportFailed, import_files

    task_id = self.request.id
    run = TaskRun.objects.select_related("requested_by").filter(task_id=task_id).first()
    actor = run.requested_by if run else None
    progress = _ProgressWriter(task_id)
    try:
        report = import_files(paths=[Path(p) for p in paths], dry_run=dry_run, progress=progress, actor=actor)
    except ImportFailed as failed:
        progress.close()
        errors = sum(failed.counts.values())
        logger.info("import task %s: %d error(s)", task_id, errors)
        TaskRun.objects.filter(task_id=task_id).update(error=failed.report()[:5000])
        task_runs.task_run_progress(task_id=task_id, done=0, message=f"refused: {errors} error(s), nothing written")
        return {
            "ok": False,
            "dry_run": dry_run,
            "error_count": errors,
            "errors": [e.as_dict() for e in failed.errors],
        }
    finally:
        progress.close()
        _uploads_remove(paths)
    rows = report.rows_read
    verb = "checked (dry run)" if dry_run else "imported"
    task_runs.task_run_progress(task_id=task_id, done=rows, total=rows, message=f"{rows:,} rows {verb}")
    return {"ok": True, **report.as_dict()}
