"""The client against a server scripted in memory: every byte each way, no timing.

Through the ``connector`` seam the client talks to :class:`ScriptedServer` instead of a
socket, so reconnects, lame duck mode, stale connections, slow consumers, server errors
and JetStream status messages are tested step by step (the real-server versions are in
test_nats_reconnect.py and test_nats_client.py).
"""

from __future__ import annotations

import anyio
import pytest
from nats_helpers import wait_until
from scripted import ScriptedServer, hmsg

from anystream import nats
from anystream.nats import AuthorizationError, ServerError, SlowConsumerError

pytestmark = pytest.mark.anyio

# No waiting between reconnect attempts, no connect deadline while a test holds the gate.
FAST = {"reconnect_wait": 0.0, "reconnect_jitter": 0.0, "connect_timeout": 30.0}


async def test_handshake_sends_connect_with_headers_and_no_responders() -> None:
    server = ScriptedServer()
    async with nats.connect(server.url, connector=server.connector, name="scripted") as nc:
        conn = await server.accept()
        options = await conn.read_handshake()
        assert nc.is_connected and nc.connected_url == server.url
        assert nc.server_info["server_id"] == "SCRIPTED"
    assert (conn.host, conn.port) == ("scripted", 4222)
    assert options["headers"] is True and options["no_responders"] is True
    assert options["name"] == "scripted" and options["protocol"] == 1


async def test_refused_credentials_raise_authorization_error_from_connect() -> None:
    server = ScriptedServer(handshake_reply=b"-ERR 'Authorization Violation'\r\n")
    with pytest.raises(AuthorizationError, match="Authorization Violation"):
        async with nats.connect(server.url, connector=server.connector, user="eve"):
            pass


async def test_reconnect_restores_subscriptions_limits_then_held_publishes() -> None:
    server = ScriptedServer()
    events: list[str] = []
    async with nats.connect(
        server.url,
        connector=server.connector,
        disconnected_cb=lambda: events.append("disconnected"),
        reconnected_cb=lambda: events.append("reconnected"),
        **FAST,
    ) as nc:
        first = await server.accept_handshake()
        plain = await nc.subscribe("orders.*")
        await nc.subscribe("jobs", queue="workers")
        limited = await nc.subscribe("limited", max_msgs=3)
        assert await first.read_lines(4) == [
            b"SUB orders.* 1",
            b"SUB jobs workers 2",
            b"SUB limited 3",
            b"UNSUB 3 3",
        ]
        await first.send(b"MSG limited 3 1\r\na\r\n")
        assert (await limited.next_msg(timeout=5)).data == b"a"

        server.hold()  # the server is down for a while
        await first.close()
        await wait_until(lambda: nc.is_reconnecting)
        await nc.publish("orders.new", b"held")  # kept for the next connection
        late = await nc.subscribe("late")  # sent with the restore
        server.release()

        second = await server.accept_handshake()
        assert await second.read_lines(5) == [
            b"SUB orders.* 1",
            b"SUB jobs workers 2",
            b"SUB limited 3",
            b"UNSUB 3 2",  # one of the three already received
            b"SUB late 4",
        ]
        assert await second.read_pub() == (b"PUB orders.new 4", b"held")
        await wait_until(lambda: nc.is_connected)
        await second.send(b"MSG orders.new 1 2\r\nok\r\nMSG late 4 2\r\nok\r\n")
        assert (await plain.next_msg(timeout=5)).data == b"ok"
        assert (await late.next_msg(timeout=5)).data == b"ok"
        assert nc.stats.reconnects == 1
    assert events == ["disconnected", "reconnected"]


async def test_subscription_whose_limit_was_reached_is_not_restored() -> None:
    server = ScriptedServer()
    async with nats.connect(server.url, connector=server.connector, **FAST) as nc:
        first = await server.accept_handshake()
        once = await nc.subscribe("once", max_msgs=1)
        await nc.subscribe("always")
        assert await first.read_lines(3) == [b"SUB once 1", b"UNSUB 1 1", b"SUB always 2"]
        await first.send(b"MSG once 1 1\r\nx\r\n")
        assert [m.data async for m in once] == [b"x"]
        await first.close()
        second = await server.accept_handshake()
        assert await second.read_line() == b"SUB always 2"
        await wait_until(lambda: nc.is_connected)
        assert nc.subscriptions == 1


