"""The sans-IO layers, byte by byte: protocol state, outbox, server pool and backoff."""

from __future__ import annotations

import json

import pytest

from anystream.nats import AuthorizationError, MalformedFrameError, ServerError
from anystream.nats.connection import (
    NEED_DATA,
    Connected,
    Connection,
    PongReceived,
    State,
)
from anystream.nats.outbox import Outbox
from anystream.nats.protocol import Err, Info, Msg, Ping
from anystream.nats.servers import Backoff, ServerPool

INFO = b'INFO {"server_id":"S","max_payload":2048}\r\n'


def handshaken(connection: Connection | None = None) -> Connection:
    """A connection that went through INFO, CONNECT and the PONG."""
    connection = connection or Connection()
    connection.start()
    connection.receive_data(INFO)
    assert isinstance(connection.next_event(), Info)
    assert connection.connect({"verbose": False}) == b'CONNECT {"verbose":false}\r\nPING\r\n'
    connection.receive_data(b"PONG\r\n")
    assert isinstance(connection.next_event(), Connected)
    return connection


# --------------------------------------------------------------------------- handshake


def test_handshake_goes_info_connect_pong() -> None:
    connection = Connection()
    connection.start()
    assert connection.next_event() is NEED_DATA
    connection.receive_data(INFO)
    info = connection.next_event()
    assert isinstance(info, Info) and connection.state is State.AWAIT_CONNECT
    assert connection.max_payload == 2048
    connection.connect({})
    assert connection.state is State.AWAIT_PONG
    connection.receive_data(b"PING\r\nPONG\r\n")
    assert connection.next_event() == Ping()  # the server's PING is the caller's to answer
    connected = connection.next_event()
    assert isinstance(connected, Connected) and connected.restore == b""
    assert connection.is_connected


def test_first_frame_must_be_info() -> None:
    connection = Connection()
    connection.start()
    connection.receive_data(b"PONG\r\n")
    with pytest.raises(MalformedFrameError, match="expected INFO"):
        connection.next_event()


@pytest.mark.parametrize(
    ("err", "error"),
    [(b"Authorization Violation", AuthorizationError), (b"Unknown Protocol", ServerError)],
)
def test_err_in_the_handshake_raises(err: bytes, error: type[Exception]) -> None:
    connection = Connection()
    connection.start()
    connection.receive_data(INFO)
    connection.next_event()
    connection.connect({})
    connection.receive_data(b"-ERR '" + err + b"'\r\n")
    with pytest.raises(error, match=err.decode()):
        connection.next_event()


def test_err_once_connected_is_an_event() -> None:
    connection = handshaken()
    connection.receive_data(b"-ERR 'Permissions Violation'\r\n")
    assert connection.next_event() == Err("Permissions Violation")


# --------------------------------------------------------------------------- subscriptions


def test_subscribe_returns_sub_and_the_limit() -> None:
    connection = handshaken()
    plain, command = connection.subscribe("a.*")
    assert command == b"SUB a.* 1\r\n"
    limited, command = connection.subscribe("b", "q", max_msgs=2)
    assert command == b"SUB b q 2\r\nUNSUB 2 2\r\n"
    assert list(connection.subscriptions) == [plain.sid, limited.sid] == [1, 2]


def test_messages_carry_their_subscription_and_the_limit_removes_it() -> None:
    connection = handshaken()
    sub, _ = connection.subscribe("b", max_msgs=2)
    connection.receive_data(b"MSG b 1 1\r\nx\r\nMSG b 1 1\r\ny\r\nMSG b 1 1\r\nz\r\n")
    first = connection.next_event()
    assert isinstance(first, Msg) and first.subscription is sub and not sub.done
    second = connection.next_event()
    assert isinstance(second, Msg) and second.payload == b"y" and sub.done
    assert connection.next_event() is NEED_DATA  # the third came after the limit: skipped
    assert sub.sid not in connection.subscriptions
    assert connection.stats.in_msgs == 3


def test_commands_while_disconnected_wait_for_the_restore() -> None:
    connection = handshaken()
    connection.subscribe("kept", max_msgs=5)
    gone, _ = connection.subscribe("gone")
    connection.receive_data(b"MSG kept 1 1\r\nx\r\n")
    connection.next_event()
    assert connection.connection_lost() == []
    assert connection.subscribe("new")[1] == b""  # nothing to send while disconnected
    assert connection.unsubscribe(gone.sid) == b"" and gone.done
    connected = Connected({})
    connection.start()
    connection.receive_data(INFO)
    connection.next_event()
    connection.connect({})
    connection.receive_data(b"PONG\r\n")
    connected = connection.next_event()  # type: ignore[assignment]
    assert isinstance(connected, Connected)
    assert connected.restore == b"SUB kept 1\r\nUNSUB 1 4\r\nSUB new 3\r\n"


def test_subscription_at_its_limit_expires_on_reconnect() -> None:
    connection = handshaken()
    sub, _ = connection.subscribe("x")
    assert connection.unsubscribe(sub.sid, limit=1) == b"UNSUB 1 1\r\n"
    sub.received = 1  # as if the message arrived; the limit is seen at the restore
    connection.connection_lost()
    connection.start()
    connection.receive_data(INFO + b"PONG\r\n")
    connection.next_event()
    connection.connect({})
    connected = connection.next_event()
    assert isinstance(connected, Connected)
    assert connected.restore == b"" and connected.expired == [sub] and sub.done


