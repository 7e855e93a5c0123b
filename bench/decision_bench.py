#!/usr/bin/env python
"""Decision speed: in process, over HTTP against gunicorn and PostgreSQL, and in batch.

Targets (issue 5):
- in process, one customer across 10 offers with features in hand and models
  loaded: p99 at most 2 ms without reasons, 6 ms with reasons for 3 returned offers;
- over HTTP (gunicorn, 2 sync workers, PostgreSQL, features read and the decision
  record committed per request, reasons for 3 returned offers), open-loop load on
  loopback: at least 300 decisions/s, and p99 at most 30 ms at 150 requests/s;
  the same server's bare authenticated endpoint (``GET /api/v1/whoami``) is
  measured the same way and the ratio reported;
- batch: at least 1,000 customers/s end to end for 10 offers on one channel.

    .venv/bin/python bench/decision_bench.py --quick    # short runs, about a minute
    .venv/bin/python bench/decision_bench.py            # 60 s runs, 3 batch runs

1. A PostgreSQL database ``crossell_bench_decisions`` (on DATABASE_URL's server,
   default postgres://postgres@127.0.0.1:5432) is copied from the demo bank
   (``crossell_demo``, 2,000 customers, built on first use by bench/pg_demo.py)
   and migrated.
2. The demo catalogue (10 offers, one per product, treatments, the demo rules and
   contact policies) is loaded as a business user: ``manage.py demo_catalogue``
   when that command exists, else ``decisioning.demo.demo_catalogue_load``. The
   contact caps are raised to their maximum (1,000) so that the thousands of
   decisions of a run keep returning 3 offers each: the caps are still read and
   counted on every decision, they just never bind.
3. Ten models, one per product, as bench/scoring_bench.py trains them (production
   parameters, ``--trees`` fixed rounds, synthetic labels) on the demo bank's
   features, registered active; every customer's online feature row is stored.
4. In process (a child process in its own session, at raised priority when
   allowed, as bench/scoring_bench.py explains): each customer's facts are read
   once, then ``decision_inputs`` + ``scores_of`` + ``decide`` are timed per call,
   without reasons and with the model's reasons for the returned offers. The whole
   ``decision_make`` (reads, decision record and contact history committed) plus
   ``decision_response`` is timed too.
5. HTTP: gunicorn (bench/http_harness.py) with a token of scope ``decisions``;
   the load generator (bench/loadgen.py, open loop, latency from the scheduled
   send time) drives ``GET /api/v1/whoami`` and then ``POST /api/v1/decisions``
   (a different customer each request, channel web, 3 results): p50/p99 at
   150 requests/s (in full mode three 60 s runs, quoting the run of median p99
   and listing all three), then the highest rate sustained (achieved >= 97 % of offered,
   no error), found by stepping the rate up by x1.25 and bisecting between the
   last passing and the first failing step (once in quick mode, twice in full
   mode); in full mode that rate is confirmed by a 60 s run. The load generator shares the machine with the server.
6. Batch: the product's ``run_batch_decisions`` command over every customer on the
   email channel (1 result each, the headline, then 3), reasons and decision
   records included, with one worker process and with two (chunks claimed with
   SKIP LOCKED; quick mode: two only). In full mode the bank's customers are first
   cloned to 20,000 (``pg_demo.bank_scale``: same features, holdings, consents and
   contact history), so that the figure is the job's pace, not its start-up; quick
   mode decides the 2,000 as they are.

Parts whose code is missing (the decision engine, the batch service) are reported
as not available; the bare endpoint's figures are measured regardless.
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from http_harness import api_token_create, get_json, gunicorn_serving, post_json  # noqa: E402
from loadgen import LoadResult, Request, find_max_rate, percentile, run_open_loop  # noqa: E402
from pg_demo import bank_scale, database_drop, demo_bank_copy  # noqa: E402

DATABASE = "crossell_bench_decisions"
DEMO_CUTOFF = dt.date(2026, 10, 1)
SEED = 42
DEFAULT_TREES = 300  # as bench/scoring_bench.py: production's fixed rounds
REALTIME_NICE = -20
CHANNEL = "web"
BATCH_CHANNEL = "email"
MAX_RESULTS = 3
CONTEXT = {"page": "accounts-overview"}
CAP_LIMIT = 1000  # ContactPolicy.limit's maximum
RATE_AT = 150.0  # requests/s of the latency target

TARGET_P99_MS = 2.0
TARGET_P99_REASONS_MS = 6.0
TARGET_HTTP_RPS = 300.0
TARGET_HTTP_P99_MS = 30.0
TARGET_BATCH_PER_S = 1_000.0


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs (about a minute in all)")
    parser.add_argument("--duration", type=float, default=None, help="seconds of each run at 150/s (60; quick 5)")
    parser.add_argument("--step-seconds", type=float, default=None, help="seconds per max-rate step (10; quick 2)")
    parser.add_argument("--connections", type=int, default=32, help="load generator connections")
    parser.add_argument("--calls", type=int, default=None, help="in-process calls per measurement (5,000; quick 1,000)")
    parser.add_argument("--trees", type=int, default=DEFAULT_TREES, help="trees per model")
    parser.add_argument("--batch-repeats", type=int, default=None, help="batch runs (3; quick 1)")
    parser.add_argument("--batch-max-results", type=int, default=MAX_RESULTS)
    parser.add_argument(
        "--batch-customers",
        type=int,
        default=None,
        help="customers in the batch runs, the demo bank's cloned up to this (20,000; quick: the 2,000 as they are)",
    )
    parser.add_argument("--keep-db", action="store_true", help="leave the scratch database for inspection")
    args = parser.parse_args()
    quick = args.quick
    settings = {
        "duration": args.duration or (5.0 if quick else 60.0),
        "step": args.step_seconds or (2.0 if quick else 10.0),
        "confirm": not quick,
        "latency_runs": 1 if quick else 3,
        # Steps of x1.25 leave the highest rate known to within 25%; full mode bisects
        # twice between the last passing and the first failing step (within about 6%).
        "refine": 1 if quick else 2,
        "connections": args.connections,
        "calls": args.calls or (1_000 if quick else 5_000),
        "make_calls": 200 if quick else 1_000,
        "batch_repeats": args.batch_repeats or (1 if quick else 3),
        "batch_max_results": args.batch_max_results,
        "batch_customers": args.batch_customers if args.batch_customers is not None else (0 if quick else 20_000),
    }
    started = time.perf_counter()

    url = demo_bank_copy(DATABASE)
    model_dir = Path(tempfile.mkdtemp(prefix="crossell-decision-bench-"))
    os.environ.update(DATABASE_URL=url, MODEL_DIR=str(model_dir), DB_CONN_MAX_AGE="0")
    os.environ.setdefault("SECRET_KEY", "bench-only-secret")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    try:
        result = run(url=url, model_dir=model_dir, quick=quick, trees=args.trees, settings=settings)
    finally:
        from django.db import connections

        connections.close_all()
        shutil.rmtree(model_dir, ignore_errors=True)
        if not args.keep_db:
            database_drop(url)
    result["seconds_total"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result))


# --- setup -----------------------------------------------------------------------------------------------------------


def _engine() -> tuple[bool, str]:
    """Whether the decision engine imports, and why not."""
    try:
        from decisioning.decisions import decision_make  # noqa: F401
        from decisioning.engine import decide  # noqa: F401
        from decisioning.inputs import customer_facts, decision_inputs  # noqa: F401
    except Exception as exc:  # any import failure means: not there yet
        return False, f"not available: {type(exc).__name__}: {exc}"
    return True, "available"


def _catalogue(actor: Any, now: dt.datetime) -> str:
    """Load the demo catalogue; say how, or why not."""
    from django.core.management import call_command, get_commands

    how = ""
    failures = []
    if "demo_catalogue" in get_commands():
        try:
            call_command("demo_catalogue", "--as", actor.username, verbosity=0, stdout=io.StringIO())
            how = "manage.py demo_catalogue"
        except (Exception, SystemExit) as exc:  # other arguments than expected: try the service
            failures.append(f"manage.py demo_catalogue: {type(exc).__name__}: {exc}")
    if not how:
        try:
            from decisioning.demo import demo_catalogue_load

            demo_catalogue_load(actor=actor, now=now)
            how = "decisioning.demo.demo_catalogue_load"
        except Exception as exc:  # a missing or broken loader leaves only the bare endpoint to measure
            failures.append(f"demo_catalogue_load: {type(exc).__name__}: {exc}")
            return "not loaded: " + "; ".join(failures)
    from decisioning.models import ContactPolicy, ContactPolicyKind, Offer

    # Caps are read and counted per decision, but never bind over the run (module docstring).
    raised = ContactPolicy.objects.filter(
        kind__in=[ContactPolicyKind.CHANNEL_CAP, ContactPolicyKind.GLOBAL_CAP], active=True
    ).update(limit=CAP_LIMIT, updated_at=now)
    return f"{how}: {Offer.objects.filter(active=True).count()} offers, {raised} caps raised to {CAP_LIMIT}"


def _models(trees: int, now: dt.datetime) -> tuple[int, list[int]]:
    """Ten active models trained as bench/scoring_bench.py does; (models, trees per model)."""
    import numpy as np
    from django.conf import settings
    from scoring_bench import _labels

    from customers.models import Product
    from modeling.features import compute_features
    from modeling.models import ModelStatus, ModelVersion
    from modeling.propensity import FORMAT_VERSION, artifact_name, model_save, propensity_fit
    from modeling.snapshots import frame_fingerprint

    rng = np.random.default_rng(SEED)
    frame = compute_features(cutoff=DEMO_CUTOFF, known_at=now)
    fingerprint = frame_fingerprint(frame)
    sizes = []
    for product in Product.objects.order_by("code")[:10]:
        fitted = propensity_fit(
            frame=frame,
            labels=_labels(frame, product, rng),
            periods=np.zeros(len(frame)),
            product_code=product.code,
            seed=SEED,
            params={"early_stopping_rounds": 0, "fixed_rounds": trees, "num_threads": 1},
        )
        sizes.append(fitted.model.booster.num_trees())
        directory = Path(settings.MODEL_DIR) / "models" / product.code / artifact_name(1)
        saved, sha = model_save(fitted=fitted, directory=directory, manifest_extra={})
        ModelVersion.objects.filter(product=product, status=ModelStatus.ACTIVE).update(status=ModelStatus.RETIRED)
        ModelVersion.objects.create(
            product=product,
            version=ModelVersion.objects.filter(product=product).count() + 1,
            status=ModelStatus.ACTIVE,
            artifact_path=str(saved.relative_to(settings.MODEL_DIR)),
            artifact_sha256=sha,
            format_version=FORMAT_VERSION,
            data_fingerprint=fingerprint,
            features=list(fitted.model.features),
            seed=SEED,
        )
    return len(sizes), sizes


def _online_features(now: dt.datetime) -> str:
    try:
        from modeling.online import online_features_refresh
    except ImportError as exc:
        return f"not stored: {exc}"
    written = online_features_refresh(customer_ids=None, now=now)
    return f"{written} rows"


def setup(trees: int) -> dict[str, Any]:
    from django.core.management import call_command
    from django.utils import timezone

    from core.models import Role, User

    timings: dict[str, float] = {}
    info: dict[str, Any] = {}
    t = time.perf_counter()
    call_command("migrate", verbosity=0)
    timings["migrate"] = time.perf_counter() - t
    now = timezone.now()
    actor = User.objects.create_user(username="bench-business", password=None, role=Role.BUSINESS)
    t = time.perf_counter()
    info["catalogue"] = _catalogue(actor, now)
    timings["catalogue"] = time.perf_counter() - t
    t = time.perf_counter()
    info["models"], info["trees_per_model"] = _models(trees, now)
    timings["train"] = time.perf_counter() - t
    t = time.perf_counter()
    info["online_features"] = _online_features(now)
    timings["online_features"] = time.perf_counter() - t
    info["setup_seconds"] = {k: round(v, 1) for k, v in timings.items()}
    return info


# --- in process ------------------------------------------------------------------------------------------------------


def inprocess_child(calls: int, make_calls: int) -> dict[str, Any]:
    """Time one decision with the facts in hand, without and with reasons, then the
    whole ``decision_make``. Runs in its own session at raised priority when allowed
    (see bench/scoring_bench.py ``realtime_measure``)."""
    import gc

    import numpy as np
    from django.utils import timezone

    priority = "normal"
    try:
        Path("/proc/self/autogroup").write_text(str(REALTIME_NICE))
        os.setpriority(os.PRIO_PROCESS, 0, REALTIME_NICE)
        priority = f"nice {REALTIME_NICE}, own autogroup"
    except OSError:
        pass
    from customers.models import Customer
    from decisioning import decisions
    from decisioning.decisions import decision_make, decision_response, models_current, scores_of
    from decisioning.engine import decide
    from decisioning.inputs import acceptance_rates, catalogue_current, customer_facts, decision_inputs
    from decisioning.models import DecisionKind
    from modeling.scoring import values_reasons

    now = timezone.now()
    catalogue = catalogue_current()
    rates = acceptance_rates()
    models = models_current()
    rng = np.random.default_rng(SEED + 1)
    customers = list(Customer.objects.order_by("pk"))
    picked = [customers[i] for i in rng.permutation(len(customers))[: min(1_000, len(customers))]]
    facts = customer_facts(picked, now=now, lookback_days=catalogue.lookback_days)
    rows = [f for f in facts.values() if f.features]

    def reasons_for(values: dict, scores: dict):  # type: ignore[no-untyped-def]  # noqa: ANN202
        # The production path when it is there, else the same computation from public parts.
        if hasattr(decisions, "_model_reasons"):
            return decisions._model_reasons(values, models, scores)
        return lambda code: (
            [r.text for r in values_reasons(models.by_code[code], values)]
            if code in models.by_code and code in scores
            else []
        )

    def one(i: int, with_reasons: bool) -> dict:
        f = rows[i % len(rows)]
        inputs = decision_inputs(
            f,
            catalogue,
            channel=CHANNEL,
            context=CONTEXT,
            max_results=MAX_RESULTS,
            now=now,
            rates=rates,
            model_features=models.features,
        )
        scores = scores_of(f.features, models) if inputs["may_score"] and models.by_id else {}
        reasons = reasons_for(f.features, scores) if with_reasons else None
        return decide(inputs, scores, catalogue.compiled, model_reasons=reasons)

    def timed(calls_by_label: dict, n: int) -> dict[str, tuple[list[float], list[float], list[Any]]]:
        """Time each labelled call ``n`` times, interleaved (their order alternating),
        so a burst of noise from the machine falls on both alike."""
        labels = list(calls_by_label)
        for i in range(min(50, n)):  # warm up
            for label in labels:
                calls_by_label[label](i)
        found: dict[str, tuple[list[float], list[float], list[Any]]] = {label: ([], [], []) for label in labels}
        gc.collect()
        gc.disable()
        try:
            for i in range(n):
                for label in labels if i % 2 == 0 else labels[::-1]:
                    wall, cpu, outs = found[label]
                    t, c = time.perf_counter(), time.thread_time()
                    result = calls_by_label[label](i)
                    cpu.append((time.thread_time() - c) * 1000)
                    wall.append((time.perf_counter() - t) * 1000)
                    outs.append(result)
        finally:
            gc.enable()
        return found

    out: dict[str, Any] = {"inprocess_priority": priority, "inprocess_customers": len(rows)}
    measured = timed({"inprocess": lambda i: one(i, False), "inprocess_reasons": lambda i: one(i, True)}, calls)
    for label, (wall, cpu, results) in measured.items():
        out[f"{label}_p50_ms"] = round(percentile(wall, 50), 3)
        out[f"{label}_p99_ms"] = round(percentile(wall, 99), 3)
        out[f"{label}_cpu_p99_ms"] = round(percentile(cpu, 99), 3)
        out[f"{label}_offers_mean"] = round(statistics.fmean(len(r["offers"]) for r in results), 2)
        # The target's case: decisions that return 3 offers (each with its reasons).
        full = [w for w, r in zip(wall, results, strict=True) if len(r["offers"]) == MAX_RESULTS]
        out[f"{label}_p99_ms_3_offers"] = round(percentile(full, 99), 3) if full else None
    results = measured["inprocess_reasons"][2]
    out["inprocess_share_3_offers"] = round(statistics.fmean(len(r["offers"]) == MAX_RESULTS for r in results), 3)
    out["inprocess_reasons_per_offer_mean"] = round(
        statistics.fmean([len(o["reasons"]) for r in results for o in r["offers"]] or [0]), 2
    )
    out["inprocess_share_rules_only"] = round(statistics.fmean(r["rules_only"] for r in results), 3)

    ids = [f.customer.external_id for f in rows]

    def make(i: int) -> dict:
        outcome = decision_make(
            customer_id=ids[i % len(ids)],
            channel=CHANNEL,
            context=CONTEXT,
            max_results=MAX_RESULTS,
            kind=DecisionKind.REALTIME,
            requested_by="bench",
            now=timezone.now(),
        )
        return decision_response(outcome)

    wall, _cpu, bodies = timed({"make": make}, make_calls)["make"]
    out["decision_make_calls"] = make_calls
    out["decision_make_p50_ms"] = round(percentile(wall, 50), 3)
    out["decision_make_p99_ms"] = round(percentile(wall, 99), 3)
    out["decision_make_offers_mean"] = round(statistics.fmean([len(b["offers"]) for b in bodies]), 2)
    return out


def inprocess_measure(calls: int, make_calls: int) -> dict[str, Any]:
    child = subprocess.run(
        [sys.executable, __file__, "--inprocess-child", str(calls), str(make_calls)],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        start_new_session=True,
        check=False,
    )
    if child.returncode:
        return {"inprocess_error": child.stderr.strip()[-1500:]}
    return json.loads(child.stdout.strip().splitlines()[-1])


# --- HTTP ------------------------------------------------------------------------------------------------------------


def _steps_compact(found: dict) -> list[list]:
    return [[s["offered_rate"], s["achieved_rate"], s["p99_ms"], s["errors"]] for s in found["steps"]]


def _open_loop(
    port: int, rate: float, duration: float, make_request: Callable[[int], Request], settings: dict
) -> LoadResult:
    return run_open_loop(
        host="127.0.0.1",
        port=port,
        rate=rate,
        duration=duration,
        make_request=make_request,
        connections=settings["connections"],
    )


def _load_figures(
    *, name: str, port: int, make_request: Callable[[int], Request], single_ms: float, settings: dict
) -> dict[str, Any]:
    """p50/p99 at 150/s, then the highest rate sustained (confirmed in full mode)."""
    out: dict[str, Any] = {}
    # A second of light load first, so no worker meets the measured load cold.
    _open_loop(port, min(RATE_AT, 500.0 / max(single_ms, 1.0)), 1.0, make_request, settings)
    # The machine is shared and its disk's flushes stall now and then (a COMMIT of
    # 20 to 80 ms in PostgreSQL's log): one stall in a 60 s run moves its p99. Full
    # mode runs the decisions' latency measurement (the target) three times and
    # quotes the run of median p99.
    repeats = settings["latency_runs"] if name == "http_decision" else 1
    runs = []
    for k in range(repeats):
        _log(f"{name}: {RATE_AT:.0f}/s for {settings['duration']:.0f} s (run {k + 1} of {repeats})")
        at = _open_loop(port, RATE_AT, settings["duration"], make_request, settings).summary()
        _log(f"  p50 {at['p50_ms']} ms, p99 {at['p99_ms']} ms, errors {at['errors']}, statuses {at['statuses']}")
        runs.append(at)
    median = sorted(runs, key=lambda run: run["p99_ms"] if run["p99_ms"] is not None else math.inf)[len(runs) // 2]
    figures = {k: median[k] for k in ("achieved_rate", "p50_ms", "p90_ms", "p99_ms", "max_ms")}
    figures["errors"] = sum(run["errors"] for run in runs)  # every run's, not only the median one's
    figures["client_cpu_share"] = median["client_cpu_share"]
    figures["p99_ms_runs"] = [run["p99_ms"] for run in runs]
    out[f"{name}_at_150"] = figures
    time.sleep(0.5)
    # Two sync workers: about 2 / (one request's time) at best; start the search below that.
    start = max(10.0, min(2_000.0, 0.6 * 2 * 1000.0 / max(single_ms, 0.1)))
    _log(f"{name}: highest sustained rate, {settings['step']:.0f} s steps from {start:.0f}/s")
    found = find_max_rate(
        host="127.0.0.1",
        port=port,
        make_request=make_request,
        start_rate=start,
        step_duration=settings["step"],
        factor=1.25,
        refine=settings["refine"],
        connections=settings["connections"],
        log=_log,
    )
    out[f"{name}_max_rps"] = found["max_rate"]
    out[f"{name}_max_p99_ms"] = found["p99_ms"]
    out[f"{name}_max_steps"] = _steps_compact(found)
    if settings["confirm"] and found["max_rate"]:
        rate = found["max_rate"]
        for _ in range(2):
            _log(f"{name}: confirming {rate:.0f}/s for {settings['duration']:.0f} s")
            confirm = _open_loop(port, rate, settings["duration"], make_request, settings)
            summary = confirm.summary()
            _log(f"  achieved {summary['achieved_rate']}/s, p99 {summary['p99_ms']} ms, errors {summary['errors']}")
            if confirm.errors == 0 and confirm.achieved_rate >= 0.97 * rate:
                out[f"{name}_max_rps_confirmed"] = summary["achieved_rate"]
                out[f"{name}_max_confirm_p99_ms"] = summary["p99_ms"]
                break
            rate /= 1.1
            time.sleep(1.0)
        else:
            out[f"{name}_max_rps_confirmed"] = None
    return out


def _single_ms(send: Callable[[int], object], n: int = 20) -> float:
    """Median time of ``n`` requests one after another (also warms every worker)."""
    times = []
    for i in range(n):
        t = time.perf_counter()
        send(i)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def http_measure(*, url: str, model_dir: Path, engine_ok: bool, settings: dict) -> dict[str, Any]:
    from customers.models import Customer

    token = api_token_create(database_url=url, name="bench-load", scopes=["decisions"], model_dir=model_dir)
    auth = ("Authorization", f"Bearer {token}")
    out: dict[str, Any] = {}
    with gunicorn_serving(database_url=url, model_dir=model_dir) as server:
        out["http_server"] = f"gunicorn config.wsgi, {server.workers} sync workers, 127.0.0.1"
        status, body = get_json(server, "/api/v1/whoami", token=token)
        if status != 200:
            raise RuntimeError(f"whoami answered {status}: {body[:300]!r}")
        bare = Request(path="/api/v1/whoami", headers=(auth,))
        single = _single_ms(lambda i: get_json(server, "/api/v1/whoami", token=token), n=50)
        out["http_bare_single_ms"] = round(single, 2)
        out.update(
            _load_figures(
                name="http_bare", port=server.port, make_request=lambda i: bare, single_ms=single, settings=settings
            )
        )

        if not engine_ok:
            out["http_decision"] = "decision engine not available"
            return out
        ids = list(Customer.objects.order_by("pk").values_list("external_id", flat=True))
        random.Random(SEED).shuffle(ids)
        bodies = [
            json.dumps(
                {"customer_id": cid, "channel": CHANNEL, "context": CONTEXT, "max_results": MAX_RESULTS},
                separators=(",", ":"),
            ).encode()
            for cid in ids
        ]
        status, body = post_json(server, "/api/v1/decisions", bodies[0], token=token)
        if status != 201:
            out["http_decision"] = f"decision API not available: {status} {body[:300]!r}"
            return out

        def probe(i: int) -> dict:
            status, body = post_json(server, "/api/v1/decisions", bodies[i % len(bodies)], token=token)
            if status != 201:
                raise RuntimeError(f"decision answered {status}: {body[:300]!r}")
            return json.loads(body)

        answers: list[dict] = []
        # Each worker loads its models on its first decision: warm both before timing.
        single = _single_ms(lambda i: answers.append(probe(i)), n=40)
        out["http_decision_single_ms"] = round(single, 2)
        out["http_decision_offers_mean"] = round(statistics.fmean(len(a["offers"]) for a in answers), 2)
        out["http_decision_reasons_per_offer_mean"] = round(
            statistics.fmean([len(o["reasons"]) for a in answers for o in a["offers"]] or [0]), 2
        )
        headers = (auth, ("Content-Type", "application/json"))
        requests = [Request(method="POST", path="/api/v1/decisions", body=b, headers=headers) for b in bodies]
        out.update(
            _load_figures(
                name="http_decision",
                port=server.port,
                make_request=lambda i: requests[i % len(requests)],
                single_ms=single,
                settings=settings,
            )
        )
        # Did the decisions still return 3 offers at the end of the load (caps)?
        late = [probe(i) for i in range(20)]
        out["http_decision_offers_mean_after"] = round(statistics.fmean(len(a["offers"]) for a in late), 2)
        bare_max = out.get("http_bare_max_rps_confirmed") or out.get("http_bare_max_rps")
        dec_max = out.get("http_decision_max_rps_confirmed") or out.get("http_decision_max_rps")
        if bare_max and dec_max:
            out["http_ratio_decision_to_bare"] = round(dec_max / bare_max, 3)
    return out


# --- batch -----------------------------------------------------------------------------------------------------------


BATCH_PROCESSES = 2  # one per core: chunks are claimed with SKIP LOCKED
BATCH_CHUNK = 250


def _batch_command(max_results: int, processes: int) -> tuple[float, int, float]:
    """One run of the product's command, in its own process (models are loaded after
    its workers fork, as in production); (customers/s, customers, seconds) as it
    reports them, from the run's start to its last chunk."""
    env = {**os.environ}
    command = [
        sys.executable,
        str(ROOT / "manage.py"),
        "run_batch_decisions",
        "--channel",
        BATCH_CHANNEL,
        "--max-results",
        str(max_results),
        "--processes",
        str(processes),
        "--batch-size",
        str(BATCH_CHUNK),
    ]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    line = done.stdout.strip().splitlines()[-1]
    import re

    found = re.search(r"(\d+) customers decided, \d+ offers proposed in ([\d.]+) s \(([\d,]+) customers/s", line)
    if found is None:
        raise RuntimeError(f"unexpected output: {line}")
    return float(found.group(3).replace(",", "")), int(found.group(1)), float(found.group(2))


