"""Fuzzing the HTTP surface in-process: any request gets a well-formed answer, never a 500.

Hypothesis generates methods, paths, query strings, headers and bodies (whole or
in chunks, around the body limit, JSON, try-it-out forms, garbage), arriving on the
public or the internal bind; each goes straight to the ASGI app, on asyncio and
trio. Every answer must be one ``http.response.start`` with a 2xx/4xx status (the
app has no route that fails on purpose, so a 5xx is a bug), then body messages
ending the response; no exception escapes the app, nothing hangs (10 s per
request). The run is deterministic (``derandomize``): the count of cases tried is
in docs/reliability.md. The same requests against real servers:
``test_http_fuzz_served.py``.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings

from .fuzz_support import (
    INTERNAL_PORT,
    PUBLIC_PORT,
    FuzzRequest,
    check_response,
    make_fuzz_app,
    requests,
)

pytestmark = pytest.mark.anyio

#: Cases per backend (docs/reliability.md records it).
EXAMPLES = 600

APP = make_fuzz_app()
statuses: dict[int, int] = {}


def scope_of(request: FuzzRequest) -> dict[str, Any]:
    headers = list(request.headers)
    if not request.chunked:
        headers.append((b"content-length", str(len(request.body)).encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": request.method,
        "scheme": "http",
        "path": request.path,
        "raw_path": request.path.encode("utf-8", "surrogatepass"),
        "root_path": "",
        "query_string": request.query,
        "headers": headers,
        "client": ("10.0.0.9", 50000),
        "server": ("127.0.0.1", INTERNAL_PORT if request.internal else PUBLIC_PORT),
        "state": {},
    }


async def serve_in_process(request: FuzzRequest) -> tuple[int, bytes]:
    incoming = [
        {"type": "http.request", "body": chunk, "more_body": i < len(request.chunks) - 1}
        for i, chunk in enumerate(request.chunks or [b""])
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if incoming:
            return incoming.pop(0)
        await anyio.sleep_forever()  # a client that stays connected and sends nothing more
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    with anyio.fail_after(10):
        await APP(scope_of(request), receive, send)
    assert sent, "no answer"
    start, *rest = sent
    assert start["type"] == "http.response.start", sent
    assert all(isinstance(k, bytes) and isinstance(v, bytes) for k, v in start.get("headers", []))
    assert rest and all(m["type"] == "http.response.body" for m in rest), sent
    assert not rest[-1].get("more_body", False)
    return start["status"], b"".join(m.get("body", b"") for m in rest)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(request=requests())
async def test_any_request_gets_a_well_formed_answer_and_never_a_500(
    request: FuzzRequest,
) -> None:
    status, body = await serve_in_process(request)
    statuses[status] = statuses.get(status, 0) + 1
    check_response(request, status, body)

