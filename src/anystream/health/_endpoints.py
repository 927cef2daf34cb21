"""Health endpoints: the broker ping, and Kubernetes liveness and readiness probes.

- ``make_ping_asgi``: a health endpoint backed by a real, shared round trip
  (204 healthy, 500 not, as faststream's).
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
from typing import TYPE_CHECKING, Any

from typing_extensions import Unpack

from ..asgi._endpoint import Endpoint, EndpointOptions
from ..asgi._responses import AsgiResponse
from ..asgi.types import Scope
from ..broker._protocol import BrokerLike
from ._ping import SharedPing, shared_ping

if TYPE_CHECKING:
    from faststream.specification.schema import Tag, TagDict

__all__ = (
    "LivenessHandler",
    "PingHandler",
    "ReadinessHandler",
    "make_liveness_asgi",
    "make_ping_asgi",
    "make_readiness_asgi",
)

_HEALTHY = AsgiResponse(b"", 204)
_UNHEALTHY = AsgiResponse(b"", 500)


class PingHandler(Endpoint):
    """GET/HEAD: 204 if the broker answered a round trip within ``timeout``, else 500."""

    def __init__(
        self,
        broker: BrokerLike,
        timeout: float | None,
        **options: Unpack[EndpointOptions],
    ) -> None:
        super().__init__(**options)
        self.broker = broker
        self.timeout = timeout
        self._shared = shared_ping(broker)

    async def respond(self, scope: Scope) -> AsgiResponse:
        """Broker health: 204 when it answers a ping, 500 when not."""
        return _HEALTHY if await self.ping() else _UNHEALTHY

    async def ping(self) -> bool:
        return await self._shared(self.timeout)

    @property
    def round_trips(self) -> int:
        """Round trips made to the server so far (probes in flight share one)."""
        return self._shared.round_trips


def make_ping_asgi(
    broker: BrokerLike,
    /,
    timeout: float | None = None,
    include_in_schema: bool = True,
    description: str | None = None,
    tags: Sequence[Tag | TagDict | dict[str, Any]] | None = None,
    unique_id: str | None = None,
) -> PingHandler:
    """A health endpoint for ``broker``: **204** healthy, **500** not.

    Healthy means a real round trip to the server (PING/PONG for NATS) finished
    within ``timeout`` seconds (10 s if None). Probes that arrive while one round
    trip is in flight wait for it instead of sending their own.
    """
    return PingHandler(
        broker,
        timeout,
        include_in_schema=include_in_schema,
        description=description,
        tags=tags,
        unique_id=unique_id,
    )


_TEXT = {"content-type": "text/plain; charset=utf-8", "cache-control": "no-store"}
_ALIVE = AsgiResponse(b"alive\n", 200, _TEXT)
_READY = AsgiResponse(b"ready\n", 200, _TEXT)


class LivenessHandler(Endpoint):
    """GET/HEAD: **200** ``alive``, from the event loop, without touching any broker."""

    def __init__(self, *, include_in_schema: bool = False) -> None:
        super().__init__(include_in_schema=include_in_schema)

    async def respond(self, scope: Scope) -> AsgiResponse:
        """Liveness: the process and its event loop answer."""
        return _ALIVE


def make_liveness_asgi(*, include_in_schema: bool = False) -> LivenessHandler:
    """A liveness endpoint: **200** whenever the event loop can answer, brokers or not."""
    return LivenessHandler(include_in_schema=include_in_schema)


class ReadinessHandler(Endpoint):
    """GET/HEAD: **200** ``ready`` if every broker works, else **503** with the reasons.

    A broker works when it answers a round trip within ``timeout`` and, with
    ``require_consuming``, every one of its subscribers is running (they are not
    before start-up finishes, nor once shutdown begins).
    """

    def __init__(
        self,
        brokers: Sequence[BrokerLike],
        timeout: float | None,
        *,
        require_consuming: bool = True,
        include_in_schema: bool = False,
    ) -> None:
        super().__init__(include_in_schema=include_in_schema)
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

    async def respond(self, scope: Scope) -> AsgiResponse:
        """Readiness: every broker answers a round trip and consumes."""
        return await self.check()


def make_readiness_asgi(
    broker: BrokerLike,
    /,
    *brokers: BrokerLike,
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