def batch_measure(repeats: int, max_results: int, *, quick: bool = False) -> dict[str, Any]:
    try:
        from decisioning.batch import batch_run_start  # noqa: F401
    except Exception as exc:  # not written yet
        return {"batch": f"batch service not available: {type(exc).__name__}: {exc}"}
    from django.db import connections

    from decisioning.models import Decision

    connections.close_all()
    out: dict[str, Any] = {"batch_channel": BATCH_CHANNEL, "batch_max_results": max_results}
    # The headline figure: the typical batch (one next best offer per customer), two workers.
    for results in sorted({1, max_results}):
        # Quick: the headline's two processes only; one process is for comparison.
        for processes in (BATCH_PROCESSES,) if quick else (1, BATCH_PROCESSES):
            rates, seconds = [], []
            total = 0
            for _ in range(repeats):
                rate, total, elapsed = _batch_command(results, processes)
                rates.append(rate)
                seconds.append(elapsed)
            key = f"batch_customers_per_s_{results}_offers_{processes}_processes"
            out[key] = round(statistics.median(rates))
            out[f"batch_seconds_{results}_offers_{processes}_processes"] = [round(s, 2) for s in seconds]
            out["batch_customers"] = total
    out["batch_customers_per_s"] = out[f"batch_customers_per_s_1_offers_{BATCH_PROCESSES}_processes"]
    out["batch_processes"] = BATCH_PROCESSES
    last = (
        Decision.objects.filter(batch_run__isnull=False)
        .order_by("-batch_run_id")
        .values_list("batch_run_id", flat=True)[:1]
    )
    counts = [len(o) for o in Decision.objects.filter(batch_run__in=last).values_list("offers", flat=True)]
    out["batch_offers_mean"] = round(statistics.fmean(counts), 2) if counts else 0.0
    return out


