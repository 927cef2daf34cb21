"""The seed's health-check app, with a broker that gives up connecting after ~1 s.

nats-py's defaults retry an unreachable server 60 times, 2 s apart (two minutes)
before start-up fails; this app fails fast so the start-up failure test is quick.
"""

import os

from faststream.nats import NatsBroker

from anystream.asgi import AsgiFastStream, make_ping_asgi

broker = NatsBroker(
    os.environ["NATS_URL"],
    connect_timeout=1,
    max_reconnect_attempts=1,
    reconnect_time_wait=0.2,  # type: ignore[arg-type]
)

app = AsgiFastStream(broker, asgi_routes=[("/health", make_ping_asgi(broker, timeout=5.0))])
