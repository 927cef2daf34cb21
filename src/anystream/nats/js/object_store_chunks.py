"""An object's chunks on its bucket's stream: published through a window, read back in order.

:class:`ChunkWriter` publishes the chunks of one put with at most ``PUT_WINDOW`` of them
awaiting the stream's ack, hashing them as they pass; :func:`read_chunks` hands an
object's chunks over one at a time, fetched with batched direct gets (``GET_WINDOW``
bytes per request; one chunk per request before nats-server 2.11). Either way memory
stays bounded by a few chunks, whatever the object's size.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio

from nats.js import api

from ..errors import NatsError
from .errors import NotFoundError, api_error
from .object_store_data import ObjectData, chunked, format_digest

if TYPE_CHECKING:
    from .context import JetStream
    from .publish import PubAckFuture

__all__ = (
    "GET_BATCH_MAX",
    "GET_WINDOW",
    "OBJ_DEFAULT_CHUNK_SIZE",
    "PUT_WINDOW",
    "ChunkWriter",
    "read_chunks",
)

OBJ_DEFAULT_CHUNK_SIZE = 128 * 1024
PUT_WINDOW = 4
"""Chunks of one put published and not yet acknowledged, at most (bounds its memory)."""
GET_WINDOW = 1024 * 1024
"""Bytes of chunks one get asks for at once (batched direct get), at most."""
GET_BATCH_MAX = 16
"""Chunks one get asks for at once, at most (whatever their size)."""

Take = Callable[[bytes], Awaitable[None]]


def _batch_get_supported(server_info: dict[str, Any]) -> bool:
    """Batched direct gets (``batch`` with an end-of-batch status) came in nats-server 2.11."""
    try:
        major, minor = (int(part) for part in str(server_info.get("version", "")).split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= (2, 11)


class ChunkWriter:
    """The chunks of one put, published to ``subject``: counted, hashed, purged on failure."""

    def __init__(self, js: JetStream, stream: str, subject: str) -> None:
        self._js = js
        self._stream = stream
        self.subject = subject
        self.size = 0
        self.chunks = 0
        self._sha = hashlib.sha256()
        self._in_flight: deque[PubAckFuture] = deque()

    @property
    def digest(self) -> str:
        """The ``SHA-256=<base64url>`` digest of what was written."""
        return format_digest(self._sha.digest())

    async def write(self, data: ObjectData, chunk_size: int) -> None:
        """Publish ``data`` in chunks of ``chunk_size``; return once every one is acked."""
        timeout = self._js.timeout
        in_flight = self._in_flight
        async for chunk in chunked(data, chunk_size):
            self._sha.update(chunk)
            if len(in_flight) >= PUT_WINDOW:
                await in_flight.popleft().result(timeout)
            in_flight.append(await self._js.publish_async(self.subject, chunk))
            self.size += len(chunk)
            self.chunks += 1
        while in_flight:
            await in_flight.popleft().result(timeout)

    async def discard(self) -> None:
        """Purge the chunks of a failed put, once those still in flight have landed."""
        for future in self._in_flight:
            with contextlib.suppress(Exception):
                await future.result(self._js.timeout)
        with contextlib.suppress(NatsError):
            await self._js.purge_stream(self._stream, subject=self.subject)


async def read_chunks(
    js: JetStream, stream: str, subject: str, info: api.ObjectInfo, direct: bool, take: Take
) -> None:
    """Hand the chunks of the object ``info`` (on ``subject``) to ``take`` in order.

    Each is handed over before more are fetched. Stops early when the stream holds
    fewer chunks than described (the caller then reports a digest mismatch).
    """
    count = info.chunks or 0
    if direct and _batch_get_supported(js.client.server_info):
        await _read_batches(js, stream, subject, count, info.options, take)
        return
    seq = 1
    for _ in range(count):
        try:
            msg = await js.get_msg(stream, seq=seq, subject=subject, direct=direct, next=True)
        except NotFoundError:
            return
        assert msg.seq is not None
        seq = msg.seq + 1
        await take(msg.data or b"")


async def _read_batches(
    js: JetStream,
    stream: str,
    subject: str,
    count: int,
    options: api.ObjectMetaOptions | None,
    take: Take,
) -> None:
    """Direct gets of up to ``GET_WINDOW`` bytes of chunks per request (server 2.11+).

    One round trip per batch instead of per chunk; at most one batch is held.
    """
    nc = js.client
    chunk_size = (options.max_chunk_size if options else None) or OBJ_DEFAULT_CHUNK_SIZE
    per_batch = max(1, min(GET_BATCH_MAX, GET_WINDOW // chunk_size))
    target = f"{js.prefix}.DIRECT.GET.{stream}"
    timeout = js.timeout
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
