"""The JetStream context: publish with acks, push and pull consumers, KV, object store.

::

    async with anystream.nats.connect(url) as nc:
        js = JetStream(nc)
        await js.add_stream(name="orders", subjects=["orders.*"])
        ack = await js.publish("orders.new", b"1")
        sub = await js.pull_subscribe("orders.*", durable="worker")
        for msg in await sub.fetch(10, timeout=1):
            await msg.ack()

Built on the core client's public API only (``request``, ``publish``, ``subscribe``,
``new_inbox``), so it runs wherever the client runs: asyncio, uvloop and trio. Configs
and results are nats-py's ``nats.js.api`` dataclasses; management (streams, consumers,
stored messages) comes from :class:`~.manager.JetStreamManager`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nats.js import api

from ..errors import NatsTimeoutError, NoRespondersError
from .errors import APITimeoutError, BadBucketError, NoStreamResponseError
from .kv_protocol import kv_stream_config
from .manager import JetStreamManager, check_api_response, load, validate_name
from .object_store_data import obj_stream_config
from .publish import AsyncPublisher, PubAckFuture, pub_headers
from .pull import PullSubscription, bind_pull
from .pull import pull_subscribe as _pull_subscribe
from .push import DEFAULT_PENDING_BYTES, DEFAULT_PENDING_MSGS
from .push import subscribe as _push_subscribe

if TYPE_CHECKING:
    from .kv import KeyValue
    from .object_store import ObjectStore

__all__ = ("JetStream",)


class JetStream(JetStreamManager):
    """JetStream on an :class:`anystream.nats.Client` (nats-py's JetStreamContext API).

    ``prefix`` is the API subject prefix; ``domain`` selects a JetStream domain (it
    overrides ``prefix``); ``timeout`` is the default for API requests and publishes.
    """

    _async: AsyncPublisher | None = None  # the publish_async pipeline, once used

    # ================================================================= publish

    async def publish(
        self,
        subject: str,
        payload: bytes = b"",
        timeout: float | None = None,
        stream: str | None = None,
        headers: dict[str, str] | None = None,
        msg_ttl: float | None = None,
    ) -> api.PubAck:
        """Publish to a stream and wait for its ack (raises the mapped error if refused).

        Deduplication and optimistic concurrency go in ``headers``, as with nats-py:
        ``Nats-Msg-Id``, ``Nats-Expected-Last-Sequence``, ``Nats-Expected-Last-Msg-Id``...
        ``msg_ttl`` is the message's own time to live in seconds (the stream needs
        ``allow_msg_ttl``).
        """
        try:
            msg = await self._nc.request(
                subject,
                payload,
                timeout=timeout or self._timeout,
                headers=pub_headers(headers, stream, msg_ttl),
            )
        except NatsTimeoutError:
            raise APITimeoutError(
                f"no ack from a stream for the publish to {subject!r} within "
                f"{timeout or self._timeout} s"
            ) from None
        except NoRespondersError:
            raise NoStreamResponseError(subject) from None
        return load(api.PubAck, check_api_response(msg.data))

    async def publish_async(
        self,
        subject: str,
        payload: bytes = b"",
        wait_stall: float | None = None,
        stream: str | None = None,
        headers: dict[str, str] | None = None,
        msg_ttl: float | None = None,
    ) -> PubAckFuture:
        """Publish without waiting for the ack: ``await`` the returned future for it.

        At most ``max_pending`` (4000) acks are outstanding; beyond that this waits for
        room up to ``wait_stall`` seconds, then raises :class:`TooManyStalledMsgsError`.
        """
        if self._async is None:
            self._async = AsyncPublisher(self._nc)
        return await self._async.publish(
            subject, payload, headers=pub_headers(headers, stream, msg_ttl), wait_stall=wait_stall
        )

    def publish_async_pending(self) -> int:
        return 0 if self._async is None else self._async.pending

    async def publish_async_completed(self, timeout: float | None = None) -> None:
        """Wait until every ``publish_async`` got its ack (or error)."""
        if self._async is not None:
            await self._async.completed(timeout)

    # ================================================================= consumers

    # Create (or bind to) a consumer: nats-py's signatures, written once, in push.py / pull.py.
    subscribe = _push_subscribe
    pull_subscribe = _pull_subscribe

    async def pull_subscribe_bind(
        self,
        durable: str | None = None,
        stream: str | None = None,
        inbox_prefix: str | bytes | None = None,
        pending_msgs_limit: int = DEFAULT_PENDING_MSGS,
        pending_bytes_limit: int = DEFAULT_PENDING_BYTES,
        name: str | None = None,
    ) -> PullSubscription:
        """Pull from an existing consumer of ``stream`` (``durable`` or ``name``), as is."""
        consumer = name or durable
        if not stream or not consumer:
            raise ValueError("pull_subscribe_bind() needs the stream and the consumer's name")
        validate_name("stream", stream)
        validate_name("consumer", consumer)
        return await bind_pull(
            self, stream, consumer, inbox_prefix, pending_msgs_limit, pending_bytes_limit
        )

    # ================================================================= KV / object store

    async def key_value(self, bucket: str) -> KeyValue:
        """Open a key-value bucket; :class:`BucketNotFoundError` if there is none."""
        from .kv import KeyValue

        info = await KeyValue._stream_info_of(self, bucket)
        if (info.config.max_msgs_per_subject or 0) < 1:
            raise BadBucketError(f"stream {info.config.name!r} is not a key-value bucket")
        return KeyValue._on_stream(self, bucket, info)

    async def create_key_value(
        self, config: api.KeyValueConfig | None = None, **params: Any
    ) -> KeyValue:
        """Create a key-value bucket (or open it, when one with the same settings exists)."""
        from .kv import KeyValue

        if config is None:
            config = api.KeyValueConfig(bucket=params["bucket"])
        config = config.evolve(**params)
        info = await self.add_stream(kv_stream_config(config))
        return KeyValue._on_stream(self, config.bucket, info)

    async def delete_key_value(self, bucket: str) -> bool:
        """Delete the key-value bucket and everything in it."""
        from .kv import KeyValue

        return bool(await KeyValue._delete(self, bucket))

    async def object_store(self, bucket: str) -> ObjectStore:
        """Open an object store bucket; :class:`BucketNotFoundError` if there is none."""
        from .object_store import ObjectStore

        return ObjectStore._on_stream(self, bucket, await ObjectStore._stream_info_of(self, bucket))

    async def create_object_store(
        self, bucket: str | None = None, config: api.ObjectStoreConfig | None = None, **params: Any
    ) -> ObjectStore:
        """Create an object store bucket (or open it, when one with the same settings exists)."""
        from .object_store import ObjectStore

        config = (config or api.ObjectStoreConfig()).evolve(**params)
        if bucket is not None:
            config = config.evolve(bucket=bucket)
        stream = obj_stream_config(config)
        info = await self.add_stream(stream)
        assert config.bucket is not None
        return ObjectStore._on_stream(self, config.bucket, info)

    async def delete_object_store(self, bucket: str) -> bool:
        """Delete the object store bucket and every object in it."""
        from .object_store import ObjectStore

        return bool(await ObjectStore._delete(self, bucket))
