"""anystream's NATS client given ONE node of a 3-node cluster: it learns the others.

Kill -9 or lame duck of that node: the client moves to a node the cluster announced, its
subscription comes along. Both backends; core NATS only (no JetStream needed here).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import anyio
import pytest

from anystream import nats
from anystream.testing import NatsCluster

pytestmark = pytest.mark.anyio

FAST = {"reconnect_wait": 0.05, "reconnect_jitter": 0.02, "connect_timeout": 1.0}
#: nats-server waits this long before it closes the clients of a lame-duck node itself.
GRACE = 5.0


@pytest.fixture
def cluster() -> Iterator[NatsCluster]:
    with NatsCluster(3, jetstream=False, lame_duck_grace_period=GRACE) as cluster:
        yield cluster


async def until(check, timeout: float) -> None:  # type: ignore[no-untyped-def]
    with anyio.fail_after(timeout):
        while not check():
            await anyio.sleep(0.02)


async def delivered(nc: nats.Client, sub: nats.Subscription, subject: str) -> bytes:
    """Publish from a client on another node until ``sub`` receives one (bounded)."""
    with anyio.fail_after(10):
        while True:
            await nc.publish(subject, b"ping")
            try:
                return (await sub.next_msg(timeout=0.2)).data
            except nats.NatsTimeoutError:
                continue


async def test_a_client_given_one_node_moves_to_an_announced_node_when_it_is_killed(
    cluster: NatsCluster,
) -> None:
    first, *others = cluster.urls
    async with nats.connect(first, **FAST) as nc, nats.connect(others[1], **FAST) as peer:
        await until(lambda: len(nc.servers) == 3, timeout=5)  # the cluster's connect_urls
        sub = await nc.subscribe("moves")
        await nc.flush()
        cluster.kill(0)
        assert await delivered(peer, sub, "moves") == b"ping"
        assert nc.connected_url in others


async def test_a_client_given_one_node_leaves_it_in_lame_duck_before_it_is_closed(
    cluster: NatsCluster,
) -> None:
    first, *others = cluster.urls
    async with nats.connect(first, **FAST) as nc, nats.connect(others[1], **FAST) as peer:
        await until(lambda: len(nc.servers) == 3, timeout=5)
        sub = await nc.subscribe("moves")
        await nc.flush()
        signalled = time.monotonic()
        cluster.lame_duck(0)
        await until(lambda: nc.connected_url in others, timeout=GRACE)
        assert time.monotonic() - signalled < GRACE  # by itself, not closed by the server
        assert await delivered(peer, sub, "moves") == b"ping"
        assert nc.stats.reconnects == 1
