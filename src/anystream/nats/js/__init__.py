"""JetStream on :mod:`anystream.nats`: streams, publish with acks, push and pull consumers.

::

    async with anystream.nats.connect(url) as nc:
        js = JetStream(nc)
        await js.add_stream(name="orders", subjects=["orders.*"])
        await js.publish("orders.new", b"1")

Everything runs on the core client's public API, on asyncio and trio alike; configs and
results are nats-py's ``nats.js.api`` dataclasses. See docs/nats.md.
"""

from .context import JetStream
from .errors import (
    APIError,
    BadRequestError,
    ConsumerDeletedError,
    ConsumerNotFoundError,
    ConsumerSequenceMismatchError,
    FetchTimeoutError,
    JetStreamError,
    JetStreamNotEnabledError,
    MsgAlreadyAckdError,
    MsgNotFoundError,
    NoStreamResponseError,
    NotFoundError,
    NotJSMessageError,
    ServerError,
    ServiceUnavailableError,
    StreamNameAlreadyInUseError,
    StreamNotFoundError,
    TooManyStalledMsgsError,
    WrongLastMsgIdError,
    WrongLastSequenceError,
)
from .msg import JsMsg, Metadata
from .publish import PubAckFuture
from .pull import PullSubscription
from .push import PushSubscription

__all__ = (
    "APIError",
    "BadRequestError",
    "ConsumerDeletedError",
    "ConsumerNotFoundError",
    "ConsumerSequenceMismatchError",
    "FetchTimeoutError",
    "JetStream",
    "JetStreamError",
    "JetStreamNotEnabledError",
    "JsMsg",
    "Metadata",
    "MsgAlreadyAckdError",
    "MsgNotFoundError",
    "NoStreamResponseError",
    "NotFoundError",
    "NotJSMessageError",
    "PubAckFuture",
    "PullSubscription",
    "PushSubscription",
    "ServerError",
    "ServiceUnavailableError",
    "StreamNameAlreadyInUseError",
    "StreamNotFoundError",
    "TooManyStalledMsgsError",
    "WrongLastMsgIdError",
    "WrongLastSequenceError",
)
