"""The JetStream decisions that need no server: status messages, sequences, metadata, errors."""

from __future__ import annotations

import datetime

import pytest

from anystream.nats import Msg
from anystream.nats.js import (
    BadRequestError,
    ConsumerDeletedError,
    NotJSMessageError,
    ServiceUnavailableError,
    StreamNotFoundError,
    WrongLastSequenceError,
)
from anystream.nats.js.delivery import Action, DeliveryState, Step
from anystream.nats.js.errors import APIError, NotFoundError, api_error
from anystream.nats.js.manager import parse_time
from anystream.nats.js.msg import nak_payload, parse_metadata
from anystream.nats.js.ordered import OrderedState, ordered_config
from anystream.nats.js.pull import FetchState, pull_request
from nats.js import api

REPLY = "_INBOX.abc.7"


def data(seq: int = 1) -> Msg:
    return Msg(None, "orders.new", f"$JS.ACK.S.C.1.{seq}.{seq}.1700000000000000000.0", b"x")


def status(code: int, description: str = "", subject: str = REPLY, **headers: str) -> Msg:
    return Msg(None, subject, None, b"", 0, tuple(headers.items()), code, description)


# ------------------------------------------------------------------------ pull: FetchState


def test_fetch_is_done_once_the_batch_is_full() -> None:
    state = FetchState(2, REPLY)
    state.feed(data(1))
    assert not state.done
    state.feed(data(2))
    assert state.done and len(state.msgs) == 2 and state.status is None


@pytest.mark.parametrize(("code", "text"), [(404, "No Messages"), (408, "Request Timeout")])
def test_fetch_ends_without_error_on_no_messages_or_expiry(code: int, text: str) -> None:
    state = FetchState(5, REPLY)
    state.feed(data(1))
    state.feed(status(code, text))
    assert state.done and state.status == code and len(state.msgs) == 1


def test_fetch_ignores_heartbeats() -> None:
    state = FetchState(5, REPLY)
    state.feed(status(100, "Idle Heartbeat", **{"Nats-Last-Consumer": "0"}))
    assert not state.done and state.msgs == []


def test_fetch_ignores_the_end_of_an_earlier_request() -> None:
    state = FetchState(5, REPLY)
    state.feed(status(408, "Request Timeout", subject="_INBOX.abc.6"))
    assert not state.done


def test_fetch_ends_when_max_bytes_is_reached() -> None:
    state = FetchState(5, REPLY)
    state.feed(data(1))
    state.feed(status(409, "Message Size Exceeds MaxBytes"))
    assert state.done and state.status == 409 and len(state.msgs) == 1


def test_fetch_raises_when_the_consumer_was_deleted() -> None:
    with pytest.raises(ConsumerDeletedError):
        FetchState(5, REPLY).feed(status(409, "Consumer Deleted"))


def test_fetch_raises_on_a_request_over_the_consumer_limits() -> None:
    with pytest.raises(BadRequestError, match="MaxRequestBatch"):
        FetchState(500, REPLY).feed(status(409, "Exceeded MaxRequestBatch of 100"))


def test_fetch_ends_quietly_when_too_many_requests_wait() -> None:
    state = FetchState(5, REPLY)
    state.feed(status(409, "Exceeded MaxWaiting"))
    assert state.done and state.msgs == []


def test_fetch_with_no_responders_raises_service_unavailable() -> None:
    with pytest.raises(ServiceUnavailableError):
        FetchState(1, REPLY).feed(status(503))


def test_pull_request_bodies() -> None:
    assert pull_request(10, None, no_wait=True) == {"batch": 10, "no_wait": True}
    waiting = pull_request(3, 2.0, max_bytes=1024, heartbeat=0.5)
    assert waiting == {
        "batch": 3,
        "expires": 1_900_000_000,
        "max_bytes": 1024,
        "idle_heartbeat": 500_000_000,
    }
    # The server's expiry comes before the client's deadline, even for short fetches.
    assert 0 < pull_request(1, 0.05)["expires"] < 50_000_000


# ------------------------------------------------------------------------ push: delivery


def heartbeat(**headers: str) -> Msg:
    return Msg(None, "_INBOX.d", None, b"", 0, tuple(headers.items()), 100, "Idle Heartbeat")


FLOW = Msg(None, "_INBOX.d", "$JS.FC.S.C.1", b"", 0, (), 100, "FlowControl Request")


def test_push_delivers_data_and_answers_flow_control() -> None:
    state = DeliveryState(api.ConsumerConfig())
    assert state.on_message(data()).action is Action.DELIVER
    assert state.on_message(FLOW) == Step(Action.REPLY, subject="$JS.FC.S.C.1")
    assert state.on_message(heartbeat()).action is Action.SKIP
    assert state.on_message(status(409, "Consumer Deleted")).action is Action.SKIP
    assert state.idle_timeout is None and state.on_idle().action is Action.SKIP


def test_push_answers_a_heartbeat_saying_the_consumer_is_stalled() -> None:
    state = DeliveryState(api.ConsumerConfig())
    step = state.on_message(heartbeat(**{"Nats-Consumer-Stalled": "$JS.FC.S.C.9"}))
    assert step == Step(Action.REPLY, subject="$JS.FC.S.C.9")