async def test_unsubscribe_while_disconnected_is_not_restored() -> None:
    server = ScriptedServer()
    async with nats.connect(server.url, connector=server.connector, **FAST) as nc:
        first = await server.accept_handshake()
        gone = await nc.subscribe("gone")
        await nc.subscribe("kept")
        assert await first.read_lines(2) == [b"SUB gone 1", b"SUB kept 2"]
        server.hold()
        await first.close()
        await wait_until(lambda: nc.is_reconnecting)
        await gone.unsubscribe()
        server.release()
        second = await server.accept_handshake()
        await nc.publish("marker", b"")
        assert await second.read_line() == b"SUB kept 2"
        assert await second.read_pub() == (b"PUB marker 0", b"")
        assert gone.closed


async def test_client_fails_over_to_a_server_the_cluster_announced() -> None:
    server = ScriptedServer()
    async with nats.connect(server.url, connector=server.connector, **FAST) as nc:
        first = await server.accept_handshake()
        await first.send_info(connect_urls=["10.0.0.2:4333"])
        await nc.subscribe("news")
        assert await first.read_line() == b"SUB news 1"
        assert nc.servers == [server.url, "nats://10.0.0.2:4333"]
        await first.close()
        second = await server.accept()  # tried at once: never failed before
        await second.read_handshake()
        assert await second.read_line() == b"SUB news 1"
        await wait_until(lambda: nc.connected_url == "nats://10.0.0.2:4333")
    assert (second.host, second.port) == ("10.0.0.2", 4333)


async def test_client_gives_up_when_every_reconnect_attempt_is_refused() -> None:
    server = ScriptedServer()
    errors: list[Exception] = []
    closed = anyio.Event()
    async with nats.connect(
        server.url,
        connector=server.connector,
        max_reconnect_attempts=3,
        error_cb=errors.append,
        closed_cb=closed.set,
        **FAST,
    ) as nc:
        conn = await server.accept_handshake()
        sub = await nc.subscribe("x")
        server.refuse = True
        await conn.close()
        with anyio.fail_after(5):
            await closed.wait()
        assert nc.is_closed and sub.closed
    assert server.refused == 4  # the attempts allowed, then one more: the server is dropped
    assert [type(e) for e in errors] == [nats.NoServersError]


async def test_lame_duck_server_is_left_for_the_other_one() -> None:
    server = ScriptedServer()
    lame = anyio.Event()
    async with nats.connect(
        ["nats://a:4222", "nats://b:4222"],
        randomize=False,
        connector=server.connector,
        lame_duck_cb=lame.set,
        **FAST,
    ) as nc:
        a = await server.accept_handshake()
        await nc.subscribe("news")
        assert await a.read_line() == b"SUB news 1"
        await a.send_info(ldm=True)  # a is shutting down
        with anyio.fail_after(5):
            await lame.wait()
        assert await a.closed_by_client()
        b = await server.accept_handshake()
        assert await b.read_line() == b"SUB news 1"
        await wait_until(lambda: nc.connected_url == "nats://b:4222")
    assert (a.host, b.host) == ("a", "b")


