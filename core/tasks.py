from celery import shared_task

from core.task_runs import task_runs_mark_stale


@shared_task(name="core.task_runs_mark_stale")
def task_runs_mark_stale_task() -> dict[str, int]:
    return {"marked_lost": task_runs_mark_stale()}
