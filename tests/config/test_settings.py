"""Settings come from the environment only and fail loudly on bad values."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "a-production-secret-key-that-is-long-and-random-6f2b9c8e1d7a4f30b5e2",
    "ALLOWED_HOSTS": "crossell.bank.example",
    "DATABASE_URL": "postgres://crossell@db.bank.example:5432/crossell",
    "CELERY_BROKER_URL": "redis://redis.bank.example:6379/0",
}


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO", "DATABASE_URL", "CELERY"))}
    base.update({k: v for k, v in os.environ.items() if k == "PATH"})
    for name in (
        "SECRET_KEY",
        "DEBUG",
        "ALLOWED_HOSTS",
        "SECURE_SSL_REDIRECT",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "CROSSELL_VAR_DIR",
    ):
        base.pop(name, None)
    base.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=base, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    result = _manage(
        "check", "--deploy", "--fail-level", "WARNING", env={**PRODUCTION, "CROSSELL_VAR_DIR": str(tmp_path)}
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_it_refuses_to_start_without_a_secret_key_when_debug_is_off(tmp_path):
    env = {k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"}
    result = _manage("check", env={**env, "CROSSELL_VAR_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_secret_key_can_come_from_a_file(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text(PRODUCTION["SECRET_KEY"])
    env = {k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"}
    result = _manage("check", env={**env, "SECRET_KEY_FILE": str(key_file), "CROSSELL_VAR_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DEBUG", "perhaps", "DEBUG must be true or false, got 'perhaps'"),
        ("BANK_TIME_ZONE", "Mars/Olympus", "BANK_TIME_ZONE='Mars/Olympus' is not a known IANA time zone"),
        ("BASE_CURRENCY", "euro", "BASE_CURRENCY must be an ISO 4217 code"),
        ("DB_CONN_MAX_AGE", "forever", "DB_CONN_MAX_AGE must be an integer, got 'forever'"),
    ],
)
def test_a_malformed_variable_stops_startup_naming_it(tmp_path, name, value, message):
    result = _manage("check", env={**PRODUCTION, name: value, "CROSSELL_VAR_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert message in result.stderr


def test_unset_database_url_means_sqlite_in_wal_mode_under_var(tmp_path):
    env = {k: v for k, v in PRODUCTION.items() if k != "DATABASE_URL"}
    result = _manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.db import connection; c = connection.cursor(); c.execute('PRAGMA journal_mode');"
        " print(connection.vendor, c.fetchone()[0], connection.settings_dict['NAME'])",
        env={**env, "CROSSELL_VAR_DIR": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["sqlite", "wal", str(tmp_path / "crossell.sqlite3")]


def test_an_unset_broker_runs_tasks_in_process_and_a_set_one_is_used(tmp_path):
    code = "from django.conf import settings; print(settings.CELERY_TASK_ALWAYS_EAGER, settings.CELERY_BROKER_URL)"
    env = {k: v for k, v in PRODUCTION.items() if k != "CELERY_BROKER_URL"}
    eager = _manage("shell", "--no-imports", "-c", code, env={**env, "CROSSELL_VAR_DIR": str(tmp_path)})
    assert eager.stdout.strip() == "True"
    queued = _manage("shell", "--no-imports", "-c", code, env={**PRODUCTION, "CROSSELL_VAR_DIR": str(tmp_path)})
    assert queued.stdout.strip() == "False redis://redis.bank.example:6379/0"
