"""The NATS client protocol without I/O: bytes in, events out; commands as bytes.

:class:`Parser` turns whatever the server sent (in chunks of any size) into events:
:class:`Info`, :class:`Msg` (``MSG`` and ``HMSG``, headers parsed), :class:`Ping`,
:class:`Pong`, :class:`Ok` and :class:`Err`. Anything it cannot parse raises a
:class:`~anystream.nats.errors.MalformedFrameError`; after that the parser is unusable and
the connection should be dropped.

The ``*_command`` functions (defined in :mod:`anystream.nats.commands`, re-exported here)
build the client's commands and validate what they are given (subjects, headers, payload
size). The protocol *state* (handshake, subscriptions, PING/PONG order, what to restore
after a reconnect) lives in :class:`anystream.nats.connection.Connection`, built on these.
Nothing here awaits, reads or writes a socket.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .commands import (
    CRLF,
    DEFAULT_MAX_PAYLOAD,
    HEADER_LINE,
    PING,
    PONG,
    HeadersInput,
    connect_command,
    encode_headers,
    pub_command,
    publishes_only,
    sub_command,
    unsub_command,
    validate_queue,
    validate_subject,
)
from .errors import MalformedFrameError

__all__ = (
    "DEFAULT_MAX_CONTROL_LINE",
    "DEFAULT_MAX_PAYLOAD",
    "PING",
    "PONG",
    "Err",
    "Event",
    "HeadersInput",
    "Info",
    "Msg",
    "Ok",
    "Parser",
    "Ping",
    "Pong",
    "connect_command",
    "encode_headers",
    "parse_headers",
    "pub_command",
    "publishes_only",
    "sub_command",
    "unsub_command",
    "validate_queue",
    "validate_subject",
)

DEFAULT_MAX_CONTROL_LINE = 4096
"""The longest control line (everything before CRLF) the parser accepts."""


# --------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class Info:
    """``INFO``: the server's description of itself (``max_payload``, ``connect_urls``...)."""

    options: dict[str, Any]


@dataclass(slots=True)
class Msg:
    """``MSG`` or ``HMSG``: a message delivered to subscription ``sid``.

    ``headers`` is ``None`` for ``MSG``; for ``HMSG`` it holds the header pairs in order
    (repeated keys kept), and ``status``/``description`` come from the ``NATS/1.0`` line
    (``503`` means no responders). ``subscription`` is the record of the subscription the
    message is for: set by :meth:`Connection.next_event
    <anystream.nats.connection.Connection.next_event>`, ``None`` from a bare :class:`Parser`.
    """

    subject: str
    sid: int
    reply: str | None
    payload: bytes
    headers: tuple[tuple[str, str], ...] | None = None
    status: int | None = None
    description: str = ""
    subscription: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Ping:
    """``PING``: the server wants a ``PONG``."""


@dataclass(frozen=True, slots=True)
class Pong:
    """``PONG``: the answer to one of our ``PING`` commands."""


@dataclass(frozen=True, slots=True)
class Ok:
    """``+OK``: acknowledgement in verbose mode."""


@dataclass(frozen=True, slots=True)
class Err:
    """``-ERR``: the server reports an error (quotes stripped from ``message``)."""

    message: str

    @property
    def is_auth_error(self) -> bool:
        """True when the server refused our credentials."""
        text = self.message.lower()
        return "authorization violation" in text or "authentication" in text

    @property
    def is_stale(self) -> bool:
        return "stale connection" in self.message.lower()


Event = Info | Msg | Ping | Pong | Ok | Err

_PING = Ping()
_MIN_HEADER_BLOCK = len(HEADER_LINE) + 4  # "NATS/1.0" and the empty line's two CRLFs
_PONG = Pong()
_OK = Ok()


# --------------------------------------------------------------------------- parser


def _size(field: bytes) -> int:
    if not field.isdigit() or len(field) > 12:
        raise MalformedFrameError(f"invalid size {field[:20]!r} in control line")
    return int(field)


