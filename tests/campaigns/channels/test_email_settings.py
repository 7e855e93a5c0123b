"""Email settings from the environment: files in the embedded mode, SMTP when a host is set."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SHOW = "from django.conf import settings as s; print(s.EMAIL_BACKEND, s.EMAIL_FILE_PATH, s.EMAIL_PORT, s.SITE_URL)"


def settings_with(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST", "DJANGO", "EMAIL_", "DEFAULT_FROM_EMAIL", "SITE_URL", "CROSSELL_VAR_DIR"))
    }
    base.update({"DEBUG": "1", "CROSSELL_VAR_DIR": str(tmp_path), **env})
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", SHOW],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_without_a_mail_host_messages_are_written_under_var(tmp_path):
    result = settings_with({}, tmp_path)

    assert result.returncode == 0, result.stderr
    backend, path, _, site = result.stdout.split()
    assert backend == "django.core.mail.backends.filebased.EmailBackend"
    assert path == str(tmp_path / "mail")
    assert site == "http://localhost:8000"


def test_a_mail_host_switches_to_smtp(tmp_path):
    result = settings_with({"EMAIL_HOST": "smtp.bank.example", "EMAIL_PORT": "587"}, tmp_path)

    assert result.returncode == 0, result.stderr
    backend, _, port, _ = result.stdout.split()
    assert (backend, port) == ("django.core.mail.backends.smtp.EmailBackend", "587")


def test_tls_and_ssl_together_stop_startup_naming_both(tmp_path):
    result = settings_with({"EMAIL_USE_TLS": "true", "EMAIL_USE_SSL": "true"}, tmp_path)

    assert result.returncode != 0
    assert "EMAIL_USE_TLS and EMAIL_USE_SSL" in result.stderr


def test_a_site_url_with_a_path_stops_startup(tmp_path):
    result = settings_with({"SITE_URL": "https://bank.example/crossell"}, tmp_path)

    assert result.returncode != 0
    assert "SITE_URL must be" in result.stderr
