"""The client's commands as bytes, and the checks on what goes into them.

Pure functions, no I/O: :func:`pub_command`, :func:`sub_command`, :func:`unsub_command`
and :func:`connect_command` build the commands; :func:`validate_subject`,
:func:`validate_queue` and :func:`encode_headers` refuse what the server would reject
(:class:`~anystream.nats.errors.BadSubjectError`, ``BadHeadersError``, ``MaxPayloadError``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .errors import BadHeadersError, BadSubjectError, MaxPayloadError

__all__ = (
    "CRLF",
    "DEFAULT_MAX_PAYLOAD",
    "HEADER_LINE",
    "PING",
    "PONG",
    "HeadersInput",
    "connect_command",
    "encode_headers",
    "pub_command",
    "publishes_only",
    "sub_command",
    "unsub_command",
    "validate_queue",
    "validate_subject",
)

DEFAULT_MAX_PAYLOAD = 1024 * 1024
"""The server's default ``max_payload`` (1 MiB), used until INFO says otherwise."""

CRLF = b"\r\n"
PING = b"PING\r\n"
PONG = b"PONG\r\n"
HEADER_LINE = "NATS/1.0"

HeadersInput = Mapping[str, str | Sequence[str]] | Iterable[tuple[str, str]]
"""Headers to send: a mapping (a value may be a list for repeated keys) or pairs."""


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

    A utility for other clients and tests: this client does not need it, because its
    outbox records where the commands that belong to one connection (SUB, UNSUB,
    PING/PONG) are as it queues them (:class:`anystream.nats.outbox.Outbox`).
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
