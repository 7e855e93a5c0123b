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
from typing import Any
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


# --- a bigger bank for the campaign bench ------------------------------------------------------------------------
#
# ``crossell_demo_ready`` is the demo bank made ready to decide, with the product's
# own commands as bin/demo runs them (demo users, catalogue, segments, models
# trained with MODEL_REFIT=true, approved, activated, every customer scored, which
# stores the online feature rows). Its model files live in MODEL_DIR below, which
# the template's rows name: both are built together and removed together.
# ``crossell_demo_<n>`` copies it and clones its customers (``clone_sql``) up to n.

READY_TEMPLATE = f"{TEMPLATE}_ready"
READY_MODEL_DIR = ROOT / "var" / "bench" / READY_TEMPLATE / "models"
_READY_COMMANDS = (
    ["migrate", "-v", "0"],
    ["demo_users"],
    ["demo_catalogue", "--as", "bianca"],
    ["build_segments"],
    ["train_models", "--as", "bianca"],
    ["model_registry", "approve", "--all-candidates", "--as", "carlos", "--note", "bench bank"],
    ["model_registry", "activate", "--all-candidates", "--as", "bianca"],
    ["score_customers", "--no-progress"],
)
# A customer's rows a decision or a delivery reads, cloned with the customer (see clone_sql).
CLONED_TABLES = (
    "customers_customer",
    "customers_contactdetails",
    "customers_consent",
    "customers_account",
    "customers_accountholder",
    "customers_contacthistory",
    "modeling_segmentmembership",
    "modeling_onlinefeatures",
)


def _database_exists(url: str, name: str) -> bool:
    done = psql(url, f"SELECT 1 FROM pg_database WHERE datname = '{name}'")
    return done.returncode == 0 and done.stdout.strip() == "1"


def _copy_database(url: str, source: str, target: str) -> None:
    psql(url, f"DROP DATABASE IF EXISTS {target} WITH (FORCE)")
    for _ in range(30):
        done = psql(url, f"CREATE DATABASE {target} TEMPLATE {source}")
        if done.returncode == 0:
            return
        if "being accessed by other users" not in done.stderr:
            break
        time.sleep(1)
    sys.exit(f"cannot copy {source} into {target}: {done.stderr.strip()}")


def _ready_build(url: str, log: Any = print) -> None:
    """The demo bank made ready to decide, through the product's commands (bin/demo's sequence)."""
    import shutil

    building = f"{READY_TEMPLATE}_building"
    if not _template_ready(url):
        _template_build(url)
    _copy_database(url, TEMPLATE, building)
    # The scaled templates' markers go too: their model rows name the old files.
    shutil.rmtree(READY_MODEL_DIR.parent, ignore_errors=True)
    READY_MODEL_DIR.mkdir(parents=True)
    env = {
        **os.environ,
        "DATABASE_URL": urlparse(url)._replace(path=f"/{building}").geturl(),
        "MODEL_DIR": str(READY_MODEL_DIR),
        "MODEL_REFIT": "true",
        "DEBUG": "1",
        "SECRET_KEY": "bench-only-secret",
    }
    env.pop("CELERY_BROKER_URL", None)  # everything in process
    for command in _READY_COMMANDS:
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *command], cwd=ROOT, env=env, capture_output=True, text=True
        )
        if done.returncode:
            sys.exit(f"preparing the demo bank failed at {command[0]}: {done.stderr.strip()[-2000:]}")
        log(f"  {' '.join(command[:2])}: {time.perf_counter() - started:.1f} s")
    psql(url, f"DROP DATABASE IF EXISTS {READY_TEMPLATE} WITH (FORCE)")
    if psql(url, f"ALTER DATABASE {building} RENAME TO {READY_TEMPLATE}").returncode:
        sys.exit(f"cannot rename {building} to {READY_TEMPLATE}")


