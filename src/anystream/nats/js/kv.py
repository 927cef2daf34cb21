"""JetStream key-value store on anyio: the same code on asyncio and trio.

A bucket ``B`` is the stream ``KV_B`` over the subjects ``$KV.B.>``; key ``k`` is the
subject ``$KV.B.k`` and its revisions are that subject's messages (``history`` of them
are kept). Deletes and purges are messages too, marked by the ``KV-Operation`` header
(``DEL`` / ``PURGE``; a purge also rolls up the subject with ``Nats-Rollup: sub``).
Reads are ``STREAM.MSG.GET`` requests, or direct gets
(``$JS.API.DIRECT.GET.KV_B.$KV.B.k``) on a bucket created with ``direct=True``; watches
are ordered push consumers. The wire format is the one every NATS client uses,
so buckets are shared with nats-py, Go, ... (the tests check nats-py both ways).

The API follows nats-py's ``nats.js.kv.KeyValue`` (same names, arguments, defaults and
result types); :class:`KeyWatcher` waits on the consumer directly instead of on an
``asyncio.Queue`` fed by a callback, so it needs no task of its own.

::

    kv = await js.create_key_value(bucket="config")
    revision = await kv.put("db.url", b"postgres://...")
    entry = await kv.get("db.url")
    await kv.update("db.url", b"postgres://new", last=entry.revision)
"""

from __future__ import annotations

import contextlib
import datetime
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import anyio

from nats.js import api

from ..errors import NatsError, NatsTimeoutError, SubscriptionClosedError
from .errors import (
    BadBucketError,
    BadRequestError,
    BucketNotFoundError,
    InvalidBucketNameError,
    InvalidKeyError,
    KeyDeletedError,
    KeyHistoryTooLargeError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
    NoKeysError,
    NotFoundError,
    WrongLastSequenceError,
)

if TYPE_CHECKING:
    from .context import JetStream
    from .msg import JsMsg
    from .push import PushSubscription

__all__ = (
    "KV_DEL",
    "KV_OP",
    "KV_PURGE",
    "KeyValue",
    "KeyWatcher",
    "create_key_value",
    "delete_key_value",
    "key_value",
)

KV_OP = "KV-Operation"
KV_DEL = "DEL"
KV_PURGE = "PURGE"
MSG_ROLLUP_SUBJECT = "sub"
KV_MARKER_REASON = "Nats-Marker-Reason"
"""nats-server 2.11+ marks keys removed by a TTL/limit with this header, not KV-Operation."""

_MARKER_OPS = {"MaxAge": KV_PURGE, "Purge": KV_PURGE, "Remove": KV_DEL}
_WRONG_LAST_CODES = (10071, 10164)  # JSStreamWrongLastSequence{ErrF,ConstantErr}
_MAX_HISTORY = 64
_DEFAULT_DUPLICATE_WINDOW = 120.0
_WATCH_INACTIVE_THRESHOLD = 300.0
_CONSUMER_DELETE_TIMEOUT = 2.0

VALID_BUCKET_RE = re.compile(r"^[a-zA-Z0-9_-]+$")
_VALID_KEY_RE = re.compile(r"^[-/_=\.a-zA-Z0-9]+$")
_VALID_FILTER_RE = re.compile(r"^[-/_=\.a-zA-Z0-9*>]+$")

# Headers a direct get adds to the stored message's own headers.
_DIRECT_GET_HEADERS = frozenset(
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

T = TypeVar("T")


def is_key_valid(key: str) -> bool:
    """True for a key NATS clients accept: ``[-/_=.a-zA-Z0-9]+``, not starting/ending in ``.``."""
    if not key or key[0] == "." or key[-1] == ".":
        return False
    return _VALID_KEY_RE.match(key) is not None


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not is_key_valid(key):
        raise InvalidKeyError(
            f"invalid key {key!r}: use letters, digits and -/_=. (not at either end)"
        )


def _check_value(value: Any) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"a value must be bytes, got {type(value).__name__}")
    return bytes(value) if not isinstance(value, bytes) else value


def _check_filter(keys: str) -> None:
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


def _user_headers(headers: dict[str, str] | None) -> dict[str, str] | None:
    if not headers:
        return None
    own = {k: v for k, v in headers.items() if k not in _DIRECT_GET_HEADERS}
    return own or None


def _operation(headers: dict[str, str] | None) -> tuple[bool, str | None]:
    """``(known, op)`` from a KV message's headers; unknown server markers are skipped."""
    if not headers:
        return True, None
    op = headers.get(KV_OP)
    if op is not None:
        return True, op
    reason = headers.get(KV_MARKER_REASON)
    if reason is not None:
        mapped = _MARKER_OPS.get(reason)
        return mapped is not None, mapped
    return True, None


