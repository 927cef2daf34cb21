"""anystream.nats errors as nats-py's: code written for nats-py catches ``nats.errors.*``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import nats.errors
import nats.js.errors

from .. import errors as native

__all__ = ("as_nats_py", "nats_py_errors")

# Most specific first: the first isinstance match wins.
_SIMPLE: tuple[tuple[type[native.NatsError], type[nats.errors.Error]], ...] = (
    (native.DrainTimeoutError, nats.errors.DrainTimeoutError),
    (native.NatsTimeoutError, nats.errors.TimeoutError),
    (native.NoRespondersError, nats.errors.NoRespondersError),
    (native.ConnectionDrainingError, nats.errors.ConnectionDrainingError),
    (native.ConnectionClosedError, nats.errors.ConnectionClosedError),
    (native.NoServersError, nats.errors.NoServersError),
    (native.AuthorizationError, nats.errors.AuthorizationError),
    (native.StaleConnectionError, nats.errors.StaleConnectionError),
    (native.OutboundBufferFullError, nats.errors.OutboundBufferLimitError),
    (native.MaxPayloadError, nats.errors.MaxPayloadError),
    (native.BadSubjectError, nats.errors.BadSubjectError),
    (native.SubscriptionClosedError, nats.errors.BadSubscriptionError),
    (native.ProtocolError, nats.errors.ProtocolError),
)


def as_nats_py(exc: BaseException) -> BaseException:
    """The nats-py exception code written for nats-py expects in place of ``exc``.

    Exceptions that are not :class:`anystream.nats.NatsError` come back unchanged.
    """
    if not isinstance(exc, native.NatsError):
        return exc
    from ..js import errors as js

    if isinstance(exc, js.JetStreamError):
        return _jetstream(exc, js)
    if isinstance(exc, native.SlowConsumerError):
        return nats.errors.SlowConsumerError(subject=exc.subject, reply="", sid=exc.sid, sub=None)  # type: ignore[arg-type]
    if isinstance(exc, native.BadHeadersError):
        return nats.errors.Error(f"nats: {exc}")
    for source, target in _SIMPLE:
        if isinstance(exc, source):
            translated = target()
            if type(translated).__str__ is nats.errors.Error.__str__:
                translated.args = exc.args
            return translated
    return nats.errors.Error(f"nats: {exc}")


@contextmanager
def nats_py_errors() -> Iterator[None]:
    """Re-raise :class:`anystream.nats.NatsError` as the matching ``nats.errors`` class."""
    try:
        yield
    except native.NatsError as exc:
        raise as_nats_py(exc) from exc


def _jetstream(exc: Exception, js: Any) -> BaseException:
    """The ``nats.js.errors`` (or ``nats.errors``) class of the same name, filled in."""
    if isinstance(exc, js.FetchTimeoutError):
        return nats.js.errors.FetchTimeoutError()
    if isinstance(exc, js.JetStreamNotEnabledError):
        return nats.js.errors.ServiceUnavailableError(
            code=503, description=getattr(exc, "description", None)
        )
    target: type[BaseException] | None = None
    for klass in type(exc).__mro__:
        if klass is js.JetStreamError:
            break
        target = getattr(nats.js.errors, klass.__name__, None) or getattr(
            nats.errors, klass.__name__, None
        )
        if target is not None:
            break
    if target is None:
        return nats.js.errors.Error(str(exc))
    description = getattr(exc, "description", None) or str(exc)
    if target in (nats.js.errors.KeyDeletedError,):
        return target(entry=getattr(exc, "entry", None), op=getattr(exc, "op", None))  # type: ignore[call-arg]
    if target is nats.js.errors.KeyNotFoundError:
        return target(  # type: ignore[call-arg]
            entry=getattr(exc, "entry", None), op=getattr(exc, "op", None), message=None
        )
    if target is nats.js.errors.KeyWrongLastSequenceError:
        return target(description=description)  # type: ignore[call-arg]
    if issubclass(target, nats.js.errors.APIError):
        return target(
            code=getattr(exc, "code", None),
            description=description,
            err_code=getattr(exc, "err_code", None),
        )
    if issubclass(target, nats.js.errors.Error):
        try:
            return target(description)  # type: ignore[call-arg]
        except TypeError:
            return target()
    try:
        return target()
    except TypeError:
        return nats.js.errors.Error(description)
