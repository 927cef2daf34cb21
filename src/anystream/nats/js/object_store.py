"""JetStream object store on anyio: large objects in chunks, the same code on asyncio and trio.

A bucket ``B`` is the stream ``OBJ_B``. An object's data goes in chunks (128 KiB by
default) to ``$O.B.C.<nuid>``, a subject unique to each version of the object; its
description (an :class:`nats.js.api.ObjectInfo` as JSON: size, chunk count,
``SHA-256=<base64url>`` digest...) goes to ``$O.B.M.<base64url(name)>``, rolled up so
only the latest stays. The format is every NATS client's (the tests read and write
objects with nats-py both ways).

Data streams through: :meth:`ObjectStore.put` reads a chunk from its source and
publishes it, with at most ``PUT_WINDOW`` chunks awaiting the stream's ack, and
:meth:`ObjectStore.get` fetches the next chunks of the object's chunk subject with one
batched direct get (``GET_WINDOW`` bytes; one chunk per request before nats-server
2.11) and hands each to ``writeinto`` before fetching more. So a large object passes
through in memory bounded by a few chunks, with no thread pool and nothing running in
the background. The digest is computed while the data
passes and checked at the end of a get (:class:`DigestMismatchError`).

The API follows nats-py's ``nats.js.object_store.ObjectStore``.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio

from nats.js import api

from ..errors import NatsError
from .errors import (
    BadObjectMetaError,
    BucketNotFoundError,
    DigestMismatchError,
    LinkIsABucketError,
    NotFoundError,
    ObjectAlreadyExists,
    ObjectNotFoundError,
    api_error,
)
from .kv_protocol import MSG_ROLLUP_SUBJECT, check_bucket_name
from .kv_watch import Watcher
from .object_store_data import (
    ObjectData,
    Writer,
    check_name,
    chunked,
    encode_name,
    format_digest,
    new_nuid,
    obj_stream_config,
    parse_digest,
    write_to,
)

if TYPE_CHECKING:
    from .context import JetStream
    from .msg import JsMsg
    from .publish import PubAckFuture

__all__ = (
    "OBJ_DEFAULT_CHUNK_SIZE",
    "ObjectStore",
    "ObjectWatcher",
    "create_object_store",
    "delete_object_store",
    "object_store",
)

OBJ_DEFAULT_CHUNK_SIZE = 128 * 1024
PUT_WINDOW = 4
"""Chunks of one put published and not yet acknowledged, at most (bounds its memory)."""
GET_WINDOW = 1024 * 1024
"""Bytes of chunks one get asks for at once (batched direct get), at most."""
GET_BATCH_MAX = 16
"""Chunks one get asks for at once, at most (whatever their size)."""


def _batch_get_supported(server_info: dict[str, Any]) -> bool:
    """Batched direct gets (``batch`` with an end-of-batch status) came in nats-server 2.11."""
    try:
        major, minor = (int(part) for part in str(server_info.get("version", "")).split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= (2, 11)


_CLEANUP_TIMEOUT = 5.0


class ObjectStore:
    """An object store bucket (nats-py's ``ObjectStore`` API, on anyio)."""

    @dataclass
    class ObjectResult:
        """An object's info and (unless written to ``writeinto``) its data."""

        info: api.ObjectInfo
        data: bytes | None = b""

    @dataclass(frozen=True)
    class ObjectStoreStatus:
        """The bucket's stream info, with the object store view of it."""

        stream_info: api.StreamInfo
        bucket: str

        @property
        def description(self) -> str | None:
            return self.stream_info.config.description

        @property
        def ttl(self) -> float | None:
            return self.stream_info.config.max_age

        @property
        def storage_type(self) -> api.StorageType | None:
            return self.stream_info.config.storage

        @property
        def replicas(self) -> int | None:
            return self.stream_info.config.num_replicas

        @property
        def sealed(self) -> bool:
            return bool(self.stream_info.config.sealed)

        @property
        def size(self) -> int:
            """Bytes stored: data and descriptions together."""
            return self.stream_info.state.bytes

    def __init__(self, name: str, stream: str, js: JetStream, direct: bool = True) -> None:
        self._name = name
        self._stream = stream
        self._js = js
        self._direct = direct

    @property
    def bucket(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"ObjectStore(bucket={self._name!r})"

    def _meta_subject(self, name: str) -> str:
        return f"$O.{self._name}.M.{encode_name(name)}"

    def _chunk_subject(self, nuid: str) -> str:
        return f"$O.{self._name}.C.{nuid}"

    async def _purge(self, subject: str) -> None:
        await self._js.purge_stream(self._stream, subject=subject)

    async def _publish_meta(self, info: api.ObjectInfo, subject: str | None = None) -> None:
        await self._js.publish(
            subject or self._meta_subject(info.name),
            json.dumps(info.as_dict()).encode(),
            headers={api.Header.ROLLUP.value: MSG_ROLLUP_SUBJECT},
        )

    # ------------------------------------------------------------------ reads

    async def get_info(self, name: str, show_deleted: bool = False) -> api.ObjectInfo:
        """The object's description; :class:`ObjectNotFoundError` if none (or deleted)."""
        check_name(name)
        try:
            msg = await self._js.get_msg(
                self._stream, subject=self._meta_subject(name), direct=self._direct
            )
        except NotFoundError:
            raise ObjectNotFoundError(
                f"object {name!r} not found in bucket {self._name!r}"
            ) from None
        try:
            info: api.ObjectInfo = api.ObjectInfo.from_response(json.loads(msg.data or b""))
        except (ValueError, TypeError, KeyError) as err:
            raise BadObjectMetaError(
                f"the description of object {name!r} in bucket {self._name!r} is malformed: {err}"
            ) from None
        if info.deleted and not show_deleted:
            raise ObjectNotFoundError(f"object {name!r} in bucket {self._name!r} was deleted")
        if not info.mtime and msg.time is not None:
            info.mtime = msg.time.isoformat()
        return info

    async def get(
        self, name: str, writeinto: Writer | None = None, show_deleted: bool = False
    ) -> ObjectStore.ObjectResult:
        """The object: its info and data, the digest checked.

        With ``writeinto`` (a binary file, or anything with a ``write(bytes)`` method,
        sync or async) each chunk is written there as it arrives and ``data`` stays
        empty: memory use is then bounded by the chunk size whatever the object's size.
        Raises :class:`DigestMismatchError` when the data does not match its digest
        (with ``writeinto``, the data was written by then).
        """
        info = await self.get_info(name, show_deleted)
        if info.is_link():
            assert info.options is not None and info.options.link is not None
            link = info.options.link
            if not link.name:
                raise LinkIsABucketError(f"object {name!r} is a link to bucket {link.bucket!r}")
            target = (
                self if link.bucket == self._name else await object_store(self._js, link.bucket)
            )
            return await target.get(link.name, writeinto=writeinto)
        result = ObjectStore.ObjectResult(info=info)
        if info.deleted or not info.size:
            return result
        if not info.nuid:
            raise BadObjectMetaError(f"object {name!r} has no chunk subject (nuid)")
        if (
            writeinto is not None
            and hasattr(writeinto, "encoding")
            and hasattr(writeinto, "buffer")
        ):
            writeinto = writeinto.buffer
        parts: list[bytes] = []
        sha = hashlib.sha256()
        size = 0

        async def take(chunk: bytes) -> None:
            nonlocal size
            sha.update(chunk)
            size += len(chunk)
            if writeinto is None:
                parts.append(chunk)
            else:
                await write_to(writeinto, chunk)

        await self._read_chunks(info, take)
        if size != info.size or sha.digest() != parse_digest(info.digest):
            raise DigestMismatchError(
                f"object {name!r} in bucket {self._name!r}: read {size} bytes with digest "
                f"{format_digest(sha.digest())}, its description says {info.size} bytes, "
                f"{info.digest}"
            )
        if writeinto is None:
            result.data = b"".join(parts)
        return result

    async def _read_chunks(
        self, info: api.ObjectInfo, take: Callable[[bytes], Awaitable[None]]
    ) -> None:
        """Hand the object's chunks to ``take`` in order, each before fetching more.

        Stops early when the stream holds fewer chunks than described (the caller then
        reports a digest mismatch).
        """
        subject = self._chunk_subject(info.nuid)
        count = info.chunks or 0
        if self._direct and _batch_get_supported(self._js.client.server_info):
            await self._read_batches(subject, count, info.options, take)
            return
        seq = 1
        for _ in range(count):
            try:
                msg = await self._js.get_msg(
                    self._stream, seq=seq, subject=subject, direct=self._direct, next=True
                )
            except NotFoundError:
                return
            assert msg.seq is not None
            seq = msg.seq + 1
            await take(msg.data or b"")

    async def _read_batches(
        self,
        subject: str,
        count: int,
        options: api.ObjectMetaOptions | None,
        take: Callable[[bytes], Awaitable[None]],
    ) -> None:
        """Direct gets of up to ``GET_WINDOW`` bytes of chunks per request (server 2.11+).

        One round trip per batch instead of per chunk; at most one batch is held.
        """
        nc = self._js.client
        chunk_size = (options.max_chunk_size if options else None) or OBJ_DEFAULT_CHUNK_SIZE
        per_batch = max(1, min(GET_BATCH_MAX, GET_WINDOW // chunk_size))
        target = f"{self._js.prefix}.DIRECT.GET.{self._stream}"
        timeout = self._js.timeout
        inbox = nc.new_inbox()
        sub = await nc.subscribe(inbox)
        try:
            seq = 1
            while count > 0:
                request = {"seq": seq, "next_by_subj": subject, "batch": min(count, per_batch)}
                await nc.publish(target, json.dumps(request).encode(), reply=inbox)
                got = 0
                while True:
                    msg = await sub.next_msg(timeout)
                    if msg.status is None:
                        seq = int((msg.headers or {})["Nats-Sequence"]) + 1
                        got += 1
                        count -= 1
                        await take(msg.data)
                    elif msg.status == 204:  # end of batch
                        break
                    elif msg.status == 404:  # no more chunks
                        return
                    else:
                        raise api_error({"code": msg.status, "description": msg.description})
                if not got:
                    return
        finally:
            with anyio.CancelScope(shield=True):
                await sub.unsubscribe()

    # ------------------------------------------------------------------ writes

    async def put(
        self, name: str, data: ObjectData, meta: api.ObjectMeta | None = None
    ) -> api.ObjectInfo:
        """Store an object, replacing any of the same name; return its info.

        ``data`` is bytes or str, a binary file (read one chunk at a time in this
        thread: fine for local files), an object with an async ``read(n)`` (an anyio
        or trio file), or an iterable or async iterable of bytes of any sizes. Chunks
        are read as they are published, at most ``PUT_WINDOW`` of them awaiting the
        stream's ack, so memory stays bounded by a few chunks
        (``meta.options.max_chunk_size``, 128 KiB by default).
        """
        if meta is None:
            meta = api.ObjectMeta(name=name)
        else:
            meta = api.ObjectMeta(
                name=name or meta.name,
                description=meta.description,
                headers=meta.headers,
                options=meta.options,
            )
        obj = check_name(meta.name)
        options = meta.options or api.ObjectMetaOptions()
        chunk_size = options.max_chunk_size or OBJ_DEFAULT_CHUNK_SIZE
        options = api.ObjectMetaOptions(link=options.link, max_chunk_size=chunk_size)
        try:
            previous: api.ObjectInfo | None = await self.get_info(obj)
        except ObjectNotFoundError:
            previous = None
        nuid = new_nuid()
        chunk_subject = self._chunk_subject(nuid)
        sha = hashlib.sha256()
        size = chunks = 0
        in_flight: deque[PubAckFuture] = deque()
        timeout = self._js.timeout
        try:
            async for chunk in chunked(data, chunk_size):
                sha.update(chunk)
                if len(in_flight) >= PUT_WINDOW:
                    await in_flight.popleft().result(timeout)
                in_flight.append(await self._js.publish_async(chunk_subject, chunk))
                size += len(chunk)
                chunks += 1
            while in_flight:
                await in_flight.popleft().result(timeout)
            info = api.ObjectInfo(
                name=obj,
                bucket=self._name,
                nuid=nuid,
                size=size,
                chunks=chunks,
                digest=format_digest(sha.digest()),
                mtime=datetime.datetime.now(datetime.timezone.utc).isoformat(),
                description=meta.description,
                headers=meta.headers,
                options=options,
            )
            await self._publish_meta(info)
        except BaseException:
            if chunks:
                with anyio.move_on_after(_CLEANUP_TIMEOUT, shield=True):
                    await self._discard(chunk_subject, in_flight)
            raise
        if previous is not None and previous.nuid and previous.nuid != nuid:
            await self._purge(self._chunk_subject(previous.nuid))
        return info

    async def _discard(self, chunk_subject: str, in_flight: deque[PubAckFuture]) -> None:
        """Purge the chunks of a failed put, once those still in flight have landed."""
        for future in in_flight:
            with contextlib.suppress(Exception):
                await future.result(self._js.timeout)
        with contextlib.suppress(NatsError):
            await self._purge(chunk_subject)

    async def update_meta(self, name: str, meta: api.ObjectMeta) -> None:
        """Change an object's name, description or headers (its data stays).

        Renaming onto an existing object raises :class:`ObjectAlreadyExists`.
        """
        info = await self.get_info(name)
        new_name = check_name(meta.name or name)
        if new_name != name:
            try:
                await self.get_info(new_name)
            except ObjectNotFoundError:
                pass
            else:
                raise ObjectAlreadyExists(
                    f"cannot rename {name!r} to {new_name!r}: an object of that name exists"
                )
        info.name = new_name
        info.description = meta.description
        info.headers = meta.headers
        await self._publish_meta(info)
        if new_name != name:
            await self._purge(self._meta_subject(name))

    async def add_link(self, name: str, obj: api.ObjectInfo) -> api.ObjectInfo:
        """Store ``name`` as a link to the object ``obj`` (in this bucket or another).

        Getting the link gets the object. (Go's ``AddLink``; nats-py reads links too.)
        """
        check_name(name)
        if obj.deleted:
            raise ObjectNotFoundError(f"cannot link to {obj.name!r}: it was deleted")
        if obj.is_link():
            raise BadObjectMetaError(f"cannot link to {obj.name!r}: it is a link itself")
        return await self._put_link(name, api.ObjectLink(bucket=obj.bucket, name=obj.name))

    async def add_bucket_link(self, name: str, bucket: ObjectStore) -> api.ObjectInfo:
        """Store ``name`` as a link to a whole bucket (Go's ``AddBucketLink``)."""
        check_name(name)
        return await self._put_link(name, api.ObjectLink(bucket=bucket.bucket))

    async def _put_link(self, name: str, link: api.ObjectLink) -> api.ObjectInfo:
        try:
            existing: api.ObjectInfo | None = await self.get_info(name)
        except ObjectNotFoundError:
            existing = None
        if existing is not None and not existing.is_link():
            raise ObjectAlreadyExists(f"cannot link {name!r}: an object of that name exists")
        info = api.ObjectInfo(
            name=name,
            bucket=self._name,
            nuid=new_nuid(),
            size=0,
            chunks=0,
            mtime=datetime.datetime.now(datetime.timezone.utc).isoformat(),
            options=api.ObjectMetaOptions(link=link),
        )
        await self._publish_meta(info)
        return info

    async def delete(self, name: str) -> None:
        """Delete the object: its data is purged; a deleted marker stays as its description."""
        info = await self.get_info(name)
        if not info.nuid:
            raise BadObjectMetaError(f"object {name!r} has no chunk subject (nuid)")
        chunk_subject = self._chunk_subject(info.nuid)
        info.deleted = True
        info.size = 0
        info.chunks = 0
        info.digest = ""
        info.mtime = ""
        try:
            await self._publish_meta(info)
        finally:
            with anyio.move_on_after(_CLEANUP_TIMEOUT, shield=True):
                await self._purge(chunk_subject)

    # ------------------------------------------------------------------ listing / watching

    async def watch(
        self,
        ignore_deletes: bool = False,
        include_history: bool = False,
        meta_only: bool = False,
        updates_only: bool = False,
    ) -> ObjectWatcher:
        """Watch the bucket's objects: an :class:`~nats.js.api.ObjectInfo` per change.

        Gives the current objects (every kept description with ``include_history``),
        then ``None``, then each change as it happens; ``updates_only`` skips the
        current objects (and the ``None``). ``ignore_deletes`` leaves out deleted
        objects. ``meta_only`` is accepted for nats-py's signature: descriptions are
        all a watch ever sends.
        """
        del meta_only
        if updates_only:
            deliver_policy: api.DeliverPolicy | None = api.DeliverPolicy.NEW
        elif include_history:
            deliver_policy = None
        else:
            deliver_policy = api.DeliverPolicy.LAST_PER_SUBJECT

        def convert(msg: JsMsg) -> api.ObjectInfo | None:
            try:
                info: api.ObjectInfo = api.ObjectInfo.from_response(json.loads(msg.data))
            except (ValueError, TypeError, KeyError):
                return None  # not an object description: skipped
            if ignore_deletes and info.deleted:
                return None
            return info

        sub = await self._js.subscribe(
            f"$O.{self._name}.M.>",
            stream=self._stream,
            ordered_consumer=True,
            deliver_policy=deliver_policy,
        )
        watcher = ObjectWatcher(self._js, sub, convert, initial_marker=not updates_only)
        try:
            await watcher._start()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await sub.unsubscribe()
            raise
        return watcher

    async def list(self, ignore_deletes: bool = False) -> list[api.ObjectInfo]:
        """Every object's info; :class:`ObjectNotFoundError` when the bucket has none."""
        entries: list[api.ObjectInfo] = []
        async with await self.watch(ignore_deletes=ignore_deletes) as watcher:
            async for info in watcher:
                if info is None:
                    break
                entries.append(info)
        if not entries:
            raise ObjectNotFoundError(f"no objects in bucket {self._name!r}")
        return entries

    # ------------------------------------------------------------------ bucket

    async def status(self) -> ObjectStore.ObjectStoreStatus:
        """The bucket's configuration and state."""
        info = await self._js.stream_info(self._stream)
        return ObjectStore.ObjectStoreStatus(stream_info=info, bucket=self._name)

    async def seal(self) -> None:
        """Make the bucket read-only, for good."""
        info = await self._js.stream_info(self._stream)
        info.config.sealed = True
        await self._js.update_stream(info.config)


class ObjectWatcher(Watcher[api.ObjectInfo]):
    """An object store watch (:meth:`ObjectStore.watch`): infos, ``None`` once up to date."""


ObjectStore.ObjectWatcher = ObjectWatcher  # type: ignore[attr-defined]


# =============================================================================== buckets


async def object_store(js: JetStream, bucket: str) -> ObjectStore:
    """Open an existing bucket; :class:`BucketNotFoundError` if there is none."""
    check_bucket_name(bucket)
    stream = f"OBJ_{bucket}"
    try:
        info = await js.stream_info(stream)
    except NotFoundError:
        raise BucketNotFoundError(f"object store bucket {bucket!r} not found") from None
    return ObjectStore(bucket, stream, js, bool(info.config.allow_direct))


async def create_object_store(
    js: JetStream,
    bucket: str | None = None,
    config: api.ObjectStoreConfig | None = None,
    **params: Any,
) -> ObjectStore:
    """Create a bucket (or open it, when one with the same settings exists)."""
    config = (config or api.ObjectStoreConfig()).evolve(**params)
    if bucket is not None:
        config = config.evolve(bucket=bucket)
    stream = obj_stream_config(config)
    info = await js.add_stream(stream)
    assert config.bucket is not None and stream.name is not None
    return ObjectStore(config.bucket, stream.name, js, bool(info.config.allow_direct))


async def delete_object_store(js: JetStream, bucket: str) -> bool:
    """Delete the bucket and every object in it."""
    check_bucket_name(bucket)
    try:
        return await js.delete_stream(f"OBJ_{bucket}")
    except NotFoundError:
        raise BucketNotFoundError(f"object store bucket {bucket!r} not found") from None
