#!/usr/bin/env python
"""An open-loop HTTP/1.1 load generator for loopback benchmarks.

Requests are scheduled at a fixed rate (constant inter-arrival) whatever the
server does, and each request's latency is measured from the time it was
*scheduled*, not from when a connection happened to be free to send it. A
closed-loop client (send, wait, send) slows down with the server and so hides
its stalls ("coordinated omission"); here a stall shows up in the latency of
every request that should have gone out meanwhile.

    .venv/bin/python bench/loadgen.py http://127.0.0.1:8000/healthz --rate 500 --duration 10
    .venv/bin/python bench/loadgen.py http://127.0.0.1:8000/api/v1/whoami -H "Authorization: Bearer cx_..." --max

How: one asyncio event loop with a bounded pool of ``connections`` workers. Worker
``k`` takes the next request index ``i`` (scheduled at ``start + i / rate``),
sleeps until then if it is early, sends it on its connection (opening a new one
when the server closed the last, as gunicorn's sync workers do after every
response), reads the whole response and records ``done - scheduled``. When every
worker is busy the schedule runs on and the queue of late requests grows, which
is the latency a real client would see. Requests still unsent ``drain`` seconds
after the schedule ends are counted as ``unsent``. The client's own CPU share is
reported so a saturated generator is not mistaken for a slow server.

The last line printed by the command is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

try:
    import uvloop
except ImportError:  # the standard event loop measures the same, at a higher cost in CPU
    uvloop = None

DEFAULT_CONNECTIONS = 32
ACCEPT_SHARE = 0.97  # max-rate mode: a step passes when achieved >= 97% of offered, with no error
REQUEST_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Request:
    """One request; ``path`` includes any query string."""

    method: str = "GET"
    path: str = "/"
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()


RequestFactory = Callable[[int], Request]


def request_encode(request: Request, host: str) -> bytes:
    lines = [f"{request.method} {request.path} HTTP/1.1", f"Host: {host}"]
    lines.extend(f"{name}: {value}" for name, value in request.headers)
    if request.body or request.method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(request.body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + request.body


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


@dataclass
class LoadResult:
    """What one open-loop run measured. Latencies and send lags are in seconds."""

    offered_rate: float
    duration_s: float
    connections: int
    scheduled: int
    latencies: list[float] = field(default_factory=list)
    send_lags: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    unsent: int = 0
    elapsed_s: float = 0.0
    client_cpu_s: float = 0.0
    connections_opened: int = 0

    @property
    def completed(self) -> int:
        return len(self.latencies)

    @property
    def ok(self) -> int:
        return sum(n for status, n in self.statuses.items() if status.startswith("2"))

    @property
    def errors(self) -> int:
        """Everything but a 2xx: other statuses, connection failures, timeouts and unsent requests."""
        return self.scheduled - self.ok

    @property
    def achieved_rate(self) -> float:
        """Successful responses per second over the schedule, stretched to the last
        response when the server ran late."""
        return self.ok / max(self.duration_s, self.elapsed_s) if self.elapsed_s else 0.0

    def summary(self) -> dict:
        ms = [x * 1000 for x in self.latencies]
        return {
            "offered_rate": round(self.offered_rate, 1),
            "achieved_rate": round(self.achieved_rate, 1),
            "duration_s": round(self.duration_s, 2),
            "elapsed_s": round(self.elapsed_s, 2),
            "connections": self.connections,
            "scheduled": self.scheduled,
            "ok": self.ok,
            "errors": self.errors,
            "unsent": self.unsent,
            "statuses": dict(sorted(self.statuses.items())),
            "p50_ms": _round(percentile(ms, 50)),
            "p90_ms": _round(percentile(ms, 90)),
            "p99_ms": _round(percentile(ms, 99)),
            "max_ms": _round(max(ms) if ms else math.nan),
            "send_lag_p99_ms": _round(percentile([x * 1000 for x in self.send_lags], 99)),
            "client_cpu_share": round(self.client_cpu_s / self.elapsed_s, 2) if self.elapsed_s else None,
            "connections_opened": self.connections_opened,
        }


def _round(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 2)


async def _response_read(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one whole response; return (status, whether the connection stays open)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    version, status, *_ = lines[0].split(b" ", 2)
    length: int | None = None
    chunked = False
    keep_alive = version == b"HTTP/1.1"
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            keep_alive = value.strip().lower() != b"close"
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length is not None:
        await reader.readexactly(length)
    else:  # the body runs to the end of the connection
        await reader.read()
        keep_alive = False
    return int(status), keep_alive


async def _run(
    *, host: str, port: int, rate: float, duration: float, make_request: RequestFactory, connections: int, drain: float
) -> LoadResult:
    # perf_counter, not loop.time(): uvloop's clock ticks in whole milliseconds.
    clock = time.perf_counter
    interval = 1.0 / rate
    scheduled = max(1, math.ceil(duration * rate))
    result = LoadResult(offered_rate=rate, duration_s=duration, connections=connections, scheduled=scheduled)
    host_header = f"{host}:{port}"
    next_index = 0
    last_done = 0.0
    start = clock() + 0.05  # let every worker reach its first sleep
    deadline = start + duration + drain

    async def worker() -> None:
        nonlocal next_index, last_done
        stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        while next_index < scheduled:
            i = next_index
            next_index += 1
            due = start + i * interval
            wait = due - clock()
            if wait > 0:
                await asyncio.sleep(wait)
            sent = clock()
            if sent >= deadline:
                result.unsent += 1
                continue
            payload = request_encode(make_request(i), host_header)
            try:
                async with asyncio.timeout(min(deadline - sent, REQUEST_TIMEOUT_S)):
                    if stream is None:
                        stream = await asyncio.open_connection(host, port)
                        result.connections_opened += 1
                    reader, writer = stream
                    writer.write(payload)
                    status, keep_alive = await _response_read(reader)
            except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
                result.statuses[f"error:{type(exc).__name__}"] += 1
                if stream is not None:
                    stream[1].close()
                stream = None
                continue
            done = clock()
            last_done = max(last_done, done)
            result.latencies.append(done - due)
            result.send_lags.append(sent - due)
            result.statuses[str(status)] += 1
            if not keep_alive:
                writer.close()
                stream = None
        if stream is not None:
            stream[1].close()

    cpu = time.process_time()
    await asyncio.gather(*(worker() for _ in range(connections)))
    result.client_cpu_s = time.process_time() - cpu
    result.elapsed_s = max(last_done, clock()) - start
    return result


def _loop_run(coroutine: Any) -> Any:
    # uvloop's event loop (libuv, in C) spends about half the CPU per request of the
    # standard library's: the generator shares the machine with the server it measures.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop if uvloop else None) as runner:
        return runner.run(coroutine)


def _asyncio_run(make: Callable[[], Any]) -> Any:
    """``asyncio.run``, in a thread of its own when this thread already runs an event
    loop (Playwright's sync API keeps one in the test process)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _loop_run(make())
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = _loop_run(make())
        except BaseException as exc:  # handed back to the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="loadgen")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def run_open_loop(
    *,
    host: str,
    port: int,
    rate: float,
    duration: float,
    make_request: RequestFactory,
    connections: int = DEFAULT_CONNECTIONS,
    drain: float | None = None,
) -> LoadResult:
    """Offer ``rate`` requests/s for ``duration`` seconds; ``make_request(i)`` builds
    request ``i`` (so each can pick a different customer). Requests not sent within
    ``drain`` seconds (default: the duration, at least 2 s) after the schedule ends
    are given up and counted as unsent."""
    if rate <= 0 or duration <= 0:
        raise ValueError("rate and duration must be positive")
    drain = max(2.0, duration) if drain is None else drain
    # A collection pause in the generator would be charged to the server.
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _asyncio_run(
            lambda: _run(
                host=host,
                port=port,
                rate=rate,
                duration=duration,
                make_request=make_request,
                connections=connections,
                drain=drain,
            )
        )
    finally:
        if was_enabled:
            gc.enable()


