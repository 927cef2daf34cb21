"""``anystream demo``: an embedded nats-server, the demo app under hypercorn, a short tour.

It starts a real ``nats-server`` on a free loopback port, serves
:mod:`anystream.cli._demo_app` with ``hypercorn --worker-class trio`` (or asyncio) in a
child process, publishes a few orders with its own nats-py client, reads back what
the app consumed (``GET /stats``), calls ``/health`` and ``/docs``, stops the
server with SIGTERM and prints what it saw. Everything is bounded in time.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import anyio

from . import CLIError

__all__ = ("add_parser", "main")

T = TypeVar("T")

APP = "anystream.cli._demo_app:app"
SUBJECT = "demo.orders"
ITEMS = ("tea", "coffee", "cake", "scone", "jam", "bread", "honey", "milk")
#: Seconds each stage may take; the whole demo stays well under 30 s.
START_TIMEOUT = 15.0
CONSUME_TIMEOUT = 5.0
STOP_TIMEOUT = 8.0


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run a FastStream app under hypercorn with an embedded nats-server",
        description=(
            "Start an embedded nats-server, serve anystream's demo app with hypercorn, "
            "publish a few messages, show that the app consumed them and answers "
            "/health and /docs, then stop everything."
        ),
    )
    parser.add_argument(
        "-k",
        "--worker-class",
        choices=("trio", "asyncio"),
        default="trio",
        help="hypercorn worker class (default: trio)",
    )
    parser.add_argument(
        "-n",
        "--messages",
        type=int,
        default=5,
        metavar="N",
        help="how many orders to publish, 1 to 1000 (default: 5)",
    )


@dataclass
class Report:
    lines: list[tuple[str, str]] = field(default_factory=list)
    ok: bool = True

    def add(self, label: str, text: str, *, ok: bool = True) -> None:
        self.lines.append((label, text))
        self.ok = self.ok and ok
        print(f"  {'ok  ' if ok else 'FAIL'} {label:<16} {text}", flush=True)


def main(args: argparse.Namespace, extra: list[str]) -> int:
    if extra:
        raise CLIError(f"unrecognized arguments: {' '.join(extra)}")
    if not 1 <= args.messages <= 1000:
        raise CLIError(f"--messages must be between 1 and 1000, got {args.messages}")
    try:
        import httpx  # noqa: F401

        from ..testing import NatsServer, nats_server_binary

        nats_server_binary()
    except (ImportError, FileNotFoundError) as exc:
        raise CLIError(f"the demo needs its extra: pip install 'anystream[demo]' ({exc})") from None

    print(f"anystream demo: {APP} under hypercorn --worker-class {args.worker_class}")
    report = Report()
    with ExitStack() as stack:
        nats = stack.enter_context(NatsServer())
        report.add("nats-server", f"{nats.url} (embedded)")
        log_path = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "server.log"
        server = stack.enter_context(_serve(args.worker_class, nats.url, log_path))
        _tour(server, nats.url, args.messages, report)
        code = server.stop()
        clean = code == 0 and "shutdown failed" not in server.output()
        report.add("SIGTERM", f"hypercorn exited with {code}", ok=clean)
        if not report.ok:
            print("\n--- server output ---\n" + server.output()[-4000:], file=sys.stderr)
    print("demo OK" if report.ok else "demo FAILED")
    return 0 if report.ok else 1


class _Server:
    def __init__(self, proc: subprocess.Popen[bytes], base_url: str, log_path: Path) -> None:
        self.proc = proc
        self.base_url = base_url
        self.log_path = log_path

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@contextmanager
def _serve(worker_class: str, nats_url: str, log_path: Path) -> Iterator[_Server]:
    from ..testing import free_port

    port = free_port()
    command = [
        sys.executable,
        "-m",
        "hypercorn",
        "--worker-class",
        worker_class,
        "--bind",
        f"127.0.0.1:{port}",
        APP,
    ]
    env = {**os.environ, "NATS_URL": nats_url, "PYTHONUNBUFFERED": "1"}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = _Server(proc, f"http://127.0.0.1:{port}", log_path)
    try:
        yield server
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _tour(server: _Server, nats_url: str, messages: int, report: Report) -> None:
    import httpx

    started = time.monotonic()
    with httpx.Client(base_url=server.base_url, timeout=5.0) as http:
        if not _wait_ready(server, http):
            report.add("app", f"did not start within {START_TIMEOUT:.0f} s", ok=False)
            return
        report.add(
            "app",
            f"{server.base_url} (ready in {time.monotonic() - started:.1f} s)",
        )

        quantities = [1 + i % 3 for i in range(1, messages + 1)]
        orders: list[dict[str, object]] = [
            {"id": i, "item": ITEMS[i % len(ITEMS)], "quantity": q}
            for i, q in enumerate(quantities, start=1)
        ]
        anyio.run(_publish, nats_url, orders, backend="asyncio")
        items = sum(quantities)
        report.add("published", f"{messages} orders ({items} items) to {SUBJECT}")

        stats = _until(
            lambda: http.get("/stats").json(),
            lambda s: s.get("orders", 0) >= messages,
            CONSUME_TIMEOUT,
        )
        consumed = stats.get("orders", 0)
        report.add(
            "consumed",
            f"{consumed} orders, {stats.get('items', 0)} items (GET /stats -> {json.dumps(stats)})",
            ok=consumed == messages and stats.get("items") == items,
        )

        health = http.get("/health")
        report.add("GET /health", f"{health.status_code}", ok=health.status_code == 204)

        docs = http.get("/docs")
        report.add(
            "GET /docs",
            f"{docs.status_code}, {len(docs.content)} bytes of AsyncAPI HTML",
            ok=docs.status_code == 200 and "text/html" in docs.headers.get("content-type", ""),
        )
        schema = http.get("/docs.json")
        channels = sorted(schema.json().get("channels", {})) if schema.status_code == 200 else []
        report.add(
            "GET /docs.json",
            f"{schema.status_code}, channels: {', '.join(channels) or '-'}",
            ok=schema.status_code == 200 and bool(channels),
        )


def _wait_ready(server: _Server, http: Any) -> bool:
    import httpx

    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and server.proc.poll() is None:
        try:
            http.get("/health", timeout=1.0)
            return True
        except httpx.TransportError:
            time.sleep(0.05)
    return False


def _until(fetch: Callable[[], T], done: Callable[[T], bool], timeout: float) -> T:
    deadline = time.monotonic() + timeout
    value = fetch()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(0.05)
        value = fetch()
    return value


async def _publish(nats_url: str, orders: list[dict[str, object]]) -> None:
    import nats

    client = await nats.connect(nats_url, connect_timeout=2, max_reconnect_attempts=0)
    try:
        for order in orders:
            await client.publish(SUBJECT, json.dumps(order).encode())
        await client.flush(timeout=5)
    finally:
        await client.close()
