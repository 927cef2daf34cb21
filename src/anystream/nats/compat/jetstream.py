"""nats-py's ``JetStreamContext`` API over the nats-py-shaped facade.

Management (nats-py's ``JetStreamManager``: streams, consumers, stored messages) and
``publish`` are nats-py's own code: they only call ``self._nc.request`` and parse JSON,
so they run unchanged over :class:`~anystream.nats.compat.client.Client` on any backend
and raise nats-py's ``nats.js.errors``. What nats-py implements with asyncio (push and
pull consumers, key-value and object stores with their watchers) runs on
:mod:`anystream.nats.js` here, behind nats-py's signatures, message class and errors.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

import nats.errors

import nats.js
from nats.js import api

from ..._adapters.nats_py import js_api_prefix
from ..errors import NatsError, NatsTimeoutError, SubscriptionClosedError
from ..js import JetStream
from ..js.errors import FetchTimeoutError
from ..js.pull import PullSubscription as NativePull
from ..js.push import PushSubscription as NativePush
from .client import DeliveringSubscription, FacadeSubscription, Msg
from .errors import as_nats_py, nats_py_errors

if TYPE_CHECKING:
    from ..js.kv import KeyValue as NativeKeyValue
    from ..js.msg import JsMsg
    from ..js.object_store import ObjectStore as NativeObjectStore
    from .client import Client

__all__ = (
    "JetStreamContext",
    "KeyValue",
    "ObjectStore",
    "PullSubscription",
    "PushSubscription",
    "Watcher",
)

Callback = Callable[[Msg], Awaitable[None]]
P = ParamSpec("P")
R = TypeVar("R")


def _nats_py_signature(
    method: Callable[Concatenate[Any, P], object],
) -> Callable[
    [Callable[[JetStreamContext, dict[str, Any]], Awaitable[R]]],
    Callable[Concatenate[JetStreamContext, P], Awaitable[R]],
]:
    """A facade method with nats-py's signature of ``method``, written once (nats-py's own).

    The decorated method gets the call's arguments by name, defaults filled in, as a
    dict to forward: faststream calls with nats-py's names, positions and defaults, and
    nothing restates them. ``inspect.signature`` and mypy both see nats-py's.
    """
    signature = inspect.signature(method)

    def decorate(
        forward: Callable[[JetStreamContext, dict[str, Any]], Awaitable[R]],
    ) -> Callable[Concatenate[JetStreamContext, P], Awaitable[R]]:
        @functools.wraps(forward)
        async def call(self: JetStreamContext, /, *args: P.args, **kwargs: P.kwargs) -> R:
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            options = dict(bound.arguments)
            del options["self"]
            return await forward(self, options)

        call.__signature__ = signature  # type: ignore[attr-defined]
        return call

    return decorate


class _Translated:
    """Forwards to an :mod:`anystream.nats.js` object; its errors come out as nats-py's."""

    _inner: Any

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not inspect.iscoroutinefunction(attr):
            return attr

        @functools.wraps(attr)
        async def call(*args: Any, **kwargs: Any) -> Any:
            with nats_py_errors():
                return await attr(*args, **kwargs)

        return call

    def __repr__(self) -> str:
        return f"<nats-py facade of {self._inner!r}>"


class _TranslatedAwaitable:
    """An awaitable whose errors come out as nats-py's (a ``publish_async`` future)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __await__(self) -> Any:
        return self._wait().__await__()

    async def _wait(self) -> Any:
        with nats_py_errors():
            return await self._inner


class Watcher(_Translated):
    """A KV or object-store watcher: ``updates(timeout)``, ``async for``, ``stop()``."""

    async def updates(self, timeout: float | None = 5.0) -> Any:
        with nats_py_errors():
            return await self._inner.updates(timeout)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Any]:
        with nats_py_errors():
            async for update in self._inner:
                yield update

    async def __aenter__(self) -> Watcher:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        with nats_py_errors():
            await self._inner.__aexit__(*exc_info)


class KeyValue(_Translated):
    """nats-py's ``KeyValue`` API (``get``/``put``/``watch``...) on :mod:`anystream.nats.js`."""

    _inner: NativeKeyValue
    Entry = nats.js.kv.KeyValue.Entry

    async def watch(self, keys: Any, **kwargs: Any) -> Watcher:
        with nats_py_errors():
            return Watcher(await self._inner.watch(keys, **kwargs))

    async def watchall(self, **kwargs: Any) -> Watcher:
        with nats_py_errors():
            return Watcher(await self._inner.watchall(**kwargs))


