"""The AsyncAPI "try it out" endpoint: faststream's protocol, off unless switched on.

The docs page's plugin POSTs ``{"channelName": ..., "message": {"message": payload},
"options": {"sendToRealBroker": bool}}``. A dry run (``sendToRealBroker`` false)
hands the payload to the subscriber through faststream's test broker and answers
with its reply; a real send publishes it through the running broker, which
:class:`AsgiFastStream` allows only with ``try_it_out_real_broker=True``.

Differences from faststream's handler, on purpose:

- Error bodies never carry exception text: a failure is logged and answered with a
  fixed body. A malformed JSON body gets 422, a body over ``max_body_size`` 413,
  a body of the wrong shape 400.
- A dry run runs where the broker runs (its asyncio loop on trio), so a subscriber
  that touches asyncio works, and faststream's test broker finds its event loop.
- A real send goes only to a destination the app's subscribers or publishers
  declare (404 otherwise), never to any subject a caller names.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import suppress
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import sniffio
from fast_depends.exceptions import ValidationError as FDValidationError
from faststream.exceptions import SubscriberNotFound

from .._adapters.anyio import repoint_get_running_loop
from .._adapters.faststream import find_test_broker, handler_function
from .._groups import unwrap_group
from ..broker._record import runtime_for
from ..runtime import open_runtime
from ._handlers import PostHandler, Request, post
from ._responses import AsgiResponse, JSONResponse

if TYPE_CHECKING:
    from faststream.specification.schema import Tag, TagDict

    from .._adapters.faststream import BrokerUsecase

__all__ = ("TryItOut", "is_faststream_try_it_out", "make_try_it_out_handler")

T = TypeVar("T")

log = logging.getLogger("anystream")

#: Seconds a dry run waits for the subscriber's reply (faststream's value).
DRY_RUN_TIMEOUT = 30.0


def _validation_errors() -> tuple[type[Exception], ...]:
    errors: tuple[type[Exception], ...] = (FDValidationError,)
    try:
        from pydantic import ValidationError
    except ImportError:  # pragma: no cover - fast_depends without pydantic
        return errors
    return (*errors, ValidationError)


#: A payload the subscriber's parameters refuse: the caller's mistake (422), not ours.
_INVALID_PAYLOAD = _validation_errors()


_FASTSTREAM_MODULE = "faststream.asgi.factories.asyncapi.try_it_out"


def is_faststream_try_it_out(app: Any) -> bool:
    """Whether ``app`` is the handler faststream's ``make_try_it_out_handler`` built."""
    func = handler_function(app)
    return getattr(func, "__module__", None) == _FASTSTREAM_MODULE


def _details(text: str, status: int) -> AsgiResponse:
    return JSONResponse({"details": text}, status)


class TryItOut:
    """Dispatch a try-it-out form to the broker that owns its channel."""

    def __init__(
        self,
        brokers: Iterable[BrokerUsecase[Any, Any, Any]],
        *,
        send_to_real_broker: bool = False,
    ) -> None:
        self.brokers = tuple(brokers)
        if not self.brokers:
            raise ValueError("try-it-out needs at least one broker")
        #: Whether ``"sendToRealBroker": true`` publishes (else it is refused with 403).
        self.send_to_real_broker = send_to_real_broker
        # One dry run at a time: faststream's test broker patches the broker object and
        # restores what it found on exit, so overlapping runs would leave fakes behind.
        # (A lock per event-loop library: tests may serve one app on asyncio and on trio.)
        self._dry_runs: dict[str, anyio.Lock] = {}

    async def process(self, form: dict[str, Any]) -> AsgiResponse:
        channel = form.get("channelName")
        if not isinstance(channel, str) or not channel.split(":")[0]:
            return _details("Missing channelName", 400)
        destination = channel.split(":")[0]
        broker = self._broker_for(channel, destination)
        if broker is None:
            return _details("destination not found", 404)
        message = form.get("message")
        payload = message.get("message") if isinstance(message, dict) else None
        options = form.get("options")
        real = isinstance(options, dict) and options.get("sendToRealBroker") is True
        if real and not self.send_to_real_broker:
            return _details(
                "sending to the real broker is turned off on this server (dry runs only)", 403
            )
        if real and not _declares(broker, destination):
            # Real sends only to channels the app declares, never to any subject.
            return _details("destination not found", 404)
        try:
            if real:
                await broker.publish(payload, destination)
                return JSONResponse("ok", 200)
            backend = sniffio.current_async_library()
            lock = self._dry_runs.get(backend) or self._dry_runs.setdefault(backend, anyio.Lock())
            async with lock:
                reply = await _where_broker_runs(
                    broker, _dry_run, broker, self.brokers, payload, destination
                )
        except SubscriberNotFound:
            return _details("destination not found", 404)
        except _INVALID_PAYLOAD as exc:
            log.warning("try-it-out: the payload for %r does not validate: %s", destination, exc)
            return _details("the message does not match what the subscriber takes", 422)
        except Exception:
            action = "publish" if real else "dry run"
            log.exception("try-it-out: %s to %r failed", action, destination)
            return _details("Internal Server Error", 500)
        return JSONResponse(reply, 200)

    def _broker_for(self, channel: str, destination: str) -> BrokerUsecase[Any, Any, Any] | None:
        if len(self.brokers) == 1:
            return self.brokers[0]
        for broker in self.brokers:
            if channel in _channels(broker):
                return broker
        for broker in self.brokers:
            if destination in _destinations(broker):
                return broker
        return None


