"""`anystream run`: real worker processes, binds, signals and readable mistakes."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import httpx
import pytest

from anystream.testing import NatsServer, free_port
from tests.e2e.servers import watch

from .running import Run

pytestmark = pytest.mark.e2e

APP = "tests.cli.apps.work_app:app"


@pytest.mark.parametrize("worker_class", ["trio", "asyncio"])
def test_two_workers_answer_and_split_a_queue_group_without_loss_or_duplicates(
    run, nats_server: NatsServer, worker_class: str
) -> None:
    port = free_port()
    server = run(APP, "--workers", "2", "--worker-class", worker_class, "--port", str(port))
    server.wait_ready(f"http://127.0.0.1:{port}/health")
    with watch(nats_server.url, ("cli.done",)) as outside:
        # Both workers join the queue group once both are consuming.
        time.sleep(1.0)
        for i in range(60):
            outside.publish("cli.work", f"m{i}")
        replies = [outside.next("cli.done", timeout=10) for _ in range(60)]
        extra = outside.next("cli.done", timeout=0.5)
    assert None not in replies, server.output
    assert extra is None  # nothing handled twice
    bodies = sorted(r.split(":", 1)[1] for r in replies if r)
    assert bodies == sorted(f"m{i}" for i in range(60))  # none lost
    assert len({r.split(":", 1)[0] for r in replies if r}) == 2  # split between the workers
    pids = {httpx.get(f"http://127.0.0.1:{port}/pid").text for _ in range(40)}
    assert server.terminate() == 0, server.output
    assert pids  # both answer HTTP on the shared socket (the kernel picks one per connection)


def test_a_tcp_and_a_unix_socket_bind_both_answer(run, tmp_path: Path) -> None:
    port = free_port()
    sock_path = tmp_path / "x.sock"
    server = run(APP, "--bind", f"127.0.0.1:{port}", "--bind", f"unix:{sock_path}")
    server.wait_ready(f"http://127.0.0.1:{port}/health")
    uds = httpx.HTTPTransport(uds=str(sock_path))
    server.wait_ready("http://localhost/health", transport=uds)
    assert server.terminate() == 0, server.output


def test_an_inherited_file_descriptor_bind_answers(run) -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    fd = listener.fileno()
    try:
        server = run(APP, "--bind", f"fd://{fd}", pass_fds=(fd,))
        server.wait_ready(f"http://127.0.0.1:{port}/health")
        assert server.terminate() == 0, server.output
    finally:
        listener.close()


def test_sigterm_lets_the_running_handler_finish_and_exits_zero(
    run, nats_server: NatsServer
) -> None:
    port = free_port()
    server = run(APP, "--worker-class", "trio", "--port", str(port), "--graceful-timeout", "10")
    server.wait_ready(f"http://127.0.0.1:{port}/health")
    with watch(nats_server.url, ("cli.slow.done",)) as outside:
        outside.publish("cli.slow", "job-1")
        time.sleep(0.3)  # the handler is sleeping now
        assert server.terminate() == 0, server.output
        assert outside.next("cli.slow.done", timeout=5) == "finished:job-1"


def test_extra_options_reach_the_startup_hooks(run) -> None:
    port = free_port()
    server = run(APP, "--port", str(port), "--env", "prod")
    server.wait_ready(f"http://127.0.0.1:{port}/health")
    assert httpx.get(f"http://127.0.0.1:{port}/env").text == "prod"
    assert server.terminate() == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["no_such_module:app"], "no_such_module"),
        (["tests.cli.apps.work_app:missing"], "missing"),
        (["tests.cli.apps.work_app:not_an_app"], "not_an_app"),
        ([APP, "--bind", "nonsense:port"], "nonsense:port"),
        ([APP, "--worker-class", "gevent"], "gevent"),
    ],
)
def test_mistakes_get_one_readable_line_and_a_non_zero_exit(
    run, args: list[str], message: str
) -> None:
    # A free port: the default 8000 may be anyone's (a mistake found after binding it).
    port = [] if "--bind" in args else ["--port", str(free_port())]
    server = run(*args, *port)
    code = server.proc.wait(60)
    assert code != 0
    assert message in server.output
    assert "Traceback" not in server.output


def test_a_port_in_use_is_one_readable_line(run) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        server = run(APP, "--port", str(port))
        code = server.proc.wait(60)
    assert code != 0
    assert str(port) in server.output
    assert "Traceback" not in server.output


def test_a_start_up_that_fails_exits_non_zero_with_the_reason(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    process = Run([APP, "--port", str(free_port())], f"nats://127.0.0.1:{free_port()}", log)
    try:
        code = process.proc.wait(60)
    finally:
        process.kill()
    assert code != 0
    assert "NoServersError" in process.output or "did not connect" in process.output


def test_a_worker_that_dies_is_replaced(run) -> None:
    port = free_port()
    server = run(APP, "--workers", "2", "--port", str(port))
    server.wait_ready(f"http://127.0.0.1:{port}/health")
    pids = {int(httpx.get(f"http://127.0.0.1:{port}/pid").text) for _ in range(30)}
    victim = next(iter(pids))
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while "starting a new one" not in server.output or "worker 3" not in server.output:
        assert time.monotonic() < deadline, server.output
        time.sleep(0.2)
    server.wait_ready(f"http://127.0.0.1:{port}/health")
    assert server.proc.poll() is None
    assert server.terminate() == 0, server.output


def test_sighup_starts_new_workers_and_then_stops_the_old_ones(run) -> None:
    port = free_port()
    server = run(APP, "--workers", "2", "--port", str(port))
    server.wait_ready(f"http://127.0.0.1:{port}/health")
    old = {int(httpx.get(f"http://127.0.0.1:{port}/pid").text) for _ in range(20)}
    server.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 30
    while any(Path(f"/proc/{pid}").exists() for pid in old):
        assert time.monotonic() < deadline, server.output
        time.sleep(0.2)
    assert "reloaded: 2 new workers ready" in server.output
    new = {int(httpx.get(f"http://127.0.0.1:{port}/pid").text) for _ in range(20)}
    assert new and not new & old
    assert server.terminate() == 0, server.output


RELOADED_APP = '''
import os

VERSION = {version}


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while (message := await receive())["type"] != "lifespan.shutdown":
            await send({{"type": "lifespan.startup.complete"}})
        await send({{"type": "lifespan.shutdown.complete"}})
        return
    status, body = (204, b"") if scope["path"] == "/health" else (200, b"%d" % VERSION)
    await send({{"type": "http.response.start", "status": status, "headers": []}})
    await send({{"type": "http.response.body", "body": body}})
'''


def test_reload_serves_the_changed_code_once_a_file_changes(run, tmp_path: Path) -> None:
    source = tmp_path / "reloaded_app.py"
    source.write_text(RELOADED_APP.format(version=1))
    port = free_port()
    server = run(
        "reloaded_app:app", "--app-dir", str(tmp_path), "--reload", "--port", str(port)
    )
    server.wait_ready(f"http://127.0.0.1:{port}/health")
    assert httpx.get(f"http://127.0.0.1:{port}/version").text == "1"
    source.write_text(RELOADED_APP.format(version=2))
    deadline = time.monotonic() + 30
    while httpx.get(f"http://127.0.0.1:{port}/version").text != "2":
        assert time.monotonic() < deadline, server.output
        time.sleep(0.2)
    assert "reloading (changed: reloaded_app.py)" in server.output
    assert server.terminate() == 0, server.output