def test_drain_keeps_the_subscription_until_unsubscribed() -> None:
    connection = handshaken()
    sub, _ = connection.subscribe("d")
    assert connection.drain(sub.sid) == b"UNSUB 1\r\n"
    assert connection.drain(sub.sid) == b""  # once
    connection.receive_data(b"MSG d 1 2\r\nin\r\n")
    msg = connection.next_event()
    assert isinstance(msg, Msg) and msg.subscription is sub  # still delivered
    assert connection.unsubscribe(sub.sid) == b"UNSUB 1\r\n"
    assert not connection.subscriptions


# --------------------------------------------------------------------------- PING / PONG


def test_each_pong_answers_the_oldest_ping() -> None:
    connection = handshaken()
    assert connection.ping("first") == b"PING\r\n"
    connection.ping(None)  # a keepalive
    connection.ping("third")
    assert connection.outstanding_pings == 1
    connection.receive_data(b"PONG\r\nPONG\r\n")
    assert connection.next_event() == PongReceived("first")
    assert connection.outstanding_pings == 0
    assert connection.next_event() == PongReceived(None)
    assert connection.connection_lost() == ["third"]  # never answered


def test_input_is_parsed_a_slice_at_a_time() -> None:
    connection = handshaken(Connection(parse_slice=64))
    connection.subscribe("s")
    connection.receive_data(b"".join(b"MSG s 1 2\r\n%02d\r\n" % i for i in range(20)))
    first = connection.next_event()
    assert isinstance(first, Msg) and first.payload == b"00"
    assert connection.buffered == (20 - 4) * 15  # 4 frames of 15 bytes in 64: the rest waits
    payloads = [first.payload]
    while (event := connection.next_event()) is not NEED_DATA:
        assert isinstance(event, Msg)
        payloads.append(event.payload)
    assert payloads == [b"%02d" % i for i in range(20)]
    assert connection.buffered == 0


# --------------------------------------------------------------------------- outbox


def test_outbox_drops_connection_commands_and_keeps_publishes_when_the_link_drops() -> None:
    outbox = Outbox()
    outbox.control(b"SUB a 1\r\n")
    outbox.buffer += b"PUB a 1\r\nx\r\n"
    outbox.control(b"PING\r\n")
    outbox.buffer += b"PUB b 0\r\n\r\n"
    outbox.connection_lost()
    assert bytes(outbox.buffer) == b"PUB a 1\r\nx\r\nPUB b 0\r\n\r\n"
    outbox.control(b"SUB c 2\r\n")  # e.g. after the handshake, before the restore
    outbox.prepend(b"SUB a 1\r\n")
    assert outbox.take() == b"SUB a 1\r\nPUB a 1\r\nx\r\nPUB b 0\r\n\r\nSUB c 2\r\n"
    outbox.connection_lost()
    assert not outbox.buffer


# --------------------------------------------------------------------------- server pool


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_reconnect_plan_tries_others_first_then_backs_off() -> None:
    pool = ServerPool(["nats://a:1", "nats://b:2"])
    a, b = pool.servers
    clock = Clock()
    backoff = Backoff(wait=1.0, wait_max=4.0, jitter=0.0, max_attempts=2)
    pool.disconnected(a, clock.now)
    plan = pool.reconnect_plan(a, backoff, clock)
    assert next(plan) == (b, 0.0)  # never tried: at once
    pool.attempted(b, clock.now)
    pool.failed(b, backoff)
    assert next(plan) == (a, 1.0)  # the lost one: after its backoff
    pool.attempted(a, clock.now)
    pool.failed(a, backoff)
    clock.now += 0.5
    assert next(plan) == (b, 1.5)  # second round: 2 s since its last try, 0.5 s gone
    pool.failed(b, backoff)
    pool.failed(b, backoff)  # three in a row: dropped
    assert pool.servers == [a]
    assert next(plan)[0] is a


def test_reconnect_plan_ends_when_no_server_is_left() -> None:
    pool = ServerPool(["nats://a:1"])
    (a,) = pool.servers
    backoff = Backoff(wait=0.0, max_attempts=0)
    plan = pool.reconnect_plan(a, backoff, Clock())
    assert next(plan) == (a, 0.0)
    pool.failed(a, backoff)
    assert list(plan) == []


def test_lame_duck_server_comes_last_in_the_rotation() -> None:
    pool = ServerPool(["nats://a:1", "nats://b:2", "nats://c:3"])
    a, b, c = pool.servers
    b.lame_duck = True
    assert pool.rotation(a) == [c, b, a]


def test_connect_command_options_are_json() -> None:
    connection = Connection()
    connection.start()
    connection.receive_data(INFO)
    connection.next_event()
    command = connection.connect({"name": "x", "echo": True})
    assert json.loads(command.split(b" ", 1)[1].split(b"\r\n")[0]) == {"name": "x", "echo": True}
