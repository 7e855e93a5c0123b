#!/usr/bin/env python
"""Feature-table speed on PostgreSQL: ``feature_snapshot_build`` (compute_features
plus the Parquet write) for a whole bank at one cut-off.

Target (issue 4): 100,000 customers with 12 months at about 30 transactions per
customer and month (36 million transactions) in under 2 minutes on 2 cores, and
at most about 2-3 GB of peak RSS.

    .venv/bin/python bench/feature_bench.py --quick          # 5,000 customers, under a minute
    .venv/bin/python bench/feature_bench.py                  # 100,000 customers (loading takes a while)
    .venv/bin/python bench/feature_bench.py --keep           # reuse the bank a previous run loaded

1. A PostgreSQL database per size (``crossell_bench_features_<customers>`` on
   DATABASE_URL's server, default postgres://postgres@127.0.0.1:5432) is dropped,
   created and migrated, and a demo bank of 12 months is generated and loaded (not
   timed): transactions by COPY, the other files by the importer. A marker table
   written after the load lets ``--keep`` reuse it.
2. A fresh child process builds the snapshot ``--repeats`` times; the figure is the
   median, and the child's peak RSS is the memory figure.

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432/postgres"
AS_OF = dt.date(2026, 1, 1)  # the cut-off: the first day after the 12 months of history
MONTHS = 12
# The generator lands slightly under its nominal rate: 30.6 gives about 30 a month.
TRANSACTIONS_PER_MONTH = 30.6
SEED = 42
TARGET_SECONDS = 120.0
TARGET_RSS_MB = 3072
MARKER = "bench_feature_bank"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _database_url(customers: int) -> str:
    server = os.environ.get("DATABASE_URL") or DEFAULT_SERVER
    if not server.startswith("postgres"):
        server = DEFAULT_SERVER
    return urlparse(server)._replace(path=f"/crossell_bench_features_{customers}").geturl()


def _admin_connect(url: str):  # noqa: ANN202 - psycopg connection
    import psycopg

    return psycopg.connect(urlparse(url)._replace(path="/postgres").geturl(), autocommit=True)


def _loaded(url: str, customers: int) -> dict[str, int] | None:
    """The counts a finished load recorded, if this database holds that bank."""
    import psycopg

    name = urlparse(url).path.lstrip("/")
    with _admin_connect(url) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return None
    with psycopg.connect(url) as conn:
        if not conn.execute("SELECT to_regclass(%s)", [MARKER]).fetchone()[0]:
            return None
        row = conn.execute(f"SELECT customers, transactions, months, seed FROM {MARKER}").fetchone()
    if row is None or (row[0], row[2], row[3]) != (customers, MONTHS, SEED):
        return None
    return {"customers": row[0], "transactions": row[1]}


def _recreate(url: str) -> None:
    name = urlparse(url).path.lstrip("/")
    with _admin_connect(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


# --- children (one Django process each) --------------------------------------------------------
def _setup() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django

    django.setup()


def child_load(customers: int) -> dict[str, object]:
    """Migrate, generate and load the bank, analyse it, then write the marker."""
    _setup()
    from django.core.management import call_command
    from django.db import connection

    from customers.demo.generator import DemoBankOptions, demo_bank_generate
    from customers.importing.services import import_files

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    with tempfile.TemporaryDirectory(prefix="crossell-feature-bench-") as tmp:
        options = DemoBankOptions(
            customers=customers,
            seed=SEED,
            as_of=AS_OF,
            months=MONTHS,
            transactions_per_month=TRANSACTIONS_PER_MONTH,
        )
        folder = Path(tmp) / "bank"
        summary = demo_bank_generate(options=options, out_dir=folder)
        generated = time.perf_counter()
        print(f"generated {summary.total_rows:,} rows in {generated - started:.0f} s", file=sys.stderr, flush=True)
        transactions_csv = (folder / "transactions.csv").rename(Path(tmp) / "transactions.csv")
        import_files(paths=[folder])
        imported = time.perf_counter()
        print(f"imported the rest in {imported - generated:.0f} s", file=sys.stderr, flush=True)
        _copy_transactions(transactions_csv)
    print(f"copied transactions in {time.perf_counter() - imported:.0f} s", file=sys.stderr, flush=True)
    connection.close()
    with connection.cursor() as cursor:  # autocommit: VACUUM cannot run in a transaction
        cursor.execute("VACUUM (ANALYZE)")
        cursor.execute("SELECT COUNT(*) FROM customers_transaction")
        transactions = cursor.fetchone()[0]
        cursor.execute(f"CREATE TABLE {MARKER} (customers integer, transactions bigint, months integer, seed integer)")
        cursor.execute(f"INSERT INTO {MARKER} VALUES (%s, %s, %s, %s)", [customers, transactions, MONTHS, SEED])
    return {
        "customers": customers,
        "transactions": transactions,
        "rows": summary.total_rows,
        "load_seconds": round(time.perf_counter() - started, 1),
    }


def _copy_transactions(path: Path) -> None:
    """The generated transactions.csv straight into the table with COPY, accounts
    resolved as the importer resolves them (a transaction's customer is its
    account's). The importer also validates every row, which generated rows do not
    need, and keeps five indexes up to date row by row: for 36 million rows that is
    most of the load, where building the indexes once afterwards takes minutes."""
    import io

    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    from django.db import connection, transaction
    from django.utils import timezone

    with connection.cursor() as cursor:
        cursor.execute("SELECT external_id, id, customer_id FROM customers_account")
        accounts = cursor.fetchall()
    keys = pd.Index([a[0] for a in accounts])
    ids = np.array([a[1] for a in accounts], dtype=np.int64)
    owners = np.array([a[2] for a in accounts], dtype=np.int64)
    received = timezone.now().isoformat()  # as the importer: received when loaded
    header = path.open().readline().strip().split(",")
    reader = pa_csv.open_csv(
        path,
        read_options=pa_csv.ReadOptions(block_size=1 << 26),
        convert_options=pa_csv.ConvertOptions(column_types=dict.fromkeys(header, pa.string())),
    )
    table = "'customers_transaction'::regclass"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = {table} AND contype = 'u'"
        )
        constraints = cursor.fetchall()
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'customers_transaction' "
            f"AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = {table})"
        )
        indexes = cursor.fetchall()
        for name, _ in constraints:
            cursor.execute(f'ALTER TABLE customers_transaction DROP CONSTRAINT "{name}"')
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        copy_sql = (
            "COPY customers_transaction (external_id, account_id, customer_id, booked_at, amount, currency, "
            "category, mcc, channel, received_at) FROM STDIN (FORMAT csv)"
        )
        with cursor.copy(copy_sql) as copy:
            for batch in reader:
                position = keys.get_indexer(batch.column("account_id").to_numpy(zero_copy_only=False))
                if (position < 0).any():
                    raise SystemExit("a generated transaction names an unknown account")
                columns = {
                    "external_id": batch.column("transaction_id"),
                    "account_id": ids[position],
                    "customer_id": owners[position],
                    **{c: batch.column(c) for c in ("booked_at", "amount", "currency", "category", "mcc", "channel")},
                    "received_at": pa.array([received] * batch.num_rows, type=pa.string()),
                }
                sink = io.BytesIO()
                pa_csv.write_csv(pa.table(columns), sink, write_options=pa_csv.WriteOptions(include_header=False))
                copy.write(sink.getvalue())
        cursor.execute("SET LOCAL maintenance_work_mem = '1GB'")
        for _, definition in indexes:
            cursor.execute(definition)
        for name, definition in constraints:
            cursor.execute(f'ALTER TABLE customers_transaction ADD CONSTRAINT "{name}" {definition}')


def child_build(repeats: int) -> dict[str, object]:
    """Build the snapshot ``repeats`` times; seconds of each, and this process's peak RSS."""
    _setup()
    from django.utils import timezone

    from modeling.snapshots import feature_snapshot_build

    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        snapshot = feature_snapshot_build(cutoff=AS_OF, now=timezone.now())
        seconds.append(time.perf_counter() - started)
        print(f"build: {snapshot.customer_count:,} customers in {seconds[-1]:.1f} s", file=sys.stderr, flush=True)
    return {
        "seconds": seconds,
        "customers": snapshot.customer_count,
        "columns": len(snapshot.columns),
        "peak_rss_mb": round(peak_rss_mb()),
    }


def _run_child(args: list[str], url: str, model_dir: Path) -> dict[str, object]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "MODEL_DIR": str(model_dir),
        "SECRET_KEY": "bench-only",
        "DEBUG": "0",
        "CELERY_BROKER_URL": "",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    out = subprocess.run(
        [sys.executable, __file__, *args], env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"{args[:2]} failed with exit code {out.returncode}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5,000 customers (under a minute)")
    parser.add_argument("--customers", type=int, help="customers (default 100,000; --quick 5,000)")
    parser.add_argument("--repeats", type=int, default=3, help="timed builds; the figure is the median")
    parser.add_argument("--keep", action="store_true", help="reuse the bank a previous run loaded, if complete")
    parser.add_argument("--child", choices=["load", "build"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    customers = args.customers or (5_000 if args.quick else 100_000)
    if args.child == "load":
        print(json.dumps(child_load(customers)))
        return
    if args.child == "build":
        print(json.dumps(child_build(args.repeats)))
        return

    started = time.perf_counter()
    url = _database_url(customers)
    loaded = _loaded(url, customers) if args.keep else None
    if loaded is None:
        _recreate(url)
        with tempfile.TemporaryDirectory() as tmp:
            loaded = _run_child(["--child", "load", "--customers", str(customers)], url, Path(tmp))
        print(f"loaded {loaded['transactions']:,} transactions in {loaded['load_seconds']} s", flush=True)
    else:
        print(f"reusing {urlparse(url).path[1:]}: {loaded['transactions']:,} transactions", flush=True)
    with tempfile.TemporaryDirectory(prefix="crossell-feature-bench-models-") as tmp:
        build = _run_child(["--child", "build", "--repeats", str(args.repeats)], url, Path(tmp))
    median = statistics.median(build["seconds"])
    projected = median * max(1.0, 100_000 / max(build["customers"], 1))
    summary = {
        "bench": "features",
        "customers": build["customers"],
        "transactions": loaded["transactions"],
        "columns": build["columns"],
        "repeats": args.repeats,
        "seconds": round(median, 2),
        "runs": [round(s, 2) for s in build["seconds"]],
        "customers_per_second": round(build["customers"] / median),
        "peak_rss_mb": build["peak_rss_mb"],
        "total_seconds": round(time.perf_counter() - started, 1),
        # Below 100,000 customers the time is projected linearly to 100,000.
        "projected_seconds_100k": round(projected, 1),
        "meets_target": projected < TARGET_SECONDS and build["peak_rss_mb"] <= TARGET_RSS_MB,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
