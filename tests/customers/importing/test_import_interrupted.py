"""An import killed mid-way (SIGKILL: no cleanup runs) leaves the database as it was."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.customers.importing.conftest import FILES, write

ROOT = Path(__file__).resolve().parents[3]
TX_HEADER = "transaction_id,account_id,booked_at,amount,currency,category,mcc,channel\n"


def _big_transactions(folder: Path, rows: int) -> None:
    lines = (
        f"X{i},A{1 + i % 3},2025-03-14T09:{i % 60:02d}:00Z,-{i % 997}.25,EUR,groceries,5411,atm\n" for i in range(rows)
    )
    write(folder, "transactions.csv", TX_HEADER + "".join(lines))


def _manage(env: dict[str, str], *args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), *args], cwd=ROOT, env=env, stderr=subprocess.PIPE,
        stdout=subprocess.PIPE, **kwargs,
    )  # fmt: skip


def _run(env: dict[str, str], *args: str) -> None:
    process = _manage(env, *args)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err.decode()


def _kill_once_started(env: dict[str, str], folder: Path) -> None:
    """Start the import, wait until it reports progress on the big file, then SIGKILL it."""
    process = _manage(env, "import_data", str(folder))
    seen = threading.Event()

    def watch() -> None:
        buffer = b""
        while chunk := process.stderr.read1(1024):
            buffer += chunk
            if b"transactions" in buffer:
                seen.set()

    threading.Thread(target=watch, daemon=True).start()
    assert seen.wait(30), "the import never reported progress"
    time.sleep(0.2)
    assert process.poll() is None, "the import finished before it could be interrupted: make the file bigger"
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    assert process.returncode == -signal.SIGKILL


def _env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update({"DATABASE_URL": database_url, "SECRET_KEY": "test", "DEBUG": "1", "CELERY_BROKER_URL": ""})
    return env


@pytest.mark.slow
def test_an_import_killed_mid_way_leaves_sqlite_as_it_was(tmp_path):
    # Given a file database holding the bank's files
    env = _env(f"sqlite:///{tmp_path / 'bank.sqlite3'}")
    _run(env, "migrate", "-v0")
    base = tmp_path / "base"
    for entity, text in FILES.items():
        write(base, f"{entity}.csv", text)
    _run(env, "import_data", "--no-progress", str(base))
    big = tmp_path / "big"
    _big_transactions(big, 400_000)
    write(big, "customers.csv", FILES["customers"].replace("42000.00", "43000.00"))

    # When an import of more customers and many transactions is killed mid-way
    _kill_once_started(env, big)

    # Then the database holds exactly what it held before
    with sqlite3.connect(tmp_path / "bank.sqlite3") as db:
        assert db.execute("SELECT COUNT(*) FROM customers_transaction").fetchone()[0] == 3
        assert db.execute("SELECT income FROM customers_customer WHERE external_id = 'C1'").fetchone()[0] == 42000
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@pytest.mark.slow
@pytest.mark.postgres
def test_an_import_killed_mid_way_leaves_postgresql_as_it_was(tmp_path):
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        pytest.skip("needs DATABASE_URL pointing at PostgreSQL")
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/") + "_sigkill"
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    target = parsed._replace(path=f"/{name}").geturl()
    try:
        env = _env(target)
        _run(env, "migrate", "-v0")
        base = tmp_path / "base"
        for entity, text in FILES.items():
            write(base, f"{entity}.csv", text)
        _run(env, "import_data", "--no-progress", str(base))
        big = tmp_path / "big"
        _big_transactions(big, 600_000)

        _kill_once_started(env, big)

        with psycopg.connect(target) as conn:
            assert conn.execute("SELECT COUNT(*) FROM customers_transaction").fetchone()[0] == 3
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
