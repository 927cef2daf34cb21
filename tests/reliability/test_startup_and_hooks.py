"""Start-up that cannot succeed fails fast and loud; a failing hook never hangs a server.

faststream 0.7 sends ``lifespan.startup.complete`` even when an ``on_startup`` hook
raises, and the server then hangs (faststream issue #2305). anystream answers
``lifespan.startup.failed`` with the reason, so every server exits non-zero.
"""

from __future__ import annotations

import contextlib
import time

import httpx
import pytest

from anystream.testing import NatsServer, free_port
from tests.e2e.servers import Combo, expected_exit

from .conftest import Serve
from .support import SERVERS

pytestmark = pytest.mark.e2e

SECRET = "pa55-w0rd"
EXIT_BOUND = 20.0  # seconds; hypercorn's own start-up deadline is 60 s


def workers_in_process(combo: Combo) -> tuple[str, ...]:
    # hypercorn's supervisor loses a worker's exit status (pgjones/hypercorn#269).
    return () if combo.is_uvicorn else ("--workers", "0")


@pytest.mark.parametrize("combo", SERVERS, ids=lambda c: c.id)
def test_unreachable_nats_fails_startup_with_the_reason_and_no_password(
    combo: Combo, serve: Serve
) -> None:
    url = f"nats://admin:{SECRET}@127.0.0.1:{free_port()}"  # nothing listens there
    server = serve(combo, url, MAX_RECONNECTS="1", extra_args=workers_in_process(combo), wait=False)
    served: list[int] = []
    deadline = time.monotonic() + EXIT_BOUND
    while server.proc is not None and server.proc.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):  # never a 204 it cannot back
            served.append(httpx.get(server.base_url + "/health", timeout=1.0).status_code)
    code = server.wait_exit(timeout=EXIT_BOUND)

    assert code != 0
    assert 204 not in served
    assert "lifespan startup failed: NoServersError" in server.output
    assert SECRET not in server.output
    assert "admin:" not in server.output


@pytest.mark.parametrize("combo", SERVERS, ids=lambda c: c.id)
def test_a_startup_hook_that_raises_exits_nonzero_instead_of_hanging(
    combo: Combo, serve: Serve, nats_url: str
) -> None:
    server = serve(
        combo, nats_url, FAIL_ON_STARTUP="1", extra_args=workers_in_process(combo), wait=False
    )

    code = server.wait_exit(timeout=EXIT_BOUND)  # faststream#2305: hangs forever

    assert code != 0
    assert "lifespan startup failed: RuntimeError: startup hook failed on purpose" in server.output


@pytest.mark.parametrize("combo", SERVERS, ids=lambda c: c.id)
def test_a_shutdown_hook_that_raises_reports_shutdown_failed_and_exits_in_time(
    combo: Combo, serve: Serve
) -> None:
    with NatsServer(jetstream=True) as nats_server:
        server = serve(combo, nats_server.url, FAIL_ON_SHUTDOWN="1")
        assert httpx.get(server.base_url + "/health").status_code == 204

        code = server.terminate(timeout=EXIT_BOUND)

    output = server.output
    assert "lifespan shutdown failed: RuntimeError: shutdown hook failed on purpose" in output
    print(f"\n[{combo.id}] shutdown hook raised: exit status {code}")
    if combo.is_uvicorn:
        assert code == expected_exit(combo)  # uvicorn logs the failure and exits as on SIGTERM
    else:
        assert code in (0, 1)
