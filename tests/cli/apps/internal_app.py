"""An app whose probes and metrics are internal: ``anystream run --internal-bind`` serves them.

``/hello`` is public; ``/health`` (a real NATS ping) and ``/metrics`` are internal routes.
"""

from __future__ import annotations

import os

from faststream.nats import NatsBroker

from anystream.asgi import AsgiFastStream, AsgiResponse, get, make_ping_asgi

broker = NatsBroker(os.environ["NATS_URL"], connect_timeout=1, max_reconnect_attempts=1)


@get
async def hello(scope):
    return AsgiResponse(b"hello")


@get
async def metrics(scope):
    return AsgiResponse(b"requests_total 1\n", 200, {"content-type": "text/plain"})


app = AsgiFastStream(
    broker,
    asgi_routes=[("/hello", hello)],
    internal_routes=[("/health", make_ping_asgi(broker, timeout=5.0)), ("/metrics", metrics)],
)
