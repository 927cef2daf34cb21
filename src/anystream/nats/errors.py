"""Exceptions raised by :mod:`anystream.nats`.

Every error is a :class:`NatsError`. Errors that describe bad input from the caller
(an invalid subject, a payload over the server's limit, malformed headers) are also
``ValueError``; a request that got no reply in time is also ``TimeoutError``.
"""

from __future__ import annotations

__all__ = (
    "AuthorizationError",
    "BadHeadersError",
    "BadSubjectError",
    "ConnectionClosedError",
    "ConnectionDrainingError",
    "DrainTimeoutError",
    "MalformedFrameError",
    "MaxPayloadError",
    "NatsError",
    "NatsTimeoutError",
    "NoRespondersError",
    "NoServersError",
    "OutboundBufferFullError",
    "ProtocolError",
    "ServerError",
    "SlowConsumerError",
    "StaleConnectionError",
    "SubscriptionClosedError",
)


class NatsError(Exception):
    """Base class of every error raised by the NATS client."""


class ProtocolError(NatsError):
    """The byte stream from the server does not follow the NATS protocol."""


class MalformedFrameError(ProtocolError):
    """A frame (control line, payload or header block) could not be parsed."""


class BadSubjectError(NatsError, ValueError):
    """A subject or queue group name is empty, has whitespace or empty tokens."""


class BadHeadersError(NatsError, ValueError):
    """A header name or value cannot be sent (colon, whitespace or line breaks)."""


class MaxPayloadError(NatsError, ValueError):
    """A message is larger than the server's ``max_payload``."""

    def __init__(self, size: int, max_payload: int) -> None:
        super().__init__(
            f"message of {size} bytes is larger than the server's max_payload of "
            f"{max_payload} bytes"
        )
        self.size = size
        self.max_payload = max_payload


class ConnectionClosedError(NatsError):
    """The connection was closed (by :meth:`Client.close`, ``drain`` or giving up)."""


class ConnectionDrainingError(NatsError):
    """The connection is draining: no new subscriptions are accepted."""


class NoServersError(NatsError, ConnectionError):
    """No server in the list could be reached (or every reconnect attempt failed)."""


class AuthorizationError(NatsError):
    """The server refused the credentials (user/password, token, NKey or JWT)."""


class ServerError(NatsError):
    """The server sent ``-ERR`` with a message."""


class StaleConnectionError(NatsError):
    """The server did not answer too many PINGs: the connection is half-open."""


class NoRespondersError(NatsError):
    """A request was published to a subject on which nobody listens."""

    def __init__(self, subject: str) -> None:
        super().__init__(f"no responders are listening on {subject!r}")
        self.subject = subject


class NatsTimeoutError(NatsError, TimeoutError):
    """A request, flush or ``next_msg`` got no answer within its timeout."""


class DrainTimeoutError(NatsTimeoutError):
    """``drain()`` did not finish in time; the connection was closed anyway."""


class SlowConsumerError(NatsError):
    """A subscription's pending limit was reached: new messages are being dropped."""

    def __init__(self, subject: str, sid: int, dropped: int) -> None:
        super().__init__(
            f"slow consumer on subject {subject!r} (sid {sid}): pending limit reached, "
            f"{dropped} message(s) dropped so far"
        )
        self.subject = subject
        self.sid = sid
        self.dropped = dropped


class OutboundBufferFullError(NatsError):
    """The buffer that holds publishes while disconnected is full."""


class SubscriptionClosedError(NatsError):
    """The subscription was unsubscribed or drained and has no more messages."""
