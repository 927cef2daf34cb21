"""The ``anystream run`` worker pool as a state machine: events in, actions out.

:class:`WorkerPool` does no I/O. The supervisor's loop (``_supervisor.py``) tells
it what happened (a worker started, reported ready or failed, exited; a signal
asked to stop or reload; time passed) and carries out what it answers:

- :class:`Spawn`: start worker ``number`` of ``generation``;
- :class:`Stop`: ask worker ``number`` to stop gracefully;
- :class:`Kill`: the worker did not stop by its deadline, kill it;
- :class:`Fail` or :class:`Done`: every worker is gone, the command ends (with an
  error, or exit code 0).

Every call takes ``now`` (``time.monotonic()``); :meth:`WorkerPool.next_deadline`
says when :meth:`WorkerPool.timer` wants to be called again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ._worker import STARTUP_FAILED_CODE

__all__ = (
    "MAX_BOOT_FAILURES",
    "Action",
    "Done",
    "Fail",
    "Kill",
    "Spawn",
    "Stop",
    "WorkerPool",
)

log = logging.getLogger("anystream.run")

#: A replacement worker failing to start this many times in a row stops the command.
MAX_BOOT_FAILURES = 5
#: A worker still starting has no requests to finish: it gets at most this long to stop.
BOOTING_KILL_AFTER = 5.0
#: Deaths within this many seconds make the next replacement wait longer.
DEATH_WINDOW = 60.0


@dataclass(frozen=True)
class Spawn:
    number: int
    generation: int


@dataclass(frozen=True)
class Stop:
    number: int


@dataclass(frozen=True)
class Kill:
    number: int


@dataclass(frozen=True)
class Fail:
    """The command ends with exit ``code`` and ``reason``."""

    code: int
    reason: str


@dataclass(frozen=True)
class Done:
    """The command ends with exit code 0."""


Action = Spawn | Stop | Kill | Fail | Done


@dataclass
class _Worker:
    number: int
    generation: int
    pid: int | None = None
    state: str = "booting"  # booting -> ready -> stopping
    failure: tuple[int, str] | None = None
    kill_at: float | None = None

    @property
    def name(self) -> str:
        return f"worker {self.number} (pid {self.pid})"


class WorkerPool:
    """Keeps ``size`` workers serving, replaces, reloads and stops them (no I/O)."""

    def __init__(self, size: int, *, kill_after: float) -> None:
        self.size = size
        self.kill_after = kill_after
        self._workers: dict[int, _Worker] = {}
        self._numbers = 0
        self._serving_gen = 1
        self._latest_gen = 1
        self._gen_counter = 1
        self._started = False  # the first generation was ready once
        self._stopping = False
        self._ended = False
        self._failure: Fail | None = None
        self._boot_failures = 0
        self._deaths: list[float] = []
        self._respawn_at: float | None = None
        self._actions: list[Action] = []

    # Events

    def start(self, now: float) -> list[Action]:
        """The command starts: the first generation of workers."""
        for _ in range(self.size):
            self._spawn(self._serving_gen)
        return self._settle(now)

    def worker_started(self, number: int, pid: int | None) -> None:
        """Worker ``number`` is a process now (its ``pid`` names it in the log)."""
        worker = self._workers.get(number)
        if worker is not None:
            worker.pid = pid
            log.debug("%s starting", worker.name)

    def worker_ready(self, number: int, now: float) -> list[Action]:
        """Worker ``number`` completed its app's lifespan start-up."""
        worker = self._workers.get(number)
        if worker is not None and worker.state == "booting":
            worker.state = "ready"
            log.info("%s ready", worker.name)
            self._on_ready(worker, now)
        return self._settle(now)

    def worker_failed(self, number: int, code: int, reason: str, now: float) -> list[Action]:
        """Worker ``number`` reports that its app failed (to load, to start, or crashed)."""
        worker = self._workers.get(number)
        if worker is not None:
            worker.failure = (code, reason)
            if worker.state == "booting":
                self._on_boot_failure(worker, code, reason, now)
            elif worker.state == "ready":
                log.error("%s crashed: %s", worker.name, reason)
        return self._settle(now)

    def worker_exited(self, number: int, exitcode: int | None, now: float) -> list[Action]:
        """Worker ``number``'s process ended (``exitcode`` negative: killed by a signal)."""
        worker = self._workers.pop(number, None)
        if worker is None:
            return self._settle(now)
        how = (
            f"exit code {exitcode}"
            if exitcode is not None and exitcode >= 0
            else f"signal {-(exitcode or 0)}"
        )
        if worker.state == "stopping":
            log.debug("%s stopped (%s)", worker.name, how)
            if exitcode not in (0, None) and worker.failure is None:
                log.warning("%s stopped with %s", worker.name, how)
        elif worker.state == "booting":
            reason = f"the worker exited during start-up ({how})"
            code = exitcode if exitcode and exitcode > 0 else 1
            self._on_boot_failure(worker, code, reason, now)
        else:
            log.warning("%s died (%s); starting a new one", worker.name, how)
            self._deaths = [t for t in self._deaths if now - t < DEATH_WINDOW] + [now]
        return self._settle(now)

    def stop_requested(self, now: float) -> list[Action]:
        """SIGTERM or SIGINT: every worker stops gracefully."""
        self._begin_stop(now)
        return self._settle(now)

    def reload_requested(self, reason: str, now: float) -> list[Action]:
        """SIGHUP or a changed file: a rolling restart, unless one cannot start now."""
        if self._stopping or not self._started or self._latest_gen != self._serving_gen:
            log.warning("reload (%s) ignored: the workers are starting or stopping", reason)
        else:
            log.info("reloading (%s): starting %d new workers", reason, self.size)
            self._gen_counter += 1
            self._latest_gen = self._gen_counter
            for _ in range(self.size):
                self._spawn(self._latest_gen)
        return self._settle(now)

    def timer(self, now: float) -> list[Action]:
        """Time passed: replacements that were waiting, kills that are due."""
        return self._settle(now)

    def next_deadline(self) -> float | None:
        """When :meth:`timer` has something to do next (None: nothing pending)."""
        deadlines = [w.kill_at for w in self._workers.values() if w.kill_at is not None]
        if self._respawn_at is not None:
            deadlines.append(self._respawn_at)
        return min(deadlines, default=None)

    # State

    @property
    def stopping(self) -> bool:
        return self._stopping

    def workers(self, generation: int | None = None) -> list[int]:
        """The numbers of the workers alive, of one ``generation`` or all."""
        return [
            n for n, w in self._workers.items() if generation is None or w.generation == generation
        ]

    def state_of(self, number: int) -> str | None:
        """``booting``, ``ready`` or ``stopping``; None once the worker exited."""
        worker = self._workers.get(number)
        return None if worker is None else worker.state

    # Decisions

    def _spawn(self, generation: int) -> None:
        self._numbers += 1
        self._workers[self._numbers] = _Worker(self._numbers, generation)
        self._actions.append(Spawn(self._numbers, generation))

    def _stop_worker(self, worker: _Worker, now: float) -> None:
        if worker.state == "stopping":
            return
        booting = worker.state == "booting"
        worker.state = "stopping"
        if worker.number in self._workers:  # not one that already exited
            worker.kill_at = now + (
                min(self.kill_after, BOOTING_KILL_AFTER) if booting else self.kill_after
            )
            self._actions.append(Stop(worker.number))

    def _generation(self, generation: int) -> list[_Worker]:
        return [
            w
            for w in self._workers.values()
            if w.generation == generation and w.state != "stopping"
        ]

    def _on_ready(self, worker: _Worker, now: float) -> None:
        generation = self._generation(worker.generation)
        if worker.generation == self._serving_gen:
            self._boot_failures = 0
        if not all(w.state == "ready" for w in generation) or len(generation) < self.size:
            return
        if not self._started and worker.generation == self._serving_gen:
            self._started = True
            log.info("%d worker%s ready", self.size, "s" if self.size > 1 else "")
        elif worker.generation == self._latest_gen != self._serving_gen:
            old = [w for w in self._workers.values() if w.generation != self._latest_gen]
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
                    code,
                    f"workers keep failing to start ({self._boot_failures} times): {reason}",
                    now,
                )
            else:
                log.error("%s failed to start: %s", worker.name, reason)

    def _fail(self, code: int, reason: str, now: float) -> None:
        if self._failure is None:
            self._failure = Fail(code or STARTUP_FAILED_CODE, reason)
        self._begin_stop(now)

    def _begin_stop(self, now: float) -> None:
        if not self._stopping:
            self._stopping = True
            if self._failure is None:
                log.info("stopping %d worker(s) gracefully", len(self._workers))
        self._respawn_at = None
        for worker in list(self._workers.values()):
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

    def _kill_overdue(self, now: float) -> None:
        for worker in self._workers.values():
            if worker.kill_at is not None and now >= worker.kill_at:
                log.warning(
                    "%s did not stop within %.0fs; killing it", worker.name, self.kill_after
                )
                worker.kill_at = None
                self._actions.append(Kill(worker.number))

    def _settle(self, now: float) -> list[Action]:
        """After every event: kills due, replacements, and the end once all are gone."""
        if not self._ended:
            self._kill_overdue(now)
            self._top_up(now)
            if self._stopping and not self._workers:
                self._ended = True
                self._actions.append(self._failure or Done())
        actions, self._actions = self._actions, []
        return actions
