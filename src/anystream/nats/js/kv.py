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

import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nats.js import api

from ._bucket import Bucket, Status, collect
from .errors import (
    BadRequestError,
    KeyDeletedError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
    NoKeysError,
    NotFoundError,
    WrongLastSequenceError,
)
from .kv_protocol import (
    KV_DEL,
    KV_OP,
    KV_PURGE,
    MSG_ROLLUP_SUBJECT,
    WRONG_LAST_CODES,
    check_filter,
    check_key,
    check_value,
    operation,
    subject_matches,
    user_headers,
)
from .kv_watch import Watcher

if TYPE_CHECKING:
    from .context import JetStream
    from .msg import JsMsg

__all__ = (
    "KV_DEL",
    "KV_OP",
    "KV_PURGE",
    "KeyValue",
    "KeyWatcher",
)

_WATCH_INACTIVE_THRESHOLD = 300.0


# =============================================================================== key-value


class KeyValue(Bucket):
    """A key-value bucket (nats-py's ``KeyValue`` API, on anyio)."""

    KIND = "key-value"
    STREAM_PREFIX = "KV_"

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

    class BucketStatus(Status):
        """The bucket's stream info, with the KV view of it."""

        @property
        def values(self) -> int:
            """Messages stored (every kept revision and marker)."""
            return self.stream_info.state.messages

        @property
        def history(self) -> int:
            """Revisions kept per key."""
            return self.stream_info.config.max_msgs_per_subject

        @property
        def marker_ttl(self) -> float | None:
            """How long the server keeps the markers of keys it removed (2.11+)."""
            return self.stream_info.config.subject_delete_marker_ttl

        @property
        def bytes(self) -> int:
            return self.stream_info.state.bytes

    def __init__(self, name: str, stream: str, pre: str, js: JetStream, direct: bool) -> None:
        super().__init__(name, stream, js, direct)
        self._pre = pre

    @classmethod
    def _on_stream(cls, js: JetStream, bucket: str, info: api.StreamInfo) -> KeyValue:
        stream = f"{cls.STREAM_PREFIX}{bucket}"
        return cls(bucket, stream, f"$KV.{bucket}.", js, bool(info.config.allow_direct))

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
            check_key(key)
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
        headers = user_headers(msg.headers)
        _, op = operation(headers)
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
            check_key(key)
        pa = await self._js.publish(f"{self._pre}{key}", check_value(value))
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
            check_key(key)
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
            check_key(key)
        return await self._update(key, value, last=last)

    async def _update(
        self, key: str, value: bytes, last: int | None, msg_ttl: float | None = None
    ) -> int:
        value = check_value(value)
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
            check_key(key)
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
        if isinstance(err, WrongLastSequenceError) or err.err_code in WRONG_LAST_CODES:
            return KeyWrongLastSequenceError(
                f"key {key!r} in bucket {self._name!r}: {err.description}",
                code=err.code,
                err_code=err.err_code,
            )
        return err

    async def purge(self, key: str, msg_ttl: float | None = None) -> bool:
        """Remove ``key`` and all its revisions, leaving one purge marker."""
        check_key(key)
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
        entries = await collect(await self.watchall())
        markers = [entry for entry in entries if entry.operation in (KV_DEL, KV_PURGE)]
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
        return KeyValue.BucketStatus(stream_info=await self._stream_info(), bucket=self._name)

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
            check_filter(pattern)
        watch = patterns[0] if len(patterns) == 1 else ">"
        entries = await collect(await self.watch(watch, ignore_deletes=True, meta_only=True))
        keys = [
            entry.key
            for entry in entries
            if not patterns or any(subject_matches(p, entry.key) for p in patterns)
        ]
        if not keys:
            raise NoKeysError(
                f"no keys in bucket {self._name!r}" + (f" match {patterns}" if patterns else "")
            )
        return keys

    async def history(self, key: str) -> list[KeyValue.Entry]:
        """Every kept revision of ``key``, oldest first (markers included).

        Raises :class:`NoKeysError` when the key has none.
        """
        check_filter(key)
        entries = await collect(await self.watch(key, include_history=True))
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
        check_filter(keys)
        pre = self._pre
        name = self._name

        def convert(msg: JsMsg) -> KeyValue.Entry | None:
            headers = msg.headers
            known, op = operation(headers)
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

        return await self._watch(
            KeyWatcher,
            f"{pre}{keys}",
            convert,
            include_history=include_history,
            updates_only=updates_only,
            headers_only=(meta_only or headers_only) or None,
            inactive_threshold=inactive_threshold or _WATCH_INACTIVE_THRESHOLD,
            idle_heartbeat=idle_heartbeat,
        )


class KeyWatcher(Watcher["KeyValue.Entry"]):
    """A key-value watch (:meth:`KeyValue.watch`): entries, ``None`` once up to date."""


KeyValue.KeyWatcher = KeyWatcher  # type: ignore[attr-defined]
