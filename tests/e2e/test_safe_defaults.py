"""Safe by default, through real servers and a real nats-server (issue 18).

The app (``tests/e2e/apps/safe_app.py``) is the seed's docs example: ``asyncapi_path``
set, nothing else configured. Seen from outside: an independent NATS client watches
the subjects, httpx and raw sockets talk HTTP, the server's memory is read from /proc.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from anystream.testing import free_port

from .conftest import StartServer
from .servers import HYPERCORN_ASYNCIO, HYPERCORN_TRIO, ROOT, UVICORN, Combo, watch

pytestmark = pytest.mark.e2e

APP = "tests.e2e.apps.safe_app:app"
SECRET = "s3cr3t-detail-in-the-exception"
SERVERS = [pytest.param(c, id=c.id) for c in (HYPERCORN_TRIO, UVICORN)]
MB = 1024 * 1024


def try_it(channel: str, payload: object, *, real: bool) -> dict[str, object]:
    """The form the AsyncAPI page's try-it-out plugin posts."""
    return {
        "channelName": channel,
        "message": {"operation_id": "x", "operation_type": "receive", "message": payload},
        "options": {"sendToRealBroker": real},
    }


@pytest.mark.parametrize("combo", SERVERS)
def test_try_it_out_is_off_by_default_and_publishes_nothing(
    start_server: StartServer, nats_url: str, combo: Combo
) -> None:
    server = start_server(combo, APP, nats_url=nats_url)
    with watch(nats_url, ("safe.orders", "safe.handled")) as outside, server.client() as http:
        attempt = http.post("/docs/try", json=try_it("safe.orders", {"id": 1}, real=True))
        dry = http.post("/docs/try", json=try_it("safe.orders", {"id": 2}, real=False))
        page = http.get("/docs")
        assert outside.next("safe.orders", timeout=1.0) is None
        assert outside.next("safe.handled", timeout=0.2) is None
    assert (attempt.status_code, dry.status_code) == (404, 404)
    assert page.status_code == 200  # the docs page works without it
    assert "/docs/try" not in page.text  # and offers no form that would post there
    assert "try-it-out is on" not in server.output


@pytest.mark.parametrize("combo", SERVERS)
def test_try_it_out_when_enabled_dry_runs_and_refuses_the_real_broker(
    start_server: StartServer, nats_url: str, combo: Combo
) -> None:
    server = start_server(combo, APP, nats_url=nats_url, TRY_IT_OUT="dry")
    with watch(nats_url, ("safe.orders", "safe.handled")) as outside, server.client() as http:
        dry = http.post("/docs/try", json=try_it("safe.orders", {"id": 3}, real=False))
        again = http.post("/docs/try", json=try_it("safe.orders", {"id": 4}, real=False))
        real = http.post("/docs/try", json=try_it("safe.orders", {"id": 5}, real=True))
        assert outside.next("safe.orders", timeout=1.0) is None
        assert outside.next("safe.handled", timeout=0.2) is None
        outside.publish("safe.orders", '{"id": 6}')  # the live app still consumes
        assert json.loads(outside.next("safe.handled", timeout=5.0) or "null") == {"id": 6}
    assert (dry.status_code, dry.json()) == (200, {"accepted": {"id": 3}}), server.output
    assert (again.status_code, again.json()) == (200, {"accepted": {"id": 4}})
    assert real.status_code == 403
    assert "try-it-out is on at POST /docs/try" in server.output


@pytest.mark.parametrize("combo", SERVERS)
def test_try_it_out_with_the_real_broker_switch_publishes_to_the_broker(
    start_server: StartServer, nats_url: str, combo: Combo
) -> None:
    server = start_server(combo, APP, nats_url=nats_url, TRY_IT_OUT="real")
    with watch(nats_url, ("safe.orders", "safe.handled")) as outside, server.client() as http:
        sent = http.post("/docs/try", json=try_it("safe.orders", {"id": 6}, real=True))
        seen = outside.next("safe.orders", timeout=5.0)
        handled = outside.next("safe.handled", timeout=5.0)
    assert (sent.status_code, sent.json()) == (200, "ok")
    assert seen is not None and json.loads(seen) == {"id": 6}
    assert handled is not None and json.loads(handled) == {"id": 6}  # the app consumed it
    assert "publishes to the real broker" in server.output


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (hypercorn serves from a worker child process)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def peak_rss_mb(pids: list[int]) -> dict[int, float]:
    """Peak resident memory (VmHWM) of each process, in MB."""
    peaks = {}
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peaks[pid] = int(line.split()[1]) / 1024
    return peaks


