#!/usr/bin/env python
"""Trigger latency: from an event's receipt by the API to the offer queued by a worker.

Target (issue 6): p95 at most 2 s from the event's commit to the queued offer.

    .venv/bin/python bench/trigger_latency.py --quick    # 20 events, about a minute
    .venv/bin/python bench/trigger_latency.py --events 100

1. A PostgreSQL database ``crossell_bench_triggers`` is copied from the demo bank
   (bench/pg_demo.py) and migrated; the demo catalogue is loaded, and an active
   triggered campaign (email, no control group) gets a trigger "a deposit of at
   least 10,000 within 3 days". Every customer's online features are stored, as in
   a running bank (the event follow-up refreshes them; a decision reads them).
2. A Celery worker (two processes) on Redis (``BENCH_REDIS_URL``, default database
   12, emptied first) and gunicorn serve that database, with the product's default
   follow-up tasks after each batch of events.
3. One large deposit per customer is posted to ``/api/v1/events`` at ``--rate``
   batches a second (one event each); each firing records when its event was
   received (before the batch commits, so the figure errs long) and when the offer
   was queued. The figures are those differences, in milliseconds.

``trigger_latency(n)`` returns the figures as a dict for bench/campaign_bench.py;
the last line printed by ``main`` is one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from http_harness import (  # noqa: E402
    api_token_create,
    celery_worker_start,
    celery_worker_stop,
    gunicorn_serving,
    post_json,
    server_env,
)
from loadgen import percentile  # noqa: E402
from pg_demo import database_drop, demo_bank_copy  # noqa: E402

DATABASE = "crossell_bench_triggers"
DEFAULT_REDIS = "redis://127.0.0.1:6379/12"
P95_TARGET_MS = 2000.0
WORKER_LOG = ROOT / "var" / "bench-trigger-worker.log"

# Run inside the product (manage.py shell) against the bench database: the catalogue,
# the campaign and its trigger, and the customers to send deposits for.
_SETUP = """
import json
from django.utils import timezone
from campaigns.models import Campaign, CampaignSchedule, CampaignStatus
from campaigns.triggers import trigger_create
from core.models import Role, User
from customers.models import Account
from decisioning.demo import demo_catalogue_load
from modeling.online import online_features_refresh

now = timezone.now()
owner = User.objects.create_user(username="bench-triggers", password=None, role=Role.BUSINESS)
demo_catalogue_load(actor=owner, now=now)
# A running bank has every customer's online features stored (refreshed on events).
online_features_refresh(customer_ids=None, now=now)
campaign = Campaign.objects.create(
    code="bench-deposit", name="Large deposit", owner=owner, status=CampaignStatus.ACTIVE,
    schedule=CampaignSchedule.TRIGGERED, channels=["email"], control_percent=0, launched_at=now,
)
trigger_create(
    campaign=campaign, code="bench-deposit-10k", name="Deposit of 10,000",
    definition={"kind": "large_deposit", "amount": "10000.00", "days": 3}, cooldown_days=7, actor=owner, now=now,
)
seen, rows = set(), []
for account in Account.objects.filter(status="open").select_related("customer").order_by("id"):
    if account.customer_id in seen or account.currency != (account.customer.income_currency or account.currency):
        continue
    seen.add(account.customer_id)
    rows.append([account.customer.external_id, account.external_id, account.currency])
    if len(rows) >= LIMIT:
        break
print(json.dumps(rows))
"""


def _manage(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if done.returncode:
        raise RuntimeError(f"manage.py {args[0]} failed: {done.stderr.strip()[-2000:]}")
    return done.stdout


def _deposit(n: int, customer_id: str, account_id: str, currency: str) -> bytes:
    at = dt.datetime.now(dt.UTC).isoformat()
    event = {
        "event_id": f"bench-deposit-{n}",
        "type": "transaction",
        "occurred_at": at,
        "customer_id": customer_id,
        "data": {
            "transaction_id": f"BENCHDEP{n:08d}",
            "account_id": account_id,
            "amount": "25000.00",
            "currency": currency,
            "category": "transfer_in",
            "channel": "transfer",
        },
    }
    return json.dumps({"events": [event]}).encode()


def _latencies(url: str) -> list[float]:
    """Each firing's receipt-to-queued time, in firing order (psql on the bench database)."""
    sql = (
        "SELECT extract(epoch FROM queued_at - event_committed_at) * 1000 FROM campaigns_triggerfiring"
        " WHERE queued_at IS NOT NULL ORDER BY id"
    )
    done = subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(done.stderr.strip())
    return [float(line) for line in done.stdout.split()]


