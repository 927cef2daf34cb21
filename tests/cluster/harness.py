"""The cluster fault suite's moving parts: app instances, a publisher, probes, a tally.

Synchronous and threaded, like the other served tests: the test process stands outside
the apps, as a cluster operator, a producer and a load balancer's probes would.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

import nats
from anystream.testing import NatsCluster, free_port
from tests.helpers import spawn_logged, wait_http

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.cluster.apps.worker:app"
STREAM = "CLUSTER"


class AppInstance:
    """``anystream run APP --workers 2 --worker-class <backend>``, in its own session."""

    def __init__(
        self, name: str, backend: str, cluster: NatsCluster, record: Path, effects: Path
    ) -> None:
        self.name = name
        self.backend = backend
        self.port = free_port()
        self.log = record.parent / f"{name}.log"
        env = {
            **os.environ,
            "NATS_URL": cluster.url,
            "INSTANCE": name,
            "RECORD_FILE": str(record),
            "EFFECTS_DIR": str(effects),
            "PYTHONUNBUFFERED": "1",
        }
        self.proc = spawn_logged(
            [
                *(sys.executable, "-m", "anystream", "run", APP, "--workers", "2"),
                *("--worker-class", backend, "--port", str(self.port)),
            ],
            self.log,
            cwd=ROOT,
            env=env,
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60.0) -> None:
        wait_http(
            self.proc,
            f"{self.base_url}/health/ready",
            lambda: f"{self.name}: {self.output()[-3000:]}",
            status=200,
            timeout=timeout,
            interval=0.2,
        )

    def nodes(self, cluster: NatsCluster) -> list[int]:
        """Index of the node each of this instance's connections is on (one per worker)."""
        found = []
        for node in cluster.running():
            try:
                names = node.client_names()
            except OSError:
                continue
            found += [node.index for n in names if n.startswith(f"{self.name}:")]
        return sorted(found)

    def stop(self, timeout: float = 30.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


class Publisher(threading.Thread):
    """Publishes throughout, on its own nats-py connection to every node.

    JetStream: one message at a time with a ``Nats-Msg-Id``, retried with the same id until
    the server acknowledges it (the stream stores it once); ``acked`` holds the ids the
    server acknowledged. Core NATS: at a steady rate, independently; ``core`` holds the ids
    published. Ids start with the current ``label`` (the scenario).
    """

    def __init__(self, cluster: NatsCluster, rate: float = 20.0) -> None:
        super().__init__(daemon=True, name="publisher")
        self.urls = cluster.urls
        self.interval = 1.0 / rate
        self.label = "warmup"
        self.acked: list[str] = []
        self.acked_at: list[tuple[str, float]] = []
        self.core: list[str] = []
        self.unacked: list[str] = []
        self.errors = 0
        self._halt = threading.Event()
        self._paused = threading.Event()

    def run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        nc = await nats.connect(
            self.urls, connect_timeout=1, reconnect_time_wait=0.2, max_reconnect_attempts=-1
        )
        try:
            await asyncio.gather(self._jetstream(nc), self._core(nc))
        finally:
            await nc.close()

    async def _jetstream(self, nc: nats.NATS) -> None:
        js = nc.jetstream()
        n = 0
        while not self._halt.is_set():
            if self._paused.is_set():
                await asyncio.sleep(0.05)
                continue
            kind = "pull" if n % 2 == 0 else "push"
            ident = f"{self.label}-{kind}-{n}"
            n += 1
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not self._halt.is_set():
                try:
                    await js.publish(
                        f"cl.js.{kind}", ident.encode(), timeout=1.0, headers={"Nats-Msg-Id": ident}
                    )
                except Exception:  # no leader yet, timeout, reconnecting: same id again
                    self.errors += 1
                    await asyncio.sleep(0.1)
                    continue
                self.acked.append(ident)
                self.acked_at.append((ident, time.time()))
                break
            else:
                self.unacked.append(ident)
            await asyncio.sleep(self.interval)

    async def _core(self, nc: nats.NATS) -> None:
        n = 0
        while not self._halt.is_set():
            if not self._paused.is_set():
                ident = f"{self.label}-core-{n}"
                n += 1
                try:
                    await nc.publish("cl.core", ident.encode())
                    self.core.append(ident)
                except Exception:
                    self.errors += 1
            await asyncio.sleep(self.interval)

    def pause(self) -> None:
        """Stop publishing (a message being retried still completes)."""
        self._paused.set()

    def resume(self, label: str) -> None:
        self.label = label
        self._paused.clear()

    def stop(self) -> None:
        self._halt.set()
        self.join(30)


@dataclass
class Answer:
    at: float
    app: str
    probe: str
    status: int  # 0: no HTTP answer


class Prober:
    """Asks each app's ``/health/ready`` and ``/health/live`` every ``interval`` seconds.

    One thread per app and probe, so a probe that waits for its timeout delays no other.
    """

    def __init__(self, apps: list[AppInstance], interval: float = 0.1) -> None:
        self.apps = apps
        self.interval = interval
        self.answers: list[Answer] = []
        self._halt = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(app, probe), daemon=True, name="prober")
            for app in apps
            for probe in ("ready", "live")
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def _run(self, app: AppInstance, probe: str) -> None:
        with httpx.Client(timeout=2.0) as client:
            while not self._halt.is_set():
                try:
                    status = client.get(f"{app.base_url}/health/{probe}").status_code
                except httpx.HTTPError:
                    status = 0
                self.answers.append(Answer(time.time(), app.name, probe, status))
                self._halt.wait(self.interval)

    def between(self, start: float, end: float) -> list[Answer]:
        return [a for a in self.answers if start <= a.at <= end]

    def stop(self) -> None:
        self._halt.set()
        for thread in self._threads:
            thread.join(10)