# --- the run ---------------------------------------------------------------------------------------------------------


def run(*, url: str, model_dir: Path, quick: bool, trees: int, settings: dict) -> dict[str, Any]:
    engine_ok, engine_state = _engine()
    _log(f"decision engine: {engine_state}")
    info = setup(trees)
    _log(f"setup: {info}")
    from django.db import connections

    connections.close_all()  # the child and the server open their own
    result: dict[str, Any] = {"bench": "decision", "quick": quick, "decision_engine": engine_state, **info}
    catalogue_ok = engine_ok and not info["catalogue"].startswith("not loaded")

    if catalogue_ok:
        _log("in process: decide() per call, then decision_make()")
        result.update(inprocess_measure(settings["calls"], settings["make_calls"]))
    else:
        result["inprocess"] = "decision engine not available" if not engine_ok else "no catalogue"
    result.update(http_measure(url=url, model_dir=model_dir, engine_ok=catalogue_ok, settings=settings))
    if catalogue_ok:
        _log("batch: every customer")
        if bank_scale(url, settings["batch_customers"], log=_log):
            result["batch_bank"] = f"the demo bank's customers cloned to {settings['batch_customers']:,}"
        result.update(batch_measure(settings["batch_repeats"], settings["batch_max_results"], quick=quick))
    else:
        result["batch"] = "decision engine not available" if not engine_ok else "no catalogue"

    result.update(
        {
            "target_inprocess_p99_ms": TARGET_P99_MS,
            "target_inprocess_reasons_p99_ms": TARGET_P99_REASONS_MS,
            "target_http_rps": TARGET_HTTP_RPS,
            "target_http_p99_ms_at_150": TARGET_HTTP_P99_MS,
            "target_batch_customers_per_s": TARGET_BATCH_PER_S,
            "load_generator": f"open loop, {settings['connections']} connections, same machine",
            "run_seconds": settings["duration"],
            "step_seconds": settings["step"],
            "load_average": [round(x, 1) for x in os.getloadavg()],
            "cores": os.cpu_count(),
        }
    )
    result["ok"] = _verdict(result)
    _summary(result)
    return result


