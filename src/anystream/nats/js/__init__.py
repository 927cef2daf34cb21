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
    APITimeoutError,
    BadBucketError,
    BadObjectMetaError,
    BadRequestError,
    BucketNotFoundError,
    ConsumerDeletedError,
    ConsumerNotFoundError,
    DigestMismatchError,
    FetchTimeoutError,
    InvalidBucketNameError,
    InvalidKeyError,
    InvalidObjectNameError,
    JetStreamError,
    JetStreamNotEnabledError,
    KeyDeletedError,
    KeyHistoryTooLargeError,
    KeyNotFoundError,
    KeyValueError,
    KeyWrongLastSequenceError,
    LinkIsABucketError,
    MsgAlreadyAckdError,
    MsgNotFoundError,
    NoKeysError,
    NoStreamResponseError,
    NotFoundError,
    NotJSMessageError,
    ObjectAlreadyExists,
    ObjectDeletedError,
    ObjectNotFoundError,
    ServerError,
    ServiceUnavailableError,
    StreamNameAlreadyInUseError,
    StreamNotFoundError,
    TooManyStalledMsgsError,
    WrongLastMsgIdError,
    WrongLastSequenceError,
)
from .kv import KeyValue
from .msg import JsMsg, Metadata
from .object_store import ObjectStore
from .publish import PubAckFuture
from .pull import PullSubscription
from .push import PushSubscription

__all__ = (
    "APIError",
    "APITimeoutError",
    "BadBucketError",
    "BadObjectMetaError",
    "BadRequestError",
    "BucketNotFoundError",
    "ConsumerDeletedError",
    "ConsumerNotFoundError",
    "DigestMismatchError",
    "FetchTimeoutError",
    "InvalidBucketNameError",
    "InvalidKeyError",
    "InvalidObjectNameError",
    "JetStream",
    "JetStreamError",
    "JetStreamNotEnabledError",
    "JsMsg",
    "KeyDeletedError",
    "KeyHistoryTooLargeError",
    "KeyNotFoundError",
    "KeyValue",
    "KeyValueError",
    "KeyWrongLastSequenceError",
    "LinkIsABucketError",
    "Metadata",
    "MsgAlreadyAckdError",
    "MsgNotFoundError",
    "NoKeysError",
    "NoStreamResponseError",
    "NotFoundError",
    "NotJSMessageError",
    "ObjectAlreadyExists",
    "ObjectDeletedError",
    "ObjectNotFoundError",
    "ObjectStore",
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
