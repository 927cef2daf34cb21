"""Run the benchmark: every target x every message rate, each part in its own process.

For each target a server process serves the app; for each rate a publisher process
(nats-py) offers messages while a load-generator process offers requests at a fixed
rate. Afterwards the app's ``/stats`` says how many messages it consumed. CPU use
is read from ``/proc`` for the server's whole process tree.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
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
        if self.server == "null":
            return [sys.executable, "-m", "anystream.bench.null_server", "--port", str(port)]
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

#: Not a server under test: the load generator against a server that does nothing,
#: closed loop, measured first. Every requests/s figure must stay well under it.
LOADGEN_CEILING = Target("loadgen/null", "null", "", broker=False)

DEFAULT_TARGETS = tuple(TARGETS)
#: After a phase, how long the app may go on consuming its backlog before it is counted.
DRAIN_SECONDS = 3.0
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
    #: The load generator's own CPU and how late its scheduler was (is it the bottleneck?).
    loadgen_cpu_percent: float | None = None
    schedule_lag_ms: dict[str, float] | None = None
    #: Messages due on the publisher's schedule (``published`` is what it managed).
    offered: int = 0
    publisher_cpu_percent: float | None = None
    #: Why messages were lost: nats-py dropped them (subscription queue full, counted
    #: by anystream's app), or nats-server cut the app off as a slow consumer.
    client_dropped: int | None = None
    slow_consumers: int | None = None

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


def _app_stats(port: int) -> dict[str, Any]:
    """The app's ``/stats``: ``consumed`` (and ``client_dropped`` for anystream's app)."""
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/stats", timeout=5)
        data = response.json()
        return data if isinstance(data, dict) and "consumed" in data else {}
    except (httpx.HTTPError, ValueError):
        return {}


def _slow_consumers(monitor_port: int | None) -> int | None:
    """nats-server's count of slow-consumer events so far (embedded server only)."""
    if monitor_port is None:
        return None
    try:
        response = httpx.get(f"http://127.0.0.1:{monitor_port}/varz", timeout=5)
        return int(response.json()["slow_consumers"])
    except (httpx.HTTPError, ValueError, KeyError):
        return None


