"""Run the benchmark: every target x every message rate, each part in its own process.

For each target a server process serves the app; for each rate a publisher process
(nats-py) offers messages while a load-generator process offers requests at a fixed
rate. Afterwards the app's ``/stats`` says how many messages it consumed. CPU use
is read from ``/proc`` for the server's whole process tree.

This module runs the phases :mod:`.plan` describes; :mod:`.processes` starts the
processes and reads their figures.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..testing import NatsServer, free_port
from .plan import DEFAULT_RATES, LOADGEN_CEILING, TARGETS, Phase, PhaseResult, Target
from .processes import (
    Helper,
    app_stats,
    cpu_seconds,
    helper,
    read_json,
    serving,
    slow_consumers,
    tree_cpu_ticks,
)

__all__ = (
    "DEFAULT_RATES",
    "TARGETS",
    "Phase",
    "PhaseResult",
    "Target",
    "run_benchmark",
)


#: After a phase, how long the app may go on consuming its backlog before it is counted.
DRAIN_SECONDS = 3.0
#: How long after the drain ``/stats`` may take to answer at all before a phase's
#: consumption is given up as unknown.
STATS_GRACE_SECONDS = 15.0


@dataclass(frozen=True)
class _Rig:
    """The running processes a phase uses, and where their figures go."""

    port: int
    server: subprocess.Popen[bytes]
    loadgen: Helper
    publisher: Helper | None
    work_dir: Path
    #: nats-server's monitoring port (embedded server only).
    monitor_port: int | None = None


@dataclass(frozen=True)
class _Window:
    """When the measured part of a phase ran (``time.monotonic()``) and the server's CPU."""

    began: float
    ended: float
    cpu_percent: float
    #: The server's CPU ticks (:func:`tree_cpu_ticks`) when the phase began.
    cpu_ticks_before: int = 0


def _offer(
    phase: Phase, rig: _Rig, tick: Callable[[float], None]
) -> tuple[_Window, dict[str, Any], dict[str, Any]]:
    """Run the helpers for the phase; their figures (load generator's, publisher's)."""
    load_file, pub_file = rig.work_dir / "loadgen.json", rig.work_dir / "publisher.json"
    for stale in (load_file, pub_file):
        stale.unlink(missing_ok=True)
    commands: list[tuple[Helper, dict[str, Any]]] = [
        (
            rig.loadgen,
            {
                "port": rig.port,
                "rate": "max" if phase.request_rate is None else phase.request_rate,
                "duration": phase.duration,
                "connections": phase.connections,
                "paths": list(phase.paths),
                "result": str(load_file),
            },
        )
    ]
    if phase.rate != "0":
        assert rig.publisher is not None
        commands.append(
            (
                rig.publisher,
                {
                    "rate": phase.rate,
                    "duration": phase.duration,
                    "subject": phase.subject,
                    "result": str(pub_file),
                },
            )
        )
    # Every helper is ready (the publisher connected) before the common clock starts.
    for running, command in commands:
        running.send(json.dumps(command))
    for running, _ in commands:
        running.expect("ready", timeout=30)
    start = time.monotonic() + 0.1
    for running, _ in commands:
        running.send(repr(start))
    cpu_before = tree_cpu_ticks(rig.server.pid)
    time.sleep(max(0.0, start - time.monotonic()))
    began = time.monotonic()
    deadline = began + phase.duration * 3 + 30
    # Progress while the phase runs; the helpers write their figures to files.
    for running, _ in commands:
        while not running.answered(0.25):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{phase.target.name}: the {running.name} did not finish")
            tick(min(0.99, (time.monotonic() - began) / phase.duration))
        running.expect("done", timeout=1)
    ended = time.monotonic()
    cpu = cpu_seconds(tree_cpu_ticks(rig.server.pid) - cpu_before)
    window = _Window(began, ended, round(100 * cpu / max(1e-9, ended - began), 1), cpu_before)
    load = read_json(load_file)
    if not load:
        raise RuntimeError(f"{phase.target.name}: the load generator wrote no result")
    pub = read_json(pub_file) if phase.rate != "0" else {}
    return window, load, pub


@dataclass(frozen=True)
class _Consumed:
    consumed: int | None = None
    consumed_per_s: float | None = None
    lost: int | None = None
    client_dropped: int | None = None
    paced_reads: int | None = None