def _text(field: bytes, what: str) -> str:
    try:
        return field.decode()
    except UnicodeDecodeError:
        raise MalformedFrameError(f"{what} is not valid UTF-8: {field[:40]!r}") from None


def parse_headers(block: bytes) -> tuple[tuple[tuple[str, str], ...], int | None, str]:
    """Parse an ``HMSG`` header block into ``(pairs, status, description)``.

    The block starts with ``NATS/1.0`` (optionally a status code and description) and
    ends with an empty line. Raises :class:`MalformedFrameError` when it does not.
    """
    if not block.endswith(b"\r\n\r\n"):
        raise MalformedFrameError("header block does not end with an empty line")
    text = _text(block[:-4], "header block")
    lines = text.split("\r\n")
    first = lines[0]
    if not first.startswith(HEADER_LINE):
        raise MalformedFrameError(f"header block does not start with NATS/1.0: {first[:40]!r}")
    status: int | None = None
    description = ""
    rest = first[len(HEADER_LINE) :].strip()
    if rest:
        code, _, description = rest.partition(" ")
        if len(code) != 3 or not code.isdigit() or not code.isascii():
            raise MalformedFrameError(f"invalid status in header line: {first[:40]!r}")
        status = int(code)
        description = description.strip()
    pairs: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise MalformedFrameError(f"invalid header line: {line[:60]!r}")
        pairs.append((name, value.strip()))
    return tuple(pairs), status, description


