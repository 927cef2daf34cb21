"""The driver's process plumbing: the server under test, the helpers, ``/proc`` and probes.

Nothing here knows about phases; :mod:`.driver` orchestrates them.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx

from ..testing import free_port

__all__ = (
    "Helper",
    "app_stats",
    "cpu_seconds",
    "helper",
    "read_json",
    "serving",
    "slow_consumers",
    "tree_cpu_ticks",
)

#: How long the server under test may take to answer ``/hello`` after it starts.
SERVER_START_TIMEOUT = 30.0


def tree_cpu_ticks(pid: int) -> int:
    """utime + stime of ``pid`` and all its descendants, in clock ticks."""
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        ticks[int(entry)] = int(fields[11]) + int(fields[12])
    members, frontier = {pid}, [pid]
    while frontier:
        current = frontier.pop()
        for child, parent in parents.items():
            if parent == current and child not in members:
                members.add(child)
                frontier.append(child)
    return sum(ticks.get(p, 0) for p in members)


def cpu_seconds(ticks: int) -> float:
    """Clock ticks (as from :func:`tree_cpu_ticks`) in seconds."""
    return ticks / os.sysconf("SC_CLK_TCK")


@contextmanager
def serving(
    name: str, command: Callable[[int], list[str]], nats_url: str, log: Path
) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """Run ``command(port)`` on a free port until it answers ``/hello``; stop it after."""
    port = free_port()
    env = {**os.environ, "NATS_URL": nats_url}
    with open(log, "ab") as out:
        proc = subprocess.Popen(command(port), env=env, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}; see {log}")
            try:
                httpx.get(f"http://127.0.0.1:{port}/hello", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{name} did not answer within {SERVER_START_TIMEOUT:g} s"
                    ) from None
                time.sleep(0.1)
        yield port, proc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def app_stats(port: int) -> dict[str, Any]:
    """The app's ``/stats``: ``consumed`` (and ``client_dropped`` for anystream's app)."""
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/stats", timeout=5)
        data = response.json()
        return data if isinstance(data, dict) and "consumed" in data else {}
    except (httpx.HTTPError, ValueError):
        return {}


def slow_consumers(monitor_port: int | None) -> int | None:
    """nats-server's count of slow-consumer events so far (embedded server only)."""
    if monitor_port is None:
        return None
    try:
        response = httpx.get(f"http://127.0.0.1:{monitor_port}/varz", timeout=5)
        return int(response.json()["slow_consumers"])
    except (httpx.HTTPError, ValueError, KeyError):
        return None


def read_json(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; empty if there is none."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class Helper:
    """A long-lived helper process (load generator or publisher), see :mod:`.helper`."""

    def __init__(self, name: str, command: list[str], log: Path) -> None:
        self.name = name
        with open(log, "ab") as err:
            # Unbuffered: select() must see every line the helper writes.
            self.proc = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, bufsize=0
            )

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(f"{line}\n".encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise RuntimeError(f"the {self.name} exited ({self.proc.poll()})") from None

    def expect(self, word: str, timeout: float) -> None:
        """Wait for ``word`` on the helper's stdout (a line) for up to ``timeout`` s."""
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline().strip().decode() if ready else None
        if line != word:
            if line is None:
                raise RuntimeError(f"the {self.name} did not answer within {timeout:g} s")
            raise RuntimeError(f"the {self.name} exited ({self.proc.poll()}); see its log")

    def answered(self, timeout: float) -> bool:
        """Whether a line is waiting on stdout within ``timeout`` s."""
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        return bool(ready)

    def close(self) -> None:
        if self.proc.stdin is not None:
            with suppress(BrokenPipeError):
                self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@contextmanager
def helper(name: str, command: list[str], log: Path) -> Iterator[Helper]:
    """A :class:`Helper` for the duration of the block."""
    started = Helper(name, command, log)
    try:
        yield started
    finally:
        started.close()
