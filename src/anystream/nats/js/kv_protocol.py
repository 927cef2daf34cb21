"""The key-value store's protocol, with no I/O: names, subjects, headers, stream config.

Key and bucket rules, NATS subject matching for key filters, what a message's headers
say about the revision it stores (a value, a ``DEL`` / ``PURGE`` marker, or a marker
the server placed when a value expired), and the stream config of a bucket. Pure
functions of their arguments: :mod:`.kv` does the I/O.
"""

from __future__ import annotations

import re
from typing import Any

from nats.js import api

from .errors import InvalidBucketNameError, InvalidKeyError, KeyHistoryTooLargeError

__all__ = (
    "KV_DEL",
    "KV_MARKER_REASON",
    "KV_OP",
    "KV_PURGE",
    "MSG_ROLLUP_SUBJECT",
    "WRONG_LAST_CODES",
    "check_bucket_name",
    "check_filter",
    "check_key",
    "check_value",
    "is_key_valid",
    "kv_stream_config",
    "operation",
    "subject_matches",
    "user_headers",
    "write_headers",
)

KV_OP = "KV-Operation"
KV_DEL = "DEL"
KV_PURGE = "PURGE"
MSG_ROLLUP_SUBJECT = "sub"
KV_MARKER_REASON = "Nats-Marker-Reason"
"""nats-server 2.11+ marks keys removed by a TTL/limit with this header, not KV-Operation."""

MARKER_OPS = {"MaxAge": KV_PURGE, "Purge": KV_PURGE, "Remove": KV_DEL}
WRONG_LAST_CODES = (10071, 10164)  # JSStreamWrongLastSequence{ErrF,ConstantErr}
MAX_HISTORY = 64
DEFAULT_DUPLICATE_WINDOW = 120.0

VALID_BUCKET_RE = re.compile(r"^[a-zA-Z0-9_-]+$")
_VALID_KEY_RE = re.compile(r"^[-/_=\.a-zA-Z0-9]+$")
_VALID_FILTER_RE = re.compile(r"^[-/_=\.a-zA-Z0-9*>]+$")

# Headers a direct get adds to the stored message's own headers.
DIRECT_GET_HEADERS = frozenset(
    {
        "Nats-Stream",
        "Nats-Sequence",
        "Nats-Time-Stamp",
        "Nats-Subject",
        "Nats-Last-Sequence",
        "Nats-Num-Pending",
        "Nats-UpTo-Sequence",
    }
)


def is_key_valid(key: str) -> bool:
    """True for a key NATS clients accept: ``[-/_=.a-zA-Z0-9]+``, not starting/ending in ``.``."""
    if not key or key[0] == "." or key[-1] == ".":
        return False
    return _VALID_KEY_RE.match(key) is not None


def check_key(key: str) -> None:
    if not isinstance(key, str) or not is_key_valid(key):
        raise InvalidKeyError(
            f"invalid key {key!r}: use letters, digits and -/_=. (not at either end)"
        )


def check_value(value: Any) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"a value must be bytes, got {type(value).__name__}")
    return bytes(value) if not isinstance(value, bytes) else value


def check_filter(keys: str) -> None:
    if not keys or keys[0] == "." or keys[-1] == "." or not _VALID_FILTER_RE.match(keys):
        raise InvalidKeyError(f"invalid key filter {keys!r}")


def check_bucket_name(bucket: Any) -> str:
    if not isinstance(bucket, str) or not VALID_BUCKET_RE.match(bucket):
        raise InvalidBucketNameError(
            f"invalid bucket name {bucket!r}: use letters, digits, '-' and '_'"
        )
    return bucket


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: ``*`` is one token, a final ``>`` one or more."""
    ptoks = pattern.split(".")
    stoks = subject.split(".")
    for i, ptok in enumerate(ptoks):
        if ptok == ">":
            return len(stoks) > i
        if i >= len(stoks) or (ptok != "*" and ptok != stoks[i]):
            return False
    return len(ptoks) == len(stoks)


def user_headers(headers: dict[str, str] | None) -> dict[str, str] | None:
    if not headers:
        return None
    own = {k: v for k, v in headers.items() if k not in DIRECT_GET_HEADERS}
    return own or None


def operation(headers: dict[str, str] | None) -> tuple[bool, str | None]:
    """``(known, op)`` from a KV message's headers; unknown server markers are skipped."""
    if not headers:
        return True, None
    op = headers.get(KV_OP)
    if op is not None:
        return True, op
    reason = headers.get(KV_MARKER_REASON)
    if reason is not None:
        mapped = MARKER_OPS.get(reason)
        return mapped is not None, mapped
    return True, None


def write_headers(
    op: str | None = None, *, last: int | None = None, msg_ttl: float | None = None
) -> dict[str, str]:
    """The headers of a KV write (pure).

    ``op``: a ``DEL`` / ``PURGE`` marker (a purge also rolls the key's subject up);
    ``last``: the revision the key must be at; ``msg_ttl``: the revision's own TTL (s).
    """
    headers: dict[str, str] = {}
    if op is not None:
        headers[KV_OP] = op
        if op == KV_PURGE:
            headers[api.Header.ROLLUP.value] = MSG_ROLLUP_SUBJECT
    if last is not None:
        headers[api.Header.EXPECTED_LAST_SUBJECT_SEQUENCE.value] = str(last)
    if msg_ttl is not None:
        headers[api.Header.MSG_TTL.value] = str(int(msg_ttl))
    return headers


def kv_stream_config(config: api.KeyValueConfig) -> api.StreamConfig:
    """The stream behind a bucket, as every NATS client (nats-py included) configures it.

    The same settings give the same stream config, so a bucket declared by another
    client with the same settings is accepted as it is.
    """
    bucket = check_bucket_name(config.bucket)
    if config.history > MAX_HISTORY:
        raise KeyHistoryTooLargeError(f"history is limited to {MAX_HISTORY} revisions")
    duplicate_window = DEFAULT_DUPLICATE_WINDOW
    if config.ttl and config.ttl < duplicate_window:
        duplicate_window = config.ttl
    marker_ttl = None
    if config.limit_marker_ttl is not None and config.limit_marker_ttl > 0:
        marker_ttl = config.limit_marker_ttl
    return api.StreamConfig(
        name=f"KV_{bucket}",
        description=config.description,
        subjects=[f"$KV.{bucket}.>"],
        allow_direct=config.direct,
        allow_rollup_hdrs=True,
        allow_msg_ttl=True,
        deny_delete=True,
        discard=api.DiscardPolicy.NEW,
        duplicate_window=duplicate_window,
        max_age=config.ttl,
        max_bytes=config.max_bytes,
        max_consumers=-1,
        max_msg_size=config.max_value_size,
        max_msgs=-1,
        max_msgs_per_subject=config.history,
        num_replicas=config.replicas,
        storage=config.storage,
        placement=config.placement,
        republish=config.republish,
        subject_delete_marker_ttl=marker_ttl,
    )
