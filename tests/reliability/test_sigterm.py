"""SIGTERM with a JetStream handler in flight: finished if it can be, redelivered if not.

The app's JetStream handler sleeps ``JS_DELAY`` seconds. faststream's
``graceful_timeout`` (the broker's) is how long stopping waits for it; anystream's
``shutdown_timeout`` bounds the whole shutdown.
"""

from __future__ import annotations

import time

import pytest

from anystream.testing import NatsServer
from tests.e2e.servers import Combo, ServerProcess, expected_exit

from .conftest import Serve
from .support import BACKENDS, Records, publish

pytestmark = pytest.mark.e2e


def sigterm_in_flight(server: ServerProcess, nats_url: str, records: Records) -> tuple[int, float]:
    """SIGTERM once the app's JetStream handler started on "m1": exit status, seconds taken."""
    publish(nats_url, "rel.js", ["m1"], jetstream=True)
    records.wait_for("js-start", ["m1"], timeout=10.0)
    began = time.monotonic()
    code = server.terminate(timeout=15.0)
    return code, time.monotonic() - began


@pytest.mark.parametrize("combo", BACKENDS, ids=lambda c: c.id)
def test_sigterm_lets_an_in_flight_handler_finish_within_the_graceful_timeout(
    combo: Combo, serve: Serve, records: Records
) -> None:
    with NatsServer(jetstream=True) as nats_server:
        server = serve(combo, nats_server.url, JS_DELAY="1.0", GRACEFUL_TIMEOUT="10")
        code, stopped_in = sigterm_in_flight(server, nats_server.url, records)

        assert code == expected_exit(combo)
        assert records.counts("js") == {"m1": 1}
        assert stopped_in < 10.0
        print(
            f"\n[{combo.id}] handler finished during shutdown: stopped in {stopped_in:.2f} s"
        )  # it waited for the handler, not for the whole timeout
        # Acknowledged: a new instance of the durable consumer does not get it again.
        serve(combo, nats_server.url)
        time.sleep(3.0)  # longer than the consumer's ack_wait (2 s)
        assert records.counts("js-start") == {"m1": 1}


@pytest.mark.parametrize("combo", BACKENDS, ids=lambda c: c.id)
def test_sigterm_cancels_a_handler_past_the_graceful_timeout_and_jetstream_redelivers_it(
    combo: Combo, serve: Serve, records: Records
) -> None:
    with NatsServer(jetstream=True) as nats_server:
        server = serve(combo, nats_server.url, JS_DELAY="30", GRACEFUL_TIMEOUT="0.5")
        _, stopped_in = sigterm_in_flight(server, nats_server.url, records)
        (first_worker,) = {pid for kind, _, pid in records.lines() if kind == "js-start"}

        assert "js" not in {kind for kind, _, _ in records.lines()}  # cancelled, not finished
        assert stopped_in < 10.0

        serve(combo, nats_server.url)  # a restarted instance, handler fast this time
        handled = records.wait_for("js", ["m1"], timeout=15.0)
        assert handled == {"m1": 1}, server.output
        finishers = {pid for kind, _, pid in records.lines() if kind == "js"}
        assert first_worker not in finishers
        print(f"\n[{combo.id}] cancelled past graceful timeout: stopped in {stopped_in:.2f} s")