def step_passed(result: LoadResult, accept: float = ACCEPT_SHARE) -> bool:
    return result.errors == 0 and result.achieved_rate >= accept * result.offered_rate


def find_max_rate(
    *,
    host: str,
    port: int,
    make_request: RequestFactory,
    start_rate: float,
    step_duration: float,
    factor: float = 1.25,
    refine: int = 1,
    max_rate: float = 50_000,
    connections: int = DEFAULT_CONNECTIONS,
    pause: float = 0.5,
    accept: float = ACCEPT_SHARE,
    log: Callable[[str], None] | None = None,
) -> dict:
    """The highest offered rate the server keeps up with: achieved >= ``accept`` x
    offered and not one error.

    1. Step the rate up by ``factor`` from ``start_rate`` until a step fails (or
       down by the same factor, a few times, when the first one fails).
    2. Bisect ``refine`` times between the last passing and the first failing rate.
    Each step is a fresh open-loop run of ``step_duration`` seconds, after a short
    pause so the server's queue from the step before has drained."""
    steps: list[dict] = []

    def attempt(rate: float) -> bool:
        result = run_open_loop(
            host=host,
            port=port,
            rate=rate,
            duration=step_duration,
            make_request=make_request,
            connections=connections,
            drain=max(1.0, step_duration / 2),
        )
        passed = step_passed(result, accept)
        steps.append({**result.summary(), "passed": passed})
        if log:
            s = result.summary()
            log(
                f"  {rate:8.1f}/s offered -> {s['achieved_rate']:8.1f}/s, p50 {s['p50_ms']} ms, "
                f"p99 {s['p99_ms']} ms, errors {s['errors']}, client cpu {s['client_cpu_share']}"
                f" {'ok' if passed else 'FAIL'}"
            )
        time.sleep(pause)
        return passed

    best: float | None = None
    failed: float | None = None
    rate = start_rate
    if attempt(rate):
        best = rate
        while rate * factor <= max_rate:
            rate *= factor
            if not attempt(rate):
                failed = rate
                break
            best = rate
    else:
        failed = rate
        for _ in range(4):
            rate /= factor
            if attempt(rate):
                best = rate
                break
            failed = rate
    if best is not None and failed is not None:
        for _ in range(refine):
            middle = (best + failed) / 2
            if attempt(middle):
                best = middle
            else:
                failed = middle
    best_step = next((s for s in reversed(steps) if s["passed"] and s["offered_rate"] == round(best, 1)), None)
    return {
        "max_rate": round(best, 1) if best is not None else None,
        "first_failing_rate": round(failed, 1) if failed is not None else None,
        "achieved_rate": best_step["achieved_rate"] if best_step else None,
        "p50_ms": best_step["p50_ms"] if best_step else None,
        "p99_ms": best_step["p99_ms"] if best_step else None,
        "step_seconds": step_duration,
        "steps": steps,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="http://host:port/path")
    parser.add_argument("--rate", type=float, default=100.0, help="requests/s offered (start rate with --max)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds (per step with --max)")
    parser.add_argument("--connections", type=int, default=DEFAULT_CONNECTIONS)
    parser.add_argument("--method", default="GET")
    parser.add_argument("--data", default="", help="request body")
    parser.add_argument("-H", "--header", action="append", default=[], help="'Name: value', repeatable")
    parser.add_argument("--max", action="store_true", help="step the rate up to the highest one sustained")
    args = parser.parse_args()

    url = urlsplit(args.url)
    if url.scheme != "http" or not url.hostname:
        parser.error("only http://host[:port]/path URLs")
    headers = tuple((name.strip(), value.strip()) for name, _, value in (h.partition(":") for h in args.header))
    if args.data and not any(name.lower() == "content-type" for name, _ in headers):
        headers += (("Content-Type", "application/json"),)
    request = Request(
        method=args.method.upper(),
        path=(url.path or "/") + (f"?{url.query}" if url.query else ""),
        body=args.data.encode(),
        headers=headers,
    )
    port = url.port or 80

    def log(line: str) -> None:
        print(line, file=sys.stderr)

    if args.max:
        out = find_max_rate(
            host=url.hostname,
            port=port,
            make_request=lambda i: request,
            start_rate=args.rate,
            step_duration=args.duration,
            connections=args.connections,
            log=log,
        )
        log(f"max sustained rate: {out['max_rate']}/s (p99 {out['p99_ms']} ms there)")
    else:
        result = run_open_loop(
            host=url.hostname,
            port=port,
            rate=args.rate,
            duration=args.duration,
            make_request=lambda i: request,
            connections=args.connections,
        )
        out = result.summary()
        log(
            f"{out['offered_rate']}/s offered, {out['achieved_rate']}/s achieved; p50 {out['p50_ms']} ms, "
            f"p90 {out['p90_ms']} ms, p99 {out['p99_ms']} ms, max {out['max_ms']} ms; statuses {out['statuses']}"
        )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