@dataclass
class Handled:
    kind: str
    ident: str
    app: str
    pid: int
    at: float


def handled(record: Path) -> list[Handled]:
    if not record.exists():
        return []
    out = []
    for line in record.read_text().splitlines():
        parts = line.split()
        if len(parts) == 5:
            out.append(Handled(parts[0], parts[1], parts[2], int(parts[3]), float(parts[4])))
    return out


@dataclass
class Tally:
    """What one scenario did, for the assertions and the figures."""

    scenario: str
    js_acked: int = 0
    js_lost: list[str] = field(default_factory=list)
    js_deliveries: int = 0
    js_duplicates: int = 0
    effects_twice: int = 0
    core_published: int = 0
    core_lost: int = 0
    core_twice: int = 0
    not_consuming: dict[str, float] = field(default_factory=dict)
    baseline: dict[str, float] = field(default_factory=dict)
    publish_stall: float = 0.0
    after_fault: dict[str, int] = field(default_factory=dict)
    handled_by: dict[str, int] = field(default_factory=dict)
    duplicates_by: dict[str, int] = field(default_factory=dict)
    ready: dict[str, collections.Counter[int]] = field(default_factory=dict)
    live: dict[str, collections.Counter[int]] = field(default_factory=dict)

    def line(self) -> str:
        gaps = ", ".join(
            f"{k} {v:.2f} s (before the fault {self.baseline[k]:.2f} s)"
            for k, v in sorted(self.not_consuming.items())
        )
        ready = "; ".join(f"{k} {dict(v)}" for k, v in sorted(self.ready.items()))
        live = "; ".join(f"{k} {dict(v)}" for k, v in sorted(self.live.items()))
        return (
            f"[{self.scenario}] JetStream acked {self.js_acked}, lost {len(self.js_lost)}, "
            f"deliveries {self.js_deliveries} {self.handled_by}, duplicates "
            f"{self.js_duplicates} {self.duplicates_by}, "
            f"effects twice {self.effects_twice}, longest wait for a publish ack "
            f"{self.publish_stall:.2f} s; core published {self.core_published}, "
            f"lost {self.core_lost}, twice {self.core_twice}; longest a worker handled no core "
            "message: "
            f"{gaps}; ready answers {ready}; live answers {live}"
        )


def worst_gap(rows: list[Handled], app: str, start: float, end: float) -> float:
    """The longest time in ``[start, end]`` one worker of ``app`` handled none of ``rows``."""
    gaps = [0.0]
    for pid in {r.pid for r in rows if r.app == app}:
        times = sorted(r.at for r in rows if r.pid == pid and start <= r.at <= end)
        edges = [start, *times, end]
        gaps.append(max(b - a for a, b in itertools.pairwise(edges)))
    return max(gaps)


def wait_for(check, timeout: float, interval: float = 0.2) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return bool(check())