def test_ordered_push_restarts_on_a_gap_and_when_heartbeats_stop() -> None:
    state = DeliveryState(api.ConsumerConfig(idle_heartbeat=0.5), ordered=True)
    assert state.idle_timeout == 1.0
    first = state.on_message(data(1))
    assert first.action is Action.DELIVER and first.metadata is not None
    assert first.metadata.sequence.stream == 1
    assert state.on_message(data(3)) == Step(Action.RESTART, reason="sequence gap")
    assert state.on_message(heartbeat(**{"Nats-Last-Consumer": "2"})).action is Action.RESTART
    assert state.on_message(heartbeat(**{"Nats-Last-Consumer": "1"})).action is Action.SKIP
    assert state.on_idle() == Step(Action.RESTART, reason="heartbeats stopped")
    config = state.restart_config("_INBOX.new")
    assert (config.deliver_subject, config.opt_start_seq) == ("_INBOX.new", 2)


# ------------------------------------------------------------------------ ordered consumers


def test_ordered_consumer_accepts_consecutive_sequences() -> None:
    state = OrderedState(api.ConsumerConfig())
    assert state.on_message(1, 10) and state.on_message(2, 12)
    assert (state.consumer_seq, state.stream_seq) == (2, 12)


def test_ordered_consumer_gap_restarts_after_the_last_stream_sequence() -> None:
    state = OrderedState(api.ConsumerConfig(deliver_subject="_INBOX.old"))
    assert state.on_message(1, 10)
    assert not state.on_message(3, 12)  # consumer sequence 2 was lost
    config = state.restart_config("_INBOX.new")
    assert config.deliver_subject == "_INBOX.new"
    assert config.deliver_policy == api.DeliverPolicy.BY_START_SEQUENCE
    assert config.opt_start_seq == 11
    assert (state.consumer_seq, state.resets) == (0, 1)
    assert state.on_message(1, 11)


def test_ordered_consumer_restart_before_any_message_keeps_the_start_policy() -> None:
    state = OrderedState(api.ConsumerConfig(deliver_policy=api.DeliverPolicy.LAST_PER_SUBJECT))
    config = state.restart_config("_INBOX.new")
    assert config.deliver_policy == api.DeliverPolicy.LAST_PER_SUBJECT
    assert config.opt_start_seq is None


def test_ordered_consumer_heartbeat_announcing_unseen_messages_is_a_gap() -> None:
    state = OrderedState(api.ConsumerConfig())
    state.on_message(1, 1)
    assert state.on_heartbeat("1") and state.on_heartbeat(None)
    assert not state.on_heartbeat("2")


def test_ordered_config_has_no_acks_flow_control_and_heartbeats() -> None:
    config = ordered_config(api.ConsumerConfig(filter_subject="a.>"), None)
    assert config.ack_policy == api.AckPolicy.NONE
    assert (config.flow_control, config.idle_heartbeat, config.max_deliver) == (True, 5.0, 1)
    assert config.filter_subject == "a.>"


# ------------------------------------------------------------------------ messages


def test_metadata_from_a_v2_reply_subject() -> None:
    meta = parse_metadata("$JS.ACK.hub.ACC.ORDERS.worker.2.41.7.1700000000000000000.5.rand")
    assert (meta.stream, meta.consumer, meta.domain) == ("ORDERS", "worker", "hub")
    assert (meta.sequence.stream, meta.sequence.consumer) == (41, 7)
    assert (meta.num_delivered, meta.num_pending) == (2, 5)
    assert meta.timestamp == datetime.datetime(2023, 11, 14, 22, 13, 20, tzinfo=datetime.UTC)


def test_metadata_from_a_v1_reply_subject() -> None:
    meta = parse_metadata("$JS.ACK.ORDERS.worker.1.3.3.1700000000000000000.0")
    assert (meta.stream, meta.sequence.stream, meta.domain) == ("ORDERS", 3, None)


@pytest.mark.parametrize(
    "reply", [None, "", "_INBOX.x", "$JS.ACK.too.short", "$JS.ACK.a.b.x.y.z.w.q"]
)
def test_metadata_of_a_plain_message_is_refused(reply: str | None) -> None:
    with pytest.raises(NotJSMessageError):
        parse_metadata(reply)


def test_nak_with_delay_is_sent_in_nanoseconds() -> None:
    assert nak_payload(None) == b"-NAK"
    assert nak_payload(1.5) == b'-NAK {"delay": 1500000000}'


# ------------------------------------------------------------------------ API errors


@pytest.mark.parametrize(
    ("error", "cls"),
    [
        ({"code": 404, "err_code": 10059, "description": "stream not found"}, StreamNotFoundError),
        (
            {"code": 400, "err_code": 10071, "description": "wrong last sequence: 1"},
            WrongLastSequenceError,
        ),
        ({"code": 404, "err_code": 99999, "description": "something new"}, NotFoundError),
        ({"code": 503, "description": "unavailable"}, ServiceUnavailableError),
        ({"code": 418, "description": "?"}, APIError),
    ],
)
def test_api_errors_map_by_err_code_then_code(error: dict[str, object], cls: type) -> None:
    exc = api_error(error)
    assert type(exc) is cls
    assert exc.description == error["description"]


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2024-05-06T07:08:09.123456789Z", (2024, 5, 6, 7, 8, 9, 123456)),
        ("2024-05-06T07:08:09Z", (2024, 5, 6, 7, 8, 9, 0)),
        ("2024-05-06T09:08:09.5+02:00", (2024, 5, 6, 7, 8, 9, 500000)),
    ],
)
def test_server_times_are_read_to_the_microsecond_in_utc(
    stamp: str, expected: tuple[int, ...]
) -> None:
    parsed = parse_time(stamp)
    assert parsed == datetime.datetime(*expected, tzinfo=datetime.UTC)
