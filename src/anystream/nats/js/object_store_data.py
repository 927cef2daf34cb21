"""The object store's data handling, with no I/O of its own: sources, chunks, digests.

Turns what :meth:`~.object_store.ObjectStore.put` accepts (bytes, str, binary files,
async readers, iterables and async iterables of bytes) into chunks of one size, read
one at a time; computes and parses ``SHA-256=<base64url>`` digests; encodes object
names into subjects; and gives the stream config of a bucket.
"""

from __future__ import annotations

import base64
import binascii
import inspect
import secrets
import string
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from typing import Any, Protocol

from nats.js import api

from .errors import BadObjectMetaError, InvalidObjectNameError
from .kv_protocol import check_bucket_name

__all__ = (
    "OBJ_DIGEST_TYPE",
    "ObjectData",
    "Writer",
    "check_name",
    "chunked",
    "encode_name",
    "format_digest",
    "new_nuid",
    "obj_stream_config",
    "parse_digest",
    "write_to",
)

OBJ_DIGEST_TYPE = "SHA-256="
NUID_ALPHABET = string.ascii_letters + string.digits


class _AsyncReader(Protocol):
    async def read(self, size: int = -1, /) -> bytes: ...


class _Reader(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class Writer(Protocol):
    """Where :meth:`ObjectStore.get` writes: ``write(bytes)``, sync (a binary file) or async."""

    def write(self, data: bytes, /) -> object: ...


ObjectData = (
    str
    | bytes
    | bytearray
    | memoryview
    | _Reader
    | _AsyncReader
    | AsyncIterable[bytes]
    | Iterable[bytes]
)
"""What :meth:`ObjectStore.put` reads from."""


def new_nuid() -> str:
    return "".join(secrets.choice(NUID_ALPHABET) for _ in range(22))


def encode_name(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode()


def format_digest(sha: bytes) -> str:
    return OBJ_DIGEST_TYPE + base64.urlsafe_b64encode(sha).decode()


def parse_digest(digest: str | None) -> bytes:
    if not digest or digest[: len(OBJ_DIGEST_TYPE)].upper() != OBJ_DIGEST_TYPE.upper():
        raise BadObjectMetaError(f"object digest {digest!r} is not SHA-256=<base64url>")
    encoded = digest[len(OBJ_DIGEST_TYPE) :]
    try:
        return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError):
        raise BadObjectMetaError(f"object digest {digest!r} is not valid base64url") from None


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidObjectNameError(f"invalid object name {name!r}: a non-empty string is needed")
    return name


async def _rechunk(pieces: AsyncIterator[bytes], size: int) -> AsyncIterator[bytes]:
    """Pieces of any size as chunks of ``size`` bytes (the last one may be shorter)."""
    buffer = bytearray()
    async for piece in pieces:
        if not isinstance(piece, (bytes, bytearray, memoryview)):
            raise TypeError(f"object data must be bytes, got {type(piece).__name__}")
        if not buffer and len(piece) == size:
            yield bytes(piece)
            continue
        buffer += piece
        while len(buffer) >= size:
            yield bytes(buffer[:size])
            del buffer[:size]
    if buffer:
        yield bytes(buffer)


async def _read_pieces(reader: Any, size: int) -> AsyncIterator[bytes]:
    while True:
        piece = reader.read(size)
        if inspect.isawaitable(piece):
            piece = await piece
        if isinstance(piece, str):
            raise TypeError("object data must be bytes: open the file in binary mode ('rb')")
        if not piece:
            return
        yield piece


async def _iter_pieces(iterable: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    async for piece in iterable:
        yield piece


def chunked(data: ObjectData, size: int) -> AsyncIterator[bytes]:
    """The data as chunks of ``size`` bytes, read one at a time."""
    if isinstance(data, str):
        data = data.encode()
    if isinstance(data, (bytes, bytearray, memoryview)):
        return _slices(memoryview(data).cast("B"), size)
    if hasattr(data, "__aiter__"):
        return _rechunk(_iter_pieces(data), size)  # type: ignore[arg-type]
    if hasattr(data, "read"):
        if hasattr(data, "encoding") and hasattr(data, "buffer"):  # a text file
            data = data.buffer
        return _rechunk(_read_pieces(data, size), size)
    if hasattr(data, "__iter__"):
        return _rechunk(_sync_pieces(data), size)
    raise TypeError(
        "object data must be bytes, str, a binary file, an object with an async read() "
        f"or an (async) iterable of bytes, got {type(data).__name__}"
    )


async def _sync_pieces(iterable: Iterable[bytes]) -> AsyncIterator[bytes]:
    for piece in iterable:
        yield piece


async def _slices(view: memoryview, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(view), size):
        yield bytes(view[start : start + size])


async def write_to(writeinto: Writer, data: bytes) -> None:
    result = writeinto.write(data)
    if inspect.isawaitable(result):
        await result


def obj_stream_config(config: api.ObjectStoreConfig) -> api.StreamConfig:
    """The stream behind an object store bucket, as every NATS client configures it."""
    name = check_bucket_name(config.bucket)
    max_bytes = config.max_bytes
    if max_bytes == 0:
        max_bytes = -1
    return api.StreamConfig(
        name=f"OBJ_{name}",
        description=config.description,
        subjects=[f"$O.{name}.C.>", f"$O.{name}.M.>"],
        max_age=config.ttl,
        max_bytes=max_bytes,
        max_consumers=0,
        storage=config.storage,
        num_replicas=config.replicas,
        placement=config.placement,
        discard=api.DiscardPolicy.NEW,
        allow_rollup_hdrs=True,
        allow_direct=True,
    )
