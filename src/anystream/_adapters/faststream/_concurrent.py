"""faststream's ``ConcurrentMixin`` (``max_workers``): a pool of workers, not a task per message.

One of the per-message patches (the package docstring lists them; docs/performance.md
gives the measured effect).
"""

from __future__ import annotations

from typing import Any

import anyio
import anyio.lowlevel

from .._contract import Assumption, Patch, all_of, unchanged, uses

__all__ = ("ASSUMPTIONS", "PATCHES", "concurrent_put_msg", "concurrent_serve_consume_queue")

_MIXINS = "faststream._internal.endpoint.subscriber.mixins"
_CONCURRENT = f"{_MIXINS}:ConcurrentMixin"


# --------------------------------------------------------------------------------------
# 9. ConcurrentMixin (max_workers): a pool of workers, not a task per message
# --------------------------------------------------------------------------------------


async def concurrent_serve_consume_queue(self: Any) -> None:
    """Upstream's ``ConcurrentMixin._serve_consume_queue`` with ``max_workers`` workers.

    Upstream starts a new task for every message it takes from the subscriber's memory
    stream, and the task waits for the ``limiter`` semaphore (``max_workers`` permits)
    before it calls ``consume``: a task, a semaphore round and a context copy per message
    (measured: ``max_workers=4`` cost more per message than everything else faststream
    does). Here ``max_workers`` tasks each take the next message from the stream and
    consume it: at most ``max_workers`` messages are handled at once, as before; the
    stream's buffer (``max_workers`` messages) still makes ``_put_msg`` wait when all
    are busy; the workers end with the stream or with the subscriber's task (``stop()``).
    A worker takes a waiting message without a checkpoint and waits (a checkpoint) only
    when there is none.
    """
    receive_stream = self.receive_stream
    consume = self.consume
    would_block = anyio.WouldBlock

    async def worker() -> None:
        receive_nowait = receive_stream.receive_nowait
        receive = receive_stream.receive
        while True:
            try:
                try:
                    msg = receive_nowait()
                except would_block:
                    msg = await receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                # The stream ended or stop() closed it (a handler raised StopConsume):
                # a cancellation stop() asked for is delivered here, as upstream's
                # ``async for`` delivers it at its next receive.
                await anyio.lowlevel.checkpoint()
                return
            await consume(msg)

    async with anyio.create_task_group() as tg:
        for _ in range(self.max_workers):
            tg.start_soon(worker)


async def concurrent_put_msg(self: Any, msg: Any) -> None:
    """Upstream's ``ConcurrentMixin._put_msg`` without a semaphore round per message.

    Upstream holds the ``limiter`` while it sends the message into the subscriber's memory
    stream; with :func:`concurrent_serve_consume_queue` the limiter no longer counts the
    handlers (the workers do), and the stream's buffer is what makes the sender wait while
    every worker is busy. A message goes in at once while there is room (no checkpoint),
    else the sender waits for room as upstream's ``send`` does.
    """
    send_stream = self.send_stream
    try:
        send_stream.send_nowait(msg)
    except anyio.WouldBlock:
        await send_stream.send(msg)


#: Checked by :func:`~anystream._adapters.faststream.install` before it patches anything.
ASSUMPTIONS: tuple[Assumption, ...] = (
    # 9. ConcurrentMixin
    Assumption(
        "ConcurrentMixin._serve_consume_queue is the 0.7.8 code (a task per message)",
        unchanged(_CONCURRENT, "_serve_consume_queue", "f2ecbf81e44782a0", copy_in=__name__),
    ),
    Assumption(
        "ConcurrentMixin._put_msg is the 0.7.8 code (send under the limiter)",
        unchanged(_CONCURRENT, "_put_msg", "47b31b93e1026730", copy_in=__name__),
    ),
    Assumption(
        "ConcurrentMixin._consume_msg only calls consume under the limiter",
        uses(_CONCURRENT, "_consume_msg", "limiter", "consume"),
    ),
    Assumption(
        "ConcurrentMixin.start opens the stream with a max_workers buffer; "
        "start_consume_task runs _serve_consume_queue as a subscriber task",
        all_of(
            uses(_CONCURRENT, "start", "create_memory_object_stream", "max_workers"),
            uses(_CONCURRENT, "start_consume_task", "add_task", "_serve_consume_queue"),
        ),
    ),
)

PATCHES: tuple[Patch, ...] = (
    Patch(_CONCURRENT, "_serve_consume_queue", concurrent_serve_consume_queue),
    Patch(_CONCURRENT, "_put_msg", concurrent_put_msg),
)
