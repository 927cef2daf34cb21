"""Try one app file under every ASGI server that installs here; print what works.

    python scripts/compat_servers.py [--json]

For each server: start it as a real process on a free loopback port with a real
nats-server, wait for ``/health`` 204, publish one message from outside and wait
for the reply (consumption), then SIGTERM and record the exit status. The app is
``examples/seed_ping.py`` (anystream's ``AsgiFastStream``, a NATS subscriber that
replies on ``seed_ping.out``). Servers missing from the environment are reported
as "not installed". Bounded: each server gets at most ~40 s.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

import nats
from anystream.testing import NatsServer, free_port

ROOT = Path(__file__).resolve().parents[1]
APP = "examples.seed_ping:app"


def commands(port: int) -> dict[str, tuple[str, list[str]]]:
    py = sys.executable
    return {
        "anystream run -k trio": (
            "anystream",
            [py, "-m", "anystream", "run", APP, "-k", "trio", "--port", str(port)],
        ),
        "anystream run -k asyncio": (
            "anystream",
            [py, "-m", "anystream", "run", APP, "--port", str(port)],
        ),
        "anystream run -k uvloop": (
            "uvloop",
            [py, "-m", "anystream", "run", APP, "-k", "uvloop", "--port", str(port)],
        ),
        "hypercorn -k trio": (
            "hypercorn",
            [py, "-m", "hypercorn", "-k", "trio", "-b", f"127.0.0.1:{port}", APP],
        ),
        "hypercorn (asyncio)": (
            "hypercorn",
            [py, "-m", "hypercorn", "-b", f"127.0.0.1:{port}", APP],
        ),
        "uvicorn": ("uvicorn", [py, "-m", "uvicorn", APP, "--port", str(port)]),
        "gunicorn -k uvicorn_worker.UvicornWorker": (
            "uvicorn_worker",
            [
                py,
                "-m",
                "gunicorn",
                "-k",
                "uvicorn_worker.UvicornWorker",
                "-b",
                f"127.0.0.1:{port}",
                APP,
            ],
        ),
        "granian --interface asgi": (
            "granian",
            [
                py,
                "-m",
                "granian",
                "--interface",
                "asgi",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                APP,
            ],
        ),
    }


async def _round_trip(url: str) -> bool:
    nc = await nats.connect(url)
    try:
        sub = await nc.subscribe("seed_ping.out")
        await nc.publish("seed_ping.in", b"hello")
        try:
            await sub.next_msg(timeout=5)
            return True
        except nats.errors.TimeoutError:
            return False
    finally:
        await nc.close()


def try_server(
    name: str, module: str, cmd: list[str], nats_url: str, port: int
) -> dict[str, object]:
    if importlib.util.find_spec(module) is None:
        return {"server": name, "installed": False}
    row: dict[str, object] = {"server": name, "installed": True}
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env={**os.environ, "NATS_URL": nats_url},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 25
            status = None
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    status = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code
                    if status == 204:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
            row["health"] = status
            row["consumes"] = status == 204 and asyncio.run(_round_trip(nats_url))
            proc.send_signal(signal.SIGTERM)
            try:
                row["sigterm_exit"] = proc.wait(20)
            except subprocess.TimeoutExpired:
                row["sigterm_exit"] = "hung"
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            log.seek(0)
            output = log.read().decode(errors="replace")
        row["clean_shutdown"] = "shut down gracefully" in output and "shutdown failed" not in output
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    rows = []
    with NatsServer() as server:
        for name in commands(0):
            port = free_port()
            module, cmd = commands(port)[name]
            rows.append(try_server(name, module, cmd, server.url, port))
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(f"{'server':<42} {'/health':>7} {'consumes':>8} {'SIGTERM exit':>12} {'clean stop':>10}")
    for row in rows:
        if not row["installed"]:
            print(f"{row['server']:<42} not installed")
            continue
        print(
            f"{row['server']:<42} {row['health']!s:>7} {row['consumes']!s:>8}"
            f" {row['sigterm_exit']!s:>12} {row['clean_shutdown']!s:>10}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
