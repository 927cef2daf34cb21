"""The NATS client protocol without I/O: bytes in, events out; commands as bytes.

:class:`Parser` turns whatever the server sent (in chunks of any size) into events:
:class:`Info`, :class:`Msg` (``MSG`` and ``HMSG``, headers parsed), :class:`Ping`,
:class:`Pong`, :class:`Ok` and :class:`Err`. Anything it cannot parse raises a
:class:`~anystream.nats.errors.MalformedFrameError`; after that the parser is unusable and
the connection should be dropped.

The ``*_command`` functions build the client's commands and validate what they are
given (subjects, headers, payload size). Nothing here awaits, reads or writes a socket.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import BadHeadersError, BadSubjectError, MalformedFrameError, MaxPayloadError

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

DEFAULT_MAX_PAYLOAD = 1024 * 1024
"""The server's default ``max_payload`` (1 MiB), used until INFO says otherwise."""

DEFAULT_MAX_CONTROL_LINE = 4096
"""The longest control line (everything before CRLF) the parser accepts."""

CRLF = b"\r\n"
PING = b"PING\r\n"
PONG = b"PONG\r\n"
HEADER_LINE = "NATS/1.0"

HeadersInput = Mapping[str, str | Sequence[str]] | Iterable[tuple[str, str]]
"""Headers to send: a mapping (a value may be a list for repeated keys) or pairs."""


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
    (``503`` means no responders).
    """

    subject: str
    sid: int
    reply: str | None
    payload: bytes
    headers: tuple[tuple[str, str], ...] | None = None
    status: int | None = None
    description: str = ""


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
                event = self._control(line)
                if event is not None:
                    events.append(event)
        finally:
            del buf[:pos]
        return events

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
            args = rest.split()
            if len(args) == 4:
                subject, sid, hsize_b, size = args
                reply = None
            elif len(args) == 5:
                subject, sid, reply_b, hsize_b, size = args
                reply = _text(reply_b, "reply subject")
            else:
                raise MalformedFrameError(f"HMSG needs 4 or 5 arguments: {line[:80]!r}")
            hsize = _size(hsize_b)
            total = _size(size)
            if hsize > total or hsize < len(HEADER_LINE) + 4:
                raise MalformedFrameError(
                    f"HMSG header size {hsize} does not fit total size {total}"
                )
            if total > self.max_payload:
                raise MalformedFrameError(
                    f"HMSG of {total} bytes is over max_payload {self.max_payload}"
                )
            self._pending = (_text(subject, "subject"), _size(sid), reply, hsize, total)
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


# --------------------------------------------------------------------------- commands

_BAD_SUBJECT_CHARS = frozenset(" \t\r\n\f\v\x00")


def validate_subject(subject: str, *, wildcards: bool = False) -> None:
    """Raise :class:`BadSubjectError` unless ``subject`` is a valid NATS subject.

    Subjects are dot-separated non-empty tokens without whitespace. With ``wildcards``
    (subscriptions), ``*`` may stand as a whole token and ``>`` as the whole last token;
    without (publish, reply), they are refused.
    """
    if not isinstance(subject, str) or not subject:
        raise BadSubjectError(f"subject must be a non-empty string, got {subject!r}")
    if not _BAD_SUBJECT_CHARS.isdisjoint(subject):
        raise BadSubjectError(f"subject {subject!r} contains whitespace")
    tokens = subject.split(".")
    last = len(tokens) - 1
    for i, token in enumerate(tokens):
        if not token:
            raise BadSubjectError(f"subject {subject!r} has an empty token")
        if ("*" in token or ">" in token) and token not in ("*", ">"):
            if wildcards:
                raise BadSubjectError(
                    f"subject {subject!r}: wildcards must be whole tokens ({token!r})"
                )
            continue
        if token in ("*", ">"):
            if not wildcards:
                raise BadSubjectError(
                    f"subject {subject!r} has a wildcard; only subscriptions may use one"
                )
            if token == ">" and i != last:
                raise BadSubjectError(f"subject {subject!r}: '>' must be the last token")


_valid_literals: set[str] = set()
_VALID_CACHE_SIZE = 4096


def _remember_valid(subject: str) -> None:
    """Cache a subject that passed validation (publishing to it again skips the check)."""
    if len(_valid_literals) >= _VALID_CACHE_SIZE:
        _valid_literals.clear()
    _valid_literals.add(subject)


def validate_queue(queue: str) -> None:
    """Raise :class:`BadSubjectError` unless ``queue`` is a usable queue group name."""
    if not isinstance(queue, str) or not queue:
        raise BadSubjectError(f"queue group must be a non-empty string, got {queue!r}")
    if not _BAD_SUBJECT_CHARS.isdisjoint(queue):
        raise BadSubjectError(f"queue group {queue!r} contains whitespace")


def _header_pairs(headers: HeadersInput) -> Iterable[tuple[str, str]]:
    if isinstance(headers, Mapping):
        for name, value in headers.items():
            if isinstance(value, str):
                yield name, value
            else:
                for item in value:
                    yield name, item
    else:
        yield from headers


def encode_headers(headers: HeadersInput | None, status: int | None = None) -> bytes:
    """The ``NATS/1.0`` header block for ``headers`` (ends with an empty line).

    Raises :class:`BadHeadersError` for a name with a colon, whitespace or control
    characters, or a value with a line break.
    """
    parts = [HEADER_LINE if status is None else f"{HEADER_LINE} {status:03d}"]
    for name, value in _header_pairs(headers or ()):
        if (
            not isinstance(name, str)
            or not name
            or not name.isprintable()
            or any(c in name for c in ": \t")
        ):
            raise BadHeadersError(f"invalid header name {name!r}")
        if not isinstance(value, str):
            raise BadHeadersError(f"header {name!r} value must be str, got {type(value)}")
        if "\r" in value or "\n" in value:
            raise BadHeadersError(f"header {name!r} value contains a line break")
        parts.append(f"{name}: {value}")
    return ("\r\n".join(parts) + "\r\n\r\n").encode()


def pub_command(
    subject: str,
    payload: bytes = b"",
    *,
    reply: str | None = None,
    headers: HeadersInput | None = None,
    max_payload: int = DEFAULT_MAX_PAYLOAD,
    validate: bool = True,
) -> bytes:
    """``PUB`` (or ``HPUB`` when ``headers`` is given, even empty) with the payload.

    Raises :class:`BadSubjectError` for an invalid subject or reply and
    :class:`MaxPayloadError` when headers and payload together exceed ``max_payload``.
    """
    if validate:
        if subject not in _valid_literals:
            validate_subject(subject)
            _remember_valid(subject)
        if reply is not None:
            validate_subject(reply)  # replies are mostly unique inboxes: not cached
    target = subject if reply is None else f"{subject} {reply}"
    if headers is None:
        size = len(payload)
        if size > max_payload:
            raise MaxPayloadError(size, max_payload)
        return b"".join((b"PUB ", target.encode(), b" %d\r\n" % size, payload, CRLF))
    block = encode_headers(headers)
    total = len(block) + len(payload)
    if total > max_payload:
        raise MaxPayloadError(total, max_payload)
    return b"".join(
        (b"HPUB ", target.encode(), b" %d %d\r\n" % (len(block), total), block, payload, CRLF)
    )


def sub_command(subject: str, sid: int, queue: str | None = None) -> bytes:
    """``SUB subject [queue] sid``; the subject may contain wildcards."""
    validate_subject(subject, wildcards=True)
    if queue is None:
        return f"SUB {subject} {sid}\r\n".encode()
    validate_queue(queue)
    return f"SUB {subject} {queue} {sid}\r\n".encode()


def unsub_command(sid: int, max_msgs: int | None = None) -> bytes:
    """``UNSUB sid [max_msgs]``: stop now, or after ``max_msgs`` messages in total."""
    if max_msgs is None:
        return b"UNSUB %d\r\n" % sid
    if max_msgs < 0:
        raise ValueError(f"max_msgs must be >= 0, got {max_msgs}")
    return b"UNSUB %d %d\r\n" % (sid, max_msgs)


def publishes_only(commands: bytes | bytearray) -> bytearray:
    """Keep the ``PUB``/``HPUB`` commands of a buffer of our own commands, drop the rest.

    Used when a connection is lost: publishes wait for the next connection, while SUB,
    UNSUB and PING/PONG belong to the old one (subscriptions are restored separately).
    """
    kept = bytearray()
    pos = 0
    end = len(commands)
    while pos < end:
        nl = commands.find(CRLF, pos)
        if nl < 0:
            break
        line = bytes(commands[pos:nl])
        stop = nl + 2
        if line.startswith((b"PUB ", b"HPUB ")):
            stop += int(line.rsplit(b" ", 1)[1]) + 2
            kept += commands[pos:stop]
        pos = stop
    return kept


def connect_command(options: Mapping[str, Any]) -> bytes:
    """``CONNECT {json}`` with the given options (auth, name, ``headers``...)."""
    return b"CONNECT " + json.dumps(dict(options), separators=(",", ":")).encode() + CRLF
