"""Delivery under failure, with real processes: Celery workers (solo pool, beat
inside) on Redis, PostgreSQL, an SMTP server and an HTTP push receiver on loopback.

- a worker killed with SIGKILL mid-delivery: another finishes; every offer
  arrives, and a repeat (at most one per kill) carries the same message id;
- a consent withdrawn while a campaign is delivered: nothing reaches that
  customer after the withdrawal commits;
- the push gateway down for a while: messages wait, retry and all arrive.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone

from campaigns import outbox
from campaigns.channels.push import push_gateway_save
from campaigns.models import Delivery, DeliveryStatus
from campaigns.outbox import OPEN
from customers.models import ContactDetails
from customers.services import consent_record
from decisioning.inputs import caches_clear
from tests.campaigns.campaign_setup import campaign_launched
from tests.campaigns.channels.conftest import free_port
from tests.decisioning.decision_setup import decision_bank_build

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
SENDER_DOMAIN = "bank.example"


@pytest.fixture(autouse=True)
def _postgresql_and_redis():
    if connection.vendor != "postgresql":
        pytest.skip("several processes share the outbox: needs PostgreSQL (the CI suite on PostgreSQL runs it)")
    import redis

    try:
        redis.Redis.from_url(_broker_url()).ping()
    except redis.RedisError:
        pytest.skip("needs Redis on 127.0.0.1:6379")


def _broker_url() -> str:
    # One Redis database per pytest-xdist process, so parallel tests never share a queue.
    index = int((os.environ.get("PYTEST_XDIST_WORKER") or "gw0").removeprefix("gw") or 0)
    return f"redis://127.0.0.1:6379/{10 - index % 4}"


@dataclass
class Arrival:
    message_id: str
    to: str
    at: float


@dataclass
class SlowSmtp:
    """An SMTP server that takes ``delay`` seconds per message and records arrivals."""

    port: int
    delay: float = 0.03
    arrivals: list[Arrival] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        await asyncio.sleep(self.delay)
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        self.arrivals.append(Arrival(str(message["Message-ID"]), envelope.rcpt_tos[0], time.time()))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp() -> Iterator[SlowSmtp]:
    from aiosmtpd.controller import Controller

    server = SlowSmtp(port=free_port())
    controller = Controller(server, hostname="127.0.0.1", port=server.port)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


class Workers:
    """Celery worker processes for this test's database and broker."""

    def __init__(self, tmp_path: Path, extra_env: dict[str, str]) -> None:
        self.tmp_path = tmp_path
        self.env = {
            **os.environ,
            "DATABASE_URL": _database_url(),
            "DB_CONN_MAX_AGE": "0",
            "CELERY_BROKER_URL": _broker_url(),
            "SECRET_KEY": "reliability-test",
            "DEFAULT_FROM_EMAIL": f"offers@{SENDER_DOMAIN}",
            "DELIVERY_CLAIM_TIMEOUT": "5",
            "DELIVERY_RETRY_SECONDS": "1",
            "DELIVERY_SWEEP_SECONDS": "1",
            "CAMPAIGN_SCHEDULE_SECONDS": "3600",
            "DECISION_WARM_UP": "false",
            **extra_env,
        }
        self.env.pop("PYTEST_XDIST_WORKER", None)
        self.processes: list[subprocess.Popen] = []
        self.names: list[str] = []

    def start(self, name: str) -> subprocess.Popen:
        log = open(self.tmp_path / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool",
                "solo",
                "--beat",
                "--schedule",
                str(self.tmp_path / f"{name}-beat"),
                "--hostname",
                f"{name}@%h",
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append(process)
        self.names.append(name)
        return process

    def kill(self, process: subprocess.Popen) -> None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)

    def log(self) -> str:
        return "\n".join((self.tmp_path / f"{name}.log").read_text()[-3000:] for name in self.names)


def _database_url() -> str:
    s = connection.settings_dict
    return f"postgres://{s['USER'] or 'postgres'}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _kick() -> None:
    """What a commit does in production: tell a worker there is work."""
    from celery import Celery

    app = Celery(broker=_broker_url(), set_as_current=False)
    app.send_task("campaigns.deliver")
    app.close()


@pytest.fixture
def workers(tmp_path, request) -> Iterator[Workers]:
    import redis

    redis.Redis.from_url(_broker_url()).flushdb()
    pool = Workers(tmp_path, getattr(request, "param", {}))
    yield pool
    pool.stop_all()


@pytest.fixture
def world(monkeypatch):
    caches_clear()
    bank = decision_bank_build()
    for customer in bank.bank.customers:
        ContactDetails.objects.update_or_create(
            customer=customer,
            defaults={
                "email": f"c{customer.pk}@example.org",
                "first_name": "Sam",
                "device_tokens": [f"device-{customer.pk}"],
                "received_at": timezone.now(),
            },
        )
    # Queue without delivering here: the workers under test do the sending.
    monkeypatch.setattr(outbox, "deliver_soon", lambda: None)
    return bank


