#!/usr/bin/env python
"""Campaign speed: decide, queue and deliver an email campaign for 100,000 customers.

Target (issue 6): a campaign for 100,000 customers on PostgreSQL with Redis and two
worker processes decides, queues and delivers through the email adapter (file
backend) in under 5 minutes; decisions/s, deliveries/s, and the trigger latency
from event commit to queued offer (p50, p95) are reported.

    .venv/bin/python bench/campaign_bench.py --quick    # 5,000 customers, under a minute
    .venv/bin/python bench/campaign_bench.py            # 100,000 customers

1. The bank. The demo bank (2,000 customers, bench/pg_demo.py) is made ready to
   decide with the product's own commands, as bin/demo does: demo users, the demo
   catalogue (``demo_catalogue --as bianca``), segments, a model per product
   trained (MODEL_REFIT=true), approved and activated, every customer scored (which
   stores each customer's online feature row). That bank is then scaled up in SQL
   (``pg_demo.clone_sql``) to 100,000 customers (5,000 in quick mode) by cloning
   its customers 49 times (2.5 times): each clone gets new ids, a bank id
   ``<original>-<copy>``, a new public id and an e-mail address of its own, with
   copies of the rows a decision or a delivery reads: contact details, consents,
   accounts and account holders (the products held), contact history (caps and
   fatigue), segment memberships and the online feature row. The scale-up is
   synthetic: a clone has exactly its original's features, products, consents and
   history, so the 100,000 customers hold 2,000 distinct profiles; their
   transactions, balances and interactions are not cloned (decisions read the
   stored feature rows, not the history). Both templates are built once, reused
   afterwards (``crossell_demo_ready``, ``crossell_demo_100k``, ``crossell_demo_5k``);
   the time spent building them is reported apart.
2. The run. The template is copied to ``crossell_bench_campaign``. One Celery
   worker with two processes (``celery -A config worker --concurrency 2``, prefork)
   serves it on Redis (``BENCH_REDIS_URL``, default database 13, emptied first),
   with the email file backend writing into a temporary folder and the default
   DB_CONN_MAX_AGE. From this process, bianca creates and launches a one-off email
   campaign for every customer (the whole catalogue, one offer each, 10 % control
   group) through ``campaigns.services``; its run is shared by two tasks
   (CAMPAIGN_RUN_PARALLEL=2), whose chunks queue deliveries the workers send.
   The figures come from the database: decide phase (the batch run's start to
   finish), delivery phase (first to last ``sent_at``), and the total from the
   launch call to the last message sent.
3. Baselines, same machine, same database, after the campaign: the bare batch
   decision rate of ``manage.py run_batch_decisions --processes 2`` (same channel
   and number of offers, no queueing or delivery), and the raw file-backend send
   rate of Django's mail API for a message of the same size (one process, no
   database). Ratios are reported.
4. Trigger latency: bench/trigger_latency.py's ``trigger_latency(n)`` (its own
   copy of the demo bank, a worker, gunicorn, real events).

Progress lines go to stderr; the last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from http_harness import celery_worker_start, celery_worker_stop, server_env  # noqa: E402
from pg_demo import database_drop, psql, scaled_bank_copy  # noqa: E402

DATABASE = "crossell_bench_campaign"
DEFAULT_REDIS = "redis://127.0.0.1:6379/13"
WORKER_LOG = ROOT / "var" / "bench-campaign-worker.log"
FULL_CUSTOMERS = 100_000
QUICK_CUSTOMERS = 5_000
TARGET_SECONDS = 300.0  # for FULL_CUSTOMERS
CONTROL_PERCENT = "10"
CHANNEL = "email"
MAX_OFFERS = 1
RUN_PARALLEL = 2
WORKER_PROCESSES = 2
CHUNK_GAP_SECONDS = 10.0
SEND_GAP_SECONDS = 2.0
RAW_EMAILS = 500  # messages of the raw file-backend baseline


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


# --- the worker ------------------------------------------------------------------------------------------------------


def _py_spy_start(pid: int, out: str) -> subprocess.Popen:
    """Sample the worker and its processes (py-spy, collapsed stacks in ``out``)."""
    command = [
        str(Path(sys.executable).with_name("py-spy")),
        "record",
        "--subprocesses",
        "--pid",
        str(pid),
        "--rate",
        "50",
        "--format",
        "raw",
        "--output",
        out,
    ]
    spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    return spy


def busy_seconds(stamps: list[float], *, gap: float) -> float:
    """Seconds during which events (sorted times, in seconds) kept coming: the sum of
    the intervals between consecutive events no longer than ``gap``. The workers
    alternate between deciding and sending (each task runs for a while, then queues
    itself behind the others), so a phase's rate is its count over its busy time,
    not over the span from its first event to its last. Each stretch of events also
    gets one median interval, for the making of its first event."""
    ordered = sorted(stamps)
    steps = [b - a for a, b in zip(ordered, ordered[1:], strict=False)]
    kept = [step for step in steps if step <= gap]
    if not ordered:
        return 0.0
    stretches = 1 + len(steps) - len(kept)
    return sum(kept) + stretches * (statistics.median(kept) if kept else 0.0)


# --- the campaign ----------------------------------------------------------------------------------------------------


def _counts(campaign_id: int) -> dict[str, int]:
    from django.db.models import Count

    from campaigns.models import Delivery

    rows = Delivery.objects.filter(campaign_id=campaign_id).values_list("status").annotate(n=Count("id"))
    return {status: n for status, n in rows}


def campaign_run(customers: int, timeout: float) -> dict[str, Any]:
    """Create and launch the campaign as bianca, then wait until it is decided and
    every message has gone one way or another; the figures, from the database."""
    from django.db.models import Max, Min
    from django.utils import timezone

    from campaigns.models import Campaign, CampaignRun, Delivery, DeliveryStatus
    from campaigns.outbox import OPEN
    from campaigns.services import campaign_create, campaign_launch
    from core.models import User
    from decisioning.models import BatchChunk, BatchDecisionRun, Decision

    bianca = User.objects.get(username="bianca")
    campaign = campaign_create(
        code=f"bench-{customers}",
        values={
            "name": f"Campaign bench, {customers:,} customers",
            "channels": [CHANNEL],
            "schedule": "once",
            "max_offers_per_customer": MAX_OFFERS,
            "control_percent": CONTROL_PERCENT,
        },
        actor=bianca,
        now=timezone.now(),
    )
    _log(f"launching campaign {campaign.code} for every customer ({customers:,}), {CONTROL_PERCENT} % control")
    launched = timezone.now()
    t0 = time.monotonic()
    campaign_launch(campaign=campaign, actor=bianca, now=launched)
    launch_seconds = time.monotonic() - t0
    runs = list(CampaignRun.objects.filter(campaign=campaign))
    if not runs:
        raise RuntimeError("the launch started no run")
    batch_ids = [r.batch_run_id for r in runs]
    open_statuses = list(OPEN)
    last_line = 0.0
    finished = False
    while time.monotonic() - t0 < timeout:
        batches = list(BatchDecisionRun.objects.filter(pk__in=batch_ids).values_list("status", "done", "total"))
        decided = all(status in ("done", "failed") for status, _, _ in batches)
        pending = Delivery.objects.filter(campaign=campaign, status__in=open_statuses).exists()
        if time.monotonic() - last_line >= 5 or (decided and not pending):
            last_line = time.monotonic()
            counts = _counts(campaign.pk)
            done = sum(d for _, d, _ in batches)
            total = sum(t for _, _, t in batches)
            _log(
                f"  {time.monotonic() - t0:6.1f} s: decided {done:,}/{total:,}, queued {sum(counts.values()):,}, "
                f"sent {counts.get(DeliveryStatus.SENT, 0):,}, "
                f"open {sum(counts.get(s, 0) for s in open_statuses):,}"
            )
        if decided and not pending:
            finished = True
            break
        time.sleep(0.5)
    waited = time.monotonic() - t0
    batch = BatchDecisionRun.objects.get(pk=batch_ids[0])
    run = CampaignRun.objects.get(pk=runs[0].pk)
    sent = Delivery.objects.filter(campaign=campaign, status=DeliveryStatus.SENT)
    span = sent.aggregate(first=Min("sent_at"), last=Max("sent_at"), queued_first=Min("created_at"))
    last_change = Delivery.objects.filter(campaign=campaign).aggregate(last=Max("updated_at"))["last"]
    counts = _counts(campaign.pk)
    n_sent = counts.get(DeliveryStatus.SENT, 0)
    decide_seconds = (
        (batch.finished_at - batch.started_at).total_seconds() if batch.finished_at and batch.started_at else None
    )
    deliver_seconds = (span["last"] - span["first"]).total_seconds() if span["first"] and span["last"] else None
    end = max(x for x in (span["last"], last_change, batch.finished_at) if x is not None)
    total_seconds = (end - launched).total_seconds()
    decisions = Decision.objects.filter(batch_run_id__in=batch_ids).count()
    chunk_times = [
        at.timestamp() for at in BatchChunk.objects.filter(run_id__in=batch_ids).values_list("finished_at", flat=True)
    ]
    sent_times = [at.timestamp() for at in sent.values_list("sent_at", flat=True)]
    # A chunk of 500 takes about a second per process; a pause in sending is seconds long.
    decide_busy = busy_seconds(chunk_times, gap=CHUNK_GAP_SECONDS)
    deliver_busy = busy_seconds(sent_times, gap=SEND_GAP_SECONDS)
    return {
        "customers": customers,
        "finished": finished,
        "waited_seconds": round(waited, 1),
        "launch_call_seconds": round(launch_seconds, 2),
        "total_seconds": round(total_seconds, 1),
        "decide_seconds": round(decide_seconds, 1) if decide_seconds is not None else None,
        "decide_busy_seconds": round(decide_busy, 1),
        "decisions": decisions,
        "decisions_per_s": round(decisions / decide_busy) if decide_busy else None,
        "decisions_per_s_start_to_finish": round(decisions / decide_seconds) if decide_seconds else None,
        "first_sent_after_launch_seconds": round((span["first"] - launched).total_seconds(), 1)
        if span["first"]
        else None,
        "deliver_seconds": round(deliver_seconds, 1) if deliver_seconds is not None else None,
        "deliver_busy_seconds": round(deliver_busy, 1),
        "deliveries_per_s": round(n_sent / deliver_busy) if deliver_busy else None,
        "deliveries_per_s_first_to_last": round(n_sent / deliver_seconds) if deliver_seconds else None,
        "audience": run.audience,
        "control": run.control,
        "queued": run.queued,
        "deliveries_by_status": counts,
        "sent": n_sent,
        "customers_per_s_end_to_end": round(customers / total_seconds) if total_seconds else None,
        "campaign_status": Campaign.objects.values_list("status", flat=True).get(pk=campaign.pk),
        "run_status": run.status,
    }


# --- baselines -------------------------------------------------------------------------------------------------------


def batch_baseline(env: dict[str, str]) -> dict[str, Any]:
    """The product's batch command alone on the same database: decisions without
    queueing or delivery (two processes, same channel and offers)."""
    command = [
        sys.executable,
        str(ROOT / "manage.py"),
        "run_batch_decisions",
        "--channel",
        CHANNEL,
        "--max-results",
        str(MAX_OFFERS),
        "--processes",
        str(WORKER_PROCESSES),
    ]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        return {"baseline_batch_error": done.stderr.strip()[-1500:]}
    line = done.stdout.strip().splitlines()[-1]
    found = re.search(r"(\d+) customers decided, (\d+) offers proposed in ([\d.]+) s \(([\d,]+) customers/s", line)
    if found is None:
        return {"baseline_batch_error": f"unexpected output: {line}"}
    return {
        "baseline_batch_customers": int(found.group(1)),
        "baseline_batch_seconds": float(found.group(3)),
        "baseline_batch_decisions_per_s": int(found.group(4).replace(",", "")),
    }


def raw_email_baseline(size: int, n: int = RAW_EMAILS) -> dict[str, Any]:
    """Django's file backend alone: ``n`` messages the size of a campaign email, one
    process, no database, one connection (file) per message as a plain ``send()``
    makes; messages/s (median of three rounds)."""
    from django.core.mail import EmailMultiAlternatives
    from django.core.mail.backends.filebased import EmailBackend

    text = "x" * max(size // 3, 100)
    rates = []
    with tempfile.TemporaryDirectory(prefix="crossell-bench-raw-mail-") as folder:
        for round_ in range(3):
            started = time.perf_counter()
            for i in range(n):
                message = EmailMultiAlternatives(
                    subject="An offer for you",
                    body=text,
                    from_email="offers@localhost",
                    to=[f"customer{i}@example.com"],
                    headers={"Message-ID": f"<raw-{round_}-{i}@localhost>"},
                    connection=EmailBackend(file_path=folder),
                )
                message.attach_alternative(f"<p>{text}</p>", "text/html")
                message.send()
            rates.append(n / (time.perf_counter() - started))
    return {"baseline_raw_email_per_s_one_process": round(statistics.median(rates)), "raw_email_bytes": size}


# --- the run ---------------------------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    customers = args.customers or (QUICK_CUSTOMERS if args.quick else FULL_CUSTOMERS)
    events = args.trigger_events if args.trigger_events is not None else (5 if args.quick else 100)
    rate = args.trigger_rate or (2.0 if args.quick else 1.0)
    started = time.perf_counter()
    phases: dict[str, float] = {}
    mark = time.perf_counter()

    def phase(name: str) -> None:
        nonlocal mark
        phases[name] = round(time.perf_counter() - mark, 1)
        mark = time.perf_counter()

    url, model_dir, built = scaled_bank_copy(DATABASE, customers=customers, log=_log)
    phase("template_build_and_copy")
    if built:
        _log(f"templates built in {built:.0f} s (once; not part of the figures)")
    broker = os.environ.get("BENCH_REDIS_URL") or DEFAULT_REDIS
    if shutil.which("redis-cli"):
        subprocess.run(["redis-cli", "-u", broker, "flushdb"], capture_output=True, check=False)
    mail_dir = Path(tempfile.mkdtemp(prefix="crossell-bench-campaign-mail-"))
    env = server_env(
        database_url=url,
        model_dir=model_dir,
        extra={
            "CELERY_BROKER_URL": broker,
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "EMAIL_FILE_PATH": str(mail_dir),
            "CAMPAIGN_RUN_PARALLEL": str(RUN_PARALLEL),
        },
    )
    env.pop("DB_CONN_MAX_AGE", None)  # the product's default
    env.pop("EMAIL_HOST", None)
    result: dict[str, Any] = {"bench": "campaign", "quick": args.quick, "template_build_seconds": round(built, 1)}
    worker: subprocess.Popen | None = None
    try:
        done = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), "migrate", "-v", "0"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode:
            raise RuntimeError(f"migrate failed: {done.stderr.strip()[-2000:]}")
        phase("migrate")
        if args.synchronous_commit:
            # An experiment, not the product's setting: what commits waiting for the
            # WAL flush cost (each delivery's outcome is a commit of its own).
            psql(url, f"ALTER DATABASE {DATABASE} SET synchronous_commit = {args.synchronous_commit}")
            result["synchronous_commit"] = args.synchronous_commit
        os.environ.update(env)
        import django

        sys.path.insert(0, str(ROOT))
        django.setup()
        from django.db import connections

        worker = celery_worker_start(
            env=env, log=WORKER_LOG, hostname="bench-campaign", processes=WORKER_PROCESSES, heartbeat=False
        )
        _log(f"worker: one celery worker, {WORKER_PROCESSES} prefork processes, broker {broker}")
        phase("worker_start")
        result["load_average_at_launch"] = [round(x, 1) for x in os.getloadavg()]
        spy = _py_spy_start(worker.pid, args.py_spy) if args.py_spy else None
        result.update(campaign_run(customers, timeout=args.timeout))
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)
        result["load_average_after_campaign"] = [round(x, 1) for x in os.getloadavg()]
        phase("campaign")
        celery_worker_stop(worker)
        worker = None
        files = sorted(mail_dir.iterdir())
        # The file backend appends the messages of one second and connection to one file.
        result["emails_written"] = sum(f.read_bytes().count(b"\nMessage-ID: ") for f in files)
        # A sender writes a claimed batch over one connection, so one file holds many messages.
        written = sum(f.stat().st_size for f in files)
        result["email_bytes_mean"] = round(written / result["emails_written"]) if result["emails_written"] else None
        shutil.rmtree(mail_dir, ignore_errors=True)
        connections.close_all()

        if not args.no_baseline:
            _log("baseline: run_batch_decisions --processes 2 on the same database")
            result.update(batch_baseline(env))
            _log("baseline: Django's file backend alone")
            result.update(raw_email_baseline(result["email_bytes_mean"] or 4000))
            phase("baselines")
    finally:
        if worker is not None:
            celery_worker_stop(worker)
        shutil.rmtree(mail_dir, ignore_errors=True)
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: BLE001, S110 - django may not be set up yet
            pass
        if not args.keep_db:
            database_drop(url)

    if result.get("decisions_per_s") and result.get("baseline_batch_decisions_per_s"):
        result["ratio_decisions_to_bare_batch"] = round(
            result["decisions_per_s"] / result["baseline_batch_decisions_per_s"], 3
        )
    raw = result.get("baseline_raw_email_per_s_one_process")
    if result.get("deliveries_per_s") and raw:
        result["ratio_deliveries_to_raw_email"] = round(result["deliveries_per_s"] / (WORKER_PROCESSES * raw), 3)

    if events:
        _log(f"trigger latency: {events} events at {rate}/s (bench/trigger_latency.py)")
        from trigger_latency import trigger_latency

        figures = trigger_latency(events, rate=rate)
        result.update({f"trigger_{k}": v for k, v in figures.items()})
        phase("trigger_latency")

    projected = result["total_seconds"] * FULL_CUSTOMERS / customers if result.get("total_seconds") else None
    result.update(
        {
            "target_customers": FULL_CUSTOMERS,
            "target_seconds": TARGET_SECONDS,
            "projected_seconds_for_100k": round(projected, 1) if projected else None,
            "target_met": (result["finished"] and result["total_seconds"] <= TARGET_SECONDS)
            if customers == FULL_CUSTOMERS
            else None,
            "worker": f"one celery worker, --concurrency {WORKER_PROCESSES} (prefork), CAMPAIGN_RUN_PARALLEL=2",
            "cores": os.cpu_count(),
            "load_average_at_end": [round(x, 1) for x in os.getloadavg()],
            "phase_seconds": phases,
            "seconds_wall": round(time.perf_counter() - started, 1),
            "seconds_wall_without_template_build": round(time.perf_counter() - started - built, 1),
        }
    )
    _summary(result)
    return result


def _summary(r: dict[str, Any]) -> None:
    lines = [
        f"campaign for {r['customers']:,} customers: {r.get('total_seconds')} s launch to last message"
        f" (target {TARGET_SECONDS:.0f} s for {FULL_CUSTOMERS:,}; projected {r.get('projected_seconds_for_100k')} s)",
        f"  decide: {r.get('decisions'):,} decisions, run {r.get('decide_seconds')} s start to finish,"
        f" busy {r.get('decide_busy_seconds')} s = {r.get('decisions_per_s')}/s"
        f" (bare batch {r.get('baseline_batch_decisions_per_s')}/s, ratio {r.get('ratio_decisions_to_bare_batch')})",
        f"  deliver: {r.get('sent'):,} sent, {r.get('deliver_seconds')} s first to last,"
        f" busy {r.get('deliver_busy_seconds')} s = {r.get('deliveries_per_s')}/s"
        f" (raw file backend {r.get('baseline_raw_email_per_s_one_process')}/s per process,"
        f" ratio {r.get('ratio_deliveries_to_raw_email')})",
        f"  deliveries by status: {r.get('deliveries_by_status')}",
    ]
    if "trigger_p95_ms" in r:
        lines.append(
            f"  trigger latency: p50 {r['trigger_p50_ms']} ms, p95 {r['trigger_p95_ms']} ms"
            f" ({r['trigger_fired']}/{r['trigger_events']} fired)"
        )
    _log("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_CUSTOMERS:,} customers, 5 trigger events")
    parser.add_argument("--customers", type=int, default=None, help=f"customers (default {FULL_CUSTOMERS:,})")
    parser.add_argument(
        "--trigger-events", type=int, default=None, help="events for the trigger latency (100; 0: none)"
    )
    parser.add_argument("--trigger-rate", type=float, default=None, help="trigger events per second (1; quick 2)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait for the campaign")
    parser.add_argument("--no-baseline", action="store_true", help="skip the baselines")
    parser.add_argument("--py-spy", default="", help="sample the worker with py-spy into this file (collapsed stacks)")
    parser.add_argument(
        "--synchronous-commit",
        choices=["on", "off"],
        default="",
        help="experiment: set PostgreSQL's synchronous_commit on the scratch database (default: the server's)",
    )
    parser.add_argument("--keep-db", action="store_true", help="leave the scratch database for inspection")
    args = parser.parse_args()
    print(json.dumps(run(args)))


if __name__ == "__main__":
    main()
