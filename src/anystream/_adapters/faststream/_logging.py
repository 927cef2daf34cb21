"""faststream's default log handler, the same lines at a lower cost per record.

faststream logs two lines per message ("Received", "Processed") through a
``logging.StreamHandler`` with its ``ColourizedFormatter``. Per record, the formatter
runs ``time.strftime`` for the timestamp and rebuilds the coloured level name, and the
handler flushes the stream (one ``write`` system call per line). Here:

- :class:`CachedTimeFormatter`: a ``ColourizedFormatter`` whose ``formatTime`` reuses
  the text of the current second and whose coloured level names are built once; its
  output is the same, character for character.
- :class:`DeferredFlushStreamHandler`: a ``StreamHandler`` that writes each line as it
  comes but flushes the stream from a background thread at most
  :data:`FLUSH_INTERVAL` seconds later (at once for WARNING and above, on
  ``flush()``/``close()`` and at exit), so a burst of lines costs one ``write`` call
  instead of one per line. Same lines, in the same order, on the same stream.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import operator
import os
import re
import sys
import threading
import time
import weakref
from typing import Any

from faststream._internal.logger.formatter import (
    COLORED_LEVELS,
    ColourizedFormatter,
    expand_log_field,
)
from faststream._internal.logger.logging import ExtendedFilter

__all__ = (
    "FLUSH_INTERVAL",
    "CachedTimeFormatter",
    "DeferredFlushStreamHandler",
    "upgrade",
    "write_directly",
)

#: Longest a line written by :class:`DeferredFlushStreamHandler` waits to be flushed.
FLUSH_INTERVAL = 0.05

# ColourizedFormatter pads the coloured name to this many characters.
_COLOURED_WIDTH = 17


class CachedTimeFormatter(ColourizedFormatter):
    """faststream's ``ColourizedFormatter``, with the timestamp text of the current second
    and the coloured level names built once. Output unchanged."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._second: tuple[int, str] = (-1, "")
        self._coloured = {
            level: expand_log_field(field=name, symbols=_COLOURED_WIDTH)
            for level, name in COLORED_LEVELS.items()
        }

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return self.asctime(record.created, record.msecs, datefmt)

    def asctime(self, created: float, msecs: float, datefmt: str | None = None) -> str:
        """``logging.Formatter.formatTime``, computing strftime once per second (strftime
        has no unit below the second; the milliseconds are added per record)."""
        if datefmt:
            return time.strftime(datefmt, self.converter(created))
        second = int(created)
        cached = self._second  # one tuple, read once: safe with threads logging at once
        if cached[0] == second:
            text = cached[1]
        else:
            text = time.strftime(self.default_time_format, self.converter(created))
            self._second = (second, text)
        if self.default_msec_format:
            return self.default_msec_format % (text, msecs)
        return text

    def formatMessage(self, record: logging.LogRecord) -> str:
        # ColourizedFormatter.formatMessage with the padded coloured names built once.
        if self.use_colors:
            coloured = self._coloured.get(record.levelno)
            record.levelname = (
                coloured
                if coloured is not None
                else expand_log_field(field=record.levelname, symbols=_COLOURED_WIDTH)
            )
        return self._style.format(record)


class _Flusher:
    """One daemon thread flushing the handlers that have unflushed lines."""

    def __init__(self) -> None:
        self._pending: weakref.WeakSet[DeferredFlushStreamHandler] = weakref.WeakSet()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, handler: DeferredFlushStreamHandler) -> None:
        with self._lock:
            self._pending.add(handler)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="anystream log flusher", daemon=True
                )
                self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            time.sleep(FLUSH_INTERVAL)
            self._wake.clear()
            self.flush_all()

    def flush_all(self) -> None:
        with self._lock:
            handlers = list(self._pending)
            self._pending.clear()
        for handler in handlers:
            with contextlib.suppress(Exception):  # a closed stream: nothing left to do
                handler.flush()

    def _after_fork_in_child(self) -> None:
        # The thread is not in the child, and a lock it held at the fork stays held there.
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = None


