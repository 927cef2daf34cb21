"""faststream's avoidable per-message costs, cut without changing anything a user sees.

docs/performance.md gives each patch's measured effect; the package docstring lists them.
"""

from __future__ import annotations

import functools
import logging
import os
from typing import Any

from .._contract import (
    Assumption,
    Broken,
    Patch,
    all_of,
    lookup,
    original,
    slots,
    unchanged,
    uses,
)
from ._middleware import Shared

__all__ = (
    "ASSUMPTIONS",
    "PATCHES",
    "critical_log_call",
    "real_logger_log",
    "set_logger_fmt",
    "subscriber_subject",
    "uuid4_text",
)

_CRITICAL_LOG = "faststream.middlewares.logging:CriticalLogMiddleware"
_LOGGING_MIDDLEWARE = "faststream.middlewares.logging:_LoggingMiddleware"
_LOGGING = "faststream._internal.logger.logging:"
_REAL_LOGGER = "faststream._internal.logger.logger_proxy:RealLoggerObject"
_FORMATTER = "faststream._internal.logger.formatter:ColourizedFormatter"
_NATS_SUBSCRIBER = "faststream.nats.subscriber.usecases.basic:LogicSubscriber"
_MESSAGE_MODULE = "faststream.message.message:"
_MESSAGE = "faststream.message.message:StreamMessage"


# --------------------------------------------------------------------------------------
# 6. The default access-log handler: same lines, less work per record
# --------------------------------------------------------------------------------------


def set_logger_fmt(logger: logging.Logger, stream: Any, fmt: str) -> None:
    """Upstream's ``set_logger_fmt`` making the handler of :mod:`._logging`.

    Upstream adds a ``logging.StreamHandler(stream)`` with a ``ColourizedFormatter(fmt,
    use_colors=True)`` unless the logger already has a handler on ``sys.stdout``. Two
    lines per message go through it ("Received", "Processed"), and per line the formatter
    ran ``time.strftime`` and the handler flushed the stream (one ``write`` system call).
    Here the handler is a :class:`~._logging.DeferredFlushStreamHandler` (lines written as
    they come, flushed within 50 ms, at once from WARNING up) and the formatter a
    :class:`~._logging.CachedTimeFormatter` (strftime once per second): the same lines on
    the same stream. A handler faststream made before (same logger) is upgraded in place.
    """
    from faststream._internal.logger import logging as fs_logging

    from ._logging import CachedTimeFormatter, DeferredFlushStreamHandler, upgrade

    if fs_logging._handler_exists(logger):
        for handler in logger.handlers:
            upgrade(handler)
        return

    handler = DeferredFlushStreamHandler(stream=stream)
    handler.setFormatter(CachedTimeFormatter(fmt=fmt, use_colors=True))
    logger.addHandler(handler)


def real_logger_log(
    self: Any,
    level: int,
    msg: Any,
    /,
    *,
    exc_info: Any = None,
    extra: Any = None,
) -> None:
    """Upstream's ``RealLoggerObject.log``, writing faststream's default access-log line
    directly when nothing but faststream's own handler could see the record.

    Upstream calls ``logger.log(level, msg, extra=extra, exc_info=exc_info)`` for every
    "Received"/"Processed" line: a ``LogRecord`` (a dozen attributes, the caller's frame
    looked up), the filter, the handler's lock and format. When the logger is faststream's
    access logger exactly as faststream set it up (see
    :func:`~._logging.write_directly`), the same line is formatted from the message's log
    context and written to the same stream; in any other case (a handler or filter the user
    added, propagation, a format with other fields, an exception, a patched ``logging``)
    the record takes upstream's path.
    """
    logger = self.logger
    if (
        exc_info is None
        and type(logger) is logging.Logger
        and _write_directly()(logger, level, msg, extra)
    ):
        return
    logger.log(level, msg, extra=extra, exc_info=exc_info)


@functools.cache
def _write_directly() -> Any:
    """:func:`~._logging.write_directly`, imported once (not on every log line)."""
    from ._logging import write_directly

    return write_directly


# --------------------------------------------------------------------------------------
# 7. LogicSubscriber.subject: one Address per subject, not one per message
# --------------------------------------------------------------------------------------

_addresses: dict[tuple[str, str], Any] = {}


