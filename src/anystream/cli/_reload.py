"""``anystream run --reload``: notice when a ``.py`` file under the watched folders changes.

Polls modification times (no platform watcher to install); the supervisor asks
:meth:`ReloadScanner.check` at :attr:`ReloadScanner.next_scan`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

__all__ = ("RELOAD_MAX_FILES", "RELOAD_POLL", "ReloadScanner")

#: How often ``--reload`` looks at the files.
RELOAD_POLL = 1.0
#: ``--reload`` stops watching more files than this.
RELOAD_MAX_FILES = 20_000
_SKIP_DIRS = {"__pycache__", "node_modules", "venv", ".venv", "site-packages", ".git", ".tox"}


class ReloadScanner:
    """The ``.py`` files under ``dirs`` and their modification times, compared scan to scan."""

    def __init__(self, dirs: Iterable[str | Path], *, poll: float = RELOAD_POLL) -> None:
        self.dirs = [Path(d).resolve() for d in dirs]
        self.poll = poll
        self._files: dict[Path, float] = {}
        #: When :meth:`check` next looks (``time.monotonic()``); None: nothing watched.
        self.next_scan: float | None = None

    def start(self, now: float) -> None:
        """The first look: what is there now is the baseline."""
        if self.dirs:
            self._files = self.scan()
            self.next_scan = now + self.poll

    def check(self, now: float) -> str | None:
        """Once :attr:`next_scan` is due: why to reload (the files that changed), or None."""
        if self.next_scan is None or now < self.next_scan:
            return None
        self.next_scan = now + self.poll
        files = self.scan()
        changed = sorted(
            str(p.name) for p in files.keys() ^ self._files.keys() | {
                p for p in files.keys() & self._files.keys() if files[p] != self._files[p]
            }
        )
        first = not self._files
        self._files = files
        if changed and not first:
            return "changed: " + ", ".join(changed[:3])
        return None

    def scan(self) -> dict[Path, float]:
        """Every watched ``.py`` file's modification time (at most ``RELOAD_MAX_FILES``)."""
        found: dict[Path, float] = {}
        for root in self.dirs:
            for directory, dirs, files in os.walk(root):
                dirs[:] = [d for d in dirs if d not in _SKIP_DIRS and not d.startswith(".")]
                for name in files:
                    if name.endswith(".py"):
                        path = Path(directory, name)
                        try:
                            found[path] = path.stat().st_mtime
                        except OSError:
                            continue
                        if len(found) >= RELOAD_MAX_FILES:
                            return found
        return found
