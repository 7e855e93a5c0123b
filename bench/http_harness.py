"""A production-like server for HTTP benchmarks: gunicorn with sync workers on loopback.

    with gunicorn_serving(database_url=url, model_dir=path) as server:
        token = api_token_create(database_url=url, name="bench-load", scopes=["decisions"])
        ... load http://127.0.0.1:{server.port} ...

The server runs ``config.wsgi`` as production would (README "Configuration"):
``DEBUG`` off with a throwaway ``SECRET_KEY``, persistent database connections
(``DB_CONN_MAX_AGE``), no ``--preload`` (LightGBM's OpenMP does not survive
``fork()``, so each worker loads its models after it starts), no access log
(that is the proxy's job, and it would be measured too). HTTPS redirects and
secure cookies are off, as the benchmark speaks plain HTTP on 127.0.0.1.
"""

from __future__ import annotations

import http.client
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GUNICORN = Path(sys.executable).parent / "gunicorn"
DEFAULT_WORKERS = 2
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_env(*, database_url: str, model_dir: str | Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a production-like process against ``database_url``."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "MODEL_DIR": str(model_dir),
        "DEBUG": "false",
        "SECRET_KEY": "bench-" + secrets.token_urlsafe(40),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
        "DB_CONN_MAX_AGE": "60",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        **(extra or {}),
    }
    env.pop("SECRET_KEY_FILE", None)
    return env


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    workers: int
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def _healthz(port: int) -> int | None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status
    except OSError:
        return None
    finally:
        connection.close()


def gunicorn_start(
    *,
    database_url: str,
    model_dir: str | Path,
    workers: int = DEFAULT_WORKERS,
    port: int | None = None,
    extra_env: dict[str, str] | None = None,
) -> Server:
    """Start gunicorn and return once ``/healthz`` answers 200 (the workers have
    imported Django and reached the database); raise with the server's log otherwise."""
    port = port or free_port()
    handle, log_name = tempfile.mkstemp(prefix="crossell-gunicorn-", suffix=".log")
    command = [
        str(GUNICORN),
        "config.wsgi",
        "--chdir",
        str(ROOT),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "sync",
        "--timeout",
        "120",
        "--graceful-timeout",
        "10",
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=server_env(database_url=database_url, model_dir=model_dir, extra=extra_env),
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # a Ctrl-C at the terminal reaches the benchmark, which stops the server itself
    )
    os.close(handle)
    server = Server(process=process, port=port, workers=workers, log_path=Path(log_name))
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{server.log_tail()}")
        status = _healthz(port)
        if status == 200:
            # Every worker must be up, not just the first: ask a few more times.
            for _ in range(4 * workers):
                _healthz(port)
            return server
        time.sleep(0.2)
    gunicorn_stop(server)
    raise RuntimeError(f"gunicorn did not answer /healthz within {START_TIMEOUT_S:.0f} s:\n{server.log_tail()}")


def gunicorn_stop(server: Server) -> None:
    """Graceful stop (SIGTERM to the master, which waits for its workers), then SIGKILL
    to the master if it is still there after ``STOP_TIMEOUT_S``."""
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=10)
    server.log_path.unlink(missing_ok=True)


@contextmanager
def gunicorn_serving(
    *,
    database_url: str,
    model_dir: str | Path,
    workers: int = DEFAULT_WORKERS,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Server]:
    server = gunicorn_start(database_url=database_url, model_dir=model_dir, workers=workers, extra_env=extra_env)
    try:
        yield server
    finally:
        gunicorn_stop(server)


def celery_worker_start(
    *, env: dict[str, str], log: Path, hostname: str, processes: int = 2, heartbeat: bool = True
) -> subprocess.Popen:
    """One Celery worker (prefork, ``processes`` children) as production runs it;
    returns once it logs that it is ready, or raises with its log. No gossip nor
    mingle: a bench's worker is alone, and those only slow its start."""
    command = [
        str(Path(sys.executable).with_name("celery")),
        "-A",
        "config",
        "worker",
        "--concurrency",
        str(processes),
        "--without-gossip",
        "--without-mingle",
        *([] if heartbeat else ["--without-heartbeat"]),
        "--loglevel",
        "INFO",
        "--hostname",
        f"{hostname}-{os.getpid()}@%h",
    ]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as handle:
        worker = subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if " ready." in log.read_text(errors="replace"):
            return worker
        if worker.poll() is not None:
            break
        time.sleep(0.2)
    celery_worker_stop(worker)
    raise RuntimeError(f"the Celery worker did not start: {log.read_text(errors='replace')[-2000:]}")


def celery_worker_stop(worker: subprocess.Popen) -> None:
    """Warm shutdown (SIGTERM: running tasks finish), SIGKILL after ``STOP_TIMEOUT_S``."""
    if worker.poll() is None:
        worker.terminate()
    try:
        worker.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


def api_token_create(*, database_url: str, name: str, scopes: list[str], model_dir: str | Path = "") -> str:
    """A channel system's token, made by the product's own command (``create_api_client``,
    which calls ``core.services.api_client_create``) against ``database_url``."""
    command = [sys.executable, str(ROOT / "manage.py"), "create_api_client", name]
    for scope in scopes:
        command += ["--scope", scope]
    env = server_env(database_url=database_url, model_dir=model_dir or tempfile.gettempdir())
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"create_api_client failed: {done.stderr.strip()[-2000:]}")
    token = done.stdout.strip().splitlines()[-1].strip()
    if not token.startswith("cx_"):
        raise RuntimeError(f"create_api_client printed no token: {done.stdout[-500:]!r}")
    return token


def get_json(server: Server, path: str, *, token: str = "", timeout: float = 30.0) -> tuple[int, bytes]:
    """One plain request (for warm-up and probes), returning status and body."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    try:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def post_json(server: Server, path: str, body: bytes, *, token: str, timeout: float = 30.0) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    try:
        connection.request(
            "POST",
            path,
            body=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()
