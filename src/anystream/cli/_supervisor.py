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

The decisions are :class:`._pool.WorkerPool`'s (a state machine without I/O);
this module is the loop around it: processes, pipes, signals and the clock.
``--reload``'s file scanner is :mod:`._reload`. Workers are spawned processes
(``multiprocessing`` "spawn"), so each imports the app itself; sockets are opened
here once and inherited.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, wait
from multiprocessing.context import SpawnContext, SpawnProcess
from multiprocessing.synchronize import Event
from types import FrameType
from typing import Any

from hypercorn.config import Config, Sockets

from ._pool import Action, Done, Fail, Spawn, Stop, WorkerPool
from ._reload import ReloadScanner
from ._worker import WorkerSpec, worker_main

__all__ = ("Supervisor", "SupervisorResult")

log = logging.getLogger("anystream.run")

#: The loop wakes at least this often (a worker's exit is also noticed by polling).
_MAX_WAIT = 1.0


@dataclass
class SupervisorResult:
    """How the supervisor ended: exit ``code`` and, for a failure, the reason."""

    code: int
    error: str | None = None


@dataclass
class _Process:
    """A worker's process and what the supervisor holds of it."""

    process: SpawnProcess
    conn: Connection
    stop: Event


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
        self.pool = WorkerPool(workers, kill_after=kill_after)
        self.scanner = ReloadScanner(reload_dirs)
        self._ctx: SpawnContext = multiprocessing.get_context("spawn")
        self._processes: dict[int, _Process] = {}
        self._stop_requested = False
        self._reload_requested: str | None = None
        self._result: SupervisorResult | None = None

    # Signals

    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        self._stop_requested = True

    def _on_hup(self, signum: int, frame: FrameType | None) -> None:
        self._reload_requested = "SIGHUP"

    # Actions

    def _apply(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Spawn):
                self._spawn(action.number)
            elif isinstance(action, Fail):
                self._result = SupervisorResult(action.code, action.reason)
            elif isinstance(action, Done):
                self._result = SupervisorResult(0)
            elif (worker := self._processes.get(action.number)) is not None:
                # Stop or Kill (one that exited meanwhile needs neither).
                if isinstance(action, Stop):
                    worker.stop.set()
                else:
                    worker.process.kill()

    def _spawn(self, number: int) -> None:
        reader, writer = self._ctx.Pipe(duplex=False)
        stop = self._ctx.Event()
        process = self._ctx.Process(
            target=worker_main,
            args=(replace(self.spec, number=number), self.config, self.sockets, stop, writer,
                  os.getpid()),
            name=f"anystream-worker-{number}",
            daemon=False,
        )
        process.start()
        writer.close()
        self._processes[number] = _Process(process, reader, stop)
        self.pool.worker_started(number, process.pid)

    # Events

    def _on_message(self, number: int, message: tuple[Any, ...], now: float) -> None:
        if message[0] == "ready":
            self._apply(self.pool.worker_ready(number, now))
        elif message[0] == "failed":
            code, reason = int(message[1]), str(message[2])
            self._apply(self.pool.worker_failed(number, code, reason, now))

    def _on_exit(self, number: int, now: float) -> None:
        worker = self._processes[number]
        # What it said before it exited comes first.
        try:
            while worker.conn.poll():
                self._on_message(number, worker.conn.recv(), now)
        except (EOFError, OSError):
            pass
        worker.process.join()
        worker.conn.close()
        del self._processes[number]
        self._apply(self.pool.worker_exited(number, worker.process.exitcode, now))

    # Main loop

    def _timeout(self, now: float) -> float:
        deadlines = [self.pool.next_deadline(), self.scanner.next_scan]
        soonest = min((d for d in deadlines if d is not None), default=None)
        if soonest is None:
            return _MAX_WAIT
        return max(0.0, min(soonest - now, _MAX_WAIT))

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
            now = time.monotonic()
            self.scanner.start(now)
            self._apply(self.pool.start(now))
            return self._loop(wake_r)
        finally:
            for restored, old_handler in previous.items():
                signal.signal(restored, old_handler)
            signal.set_wakeup_fd(old_wakeup)
            wake_r.close()
            wake_w.close()

    def _loop(self, wake: socket.socket) -> SupervisorResult:
        while self._result is None:
            now = time.monotonic()
            if self._stop_requested and not self.pool.stopping:
                self._apply(self.pool.stop_requested(now))
            reason, self._reload_requested = self._reload_requested, None
            if reason:
                self._apply(self.pool.reload_requested(reason, now))
            if self._result is not None:
                break
            waitables: list[Any] = [wake]
            for worker in self._processes.values():
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
            for number, worker in list(self._processes.items()):
                if worker.conn in ready:
                    try:
                        message = worker.conn.recv()
                    except (EOFError, OSError):
                        worker.conn.close()
                    else:
                        self._on_message(number, message, now)
            for number, worker in list(self._processes.items()):
                if worker.process.sentinel in ready or not worker.process.is_alive():
                    self._on_exit(number, now)
            self._apply(self.pool.timer(now))
            reload_reason = self.scanner.check(now)
            if reload_reason:
                self._reload_requested = reload_reason
        return self._result
