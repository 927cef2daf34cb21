"""`anystream run`'s decisions without processes: events in, actions out (`WorkerPool`).

The real processes, signals and sockets are tests/cli/test_run.py's; here every
scenario is a sequence of events and the actions the supervisor is told to carry out.
"""

from __future__ import annotations

from anystream.cli._pool import (
    MAX_BOOT_FAILURES,
    Action,
    Done,
    Fail,
    Kill,
    Spawn,
    Stop,
    WorkerPool,
)
from anystream.cli._worker import STARTUP_FAILED_CODE

KILL_AFTER = 65.0


def spawned(actions: list[Action]) -> list[int]:
    return [a.number for a in actions if isinstance(a, Spawn)]


def serving(size: int = 2) -> tuple[WorkerPool, list[int]]:
    """A pool whose first ``size`` workers started and reported ready at t=0."""
    pool = WorkerPool(size, kill_after=KILL_AFTER)
    numbers = spawned(pool.start(now=0.0))
    for number in numbers:
        pool.worker_started(number, pid=1000 + number)
        pool.worker_ready(number, now=0.0)
    return pool, numbers


def test_start_spawns_one_worker_per_slot_of_the_first_generation() -> None:
    pool = WorkerPool(3, kill_after=KILL_AFTER)
    assert pool.start(now=0.0) == [Spawn(1, 1), Spawn(2, 1), Spawn(3, 1)]
    assert [pool.state_of(n) for n in (1, 2, 3)] == ["booting"] * 3


def test_a_worker_that_dies_while_serving_is_replaced_at_once() -> None:
    pool, (first, second) = serving(2)
    actions = pool.worker_exited(first, exitcode=-9, now=10.0)
    assert actions == [Spawn(3, 1)]
    assert pool.workers() == [second, 3]


def test_workers_that_keep_dying_are_replaced_after_a_growing_delay() -> None:
    pool, (first, _) = serving(2)
    assert spawned(pool.worker_exited(first, exitcode=1, now=10.0)) == [3]
    pool.worker_ready(3, now=10.5)
    # A second death within a minute: the replacement waits 0.5 s.
    assert pool.worker_exited(3, exitcode=1, now=11.0) == []
    assert pool.next_deadline() == 11.5
    assert pool.timer(now=11.4) == []
    assert pool.timer(now=11.5) == [Spawn(4, 1)]
    pool.worker_ready(4, now=12.0)
    # A third: 1 s.
    assert pool.worker_exited(4, exitcode=1, now=12.0) == []
    assert pool.next_deadline() == 13.0


def test_sigterm_stops_every_worker_gracefully_and_the_run_ends_with_exit_zero() -> None:
    pool, numbers = serving(2)
    assert pool.stop_requested(now=5.0) == [Stop(n) for n in numbers]
    assert pool.next_deadline() == 5.0 + KILL_AFTER
    assert pool.worker_exited(numbers[0], exitcode=0, now=6.0) == []
    assert pool.worker_exited(numbers[1], exitcode=0, now=7.0) == [Done()]


def test_a_second_sigterm_changes_nothing() -> None:
    pool, _ = serving(2)
    pool.stop_requested(now=5.0)
    assert pool.stop_requested(now=6.0) == []
    assert pool.next_deadline() == 5.0 + KILL_AFTER


def test_a_worker_still_running_at_the_kill_deadline_is_killed_once() -> None:
    pool, (first, second) = serving(2)
    pool.stop_requested(now=5.0)
    pool.worker_exited(first, exitcode=0, now=6.0)
    assert pool.timer(now=5.0 + KILL_AFTER - 0.1) == []
    assert pool.timer(now=5.0 + KILL_AFTER) == [Kill(second)]
    assert pool.timer(now=5.0 + KILL_AFTER + 1) == []
    assert pool.worker_exited(second, exitcode=-9, now=5.0 + KILL_AFTER + 1) == [Done()]


def test_a_worker_still_starting_gets_a_short_deadline_to_stop() -> None:
    pool = WorkerPool(1, kill_after=KILL_AFTER)
    pool.start(now=0.0)
    assert pool.stop_requested(now=1.0) == [Stop(1)]
    assert pool.next_deadline() == 6.0
    assert pool.timer(now=6.0) == [Kill(1)]


def test_no_replacement_while_stopping() -> None:
    pool, (first, second) = serving(2)
    pool.stop_requested(now=5.0)
    assert pool.worker_exited(first, exitcode=-9, now=5.5) == []
    assert pool.workers() == [second]