# =============================================================================== watcher


class Watcher(Generic[T]):
    """Updates from an ordered consumer, converted one at a time as they are asked for.

    The first ``None`` marks the end of the values present when the watch began (sent
    at once if there were none); later results are live updates. Waiting happens in the
    caller's task: nothing runs in the background except the consumer's own upkeep.
    """

    def __init__(
        self,
        js: JetStream,
        sub: PushSubscription,
        convert: Callable[[JsMsg], T | None],
        *,
        initial_marker: bool = True,
    ) -> None:
        self._js = js
        self._sub = sub
        self._convert = convert
        self._init_done = not initial_marker
        self._marker_due = False
        self._stopped = False

    async def _start(self) -> None:
        """Send the marker at once when the consumer has nothing to deliver initially."""
        if self._init_done:
            return
        info = await self._sub.consumer_info()
        delivered = info.delivered.consumer_seq if info.delivered is not None else 0
        if not info.num_pending and not delivered:
            self._marker_due = True

    async def _next(self) -> T | None:
        if self._marker_due:
            self._marker_due = False
            self._init_done = True
            return None
        while True:
            try:
                msg = await self._sub.next_msg(timeout=None)
            except SubscriptionClosedError:
                if self._stopped:
                    raise SubscriptionClosedError("the watcher was stopped") from None
                raise  # the connection was closed
            update = self._convert(msg)
            initial_end = not self._init_done and msg.metadata.num_pending == 0
            if update is None:
                if initial_end:
                    self._init_done = True
                    return None
                continue
            if initial_end:
                self._marker_due = True
            return update

    async def updates(self, timeout: float | None = 5.0) -> T | None:
        """The next update: an entry, or ``None`` once the initial values are done.

        Raises :class:`~anystream.nats.NatsTimeoutError` (a ``TimeoutError``) when none
        comes within ``timeout`` seconds (``None``: wait for ever), and
        :class:`~anystream.nats.SubscriptionClosedError` once the watcher was stopped.
        """
        if self._stopped:
            raise SubscriptionClosedError("the watcher was stopped")
        with anyio.move_on_after(timeout):
            return await self._next()
        raise NatsTimeoutError(f"no update within {timeout} s")

    def __aiter__(self) -> Watcher[T]:
        return self

    async def __anext__(self) -> T | None:
        if self._stopped:
            raise StopAsyncIteration
        try:
            return await self._next()
        except SubscriptionClosedError:
            raise StopAsyncIteration from None

    async def stop(self) -> None:
        """Stop watching: unsubscribe and delete the consumer; iteration ends."""
        if self._stopped:
            return
        self._stopped = True
        sub = self._sub
        await sub.unsubscribe()
        # The server would keep the consumer for its inactive_threshold (5 minutes):
        # remove it now (best effort: it goes away by itself anyway).
        with (
            anyio.move_on_after(_CONSUMER_DELETE_TIMEOUT, shield=True),
            contextlib.suppress(NatsError),
        ):
            await self._js.delete_consumer(sub.stream, sub.consumer)

    async def __aenter__(self) -> Watcher[T]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        with anyio.CancelScope(shield=True):
            await self.stop()


# =============================================================================== key-value