def tally(
    scenario: str,
    record: Path,
    publisher: Publisher,
    prober: Prober,
    window: tuple[float, float, float, float],
    apps: list[AppInstance],
) -> Tally:
    """Count one scenario's messages (ids labelled ``scenario``) and probe answers."""
    prefix = f"{scenario}-"
    rows = handled(record)
    acked = [i for i in publisher.acked if i.startswith(prefix)]
    js = [r for r in rows if r.kind in ("pull", "push") and r.ident.startswith(prefix)]
    effects = collections.Counter(
        r.ident for r in rows if r.kind == "effect" and r.ident.startswith(prefix)
    )
    per_id = collections.Counter(r.ident for r in js)
    core_sent = [i for i in publisher.core if i.startswith(prefix)]
    core_rows = [r for r in rows if r.kind == "core" and r.ident.startswith(prefix)]
    core_counts = collections.Counter(r.ident for r in core_rows)
    t = Tally(scenario)
    t.js_acked = len(acked)
    t.js_lost = sorted(set(acked) - effects.keys())
    t.js_deliveries = len(js)
    t.js_duplicates = sum(c - 1 for c in per_id.values() if c > 1)
    seen: set[str] = set()
    for r in sorted(js, key=lambda r: r.at):
        t.handled_by[r.app] = t.handled_by.get(r.app, 0) + 1
        if r.ident in seen:  # a delivery after the first: counted where it landed
            t.duplicates_by[r.app] = t.duplicates_by.get(r.app, 0) + 1
        seen.add(r.ident)
    t.effects_twice = sum(1 for c in effects.values() if c > 1)
    t.core_published = len(core_sent)
    t.core_lost = len(set(core_sent) - core_counts.keys())
    t.core_twice = sum(1 for c in core_counts.values() if c > 1)
    start, fault_start, fault_end, end = window
    acks = [at for i, at in publisher.acked_at if i.startswith(prefix)]
    edges = [fault_start, *(a for a in acks if a >= fault_start), end]
    t.publish_stall = max(b - a for a, b in itertools.pairwise(edges))
    for app in apps:
        # Per worker (each has its own connection, possibly to another node): the
        # longest stretch without a core message handled, for the worst worker of the
        # app; the same before the fault, as the baseline (messages are spread at random).
        t.not_consuming[app.name] = worst_gap(core_rows, app.name, fault_start, end)
        t.baseline[app.name] = worst_gap(core_rows, app.name, start, fault_start)
        t.after_fault[app.name] = sum(
            1 for r in rows if r.app == app.name and fault_end <= r.at <= end
        )
        answers = prober.between(start, end)
        t.ready[app.name] = collections.Counter(
            a.status for a in answers if a.app == app.name and a.probe == "ready"
        )
        t.live[app.name] = collections.Counter(
            a.status for a in answers if a.app == app.name and a.probe == "live"
        )
    return t


def keda_lag(cluster: NatsCluster, stream: str, consumer: str, account: str = "$G") -> int | None:
    """The lag KEDA's ``nats-jetstream`` scaler computes, read the way it reads it.

    It asks a node's monitoring port for ``/jsz?acc=<account>&consumers=true&config=true``,
    keeps the answer of the node that leads the consumer (its ``server_name`` in ``/varz``
    equals the consumer's ``cluster.leader``) and takes ``num_pending + num_ack_pending``.
    ``None`` while no running node leads the consumer.
    """
    for node in cluster.running():
        try:
            name = node.monitor("/varz")["server_name"]
            jsz = node.monitor(f"/jsz?acc={account}&consumers=true&config=true")
        except OSError:
            continue
        for acc in jsz.get("account_details") or []:
            if acc.get("name") != account:
                continue
            for detail in acc.get("stream_detail") or []:
                if detail.get("name") != stream:
                    continue
                for c in detail.get("consumer_detail") or []:
                    if c.get("name") == consumer and c.get("cluster", {}).get("leader") == name:
                        return int(c.get("num_pending", 0)) + int(c.get("num_ack_pending", 0))
    return None


def publish_now(cluster: NatsCluster, subject: str, idents: list[str]) -> None:
    """Publish to JetStream and wait for each acknowledgement (outside the Publisher)."""

    async def main() -> None:
        nc = await nats.connect(cluster.urls, connect_timeout=2)
        try:
            js = nc.jetstream()
            for ident in idents:
                await js.publish(subject, ident.encode(), timeout=5, headers={"Nats-Msg-Id": ident})
        finally:
            await nc.close()

    asyncio.run(main())