def _subscriber_subject(self: Any) -> Any:
    """Upstream's ``LogicSubscriber.subject``, built once per (subject, prefix).

    Upstream builds ``Address(self._subject, NATS_ADDRESS_SYNTAX).add_prefix(prefix)`` on
    every read, and ``get_log_context`` reads it for every message: ``Address.__init__``
    scans the subject character by character for ``{{``/``}}``. An ``Address`` is a
    value (its lazily compiled regex is a cache), so the one built for a (subject,
    prefix) pair serves every read; a prefix changed later is a new key.
    """
    key = (self._subject, self._outer_config.prefix)
    address = _addresses.get(key)
    if address is None:
        from faststream._internal.utils.path import Address
        from faststream.nats.schemas.js_stream import NATS_ADDRESS_SYNTAX

        address = _addresses[key] = Address(self._subject, NATS_ADDRESS_SYNTAX).add_prefix(key[1])
    return address


subscriber_subject = property(_subscriber_subject)


# --------------------------------------------------------------------------------------
# 8. StreamMessage's correlation id: uuid4 text without the UUID object
# --------------------------------------------------------------------------------------

_VARIANT = "89ab" * 4

#: Correlation ids made per ``os.urandom`` call (one system call per this many messages).
ID_BATCH = 256

# Ids made ahead and not handed out yet: ``list.pop`` hands each to one caller only (with
# threads too); a forked child drops the parent's (it must not hand out the same ones).
_ids: list[str] = []
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_ids.clear)


def _uuid4_texts(count: int) -> list[str]:
    raw = os.urandom(16 * count).hex()
    return [
        f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[int(h[16], 16)]}{h[17:20]}-{h[20:]}"
        for h in (raw[i : i + 32] for i in range(0, len(raw), 32))
    ]


def uuid4_text() -> str:
    """A random (version 4) UUID in its canonical text form, as ``str(uuid.uuid4())``.

    ``StreamMessage.__init__`` gives every message without a ``correlation_id`` header
    ``str(uuid4())``: 16 random bytes (``os.urandom``, as uuid4), then a ``UUID`` object
    and its ``__str__``. This formats the same bytes directly (version and variant bits
    set as uuid4 sets them): the same distribution, the same text. The random bytes of
    :data:`ID_BATCH` ids come from one ``os.urandom`` call (one system call instead of one
    per message); each id is handed out once, and a forked child makes its own. Patched
    in as the ``uuid4`` that ``faststream.message.message`` calls (``str()`` of a ``str``
    is the string itself).
    """
    ids = _ids
    while True:
        try:
            return ids.pop()
        except IndexError:
            ids.extend(_uuid4_texts(ID_BATCH))


# --------------------------------------------------------------------------------------
# 10. CriticalLogMiddleware with logging off: nothing built per message
# --------------------------------------------------------------------------------------


def critical_log_call(self: Any, msg: Any, /, *, context: Any) -> Any:
    """Upstream's ``CriticalLogMiddleware.__call__``, with one shared no-op object when the
    broker logs nothing (``logger=None``).

    Upstream builds a ``_LoggingMiddleware`` for every message; all it does is log
    "Received", "Processed" and a handler's exception through the broker's logger state.
    With ``logger=None`` that state holds an ``EmptyLoggerObject`` whose ``log`` does
    nothing, so the object, its ``consume_scope`` frame and its two log-context lookups
    per message change nothing: one shared object whose scopes call straight through
    stands in for it. With any logger, upstream's object as before.
    """
    empty_logger, logging_middleware = _logging_names()
    if type(self.logger.logger) is empty_logger:
        return _SILENT_LOG_MIDDLEWARE
    return logging_middleware(logger=self.logger, msg=msg, context=context)


@functools.cache
def _logging_names() -> tuple[Any, Any]:
    """faststream's classes ``critical_log_call`` reads, imported once (not per message)."""
    from faststream._internal.logger.logger_proxy import EmptyLoggerObject
    from faststream.middlewares.logging import _LoggingMiddleware

    return EmptyLoggerObject, _LoggingMiddleware


_SILENT_LOG_MIDDLEWARE = Shared(None)


# --------------------------------------------------------------------------------------
# What these replacements assume, and the patches
# --------------------------------------------------------------------------------------


def _not_defined(owner: str, attr: str) -> None:
    if attr in lookup(owner).__dict__:
        raise Broken(f"{owner} now defines {attr}")


