"""The HTTP fuzz through real servers: hypercorn on trio and uvicorn, a real nats-server.

A smaller run than the in-process one (``test_http_fuzz.py``), with the same request
strategy written to the socket as HTTP/1.1 bytes (chunked or with Content-Length).
Each answer is parsed by h11, strictly: a well-formed response, 2xx/4xx, never 5xx.
On hypercorn, requests marked internal go to a second, internal bind.
Afterwards the server still answers and never logged an exception escaping the app.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import h11
import httpx
import pytest
from hypothesis import HealthCheck, given, settings

from anystream.testing import free_port
from tests.e2e.servers import HYPERCORN_TRIO, UVICORN, Combo, ServerProcess

from .fuzz_support import FuzzRequest, check_response, requests

pytestmark = pytest.mark.e2e

#: Cases per server (docs/reliability.md records it).
EXAMPLES = 150
APP = "tests.reliability.apps.fuzz_app:app"


def wire(request: FuzzRequest) -> bytes:
    target = quote(request.path, safe="/%:@!$&'()*+,;=-._~")
    if request.query:
        target += "?" + quote(request.query, safe="/%:@!$&'()*+,;=-._~?")
    lines = [f"{request.method} {target} HTTP/1.1".encode()]
    lines += [name + b": " + value.strip() for name, value in request.headers]
    lines.append(b"connection: close")
    if request.chunked:
        lines.append(b"transfer-encoding: chunked")
        body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in request.chunks if c) + b"0\r\n\r\n"
    else:
        lines.append(b"content-length: %d" % len(request.body))
        body = request.body
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def exchange(server: ServerProcess, request: FuzzRequest) -> tuple[int, bytes]:
    """Send the request on the bind it names (public, or internal where there is one)."""
    port = (request.internal and getattr(server, "internal_port", None)) or server.port
    chunks = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(wire(request))
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    raw = b"".join(chunks)
    parser = h11.Connection(h11.CLIENT)
    parser.send(h11.Request(method=request.method.encode(), target=b"/", headers=[(b"host", b"x")]))
    parser.send(h11.EndOfMessage())
    parser.receive_data(raw)
    parser.receive_data(b"")
    status, body = 0, b""
    while True:
        event = parser.next_event()
        if isinstance(event, h11.Response):
            status = event.status_code
        elif isinstance(event, h11.Data):
            body += bytes(event.data)
        elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
            break
        elif event is h11.NEED_DATA:
            raise AssertionError(f"truncated response: {raw!r}")
    return status, body


@pytest.fixture
def server(
    request: pytest.FixtureRequest, tmp_path: Path, nats_url: str
) -> Iterator[ServerProcess]:
    combo: Combo = request.param
    internal = free_port()
    # hypercorn listens on a second, internal address; uvicorn's CLI takes one.
    extra = () if combo.is_uvicorn else ("-b", f"127.0.0.1:{internal}")
    process = ServerProcess(
        combo, APP, nats_url=nats_url, log_path=tmp_path / "server.log", extra_args=extra
    )
    process.env["ANYSTREAM_INTERNAL_BINDS"] = f"127.0.0.1:{internal}"
    process.internal_port = None if combo.is_uvicorn else internal  # type: ignore[attr-defined]
    process.start()
    try:
        process.wait_ready()
        yield process
    finally:
        process.kill()


@pytest.mark.parametrize(
    "server", [pytest.param(c, id=c.id) for c in (HYPERCORN_TRIO, UVICORN)], indirect=True
)
def test_any_request_through_a_real_server_gets_a_well_formed_answer(
    server: ServerProcess,
) -> None:
    run_fuzz(server)
    assert httpx.get(server.base_url + "/hello").text == "hello"  # still serving
    for crash in ("Error in ASGI Framework", "Exception in ASGI application"):
        assert crash not in server.output  # nothing escaped the app


def run_fuzz(server: ServerProcess) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(request=requests())
    def one(request: FuzzRequest) -> None:
        try:
            status, body = exchange(server, request)
        except (TimeoutError, ConnectionResetError) as exc:
            raise AssertionError(f"{exc!r} for {request}\n{server.output[-2000:]}") from exc
        check_response(request, status, body)

    one()