def _consumed(
    phase: Phase, port: int, before: dict[str, Any], published: int, window: _Window
) -> _Consumed:
    """What the app consumed since ``before`` (its ``/stats``), once the backlog drained."""
    if not (phase.target.broker and before):
        return _Consumed()
    # Let the backlog drain (at most 3 s; until every message arrived or the count
    # stops moving), then count. The rate is over the time consumption went on.
    drain_until = window.ended + DRAIN_SECONDS
    # An app that starves HTTP while it consumes (faststream's, flat out) may answer late:
    # ask again until it does; it consumed until then.
    after, last_change = app_stats(port), window.ended
    while not after and time.monotonic() < drain_until + STATS_GRACE_SECONDS:
        time.sleep(0.1)
        after, last_change = app_stats(port), time.monotonic()
    while after and after["consumed"] - before["consumed"] < published:
        if time.monotonic() > drain_until or time.monotonic() - last_change > 0.5:
            break
        time.sleep(0.02)
        latest = app_stats(port)
        if latest and latest["consumed"] != after["consumed"]:
            last_change = time.monotonic()
        after = latest or after
    if not after:
        return _Consumed()
    consumed = int(after["consumed"]) - int(before["consumed"])
    return _Consumed(
        consumed=consumed,
        consumed_per_s=round(consumed / max(phase.duration, last_change - window.began), 1),
        lost=max(0, published - consumed),
        client_dropped=_delta(after.get("client_dropped"), before.get("client_dropped")),
        paced_reads=_delta(after.get("paced_reads"), before.get("paced_reads")),
    )


def _delta(after: Any, before: Any) -> int | None:
    if after is None or before is None:
        return None
    return int(after) - int(before)


def _run_phase(
    phase: Phase, rig: _Rig, tick: Callable[[float], None] = lambda fraction: None
) -> PhaseResult:
    before = app_stats(rig.port) if phase.target.broker else {}
    slow_before = slow_consumers(rig.monitor_port)
    window, load, pub = _offer(phase, rig, tick)
    published = int(pub.get("published", 0))
    consumed = _consumed(phase, rig.port, before, published, window)
    cpu_us_per_msg = None
    if consumed.consumed:
        drained = cpu_seconds(tree_cpu_ticks(rig.server.pid) - window.cpu_ticks_before)
        cpu_us_per_msg = round(1e6 * drained / consumed.consumed, 1)
    per_path = load.get("paths", {})
    return PhaseResult(
        target=phase.target.name,
        rate=phase.rate,
        request_rate=phase.request_rate,
        requests_per_s=float(load.get("requests_per_s", 0.0)),
        latency_ms={p: d["latency_ms"] for p, d in per_path.items()},
        http_errors=sum(d["errors"] for d in per_path.values()),
        unsent=int(load.get("unsent", 0)),
        published=published,
        consumed=consumed.consumed,
        consumed_per_s=consumed.consumed_per_s,
        lost=consumed.lost,
        cpu_percent=window.cpu_percent,
        histograms={p: d["histogram"] for p, d in per_path.items()},
        loadgen_cpu_percent=load.get("cpu_percent"),
        schedule_lag_ms=load.get("schedule_lag_ms"),
        offered=int(pub.get("offered", 0)),
        publisher_cpu_percent=pub.get("cpu_percent"),
        client_dropped=consumed.client_dropped,
        paced_reads=consumed.paced_reads,
        slow_consumers=_delta(slow_consumers(rig.monitor_port), slow_before),
        cpu_us_per_msg=cpu_us_per_msg,
    )


def _phases(
    target: Target,
    rates: Sequence[str],
    *,
    duration: float,
    request_rate: float,
    connections: int,
    subject: str,
) -> list[Phase]:
    """A target's phases: its throughput ceiling first, then each rate (bare: rate 0 only).

    The ceiling: no messages, ``/hello`` closed loop, for the requests/s it can serve.
    """
    ceiling = Phase(target, "0", None, ("/hello",), duration, connections, subject)
    if target is LOADGEN_CEILING:
        return [ceiling]
    return [ceiling] + [
        Phase(target, rate, request_rate, ("/health", "/hello"), duration, connections, subject)
        for rate in (rates if target.broker else ("0",))
    ]


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
    plan = [
        (
            target,
            _phases(
                target,
                rates,
                duration=duration,
                request_rate=request_rate,
                connections=connections,
                subject=subject,
            ),
        )
        for target in servers
    ]
    total = sum(len(phases) for _, phases in plan)
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
            helper(
                "load generator",
                [sys.executable, "-m", "anystream.bench.loadgen", "--serve"],
                log_dir / "loadgen.log",
            )
        )
        publisher = None
        if any(t.broker for t in servers) and any(r != "0" for r in rates):
            publisher = stack.enter_context(
                helper(
                    "publisher",
                    [sys.executable, "-m", "anystream.bench.publisher", "--url", url, "--serve"],
                    log_dir / "publisher.log",
                )
            )
        for target, phases in plan:
            log = log_dir / f"{target.name.replace('/', '_')}.log"
            with serving(target.name, target.command, url, log) as (port, proc):
                rig = _Rig(port, proc, loadgen, publisher, log_dir, monitor_port)
                for phase in phases:
                    shown = "ceiling" if phase.request_rate is None else phase.rate
                    label = f"{target.name} @ {shown} msgs/s"
                    done = len(results)
                    progress(label, done, total)

                    def tick(fraction: float, label: str = label, done: int = done) -> None:
                        progress(label, done + fraction, total)

                    results.append(_run_phase(phase, rig, tick))
        progress("done", len(results), total)
    return results
