"""The open-loop load generator (bench/loadgen.py) against a small local server:
fixed-rate schedule, latency from the scheduled time, status counting, keep-alive
and close, the max-rate search."""

from __future__ import annotations

import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from loadgen import Request, find_max_rate, percentile, run_open_loop  # noqa: E402


class _Handler(BaseHTTPRequestHandler):
    seen: list[tuple[str, str, bytes]] = []
    slow_lock = threading.Lock()

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def _answer(self, status: int, body: bytes = b"ok") -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        self.seen.append(("GET", self.path, b""))
        if self.path.startswith("/slow"):
            with self.slow_lock:  # one at a time: a server that serves 50 requests/s at most
                time.sleep(0.02)
            self._answer(200)
        elif self.path.startswith("/fail"):
            self._answer(500, b"boom")
        else:
            self._answer(200)

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append(("POST", self.path, body))
        self._answer(201, body)


class _KeepAliveHandler(_Handler):
    protocol_version = "HTTP/1.1"


@pytest.fixture
def server(request):
    handler = getattr(request, "param", _Handler)
    handler.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd.server_address[1], handler
    httpd.shutdown()
    httpd.server_close()


def test_requests_go_out_at_the_fixed_rate_each_built_by_the_callable(server):
    port, handler = server
    result = run_open_loop(
        host="127.0.0.1",
        port=port,
        rate=200,
        duration=0.5,
        make_request=lambda i: Request(method="POST", path=f"/c/{i}", body=f'{{"i":{i}}}'.encode()),
        connections=8,
    )
    assert result.scheduled == 100
    assert result.statuses == {"201": 100}
    assert result.errors == 0
    assert sorted(path for _, path, _ in handler.seen) == sorted(f"/c/{i}" for i in range(100))
    assert {body for _, _, body in handler.seen} == {f'{{"i":{i}}}'.encode() for i in range(100)}
    # Open loop: never faster than offered. (How close it comes to the rate depends on how
    # busy the machine is: that is a benchmark's business, not a test's.)
    assert 0 < result.achieved_rate <= 205
    summary = result.summary()
    assert summary["p50_ms"] <= summary["p90_ms"] <= summary["p99_ms"] <= summary["max_ms"]


def test_latency_counts_from_the_scheduled_time_not_from_when_a_connection_was_free(server):
    # The server serves 50/s; 100/s are offered on one connection for 0.3 s. A
    # closed-loop client would report about 20 ms each; the requests scheduled
    # late in the run waited behind the others, and that wait is latency.
    port, _ = server
    result = run_open_loop(
        host="127.0.0.1", port=port, rate=100, duration=0.3, make_request=lambda i: Request(path="/slow"), connections=1
    )
    assert result.ok == 30
    assert percentile(result.latencies, 50) > 0.1
    assert max(result.latencies) > 0.25
    assert result.achieved_rate < 0.97 * result.offered_rate
    assert max(result.send_lags) > 0.25


@pytest.mark.parametrize(("server", "opened"), [(_Handler, (40, 40)), (_KeepAliveHandler, (1, 4))], indirect=["server"])
def test_connections_are_reused_when_the_server_keeps_them_open(server, opened):
    port, _ = server
    result = run_open_loop(
        host="127.0.0.1", port=port, rate=200, duration=0.2, make_request=lambda i: Request(path="/"), connections=4
    )
    assert result.ok == 40
    # with keep-alive, at most one connection per slot of the pool (fewer when the machine is quick)
    low, high = opened
    assert low <= result.connections_opened <= high


def test_non_2xx_and_connection_failures_are_errors(server):
    port, _ = server
    failing = run_open_loop(
        host="127.0.0.1", port=port, rate=100, duration=0.1, make_request=lambda i: Request(path="/fail")
    )
    assert failing.statuses == {"500": 10}
    assert failing.errors == 10
    assert failing.achieved_rate == 0

    refused = run_open_loop(host="127.0.0.1", port=1, rate=100, duration=0.1, make_request=lambda i: Request())
    assert refused.errors == 10
    assert all(status.startswith("error:") for status in refused.statuses)


def test_requests_not_sent_before_the_drain_deadline_are_unsent(server):
    port, _ = server
    result = run_open_loop(
        host="127.0.0.1",
        port=port,
        rate=200,
        duration=0.2,
        drain=0.1,
        make_request=lambda i: Request(path="/slow"),
        connections=1,
    )
    assert result.unsent > 0
    assert result.errors >= result.unsent


def test_the_max_rate_search_steps_up_until_the_server_falls_behind(server):
    port, _ = server
    found = find_max_rate(
        host="127.0.0.1",
        port=port,
        make_request=lambda i: Request(path="/slow"),
        start_rate=5,
        step_duration=0.4,
        factor=4,
        refine=0,
        connections=1,
        pause=0,
    )
    assert found["max_rate"] == 20
    assert found["first_failing_rate"] == 80
    assert [s["passed"] for s in found["steps"]] == [True, True, False]
