"""A broker that cannot connect fails the ASGI start-up: the server exits and says why."""

from __future__ import annotations

import httpx
import pytest

from anystream.testing import free_port

from .conftest import StartServer
from .servers import COMBOS, HYPERCORN_TRIO, Combo

pytestmark = pytest.mark.e2e

APP = "tests.e2e.apps.fail_fast:app"  # gives up connecting after ~1 s


def unreachable_url() -> str:
    return f"nats://anystream:s3cret@127.0.0.1:{free_port()}"


@pytest.mark.parametrize("combo", COMBOS, ids=lambda c: c.id)
def test_unreachable_nats_fails_startup_with_nonzero_exit(
    combo: Combo, start_server: StartServer
) -> None:
    # hypercorn's supervisor loses a worker's exit status (pgjones/hypercorn#269):
    # `--workers 0` runs the worker in the main process so its status is the exit code.
    extra = () if combo.is_uvicorn else ("--workers", "0")
    server = start_server(combo, APP, nats_url=unreachable_url(), extra_args=extra, wait=False)

    code = server.wait_exit(timeout=30.0)

    assert code == (3 if combo.is_uvicorn else 1)  # uvicorn's STARTUP_FAILURE is 3
    output = server.output
    assert "lifespan startup failed: NoServersError" in output
    assert "s3cret" not in output


def test_hypercorn_default_mode_stops_instead_of_serving_without_brokers(
    start_server: StartServer,
) -> None:
    server = start_server(HYPERCORN_TRIO, APP, nats_url=unreachable_url(), wait=False)

    server.wait_exit(timeout=30.0)  # its status is 0 here: see docs/compatibility.md

    assert "Lifespan failure in startup" in server.output
    with pytest.raises(httpx.TransportError):
        httpx.get(server.base_url + "/health", timeout=1.0)
