"""A start-up hook that raises: ``lifespan.startup.failed``, then the error itself, as faststream.

faststream and Starlette send ``lifespan.startup.failed`` and re-raise the error, so
Starlette's ``TestClient(app)`` raises it (with its chained cause) on entry. The
servers' side (hypercorn, uvicorn exit non-zero with the reason) is in
tests/reliability/test_startup_and_hooks.py.
"""

from __future__ import annotations

import threading
from typing import Any

import anyio
import pytest
from faststream.nats import NatsBroker
from starlette.testclient import TestClient

from anystream.asgi import AsgiFastStream
from anystream.asgi.types import Message
from anystream.testing import LifespanFailed, lifespan


class ConfigMissing(RuntimeError):
    pass


def app_whose_startup_hook_raises(nats_url: str) -> AsgiFastStream:
    app = AsgiFastStream(NatsBroker(nats_url))

    @app.on_startup
    async def load_config() -> None:
        try:
            {}["DATABASE_URL"]
        except KeyError as exc:
            raise ConfigMissing("DATABASE_URL is not set") from exc

    return app


def enter_test_client(app: Any, backend: str, timeout: float) -> BaseException | None:
    """``with TestClient(app): ...`` in a thread: what it raised; fails if it hangs."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            with TestClient(app, backend=backend):
                pass
        except BaseException as exc:
            outcome.append(exc)
        else:
            outcome.append(None)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    assert outcome, f"TestClient(app) did not return within {timeout} s (it hangs)"
    return outcome[0]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_starlette_test_client_raises_the_startup_hooks_error_with_its_cause(
    backend: str, nats_url: str
) -> None:
    raised = enter_test_client(app_whose_startup_hook_raises(nats_url), backend, timeout=20)
    assert isinstance(raised, ConfigMissing)
    assert str(raised) == "DATABASE_URL is not set"
    assert isinstance(raised.__cause__, KeyError)


@pytest.mark.anyio
async def test_the_app_sends_startup_failed_then_raises_the_error(nats_url: str) -> None:
    app = app_whose_startup_hook_raises(nats_url)
    to_app, app_inbox = anyio.create_memory_object_stream[Message](2)
    app_outbox, from_app = anyio.create_memory_object_stream[Message](2)
    sent: list[Message] = []
    await to_app.send({"type": "lifespan.startup"})

    async def send(message: Message) -> None:
        sent.append(message)

    with anyio.fail_after(20), pytest.raises(ConfigMissing) as raised:
        await app({"type": "lifespan", "state": {}}, app_inbox.receive, send)
    assert [m["type"] for m in sent] == ["lifespan.startup.failed"]
    assert sent[0]["message"] == "ConfigMissing: DATABASE_URL is not set"
    assert isinstance(raised.value.__cause__, KeyError)
    for stream in (to_app, app_inbox, app_outbox, from_app):
        stream.close()


@pytest.mark.anyio
async def test_anystreams_lifespan_helper_reports_the_failure_caused_by_the_error(
    nats_url: str,
) -> None:
    with anyio.fail_after(20), pytest.raises(LifespanFailed) as failure:
        async with lifespan(app_whose_startup_hook_raises(nats_url)):
            pass
    assert failure.value.phase == "startup"
    assert isinstance(failure.value.__cause__, ConfigMissing)
    assert isinstance(failure.value.__cause__.__cause__, KeyError)