def post_huge(port: int, path: str, total: int, *, chunked: bool) -> tuple[bytes, int]:
    """POST ``total`` bytes as fast as the server takes them; (response head, bytes sent).

    A reader thread catches the answer as soon as it comes; the writer goes on until
    the whole body is sent or the server closes the connection.
    """
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    response = bytearray()
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(f"{head}{framing}\r\n\r\n".encode())

        def read() -> None:
            while b"\r\n\r\n" not in response:
                try:
                    data = sock.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                response.extend(data)

        reader = threading.Thread(target=read)
        reader.start()
        chunk = b"7" * MB
        frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" if chunked else chunk
        try:
            while sent < total:
                sock.sendall(frame)
                sent += len(chunk)
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server answered and closed: the rest of the body is not wanted
        reader.join(30)
    return bytes(response), sent


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("combo", SERVERS)
def test_a_100_mb_body_gets_413_and_the_server_memory_does_not_grow(
    start_server: StartServer, nats_url: str, combo: Combo, chunked: bool
) -> None:
    server = start_server(combo, APP, nats_url=nats_url)
    assert server.proc is not None
    with server.client() as http:  # warm up: the handler has run once
        assert http.post("/echo", json={"ok": True}).status_code == 200
    pids = process_tree(server.proc.pid)
    before = peak_rss_mb(pids)
    head, sent = post_huge(server.port, "/echo", 100 * MB, chunked=chunked)
    after = peak_rss_mb(pids)
    assert head.startswith(b"HTTP/1.1 413"), (head, server.output)
    growth = max(after[pid] - before[pid] for pid in pids)
    # faststream's defaults: +196 MB for one such body. A generous margin for noise.
    assert growth < 30, f"peak RSS grew {growth:.1f} MB ({sent / MB:.0f} MB sent)"
    with server.client() as http:  # still serving
        assert http.get("/hello").text == "hello"


@pytest.mark.parametrize("combo", SERVERS)
def test_a_raising_handler_answers_without_the_exception_text(
    start_server: StartServer, nats_url: str, combo: Combo
) -> None:
    server = start_server(combo, APP, nats_url=nats_url)
    with server.client() as http:
        response = http.get("/boom")
    assert response.status_code == 500
    assert response.text == "Internal Server Error"
    assert SECRET not in response.text and "RuntimeError" not in response.text
    assert SECRET in server.output  # the log has it, for the operators


@pytest.mark.parametrize("combo", SERVERS)
def test_faststream_built_handlers_answer_bad_bodies_like_anystreams(
    start_server: StartServer, nats_url: str, combo: Combo
) -> None:
    server = start_server(combo, APP, nats_url=nats_url)
    with server.client() as http:
        for path in ("/echo", "/fs-echo"):
            assert http.post(path, content=b"{not json").status_code == 422, path
            assert http.post(path, content=b"[" + b"1," * MB + b"1]").status_code == 413, path
            assert http.post(path, json={"ok": 1}).json() == {"ok": 1}


def test_internal_routes_answer_only_on_the_internal_bind_under_plain_hypercorn(
    start_server: StartServer, nats_url: str
) -> None:
    internal = free_port()
    server = start_server(
        HYPERCORN_ASYNCIO,
        APP,
        nats_url=nats_url,
        extra_args=("-b", f"127.0.0.1:{internal}"),
        ANYSTREAM_INTERNAL_BINDS=f"127.0.0.1:{internal}",
    )
    with server.client() as public, httpx.Client(
        base_url=f"http://127.0.0.1:{internal}", timeout=10
    ) as private:
        for path in ("/metrics", "/health"):
            assert public.get(path).status_code == 404, path
        assert private.get("/metrics").text == "requests_total 1\n"
        assert private.get("/health").status_code == 204
        assert public.get("/hello").text == "hello"  # public routes: on every bind
        assert private.get("/hello").text == "hello"


def test_internal_routes_under_uvicorn_serving_two_sockets(nats_url: str, tmp_path: Path) -> None:
    public, internal = free_port(), free_port()
    log = tmp_path / "uvicorn.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.e2e.apps.uvicorn_two_binds", APP, str(public), str(internal)],  # noqa: E501
            cwd=ROOT,
            env={**os.environ, "NATS_URL": nats_url},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                httpx.get(f"http://127.0.0.1:{public}/hello")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        assert httpx.get(f"http://127.0.0.1:{public}/metrics").status_code == 404
        assert httpx.get(f"http://127.0.0.1:{internal}/metrics").status_code == 200
        assert httpx.get(f"http://127.0.0.1:{public}/hello").text == "hello"
    finally:
        proc.kill()
        proc.wait()