class KeyValue:
    """A key-value bucket (nats-py's ``KeyValue`` API, on anyio)."""

    @dataclass
    class Entry:
        """One revision of a key: its value, or a delete/purge marker (``operation``)."""

        bucket: str
        key: str
        value: bytes | None
        revision: int | None
        delta: int | None
        created: datetime.datetime | None
        operation: str | None
        headers: dict[str, str] | None = None

    @dataclass(frozen=True)
    class BucketStatus:
        """The bucket's stream info, with the KV view of it."""

        stream_info: api.StreamInfo
        bucket: str

        @property
        def values(self) -> int:
            """Messages stored (every kept revision and marker)."""
            return self.stream_info.state.messages

        @property
        def history(self) -> int:
            """Revisions kept per key."""
            return self.stream_info.config.max_msgs_per_subject

        @property
        def ttl(self) -> float | None:
            """Maximum age of a value in seconds (``None``: forever)."""
            return self.stream_info.config.max_age

        @property
        def marker_ttl(self) -> float | None:
            """How long the server keeps the markers of keys it removed (2.11+)."""
            return self.stream_info.config.subject_delete_marker_ttl

        @property
        def bytes(self) -> int:
            return self.stream_info.state.bytes

    def __init__(self, name: str, stream: str, pre: str, js: JetStream, direct: bool) -> None:
        self._name = name
        self._stream = stream
        self._pre = pre
        self._js = js
        self._direct = direct

    @property
    def bucket(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"KeyValue(bucket={self._name!r})"

    # ------------------------------------------------------------------ reads

    async def get(
        self, key: str, revision: int | None = None, validate_keys: bool = True
    ) -> KeyValue.Entry:
        """The latest value of ``key`` (or the given ``revision`` of it).

        Raises :class:`KeyNotFoundError` when the key has no value, including when its
        latest revision is a delete or purge marker (then ``err.entry`` is that marker
        and ``err.op`` its operation).
        """
        if validate_keys:
            _check_key(key)
        try:
            return await self._get(key, revision)
        except KeyDeletedError as err:
            raise KeyNotFoundError(
                f"key {key!r} in bucket {self._name!r} was deleted"
                f" ({err.op} at revision {err.entry.revision if err.entry else '?'})",
                entry=err.entry,
                op=err.op,
            ) from None

    async def _get(self, key: str, revision: int | None = None) -> KeyValue.Entry:
        subject = f"{self._pre}{key}"
        try:
            if revision:
                msg = await self._js.get_msg(self._stream, seq=revision, direct=self._direct)
            else:
                msg = await self._js.get_msg(self._stream, subject=subject, direct=self._direct)
        except NotFoundError:
            where = f"revision {revision} of key" if revision else "key"
            raise KeyNotFoundError(f"{where} {key!r} not found in bucket {self._name!r}") from None
        if msg.subject != subject:
            raise KeyNotFoundError(
                f"revision {revision} of bucket {self._name!r} is not key {key!r}"
                f" (it is {(msg.subject or '')[len(self._pre) :]!r})"
            )
        headers = _user_headers(msg.headers)
        _, op = _operation(headers)
        entry = KeyValue.Entry(
            bucket=self._name,
            key=key,
            value=msg.data or b"",
            revision=msg.seq,
            delta=None,
            created=msg.time,
            operation=op,
            headers=headers,
        )
        if op in (KV_DEL, KV_PURGE):
            raise KeyDeletedError(entry, op)
        return entry

    # ------------------------------------------------------------------ writes

    async def put(self, key: str, value: bytes, validate_keys: bool = True) -> int:
        """Store ``value`` as the new revision of ``key``; return the revision."""
        if validate_keys:
            _check_key(key)
        pa = await self._js.publish(f"{self._pre}{key}", _check_value(value))
        return pa.seq

    async def create(
        self,
        key: str,
        value: bytes,
        validate_keys: bool = True,
        msg_ttl: float | None = None,
    ) -> int:
        """Store ``value`` only if ``key`` has no value (never set, deleted or purged).

        Raises :class:`KeyWrongLastSequenceError` when the key has a value.
        ``msg_ttl`` (seconds) expires this revision (the bucket needs per-message TTLs).
        """
        if validate_keys:
            _check_key(key)
        try:
            return await self._update(key, value, last=0, msg_ttl=msg_ttl)
        except KeyWrongLastSequenceError as wrong:
            # A deleted key still has its marker as last revision: create over it.
            try:
                await self._get(key)
            except KeyDeletedError as deleted:
                assert deleted.entry is not None and deleted.entry.revision is not None
                return await self._update(key, value, last=deleted.entry.revision, msg_ttl=msg_ttl)
            except KeyNotFoundError:
                pass
            raise KeyWrongLastSequenceError(
                f"key {key!r} already exists in bucket {self._name!r}",
                code=wrong.code,
                err_code=wrong.err_code,
            ) from None

    async def update(
        self,
        key: str,
        value: bytes,
        last: int | None = None,
        validate_keys: bool = True,
    ) -> int:
        """Store ``value`` only if the latest revision of ``key`` is ``last``.

        Raises :class:`KeyWrongLastSequenceError` when another revision was written since.
        """
        if validate_keys:
            _check_key(key)
        return await self._update(key, value, last=last)

    async def _update(
        self, key: str, value: bytes, last: int | None, msg_ttl: float | None = None
    ) -> int:
        value = _check_value(value)
        headers = {api.Header.EXPECTED_LAST_SUBJECT_SEQUENCE.value: str(last or 0)}
        if msg_ttl is not None:
            headers[api.Header.MSG_TTL.value] = str(int(msg_ttl))
        try:
            pa = await self._js.publish(f"{self._pre}{key}", value, headers=headers)
        except BadRequestError as err:
            raise self._wrong_last(key, err) from None
        return pa.seq

    async def delete(self, key: str, last: int | None = None, validate_keys: bool = True) -> bool:
        """Mark ``key`` deleted (older revisions stay in the history).

        With ``last``, only if the latest revision is ``last``
        (:class:`KeyWrongLastSequenceError` otherwise).
        """
        if validate_keys:
            _check_key(key)
        headers = {KV_OP: KV_DEL}
        if last and last > 0:
            headers[api.Header.EXPECTED_LAST_SUBJECT_SEQUENCE.value] = str(last)
        try:
            await self._js.publish(f"{self._pre}{key}", b"", headers=headers)
        except BadRequestError as err:
            raise self._wrong_last(key, err) from None
        return True

    def _wrong_last(self, key: str, err: BadRequestError) -> BadRequestError:
        """:class:`KeyWrongLastSequenceError` for a revision check that failed, else ``err``."""
        if isinstance(err, WrongLastSequenceError) or err.err_code in _WRONG_LAST_CODES:
            return KeyWrongLastSequenceError(
                f"key {key!r} in bucket {self._name!r}: {err.description}",
                code=err.code,
                err_code=err.err_code,
            )
        return err

    async def purge(self, key: str, msg_ttl: float | None = None) -> bool:
        """Remove ``key`` and all its revisions, leaving one purge marker."""
        _check_key(key)
        headers = {KV_OP: KV_PURGE, api.Header.ROLLUP.value: MSG_ROLLUP_SUBJECT}
        if msg_ttl is not None:
            headers[api.Header.MSG_TTL.value] = str(int(msg_ttl))
        await self._js.publish(f"{self._pre}{key}", b"", headers=headers)
        return True

    async def purge_deletes(self, olderthan: int = 30 * 60) -> bool:
        """Remove the delete/purge markers (and the revisions under them).

        Markers younger than ``olderthan`` seconds are kept (the revisions under them
        still go); ``olderthan <= 0`` removes every marker.
        """
        markers: list[KeyValue.Entry] = []
        async with await self.watchall() as watcher:
            async for entry in watcher:
                if entry is None:
                    break
                if entry.operation in (KV_DEL, KV_PURGE):
                    markers.append(entry)
        now = datetime.datetime.now(datetime.timezone.utc)
        for entry in markers:
            keep = 0
            created = entry.created
            if olderthan > 0 and created and (now - created).total_seconds() < olderthan:
                keep = 1
            await self._js.purge_stream(self._stream, subject=f"{self._pre}{entry.key}", keep=keep)
        return True

    async def status(self) -> KeyValue.BucketStatus:
        """The bucket's configuration and state."""
        info = await self._js.stream_info(self._stream)
        return KeyValue.BucketStatus(stream_info=info, bucket=self._name)

    # ------------------------------------------------------------------ watch

    async def watchall(self, **kwargs: Any) -> KeyWatcher:
        """Watch every key (see :meth:`watch`)."""
        return await self.watch(">", **kwargs)

    async def keys(self, filters: Iterable[str] | None = None, **kwargs: Any) -> list[str]:
        """The keys that have a value (deleted and purged keys are left out).

        ``filters`` are key patterns in NATS subject syntax (``*`` matches one
        ``.``-separated token, a final ``>`` the rest); a key is listed when it matches
        any of them. (nats-py matches filters as substrings; Go and the NATS ADR as
        subjects, as here.) Raises :class:`NoKeysError` when there is none.
        """
        patterns = list(filters) if filters else []
        for pattern in patterns:
            _check_filter(pattern)
        watch = patterns[0] if len(patterns) == 1 else ">"
        keys: list[str] = []
        async with await self.watch(watch, ignore_deletes=True, meta_only=True) as watcher:
            async for entry in watcher:
                if entry is None:
                    break
                if not patterns or any(subject_matches(p, entry.key) for p in patterns):
                    keys.append(entry.key)
        if not keys:
            raise NoKeysError(
                f"no keys in bucket {self._name!r}" + (f" match {patterns}" if patterns else "")
            )
        return keys

    async def history(self, key: str) -> list[KeyValue.Entry]:
        """Every kept revision of ``key``, oldest first (markers included).

        Raises :class:`NoKeysError` when the key has none.
        """
        _check_filter(key)
        entries: list[KeyValue.Entry] = []
        async with await self.watch(key, include_history=True) as watcher:
            async for entry in watcher:
                if entry is None:
                    break
                entries.append(entry)
        if not entries:
            raise NoKeysError(f"no history for key {key!r} in bucket {self._name!r}")
        return entries

    async def watch(
        self,
        keys: str,
        headers_only: bool = False,
        include_history: bool = False,
        ignore_deletes: bool = False,
        meta_only: bool = False,
        inactive_threshold: float | None = None,
        *,
        updates_only: bool = False,
        idle_heartbeat: float | None = None,
    ) -> KeyWatcher:
        """Watch the keys matching ``keys`` (``*`` and ``>`` wildcards allowed).

        Gives the current value of each matching key (every kept revision with
        ``include_history``), then ``None``, then every change as it happens.
        ``ignore_deletes`` leaves out delete/purge markers; ``meta_only`` (or
        ``headers_only``) leaves values empty; ``updates_only`` (Go's option) skips the
        current values and the ``None``. The server removes the consumer after
        ``inactive_threshold`` seconds (default 300) without a client.

        The watch is an ordered consumer: when a message goes missing, or when no
        heartbeat came for two ``idle_heartbeat`` intervals (default 5 s; the server
        restarted, say), it is recreated after the last revision given.
        """
        _check_filter(keys)
        if updates_only:
            deliver_policy: api.DeliverPolicy | None = api.DeliverPolicy.NEW
        elif include_history:
            deliver_policy = None
        else:
            deliver_policy = api.DeliverPolicy.LAST_PER_SUBJECT
        pre = self._pre
        name = self._name

        def convert(msg: JsMsg) -> KeyValue.Entry | None:
            headers = msg.headers
            known, op = _operation(headers)
            if not known or (ignore_deletes and op in (KV_DEL, KV_PURGE)):
                return None
            meta = msg.metadata
            return KeyValue.Entry(
                bucket=name,
                key=msg.subject[len(pre) :],
                value=msg.data,
                revision=meta.sequence.stream,
                delta=meta.num_pending,
                created=meta.timestamp,
                operation=op,
                headers=headers,
            )

        sub = await self._js.subscribe(
            f"{pre}{keys}",
            stream=self._stream,
            ordered_consumer=True,
            deliver_policy=deliver_policy,
            headers_only=(meta_only or headers_only) or None,
            inactive_threshold=inactive_threshold or _WATCH_INACTIVE_THRESHOLD,
            idle_heartbeat=idle_heartbeat,
        )
        watcher = KeyWatcher(self._js, sub, convert, initial_marker=not updates_only)
        try:
            await watcher._start()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await sub.unsubscribe()
            raise
        return watcher


class KeyWatcher(Watcher["KeyValue.Entry"]):
    """A key-value watch (:meth:`KeyValue.watch`): entries, ``None`` once up to date."""


KeyValue.KeyWatcher = KeyWatcher  # type: ignore[attr-defined]


# =============================================================================== buckets


async def key_value(js: JetStream, bucket: str) -> KeyValue:
    """Open an existing bucket; :class:`BucketNotFoundError` if there is none."""
    check_bucket_name(bucket)
    stream = f"KV_{bucket}"
    try:
        info = await js.stream_info(stream)
    except NotFoundError:
        raise BucketNotFoundError(f"key-value bucket {bucket!r} not found") from None
    if (info.config.max_msgs_per_subject or 0) < 1:
        raise BadBucketError(f"stream {stream!r} is not a key-value bucket")
    return KeyValue(bucket, stream, f"$KV.{bucket}.", js, bool(info.config.allow_direct))


async def create_key_value(
    js: JetStream, config: api.KeyValueConfig | None = None, **params: Any
) -> KeyValue:
    """Create a bucket (or open it, when one with the same settings exists)."""
    if config is None:
        config = api.KeyValueConfig(bucket=params["bucket"])
    config = config.evolve(**params)
    check_bucket_name(config.bucket)
    if config.history > _MAX_HISTORY:
        raise KeyHistoryTooLargeError(f"history is limited to {_MAX_HISTORY} revisions")
    duplicate_window = _DEFAULT_DUPLICATE_WINDOW
    if config.ttl and config.ttl < duplicate_window:
        duplicate_window = config.ttl
    marker_ttl = None
    if config.limit_marker_ttl is not None and config.limit_marker_ttl > 0:
        marker_ttl = config.limit_marker_ttl
    stream = api.StreamConfig(
        name=f"KV_{config.bucket}",
        description=config.description,
        subjects=[f"$KV.{config.bucket}.>"],
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
    info = await js.add_stream(stream)
    return KeyValue(
        config.bucket,
        f"KV_{config.bucket}",
        f"$KV.{config.bucket}.",
        js,
        bool(info.config.allow_direct),
    )


async def delete_key_value(js: JetStream, bucket: str) -> bool:
    """Delete the bucket and everything in it."""
    check_bucket_name(bucket)
    try:
        return await js.delete_stream(f"KV_{bucket}")
    except NotFoundError:
        raise BucketNotFoundError(f"key-value bucket {bucket!r} not found") from None