def _is_uuid4(owner: str, attr: str) -> None:
    import uuid

    if original(owner, attr) is not uuid.uuid4:
        raise Broken(f"{owner}{attr} is no longer uuid.uuid4")


#: Checked by :func:`~anystream._adapters.faststream.install` before it patches anything.
ASSUMPTIONS: tuple[Assumption, ...] = (
    # 6. the default access-log handler
    Assumption(
        "set_logger_fmt is the 0.7.8 code our copy is based on",
        unchanged(_LOGGING, "set_logger_fmt", "ea8e3e5ac56fdad7", copy_in=__name__),
    ),
    Assumption(
        "get_logger adds its handler through the module's set_logger_fmt",
        uses(_LOGGING, "get_logger", "set_logger_fmt"),
    ),
    Assumption(
        "ColourizedFormatter.formatMessage is the 0.7.8 code CachedTimeFormatter matches",
        unchanged(
            _FORMATTER, "formatMessage", "6751700b76f6eac3", copy_in=f"{__package__}._logging"
        ),
    ),
    Assumption(
        "ColourizedFormatter does not define formatTime (logging.Formatter's is the one used)",
        lambda: _not_defined(_FORMATTER, "formatTime"),
    ),
    Assumption(
        "RealLoggerObject.log is the 0.7.8 code our copy is based on",
        unchanged(_REAL_LOGGER, "log", "b6da5678a30d1308", copy_in=__name__),
    ),
    Assumption(
        "ExtendedFilter.filter is the 0.7.8 code write_directly does the work of",
        unchanged(
            "faststream._internal.logger.logging:ExtendedFilter",
            "filter",
            "9623ca3ff0461c35",
            copy_in=f"{__package__}._logging",
        ),
    ),
    # 7. LogicSubscriber.subject
    Assumption(
        "LogicSubscriber.subject is the 0.7.8 code our copy is based on",
        unchanged(_NATS_SUBSCRIBER, "subject", "5e0390612b4c7041", copy_in=__name__),
    ),
    Assumption(
        "Address keeps nothing but its declaration, syntax and compiled cache",
        slots(
            "faststream._internal.utils.path:Address",
            ("_compiled", "_declaration", "_syntax", "template"),
        ),
    ),
    # 8. the correlation id
    Assumption(
        "StreamMessage.__init__ is the 0.7.8 code: correlation_id or str(uuid4())",
        all_of(
            unchanged(_MESSAGE, "__init__", "ea7623a405559c80", copy_in=__name__),
            uses(_MESSAGE, "__init__", "uuid4", "str", "correlation_id"),
        ),
    ),
    Assumption(
        "faststream.message.message calls uuid4 through its module global (uuid.uuid4)",
        lambda: _is_uuid4(_MESSAGE_MODULE, "uuid4"),
    ),
    # 10. CriticalLogMiddleware with logging off
    Assumption(
        "CriticalLogMiddleware.__call__ is the 0.7.8 code our copy is based on",
        unchanged(_CRITICAL_LOG, "__call__", "beb38c4f7f5fc7d6", copy_in=__name__),
    ),
    Assumption(
        "_LoggingMiddleware only logs (0.7.8 consume_scope and __aexit__)",
        all_of(
            unchanged(_LOGGING_MIDDLEWARE, "consume_scope", "b06254ce6ebf33ee", copy_in=__name__),
            unchanged(_LOGGING_MIDDLEWARE, "__aexit__", "05d913aa2db5e5d0", copy_in=__name__),
        ),
    ),
    Assumption(
        "EmptyLoggerObject.log (logger=None) does nothing (0.7.8 code)",
        unchanged(
            "faststream._internal.logger.logger_proxy:EmptyLoggerObject",
            "log",
            "d8787c1bff3da286",
            copy_in=__name__,
        ),
    ),
)

PATCHES: tuple[Patch, ...] = (
    Patch(_LOGGING, "set_logger_fmt", set_logger_fmt),
    Patch(_REAL_LOGGER, "log", real_logger_log),
    Patch(_NATS_SUBSCRIBER, "subject", subscriber_subject),
    Patch(_MESSAGE_MODULE, "uuid4", uuid4_text),
    Patch(_CRITICAL_LOG, "__call__", critical_log_call),
)
