"""Real ASGI server processes and an independent NATS client, for end-to-end tests.

Everything here is synchronous: a test starts a server as a child process, talks
HTTP to it with httpx, publishes with its own nats-py connection (run in a short
``anyio.run``), and stops it with SIGTERM. Teardown always kills what is left.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import anyio
import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal

import nats
from anystream.testing import free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Combo:
    """One ASGI server with one event-loop backend."""

    id: str
    args: tuple[str, ...]

    def command(self, app: str, port: int, extra: tuple[str, ...] = ()) -> list[str]:
        if self.is_uvicorn:
            return [
                sys.executable,
                "-m",
                "uvicorn",
                *self.args,
                *extra,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                app,
            ]
        return [
            sys.executable,
            "-m",
            "hypercorn",
            *self.args,
            *extra,
            "-b",
            f"127.0.0.1:{port}",
            app,
        ]

    @property
    def is_uvicorn(self) -> bool:
        return self.id == "uvicorn"


HYPERCORN_TRIO = Combo("hypercorn-trio", ("--worker-class", "trio"))
HYPERCORN_ASYNCIO = Combo("hypercorn-asyncio", ("--worker-class", "asyncio"))
HYPERCORN_UVLOOP = Combo("hypercorn-uvloop", ("-k", "uvloop"))
UVICORN = Combo("uvicorn", ())

COMBOS = (HYPERCORN_TRIO, HYPERCORN_ASYNCIO, HYPERCORN_UVLOOP, UVICORN)


def expected_exit(combo: Combo) -> int:
    """Exit status after SIGTERM and a clean shutdown.

    hypercorn exits 0; uvicorn re-raises SIGTERM once its graceful shutdown is done,
    so its status is -SIGTERM (143 in a shell), as uvicorn documents.
    """
    return -signal.SIGTERM if combo.is_uvicorn else 0


class ServerProcess:
    """An ASGI server serving ``app`` (``module:attr``) on a free loopback port.

    Output (stdout and stderr) goes to ``log_path``; read it with :attr:`output`.
    """

    def __init__(
        self,
        combo: Combo,
        app: str,
        *,
        nats_url: str,
        log_path: Path,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.combo = combo
        self.extra_args = extra_args
        self.app = app
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.env = {**os.environ, "NATS_URL": nats_url, "PYTHONUNBUFFERED": "1"}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ServerProcess:
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                self.combo.command(self.app, self.port, self.extra_args),
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own process group: kill() takes hypercorn's worker children too.
                start_new_session=True,
            )
        return self

    @property
    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, path: str = "/", timeout: float = 20.0) -> None:
        """Until the server answers HTTP (any status); fail with its output if it dies."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"{self.combo.id} exited with {self.proc.returncode}:\n{self.output}"
                )
            try:
                httpx.get(self.base_url + path, timeout=1.0)
                return
            except httpx.TransportError:
                time.sleep(0.05)
        raise AssertionError(f"{self.combo.id} did not answer in {timeout} s:\n{self.output}")

    def wait_exit(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def terminate(self, timeout: float = 15.0) -> int:
        """SIGTERM, then wait for the exit status."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        """SIGKILL the server and every process it started (hypercorn's workers)."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=10.0)

    def raw_request(self, request: bytes, timeout: float = 5.0) -> bytes:
        """Send raw HTTP/1.1 bytes, read until the server closes (``Connection: close``)."""
        chunks = []
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as sock:
            sock.sendall(request)
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)

    def head(self, path: str) -> tuple[bytes, bytes]:
        """HEAD ``path``: (status line and headers, everything after the blank line)."""
        raw = self.raw_request(
            f"HEAD {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
        )
        head, _, rest = raw.partition(b"\r\n\r\n")
        return head, rest


#: ``GET /__runtime`` of an app served as ``probed(...)``.
StartServer = Callable[..., ServerProcess]


@contextmanager
def server_starter(tmp_path: Path) -> Iterator[StartServer]:
    """``start(combo, "examples.seed_ping:app", nats_url=...)``: a started server.

    Each one's output is captured to a file in ``tmp_path``; ``wait=False`` returns it
    before it answers HTTP; ``env`` is added to its environment. Whatever is still
    running when the block ends is killed.
    """
    started: list[ServerProcess] = []

    def start(
        combo: Combo,
        app: str,
        *,
        nats_url: str,
        extra_args: tuple[str, ...] = (),
        wait: bool = True,
        **env: str,
    ) -> ServerProcess:
        log_path = tmp_path / f"{combo.id}-{len(started)}.log"
        server = ServerProcess(
            combo, app, nats_url=nats_url, log_path=log_path, extra_args=extra_args
        )
        server.env.update(env)
        server.start()
        started.append(server)
        if wait:
            server.wait_ready()
        return server

    try:
        yield start
    finally:
        for server in started:
            server.kill()


PROBE = "tests.e2e.apps.runtime_probe:app"


def native_nats_runtime(server: ServerProcess) -> dict[str, object]:
    """What ``/__runtime`` reports; asserts NATS runs on anystream.nats with no bridge."""
    with server.client() as http:
        report: dict[str, object] = http.get("/__runtime").json()
    expected_backend = "trio" if server.combo is HYPERCORN_TRIO else "asyncio"
    assert report["backend"] == expected_backend, report
    assert report["trio_asyncio"] is False, report
    assert report["connections"] == ["anystream.nats.compat.client"], report
    return report


def exchange(nats_url: str, name: str, payload: str, *, timeout: float = 5.0) -> str | None:
    """Publish ``payload`` to ``<name>.in`` and return the app's reply on ``<name>.out``.

    Uses its own nats-py connection, so the app under test is seen from outside.
    None if no reply came within ``timeout`` seconds.
    """
    return anyio.run(_exchange, nats_url, name, payload, timeout, backend="asyncio")


async def _exchange(nats_url: str, name: str, payload: str, timeout: float) -> str | None:
    nc = await nats.connect(nats_url, connect_timeout=2, max_reconnect_attempts=0)
    try:
        sub = await nc.subscribe(f"{name}.out")
        await nc.flush()
        await nc.publish(f"{name}.in", payload.encode())
        try:
            msg = await sub.next_msg(timeout)
        except nats.errors.TimeoutError:
            return None
        return str(msg.data.decode())
    finally:
        await nc.close()


def receive(
    nats_url: str, subject: str, trigger: httpx.Client, path: str, *, timeout: float = 5.0
) -> tuple[httpx.Response, str | None]:
    """GET ``path`` while listening on ``subject``: (the response, the first message)."""
    return anyio.run(_receive, nats_url, subject, trigger, path, timeout, backend="asyncio")


async def _receive(
    nats_url: str, subject: str, trigger: httpx.Client, path: str, timeout: float
) -> tuple[httpx.Response, str | None]:
    nc = await nats.connect(nats_url, connect_timeout=2, max_reconnect_attempts=0)
    try:
        sub = await nc.subscribe(subject)
        await nc.flush()
        response = await anyio.to_thread.run_sync(trigger.get, path)
        try:
            msg = await sub.next_msg(timeout)
        except nats.errors.TimeoutError:
            return response, None
        return response, msg.data.decode()
    finally:
        await nc.close()


def eventually(check, *, timeout: float, interval: float = 0.2):  # type: ignore[no-untyped-def]
    """Call ``check`` until it returns a truthy value; return it, or the last value."""
    deadline = time.monotonic() + timeout
    value = check()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = check()
    return value


class Watcher:
    """A nats-py connection kept open across sync test steps (see :func:`watch`)."""

    def __init__(self, portal: BlockingPortal, nc: nats.NATS, subs: dict[str, object]) -> None:
        self._portal = portal
        self._nc = nc
        self._subs = subs

    def publish(self, subject: str, payload: str) -> None:
        self._portal.call(self._nc.publish, subject, payload.encode())
        self._portal.call(self._nc.flush)

    def next(self, subject: str, *, timeout: float) -> str | None:
        """The next message on ``subject``; None if none came within ``timeout``."""
        return self._portal.call(self._next, subject, timeout)

    async def _next(self, subject: str, timeout: float) -> str | None:
        sub = self._subs[subject]
        try:
            msg = await sub.next_msg(timeout)  # type: ignore[attr-defined]
        except nats.errors.TimeoutError:
            return None
        return str(msg.data.decode())


@contextmanager
def watch(nats_url: str, subjects: tuple[str, ...]) -> Iterator[Watcher]:
    """Subscribe to ``subjects`` from outside the app; messages queue up until read."""
    with start_blocking_portal(backend="asyncio") as portal:
        connect = partial(nats.connect, nats_url, connect_timeout=2, max_reconnect_attempts=0)
        nc = portal.call(connect)
        try:
            subs: dict[str, object] = {s: portal.call(nc.subscribe, s) for s in subjects}
            portal.call(nc.flush)
            yield Watcher(portal, nc, subs)
        finally:
            portal.call(nc.close)