def _open_count() -> int:
    return Delivery.objects.filter(status__in=OPEN).count()


def _wait(condition, timeout: float, what: str, workers: Workers) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} within {timeout} s; worker logs:\n{workers.log()}")


def _smtp_env(smtp: SlowSmtp) -> dict[str, str]:
    return {"EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(smtp.port), "EMAIL_TIMEOUT": "5"}


def test_a_worker_killed_mid_delivery_loses_nothing_and_repeats_at_most_one_message(world, smtp, workers):
    workers.env.update(_smtp_env(smtp))
    campaign_launched(world, control_percent="0")
    expected = {f"<{pk}@{SENDER_DOMAIN}>" for pk in Delivery.objects.values_list("public_id", flat=True)}
    assert len(expected) > 30

    # Given a worker delivering the campaign
    first = workers.start("first")
    _kick()
    _wait(lambda: len(smtp.arrivals) >= 10, 60, "10 messages delivered", workers)
    # When it is killed mid-delivery, and another takes over
    workers.kill(first)
    killed_at = len(smtp.arrivals)
    assert killed_at < len(expected), "the kill came after the last message: slow the SMTP server down"
    workers.start("second")
    _kick()
    # (its sweeper gives back the dead worker's claimed rows once their claim is stale)
    _wait(lambda: _open_count() == 0, 90, "every delivery finished", workers)

    # Then every offer arrived, and at most one twice, with the same message id
    arrived = Counter(a.message_id for a in smtp.arrivals)
    assert set(arrived) == expected
    assert sum(arrived.values()) - len(arrived) <= 1
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.SENT}


def test_nothing_is_sent_after_a_consent_withdrawal_commits(world, smtp, workers):
    workers.env.update(_smtp_env(smtp))
    smtp.delay = 0.05
    campaign_launched(world, control_percent="0")
    addresses = dict(ContactDetails.objects.values_list("customer_id", "email"))
    queued = list(Delivery.objects.order_by("customer_id").values_list("customer_id", flat=True).distinct())
    workers.start("sender")
    _kick()
    _wait(lambda: len(smtp.arrivals) >= 5, 60, "5 messages delivered", workers)

    # When the last third of the customers withdraw their email consent, mid-delivery
    withdrawing = set(queued[2 * len(queued) // 3 :])
    with transaction.atomic():
        for customer in world.bank.customers:
            if customer.pk in withdrawing:
                consent_record(
                    customer=customer,
                    channel="email",
                    purpose="marketing",
                    status="withdrawn",
                    effective_at=timezone.now(),
                    source="test",
                    actor=world.editor,
                    now=timezone.now(),
                )
    committed_at = time.time()
    assert len(smtp.arrivals) < len(queued), "the withdrawal came after the last message: slow the SMTP server down"
    _wait(lambda: _open_count() == 0, 90, "every delivery finished", workers)

    # Then no message reached any of them after their withdrawal committed
    late = [a for a in smtp.arrivals if a.to in {addresses[pk] for pk in withdrawing} and a.at > committed_at]
    assert late == []
    blocked = Delivery.objects.filter(status=DeliveryStatus.BLOCKED)
    assert blocked.exists()
    assert set(blocked.values_list("customer_id", flat=True)) <= set(withdrawing)


@dataclass
class FlakyGateway:
    url: str = ""
    down_for: float = 0.0  # seconds from the first request
    first_at: float = 0.0
    keys: list[str] = field(default_factory=list)
    refused: int = 0


@pytest.fixture
def gateway() -> Iterator[FlakyGateway]:
    state = FlakyGateway()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's hook name)
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            state.first_at = state.first_at or time.time()
            if time.time() < state.first_at + state.down_for:
                state.refused += 1
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            state.keys.append(self.headers["Idempotency-Key"])
            body = b'{"id": "ok"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/push"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def test_push_messages_wait_for_a_gateway_that_is_down_then_all_arrive(world, gateway, workers):
    push_gateway_save(
        url=gateway.url,
        secret="a-long-enough-gateway-secret",
        timeout_seconds=2,
        actor=world.editor,
        now=timezone.now(),
    )
    campaign_launched(world, channels=["push"], control_percent="0")
    expected = {str(pk) for pk in Delivery.objects.values_list("public_id", flat=True)}
    assert expected
    # Given the gateway down for 4 seconds from the first message
    gateway.down_for = 4.0
    workers.start("pusher")
    _kick()
    _wait(lambda: gateway.refused > 0, 30, "the gateway refused a message", workers)
    assert Delivery.objects.filter(status=DeliveryStatus.RETRY).exists()
    # Then the messages wait, are retried and all arrive, none lost
    _wait(lambda: _open_count() == 0, 120, "every delivery finished", workers)
    assert set(gateway.keys) == expected
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.SENT}