def _verdict(r: dict[str, Any]) -> bool | None:
    """All targets met; None when a part could not be measured."""
    decision_max = r.get("http_decision_max_rps_confirmed") or r.get("http_decision_max_rps")
    needed = [
        r.get("inprocess_p99_ms"),
        r.get("inprocess_reasons_p99_ms"),
        decision_max,
        (r.get("http_decision_at_150") or {}).get("p99_ms"),
        r.get("batch_customers_per_s"),
    ]
    if any(v is None for v in needed):
        return None
    return (
        r["inprocess_p99_ms"] <= TARGET_P99_MS
        and r["inprocess_reasons_p99_ms"] <= TARGET_P99_REASONS_MS
        and decision_max >= TARGET_HTTP_RPS
        and r["http_decision_at_150"]["p99_ms"] <= TARGET_HTTP_P99_MS
        and r["http_decision_at_150"]["errors"] == 0
        and r["batch_customers_per_s"] >= TARGET_BATCH_PER_S
    )


def _summary(r: dict[str, Any]) -> None:
    lines = [f"decision engine: {r['decision_engine']}"]
    if "inprocess_p99_ms" in r:
        lines.append(
            f"in process: p50 {r['inprocess_p50_ms']} ms, p99 {r['inprocess_p99_ms']} ms (target {TARGET_P99_MS});"
            f" with reasons: p50 {r['inprocess_reasons_p50_ms']} ms, p99 {r['inprocess_reasons_p99_ms']} ms"
            f" (target {TARGET_P99_REASONS_MS}); {r['inprocess_reasons_offers_mean']} offers per decision;"
            f" decision_make p99 {r['decision_make_p99_ms']} ms"
        )
    for name, label in (("http_bare", "bare whoami"), ("http_decision", "decisions")):
        if f"{name}_max_rps" in r:
            at = r[f"{name}_at_150"]
            confirmed = r.get(f"{name}_max_rps_confirmed")
            lines.append(
                f"HTTP {label}: at 150/s p50 {at['p50_ms']} ms, p99 {at['p99_ms']} ms"
                + (f" (runs: {at['p99_ms_runs']})" if len(at.get("p99_ms_runs", ())) > 1 else "")
                + f", errors {at['errors']}; "
                f"max {r[f'{name}_max_rps']}/s" + (f" (confirmed {confirmed}/s)" if confirmed is not None else "")
            )
    if "http_ratio_decision_to_bare" in r:
        lines.append(f"decisions / bare: {r['http_ratio_decision_to_bare']}")
    if "batch_customers_per_s" in r:
        lines.append(f"batch: {r['batch_customers_per_s']} customers/s (target {TARGET_BATCH_PER_S:.0f})")
    _log("\n".join(lines))


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[1] == "--inprocess-child":
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        print(json.dumps(inprocess_child(int(sys.argv[2]), int(sys.argv[3]))))
    else:
        main()
