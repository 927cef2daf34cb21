"""Options reach the app however it is built: ``AsgiFastStream(...)``, ``as_asgi``, ``from_app``."""

from __future__ import annotations

from typing import Any

import pytest
from faststream import FastStream as UpstreamFastStream
from faststream.asgi import AsgiFastStream as UpstreamAsgiFastStream
from faststream.nats import NatsBroker

from anystream import FastStream
from anystream.asgi import AsgiFastStream, AsgiResponse, Request, post
from anystream.broker._redelivery import guard_for
from anystream.testing import lifespan
from tests.helpers import client

pytestmark = pytest.mark.anyio

OPTIONS: dict[str, Any] = {
    "shutdown_timeout": 7.0,
    "consume_budget": None,
    "startup_timeout": 3.0,
    "max_body_size": 16,
    "redelivery_memory": 50,
}


@post
async def echo(request: Request) -> AsgiResponse:
    return AsgiResponse(await request.body(), 200)


def test_as_asgi_forwards_every_option() -> None:
    app = FastStream(NatsBroker()).as_asgi(asgi_routes=[("/echo", echo)], **OPTIONS)
    assert {name: getattr(app, name) for name in OPTIONS} == OPTIONS


def test_from_app_forwards_every_option() -> None:
    app = AsgiFastStream.from_app(
        UpstreamFastStream(NatsBroker()), asgi_routes=[("/echo", echo)], **OPTIONS
    )
    assert {name: getattr(app, name) for name in OPTIONS} == OPTIONS


def test_a_misspelt_option_to_as_asgi_is_an_error() -> None:
    with pytest.raises(TypeError, match="max_body_sise"):
        FastStream(NatsBroker()).as_asgi(max_body_sise=16)  # type: ignore[call-arg]


def test_a_misspelt_option_to_from_app_is_an_error() -> None:
    with pytest.raises(TypeError, match="shutdown_timout"):
        AsgiFastStream.from_app(
            UpstreamFastStream(NatsBroker()),
            asgi_routes=[],
            shutdown_timout=1,  # type: ignore[call-arg]
        )


async def test_the_body_limit_given_to_as_asgi_answers_413() -> None:
    app = FastStream(NatsBroker()).as_asgi(asgi_routes=[("/echo", echo)], max_body_size=16)
    async with client(app) as http:
        small = await http.post("/echo", content=b"x" * 16)
        large = await http.post("/echo", content=b"x" * 17)
    assert (small.status_code, small.content) == (200, b"x" * 16)
    assert large.status_code == 413


async def test_the_redelivery_memory_given_to_as_asgi_installs_the_guard(nats_url: str) -> None:
    broker = NatsBroker(nats_url)
    app = FastStream(broker).as_asgi(redelivery_memory=50)
    async with lifespan(app):
        guard = guard_for(broker)
    assert guard is not None
    assert guard.capacity == 50


async def test_as_asgi_keeps_the_apps_hooks_and_lifespan(nats_url: str) -> None:
    calls: list[str] = []
    app = FastStream(NatsBroker(nats_url))

    @app.on_startup
    async def on_startup() -> None:
        calls.append("on_startup")

    @app.after_shutdown
    async def after_shutdown() -> None:
        calls.append("after_shutdown")

    async with lifespan(app.as_asgi(shutdown_timeout=5)):
        calls.append("serving")
    assert calls == ["on_startup", "serving", "after_shutdown"]


def test_contract_from_app_copies_what_faststreams_from_app_copies() -> None:
    """Ours builds the app with the options, then copies the source app's lifespan and
    hooks by hand: the same attributes faststream's ``from_app`` copies. If faststream
    starts copying something else, this names it."""
    source = UpstreamFastStream(NatsBroker())
    upstream = UpstreamAsgiFastStream.from_app(source, asgi_routes=[])
    ours = AsgiFastStream.from_app(source, asgi_routes=[])
    fresh = UpstreamAsgiFastStream(*source.brokers)
    taken_from_source = [
        name
        for name, value in vars(upstream).items()
        if any(value is v for v in vars(source).values())
        and not any(value is v for v in vars(fresh).values())
    ]
    assert taken_from_source, "faststream's from_app copies nothing from the app any more"
    for name in taken_from_source:
        assert getattr(ours, name) is getattr(upstream, name), (
            f"faststream's from_app copies {name!r} from the app; anystream's does not"
        )