class Parser:
    """Incremental parser of the server's byte stream.

    Feed it any chunks with :meth:`feed`; it returns the complete events found so far and
    keeps the incomplete tail for the next call. ``max_payload`` is enforced on incoming
    messages (update it from the server's INFO); control lines longer than
    ``max_control_line`` are rejected.
    """

    __slots__ = ("_buf", "_pending", "max_control_line", "max_payload")

    def __init__(
        self,
        *,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        max_control_line: int = DEFAULT_MAX_CONTROL_LINE,
    ) -> None:
        self._buf = bytearray()
        # (subject, sid, reply, header size, total size) of a MSG/HMSG awaiting payload
        self._pending: tuple[str, int, str | None, int, int] | None = None
        self.max_payload = max_payload
        self.max_control_line = max_control_line

    @property
    def buffered(self) -> int:
        """Bytes received but not yet turned into events."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Event]:
        """Add ``data`` and return every event now complete, in order."""
        buf = self._buf
        buf += data
        events: list[Event] = []
        pos = 0
        end = len(buf)
        try:
            while pos < end:
                pending = self._pending
                if pending is not None:
                    subject, sid, reply, hsize, total = pending
                    stop = pos + total
                    if end < stop + 2:
                        break
                    if buf[stop : stop + 2] != CRLF:
                        raise MalformedFrameError(
                            f"message on {subject!r} is not followed by CRLF after {total} bytes"
                        )
                    if hsize < 0:
                        events.append(Msg(subject, sid, reply, bytes(buf[pos:stop])))
                    else:
                        pairs, status, description = parse_headers(bytes(buf[pos : pos + hsize]))
                        events.append(
                            Msg(
                                subject,
                                sid,
                                reply,
                                bytes(buf[pos + hsize : stop]),
                                pairs,
                                status,
                                description,
                            )
                        )
                    pos = stop + 2
                    self._pending = None
                    continue
                nl = buf.find(CRLF, pos)
                if nl < 0:
                    if end - pos > self.max_control_line:
                        raise MalformedFrameError(
                            f"control line longer than {self.max_control_line} bytes"
                        )
                    break
                if nl - pos > self.max_control_line:
                    raise MalformedFrameError(
                        f"control line longer than {self.max_control_line} bytes"
                    )
                line = bytes(buf[pos:nl])
                pos = nl + 2
                if line[:4] == b"MSG ":  # the hot path, inlined
                    args = line[4:].split()
                    if len(args) == 3:
                        subject_b, sid_b, size_b = args
                        reply = None
                    elif len(args) == 4:
                        subject_b, sid_b, reply_b, size_b = args
                        reply = _text(reply_b, "reply subject")
                    else:
                        raise MalformedFrameError(f"MSG needs 3 or 4 arguments: {line[:80]!r}")
                    if not (size_b.isdigit() and sid_b.isdigit()) or len(size_b) > 12:
                        raise MalformedFrameError(f"invalid MSG control line: {line[:80]!r}")
                    total = int(size_b)
                    if total > self.max_payload:
                        raise MalformedFrameError(
                            f"MSG of {total} bytes is over max_payload {self.max_payload}"
                        )
                    self._pending = (_text(subject_b, "subject"), int(sid_b), reply, -1, total)
                    continue
                if line[:5] == b"HMSG ":  # the hot path with headers
                    self._pending = self._hmsg(line[5:], line)
                    continue
                event = self._control(line)
                if event is not None:
                    events.append(event)
        finally:
            del buf[:pos]
        return events

    def _hmsg(self, rest: bytes, line: bytes) -> tuple[str, int, str | None, int, int]:
        """The pending message of an ``HMSG`` control line (``rest``: after ``HMSG``)."""
        args = rest.split()
        if len(args) == 4:
            subject, sid, hsize_b, size = args
            reply = None
        elif len(args) == 5:
            subject, sid, reply_b, hsize_b, size = args
            reply = _text(reply_b, "reply subject")
        else:
            raise MalformedFrameError(f"HMSG needs 4 or 5 arguments: {line[:80]!r}")
        if (
            not (size.isdigit() and hsize_b.isdigit() and sid.isdigit())
            or len(size) > 12
            or len(hsize_b) > 12
            or len(sid) > 12
        ):
            raise MalformedFrameError(f"invalid HMSG control line: {line[:80]!r}")
        hsize = int(hsize_b)
        total = int(size)
        if hsize > total or hsize < _MIN_HEADER_BLOCK:
            raise MalformedFrameError(f"HMSG header size {hsize} does not fit total size {total}")
        if total > self.max_payload:
            raise MalformedFrameError(
                f"HMSG of {total} bytes is over max_payload {self.max_payload}"
            )
        return (_text(subject, "subject"), int(sid), reply, hsize, total)

    def _control(self, line: bytes) -> Event | None:
        parts = line.split(None, 1)
        if not parts:
            raise MalformedFrameError("empty control line")
        op = parts[0].upper()
        rest = parts[1] if len(parts) > 1 else b""
        if op == b"MSG":
            args = rest.split()
            if len(args) == 3:
                subject, sid, size = args
                reply = None
            elif len(args) == 4:
                subject, sid, reply_b, size = args
                reply = _text(reply_b, "reply subject")
            else:
                raise MalformedFrameError(f"MSG needs 3 or 4 arguments: {line[:80]!r}")
            total = _size(size)
            if total > self.max_payload:
                raise MalformedFrameError(
                    f"MSG of {total} bytes is over max_payload {self.max_payload}"
                )
            self._pending = (_text(subject, "subject"), _size(sid), reply, -1, total)
            return None
        if op == b"HMSG":
            self._pending = self._hmsg(rest, line)
            return None
        if op == b"PING" and not rest.strip():
            return _PING
        if op == b"PONG" and not rest.strip():
            return _PONG
        if op == b"+OK" and not rest.strip():
            return _OK
        if op == b"-ERR":
            message = _text(rest.strip(), "error message")
            if len(message) >= 2 and message[0] == message[-1] == "'":
                message = message[1:-1]
            return Err(message)
        if op == b"INFO":
            try:
                options = json.loads(rest)
            except ValueError:
                raise MalformedFrameError(f"INFO is not valid JSON: {rest[:80]!r}") from None
            if not isinstance(options, dict):
                raise MalformedFrameError("INFO is not a JSON object")
            return Info(options)
        raise MalformedFrameError(f"unknown protocol line: {line[:80]!r}")