def trigger_latency(n: int, *, rate: float = 1.0, keep_database: bool = False) -> dict[str, Any]:
    """Post ``n`` large deposits (one customer each) and measure each event's receipt to
    its queued offer through gunicorn, Redis and a real worker. Figures in ms."""
    broker = os.environ.get("BENCH_REDIS_URL") or DEFAULT_REDIS
    if shutil.which("redis-cli"):
        subprocess.run(["redis-cli", "-u", broker, "flushdb"], capture_output=True, check=False)
    url = demo_bank_copy(DATABASE)
    model_dir = tempfile.mkdtemp(prefix="crossell-bench-triggers-")
    worker: subprocess.Popen | None = None
    try:
        env = server_env(database_url=url, model_dir=model_dir, extra={"CELERY_BROKER_URL": broker})
        env.pop("EVENT_FOLLOW_UP_TASKS", None)  # the product's defaults
        _manage(["migrate", "-v", "0"], env)
        rows = json.loads(_manage(["shell", "-c", _SETUP.replace("LIMIT", str(n + 1))], env).strip().splitlines()[-1])
        if len(rows) < n + 1:
            raise RuntimeError(f"the demo bank has {len(rows)} customers with an open account, {n + 1} needed")
        token = api_token_create(database_url=url, name="bench-core-banking", scopes=["events"], model_dir=model_dir)
        worker = celery_worker_start(env=env, log=WORKER_LOG, hostname="bench-triggers")
        with gunicorn_serving(database_url=url, model_dir=model_dir, extra_env={"CELERY_BROKER_URL": broker}) as server:
            # One event first, not measured: a long-running worker has its caches warm.
            warm = rows.pop()
            post_json(server, "/api/v1/events", _deposit(10**6, *warm), token=token)
            deadline = time.monotonic() + 120
            while not _latencies(url) and time.monotonic() < deadline:
                time.sleep(0.2)
            if not _latencies(url):
                raise RuntimeError(f"the worker fired nothing within 120 s: {WORKER_LOG.read_text()[-2000:]}")
            started = time.monotonic()
            for i, (customer_id, account_id, currency) in enumerate(rows[:n]):
                due = started + i / rate
                time.sleep(max(0.0, due - time.monotonic()))
                status, body = post_json(
                    server, "/api/v1/events", _deposit(i, customer_id, account_id, currency), token=token
                )
                if status != 202:
                    raise RuntimeError(f"event {i}: HTTP {status} {body[:300]!r}")
            deadline = time.monotonic() + 60 + n / rate
            while len(_latencies(url)) < n + 1 and time.monotonic() < deadline:
                time.sleep(0.25)
        measured = _latencies(url)[1:]  # the warm-up fired first
    finally:
        if worker is not None:
            celery_worker_stop(worker)
        if not keep_database:
            database_drop(url)
        shutil.rmtree(model_dir, ignore_errors=True)
    ordered = sorted(measured)
    return {
        "events": n,
        "fired": len(measured),
        "rate_per_s": rate,
        "p50_ms": round(percentile(ordered, 50), 1) if ordered else None,
        "p95_ms": round(percentile(ordered, 95), 1) if ordered else None,
        "max_ms": round(ordered[-1], 1) if ordered else None,
        "p95_target_ms": P95_TARGET_MS,
        "p95_ok": bool(ordered) and len(measured) == n and percentile(ordered, 95) <= P95_TARGET_MS,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20 events (about a minute)")
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--rate", type=float, default=1.0, help="event batches per second")
    parser.add_argument("--keep-database", action="store_true")
    args = parser.parse_args()
    figures = trigger_latency(20 if args.quick else args.events, rate=args.rate, keep_database=args.keep_database)
    print(json.dumps({"bench": "trigger_latency", **figures}))


if __name__ == "__main__":
    main()
