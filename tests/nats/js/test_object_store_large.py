"""A 20 MB object streams through put and get holding a few chunks at a time, at most."""

from __future__ import annotations

import hashlib
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import anyio
import pytest

from anystream.nats.js import JetStream
from anystream.nats.js.object_store import OBJ_DEFAULT_CHUNK_SIZE

pytestmark = pytest.mark.anyio

SIZE = 20 * 1024 * 1024
PIECE = 64 * 1024
HELD_LIMIT = 4 * 1024 * 1024
"""Peak Python memory allowed while 20 MB pass: a few chunks' worth, far below the object."""


@contextmanager
def peak_memory() -> Iterator[list[int]]:
    """Measure the peak of Python allocations inside the block (bytes, in ``result[0]``)."""
    result: list[int] = []
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        yield result
        result.append(tracemalloc.get_traced_memory()[1] - base)
    finally:
        tracemalloc.stop()


class Source:
    """An async stream of 20 MB in 64 KiB pieces, each a fresh bytes object."""

    def __init__(self) -> None:
        self.sha = hashlib.sha256()
        self.produced = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        block = bytes(range(256)) * (PIECE // 256)
        while self.produced < SIZE:
            await anyio.lowlevel.checkpoint()
            piece = block[:-2] + self.produced.to_bytes(8, "big")[-2:]
            self.sha.update(piece)
            self.produced += len(piece)
            yield piece


class Sink:
    """A writer that keeps only a running digest and the largest write it was given."""

    def __init__(self) -> None:
        self.sha = hashlib.sha256()
        self.size = 0
        self.largest_write = 0

    async def write(self, data: bytes) -> None:
        self.sha.update(data)
        self.size += len(data)
        self.largest_write = max(self.largest_write, len(data))
        await anyio.lowlevel.checkpoint()


async def test_a_20_mb_object_is_put_and_got_in_bounded_memory(
    js: JetStream, request: pytest.FixtureRequest
) -> None:
    bucket = "large_" + request.node.callspec.id
    obs = await js.create_object_store(bucket)
    source = Source()
    sink = Sink()
    try:
        with peak_memory() as put_peak:
            info = await obs.put("big.bin", source.__aiter__())
        with peak_memory() as get_peak:
            result = await obs.get("big.bin", writeinto=sink)
    finally:
        await js.delete_object_store(bucket)

    assert (info.size, info.chunks) == (SIZE, SIZE // OBJ_DEFAULT_CHUNK_SIZE)
    assert (sink.size, sink.sha.digest()) == (SIZE, source.sha.digest())
    assert result.data == b""
    assert sink.largest_write == OBJ_DEFAULT_CHUNK_SIZE
    assert put_peak[0] < HELD_LIMIT, f"put held {put_peak[0]} bytes at its peak"
    assert get_peak[0] < HELD_LIMIT, f"get held {get_peak[0]} bytes at its peak"
