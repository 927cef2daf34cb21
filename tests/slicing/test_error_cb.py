"""A user's ``error_cb`` still sees slow-consumer errors while anystream counts them."""

from __future__ import annotations

import anyio
import pytest
from faststream.nats import NatsBroker
from nats.errors import SlowConsumerError

from anystream.asgi import AsgiFastStream
from anystream.broker import stats
from anystream.testing import lifespan
from tests.helpers import publish_from_outside, wait_until

pytestmark = pytest.mark.anyio

BACKLOG = 100
LIMIT = 10


async def test_the_users_error_cb_sees_every_slow_consumer_drop_that_anystream_counts(
    nats_url: str, subject: str
) -> None:
    seen: list[Exception] = []

    async def on_error(err: Exception) -> None:
        seen.append(err)

    broker = NatsBroker(nats_url, logger=None, error_cb=on_error)
    handled: list[int] = []
    sub = broker.subscriber(subject, pending_msgs_limit=LIMIT)

    @sub
    async def handle(body: int) -> None:
        if not handled:
            # Hold the first message until the client has dropped what it cannot queue.
            with anyio.fail_after(10):
                while stats(broker).slow_consumer_dropped < BACKLOG - 2 * LIMIT:
                    await anyio.sleep(0.01)
        handled.append(body)

    async with lifespan(AsgiFastStream(broker)):
        await publish_from_outside(nats_url, subject, *(b"%d" % i for i in range(BACKLOG)))
        await wait_until(lambda: len(handled) + stats(broker).slow_consumer_dropped == BACKLOG)

    dropped = stats(broker).slow_consumer_dropped
    assert dropped >= BACKLOG - 2 * LIMIT
    slow = [err for err in seen if isinstance(err, SlowConsumerError)]
    # anystream.nats reports a slow consumer once per episode (nats-py: once per dropped
    # message); anystream's counts come from the client's own drop counters.
    assert 1 <= len(slow) <= dropped
    assert {err.subject for err in slow} == {subject}