class ObjectStore(_Translated):
    """nats-py's ``ObjectStore`` API (``put``/``get``/``watch``...) on :mod:`anystream.nats.js`."""

    _inner: NativeObjectStore

    async def watch(self, **kwargs: Any) -> Watcher:
        with nats_py_errors():
            return Watcher(await self._inner.watch(**kwargs))


class PushSubscription(DeliveringSubscription[NativePush]):
    """nats-py's ``JetStreamContext.PushSubscription`` API over a native push consumer."""

    async def consumer_info(self) -> api.ConsumerInfo:
        with nats_py_errors():
            return await self._native.consumer_info()

    async def next_msg(self, timeout: float | None = 1.0) -> Msg:
        try:
            msg = await self._native.next_msg(timeout)
        except NatsError as exc:
            if isinstance(exc, NatsTimeoutError | SubscriptionClosedError):
                raise nats.errors.TimeoutError from exc
            raise as_nats_py(exc) from exc
        return Msg.from_native(self._client, msg)

    async def unsubscribe(self) -> None:
        with nats_py_errors():
            await self._native.unsubscribe()


class PullSubscription(FacadeSubscription[NativePull]):
    """nats-py's ``JetStreamContext.PullSubscription`` API over a native pull consumer."""

    async def consumer_info(self) -> api.ConsumerInfo:
        with nats_py_errors():
            return await self._native.consumer_info()

    async def fetch(
        self, batch: int = 1, timeout: float | None = 5, heartbeat: float | None = None
    ) -> list[Msg]:
        """Up to ``batch`` messages; ``nats.errors.TimeoutError`` when none came in time.

        nats-py's semantics: what is available now comes back at once; with nothing
        available it waits (up to ``timeout``) for the first message, then returns it with
        whatever else is available by then. It never holds messages back to fill the
        batch: a handler would start late, and messages past their ``ack_wait`` would be
        redelivered into the same batch.
        """
        fetch = self._native._fetch
        with nats_py_errors():
            try:
                msgs = await fetch(batch, timeout, None, True, None)
            except FetchTimeoutError:
                msgs = await fetch(1, timeout, heartbeat, False, None)
                if batch > 1:
                    with contextlib.suppress(FetchTimeoutError):
                        msgs += await fetch(batch - 1, timeout, None, True, None)
        client = self._client
        return [Msg.from_native(client, msg) for msg in msgs]

    async def unsubscribe(self) -> None:
        with nats_py_errors():
            await self._native.unsubscribe()


