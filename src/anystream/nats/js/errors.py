"""Errors raised by :mod:`anystream.nats.js`, mapped once from the JetStream API.

Every error is an :class:`anystream.nats.NatsError`. The JetStream API answers a bad
request with ``{"error": {"code": ..., "err_code": ..., "description": ...}}``;
:func:`api_error` turns that into the most specific class below (by ``err_code``, then
by HTTP-like ``code``). The class names follow nats-py's ``nats.js.errors`` where
nats-py has one, so code written against nats-py reads the same.
"""

from __future__ import annotations

from typing import Any

from ..errors import NatsError, NatsTimeoutError

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
    "JetStreamError",
    "JetStreamNotEnabledError",
    "KeyDeletedError",
    "KeyHistoryTooLargeError",
    "KeyNotFoundError",
    "KeyValueError",
    "KeyWrongLastSequenceError",
    "LinkIsABucketError",
    "MsgAlreadyAckdError",
    "MsgNotFoundError",
    "NoKeysError",
    "NoStreamResponseError",
    "NotFoundError",
    "NotJSMessageError",
    "ObjectAlreadyExists",
    "ObjectDeletedError",
    "ObjectNotFoundError",
    "ServerError",
    "ServiceUnavailableError",
    "StreamNameAlreadyInUseError",
    "StreamNotFoundError",
    "TooManyStalledMsgsError",
    "WrongLastMsgIdError",
    "WrongLastSequenceError",
    "api_error",
)


class JetStreamError(NatsError):
    """Base class of every JetStream error."""


class APIError(JetStreamError):
    """The JetStream API refused a request; ``code``/``err_code`` say why."""

    def __init__(
        self,
        description: str = "",
        *,
        code: int | None = None,
        err_code: int | None = None,
    ) -> None:
        self.description = description
        self.code = code
        self.err_code = err_code
        super().__init__(f"{description or type(self).__name__} (code={code}, err_code={err_code})")


class ServiceUnavailableError(APIError):
    """503: JetStream could not answer (not enabled, no leader, temporarily unavailable)."""


class JetStreamNotEnabledError(ServiceUnavailableError):
    """Nobody answers on the JetStream API: the server (or account) has no JetStream."""


class ServerError(APIError):
    """500: the server failed while handling the request."""


class NotFoundError(APIError):
    """404: the stream, consumer or message does not exist."""


class StreamNotFoundError(NotFoundError):
    """The stream does not exist."""


class ConsumerNotFoundError(NotFoundError):
    """The consumer does not exist."""


class MsgNotFoundError(NotFoundError):
    """No message at that sequence / for that subject."""


class BadRequestError(APIError):
    """400: the request was invalid (bad config, conflicting settings...)."""


class StreamNameAlreadyInUseError(BadRequestError):
    """A stream of that name exists with a different configuration."""


class WrongLastSequenceError(BadRequestError):
    """``Nats-Expected-Last-Sequence`` (or per-subject) did not match: someone wrote first."""


class WrongLastMsgIdError(BadRequestError):
    """``Nats-Expected-Last-Msg-Id`` did not match the stream's last message id."""


class NoStreamResponseError(JetStreamError):
    """A JetStream publish got no answer: no stream captures that subject."""

    def __init__(self, subject: str = "") -> None:
        super().__init__(f"no stream answered the publish to {subject!r}")
        self.subject = subject


class TooManyStalledMsgsError(JetStreamError):
    """``publish_async`` waited too long for room among the outstanding acks."""


class FetchTimeoutError(NatsTimeoutError, JetStreamError):
    """``fetch()`` got no message within its timeout."""


class APITimeoutError(NatsTimeoutError, JetStreamError):
    """The JetStream API (or a stream, for a publish) did not answer in time."""


class ConsumerDeletedError(JetStreamError):
    """The server deleted the consumer a pull request was waiting on (409)."""


class NotJSMessageError(JetStreamError, ValueError):
    """The message was not delivered by JetStream (no ``$JS.ACK`` reply subject)."""


class MsgAlreadyAckdError(JetStreamError):
    """The message was already acknowledged (ack, nak or term): a second one is refused."""


