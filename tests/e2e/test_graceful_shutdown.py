"""SIGTERM while a handler runs: the handler finishes, then the server exits cleanly."""

from __future__ import annotations

import pytest

from anystream.testing import NatsServer

from .conftest import StartServer
from .servers import COMBOS, Combo, expected_exit, watch

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("combo", COMBOS, ids=lambda c: c.id)
def test_sigterm_lets_the_running_handler_finish(
    combo: Combo, nats_server: NatsServer, start_server: StartServer
) -> None:
    server = start_server(combo, "tests.e2e.apps.slow_handler:app", nats_url=nats_server.url)
    subjects = ("slow.started", "slow.finished")

    with watch(nats_server.url, subjects) as seen:
        seen.publish("slow.in", combo.id)
        assert seen.next("slow.started", timeout=5.0) == f"started {combo.id}"
        code = server.terminate()  # the handler is sleeping now
        assert seen.next("slow.finished", timeout=5.0) == f"finished {combo.id}"

    assert code == expected_exit(combo)
    assert "shutdown failed" not in server.output
    assert "FastStream app shut down gracefully" in server.output