async def _where_broker_runs(
    broker: Any, fn: Callable[..., Awaitable[T]], /, *args: Any
) -> T:
    """Await ``fn(*args)`` where the broker's subscribers run.

    NATS runs natively on every backend (faststream's test client too, once the
    adapters are installed); other brokers on trio run in a trio-asyncio loop.
    """

    async def inside() -> T:
        if sniffio.current_async_library() == "trio" and not _runs_natively(broker):
            # Not started by anystream on this trio host (faststream's TestBroker
            # around the app, say): its test client still needs an asyncio loop.
            try:
                async with open_runtime(repoint_get_running_loop) as runtime:
                    return await runtime.call(fn, *args)
            except Exception as exc:
                raise unwrap_group(exc) from None  # the error itself, not a task group's
        return await fn(*args)

    return await runtime_for(broker).call(inside)


def _runs_natively(broker: Any) -> bool:
    from faststream.nats import NatsBroker

    if not isinstance(broker, NatsBroker):
        return False
    from .._adapters.faststream import install

    install()  # faststream's test client on anyio: works on trio as on asyncio
    return True


async def _dry_run(
    broker: Any, brokers: Sequence[Any], payload: Any, destination: str
) -> Any:
    test_broker = find_test_broker(broker)
    if test_broker is None:
        raise RuntimeError(f"no test broker for {type(broker).__name__}")
    same_kind = [b for b in brokers if b is not broker and find_test_broker(b) is test_broker]
    # faststream's test broker leaves every subscriber marked not running on exit
    # (faststream 0.7.x): on a live app that stops consumption. Put them back.
    running = {sub: sub.running for b in (broker, *same_kind) for sub in b.subscribers}
    try:
        async with test_broker(broker, *same_kind):
            reply = await broker.request(payload, destination, timeout=DRY_RUN_TIMEOUT)
            decoded = None
            with suppress(Exception):
                decoded = await reply.decode()
    finally:
        for sub, was_running in running.items():
            sub.running = was_running
    if decoded is None or decoded == b"":
        return "ok"
    if isinstance(decoded, bytes):
        return decoded.decode("utf-8", "replace")
    return decoded


def _channels(broker: Any) -> set[str]:
    """AsyncAPI channel keys of a broker's subscribers and publishers."""
    channels: set[str] = set()
    for endpoint in (*broker.subscribers, *broker.publishers):
        with suppress(Exception):
            channels.update(endpoint.schema())
    return channels


def _destinations(broker: Any) -> set[str]:
    """Subjects (channel keys before ``:``) a broker's subscribers and publishers declare."""
    return {key.split(":", 1)[0] for key in _channels(broker)}


def _declares(broker: Any, destination: str) -> bool:
    """Whether a declared subject is ``destination`` or matches it (NATS ``*`` / ``>``)."""
    tokens = destination.split(".")
    for declared in _destinations(broker):
        pattern = declared.split(".")
        for i, part in enumerate(pattern):
            if part == ">" and i == len(pattern) - 1:
                if len(tokens) > i:
                    return True
                break
            if i >= len(tokens) or (part != "*" and part != tokens[i]):
                break
        else:
            if len(pattern) == len(tokens):
                return True
    return False


def make_try_it_out_handler(
    brokers: Iterable[BrokerUsecase[Any, Any, Any]],
    description: str | None = None,
    tags: Sequence[Tag | TagDict | dict[str, Any]] | None = None,
    unique_id: str | None = None,
    include_in_schema: bool = False,
    *,
    send_to_real_broker: bool = False,
) -> PostHandler:
    """The POST handler the AsyncAPI page's try-it-out plugin calls.

    Dry runs only, unless ``send_to_real_broker=True``: then a form with
    ``"sendToRealBroker": true`` publishes its payload through the real broker.
    Whoever reaches this route can do that: serve it on an internal bind.
    """
    processor = TryItOut(brokers, send_to_real_broker=send_to_real_broker)

    @post(
        description=description,
        tags=tags,
        unique_id=unique_id,
        include_in_schema=include_in_schema,
    )
    async def try_it_out(request: Request) -> AsgiResponse:
        form = await request.json()  # malformed: 422, too large: 413
        if not isinstance(form, dict):
            return _details("expected a JSON object with channelName", 400)
        return await processor.process(form)

    return try_it_out
