#!/usr/bin/env python
"""Segmentation speed on PostgreSQL: fitting the learnt kinds, and a whole build.

Target (issue 4 helper brief): 100,000 customers segmented well under a minute.

    .venv/bin/python bench/segments_bench.py --quick    # 20,000 customers, 1 run, under a minute
    .venv/bin/python bench/segments_bench.py            # 100,000 customers, 3 runs

1. A PostgreSQL database ``crossell_bench_segments`` (on DATABASE_URL's server,
   default postgres://postgres@127.0.0.1:5432) is created from the demo bank
   (``crossell_demo``, built on first use by bench/pg_demo.py, 2,000 customers) and migrated; customers are added up to N.
2. The demo bank's features as of 2026-10-01 are resampled (rows drawn with
   replacement, money and counts jittered) to the N customers and stored as a
   ready ``FeatureSnapshot``.
3. Fit: behavioural (k-means, k from 3 to 8 by silhouette) and value (Gaussian
   mixture, k by BIC) on the standardised inputs, as ``segmentation_fit`` does
   (candidates on a seeded sample of ``SELECTION_SAMPLE``, the winner refitted on
   everyone), without writing anything.
4. Build: ``segmentations_build`` end to end: read the table, fit the four kinds,
   describe the segments, write 4 x N memberships, make them current.

Figures are medians over the runs; the last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from pg_demo import database_drop, demo_bank_copy  # noqa: E402

DATABASE = "crossell_bench_segments"
DEMO_CUTOFF = dt.date(2026, 10, 1)
NOW = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
SEED = 42
TARGET_SECONDS = 60.0


def database_create() -> str:
    return demo_bank_copy(DATABASE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20,000 customers, 1 run (under a minute)")
    parser.add_argument("--customers", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args()
    customers = args.customers or (20_000 if args.quick else 100_000)
    repeats = args.repeats or (1 if args.quick else 3)
    started = time.perf_counter()

    url = database_create()
    model_dir = Path(tempfile.mkdtemp(prefix="crossell-segments-bench-"))
    os.environ.update(DATABASE_URL=url, MODEL_DIR=str(model_dir), DB_CONN_MAX_AGE="0")
    os.environ.setdefault("SECRET_KEY", "bench-only-secret")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    try:
        result = run(customers=customers, repeats=repeats)
    finally:
        from django.db import connections

        connections.close_all()
        shutil.rmtree(model_dir, ignore_errors=True)
        database_drop(url)
    result["seconds_total"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result))


def _setup(customers: int):  # type: ignore[no-untyped-def]
    """N customers and a ready snapshot of their (resampled) features."""
    import numpy as np
    import pandas as pd
    from django.conf import settings
    from django.core.management import call_command

    from customers.models import Customer
    from modeling.feature_catalogue import Kind, feature_get
    from modeling.features import compute_features
    from modeling.models import FeatureSnapshot, SnapshotStatus
    from modeling.snapshots import SNAPSHOT_DIR, file_sha256, frame_fingerprint

    call_command("migrate", verbosity=0)
    rng = np.random.default_rng(SEED)
    # The demo bank was imported after the fact: its history is known from the import on.
    demo = compute_features(cutoff=DEMO_CUTOFF, known_at=dt.datetime.now(dt.UTC))
    template = Customer.objects.order_by("pk").first()
    extra = customers - Customer.objects.count()
    if extra > 0:
        Customer.objects.bulk_create(
            [
                Customer(
                    external_id=f"BENCH{i:08d}",
                    birth_date=template.birth_date,
                    customer_since=template.customer_since,
                    kyc_status=template.kyc_status,
                    received_at=template.received_at,
                )
                for i in range(extra)
            ],
            batch_size=5_000,
        )
    ids = np.array(sorted(Customer.objects.values_list("pk", flat=True))[:customers], dtype="int64")
    frame = demo.iloc[rng.integers(0, len(demo), size=len(ids))].copy()
    frame.index = pd.Index(ids, name="customer_id")
    for column in frame.columns:
        if feature_get(column).kind is Kind.NUMERIC:
            values = frame[column].to_numpy()
            frame[column] = np.where(values != 0, values * (1.0 + 0.05 * rng.standard_normal(len(ids))), values)
    path = Path(settings.MODEL_DIR) / SNAPSHOT_DIR / f"bench-{customers}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, engine="pyarrow", index=True, compression="zstd")
    snapshot = FeatureSnapshot.objects.create(
        cutoff=DEMO_CUTOFF,
        known_at=NOW,
        status=SnapshotStatus.READY,
        path=str(path.relative_to(settings.MODEL_DIR)),
        sha256=file_sha256(path),
        data_fingerprint=frame_fingerprint(frame),
        columns=list(frame.columns),
        customer_count=len(frame),
    )
    return snapshot, frame


def run(*, customers: int, repeats: int) -> dict:
    from threadpoolctl import threadpool_limits

    from modeling import segments
    from modeling.models import Segmentation, SegmentationKind

    t = time.perf_counter()
    snapshot, frame = _setup(customers)
    setup_seconds = time.perf_counter() - t

    fits: dict[str, list[float]] = {"behavioural": [], "value": []}
    chosen: dict[str, int] = {}
    for _ in range(repeats):
        for kind, fit in (("behavioural", segments._fit_kmeans), ("value", segments._fit_gmm)):
            t = time.perf_counter()
            prepared = segments._prepare(frame, segments.INPUTS[kind])
            with threadpool_limits(limits=segments.THREADS):
                result = fit(prepared.x, segments.DEFAULT_K_RANGE, SEED)
            fits[kind].append(time.perf_counter() - t)
            chosen[kind] = result.selection["k"]

    builds, steps = [], []
    for _ in range(repeats):
        Segmentation.objects.all().delete()
        marks: list[float] = []

        def mark(done: int, total: int, message: str, marks: list[float] = marks) -> None:
            marks.append(time.perf_counter())

        t = time.perf_counter()
        built = segments.segmentations_build(
            snapshot=snapshot,
            actor=None,
            now=NOW,
            seed=SEED,
            progress=mark,
        )
        builds.append(time.perf_counter() - t)
        steps.append([b - a for a, b in zip(marks, marks[1:], strict=False)])
    per_kind = {
        kind: round(statistics.median(s[i] for s in steps), 2) for i, kind in enumerate(SegmentationKind.values)
    }
    build = statistics.median(builds)
    return {
        "customers": customers,
        "repeats": repeats,
        "threads": segments.THREADS,
        "selection_sample": segments.SELECTION_SAMPLE,
        "setup_seconds": round(setup_seconds, 1),
        "fit_behavioural_kmeans_s": round(statistics.median(fits["behavioural"]), 2),
        "fit_value_gmm_s": round(statistics.median(fits["value"]), 2),
        "k": chosen,
        "build_s": round(build, 2),
        "build_per_kind_s": per_kind,
        "memberships_written": 4 * customers,
        "build_customers_per_s": round(customers / build),
        "target_s": TARGET_SECONDS,
        "ok": build < TARGET_SECONDS,
        "segments": {s.kind: [seg.size for seg in s.segments.all()] for s in built},
    }


if __name__ == "__main__":
    main()
