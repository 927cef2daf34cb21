"""What ``anystream bench`` measures: the targets, the phases, and what a phase yields.

Plain data (a target knows the command that serves it), no I/O: :mod:`.driver` runs
the phases; :mod:`.report` reads the results.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ("DEFAULT_RATES", "LOADGEN_CEILING", "TARGETS", "Phase", "PhaseResult", "Target")


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
    #: Reads the app's NATS client held small because its backlog was at the limit
    #: (anystream's app only).
    paced_reads: int | None = None
    #: The server's CPU (process tree) per consumed message, in microseconds, from the
    #: start of the phase to the end of the drain: the figure to compare between targets
    #: when the machine is busy (a server that gets less CPU consumes less, per message
    #: it costs the same).
    cpu_us_per_msg: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Phase:
    """One phase: what is offered to which target, for how long."""

    target: Target
    #: Messages/s the publisher offers ("0": none, "max": flat out).
    rate: str
    #: Requests/s offered (open loop); None: closed loop, as fast as the server goes.
    request_rate: float | None
    paths: tuple[str, ...]
    duration: float
    connections: int
    subject: str = "bench.orders"