# err_code -> class, from nats-server's errors.json (JS*Err constants).
_BY_ERR_CODE: dict[int, type[APIError]] = {
    10039: JetStreamNotEnabledError,  # JSNotEnabledForAccountErr
    10076: JetStreamNotEnabledError,  # JSNotEnabledErr
    10059: StreamNotFoundError,  # JSStreamNotFoundErr
    10014: ConsumerNotFoundError,  # JSConsumerNotFoundErr
    10037: MsgNotFoundError,  # JSNoMessageFoundErr
    10058: StreamNameAlreadyInUseError,  # JSStreamNameExistErr
    10071: WrongLastSequenceError,  # JSStreamWrongLastSequenceErrF
    10070: WrongLastMsgIdError,  # JSStreamWrongLastMsgIDErrF
}

_BY_CODE: dict[int, type[APIError]] = {
    400: BadRequestError,
    404: NotFoundError,
    500: ServerError,
    503: ServiceUnavailableError,
}


def api_error(error: dict[str, Any]) -> APIError:
    """The exception for the API's ``"error"`` object (pure: no I/O, never raises)."""
    code = error.get("code")
    err_code = error.get("err_code")
    cls = _BY_ERR_CODE.get(err_code or 0) or _BY_CODE.get(code or 0) or APIError
    return cls(str(error.get("description", "")), code=code, err_code=err_code)


# ======================================================================= key-value / object store
# nats-py's names (nats.js.errors) for the key-value and object store errors.


class BucketNotFoundError(NotFoundError):
    """No key-value / object store bucket of that name (its stream does not exist)."""


class BadBucketError(JetStreamError):
    """The stream of that name is not a bucket of the kind asked for."""


class InvalidBucketNameError(JetStreamError, ValueError):
    """A bucket name may only hold letters, digits, ``-`` and ``_``."""


class InvalidKeyError(JetStreamError, ValueError):
    """A key may only hold letters, digits and ``-/_=.``, and not start or end with ``.``."""


class KeyValueError(APIError):
    """Base class of the key-value errors."""


class KeyDeletedError(KeyValueError, NotFoundError):
    """The key's latest revision is a delete or purge marker (``entry`` is that marker)."""

    def __init__(self, entry: Any = None, op: str | None = None, description: str = "") -> None:
        self.entry = entry
        self.op = op
        key = getattr(entry, "key", None)
        revision = getattr(entry, "revision", None)
        super().__init__(
            description or f"key {key!r} was deleted ({op} at revision {revision})", code=404
        )


class KeyNotFoundError(KeyValueError, NotFoundError):
    """The key has no value: never set, or deleted/purged (then ``entry`` is the marker)."""

    def __init__(
        self,
        description: str = "key not found",
        *,
        entry: Any = None,
        op: str | None = None,
        code: int | None = 404,
        err_code: int | None = None,
    ) -> None:
        self.entry = entry
        self.op = op
        super().__init__(description, code=code, err_code=err_code)


class KeyWrongLastSequenceError(KeyValueError, WrongLastSequenceError):
    """``update``/``create``/``delete(last=...)``: the key's latest revision is another one."""


class NoKeysError(KeyValueError):
    """``keys()`` / ``history()`` found nothing."""


class KeyHistoryTooLargeError(KeyValueError, ValueError):
    """A bucket keeps at most 64 revisions per key."""


class InvalidObjectNameError(JetStreamError, ValueError):
    """An object name must be a non-empty string."""


class BadObjectMetaError(JetStreamError):
    """An object's description (its meta message) is malformed."""


class LinkIsABucketError(JetStreamError):
    """The object is a link to a whole bucket, which has no data to get."""


class DigestMismatchError(JetStreamError):
    """The object's data does not match the size/SHA-256 digest in its description."""


class ObjectNotFoundError(NotFoundError):
    """No object of that name (or it was deleted)."""


class ObjectDeletedError(NotFoundError):
    """The object was deleted."""


class ObjectAlreadyExists(JetStreamError):
    """An object of that name exists already (renaming onto it is refused)."""
