"""How fast the demo-bank generator writes a bank.

Target: 20,000 customers (about 10 million transactions) in under a minute.
``--quick`` generates 2,000 customers. The last line printed is one JSON object.

    .venv/bin/python bench/demo_bank_bench.py [--quick] [--repeat N]
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "bench-only")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 customers instead of 20,000")
    parser.add_argument("--customers", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=None)
    args = parser.parse_args()

    import django

    django.setup()
    from customers.demo.generator import DemoBankOptions, demo_bank_generate

    customers = args.customers or (2_000 if args.quick else 20_000)
    repeat = args.repeat or (3 if args.quick else 2)
    seconds: list[float] = []
    rows = transactions = 0
    for run in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            options = DemoBankOptions(customers=customers, seed=7 + run, as_of=dt.date(2026, 11, 1))
            summary = demo_bank_generate(options=options, out_dir=Path(tmp))
        seconds.append(summary.seconds)
        rows, transactions = summary.total_rows, summary.rows["transactions"]
        print(f"run {run + 1}: {customers:,} customers, {rows:,} rows in {summary.seconds:.1f} s", flush=True)
    median = statistics.median(seconds)
    figures = {
        "bench": "demo_bank",
        "customers": customers,
        "rows": rows,
        "transactions": transactions,
        "median_seconds": round(median, 2),
        "rows_per_second": round(rows / median),
        "target_seconds_for_20000": 60,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "runs": [round(s, 2) for s in seconds],
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