async def test_a_rolling_restart_in_lame_duck_mode_moves_the_client_every_time() -> None:
    # Each server in turn enters lame duck mode, then comes back (restarted) and the
    # cluster announces it again in connect_urls. The client must move off every one,
    # also when the only other server was in lame duck mode earlier.
    server = ScriptedServer()
    everyone = ["a:4222", "b:4222"]
    async with nats.connect(
        [f"nats://{a}" for a in everyone], randomize=False, connector=server.connector, **FAST
    ) as nc:
        conn = await server.accept_handshake()
        await nc.subscribe("news")
        assert await conn.read_line() == b"SUB news 1"
        visited = [conn.host]
        for _ in range(3):
            await conn.send_info(ldm=True)
            assert await conn.closed_by_client()
            conn = await server.accept_handshake()
            assert await conn.read_line() == b"SUB news 1"
            await conn.send_info(connect_urls=everyone)  # the one left was restarted
            visited.append(conn.host)
        await wait_until(lambda: nc.connected_url == f"nats://{visited[-1]}:4222")
    assert visited == ["a", "b", "a", "b"]


async def test_a_single_server_restarted_after_lame_duck_is_reported_again_next_time() -> None:
    server = ScriptedServer()
    lame: list[str] = []
    async with nats.connect(
        server.url, connector=server.connector, lame_duck_cb=lambda: lame.append("ldm"), **FAST
    ):
        for round_ in range(2):
            conn = await server.accept_handshake()
            await conn.send_info(ldm=True)  # shutting down: no other server to move to
            await wait_until(lambda: len(lame) == round_ + 1)  # noqa: B023
            await conn.close()  # it exits; the client reconnects to it once it is back
    assert lame == ["ldm", "ldm"]


async def test_unanswered_pings_make_the_connection_stale_and_replaced() -> None:
    server = ScriptedServer()
    async with nats.connect(
        server.url,
        connector=server.connector,
        ping_interval=0.01,
        max_outstanding_pings=2,
        **FAST,
    ) as nc:
        first = await server.accept_handshake()
        assert await first.read_lines(2) == [b"PING", b"PING"]  # never answered
        await server.reconnected(nc, first)


async def test_answered_pings_keep_the_connection() -> None:
    server = ScriptedServer()
    async with nats.connect(
        server.url, connector=server.connector, ping_interval=0.01, max_outstanding_pings=2
    ) as nc:
        conn = await server.accept_handshake()
        for _ in range(5):
            assert await conn.read_line() == b"PING"
            await conn.send(b"PONG\r\n")
        assert nc.is_connected and nc.stats.reconnects == 0
    assert server.opened == 1


async def test_server_ping_is_answered_with_pong() -> None:
    server = ScriptedServer()
    async with nats.connect(server.url, connector=server.connector):
        conn = await server.accept_handshake()
        await conn.send(b"PING\r\n")
        assert await conn.read_line() == b"PONG"


async def test_flush_returns_when_its_pong_arrives_in_order() -> None:
    server = ScriptedServer()
    async with nats.connect(server.url, connector=server.connector) as nc:
        conn = await server.accept_handshake()
        done: list[int] = []

        async def flush(i: int) -> None:
            await nc.flush(timeout=5)
            done.append(i)

        async with anyio.create_task_group() as tg:
            tg.start_soon(flush, 1)
            assert await conn.read_line() == b"PING"
            tg.start_soon(flush, 2)
            assert await conn.read_line() == b"PING"
            await conn.send(b"PONG\r\n")
            await wait_until(lambda: done == [1])
            await conn.send(b"PONG\r\n")
    assert done == [1, 2]


async def test_slow_consumer_drops_over_the_pending_limit_and_reports_once() -> None:
    server = ScriptedServer()
    errors: list[Exception] = []
    async with nats.connect(server.url, connector=server.connector, error_cb=errors.append) as nc:
        conn = await server.accept_handshake()
        sub = await nc.subscribe("firehose", pending_msgs_limit=5)
        assert await conn.read_line() == b"SUB firehose 1"
        await conn.send(b"".join(b"MSG firehose 1 2\r\n%02d\r\n" % i for i in range(20)))
        await wait_until(lambda: sub.received == 20)
        assert (sub.pending_msgs, sub.dropped) == (5, 15)
        got = [(await sub.next_msg(timeout=1)).data for _ in range(5)]
        await wait_until(lambda: bool(errors))
    assert got == [b"00", b"01", b"02", b"03", b"04"]
    assert len(errors) == 1 and isinstance(errors[0], SlowConsumerError)
    assert errors[0].dropped == 1 and errors[0].subject == "firehose"


