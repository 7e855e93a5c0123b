"""A batch scoring run survives a worker killed mid-run (real Celery workers on
Redis + PostgreSQL; run by .ci/run, or see the command below).

The test starts its own workers on a queue of its own, so it can SIGKILL them
without touching the CI worker: the whole worker (main process and pool child,
as when a node dies), or only the pool process running the task (as the OOM
killer would). A killed pool process's task is requeued at once
(``task_reject_on_worker_lost``); a dead worker's stays unacknowledged
(acks_late) until Redis's visibility timeout, short here instead of the
production hour, hands it to the next worker.

    CROSSELL_TEST_WORKER=1 CELERY_BROKER_URL=redis://127.0.0.1:6379/15 \\
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crossell_h_scoring \\
    .venv/bin/pytest tests/modeling/test_worker_scoring.py -m worker
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings
from django.db import connection
from kombu import Exchange, Queue

from modeling.models import Score, ScoringRun, ScoringRunStatus
from modeling.scoring import scoring_run_start
from modeling.tasks import score_customers_task
from tests.modeling.scoring_setup import NOW, bank_build, caches_clear

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

CUSTOMERS = 300
VISIBILITY_TIMEOUT = 3  # seconds before Redis hands an unacknowledged task to another worker


def _database_url() -> str:
    db = connection.settings_dict
    user = quote(db.get("USER") or "")
    password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{user}{password}@{host}{port}/{db['NAME']}"


def _start_worker(name: str, queue: str, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_VERSION"}
    env.update(
        DATABASE_URL=_database_url(),  # the test database, which this test commits to
        DB_CONN_MAX_AGE="0",
        MODEL_DIR=str(django_settings.MODEL_DIR),
        CELERY_BROKER_URL=django_settings.CELERY_BROKER_URL,
        CELERY_VISIBILITY_TIMEOUT=str(VISIBILITY_TIMEOUT),
        SECRET_KEY=env.get("SECRET_KEY") or "worker-test-secret",
    )
    command = [
        str(Path(sys.executable).with_name("celery")),
        "-A",
        "config",
        "worker",
        "--pool",
        "prefork",
        "--concurrency",
        "1",
        "-Q",
        queue,
        "--hostname",
        f"{name}-{queue}@%h",
        "--without-gossip",
        "--without-mingle",
        "--loglevel",
        "INFO",
    ]
    cwd = Path(__file__).resolve().parents[2]
    # Its own session, so one killpg reaches the main process and its pool child.
    return subprocess.Popen(
        command, env=env, cwd=cwd, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
    )


def _stop(worker: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if worker.poll() is None:
        try:
            os.killpg(worker.pid, sig)
        except ProcessLookupError:
            return
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)


def _pool_children(worker: subprocess.Popen) -> list[int]:
    children = Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split()
    return [int(pid) for pid in children]


@pytest.mark.parametrize("killed", ["whole_worker", "pool_child"])
def test_a_worker_killed_mid_run_loses_and_duplicates_no_score(settings, tmp_path, wait_for, killed):
    if connection.vendor != "postgresql" or not settings.CELERY_BROKER_URL:
        pytest.skip("needs PostgreSQL and a broker (CELERY_BROKER_URL)")
    settings.MODEL_DIR = tmp_path / "models"
    bank = bank_build(n_customers=CUSTOMERS)
    run = scoring_run_start(snapshot=bank.snapshot, actor=None, now=NOW)
    queue = f"scoring-kill-{uuid.uuid4().hex[:8]}"
    workers: list[subprocess.Popen] = []
    try:
        # given a run scored one customer per chunk by a first worker
        workers.append(_start_worker("first", queue, tmp_path / "first.log"))
        score_customers_task.apply_async(kwargs={"run_id": run.pk, "batch_size": 1, "max_seconds": 1.0}, queue=queue)
        wait_for(lambda: ScoringRun.objects.get(pk=run.pk).done >= 3, timeout=90, interval=0.02)

        if killed == "whole_worker":
            # when the worker is killed outright (a node dies), mid-run
            _stop(workers[0], signal.SIGKILL)
            # and another worker starts: the broker hands it the unacknowledged task
            restart = lambda: workers.append(_start_worker("second", queue, tmp_path / "second.log"))  # noqa: E731
        else:
            # when the pool process running the task is killed (the OOM killer), mid-run
            for pid in _pool_children(workers[0]):
                os.kill(pid, signal.SIGKILL)
            # the worker starts another pool process and requeues the task (task_reject_on_worker_lost)
            restart = lambda: None  # noqa: E731
        killed_at = ScoringRun.objects.get(pk=run.pk)
        assert killed_at.status == ScoringRunStatus.RUNNING
        assert 0 < killed_at.done < CUSTOMERS
        restart()
        finished = wait_for(
            lambda: ScoringRun.objects.filter(pk=run.pk, status=ScoringRunStatus.DONE).first(),
            timeout=180,
            interval=0.2,
        )

        # then every customer has exactly one score per product, from the recorded versions
        assert finished.done == CUSTOMERS
        per_key = Counter(Score.objects.filter(run=run).values_list("customer_id", "product_id"))
        assert len(per_key) == CUSTOMERS * len(bank.products)
        assert set(per_key.values()) == {1}
        versions = set(Score.objects.filter(run=run).values_list("model_version_id", flat=True).distinct())
        assert versions == {v.pk for v in bank.versions.values()}
    finally:
        for worker in workers:
            _stop(worker)
        with score_customers_task.app.connection_for_write() as broker:
            # Leave no binding of this test's queue behind in the broker.
            bound = Queue(queue, Exchange(queue), routing_key=queue)(broker.default_channel)
            bound.declare()
            bound.delete()
        caches_clear()