def test_sighup_restarts_with_a_new_generation_then_stops_the_old_one() -> None:
    pool, old = serving(2)
    assert pool.reload_requested("SIGHUP", now=5.0) == [Spawn(3, 2), Spawn(4, 2)]
    # The old workers serve until every new one is ready.
    assert pool.worker_ready(3, now=6.0) == []
    assert pool.worker_ready(4, now=6.5) == [Stop(n) for n in old]
    assert [pool.state_of(n) for n in old] == ["stopping", "stopping"]
    assert pool.worker_exited(old[0], exitcode=0, now=7.0) == []
    assert pool.worker_exited(old[1], exitcode=0, now=7.0) == []
    assert pool.workers() == [3, 4]
    # The new generation is the one that is kept topped up.
    assert pool.worker_exited(3, exitcode=-9, now=20.0) == [Spawn(5, 2)]


def test_a_reload_whose_workers_fail_to_start_keeps_the_old_ones_serving() -> None:
    pool, old = serving(2)
    pool.reload_requested("SIGHUP", now=5.0)
    actions = pool.worker_failed(3, STARTUP_FAILED_CODE, "boom", now=6.0)
    assert actions == [Stop(3), Stop(4)]
    pool.worker_exited(3, exitcode=STARTUP_FAILED_CODE, now=6.5)
    assert pool.worker_exited(4, exitcode=0, now=6.5) == []
    assert [pool.state_of(n) for n in old] == ["ready", "ready"]
    # And a later reload can try again.
    assert spawned(pool.reload_requested("SIGHUP", now=10.0)) == [5, 6]


def test_a_reload_while_the_workers_are_still_starting_is_ignored() -> None:
    pool = WorkerPool(1, kill_after=KILL_AFTER)
    pool.start(now=0.0)
    assert pool.reload_requested("SIGHUP", now=0.5) == []
    assert pool.workers() == [1]


def test_a_worker_failing_its_first_start_up_fails_the_run_with_exit_3() -> None:
    pool = WorkerPool(2, kill_after=KILL_AFTER)
    pool.start(now=0.0)
    pool.worker_ready(1, now=1.0)
    reason = "the app's start-up failed: no broker"
    assert pool.worker_failed(2, STARTUP_FAILED_CODE, reason, now=1.5) == [Stop(2), Stop(1)]
    assert pool.worker_exited(2, exitcode=STARTUP_FAILED_CODE, now=2.0) == []
    assert pool.worker_exited(1, exitcode=0, now=2.5) == [Fail(3, reason)]


def test_a_worker_exiting_during_its_first_start_up_fails_the_run() -> None:
    pool = WorkerPool(1, kill_after=KILL_AFTER)
    pool.start(now=0.0)
    assert pool.worker_exited(1, exitcode=-11, now=1.0) == [
        Fail(1, "the worker exited during start-up (signal 11)")
    ]


def test_replacements_that_keep_failing_to_start_fail_the_run() -> None:
    pool, (first, second) = serving(2)
    now = 10.0
    pool.worker_exited(first, exitcode=-9, now=now)
    replacement = 3
    for attempt in range(1, MAX_BOOT_FAILURES + 1):
        actions = pool.worker_failed(replacement, STARTUP_FAILED_CODE, "boom", now=now)
        pool.worker_exited(replacement, exitcode=STARTUP_FAILED_CODE, now=now)
        if attempt < MAX_BOOT_FAILURES:
            assert actions == [Stop(replacement)]
            # Each retry waits longer: 0.5 s, 1 s, 2 s, 4 s.
            deadline = pool.next_deadline()
            assert deadline == now + 0.25 * 2**attempt
            now = deadline
            assert pool.timer(now=now) == [Spawn(replacement + 1, 1)]
            replacement += 1
    assert actions == [Stop(replacement), Stop(second)]
    assert pool.worker_exited(second, exitcode=0, now=now + 1) == [
        Fail(3, f"workers keep failing to start ({MAX_BOOT_FAILURES} times): boom")
    ]


def test_a_replacement_that_starts_resets_the_failure_count() -> None:
    pool, (first, _) = serving(2)
    pool.worker_exited(first, exitcode=-9, now=10.0)
    pool.worker_failed(3, STARTUP_FAILED_CODE, "flaky", now=10.0)
    pool.worker_exited(3, exitcode=STARTUP_FAILED_CODE, now=10.0)
    assert pool.timer(now=10.5) == [Spawn(4, 1)]
    pool.worker_ready(4, now=11.0)
    # A minute later, with a good start in between: replaced at once again.
    assert pool.worker_exited(4, exitcode=-9, now=100.0) == [Spawn(5, 1)]
