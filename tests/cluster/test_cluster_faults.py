"""Node failures on a 3-node NATS cluster while two app instances consume.

Two ``anystream run --workers 2`` instances (trio and asyncio) share a durable pull
consumer, a push consumer with a deliver group and a core-NATS queue group on an R3
stream; a publisher runs throughout (JetStream publishes acknowledged by the server, with
``Nats-Msg-Id``), probes ask ``/health/ready`` and ``/health/live`` every 0.1 s. In every
scenario: no acknowledged JetStream message is lost, the idempotent handler applies each
message once, both apps consume again, liveness never fails. Figures: ``-s``.

Short version (CI): ``pytest tests/cluster``; all of it: ``python scripts/cluster_faults.py``.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from .conftest import GRACE, Deployment
from .harness import STREAM, Tally, handled, keda_lag, publish_now, wait_for

pytestmark = pytest.mark.e2e


def assert_survived(t: Tally, *, always_reachable: bool = True) -> None:
    assert t.js_acked > 0, "nothing was published"
    assert t.js_lost == [], f"acknowledged but never handled: {t.js_lost[:10]}"
    assert t.effects_twice == 0, "the idempotent handler applied a message twice"
    assert t.core_twice == 0
    for app, live in t.live.items():
        assert set(live) == {200}, f"{app}: liveness answered {dict(live)}"
    for app, count in t.after_fault.items():
        assert count > 0, f"{app} handled nothing after the fault"
    if always_reachable:
        # Some node always answered: never a "not ready".
        for app, ready in t.ready.items():
            assert set(ready) == {200}, f"{app}: readiness answered {dict(ready)}"


def on_running_nodes(d: Deployment) -> bool:
    running = {n.index for n in d.cluster.running()}
    return all(len(a.nodes(d.cluster)) == 2 and set(a.nodes(d.cluster)) <= running for a in d.apps)


def time_to_leave(d: Deployment, node: int) -> float:
    """Seconds until no app connection is on ``node`` (lame duck just signalled)."""
    start = time.monotonic()
    wait_for(
        lambda: all(node not in a.nodes(d.cluster) for a in d.apps), timeout=30.0, interval=0.05
    )
    return time.monotonic() - start


def restart_in_lame_duck(d: Deployment, node: int) -> float:
    """Put ``node`` in lame duck, start it again once it exited: seconds the apps took to leave."""
    d.cluster.lame_duck(node)
    moved_after = time_to_leave(d, node)
    assert d.cluster.nodes[node].wait_exit(60.0), "the lame-duck node did not exit"
    d.cluster.start_node(node)
    d.wait_stream()
    return moved_after


def test_killing_the_node_each_app_is_connected_to(deployment: Deployment) -> None:
    d = deployment

    def fault() -> None:
        for app in d.apps:
            node = app.nodes(d.cluster)[0]
            d.cluster.kill(node)
            assert wait_for(lambda: on_running_nodes(d), timeout=15.0), "an app did not move"
            time.sleep(1.0)
            d.cluster.start_node(node)
            d.wait_stream()

    t = d.scenario("kill-connected", fault)
    assert_survived(t)


def test_lame_duck_moves_the_apps_before_the_node_closes_them(deployment: Deployment) -> None:
    d = deployment
    moved_after: list[float] = []

    def fault() -> None:
        node = d.app("asyncio").nodes(d.cluster)[0]
        moved_after.append(restart_in_lame_duck(d, node))

    t = d.scenario("lame-duck", fault)
    print(f"[lame-duck] apps off the node {moved_after[0]:.2f} s after it entered lame duck")
    assert_survived(t)
    # They left by themselves, before nats-server started closing clients.
    assert moved_after[0] < GRACE


@pytest.mark.cluster_full
def test_killing_the_stream_leader(deployment: Deployment) -> None:
    d = deployment

    def fault() -> None:
        leader = d.wait_stream()
        d.cluster.kill(leader)
        d.wait_stream(replicas=2)  # a new leader, elected by the two left
        time.sleep(1.0)
        d.cluster.start_node(leader)
        d.wait_stream()

    assert_survived(d.scenario("kill-leader", fault))


@pytest.mark.cluster_full
def test_rolling_restart_of_every_node_in_lame_duck_mode(deployment: Deployment) -> None:
    d = deployment
    moved_after: dict[int, float] = {}

    def fault() -> None:
        for node in range(len(d.cluster.nodes)):
            moved_after[node] = restart_in_lame_duck(d, node)

    t = d.scenario("rolling-restart", fault)
    print(f"[rolling-restart] apps off each node after (s): {moved_after}")
    assert_survived(t)
    # Every node in turn, the last one too (both others were in lame duck before).
    assert all(after < GRACE for after in moved_after.values()), moved_after


def test_with_no_node_reachable_readiness_fails_and_recovers(deployment: Deployment) -> None:
    d = deployment
    down: list[float] = []

    def fault() -> None:
        for node in range(len(d.cluster.nodes)):
            d.cluster.kill(node)
        down.append(time.time())
        time.sleep(5.0)
        down.append(time.time())
        for node in d.cluster.nodes:
            node.start()
        d.cluster.wait_formed(60.0)
        d.wait_stream()

    assert_survived(d.scenario("all-down", fault), always_reachable=False)
    # Once the probe's own 1 s round trip ran out, never "ready" while nothing answers.
    outage = d.prober.between(down[0] + 1.5, down[1])
    ready = [a for a in outage if a.probe == "ready"]
    assert ready and all(a.status == 503 for a in ready), {(a.app, a.status) for a in ready}
    # And ready again afterwards.
    assert wait_for(
        lambda: all(a.status == 200 for a in d.prober.answers[-8:] if a.probe == "ready"),
        timeout=30.0,
    )


def test_the_lag_keda_reads_is_the_backlog_of_the_apps_pull_consumer(
    deployment: Deployment,
) -> None:
    d = deployment
    assert wait_for(lambda: keda_lag(d.cluster, STREAM, "cl-pull") == 0, timeout=30.0)
    # Both instances frozen (SIGSTOP): nothing consumes; 40 messages wait.
    for app in d.apps:
        os.killpg(app.proc.pid, signal.SIGSTOP)
    try:
        idents = [f"keda-pull-{i}" for i in range(40)]
        publish_now(d.cluster, "cl.js.pull", idents)
        # What the apps had pulled before they froze counts as ack pending: same total.
        assert wait_for(lambda: keda_lag(d.cluster, STREAM, "cl-pull") == 40, timeout=10.0)
    finally:
        for app in d.apps:
            os.killpg(app.proc.pid, signal.SIGCONT)
    assert wait_for(lambda: keda_lag(d.cluster, STREAM, "cl-pull") == 0, timeout=60.0)
    effects = {r.ident for r in handled(d.record) if r.kind == "effect"}
    assert set(idents) <= effects
