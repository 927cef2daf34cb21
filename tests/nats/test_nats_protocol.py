"""The sans-IO protocol core, byte by byte, plus property tests."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anystream.nats.errors import (
    BadHeadersError,
    BadSubjectError,
    MalformedFrameError,
    MaxPayloadError,
    ProtocolError,
)
from anystream.nats.protocol import (
    Err,
    Info,
    Msg,
    Ok,
    Parser,
    Ping,
    Pong,
    connect_command,
    encode_headers,
    parse_headers,
    pub_command,
    publishes_only,
    sub_command,
    unsub_command,
    validate_subject,
)

# --------------------------------------------------------------------------- parsing


def test_info_is_parsed_into_its_json_options() -> None:
    events = Parser().feed(b'INFO {"server_id":"x","max_payload":1048576}\r\n')
    assert events == [Info({"server_id": "x", "max_payload": 1048576})]


def test_control_messages_are_parsed_case_insensitively() -> None:
    events = Parser().feed(b"PING\r\npong\r\n+OK\r\n-ERR 'Stale Connection'\r\n")
    assert events == [Ping(), Pong(), Ok(), Err("Stale Connection")]
    assert events[3].is_stale  # type: ignore[union-attr]


def test_authorization_errors_are_recognised() -> None:
    (err,) = Parser().feed(b"-ERR 'Authorization Violation'\r\n")
    assert isinstance(err, Err) and err.is_auth_error


def test_msg_with_and_without_reply() -> None:
    events = Parser().feed(b"MSG foo.bar 9 5\r\nhello\r\nMSG foo 10 _INBOX.1 0\r\n\r\n")
    assert events == [
        Msg("foo.bar", 9, None, b"hello"),
        Msg("foo", 10, "_INBOX.1", b""),
    ]


def test_payload_may_contain_crlf_and_protocol_words() -> None:
    payload = b"PING\r\nMSG x 1 2\r\n"
    data = b"MSG a 1 %d\r\n%s\r\n" % (len(payload), payload)
    assert Parser().feed(data) == [Msg("a", 1, None, payload)]


def test_fields_may_be_separated_by_tabs_and_several_spaces() -> None:
    assert Parser().feed(b"MSG\tfoo  1\t3\r\nabc\r\n") == [Msg("foo", 1, None, b"abc")]


def test_hmsg_headers_status_and_payload_are_split() -> None:
    headers = b"NATS/1.0\r\nA: 1\r\nA: 2\r\nTrace-Id:  xyz \r\n\r\n"
    body = b"payload"
    frame = b"HMSG s 3 r %d %d\r\n%s%s\r\n" % (
        len(headers),
        len(headers) + len(body),
        headers,
        body,
    )
    (msg,) = Parser().feed(frame)
    assert msg == Msg("s", 3, "r", body, (("A", "1"), ("A", "2"), ("Trace-Id", "xyz")), None, "")


def test_no_responders_status_message() -> None:
    headers = b"NATS/1.0 503\r\n\r\n"
    frame = b"HMSG _INBOX.x.1 2 %d %d\r\n%s\r\n" % (len(headers), len(headers), headers)
    (msg,) = Parser().feed(frame)
    assert isinstance(msg, Msg)
    assert msg.status == 503 and msg.payload == b"" and msg.headers == ()


def test_status_with_description() -> None:
    pairs, status, description = parse_headers(b"NATS/1.0 408 Request Timeout\r\n\r\n")
    assert (pairs, status, description) == ((), 408, "Request Timeout")


def test_incomplete_frames_wait_for_more_bytes() -> None:
    parser = Parser()
    assert parser.feed(b"MSG foo 1 5\r\nhel") == []
    assert parser.buffered > 0
    assert parser.feed(b"lo") == []
    assert parser.feed(b"\r") == []
    assert parser.feed(b"\nPI") == [Msg("foo", 1, None, b"hello")]
    assert parser.feed(b"NG\r\n") == [Ping()]
    assert parser.buffered == 0


@pytest.mark.parametrize(
    "frame",
    [
        b"HELLO\r\n",
        b"\r\n",
        b"MSG foo\r\n",
        b"MSG foo 1 2 3 4 5\r\n",
        b"MSG foo x 3\r\nabc\r\n",
        b"MSG foo 1 -3\r\n",
        b"MSG foo 1 3\r\nabcd\r\n",
        b"HMSG foo 1 100 10\r\n",
        b"HMSG foo 1 12 14\r\nNATS/1.1\r\n\r\nab\r\n",
        b"HMSG foo 1 14 14\r\nNATS/1.0\r\nAB\r\n\r\n",
        b"INFO {not json}\r\n",
        b"INFO [1, 2]\r\n",
        b"MSG \xff\xfe 1 0\r\n\r\n",
    ],
)
def test_malformed_frames_raise_malformed_frame_error(frame: bytes) -> None:
    with pytest.raises(MalformedFrameError):
        Parser().feed(frame)


def test_control_line_over_the_limit_is_rejected_even_without_crlf() -> None:
    parser = Parser(max_control_line=64)
    with pytest.raises(MalformedFrameError, match="control line longer"):
        parser.feed(b"INFO " + b"x" * 100)


def test_incoming_message_over_max_payload_is_rejected() -> None:
    parser = Parser(max_payload=10)
    with pytest.raises(MalformedFrameError, match="max_payload"):
        parser.feed(b"MSG foo 1 11\r\n")


# --------------------------------------------------------------------------- commands


def test_pub_command_bytes() -> None:
    assert pub_command("foo.bar", b"hi") == b"PUB foo.bar 2\r\nhi\r\n"
    assert pub_command("foo", b"", reply="inbox.1") == b"PUB foo inbox.1 0\r\n\r\n"


def test_hpub_command_counts_header_and_total_bytes() -> None:
    command = pub_command("foo", b"hi", headers={"A": "1", "B": ["2", "3"]})
    block = b"NATS/1.0\r\nA: 1\r\nB: 2\r\nB: 3\r\n\r\n"
    assert command == b"HPUB foo %d %d\r\n%shi\r\n" % (len(block), len(block) + 2, block)


def test_hpub_roundtrips_through_the_parser_as_hmsg() -> None:
    command = pub_command("foo", b"data", reply="r", headers=[("K", "v1"), ("K", "v2")])
    frame = b"H" + b"MSG foo 7 r" + command[len(b"HPUB foo r") :]
    (msg,) = Parser().feed(frame)
    assert msg == Msg("foo", 7, "r", b"data", (("K", "v1"), ("K", "v2")))


def test_payload_over_max_payload_is_refused_with_sizes_in_the_message() -> None:
    with pytest.raises(MaxPayloadError, match=r"11 bytes.*max_payload of 10"):
        pub_command("foo", b"x" * 11, max_payload=10)
    with pytest.raises(MaxPayloadError):
        pub_command("foo", b"x" * 5, headers={"A": "b"}, max_payload=20)
    assert pub_command("foo", b"x" * 10, max_payload=10).endswith(b"x" * 10 + b"\r\n")


@pytest.mark.parametrize("subject", ["", "foo bar", "foo\tbar", "foo.", ".foo", "a..b", "a\r\n"])
def test_invalid_subjects_are_refused(subject: str) -> None:
    with pytest.raises(BadSubjectError):
        pub_command(subject, b"")
    with pytest.raises(BadSubjectError):
        sub_command(subject, 1)


def test_wildcards_only_in_subscriptions_and_as_whole_tokens() -> None:
    validate_subject("a.*.c", wildcards=True)
    validate_subject("a.>", wildcards=True)
    with pytest.raises(BadSubjectError, match="wildcard"):
        validate_subject("a.*")
    with pytest.raises(BadSubjectError, match="last token"):
        validate_subject("a.>.b", wildcards=True)
    with pytest.raises(BadSubjectError, match="whole tokens"):
        validate_subject("a.b*", wildcards=True)


def test_sub_and_unsub_commands() -> None:
    assert sub_command("foo.*", 4) == b"SUB foo.* 4\r\n"
    assert sub_command("foo", 5, "workers") == b"SUB foo workers 5\r\n"
    assert unsub_command(4) == b"UNSUB 4\r\n"
    assert unsub_command(4, 10) == b"UNSUB 4 10\r\n"
    with pytest.raises(BadSubjectError):
        sub_command("foo", 1, "bad queue")


@pytest.mark.parametrize(
    "headers", [{"Bad:Name": "x"}, {"Bad Name": "x"}, {"": "x"}, {"A": "line\r\nbreak"}]
)
def test_bad_headers_are_refused(headers: dict[str, str]) -> None:
    with pytest.raises(BadHeadersError):
        encode_headers(headers)


def test_connect_command_is_compact_json() -> None:
    command = connect_command({"verbose": False, "name": "x"})
    assert command.startswith(b"CONNECT {") and command.endswith(b"}\r\n")
    assert json.loads(command[len(b"CONNECT ") :]) == {"verbose": False, "name": "x"}


# --------------------------------------------------------------------------- properties

_subjects = st.from_regex(r"[a-zA-Z0-9_\-]{1,8}(\.[a-zA-Z0-9_\-]{1,8}){0,3}", fullmatch=True)
_header_names = st.from_regex(r"[A-Za-z][A-Za-z0-9\-]{0,10}", fullmatch=True)
_header_values = st.from_regex(r"[ -~]{0,20}", fullmatch=True).map(str.strip)


@st.composite
def _frames(draw: st.DrawFn) -> tuple[bytes, object]:
    kind = draw(st.sampled_from(["msg", "hmsg", "ping", "pong", "ok", "err", "info"]))
    if kind == "ping":
        return b"PING\r\n", Ping()
    if kind == "pong":
        return b"PONG\r\n", Pong()
    if kind == "ok":
        return b"+OK\r\n", Ok()
    if kind == "err":
        text = draw(st.from_regex(r"[a-zA-Z ]{1,30}", fullmatch=True)).strip() or "x"
        return b"-ERR '%s'\r\n" % text.encode(), Err(text)
    if kind == "info":
        options = {"max_payload": draw(st.integers(0, 10**6)), "server_name": draw(_subjects)}
        return b"INFO " + json.dumps(options).encode() + b"\r\n", Info(options)
    subject = draw(_subjects)
    sid = draw(st.integers(1, 10**6))
    reply = draw(st.none() | _subjects)
    payload = draw(st.binary(max_size=300))
    if kind == "msg":
        command = pub_command(subject, payload, reply=reply)
        return b"MSG %s %d%s" % (
            subject.encode(),
            sid,
            command[len(b"PUB ") + len(subject) :],
        ), Msg(subject, sid, reply, payload)
    pairs = draw(st.lists(st.tuples(_header_names, _header_values), max_size=4))
    command = pub_command(subject, payload, reply=reply, headers=pairs)
    frame = b"HMSG %s %d%s" % (subject.encode(), sid, command[len(b"HPUB ") + len(subject) :])
    return frame, Msg(subject, sid, reply, payload, tuple(pairs))


@settings(max_examples=200, deadline=None)
@given(frames=st.lists(_frames(), min_size=1, max_size=12), data=st.data())
def test_any_split_of_a_valid_stream_yields_the_same_events(
    frames: list[tuple[bytes, object]], data: st.DataObject
) -> None:
    stream = b"".join(frame for frame, _ in frames)
    expected = [event for _, event in frames]
    assert Parser().feed(stream) == expected
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=20)))
    parser = Parser()
    events = []
    start = 0
    for cut in [*cuts, len(stream)]:
        events += parser.feed(stream[start:cut])
        start = cut
    assert events == expected
    assert parser.buffered == 0


@settings(max_examples=300, deadline=None)
@given(chunks=st.lists(st.binary(max_size=64), max_size=10))
def test_random_bytes_raise_nothing_but_protocol_error(chunks: list[bytes]) -> None:
    parser = Parser(max_control_line=128, max_payload=256)
    try:
        for chunk in chunks:
            parser.feed(chunk)
    except ProtocolError:
        pass


_prefixes = st.sampled_from(
    [b"MSG ", b"HMSG ", b"INFO ", b"-ERR ", b"PING", b"MSG a 1 ", b"HMSG a 1 12 "]
)


@settings(max_examples=300, deadline=None)
@given(prefix=_prefixes, tail=st.binary(max_size=80))
def test_near_valid_frames_raise_nothing_but_protocol_error(prefix: bytes, tail: bytes) -> None:
    parser = Parser(max_control_line=128, max_payload=256)
    try:
        parser.feed(prefix + tail + b"\r\n")
        parser.feed(b"\r\n" * 3)
    except ProtocolError:
        pass


def test_publishes_only_keeps_pub_and_hpub_commands_whole() -> None:
    pub = pub_command("a", b"PING\r\nSUB x 1\r\n")
    hpub = pub_command("b", b"yo", headers={"K": "v"})
    buffer = b"SUB a 1\r\n" + pub + b"PING\r\nUNSUB 1 5\r\n" + hpub + b"PONG\r\n"
    assert publishes_only(buffer) == pub + hpub
    assert publishes_only(b"") == b""