def _delta(after: Any, before: Any) -> int | None:
    if after is None or before is None:
        return None
    return int(after) - int(before)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class _Helper:
    """A long-lived helper process (load generator or publisher), see :mod:`.helper`."""

    def __init__(self, name: str, command: list[str], log: Path) -> None:
        self.name = name
        with open(log, "ab") as err:
            # Unbuffered: select() must see every line the helper writes.
            self.proc = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, bufsize=0
            )

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(f"{line}\n".encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise RuntimeError(f"the {self.name} exited ({self.proc.poll()})") from None

    def expect(self, word: str, timeout: float) -> None:
        """Wait for ``word`` on the helper's stdout (a line) for up to ``timeout`` s."""
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline().strip().decode() if ready else None
        if line != word:
            if line is None:
                raise RuntimeError(f"the {self.name} did not answer within {timeout:g} s")
            raise RuntimeError(f"the {self.name} exited ({self.proc.poll()}); see its log")

    def answered(self, timeout: float) -> bool:
        """Whether a line is waiting on stdout within ``timeout`` s."""
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        return bool(ready)

    def close(self) -> None:
        if self.proc.stdin is not None:
            with suppress(BrokenPipeError):
                self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@contextmanager
def _helper(name: str, command: list[str], log: Path) -> Iterator[_Helper]:
    helper = _Helper(name, command, log)
    try:
        yield helper
    finally:
        helper.close()


def _phase(
    target: Target,
    port: int,
    server: subprocess.Popen[bytes],
    rate: str,
    *,
    loadgen: _Helper,
    publisher: _Helper | None,
    duration: float,
    request_rate: float | None,
    connections: int,
    paths: Sequence[str],
    work_dir: Path,
    monitor_port: int | None = None,
    tick: Callable[[float], None] = lambda fraction: None,
    subject: str = "bench.orders",
) -> PhaseResult:
    before = _app_stats(port) if target.broker else {}
    slow_before = _slow_consumers(monitor_port)
    load_file, pub_file = work_dir / "loadgen.json", work_dir / "publisher.json"
    for stale in (load_file, pub_file):
        stale.unlink(missing_ok=True)
    commands: list[tuple[_Helper, dict[str, Any]]] = [
        (
            loadgen,
            {
                "port": port,
                "rate": "max" if request_rate is None else request_rate,
                "duration": duration,
                "connections": connections,
                "paths": list(paths),
                "result": str(load_file),
            },
        )
    ]
    if rate != "0":
        assert publisher is not None
        commands.append(
            (
                publisher,
                {"rate": rate, "duration": duration, "subject": subject, "result": str(pub_file)},
            )
        )
    # Every helper is ready (the publisher connected) before the common clock starts.
    for helper, command in commands:
        helper.send(json.dumps(command))
    for helper, _ in commands:
        helper.expect("ready", timeout=30)
    start = time.monotonic() + 0.1
    for helper, _ in commands:
        helper.send(repr(start))
    cpu_before = _tree_cpu_ticks(server.pid)
    time.sleep(max(0.0, start - time.monotonic()))
    wall_before = time.monotonic()
    deadline = wall_before + duration * 3 + 30
    # Progress while the phase runs; the helpers write their figures to files.
    for helper, _ in commands:
        while not helper.answered(0.25):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{target.name}: the {helper.name} did not finish")
            tick(min(0.99, (time.monotonic() - wall_before) / duration))
        helper.expect("done", timeout=1)
    phase_end = time.monotonic()
    cpu = (_tree_cpu_ticks(server.pid) - cpu_before) / os.sysconf("SC_CLK_TCK")
    cpu_percent = round(100 * cpu / max(1e-9, phase_end - wall_before), 1)
    load = _read_json(load_file)
    if not load:
        raise RuntimeError(f"{target.name}: the load generator wrote no result")
    pub = _read_json(pub_file) if rate != "0" else {}
    published = int(pub.get("published", 0))
    consumed = lost = client_dropped = None
    consumed_per_s = None
    if target.broker and before:
        # Let the backlog drain (at most 3 s; until every message arrived or the count
        # stops moving), then count. The rate is over the time consumption went on.
        drain_until = phase_end + DRAIN_SECONDS
        after, last_change = _app_stats(port), phase_end
        while after and after["consumed"] - before["consumed"] < published:
            if time.monotonic() > drain_until or time.monotonic() - last_change > 0.5:
                break
            time.sleep(0.02)
            latest = _app_stats(port)
            if latest and latest["consumed"] != after["consumed"]:
                last_change = time.monotonic()
            after = latest or after
        if after:
            consumed = int(after["consumed"]) - int(before["consumed"])
            lost = max(0, published - consumed)
            consumed_per_s = round(consumed / max(duration, last_change - wall_before), 1)
            client_dropped = _delta(after.get("client_dropped"), before.get("client_dropped"))
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
        loadgen_cpu_percent=load.get("cpu_percent"),
        schedule_lag_ms=load.get("schedule_lag_ms"),
        offered=int(pub.get("offered", 0)),
        publisher_cpu_percent=pub.get("cpu_percent"),
        client_dropped=client_dropped,
        slow_consumers=_delta(_slow_consumers(monitor_port), slow_before),
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
    progress: Callable[[str, float, int], None] = lambda label, done, total: None,
    loadgen_ceiling: bool = True,
    subject: str = "bench.orders",
) -> list[PhaseResult]:
    """Every target at every rate (bare targets at rate 0 only); results in order.

    Each target starts with a throughput phase: no messages, ``/hello`` closed loop
    (``request_rate`` None), for its requests/s ceiling. With ``loadgen_ceiling`` the
    first phase of all is the load generator against a server that does nothing
    (target ``loadgen/null``): the most requests/s the load generator can drive here.
    """
    servers = ([LOADGEN_CEILING] if loadgen_ceiling else []) + list(targets)
    plan = [(t, r) for t in servers for r in ("ceiling", *(rates if t.broker else ("0",)))]
    plan = [(t, r) for t, r in plan if t is not LOADGEN_CEILING or r == "ceiling"]
    results: list[PhaseResult] = []
    log_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        monitor_port: int | None = None
        if nats_url is None:
            monitor_port = free_port()
            url = stack.enter_context(NatsServer(extra_args=("-m", str(monitor_port)))).url
        else:
            url = nats_url
        loadgen = stack.enter_context(
            _helper(
                "load generator",
                [sys.executable, "-m", "anystream.bench.loadgen", "--serve"],
                log_dir / "loadgen.log",
            )
        )
        publisher = None
        if any(t.broker for t in servers) and any(r != "0" for r in rates):
            publisher = stack.enter_context(
                _helper(
                    "publisher",
                    [sys.executable, "-m", "anystream.bench.publisher", "--url", url, "--serve"],
                    log_dir / "publisher.log",
                )
            )
        for target in servers:
            phases = [r for t, r in plan if t is target]
            log = log_dir / f"{target.name.replace('/', '_')}.log"
            with _serving(target, url, log) as (port, proc):
                for rate in phases:
                    label = f"{target.name} @ {rate} msgs/s"
                    done = len(results)
                    progress(label, done, len(plan))

                    def tick(fraction: float, label: str = label, done: int = done) -> None:
                        progress(label, done + fraction, len(plan))

                    ceiling = rate == "ceiling"
                    results.append(
                        _phase(
                            target,
                            port,
                            proc,
                            "0" if ceiling else rate,
                            loadgen=loadgen,
                            publisher=publisher,
                            duration=duration,
                            request_rate=None if ceiling else request_rate,
                            connections=connections,
                            paths=("/hello",) if ceiling else ("/health", "/hello"),
                            work_dir=log_dir,
                            monitor_port=monitor_port,
                            tick=tick,
                            subject=subject,
                        )
                    )
        progress("done", len(results), len(plan))
    return results
