"""The app the drop-in tests serve (tests/e2e/test_dropin_served.py).

Built as a faststream user would, through ``anystream.FastStream(...).as_asgi(...)``:

- ``/live`` and ``/ready``: health probes with 2 s and 5 s timeouts on one broker.
- ``/request-type``: the class of the request object handlers get.
- ``/echo``: the body back, under ``max_body_size=64`` given to ``as_asgi``.
"""

from __future__ import annotations

import os

from faststream.nats import NatsBroker

from anystream import FastStream
from anystream.asgi import AsgiResponse, JSONResponse, Request, get, make_ping_asgi, post

broker = NatsBroker(os.environ["NATS_URL"], connect_timeout=1)


@get
async def request_type(request: Request) -> AsgiResponse:
    kind = type(request)
    return JSONResponse({"class": f"{kind.__module__}.{kind.__qualname__}"}, 200)


@post
async def echo(request: Request) -> AsgiResponse:
    return AsgiResponse(await request.body(), 200)


app = FastStream(broker).as_asgi(
    asgi_routes=[
        ("/live", make_ping_asgi(broker, timeout=2.0)),
        ("/ready", make_ping_asgi(broker, timeout=5.0)),
        ("/request-type", request_type),
        ("/echo", echo),
    ],
    max_body_size=64,
)
