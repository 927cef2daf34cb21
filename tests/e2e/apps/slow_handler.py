"""A subscriber that takes a second: shows that SIGTERM lets in-flight handlers finish."""

import os

import anyio
from faststream.nats import NatsBroker

from anystream.asgi import AsgiFastStream, make_ping_asgi

broker = NatsBroker(os.environ["NATS_URL"])


@broker.subscriber("slow.in")
async def slow(body: str) -> None:
    await broker.publish(f"started {body}", "slow.started")
    await anyio.sleep(1.0)
    await broker.publish(f"finished {body}", "slow.finished")


app = AsgiFastStream(broker, asgi_routes=[("/health", make_ping_asgi(broker, timeout=5.0))])
