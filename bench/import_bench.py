#!/usr/bin/env python
"""Import speed against a raw COPY of the same rows, on PostgreSQL and SQLite.

    .venv/bin/python bench/import_bench.py            # 2,000,000 transactions, 3 repeats
    .venv/bin/python bench/import_bench.py --quick    # 150,000 rows, under a minute

1. Generate N transaction rows (and their customers, products, accounts) as CSV.
2. PostgreSQL (DATABASE_URL or postgres://postgres@127.0.0.1:5432/crossell_bench, recreated):
   (a) raw COPY of the same rows, account and customer ids already resolved, into
   customers_transaction; (b) ``import_files`` of transactions.csv (parse, validate,
   resolve, write), truncating the table before each run.
3. SQLite (a fresh file database): (c) ``import_files`` of the same file.

Each measurement runs in a child process (one database per process) and reports
its peak RSS. Figures are medians over the repeats; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/crossell_bench"
CATEGORIES = ["groceries", "dining", "travel", "fuel", "utilities", "salary", "shopping", "cash", "fees", "rent"]
CHANNELS = ["card_present", "card_online", "atm", "transfer", "direct_debit"]
TX_HEADER = "transaction_id,account_id,booked_at,amount,currency,category,mcc,channel\n"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- data ------------------------------------------------------------------------------------
def generate(folder: Path, rows: int, seed: int = 7) -> None:
    """Write base files (products, customers, accounts) and transactions.csv."""
    rng = random.Random(seed)
    accounts = max(10, rows // 20)
    customers = max(5, accounts * 2 // 3)
    base = folder / "base"
    base.mkdir(parents=True)
    (base / "products.csv").write_text(
        "product_code,name,family,value,currency,is_credit\nCURRENT,Current account,current_account,20.00,EUR,false\n"
    )
    with open(base / "customers.csv", "w") as f:
        f.write("customer_id,birth_date,customer_since,kyc_status,sanctions_status\n")
        for c in range(customers):
            f.write(f"C{c:08d},19{50 + c % 50}-0{1 + c % 9}-1{c % 10},2015-01-01,verified,clear\n")
    with open(base / "accounts.csv", "w") as f:
        f.write("account_id,customer_id,product_code,opened_on,status,currency\n")
        for a in range(accounts):
            f.write(f"A{a:09d},C{a % customers:08d},CURRENT,2016-01-01,open,EUR\n")
    tx = folder / "tx"
    tx.mkdir()
    with open(tx / "transactions.csv", "w") as f:
        f.write(TX_HEADER)
        chunk = []
        for i in range(rows):
            day = 1 + i % 28
            second = rng.randrange(86_400)
            chunk.append(
                f"T{i:012d},A{rng.randrange(accounts):09d},2025-03-{day:02d}T{second // 3600:02d}:"
                f"{second // 60 % 60:02d}:{second % 60:02d}+00:00,{rng.randrange(-50_000, 50_000) / 100:.2f},EUR,"
                f"{CATEGORIES[i % 10]},{5000 + i % 900},{CHANNELS[i % 5]}\n"
            )
            if len(chunk) >= 50_000:
                f.write("".join(chunk))
                chunk = []
        f.write("".join(chunk))


# --- child: one database ------------------------------------------------------------------------
def child(kind: str, folder: Path, repeats: int) -> dict[str, object]:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from customers.importing.services import import_files

    call_command("migrate", verbosity=0)
    import_files(paths=[folder / "base"])
    tx_file = folder / "tx" / "transactions.csv"
    result: dict[str, object] = {"kind": kind}
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM customers_account")
        result["accounts"] = cursor.fetchone()[0]

    def clear() -> None:
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE customers_transaction" if kind == "pg" else "DELETE FROM customers_transaction")

    if kind == "pg":
        resolved = folder / "tx" / "resolved.csv"
        _resolve_for_copy(tx_file, resolved)
        copies = []
        for _ in range(repeats):
            clear()
            copies.append(_raw_copy(resolved))
        result["copy_rows_per_s"] = copies
    imports = []
    for _ in range(repeats):
        clear()
        started = time.perf_counter()
        report = import_files(paths=[tx_file])
        seconds = time.perf_counter() - started
        assert report.files[0].inserted == report.files[0].rows_read, report
        imports.append(report.files[0].rows_read / seconds)
    result["import_rows_per_s"] = imports
    result["rows"] = report.files[0].rows_read
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    return result


def _resolve_for_copy(source: Path, target: Path) -> None:
    """The same rows as the table stores them (ids resolved, UTC), untimed."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT external_id, id, customer_id FROM customers_account")
        accounts = {ext: (pk, owner) for ext, pk, owner in cursor.fetchall()}
    with open(source) as src, open(target, "w") as out:
        next(src)
        for line in src:
            tid, acc, booked, amount, currency, category, mcc, channel = line.rstrip("\n").split(",")
            pk, owner = accounts[acc]
            out.write(
                f"{tid},{pk},{owner},{booked},{amount},{currency},{category},{mcc},{channel},2025-06-01T00:00:00Z\n"
            )