class JetStreamContext(nats.js.JetStreamContext):
    """nats-py's ``JetStreamContext`` over the facade (``isinstance`` holds for faststream)."""

    def __init__(
        self,
        conn: Client,
        prefix: str = api.DEFAULT_PREFIX,
        domain: str | None = None,
        timeout: float = 5,
        publish_async_max_pending: int = 4000,
    ) -> None:
        super().__init__(
            conn,  # type: ignore[arg-type]
            prefix=prefix,
            domain=domain,
            timeout=timeout,
            publish_async_max_pending=publish_async_max_pending,
        )
        self._facade = conn
        self._native_js = JetStream(conn.native, prefix=js_api_prefix(self), timeout=timeout)

    @property
    def native(self) -> JetStream:
        """The :class:`anystream.nats.js.JetStream` under this context."""
        return self._native_js

    # ----------------------------------------------------------------- pipelined publish

    @_nats_py_signature(nats.js.JetStreamContext.publish_async)
    async def publish_async(self, options: dict[str, Any]) -> Any:  # type: ignore[override]
        """Publish without waiting for the ack: ``await`` the returned future for it."""
        with nats_py_errors():
            future = await self._native_js.publish_async(**options)
        return _TranslatedAwaitable(future)

    def publish_async_pending(self) -> int:
        return self._native_js.publish_async_pending()

    async def publish_async_completed(self) -> None:  # type: ignore[override]
        with nats_py_errors():
            await self._native_js.publish_async_completed()

    # ----------------------------------------------------------------- consumers

    @_nats_py_signature(nats.js.JetStreamContext.subscribe)
    async def subscribe(self, options: dict[str, Any]) -> PushSubscription:  # type: ignore[override]
        """Create (or bind to) a push consumer; ``cb`` gets each message as nats-py's ``Msg``.

        As nats-py does, a message the callback did not ack/nak/term is acked after it
        returns, unless ``manual_ack`` or the consumer's ack policy is ``none``.
        """
        facade = self._facade
        cb: Callback | None = options.pop("cb")
        manual_ack: bool = options.pop("manual_ack")
        config: api.ConsumerConfig | None = options["config"]
        native_cb = None
        if cb is not None:
            user_cb = cb
            auto_ack = not manual_ack and (
                config is None or config.ack_policy not in (api.AckPolicy.NONE, "none")
            )

            async def native_cb(js_msg: JsMsg) -> None:
                msg = Msg.from_native(facade, js_msg)
                await user_cb(msg)
                if auto_ack and not msg.is_acked:
                    with contextlib.suppress(nats.errors.MsgAlreadyAckdError):
                        await msg.ack()

        options["queue"] = options["queue"] or None
        with nats_py_errors():
            native = await self._native_js.subscribe(cb=native_cb, manual_ack=True, **options)
        return PushSubscription(facade, native)

    @_nats_py_signature(nats.js.JetStreamContext.pull_subscribe)
    async def pull_subscribe(self, options: dict[str, Any]) -> PullSubscription:  # type: ignore[override]
        """Create (or bind to) a pull consumer; ``fetch`` from it."""
        inbox_prefix = options["inbox_prefix"]
        if isinstance(inbox_prefix, bytes | bytearray):
            inbox_prefix = bytes(inbox_prefix).decode()
        if inbox_prefix == self._facade._inbox_prefix.decode():
            inbox_prefix = None  # nats-py's default: the connection's own prefix
        options["inbox_prefix"] = inbox_prefix
        with nats_py_errors():
            native = await self._native_js.pull_subscribe(**options)
        return PullSubscription(self._facade, native)

    @_nats_py_signature(nats.js.JetStreamContext.pull_subscribe_bind)
    async def pull_subscribe_bind(self, options: dict[str, Any]) -> PullSubscription:  # type: ignore[override]
        """Pull from an existing consumer (nats-py's signature: ``consumer`` comes first)."""
        consumer = options.pop("consumer")
        options["durable"] = options["durable"] or consumer
        with nats_py_errors():
            native = await self._native_js.pull_subscribe_bind(**options)
        return PullSubscription(self._facade, native)

    # ----------------------------------------------------------------- key-value

    async def key_value(self, bucket: str) -> KeyValue:  # type: ignore[override]
        with nats_py_errors():
            return KeyValue(await self._native_js.key_value(bucket))

    async def create_key_value(  # type: ignore[override]
        self, config: api.KeyValueConfig | None = None, **params: Any
    ) -> KeyValue:
        with nats_py_errors():
            return KeyValue(await self._native_js.create_key_value(config, **params))

    async def delete_key_value(self, bucket: str) -> bool:
        with nats_py_errors():
            return await self._native_js.delete_key_value(bucket)

    # ----------------------------------------------------------------- object store

    async def object_store(self, bucket: str) -> ObjectStore:  # type: ignore[override]
        with nats_py_errors():
            return ObjectStore(await self._native_js.object_store(bucket))

    async def create_object_store(  # type: ignore[override]
        self,
        bucket: str | None = None,
        config: api.ObjectStoreConfig | None = None,
        **params: Any,
    ) -> ObjectStore:
        with nats_py_errors():
            return ObjectStore(await self._native_js.create_object_store(bucket, config, **params))

    async def delete_object_store(self, bucket: str) -> bool:
        with nats_py_errors():
            return await self._native_js.delete_object_store(bucket)
