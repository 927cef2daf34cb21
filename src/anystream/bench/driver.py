"""Run the benchmark: every target x every message rate, each part in its own process.

For each target a server process serves the app; for each rate a publisher process
(nats-py) offers messages while a load-generator process offers requests at a fixed
rate. Afterwards the app's ``/stats`` says how many messages it consumed. CPU use
is read from ``/proc`` for the server's whole process tree.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ..testing import NatsServer, free_port

__all__ = ("TARGETS", "PhaseResult", "Target", "run_benchmark")


@dataclass(frozen=True)
class Target:
    """A server command serving one app flavour."""

    name: str
    server: str  # "hypercorn-trio", "hypercorn-asyncio", "uvicorn"
    app: str  # "module:attribute"
    broker: bool = True  # False: a bare ASGI callable, measured at rate 0 only

    def command(self, port: int) -> list[str]:
        if self.server == "uvicorn":
            return [
                sys.executable,
                "-m",
                "uvicorn",
                self.app,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--no-access-log",
            ]
        worker = self.server.removeprefix("hypercorn-")
        return [
            sys.executable,
            "-m",
            "hypercorn",
            "-k",
            worker,
            "-w",
            "0",
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            self.app,
        ]


_SAMPLE = "anystream.bench.sample_app"

#: Every target the command knows, by name.
TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("anystream/hypercorn-trio", "hypercorn-trio", f"{_SAMPLE}:app"),
        Target("anystream/hypercorn-asyncio", "hypercorn-asyncio", f"{_SAMPLE}:app"),
        Target("anystream/uvicorn", "uvicorn", f"{_SAMPLE}:app"),
        Target("faststream/uvicorn", "uvicorn", f"{_SAMPLE}:faststream_app"),
        Target("bare/hypercorn-trio", "hypercorn-trio", f"{_SAMPLE}:bare", broker=False),
        Target("bare/hypercorn-asyncio", "hypercorn-asyncio", f"{_SAMPLE}:bare", broker=False),
        Target("bare/uvicorn", "uvicorn", f"{_SAMPLE}:bare", broker=False),
    )
}

DEFAULT_TARGETS = tuple(TARGETS)
DEFAULT_RATES: tuple[str, ...] = ("0", "1000", "5000", "max")


@dataclass
class PhaseResult:
    target: str
    rate: str
    #: Requests/s offered (open loop); None: closed loop, as fast as the server goes.
    request_rate: float | None
    requests_per_s: float
    latency_ms: dict[str, dict[str, float]]
    http_errors: int
    unsent: int
    published: int
    consumed: int | None
    consumed_per_s: float | None
    lost: int | None
    cpu_percent: float
    histograms: dict[str, Any] = field(repr=False, default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _tree_cpu_ticks(pid: int) -> int:
    """utime + stime of ``pid`` and all its descendants, in clock ticks."""
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        ticks[int(entry)] = int(fields[11]) + int(fields[12])
    members, frontier = {pid}, [pid]
    while frontier:
        current = frontier.pop()
        for child, parent in parents.items():
            if parent == current and child not in members:
                members.add(child)
                frontier.append(child)
    return sum(ticks.get(p, 0) for p in members)


@contextmanager
def _serving(
    target: Target, nats_url: str, log: Path
) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    port = free_port()
    env = {**os.environ, "NATS_URL": nats_url}
    with open(log, "ab") as out:
        proc = subprocess.Popen(target.command(port), env=env, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{target.name} exited with {proc.returncode}; see {log}")
            try:
                httpx.get(f"http://127.0.0.1:{port}/hello", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{target.name} did not answer within 30 s") from None
                time.sleep(0.1)
        yield port, proc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _consumed(port: int) -> int | None:
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/stats", timeout=5)
        return int(response.json()["consumed"])
    except (httpx.HTTPError, ValueError, KeyError):
        return None


def _phase(
    target: Target,
    port: int,
    server: subprocess.Popen[bytes],
    nats_url: str,
    rate: str,
    *,
    duration: float,
    request_rate: float | None,
    connections: int,
    paths: Sequence[str],
) -> PhaseResult:
    before = _consumed(port) if target.broker else None
    helpers = [
        [
            sys.executable, "-m", "anystream.bench.loadgen", "--port", str(port),
            "--rate", "max" if request_rate is None else str(request_rate),
            "--duration", str(duration),
            "--connections", str(connections), "--paths", ",".join(paths), "--handshake",
        ]
    ]
    if rate != "0":
        helpers.append(
            [
                sys.executable, "-m", "anystream.bench.publisher", "--url", nats_url,
                "--rate", rate, "--duration", str(duration), "--handshake",
            ]
        )
    procs = [
        subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE) for cmd in helpers
    ]
    # Both helpers are imported (and the publisher connected) before the clock starts.
    for proc in procs:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != b"ready":
            raise RuntimeError(f"a benchmark helper failed to start: {' '.join(helpers[0][2:4])}")
    start = time.monotonic() + 0.2
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(f"{start}\n".encode())
        proc.stdin.close()
    loadgen = procs[0]
    publisher = procs[1] if len(procs) > 1 else None
    cpu_before = _tree_cpu_ticks(server.pid)
    time.sleep(max(0.0, start - time.monotonic()))
    wall_before = time.monotonic()
    assert loadgen.stdout is not None
    load_out = loadgen.stdout.read()
    loadgen.wait(timeout=duration * 3 + 30)
    published = 0
    if publisher is not None:
        assert publisher.stdout is not None
        pub_out = publisher.stdout.read()
        publisher.wait(timeout=duration * 3 + 30)
        published = int(json.loads(pub_out or b"{}").get("published", 0))
    cpu = (_tree_cpu_ticks(server.pid) - cpu_before) / os.sysconf("SC_CLK_TCK")
    cpu_percent = round(100 * cpu / max(1e-9, time.monotonic() - wall_before), 1)
    consumed = lost = None
    consumed_per_s = None
    if target.broker and before is not None:
        # Let the backlog drain briefly, then count what arrived.
        deadline = time.monotonic() + 3.0
        after = _consumed(port)
        while after is not None and after - before < published and time.monotonic() < deadline:
            time.sleep(0.1)
            after = _consumed(port)
        if after is not None:
            consumed = after - before
            lost = max(0, published - consumed)
            consumed_per_s = round(consumed / duration, 1)
    load = json.loads(load_out or b"{}")
    per_path = load.get("paths", {})
    return PhaseResult(
        target=target.name,
        rate=rate,
        request_rate=request_rate,
        requests_per_s=float(load.get("requests_per_s", 0.0)),
        latency_ms={p: d["latency_ms"] for p, d in per_path.items()},
        http_errors=sum(d["errors"] for d in per_path.values()),
        unsent=int(load.get("unsent", 0)),
        published=published,
        consumed=consumed,
        consumed_per_s=consumed_per_s,
        lost=lost,
        cpu_percent=cpu_percent,
        histograms={p: d["histogram"] for p, d in per_path.items()},
    )


def run_benchmark(
    targets: Sequence[Target],
    rates: Sequence[str],
    *,
    duration: float,
    request_rate: float,
    connections: int,
    nats_url: str | None,
    log_dir: Path,
    progress: Callable[[str, int, int], None] = lambda label, done, total: None,
) -> list[PhaseResult]:
    """Every target at every rate (bare targets at rate 0 only); results in order.

    Each target starts with a throughput phase: no messages, ``/hello`` closed loop
    (``request_rate`` None), for its requests/s ceiling.
    """
    plan = [(t, r) for t in targets for r in ("ceiling", *(rates if t.broker else ("0",)))]
    results: list[PhaseResult] = []
    log_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        url = nats_url or stack.enter_context(NatsServer()).url
        for target in targets:
            phases = [r for t, r in plan if t is target]
            log = log_dir / f"{target.name.replace('/', '_')}.log"
            with _serving(target, url, log) as (port, proc):
                for rate in phases:
                    progress(f"{target.name} @ {rate} msgs/s", len(results), len(plan))
                    ceiling = rate == "ceiling"
                    results.append(
                        _phase(
                            target,
                            port,
                            proc,
                            url,
                            "0" if ceiling else rate,
                            duration=duration,
                            request_rate=None if ceiling else request_rate,
                            connections=connections,
                            paths=("/hello",) if ceiling else ("/health", "/hello"),
                        )
                    )
        progress("done", len(results), len(plan))
    return results