def table_columns_sql(tables: tuple[str, ...] = CLONED_TABLES) -> str:
    """A query listing ``table|column`` for the cloned tables, in column order."""
    names = ", ".join(f"'{t}'" for t in tables)
    return (
        "SELECT table_name || '|' || column_name FROM information_schema.columns "
        f"WHERE table_schema = current_schema() AND table_name IN ({names}) ORDER BY table_name, ordinal_position"
    )


def _insert(table: str, columns: list[str], overrides: dict[str, str], source: str) -> str:
    """INSERT INTO table SELECT each column (an override's expression, else the
    source row's value); ``id`` is left to its identity unless overridden."""
    names = [c for c in columns if c != "id" or "id" in overrides]
    values = [overrides.get(c, f't."{c}"') for c in names]
    return f"INSERT INTO {table} ({', '.join(f'{chr(34)}{c}{chr(34)}' for c in names)}) SELECT {', '.join(values)} {source}"


def clone_sql(columns: dict[str, list[str]], *, extra: int) -> list[str]:
    """Statements that add ``extra`` customers to a bank by cloning its existing ones
    (copy 1 of every customer in id order, then copy 2, ...), each clone with new
    ids and bank ids (``<original>-<copy>``), a new public id, an e-mail address of
    its own (``name+<copy>@domain``), and the rows a decision and a delivery read:
    contact details, consents, accounts and account holders (what they hold),
    contact history (caps and fatigue), segment memberships and the online feature
    row (copied: the same features as the original). Joint holders are cloned when
    both customers are in the same copy. Run in one transaction.

    ``columns``: each cloned table's columns in order (``table_columns_sql``)."""
    if extra <= 0:
        return []
    customers = "customers_customer"
    statements = [
        "CREATE TEMP TABLE bench_clone_customer ON COMMIT DROP AS "
        f"SELECT s.src, s.copy, nextval(pg_get_serial_sequence('{customers}', 'id')) AS dst FROM ("
        f"SELECT c.id AS src, k.copy FROM {customers} c CROSS JOIN generate_series(1, "
        f"(SELECT ceil({extra}::numeric / greatest(count(*), 1))::int FROM {customers})) AS k(copy) "
        f"ORDER BY k.copy, c.id LIMIT {extra}) s ORDER BY s.copy, s.src",
        "CREATE UNIQUE INDEX ON bench_clone_customer (src, copy)",
        "CREATE TEMP TABLE bench_clone_account ON COMMIT DROP AS "
        "SELECT a.id AS src, m.copy, nextval(pg_get_serial_sequence('customers_account', 'id')) AS dst "
        "FROM customers_account a JOIN bench_clone_customer m ON m.src = a.customer_id ORDER BY m.copy, a.id",
        "CREATE UNIQUE INDEX ON bench_clone_account (src, copy)",
    ]
    by_customer = "FROM bench_clone_customer m JOIN {table} t ON t.customer_id = m.src"
    statements.append(
        _insert(
            customers,
            columns[customers],
            {
                "id": "m.dst",
                "external_id": "t.external_id || '-' || m.copy",
                "public_id": "gen_random_uuid()",
            },
            f"FROM bench_clone_customer m JOIN {customers} t ON t.id = m.src ORDER BY m.dst",
        )
    )
    statements.append(
        _insert(
            "customers_contactdetails",
            columns["customers_contactdetails"],
            {
                "customer_id": "m.dst",
                "email": "CASE WHEN t.email LIKE '%@%' THEN regexp_replace(t.email, '@', '+' || m.copy || '@') "
                "ELSE t.email END",
            },
            by_customer.format(table="customers_contactdetails"),
        )
    )
    for table in ("customers_consent", "modeling_segmentmembership", "modeling_onlinefeatures"):
        statements.append(_insert(table, columns[table], {"customer_id": "m.dst"}, by_customer.format(table=table)))
    statements.append(
        _insert(
            "customers_contacthistory",
            columns["customers_contacthistory"],
            {"customer_id": "m.dst", "external_id": "t.external_id || '-' || m.copy"},
            by_customer.format(table="customers_contacthistory"),
        )
    )
    statements.append(
        _insert(
            "customers_account",
            columns["customers_account"],
            {"id": "n.dst", "customer_id": "m.dst", "external_id": "t.external_id || '-' || m.copy"},
            "FROM bench_clone_account n JOIN customers_account t ON t.id = n.src "
            "JOIN bench_clone_customer m ON m.src = t.customer_id AND m.copy = n.copy",
        )
    )
    statements.append(
        _insert(
            "customers_accountholder",
            columns["customers_accountholder"],
            {"account_id": "n.dst", "customer_id": "m.dst"},
            "FROM customers_accountholder t JOIN bench_clone_account n ON n.src = t.account_id "
            "JOIN bench_clone_customer m ON m.src = t.customer_id AND m.copy = n.copy",
        )
    )
    return statements