async def test_server_err_goes_to_the_error_callback_and_the_connection_stays() -> None:
    server = ScriptedServer()
    errors: list[Exception] = []
    async with nats.connect(server.url, connector=server.connector, error_cb=errors.append) as nc:
        conn = await server.accept_handshake()
        sub = await nc.subscribe("after")
        assert await conn.read_line() == b"SUB after 1"
        await conn.send(b"-ERR 'Permissions Violation for Publish to \"secret\"'\r\n")
        await conn.send(b"MSG after 1 5\r\nstill\r\n")
        assert (await sub.next_msg(timeout=5)).data == b"still"
        await wait_until(lambda: bool(errors))
        assert nc.is_connected and server.opened == 1
    assert isinstance(errors[0], ServerError)
    assert str(errors[0]) == 'Permissions Violation for Publish to "secret"'
    assert nc.stats.errors == 1


async def test_stale_connection_err_from_the_server_makes_the_client_reconnect() -> None:
    server = ScriptedServer()
    async with nats.connect(server.url, connector=server.connector, **FAST) as nc:
        first = await server.accept_handshake()
        await first.send(b"-ERR 'Stale Connection'\r\n")
        await server.reconnected(nc, first)


async def test_jetstream_status_messages_reach_the_subscriber() -> None:
    server = ScriptedServer()
    async with nats.connect(server.url, connector=server.connector) as nc:
        conn = await server.accept_handshake()
        sub = await nc.subscribe("_INBOX.pull")
        assert await conn.read_line() == b"SUB _INBOX.pull 1"
        pending = [("Nats-Pending-Messages", "10"), ("Nats-Pending-Bytes", "160")]
        last = [("Nats-Last-Consumer", "5"), ("Nats-Last-Stream", "9")]
        await conn.send(
            hmsg("_INBOX.pull", 1, "408 Request Timeout", pending)
            + hmsg("_INBOX.pull", 1, "404 No Messages")
            + hmsg("_INBOX.pull", 1, "409 Consumer Deleted")
            + hmsg("_INBOX.pull", 1, "100 Idle Heartbeat", last)
            + hmsg("_INBOX.pull", 1, "100 Idle Heartbeat", last, reply="$JS.FC.S.c.1")
            + hmsg("_INBOX.pull", 1, "100 FlowControl Request", reply="$JS.FC.S.c.2")
        )
        msgs = [await sub.next_msg(timeout=5) for _ in range(6)]
        await msgs[-1].respond()  # flow control is answered with an empty message
        assert await conn.read_pub() == (b"PUB $JS.FC.S.c.2 0", b"")
    assert [(m.status, m.description) for m in msgs] == [
        (408, "Request Timeout"),
        (404, "No Messages"),
        (409, "Consumer Deleted"),
        (100, "Idle Heartbeat"),
        (100, "Idle Heartbeat"),
        (100, "FlowControl Request"),
    ]
    assert msgs[0].headers == dict(pending)
    assert msgs[3].headers == dict(last) and msgs[3].reply is None
    assert msgs[4].reply == "$JS.FC.S.c.1"
    assert all(m.data == b"" and m.subject == "_INBOX.pull" for m in msgs)


async def test_messages_for_an_unsubscribed_sid_are_skipped_but_counted() -> None:
    server = ScriptedServer()
    async with nats.connect(server.url, connector=server.connector) as nc:
        conn = await server.accept_handshake()
        old = await nc.subscribe("old")
        new = await nc.subscribe("new")
        await old.unsubscribe()
        assert await conn.read_lines(3) == [b"SUB old 1", b"SUB new 2", b"UNSUB 1"]
        await conn.send(b"MSG old 1 2\r\nin\r\nMSG new 2 4\r\nnext\r\n")  # crossed the UNSUB
        assert (await new.next_msg(timeout=5)).data == b"next"
        assert nc.stats.in_msgs == 2 and old.received == 0
