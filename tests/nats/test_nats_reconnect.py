"""Reconnect, keepalive, failover and lame duck against real nats-server processes."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from nats_helpers import FreezableProxy, config_server, wait_until

from anystream import nats
from anystream.nats import ConnectionClosedError, OutboundBufferFullError, StaleConnectionError
from anystream.testing import NatsServer, free_port

pytestmark = pytest.mark.anyio

FAST = {"reconnect_wait": 0.05, "reconnect_jitter": 0.02, "connect_timeout": 1.0}


async def test_server_restart_restores_subscriptions_and_sends_buffered_publishes(
    own_nats_server: NatsServer,
) -> None:
    events: list[str] = []
    async with nats.connect(
        own_nats_server.url,
        disconnected_cb=lambda: events.append("disconnected"),
        reconnected_cb=lambda: events.append("reconnected"),
        **FAST,
    ) as nc:
        sub = await nc.subscribe("survivor")
        limited = await nc.subscribe("limited", max_msgs=3)
        await nc.publish("limited", b"0")
        await limited.next_msg(timeout=2)
        own_nats_server.kill()
        await wait_until(lambda: nc.is_reconnecting)
        for i in range(5):
            await nc.publish("survivor", b"%d" % i)  # held while disconnected
        assert nc.pending_bytes > 0
        own_nats_server.start()
        await wait_until(lambda: nc.is_connected, timeout=10)
        got = [(await sub.next_msg(timeout=5)).data for _ in range(5)]
        for i in range(5):
            await nc.publish("limited", b"%d" % i)
        rest = [msg.data async for msg in limited]
        assert nc.stats.reconnects == 1
    assert got == [b"0", b"1", b"2", b"3", b"4"]
    assert rest == [b"0", b"1"]  # auto-unsubscribe counted across the reconnect
    assert events == ["disconnected", "reconnected"]


async def test_publishing_while_disconnected_is_bounded(own_nats_server: NatsServer) -> None:
    async with nats.connect(own_nats_server.url, reconnect_buffer_size=1000, **FAST) as nc:
        own_nats_server.kill()
        await wait_until(lambda: nc.is_reconnecting)
        with pytest.raises(OutboundBufferFullError, match="reconnect buffer"):
            for _ in range(100):
                await nc.publish("nowhere", b"x" * 100)
        assert nc.pending_bytes <= 1000


async def test_flush_waits_for_the_reconnect(own_nats_server: NatsServer) -> None:
    async with nats.connect(own_nats_server.url, **FAST) as nc:
        own_nats_server.kill()
        await wait_until(lambda: nc.is_reconnecting)
        async with anyio.create_task_group() as tg:
            tg.start_soon(nc.flush, 10.0)
            await anyio.sleep(0.1)
            own_nats_server.start()
        assert nc.is_connected


async def test_a_health_check_during_a_reconnect_asks_the_new_connection(
    own_nats_server: NatsServer,
) -> None:
    async with nats.connect(own_nats_server.url, **FAST) as nc:
        own_nats_server.kill()
        await wait_until(lambda: nc.is_reconnecting)
        answers: list[bool] = []
        async with anyio.create_task_group() as tg:

            async def ask() -> None:
                answers.append(await nc.alive(timeout=10.0))

            tg.start_soon(ask)
            await anyio.sleep(0.1)
            assert answers == []  # still waiting: no server has answered yet
            own_nats_server.start()
        assert answers == [True]
        assert nc.is_connected


async def test_a_health_check_while_no_server_comes_back_fails_after_its_timeout(
    own_nats_server: NatsServer,
) -> None:
    async with nats.connect(own_nats_server.url, **FAST) as nc:
        own_nats_server.kill()
        await wait_until(lambda: nc.is_reconnecting)
        assert await nc.alive(timeout=0.2) is False
        assert nc.is_reconnecting


async def test_client_gives_up_after_max_reconnect_attempts(own_nats_server: NatsServer) -> None:
    errors: list[Exception] = []
    closed = anyio.Event()
    async with nats.connect(
        own_nats_server.url,
        max_reconnect_attempts=2,
        error_cb=errors.append,
        closed_cb=closed.set,
        **FAST,
    ) as nc:
        sub = await nc.subscribe("x")
        own_nats_server.kill()
        with anyio.fail_after(10):
            await closed.wait()
        assert nc.is_closed and sub.closed
        with pytest.raises(ConnectionClosedError):
            await nc.publish("x", b"")
    assert any(isinstance(e, nats.NoServersError) for e in errors)


async def test_half_open_connection_is_detected_by_pings_and_replaced(
    nats_server: NatsServer,
) -> None:
    proxy = FreezableProxy(nats_server.port)
    errors: list[str] = []
    async with (
        proxy.running(),
        nats.connect(proxy.url, ping_interval=0.05, max_outstanding_pings=2, **FAST) as nc,
    ):
        sub = await nc.subscribe("alive")
        proxy.freeze()  # the link goes silent but stays open
        await wait_until(lambda: nc.stats.reconnects == 1, timeout=10)
        assert proxy.connections == 2
        await nc.publish("alive", b"again")
        assert (await sub.next_msg(timeout=5)).data == b"again"
    assert not errors
    assert issubclass(StaleConnectionError, nats.NatsError)


def _cluster(tmp_path: Path, start: Callable[[NatsServer], NatsServer]) -> list[NatsServer]:
    """Three nodes on loopback, routed to each other."""
    ports = [free_port() for _ in range(3)]
    routes = ", ".join(f'"nats-route://127.0.0.1:{port}"' for port in ports)
    servers = []
    for i, port in enumerate(ports):
        config = (
            f'server_name: "n{i}"\n'
            f"cluster {{ name: test, listen: 127.0.0.1:{port}, routes: [{routes}] }}\n"
        )
        servers.append(start(config_server(tmp_path, config)))
    return servers


async def test_cluster_failover_to_a_server_it_announced(
    tmp_path: Path, server_factory: Callable[[NatsServer], NatsServer]
) -> None:
    a, b, c = _cluster(tmp_path, server_factory)
    async with nats.connect(a.url, randomize=False, **FAST) as nc:
        await wait_until(lambda: len(nc.servers) == 3, timeout=10)
        sub = await nc.subscribe("cluster.news")
        a.kill()
        await wait_until(lambda: nc.is_connected and nc.stats.reconnects == 1, timeout=10)
        assert nc.connected_url in (b.url, c.url)
        async with nats.connect(b.url) as other:
            await wait_until(lambda: bool(other.server_info.get("connect_urls")))
            # routes propagate interest asynchronously: publish until the first arrives
            with anyio.fail_after(10):
                while True:
                    await other.publish("cluster.news", b"failover ok")
                    try:
                        msg = await sub.next_msg(timeout=0.1)
                        break
                    except nats.NatsTimeoutError:
                        pass
    assert msg.data == b"failover ok"


async def test_lame_duck_server_is_left_for_another(
    tmp_path: Path, server_factory: Callable[[NatsServer], NatsServer]
) -> None:
    config = 'lame_duck_duration: "30s"\nlame_duck_grace_period: "10s"\n'
    first = server_factory(config_server(tmp_path, config))
    second = server_factory(NatsServer())
    lame = anyio.Event()
    async with nats.connect(
        [first.url, second.url], randomize=False, lame_duck_cb=lame.set, **FAST
    ) as nc:
        assert nc.connected_url == first.url
        assert first._proc is not None
        first._proc.send_signal(signal.SIGUSR2)  # nats-server: enter lame duck mode
        with anyio.fail_after(10):
            await lame.wait()
        await wait_until(lambda: nc.connected_url == second.url, timeout=10)
        sub = await nc.subscribe("after.ldm")
        await nc.publish("after.ldm", b"moved")
        assert (await sub.next_msg(timeout=2)).data == b"moved"
    first.kill()  # a lame duck server would take its grace period to stop


async def test_leaving_the_block_while_reconnecting_closes_at_once(
    own_nats_server: NatsServer,
) -> None:
    with anyio.fail_after(5):
        async with nats.connect(own_nats_server.url, **FAST) as nc:
            own_nats_server.kill()
            await wait_until(lambda: nc.is_reconnecting)
            await nc.publish("held", b"never sent")
    assert nc.is_closed


async def test_cancelling_a_flush_that_waits_for_a_reconnect(own_nats_server: NatsServer) -> None:
    async with nats.connect(own_nats_server.url, **FAST) as nc:
        own_nats_server.kill()
        await wait_until(lambda: nc.is_reconnecting)
        with anyio.move_on_after(0.1) as scope:
            await nc.flush(timeout=30)
        assert scope.cancelled_caught
        with pytest.raises(nats.NatsTimeoutError):
            await nc.flush(timeout=0.1)
        own_nats_server.start()
        assert await nc.flush(timeout=10) > 0
