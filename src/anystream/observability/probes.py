"""Kubernetes probes: liveness (the process answers) and readiness (the brokers work).

- **Liveness** answers from the event loop and touches nothing else: if it does
  not answer, the loop is blocked or the process is wedged, and a restart helps.
  A broker outage must never fail it, or Kubernetes restarts every pod of a
  service while NATS is down, which helps nobody.
- **Readiness** says the pod can do its work: every broker answers a real round
  trip (PING/PONG for NATS, shared between concurrent probes) and, by default,
  all its subscribers are running. While it fails, the pod leaves the Service's
  endpoints but is not restarted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from faststream.asgi.handlers import GetHandler

from ..asgi.responses import AsgiResponse, method_not_allowed
from ..asgi.types import Receive, Scope, Send
from ..health._ping import SharedPing, shared_ping

__all__ = ("LivenessHandler", "ReadinessHandler", "make_liveness_asgi", "make_readiness_asgi")

_TEXT = {"content-type": "text/plain; charset=utf-8", "cache-control": "no-store"}
_ALIVE = AsgiResponse(b"alive\n", 200, _TEXT)
_READY = AsgiResponse(b"ready\n", 200, _TEXT)


class LivenessHandler(GetHandler):
    """GET/HEAD: **200** ``alive``, from the event loop, without touching any broker."""

    def __init__(self, *, include_in_schema: bool = False) -> None:
        async def alive(scope: Scope) -> AsgiResponse:
            """Liveness: the process and its event loop answer."""
            return _ALIVE

        super().__init__(alive, include_in_schema=include_in_schema)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in self.methods:
            await method_not_allowed(self.methods)(scope, receive, send)
            return
        await _ALIVE(scope, receive, send)


def make_liveness_asgi(*, include_in_schema: bool = False) -> LivenessHandler:
    """A liveness endpoint: **200** whenever the event loop can answer, brokers or not."""
    return LivenessHandler(include_in_schema=include_in_schema)


class ReadinessHandler(GetHandler):
    """GET/HEAD: **200** ``ready`` if every broker works, else **503** with the reasons.

    A broker works when it answers a round trip within ``timeout`` and, with
    ``require_consuming``, every one of its subscribers is running (they are not
    before start-up finishes, nor once shutdown begins).
    """

    def __init__(
        self,
        brokers: Sequence[Any],
        timeout: float | None,
        *,
        require_consuming: bool = True,
        include_in_schema: bool = False,
    ) -> None:
        async def ready(scope: Scope) -> AsgiResponse:
            """Readiness: every broker answers a round trip and consumes."""
            return await self.check()

        super().__init__(ready, include_in_schema=include_in_schema)
        if not brokers:
            raise ValueError("make_readiness_asgi needs at least one broker")
        self.brokers = tuple(brokers)
        self.timeout = timeout
        self.require_consuming = require_consuming
        self._pings: tuple[SharedPing, ...] = tuple(shared_ping(b) for b in self.brokers)

    async def problems(self) -> list[str]:
        """Why the app is not ready (empty when it is)."""
        found: list[str] = []
        for broker, ping in zip(self.brokers, self._pings, strict=True):
            name = type(broker).__name__
            if self.require_consuming:
                stopped = [s for s in broker.subscribers if not s.running]
                if stopped:
                    found.append(f"{name}: {len(stopped)} subscriber(s) not running")
                    continue
            if not await ping(self.timeout):
                found.append(f"{name}: no answer to a ping")
        return found

    async def check(self) -> AsgiResponse:
        found = await self.problems()
        if not found:
            return _READY
        body = ("not ready\n" + "".join(f"{p}\n" for p in found)).encode()
        return AsgiResponse(body, 503, _TEXT)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in self.methods:
            await method_not_allowed(self.methods)(scope, receive, send)
            return
        await (await self.check())(scope, receive, send)


def make_readiness_asgi(
    broker: Any,
    /,
    *brokers: Any,
    timeout: float | None = None,
    require_consuming: bool = True,
    include_in_schema: bool = False,
) -> ReadinessHandler:
    """A readiness endpoint for one or more brokers: **200** ready, **503** not.

    Ready means: every broker answered a real round trip within ``timeout``
    seconds (10 s if None; concurrent probes share one round trip) and, with
    ``require_consuming`` (default), all its subscribers are running.
    ``make_ping_asgi(broker)`` is the same check without the subscribers and
    with faststream's status codes (204/500).
    """
    return ReadinessHandler(
        (broker, *brokers),
        timeout,
        require_consuming=require_consuming,
        include_in_schema=include_in_schema,
    )
