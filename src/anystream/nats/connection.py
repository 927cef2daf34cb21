"""The NATS client connection as a state machine, without I/O (the h11 model).

:class:`Connection` is what the client knows about the protocol: bytes from the server
go in with :meth:`~Connection.receive_data`; :meth:`~Connection.next_event` hands back one
event at a time, or :data:`NEED_DATA` when more bytes are needed; the methods that change
state (:meth:`~Connection.connect`, :meth:`~Connection.subscribe`,
:meth:`~Connection.unsubscribe`, :meth:`~Connection.ping`) return the bytes to send.

It owns the state the protocol implies, so the I/O layer never has to re-parse what it
wrote:

- the handshake: ``INFO`` first, then ``CONNECT`` + ``PING``, connected at the ``PONG``;
- the subscription table (sid to subject, queue group, auto-unsubscribe limit and the
  count received), which outlives one network connection: when a new one completes its
  handshake the :class:`Connected` event carries the ``SUB``/``UNSUB`` commands that
  restore every subscription (limits counted down by the messages already received);
- the order of ``PING``\\s in flight, so each ``PONG`` answers the right waiter
  (:class:`PongReceived`).

One :class:`Connection` serves the whole life of a client: :meth:`~Connection.start`
begins a new network connection (fresh parser, handshake from the top),
:meth:`~Connection.connection_lost` ends one.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Final

from .commands import (
    DEFAULT_MAX_PAYLOAD,
    PING,
    connect_command,
    sub_command,
    unsub_command,
    validate_queue,
    validate_subject,
)
from .errors import AuthorizationError, MalformedFrameError, NatsError, ServerError
from .options import Statistics
from .protocol import Err, Event, Info, Msg, Parser, Pong

__all__ = (
    "NEED_DATA",
    "Connected",
    "Connection",
    "ConnectionEvent",
    "NeedData",
    "PongReceived",
    "State",
    "SubscriptionState",
    "error_from",
)

DEFAULT_PARSE_SLICE = 16 * 1024
"""Bytes parsed at a time: events are produced in batches of about this much input."""


class NeedData(enum.Enum):
    """The type of :data:`NEED_DATA`."""

    NEED_DATA = "NEED_DATA"


NEED_DATA: Final = NeedData.NEED_DATA
"""Returned by :meth:`Connection.next_event` when every byte received has been used."""


class State(enum.Enum):
    """Where one network connection is in its life."""

    IDLE = "idle"
    """No network connection (before :meth:`Connection.start`, after ``connection_lost``)."""
    AWAIT_INFO = "await_info"
    AWAIT_CONNECT = "await_connect"
    """INFO received; the client must send :meth:`Connection.connect`."""
    AWAIT_PONG = "await_pong"
    CONNECTED = "connected"


@dataclass(eq=False, slots=True)
class SubscriptionState:
    """One subscription as the protocol knows it.

    ``target`` is whatever the I/O layer attached (the client's ``Subscription``).
    """

    sid: int
    subject: str
    queue: str | None = None
    max_msgs: int | None = None
    """Auto-unsubscribe after this many messages in total (``None``: no limit)."""
    received: int = 0
    """Messages the server sent for it."""
    target: Any = None
    done: bool = False
    """No more messages will come for it (unsubscribed or its limit reached)."""
    draining: bool = False
    """``UNSUB`` sent; messages still in flight are delivered, nothing is restored."""

    def restore_commands(self) -> bytes:
        """``SUB`` (and ``UNSUB`` for the rest of the limit) to recreate it on a new link."""
        command = sub_command(self.subject, self.sid, self.queue)
        if self.max_msgs is not None:
            command += unsub_command(self.sid, self.max_msgs - self.received)
        return command


@dataclass(slots=True)
class Connected:
    """The handshake is complete (the ``PONG`` to our first ``PING`` arrived).

    ``restore`` holds the commands that recreate every subscription; send them before
    anything else. ``expired`` lists the subscriptions whose auto-unsubscribe limit was
    reached while disconnected: they are removed and will get no more messages.
    """

    info: dict[str, Any]
    restore: bytes = b""
    expired: list[SubscriptionState] = field(default_factory=list)


@dataclass(slots=True)
class PongReceived:
    """A ``PONG``: ``waiter`` is what was given to the :meth:`Connection.ping` it answers."""

    waiter: Any


ConnectionEvent = Event | Connected | PongReceived


def error_from(err: Err, *, handshake: bool = False) -> NatsError:
    """The exception that stands for a server's ``-ERR`` (``handshake``: in reply to CONNECT)."""
    if err.is_auth_error:
        if handshake:
            return AuthorizationError(f"the server refused the credentials: {err.message}")
        return AuthorizationError(err.message)
    return ServerError(err.message)


class Connection:
    """The client side of the NATS protocol: state, events in, commands out. No I/O."""

    def __init__(
        self, *, stats: Statistics | None = None, parse_slice: int = DEFAULT_PARSE_SLICE
    ) -> None:
        self.state = State.IDLE
        self.stats = stats if stats is not None else Statistics()
        """``in_msgs`` and ``in_bytes`` count every message received."""
        self.info: dict[str, Any] = {}
        """The last INFO received."""
        self.max_payload = DEFAULT_MAX_PAYLOAD
        self.subscriptions: dict[int, SubscriptionState] = {}
        """Active subscriptions by sid (read-only for users of this class)."""
        self.outstanding_pings = 0
        """PINGs sent since the last PONG."""
        self._next_sid = 0
        self._parser = Parser()
        self._parse_slice = parse_slice
        self._events: deque[Event] = deque()
        self._input = b""
        self._input_pos = 0
        self._pongs: deque[Any] = deque()

    # ----------------------------------------------------------------- network connection

    def start(self) -> None:
        """A new network connection is open: expect INFO from the server."""
        self._parser = Parser(max_payload=self.max_payload)
        self._events.clear()
        self._input = b""
        self._input_pos = 0
        self._pongs.clear()
        self.outstanding_pings = 0
        self.state = State.AWAIT_INFO

    def connection_lost(self) -> list[Any]:
        """The network connection is gone; return the waiters of the PINGs it never answered."""
        self.state = State.IDLE
        self._events.clear()
        self._input = b""
        self._input_pos = 0
        waiters = [w for w in self._pongs if w is not None]
        self._pongs.clear()
        self.outstanding_pings = 0
        return waiters

    @property
    def is_connected(self) -> bool:
        return self.state is State.CONNECTED

    def connect(self, options: dict[str, Any]) -> bytes:
        """``CONNECT`` with ``options`` and the ``PING`` whose ``PONG`` ends the handshake."""
        if self.state is not State.AWAIT_CONNECT:
            raise RuntimeError(f"connect() is not expected in state {self.state.name}")
        self.state = State.AWAIT_PONG
        return connect_command(options) + PING

    # ----------------------------------------------------------------- events in

    def receive_data(self, data: bytes) -> None:
        """Add bytes received from the server (parsed lazily by :meth:`next_event`)."""
        if self._input_pos < len(self._input):
            self._input = self._input[self._input_pos :] + data
        else:
            self._input = data
        self._input_pos = 0

    @property
    def buffered(self) -> int:
        """Bytes received and not yet turned into events."""
        return len(self._input) - self._input_pos + self._parser.buffered

    def next_event(self) -> ConnectionEvent | NeedData:
        """The next event, or :data:`NEED_DATA` once every byte received has been used.

        Messages for unknown sids (unsubscribed, in flight) are skipped. A message has its
        :class:`SubscriptionState` in ``Msg.subscription``; when it was the last one its
        limit allowed, the subscription is already removed and marked ``done``.

        Raises :class:`MalformedFrameError` for bytes that are not NATS (or a first frame
        that is not INFO) and, during the handshake, :class:`AuthorizationError` or
        :class:`ServerError` for a ``-ERR``.
        """
        events = self._events
        while True:
            if not events and not self._parse_more():
                return NEED_DATA
            event = events.popleft()
            if type(event) is Msg:
                stats = self.stats
                stats.in_msgs += 1
                stats.in_bytes += len(event.payload)
                sub = self.subscriptions.get(event.sid)
                if sub is None:
                    continue
                sub.received += 1
                if sub.max_msgs is not None and sub.received >= sub.max_msgs:
                    del self.subscriptions[sub.sid]
                    sub.done = True
                event.subscription = sub
                return event
            if self.state is not State.CONNECTED:
                return self._handshake_event(event)
            if type(event) is Pong:
                self.outstanding_pings = 0
                return PongReceived(self._pongs.popleft() if self._pongs else None)
            if type(event) is Info:
                self._apply_info(event.options)
            return event

    def _parse_more(self) -> bool:
        """Feed the parser the next slice of input; False when there is none left."""
        events = self._events
        data = self._input
        while not events:
            pos = self._input_pos
            if pos >= len(data):
                return False
            end = min(pos + self._parse_slice, len(data))
            self._input_pos = end
            events.extend(self._parser.feed(data[pos:end] if pos or end < len(data) else data))
        return True

    def _handshake_event(self, event: Event) -> ConnectionEvent:
        state = self.state
        if state is State.AWAIT_INFO:
            if not isinstance(event, Info):
                raise MalformedFrameError(f"expected INFO from the server, got {event!r}")
            self._apply_info(event.options)
            self.state = State.AWAIT_CONNECT
            return event
        if isinstance(event, Err):
            raise error_from(event, handshake=True)
        if type(event) is Pong and state is State.AWAIT_PONG:
            return self._connected()
        if isinstance(event, Info):
            self._apply_info(event.options)
        return event

    def _connected(self) -> Connected:
        self.state = State.CONNECTED
        self.outstanding_pings = 0
        restore = bytearray()
        expired = []
        for sub in list(self.subscriptions.values()):
            if sub.draining:
                continue
            if sub.max_msgs is not None and sub.max_msgs <= sub.received:
                del self.subscriptions[sub.sid]
                sub.done = True
                expired.append(sub)
                continue
            restore += sub.restore_commands()
        return Connected(self.info, bytes(restore), expired)

    def _apply_info(self, info: dict[str, Any]) -> None:
        self.info = info
        self.max_payload = int(info.get("max_payload", self.max_payload))
        self._parser.max_payload = self.max_payload

    # ----------------------------------------------------------------- commands out

    def subscribe(
        self,
        subject: str,
        queue: str | None = None,
        *,
        max_msgs: int | None = None,
        target: Any = None,
    ) -> tuple[SubscriptionState, bytes]:
        """Add a subscription; return it and the commands to send (none while disconnected:
        they go out with the restore after the next handshake).
        """
        validate_subject(subject, wildcards=True)
        if queue is not None:
            validate_queue(queue)
        if max_msgs is not None and max_msgs <= 0:
            raise ValueError(f"max_msgs must be positive, got {max_msgs}")
        self._next_sid += 1
        sub = SubscriptionState(self._next_sid, subject, queue, max_msgs, target=target)
        self.subscriptions[sub.sid] = sub
        return sub, sub.restore_commands() if self.is_connected else b""

    def unsubscribe(self, sid: int, limit: int | None = None) -> bytes:
        """Stop now, or after ``limit`` messages received in total; return the command.

        Stopping now removes the subscription (marked ``done``) at once; a limit not yet
        reached is recorded and the subscription stays until it is.
        """
        sub = self.subscriptions.get(sid)
        if sub is None:
            return b""
        if limit is not None and limit > sub.received:
            sub.max_msgs = limit
            return unsub_command(sid, limit) if self.is_connected else b""
        del self.subscriptions[sid]
        sub.done = True
        return unsub_command(sid) if self.is_connected else b""

    def drain(self, sid: int) -> bytes:
        """``UNSUB`` while keeping the subscription, so messages in flight still arrive.

        Call :meth:`unsubscribe` once they have (after a PING/PONG round trip).
        """
        sub = self.subscriptions.get(sid)
        if sub is None or sub.draining:
            return b""
        sub.draining = True
        return unsub_command(sid) if self.is_connected else b""

    def ping(self, waiter: Any = None) -> bytes:
        """A ``PING``; the :class:`PongReceived` that answers it carries ``waiter``.

        A PING without a waiter is a keepalive: it counts in ``outstanding_pings`` until
        any PONG arrives.
        """
        self._pongs.append(waiter)
        if waiter is None:
            self.outstanding_pings += 1
        return PING