def _scaled_build(url: str, name: str, customers: int, log: Any = print) -> None:
    if not _database_exists(url, READY_TEMPLATE) or not READY_MODEL_DIR.is_dir():
        log(f"building {READY_TEMPLATE} (once: catalogue, segments, models, scores)")
        _ready_build(url, log)
    building = f"{name}_building"
    _copy_database(url, READY_TEMPLATE, building)
    bank_scale(urlparse(url)._replace(path=f"/{building}").geturl(), customers, log)
    psql(url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    if psql(url, f"ALTER DATABASE {building} RENAME TO {name}").returncode:
        sys.exit(f"cannot rename {building} to {name}")
    _built_marker(name).write_text(f"{customers}\n")


def bank_scale(database_url: str, customers: int, log: Any = print) -> int:
    """Clone the customers of the bank at ``database_url`` (``clone_sql``, in one
    transaction) until it has ``customers``; the number added."""

    def run(sql: str) -> str:
        done = subprocess.run(
            ["psql", database_url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql], capture_output=True, text=True
        )
        if done.returncode:
            sys.exit(f"cloning customers failed: {done.stderr.strip()[-2000:]}")
        return done.stdout

    have = int(run("SELECT count(*) FROM customers_customer").strip())
    if customers <= have:
        return 0
    columns: dict[str, list[str]] = {}
    for line in run(table_columns_sql()).split():
        table, column = line.split("|")
        columns.setdefault(table, []).append(column)
    started = time.perf_counter()
    statements = clone_sql(columns, extra=customers - have)
    script = "BEGIN;\n" + ";\n".join(statements) + ";\nCOMMIT;\nVACUUM ANALYZE;"
    done = subprocess.run(
        ["psql", database_url, "-v", "ON_ERROR_STOP=1", "-q"], input=script, capture_output=True, text=True
    )
    if done.returncode:
        sys.exit(f"cloning customers failed: {done.stderr.strip()[-2000:]}")
    log(f"  cloned {customers - have:,} customers from {have:,} in {time.perf_counter() - started:.1f} s")
    return customers - have


def _built_marker(name: str) -> Path:
    return READY_MODEL_DIR.parent / f"{name}.built"


def scaled_template(customers: int) -> str:
    """The template database name of the bank scaled to ``customers``."""
    return f"{TEMPLATE}_{customers // 1000}k" if customers % 1000 == 0 else f"{TEMPLATE}_{customers}"


def scaled_bank_copy(database: str, *, customers: int, log: Any = print) -> tuple[str, Path, float]:
    """A fresh copy named ``database`` of the demo bank ready to decide and scaled to
    ``customers`` (templates built on first use); (URL, MODEL_DIR, seconds spent
    building templates, 0 when they existed)."""
    server = server_url()
    name = scaled_template(customers)
    started = time.perf_counter()
    built = 0.0
    if not _database_exists(server, name) or not _built_marker(name).is_file():
        log(f"building the template {name} ({customers:,} customers), once")
        _scaled_build(server, name, customers, log)
        built = time.perf_counter() - started
    _copy_database(server, name, database)
    return urlparse(server)._replace(path=f"/{database}").geturl(), READY_MODEL_DIR, built
