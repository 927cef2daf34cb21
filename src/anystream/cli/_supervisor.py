"""The ``anystream run`` supervisor: keeps N worker processes serving the same sockets.

hypercorn's own multi-worker loop (``hypercorn.run.run``) stops everything when
one worker exits non-zero and cannot tell a start-up failure from a crash; this one:

- starts the workers and waits until each reports its lifespan start-up done;
  a worker that cannot load the app or start it stops the command at once, with
  the worker's reason and exit code (2: the app cannot be loaded, 3: start-up failed);
- replaces a worker that dies while serving (with a growing delay if they keep
  dying; a replacement that fails to start 5 times in a row stops the command);
- SIGTERM/SIGINT: every worker stops gracefully (stops accepting, open requests
  and in-flight handlers finish), the command exits 0; a worker still running
  after the kill deadline is killed;
- SIGHUP (and ``--reload`` on a file change): a rolling restart. A new set of
  workers imports the app afresh; once all of them are ready the old ones stop
  gracefully. If the new ones fail to start, the old ones keep serving.

Workers are spawned processes (``multiprocessing`` "spawn"), so each imports the
app itself; sockets are opened here once and inherited.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.context import SpawnContext, SpawnProcess
from multiprocessing.synchronize import Event
from pathlib import Path
from types import FrameType
from typing import Any

from hypercorn.config import Config, Sockets

from ._worker import STARTUP_FAILED_CODE, WorkerSpec, worker_main

__all__ = ("MAX_BOOT_FAILURES", "Supervisor", "SupervisorResult")

log = logging.getLogger("anystream.run")

#: A replacement worker failing to start this many times in a row stops the command.
MAX_BOOT_FAILURES = 5
#: How often ``--reload`` looks at the files.
RELOAD_POLL = 1.0
#: ``--reload`` stops watching more files than this.
RELOAD_MAX_FILES = 20_000
_SKIP_DIRS = {"__pycache__", "node_modules", "venv", ".venv", "site-packages", ".git", ".tox"}


@dataclass
class SupervisorResult:
    """How the supervisor ended: exit ``code`` and, for a failure, the reason."""

    code: int
    error: str | None = None


@dataclass
class _Worker:
    number: int
    generation: int
    process: SpawnProcess
    conn: Connection
    stop: Event
    state: str = "booting"  # booting -> ready -> stopping
    failure: tuple[int, str] | None = None
    ready_at: float = 0.0
    kill_at: float | None = None

    @property
    def name(self) -> str:
        return f"worker {self.number} (pid {self.process.pid})"


class Supervisor:
    """Runs and watches the workers; :meth:`run` blocks until the command ends."""

    def __init__(
        self,
        spec: WorkerSpec,
        config: Config,
        sockets: Sockets,
        *,
        workers: int,
        kill_after: float,
        reload_dirs: Iterable[str] = (),
    ) -> None:
        self.spec = spec
        self.config = config
        self.sockets = sockets
        self.size = workers
        self.kill_after = kill_after
        self.reload_dirs = [Path(d).resolve() for d in reload_dirs]
        self._ctx: SpawnContext = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []
        self._numbers = 0
        self._serving_gen = 1
        self._latest_gen = 1
        self._gen_counter = 1
        self._started = False  # the first generation was ready once
        self._stopping = False
        self._stop_requested = False
        self._reload_requested: str | None = None
        self._result = SupervisorResult(0)
        self._boot_failures = 0
        self._deaths: list[float] = []
        self._respawn_at: float | None = None
        self._files: dict[Path, float] = {}
        self._next_scan = 0.0

    # Signals

    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        self._stop_requested = True

    def _on_hup(self, signum: int, frame: FrameType | None) -> None:
        self._reload_requested = "SIGHUP"

    # Workers

    def _spawn(self, generation: int) -> _Worker:
        self._numbers += 1
        number = self._numbers
        reader, writer = self._ctx.Pipe(duplex=False)
        stop = self._ctx.Event()
        spec = WorkerSpec(**{**self.spec.__dict__, "number": number})
        process = self._ctx.Process(
            target=worker_main,
            args=(spec, self.config, self.sockets, stop, writer, os.getpid()),
            name=f"anystream-worker-{number}",
            daemon=False,
        )
        process.start()
        writer.close()
        worker = _Worker(number, generation, process, reader, stop)
        self._workers.append(worker)
        log.debug("%s starting", worker.name)
        return worker

    def _stop_worker(self, worker: _Worker, now: float) -> None:
        if worker.state == "stopping":
            return
        # A worker still starting has no requests to finish: it gets a short deadline.
        booting = worker.state == "booting"
        worker.state = "stopping"
        worker.stop.set()
        worker.kill_at = now + (min(self.kill_after, 5.0) if booting else self.kill_after)

    def _generation(self, generation: int) -> list[_Worker]:
        return [w for w in self._workers if w.generation == generation and w.state != "stopping"]

    # Events

    def _on_message(self, worker: _Worker, message: tuple[Any, ...], now: float) -> None:
        kind = message[0]
        if kind == "ready":
            if worker.state == "booting":
                worker.state = "ready"
                worker.ready_at = now
                log.info("%s ready", worker.name)
                self._on_worker_ready(worker, now)
        elif kind == "failed":
            code, reason = int(message[1]), str(message[2])
            worker.failure = (code, reason)
            if worker.state == "booting":
                self._on_boot_failure(worker, code, reason, now)
            elif worker.state == "ready":
                log.error("%s crashed: %s", worker.name, reason)

    def _on_worker_ready(self, worker: _Worker, now: float) -> None:
        generation = self._generation(worker.generation)
        if worker.generation == self._serving_gen:
            self._boot_failures = 0
        if not all(w.state == "ready" for w in generation) or len(generation) < self.size:
            return
        if not self._started and worker.generation == self._serving_gen:
            self._started = True
            log.info("%d worker%s ready", self.size, "s" if self.size > 1 else "")
        elif worker.generation == self._latest_gen != self._serving_gen:
            old = [w for w in self._workers if w.generation != self._latest_gen]
            self._serving_gen = self._latest_gen
            for stale in old:
                self._stop_worker(stale, now)
            log.info("reloaded: %d new workers ready, the old ones stop", self.size)

    def _on_boot_failure(self, worker: _Worker, code: int, reason: str, now: float) -> None:
        self._stop_worker(worker, now)
        if not self._started:
            self._fail(code, reason, now)
        elif worker.generation != self._serving_gen:
            log.error("reload failed, the running workers stay: %s", reason)
            for new in self._generation(worker.generation):
                self._stop_worker(new, now)
            self._latest_gen = self._serving_gen
        else:
            self._boot_failures += 1
            if self._boot_failures >= MAX_BOOT_FAILURES:
                self._fail(
                    code, f"workers keep failing to start ({self._boot_failures} times): {reason}",
                    now,
                )
            else:
                log.error("%s failed to start: %s", worker.name, reason)

    def _on_exit(self, worker: _Worker, now: float) -> None:
        self._drain(worker, now)
        self._workers.remove(worker)
        worker.process.join()
        worker.conn.close()
        code = worker.process.exitcode
        how = f"exit code {code}" if code is not None and code >= 0 else f"signal {-(code or 0)}"
        if worker.state == "stopping":
            log.debug("%s stopped (%s)", worker.name, how)
            if code not in (0, None) and worker.failure is None:
                log.warning("%s stopped with %s", worker.name, how)
            return
        if worker.state == "booting":
            reason = f"the worker exited during start-up ({how})"
            self._on_boot_failure(worker, code if code and code > 0 else 1, reason, now)
            return
        log.warning("%s died (%s); starting a new one", worker.name, how)
        self._deaths = [t for t in self._deaths if now - t < 60] + [now]

    def _drain(self, worker: _Worker, now: float) -> None:
        try:
            while worker.conn.poll():
                self._on_message(worker, worker.conn.recv(), now)
        except (EOFError, OSError):
            pass

    def _fail(self, code: int, reason: str, now: float) -> None:
        if self._result.error is None:
            self._result = SupervisorResult(code or STARTUP_FAILED_CODE, reason)
        self._begin_stop(now)

    def _begin_stop(self, now: float) -> None:
        if not self._stopping:
            self._stopping = True
            if self._result.error is None:
                log.info("stopping %d worker(s) gracefully", len(self._workers))
        self._respawn_at = None
        for worker in self._workers:
            self._stop_worker(worker, now)

    def _top_up(self, now: float) -> None:
        """Keep ``size`` workers in the serving generation (replaces dead ones)."""
        if self._stopping or not self._started or self._latest_gen != self._serving_gen:
            return
        missing = self.size - len(self._generation(self._serving_gen))
        if missing <= 0:
            self._respawn_at = None
            return
        if self._respawn_at is None:
            failures = self._boot_failures + max(0, len(self._deaths) - 1)
            self._respawn_at = now + (min(0.25 * 2**failures, 10.0) if failures else 0.0)
        if now >= self._respawn_at:
            self._respawn_at = None
            for _ in range(missing):
                self._spawn(self._serving_gen)

    def _begin_reload(self, reason: str, now: float) -> None:
        if self._stopping or not self._started or self._latest_gen != self._serving_gen:
            log.warning("reload (%s) ignored: the workers are starting or stopping", reason)
            return
        log.info("reloading (%s): starting %d new workers", reason, self.size)
        self._gen_counter += 1
        self._latest_gen = self._gen_counter
        for _ in range(self.size):
            self._spawn(self._latest_gen)

    # --reload

    def _scan(self) -> dict[Path, float]:
        found: dict[Path, float] = {}
        for root in self.reload_dirs:
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

    def _check_files(self, now: float) -> None:
        if not self.reload_dirs or now < self._next_scan:
            return
        self._next_scan = now + RELOAD_POLL
        files = self._scan()
        changed = sorted(
            str(p.name) for p in files.keys() ^ self._files.keys() | {
                p for p in files.keys() & self._files.keys() if files[p] != self._files[p]
            }
        )
        first = not self._files
        self._files = files
        if changed and not first:
            self._reload_requested = "changed: " + ", ".join(changed[:3])

    # Main loop

    def _timeout(self, now: float) -> float:
        deadlines = [w.kill_at for w in self._workers if w.kill_at is not None]
        if self._respawn_at is not None:
            deadlines.append(self._respawn_at)
        if self.reload_dirs:
            deadlines.append(self._next_scan)
        if not deadlines:
            return 1.0
        return max(0.0, min(min(deadlines) - now, 1.0))

    def run(self) -> SupervisorResult:
        wake_r, wake_w = socket.socketpair()
        wake_r.setblocking(False)
        wake_w.setblocking(False)
        previous: dict[int, Any] = {}
        old_wakeup = signal.set_wakeup_fd(wake_w.fileno(), warn_on_full_buffer=False)
        try:
            for signum, handler in (
                (signal.SIGINT, self._on_stop),
                (signal.SIGTERM, self._on_stop),
                (signal.SIGHUP, self._on_hup),
            ):
                previous[signum] = signal.signal(signum, handler)
            self._files = self._scan() if self.reload_dirs else {}
            self._next_scan = time.monotonic() + RELOAD_POLL
            for _ in range(self.size):
                self._spawn(self._serving_gen)
            self._loop(wake_r)
        finally:
            for restored, old_handler in previous.items():
                signal.signal(restored, old_handler)
            signal.set_wakeup_fd(old_wakeup)
            wake_r.close()
            wake_w.close()
        return self._result

    def _loop(self, wake: socket.socket) -> None:
        while True:
            now = time.monotonic()
            if self._stop_requested and not self._stopping:
                self._begin_stop(now)
            if self._stopping and not self._workers:
                return
            reason, self._reload_requested = self._reload_requested, None
            if reason:
                self._begin_reload(reason, now)
            self._top_up(now)
            waitables: list[Any] = [wake]
            for worker in self._workers:
                waitables.append(worker.process.sentinel)
                if not worker.conn.closed:
                    waitables.append(worker.conn)
            ready = wait(waitables, timeout=self._timeout(now))
            now = time.monotonic()
            if wake in ready:
                try:
                    while wake.recv(512):
                        pass
                except (BlockingIOError, InterruptedError):
                    pass
            for worker in list(self._workers):
                if worker.conn in ready:
                    try:
                        message = worker.conn.recv()
                    except (EOFError, OSError):
                        worker.conn.close()
                    else:
                        self._on_message(worker, message, now)
            for worker in list(self._workers):
                if worker.process.sentinel in ready or not worker.process.is_alive():
                    self._on_exit(worker, now)
            for worker in self._workers:
                if worker.kill_at is not None and now >= worker.kill_at:
                    log.warning(
                        "%s did not stop within %.0fs; killing it", worker.name, self.kill_after
                    )
                    worker.process.kill()
                    worker.kill_at = None
            self._check_files(now)
