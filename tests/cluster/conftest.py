"""The cluster fault suite's deployment: 3 nodes, two app instances, a publisher, probes.

One deployment serves every scenario of a run (they take turns, in file order); each
scenario labels its messages and counts only its own. The scenarios marked
``cluster_full`` run only with ``ANYSTREAM_CLUSTER_FULL=1`` (``scripts/cluster_faults.py``
sets it); the others are the short version CI runs.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from anystream.testing import NatsCluster

from .harness import STREAM, AppInstance, Prober, Publisher, Tally, handled, tally, wait_for

FULL = os.environ.get("ANYSTREAM_CLUSTER_FULL") == "1"
REPORT = os.environ.get("ANYSTREAM_CLUSTER_REPORT")
#: nats-server waits this long before it starts closing the clients of a lame-duck node.
GRACE = 5.0


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cluster_full: long cluster fault scenarios")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if FULL:
        return
    long = [item for item in items if "cluster_full" in item.keywords]
    if long:
        config.hook.pytest_deselected(items=long)
        items[:] = [item for item in items if "cluster_full" not in item.keywords]


@dataclass
class Deployment:
    cluster: NatsCluster
    apps: list[AppInstance]
    publisher: Publisher
    prober: Prober
    record: Path

    def app(self, name: str) -> AppInstance:
        return next(a for a in self.apps if a.name == name)

    def scenario(self, name: str, fault, steady: float = 3.0) -> Tally:  # type: ignore[no-untyped-def]
        """Publish ``steady`` s, run ``fault()``, publish ``steady`` s more; then wait
        (bounded) until every acknowledged message was handled, and count."""
        self.publisher.resume(name)
        start = time.time()
        time.sleep(steady)
        fault_start = time.time()
        fault()
        fault_end = time.time()
        time.sleep(steady)
        self.publisher.pause()
        end = time.time()
        acked = {i for i in self.publisher.acked if i.startswith(f"{name}-")}

        def all_handled() -> bool:
            effects = {r.ident for r in handled(self.record) if r.kind == "effect"}
            return acked <= effects

        wait_for(all_handled, timeout=60.0, interval=0.5)
        time.sleep(1.0)  # late duplicates, if any, land in the count too
        window = (start, fault_start, fault_end, end)
        result = tally(name, self.record, self.publisher, self.prober, window, self.apps)
        print(f"\n{result.line()}")
        if REPORT:
            with open(REPORT, "a") as f:
                f.write(json.dumps({**result.__dict__, "window": end - start}, default=str))
                f.write("\n")
        return result

    def wait_stream(self, replicas: int = 3) -> int:
        return self.cluster.wait_stream_ready(STREAM, replicas=replicas, timeout=60.0)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("cluster")
    record = root / "handled.txt"
    effects = root / "effects"
    effects.mkdir()
    cluster = NatsCluster(3, lame_duck_grace_period=GRACE)
    apps: list[AppInstance] = []
    publisher = prober = None
    try:
        cluster.start()
        for name, backend in (("trio", "trio"), ("asyncio", "asyncio")):
            app = AppInstance(name, backend, cluster, record, effects)
            apps.append(app)
            app.wait_ready()
        cluster.wait_stream_ready(STREAM, replicas=3, timeout=60.0)
        publisher = Publisher(cluster)
        publisher.start()
        prober = Prober(apps)
        prober.start()
        wait_for(
            lambda: {r.app for r in handled(record) if r.kind == "effect"} == {"trio", "asyncio"},
            timeout=30.0,
        )
        publisher.pause()
        yield Deployment(cluster, apps, publisher, prober, record)
    finally:
        if publisher is not None:
            publisher.stop()
        if prober is not None:
            prober.stop()
        for app in apps:
            app.stop()
        cluster.close()
