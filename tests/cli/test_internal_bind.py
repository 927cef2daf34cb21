"""`anystream run --bind ... --internal-bind ...`: internal routes only on the internal bind."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from anystream.testing import free_port

pytestmark = pytest.mark.e2e

APP = "tests.cli.apps.internal_app:app"


@pytest.mark.parametrize("worker_class", ["trio", "asyncio"])
def test_internal_routes_answer_404_on_the_public_bind_and_200_on_the_internal_one(
    run, worker_class: str
) -> None:
    public, internal = free_port(), free_port()
    server = run(
        APP,
        "--worker-class", worker_class,
        "--workers", "2",
        "--bind", f"127.0.0.1:{public}",
        "--internal-bind", f"127.0.0.1:{internal}",
    )
    server.wait_ready(f"http://127.0.0.1:{internal}/health")
    for _ in range(10):  # both workers, whichever takes the connection
        assert httpx.get(f"http://127.0.0.1:{public}/metrics").status_code == 404
        assert httpx.get(f"http://127.0.0.1:{public}/health").status_code == 404
        assert httpx.get(f"http://127.0.0.1:{public}/hello").text == "hello"
        assert httpx.get(f"http://127.0.0.1:{internal}/metrics").text == "requests_total 1\n"
        assert httpx.get(f"http://127.0.0.1:{internal}/health").status_code == 204
    assert f"(internal: http://127.0.0.1:{internal})" in server.output
    assert server.terminate() == 0, server.output


def wait_answering(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer")


def test_without_an_internal_bind_internal_routes_answer_404_and_the_log_says_why(run) -> None:
    port = free_port()
    server = run(APP, "--port", str(port))
    wait_answering(f"http://127.0.0.1:{port}/hello")
    assert httpx.get(f"http://127.0.0.1:{port}/hello").text == "hello"
    assert httpx.get(f"http://127.0.0.1:{port}/metrics").status_code == 404
    assert "no internal bind is set" in server.output
    assert server.terminate() == 0


@pytest.mark.parametrize(
    ("bind", "message"),
    [
        ("unix:/tmp/anystream-internal.sock", "TCP only"),
        ("nonsense", "bad --internal-bind 'nonsense'"),
    ],
)
def test_an_internal_bind_that_cannot_work_is_one_readable_line(
    run, bind: str, message: str
) -> None:
    server = run(APP, "--port", str(free_port()), "--internal-bind", bind)
    assert server.proc.wait(60) != 0
    assert message in server.output
    assert "Traceback" not in server.output


def test_an_internal_bind_on_a_public_port_is_refused(run) -> None:
    port = free_port()
    server = run(APP, "--bind", f"127.0.0.1:{port}", "--internal-bind", f"127.0.0.2:{port}")
    assert server.proc.wait(60) != 0
    assert "also a public --bind port" in server.output


def test_an_inherited_tcp_socket_can_be_the_internal_bind(run) -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    internal, public = listener.getsockname()[1], free_port()
    fd = listener.fileno()
    try:
        server = run(
            APP, "--port", str(public), "--internal-bind", f"fd://{fd}", pass_fds=(fd,)
        )
        server.wait_ready(f"http://127.0.0.1:{internal}/health")
        assert httpx.get(f"http://127.0.0.1:{public}/health").status_code == 404
        assert server.terminate() == 0, server.output
    finally:
        listener.close()
