#!/usr/bin/env python
"""Training speed: ``propensity_fit`` against raw ``lightgbm.train`` on the same matrices.

Target (issue 4): training 10 product models on 100,000 customers x 3 cut-offs
takes at most 1.3 times the time of raw ``lightgbm.train`` on the same
matrices, measured in the same run.

    .venv/bin/python bench/train_bench.py --quick     # 5,000 customers, under a minute
    .venv/bin/python bench/train_bench.py             # 100,000 customers x 3 cut-offs

1. A small demo bank (``--bank-customers``, 12 months to 2026-01-01) is generated
   and imported into a fresh SQLite database in a temporary folder, and its
   features are computed at the 3 monthly cut-offs whose 90-day label window the
   data covers, with each product's labels (``modeling.training.cutoff_labels``).
   Not timed.
2. The rows are resampled to ``--customers`` synthetic customers (the same source
   customer at every cut-off, numbers jittered by a few per cent), so the frames
   keep the bank's distributions and its feature-label relationships. The 10
   models: the demo products with take-ups, plus "ANY" (took up any product)
   if fewer than 10 have any.
3. Per model: the eligible rows (not holding the product) as a feature frame and
   as the float matrix ``propensity_fit`` builds. Timed, alternating which goes
   first: (a) ``propensity_fit`` on the frame (encoding, split, training, text
   round trip, calibration, importance); (b) ``lightgbm.Dataset`` +
   ``lightgbm.train`` on the matrix with the same parameters, the same held-out
   rows and the same early stopping, so both train the same number of rounds
   (checked). Each figure is the median over ``--repeats``; totals sum the
   medians of the 10 models.

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AS_OF = dt.date(2026, 1, 1)
MONTHS = 12
HORIZON_DAYS = 90
TARGET_RATIO = 1.3
MODELS = 10
SEED = 42


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def setup_django(folder: Path) -> None:
    os.environ["DATABASE_URL"] = f"sqlite:///{folder / 'bench.sqlite3'}"
    os.environ.setdefault("DEBUG", "1")
    os.environ["MODEL_DIR"] = str(folder / "models")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def load_bank(folder: Path, customers: int) -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    out = folder / "bank"
    call_command(
        "generate_demo_bank",
        customers=customers,
        months=MONTHS,
        seed=SEED,
        out=str(out),
        as_of=AS_OF.isoformat(),
        transactions_per_month=10.0,
        stdout=open(os.devnull, "w"),  # noqa: SIM115
    )
    call_command("import_data", str(out), no_progress=True, stdout=open(os.devnull, "w"))  # noqa: SIM115


def source_rows():
    """(frames per cut-off, labels: code -> (eligible, positive) arrays per cut-off)."""
    import numpy as np
    from django.utils import timezone

    from customers.models import Product
    from modeling.features import compute_features, minus_months
    from modeling.training import cutoff_labels, data_end_date, training_cutoffs

    # Three monthly cut-offs ending at the latest one with a full label window.
    _, last = training_cutoffs(data_end=data_end_date(), horizon_days=HORIZON_DAYS, count=2)
    cutoffs = [minus_months(last, 2), minus_months(last, 1), last]
    now = timezone.now()
    frames, labels = {}, {}
    products = list(Product.objects.order_by("code"))
    for cutoff in cutoffs:
        frame = compute_features(cutoff=cutoff, known_at=now)
        info = cutoff_labels(cutoff=cutoff, horizon_days=HORIZON_DAYS)
        ids = frame.index.to_numpy()
        frames[cutoff] = frame
        for product in products:
            held = np.isin(ids, list(info.held.get(product.pk, ())))
            took = np.isin(ids, list(info.took_up.get(product.pk, ())))
            labels.setdefault(product.code, {})[cutoff] = (~held, took & ~held)
    return cutoffs, frames, labels


def resample(cutoffs, frames, labels, customers: int):
    """One stacked frame of ``customers`` synthetic customers per cut-off, and per model (eligible, label) arrays."""
    import numpy as np
    import pandas as pd

    from modeling.feature_catalogue import Kind, feature_get

    rng = np.random.default_rng(SEED)
    common = sorted(set.intersection(*(set(f.index) for f in frames.values())))
    source = rng.choice(len(common), size=customers, replace=True)
    parts = []
    for cutoff in cutoffs:
        frame = frames[cutoff].loc[np.asarray(common)[source]].copy()
        for column in frame.columns:
            if feature_get(column).kind is Kind.NUMERIC:
                frame[column] = frame[column].to_numpy() * rng.lognormal(0.0, 0.05, customers)
        frame.index = pd.Index(np.arange(customers, dtype=np.int64), name="customer_id")
        parts.append(frame)
    stacked = pd.concat(parts)
    periods = np.repeat(np.array([c.isoformat() for c in cutoffs]), customers)
    positions = {cutoff: frames[cutoff].index.get_indexer(np.asarray(common)[source]) for cutoff in cutoffs}
    models = {}
    for code, per_cutoff in labels.items():
        eligible = np.concatenate([per_cutoff[c][0][positions[c]] for c in cutoffs])
        positive = np.concatenate([per_cutoff[c][1][positions[c]] for c in cutoffs])
        if positive[eligible].sum() >= 50:
            models[code] = (eligible, positive)
    if len(models) < MODELS:
        positive = np.logical_or.reduce([p for _, p in models.values()])
        models["ANY"] = (np.ones(len(stacked), dtype=bool), positive)
    chosen = dict(sorted(models.items(), key=lambda item: -item[1][1].sum())[:MODELS])
    return stacked, periods, chosen


def time_models(stacked, periods, models, repeats: int) -> dict:
    import lightgbm as lgb
    import numpy as np

    from modeling import propensity

    rows = []
    for code, (eligible, positive) in models.items():
        index = np.nonzero(eligible)[0]
        frame = stacked.iloc[index]
        y = positive[index].astype(np.float64)
        p = periods[index]
        fit_seconds, raw_seconds = [], []
        prepared = None
        for repeat in range(repeats):
            order = ("fit", "raw") if repeat % 2 == 0 else ("raw", "fit")
            for which in order:
                if which == "fit":
                    started = time.perf_counter()
                    fitted = propensity.propensity_fit(frame=frame, labels=y, periods=p, product_code=code, seed=SEED)
                    fit_seconds.append(time.perf_counter() - started)
                    continue
                if prepared is None:
                    # The same matrix, split and parameters, prepared once outside the clock.
                    x = fitted.model.matrix(frame)
                    held, _ = propensity._holdout(frame.index.to_numpy(), p, y, SEED)
                    names = list(fitted.model.features)
                    prepared = (
                        x[~held],
                        y[~held],
                        x[held],
                        y[held],
                        names,
                        [names.index(n) for n in fitted.model.categories],
                    )
                    del x
                x_train, y_train, x_held, y_held, names, categorical = prepared
                booster_params, fit = propensity.fit_params(None, SEED)
                started = time.perf_counter()
                train = lgb.Dataset(
                    x_train, y_train, feature_name=names, categorical_feature=categorical, params=booster_params
                )
                if fitted.rounds == "early_stopping":
                    valid = lgb.Dataset(x_held, y_held, reference=train)
                    booster = lgb.train(
                        booster_params,
                        train,
                        num_boost_round=int(fit["num_boost_round"]),
                        valid_sets=[valid],
                        callbacks=[lgb.early_stopping(int(fit["early_stopping_rounds"]), verbose=False)],
                    )
                else:
                    booster = lgb.train(booster_params, train, num_boost_round=int(fit["fixed_rounds"]))
                raw_seconds.append(time.perf_counter() - started)
                best = int(booster.best_iteration or booster.current_iteration())
                if best != fitted.best_iteration:
                    raise SystemExit(
                        f"{code}: raw training stopped at {best}, propensity_fit at {fitted.best_iteration}"
                    )
        del prepared
        row = {
            "model": code,
            "rows": int(len(y)),
            "positives": int(y.sum()),
            "rounds": fitted.best_iteration,
            "rule": fitted.rounds,
            "fit_seconds": round(statistics.median(fit_seconds), 3),
            "raw_seconds": round(statistics.median(raw_seconds), 3),
        }
        rows.append(row)
        print(
            f"  {code:14} {row['rows']:>8,} rows {row['positives']:>7,} pos {row['rounds']:>5} rounds ({row['rule']})"
            f"  fit {row['fit_seconds']:7.2f} s  raw {row['raw_seconds']:7.2f} s",
            flush=True,
        )
    fit_total = sum(r["fit_seconds"] for r in rows)
    raw_total = sum(r["raw_seconds"] for r in rows)
    return {"models": rows, "fit_seconds": round(fit_total, 3), "raw_seconds": round(raw_total, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5,000 customers, 2 repeats: under a minute")
    parser.add_argument("--customers", type=int, help="synthetic customers per cut-off (default 100,000)")
    parser.add_argument("--bank-customers", type=int, default=1000, help="customers of the generated source bank")
    parser.add_argument("--repeats", type=int, help="timed repeats per model (default 3, quick 2)")
    args = parser.parse_args()
    customers = args.customers or (5_000 if args.quick else 100_000)
    repeats = args.repeats or (2 if args.quick else 3)
    with tempfile.TemporaryDirectory(prefix="crossell-train-bench-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        setup_django(folder)
        load_bank(folder, args.bank_customers)
        cutoffs, frames, labels = source_rows()
        stacked, periods, models = resample(cutoffs, frames, labels, customers)
        from django.conf import settings

        threads = settings.MODEL_TRAINING_THREADS
        print(
            f"{customers:,} customers x {len(cutoffs)} cut-offs ({', '.join(c.isoformat() for c in cutoffs)}): "
            f"{len(stacked):,} rows x {stacked.shape[1]} columns, {len(models)} models, {threads} threads; "
            f"prepared in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        result = time_models(stacked, periods, models, repeats)
    ratio = result["fit_seconds"] / result["raw_seconds"]
    print(
        f"propensity_fit {result['fit_seconds']:.2f} s, raw lightgbm.train {result['raw_seconds']:.2f} s: "
        f"ratio {ratio:.3f} (target at most {TARGET_RATIO})"
    )
    summary = {
        "bench": "train",
        "customers": customers,
        "cutoffs": len(cutoffs),
        "rows": int(len(stacked)),
        "models": len(models),
        "threads": threads,
        "repeats": repeats,
        "fit_seconds": result["fit_seconds"],
        "raw_seconds": result["raw_seconds"],
        "ratio": round(ratio, 3),
        "target_ratio": TARGET_RATIO,
        "ok": ratio <= TARGET_RATIO,
        "peak_rss_mb": round(peak_rss_mb()),
        "per_model": result["models"],
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
