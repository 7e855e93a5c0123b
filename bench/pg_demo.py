"""PostgreSQL helpers shared by the benchmarks: a fresh copy of the demo bank.

The template database ``crossell_demo`` (2,000 customers, seed 42, 18 months to
2026-11-01) is built on first use with the product's own commands
(``generate_demo_bank`` then ``import_data``, about 20 s) and reused afterwards;
each benchmark copies it into a database of its own and drops that at the end.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432/postgres"
TEMPLATE = "crossell_demo"
DEMO_AS_OF = "2026-11-01"


def server_url() -> str:
    server = os.environ.get("DATABASE_URL") or DEFAULT_SERVER
    return server if server.startswith("postgres") else DEFAULT_SERVER


def psql(url: str, sql: str) -> subprocess.CompletedProcess:
    admin = urlparse(url)._replace(path="/postgres").geturl()
    return subprocess.run(["psql", admin, "-v", "ON_ERROR_STOP=1", "-qAtc", sql], capture_output=True, text=True)


def _template_ready(url: str) -> bool:
    done = psql(url, f"SELECT 1 FROM pg_database WHERE datname = '{TEMPLATE}'")
    return done.returncode == 0 and done.stdout.strip() == "1"


def _template_build(url: str) -> None:
    """Generate and import the demo bank into ``crossell_demo``, through the product's commands."""
    building = f"{TEMPLATE}_building"
    building_url = urlparse(url)._replace(path=f"/{building}").geturl()
    psql(url, f"DROP DATABASE IF EXISTS {building} WITH (FORCE)")
    if psql(url, f"CREATE DATABASE {building}").returncode:
        sys.exit(f"cannot create {building} on {url}")
    env = {**os.environ, "DATABASE_URL": building_url, "DEBUG": "1", "SECRET_KEY": "bench-only-secret"}
    manage = [sys.executable, str(ROOT / "manage.py")]
    with tempfile.TemporaryDirectory(prefix="crossell-demo-bank-") as out:
        for command in (
            ["migrate", "-v", "0"],
            ["generate_demo_bank", "--customers", "2000", "--seed", "42", "--as-of", DEMO_AS_OF, "--out", out],
            ["import_data", out, "--no-progress"],
        ):
            done = subprocess.run([*manage, *command], env=env, capture_output=True, text=True)
            if done.returncode:
                sys.exit(f"building the demo bank failed at {command[0]}: {done.stderr.strip()[-2000:]}")
    # Renamed only once complete, so a half-built bank is never used as the template.
    if psql(url, f"ALTER DATABASE {building} RENAME TO {TEMPLATE}").returncode:
        sys.exit(f"cannot rename {building} to {TEMPLATE}")


def demo_bank_copy(database: str) -> str:
    """A fresh copy of the demo bank named ``database``; returns its URL."""
    server = server_url()
    if not _template_ready(server):
        _template_build(server)
    url = urlparse(server)._replace(path=f"/{database}").geturl()
    done = psql(url, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
    if done.returncode:
        sys.exit(f"cannot drop {database}: {done.stderr.strip()}")
    # CREATE DATABASE ... TEMPLATE fails while anyone is connected to the template: retry.
    for _ in range(30):
        done = psql(url, f"CREATE DATABASE {database} TEMPLATE {TEMPLATE}")
        if done.returncode == 0:
            return url
        if "being accessed by other users" not in done.stderr:
            break
        time.sleep(1)
    sys.exit(f"cannot copy {TEMPLATE} into {database}: {done.stderr.strip()}")


def database_drop(url: str) -> None:
    database = urlparse(url).path.lstrip("/")
    psql(url, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
