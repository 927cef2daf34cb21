"""A consumer slower than its publisher: CPU work per message that never suspends.

- ``NATS_URL``: the broker.
- ``WORK_SECONDS``: CPU time each message costs (default 1 ms), like parsing and
  business logic: the handler does not await anything.
- ``CONSUME_BUDGET``: anystream's time-slicing budget in seconds, or ``off``.
"""

from __future__ import annotations

import os
import time
from typing import Any

from faststream.nats import NatsBroker

from anystream.asgi import AsgiFastStream, AsgiResponse, JSONResponse, get, make_ping_asgi
from anystream.broker import stats

WORK = float(os.environ.get("WORK_SECONDS", "0.001"))
BUDGET = os.environ.get("CONSUME_BUDGET", "0.002")

broker = NatsBroker(os.environ["NATS_URL"], logger=None)
state = {"handled": 0}


subscriber = broker.subscriber("busy.work")


@subscriber
async def on_work(body: bytes) -> None:
    end = time.perf_counter() + WORK
    while time.perf_counter() < end:
        pass
    state["handled"] += 1


@get
async def progress(scope: Any) -> AsgiResponse:
    sub = subscriber.subscription  # nats-py's subscription: messages queued in the client
    queued = sub.pending_msgs if sub is not None else 0
    return JSONResponse({"handled": state["handled"], "queued": queued,
                         **stats(broker).as_dict()}, 200)


app = AsgiFastStream(
    broker,
    asgi_routes=[("/health", make_ping_asgi(broker, timeout=5.0)), ("/progress", progress)],
    consume_budget=None if BUDGET == "off" else float(BUDGET),
)
