"""The bytes waiting for the writer task, and which of them survive a lost connection."""

from __future__ import annotations

import time

import anyio

__all__ = ("DEFER_LIMIT", "Outbox")

DEFER_LIMIT = 0.002
"""Longest time (s) a deferred command (a JetStream ack) waits in the outbox for company."""


class Outbox:
    """Commands queued for the network connection, in order.

    Publishes are appended to :attr:`buffer` directly (the hot path; then :meth:`wake`).
    Commands that only mean something on the current network connection (SUB, UNSUB,
    PING, PONG) go through :meth:`control`, which remembers where they are: when the
    connection is lost, :meth:`connection_lost` drops them and keeps the publishes, to be
    sent after reconnecting (subscriptions are restored by the protocol state), without
    re-parsing the buffer.

    Acknowledgements are *deferred* (:meth:`defer`): queued without waking the writer, so
    they leave with the next command that does (typically the pull request that follows
    an ack: one write instead of two). They are never held long: the writer also takes
    them when a subscriber runs out of messages to wait for (:meth:`flush_deferred`),
    when the client flushes, requests or closes, and at the latest :data:`DEFER_LIMIT`
    seconds after they were queued (the link's flusher task, :meth:`deferred_due`).
    """

    __slots__ = (
        "_controls",
        "_written",
        "buffer",
        "deferred_at",
        "flusher",
        "limit",
        "waiter",
        "writing",
    )

    def __init__(self) -> None:
        self.buffer = bytearray()
        self._controls: list[tuple[int, int]] = []
        self.waiter: anyio.Event | None = None
        """Set when data is queued (the writer waits on it)."""
        self.writing = False
        self._written: anyio.Event | None = None
        """What :meth:`wait_written` waits on (made only when someone waits)."""
        self.deferred_at: float | None = None
        """When (``time.monotonic()``) the oldest deferred command not yet taken was queued."""
        self.flusher: anyio.Event | None = None
        """Set when a command is deferred (the link's flusher waits on it)."""
        self.limit = DEFER_LIMIT

    def __len__(self) -> int:
        return len(self.buffer)

    def wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            waiter.set()

    def defer(self, command: bytes) -> None:
        """Queue ``command`` without waking the writer (it goes with the next write)."""
        self.buffer += command
        if self.deferred_at is None:
            self.deferred_at = time.monotonic()
            flusher = self.flusher
            if flusher is not None:
                self.flusher = None
                flusher.set()

    def flush_deferred(self) -> None:
        """Nothing else is coming soon: let the writer take what was deferred."""
        if self.deferred_at is not None:
            self.wake()

    def deferred_due(self) -> float | None:
        """Seconds until the deferred commands must go (<= 0: now), ``None`` if there are none."""
        at = self.deferred_at
        if at is None:
            return None
        return at + self.limit - time.monotonic()

    def control(self, command: bytes) -> None:
        """Queue a command that belongs to the current network connection."""
        if command:
            start = len(self.buffer)
            self.buffer += command
            self._controls.append((start, len(self.buffer)))
            self.wake()

    def prepend(self, commands: bytes) -> None:
        """Queue connection commands ahead of everything (the restore after a handshake)."""
        if commands:
            size = len(commands)
            self.buffer[0:0] = commands
            self._controls = [(0, size)] + [(s + size, e + size) for s, e in self._controls]
            self.wake()

    def take(self) -> bytes:
        """Everything queued, for one write."""
        data = bytes(self.buffer)
        self.buffer.clear()
        self._controls.clear()
        self.deferred_at = None
        return data

    def connection_lost(self) -> None:
        """Drop the commands of the lost connection; keep the publishes."""
        for start, end in reversed(self._controls):
            del self.buffer[start:end]
        self._controls.clear()

    async def wait_data(self) -> None:
        while not self.buffer:
            event = self.waiter = anyio.Event()
            await event.wait()

    async def wait_written(self) -> None:
        """Wait for the end of the next write (or the loss of the connection)."""
        event = self._written
        if event is None:
            event = self._written = anyio.Event()
        await event.wait()

    def mark_written(self) -> None:
        """A write ended (or the connection was lost): wake whoever waits for one."""
        event = self._written
        if event is not None:
            self._written = None
            event.set()
