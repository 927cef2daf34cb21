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
import threading
import time
import weakref
from typing import Any

from faststream._internal.logger.formatter import (
    COLORED_LEVELS,
    ColourizedFormatter,
    expand_log_field,
)

__all__ = ("FLUSH_INTERVAL", "CachedTimeFormatter", "DeferredFlushStreamHandler", "upgrade")

#: Longest a line written by :class:`DeferredFlushStreamHandler` waits to be flushed.
FLUSH_INTERVAL = 0.05

# ColourizedFormatter pads the coloured name to this many characters.
_COLOURED_WIDTH = 17


class CachedTimeFormatter(ColourizedFormatter):
    """faststream's ``ColourizedFormatter``, with the timestamp text of the current second
    and the coloured level names built once. Output unchanged."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._second: int | None = None
        self._second_text = ""
        self._coloured = {
            level: expand_log_field(field=name, symbols=_COLOURED_WIDTH)
            for level, name in COLORED_LEVELS.items()
        }

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        # logging.Formatter.formatTime, computing strftime once per second (strftime
        # has no unit below the second; the milliseconds are added per record).
        second = int(record.created)
        if second != self._second or datefmt is not None:
            ct = self.converter(record.created)
            if datefmt:
                return time.strftime(datefmt, ct)
            self._second_text = time.strftime(self.default_time_format, ct)
            self._second = second
        if self.default_msec_format:
            return self.default_msec_format % (self._second_text, record.msecs)
        return self._second_text

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


_flusher = _Flusher()
atexit.register(_flusher.flush_all)


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
        formatter._second = None  # type: ignore[attr-defined]
        formatter._second_text = ""  # type: ignore[attr-defined]
        formatter._coloured = {  # type: ignore[attr-defined]
            level: expand_log_field(field=name, symbols=_COLOURED_WIDTH)
            for level, name in COLORED_LEVELS.items()
        }
        handler.__class__ = DeferredFlushStreamHandler
    return True
