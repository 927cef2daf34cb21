"""JetStream object store on anyio: large objects in chunks, the same code on asyncio and trio.

A bucket ``B`` is the stream ``OBJ_B``. An object's data goes in chunks (128 KiB by
default) to ``$O.B.C.<nuid>``, a subject unique to each version of the object; its
description (an :class:`nats.js.api.ObjectInfo` as JSON: size, chunk count,
``SHA-256=<base64url>`` digest...) goes to ``$O.B.M.<base64url(name)>``, rolled up so
only the latest stays. The format is every NATS client's (the tests read and write
objects with nats-py both ways).

Data streams through (:mod:`.object_store_chunks`): :meth:`ObjectStore.put` reads a
chunk from its source and publishes it, with a few chunks at most awaiting the stream's
ack, and :meth:`ObjectStore.get` hands each chunk to ``writeinto`` before fetching
more. So a large object passes through in memory bounded by a few chunks, with no
thread pool and nothing running in the background. The digest is computed while the
data passes and checked at the end of a get (:class:`DigestMismatchError`).

The API follows nats-py's ``nats.js.object_store.ObjectStore``.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio

from nats.js import api

from ._bucket import Bucket, Status, collect
from .errors import (
    BadObjectMetaError,
    DigestMismatchError,
    LinkIsABucketError,
    NotFoundError,
    ObjectAlreadyExists,
    ObjectNotFoundError,
)
from .kv_protocol import MSG_ROLLUP_SUBJECT
from .kv_watch import Watcher
from .object_store_chunks import OBJ_DEFAULT_CHUNK_SIZE, ChunkWriter, read_chunks
from .object_store_data import (
    ObjectData,
    Writer,
    check_name,
    encode_name,
    format_digest,
    new_nuid,
    parse_digest,
    write_to,
)

if TYPE_CHECKING:
    from .context import JetStream
    from .msg import JsMsg

__all__ = (
    "OBJ_DEFAULT_CHUNK_SIZE",
    "ObjectStore",
    "ObjectWatcher",
)

_CLEANUP_TIMEOUT = 5.0


class ObjectStore(Bucket):
    """An object store bucket (nats-py's ``ObjectStore`` API, on anyio)."""

    KIND = "object store"
    STREAM_PREFIX = "OBJ_"

    @dataclass
    class ObjectResult:
        """An object's info and (unless written to ``writeinto``) its data."""

        info: api.ObjectInfo
        data: bytes | None = b""

    class ObjectStoreStatus(Status):
        """The bucket's stream info, with the object store view of it."""

        @property
        def description(self) -> str | None:
            return self.stream_info.config.description

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
        super().__init__(name, stream, js, direct)

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
            target = self if link.bucket == self._name else await self._js.object_store(link.bucket)
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

        subject = self._chunk_subject(info.nuid)
        await read_chunks(self._js, self._stream, subject, info, self._direct, take)
        if size != info.size or sha.digest() != parse_digest(info.digest):
            raise DigestMismatchError(
                f"object {name!r} in bucket {self._name!r}: read {size} bytes with digest "
                f"{format_digest(sha.digest())}, its description says {info.size} bytes, "
                f"{info.digest}"
            )
        if writeinto is None:
            result.data = b"".join(parts)
        return result

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
        chunks = ChunkWriter(self._js, self._stream, self._chunk_subject(nuid))
        try:
            await chunks.write(data, chunk_size)
            info = api.ObjectInfo(
                name=obj,
                bucket=self._name,
                nuid=nuid,
                size=chunks.size,
                chunks=chunks.chunks,
                digest=chunks.digest,
                mtime=datetime.datetime.now(datetime.timezone.utc).isoformat(),
                description=meta.description,
                headers=meta.headers,
                options=options,
            )
            await self._publish_meta(info)
        except BaseException:
            if chunks.chunks:
                with anyio.move_on_after(_CLEANUP_TIMEOUT, shield=True):
                    await chunks.discard()
            raise
        if previous is not None and previous.nuid and previous.nuid != nuid:
            await self._purge(self._chunk_subject(previous.nuid))
        return info

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

        def convert(msg: JsMsg) -> api.ObjectInfo | None:
            try:
                info: api.ObjectInfo = api.ObjectInfo.from_response(json.loads(msg.data))
            except (ValueError, TypeError, KeyError):
                return None  # not an object description: skipped
            if ignore_deletes and info.deleted:
                return None
            return info

        return await self._watch(
            ObjectWatcher,
            f"$O.{self._name}.M.>",
            convert,
            include_history=include_history,
            updates_only=updates_only,
        )

    async def list(self, ignore_deletes: bool = False) -> list[api.ObjectInfo]:
        """Every object's info; :class:`ObjectNotFoundError` when the bucket has none."""
        entries = await collect(await self.watch(ignore_deletes=ignore_deletes))
        if not entries:
            raise ObjectNotFoundError(f"no objects in bucket {self._name!r}")
        return entries

    # ------------------------------------------------------------------ bucket

    async def status(self) -> ObjectStore.ObjectStoreStatus:
        """The bucket's configuration and state."""
        info = await self._stream_info()
        return ObjectStore.ObjectStoreStatus(stream_info=info, bucket=self._name)

    async def seal(self) -> None:
        """Make the bucket read-only, for good."""
        info = await self._stream_info()
        info.config.sealed = True
        await self._js.update_stream(info.config)


class ObjectWatcher(Watcher[api.ObjectInfo]):
    """An object store watch (:meth:`ObjectStore.watch`): infos, ``None`` once up to date."""


ObjectStore.ObjectWatcher = ObjectWatcher  # type: ignore[attr-defined]
