"""The app the `anystream run` tests serve.

- ``cli.work`` (queue group ``workers``): replies ``<pid>:<body>`` on ``cli.done``;
- ``cli.slow``: sleeps 1 s, then says ``finished:<body>`` on ``cli.slow.done``;
- ``GET /env``: the ``env`` option the CLI passed to ``on_startup`` (``--env prod``);
- ``GET /pid``: the worker's process id; ``/health``: a real NATS ping.
"""

from __future__ import annotations

import os

import anyio
from faststream.nats import NatsBroker

from anystream.asgi import AsgiFastStream, AsgiResponse, get, make_ping_asgi

broker = NatsBroker(os.environ["NATS_URL"], connect_timeout=1, max_reconnect_attempts=1)
settings: dict[str, str] = {}


@broker.subscriber("cli.work", queue="workers")
async def work(body: str) -> None:
    await broker.publish(f"{os.getpid()}:{body}", "cli.done")


@broker.subscriber("cli.slow")
async def slow(body: str) -> None:
    await anyio.sleep(1.0)
    await broker.publish(f"finished:{body}", "cli.slow.done")


def remember_env(env: str = "dev") -> None:
    settings["env"] = env


@get
async def show_env(scope):
    return AsgiResponse(settings.get("env", "?").encode())


@get
async def show_pid(scope):
    return AsgiResponse(str(os.getpid()).encode())


app = AsgiFastStream(
    broker,
    on_startup=[remember_env],
    asgi_routes=[
        ("/health", make_ping_asgi(broker, timeout=2.0)),
        ("/env", show_env),
        ("/pid", show_pid),
    ],
)
not_an_app = 42