_flusher = _Flusher()
atexit.register(_flusher.flush_all)
if hasattr(os, "register_at_fork"):
    # Flushed before a fork, as each line was: a child must not inherit (and write again)
    # lines the parent buffered.
    os.register_at_fork(before=_flusher.flush_all, after_in_child=_flusher._after_fork_in_child)


class DeferredFlushStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A ``StreamHandler`` that flushes at most :data:`FLUSH_INTERVAL` seconds after a line
    (at once for WARNING and above)."""

    _unflushed = False

    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = self.format(record)
            self.stream.write(msg + self.terminator)
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)
            return
        if record.levelno >= logging.WARNING:
            self.flush()
        elif not self._unflushed:
            self._unflushed = True
            _flusher.add(self)

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]  # set by Handler.createLock
            self._unflushed = False
        super().flush()


def upgrade(handler: logging.Handler) -> bool:
    """Turn faststream's own default handler (a plain ``StreamHandler`` with a plain
    ``ColourizedFormatter``, as ``set_logger_fmt`` makes it) into the classes above, in
    place (the same objects, same stream and format). Others are left alone."""
    formatter = handler.formatter
    if type(handler) is not logging.StreamHandler or type(formatter) is not ColourizedFormatter:
        return False
    assert formatter is not None
    with handler.lock:  # type: ignore[union-attr]
        formatter.__class__ = CachedTimeFormatter
        formatter._second = (-1, "")  # type: ignore[attr-defined]
        formatter._coloured = {  # type: ignore[attr-defined]
            level: expand_log_field(field=name, symbols=_COLOURED_WIDTH)
            for level, name in COLORED_LEVELS.items()
        }
        handler.__class__ = DeferredFlushStreamHandler
    return True


# --------------------------------------------------------------------------------------
# The direct path: the same line without a LogRecord, when nothing else could see one
# --------------------------------------------------------------------------------------

_FIELD = re.compile(r"%\((\w+)\)")
# Record attributes a direct line can fill in (the rest of a LogRecord is never built).
_DIRECT_FIELDS = frozenset({"asctime", "levelname", "levelno", "message", "name"})
# What ``Logger.makeRecord`` refuses to take from ``extra`` (it raises KeyError).
_RECORD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
# The stdlib functions a direct line stands for: if one was replaced (an error tracker
# capturing records, say), every record takes the ordinary path.
_LOGGER_METHODS = ("log", "_log", "makeRecord", "handle", "callHandlers", "filter")


_logger_methods = operator.attrgetter(*_LOGGER_METHODS)
_checked: list[Any] = [None]


def _stdlib_logging_untouched() -> bool:
    current = (logging.getLogRecordFactory(), _logger_methods(logging.Logger))
    if current == _checked[0]:
        return True
    untouched = current[0] is logging.LogRecord and all(
        getattr(f, "__module__", None) == "logging" for f in current[1]
    )
    if untouched:
        _checked[0] = current
    return untouched


if sys.version_info >= (3, 13):  # pragma: no cover - LogRecord uses time_ns from 3.13

    def _created_msecs() -> tuple[float, float]:
        """``created`` and ``msecs`` as ``LogRecord.__init__`` computes them."""
        ct = time.time_ns()
        return ct / 1e9, (ct % 1_000_000_000) // 1_000_000 + 0.0

else:

    def _created_msecs() -> tuple[float, float]:
        """``created`` and ``msecs`` as ``LogRecord.__init__`` computes them."""
        ct = time.time()
        return ct, int((ct - int(ct)) * 1000) + 0.0


def _direct_format(formatter: logging.Formatter) -> tuple[str, tuple[str, ...], bool] | None:
    """The %-format string of ``formatter``, the fields it uses that the log context must
    give (those a direct line does not fill in) and whether it uses ``asctime``, if a direct
    line can be built for it (cached on the formatter); else None."""
    cached = formatter.__dict__.get("_anystream_direct")
    style = formatter._style
    fmt = style._fmt
    if cached is not None and cached[0] == fmt:
        return cached[1]  # type: ignore[no-any-return]
    result: tuple[str, tuple[str, ...], bool] | None = None
    if type(style) is logging.PercentStyle and not getattr(style, "_defaults", None) and fmt:
        fields = frozenset(_FIELD.findall(fmt))
        result = fmt, tuple(sorted(fields - _DIRECT_FIELDS)), "asctime" in fields
    formatter.__dict__["_anystream_direct"] = (fmt, result)
    return result


def write_directly(logger: logging.Logger, level: int, msg: Any, extra: Any) -> bool:
    """Write the line ``logger.log(level, msg, extra=extra)`` would write, without building a
    ``LogRecord``, if ``logger`` is faststream's access logger as faststream set it up: one
    :class:`DeferredFlushStreamHandler` with a :class:`CachedTimeFormatter` whose format uses
    only the level, time, message, name and the message's log context; faststream's
    ``ExtendedFilter`` and no other filter; no propagation; the stdlib's own logging
    machinery. Returns False (nothing written) otherwise: then log as usual.
    """
    if not logger.isEnabledFor(level) or logger.propagate or logger.disabled:
        return False
    handlers = logger.handlers
    filters = logger.filters
    if len(handlers) != 1 or len(filters) != 1:
        return False
    handler = handlers[0]
    flt = filters[0]
    formatter = handler.formatter
    if (
        type(handler) is not DeferredFlushStreamHandler
        or handler.filters
        or level < handler.level
        or type(formatter) is not CachedTimeFormatter
        or type(flt) is not ExtendedFilter
        or flt.name
        or not isinstance(msg, str)
        or not _stdlib_logging_untouched()
    ):
        return False
    direct = _direct_format(formatter)
    if direct is None:
        return False
    fmt, needed, uses_asctime = direct
    # ExtendedFilter: the log context's defaults, then what the record has (extra).
    values = dict(flt.context.get_local("log_context", flt.default_context))
    if extra:
        values.update(extra)
    if not _RECORD_ATTRS.isdisjoint(values):
        return False  # makeRecord would raise (extra) or the record's own would win: let it
    message_id = values.get("message_id", "")
    if not isinstance(message_id, str):
        return False
    values["message_id"] = message_id[: flt.message_id_ln]
    for field in needed:
        if field not in values:
            return False
    levelname = logging.getLevelName(level)
    if formatter.use_colors:
        coloured = formatter._coloured.get(level)
        levelname = (
            coloured
            if coloured is not None
            else expand_log_field(field=levelname, symbols=_COLOURED_WIDTH)
        )
    values["levelname"] = levelname
    values["levelno"] = level
    values["name"] = logger.name
    values["message"] = msg
    if uses_asctime:
        datefmt = formatter.datefmt
        cached = formatter._second
        if datefmt or not formatter.default_msec_format or sys.version_info >= (3, 13):
            values["asctime"] = formatter.asctime(*_created_msecs(), datefmt)
        else:
            # formatter.asctime(created, msecs) for the second it has cached, inline:
            # "%s,%03d" % (text, msecs) with msecs as LogRecord computes it (truncated)
            created = time.time()
            second = int(created)
            if cached[0] == second:
                values["asctime"] = formatter.default_msec_format % (
                    cached[1],
                    (created - second) * 1000,
                )
            else:
                msecs = int((created - second) * 1000) + 0.0
                values["asctime"] = formatter.asctime(created, msecs, datefmt)
    with handler.lock:  # type: ignore[union-attr]
        try:
            handler.stream.write(fmt % values + handler.terminator)
        except Exception:
            # A line that cannot be formatted or written (a closed stream): the ordinary
            # path tries again and reports it as logging does (Handler.handleError).
            return False
        if level >= logging.WARNING:
            handler.flush()
        elif not handler._unflushed:
            handler._unflushed = True
            _flusher.add(handler)
    return True