def _raw_copy(resolved: Path) -> float:
    from django.db import connection, transaction

    rows = 0
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        sql = (
            "COPY customers_transaction (external_id, account_id, customer_id, booked_at, amount, currency, "
            "category, mcc, channel, received_at) FROM STDIN (FORMAT csv)"
        )
        with cursor.cursor.copy(sql) as copy, open(resolved, "rb") as f:
            while block := f.read(1 << 20):
                rows += block.count(b"\n")
                copy.write(block)
    return rows / (time.perf_counter() - started)


# --- parent ---------------------------------------------------------------------------------------
def run_child(kind: str, folder: Path, repeats: int, database_url: str) -> dict[str, object]:
    env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": "bench", "DEBUG": "0", "CELERY_BROKER_URL": ""}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--folder", str(folder), "--repeats", str(repeats)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"{kind} run failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def recreate_pg(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    with psycopg.connect(parsed._replace(path="/postgres").geturl(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a small run (under a minute)")
    parser.add_argument("--rows", type=int, help="transaction rows (default 2,000,000; --quick 150,000)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", choices=["pg", "sqlite"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.folder, args.repeats)))
        return

    rows = args.rows or (150_000 if args.quick else 2_000_000)
    pg_url = os.environ.get("DATABASE_URL") or DEFAULT_PG
    if not pg_url.startswith("postgres"):
        pg_url = DEFAULT_PG
    with tempfile.TemporaryDirectory(prefix="crossell-bench-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        generate(folder, rows)
        size_mb = (folder / "tx" / "transactions.csv").stat().st_size / 1e6
        print(
            f"generated {rows:,} transactions ({size_mb:.0f} MB) in {time.perf_counter() - started:.1f} s", flush=True
        )
        recreate_pg(pg_url)
        pg = run_child("pg", folder, args.repeats, pg_url)
        print(f"PostgreSQL raw COPY rows/s: {[round(x) for x in pg['copy_rows_per_s']]}", flush=True)
        print(f"PostgreSQL import rows/s:   {[round(x) for x in pg['import_rows_per_s']]}", flush=True)
        sqlite = run_child("sqlite", folder, args.repeats, f"sqlite:///{folder / 'bench.sqlite3'}")
        print(f"SQLite import rows/s:       {[round(x) for x in sqlite['import_rows_per_s']]}", flush=True)

    copy = statistics.median(pg["copy_rows_per_s"])
    pg_import = statistics.median(pg["import_rows_per_s"])
    sqlite_import = statistics.median(sqlite["import_rows_per_s"])
    summary = {
        "rows": rows,
        "file_mb": round(size_mb, 1),
        "repeats": args.repeats,
        "pg_copy_rows_per_s": round(copy),
        "pg_import_rows_per_s": round(pg_import),
        "pg_ratio_to_copy": round(pg_import / copy, 3),
        "sqlite_import_rows_per_s": round(sqlite_import),
        "peak_rss_mb_pg": pg["peak_rss_mb"],
        "peak_rss_mb_sqlite": sqlite["peak_rss_mb"],
        "meets_targets": pg_import >= copy / 2 and sqlite_import >= 30_000,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
