"""The JetStream context: management API, publish with acks, consumers.

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
and results are nats-py's ``nats.js.api`` dataclasses.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any, TypeVar, cast

from nats.js import api

from ..errors import NoRespondersError
from ..protocol import parse_headers
from .errors import (
    JetStreamNotEnabledError,
    MsgNotFoundError,
    NoStreamResponseError,
    NotFoundError,
    api_error,
)
from .publish import AsyncPublisher, PubAckFuture, pub_headers
from .pull import PullSubscription, pull_subscribe
from .push import DEFAULT_PENDING_BYTES, DEFAULT_PENDING_MSGS, MsgHandler, PushSubscription
from .push import subscribe as push_subscribe

if TYPE_CHECKING:
    from ..client import Client
    from .kv import KeyValue
    from .object_store import ObjectStore

__all__ = ("JetStream", "check_api_response", "validate_name")

_INVALID_NAME_CHARS = frozenset(">*. /\\\t\r\n")


def validate_name(kind: str, name: str | None) -> str:
    """A stream or consumer name, checked (``ValueError`` if empty or with ``. * > /``...)."""
    if not name:
        raise ValueError(f"a {kind} name is required")
    if _INVALID_NAME_CHARS.intersection(name):
        raise ValueError(f"invalid {kind} name {name!r}: no spaces, '.', '*', '>' or slashes")
    return name


_T = TypeVar("_T")


def _load(cls: type[_T], resp: dict[str, Any]) -> _T:
    """``cls.from_response(resp)``, typed (nats-py's classmethods are not annotated)."""
    return cast(_T, cls.from_response(resp))  # type: ignore[attr-defined]


def check_api_response(data: bytes) -> dict[str, Any]:
    """The JSON body of an API answer; raises the mapped error when it carries ``error``."""
    resp: dict[str, Any] = json.loads(data)
    if "error" in resp:
        raise api_error(resp["error"])
    return resp


class JetStream:
    """JetStream on an :class:`anystream.nats.Client` (nats-py's JetStreamContext API).

    ``prefix`` is the API subject prefix; ``domain`` selects a JetStream domain (it
    overrides ``prefix``); ``timeout`` is the default for API requests and publishes.
    """

    def __init__(
        self,
        client: Client,
        *,
        prefix: str = api.DEFAULT_PREFIX,
        domain: str | None = None,
        timeout: float = 5.0,
    ) -> None:
        self._nc = client
        self._prefix = f"$JS.{domain}.API" if domain else prefix
        self._timeout = timeout
        self._async: AsyncPublisher | None = None

    @property
    def client(self) -> Client:
        return self._nc

    @property
    def prefix(self) -> str:
        return self._prefix

    @property
    def timeout(self) -> float:
        return self._timeout

    # ================================================================= API plumbing

    async def api_request(
        self, subject: str, payload: bytes | dict[str, Any] = b"", timeout: float | None = None
    ) -> dict[str, Any]:
        """Request ``<prefix>.<subject>`` and return the JSON answer (errors raised mapped)."""
        data = json.dumps(payload).encode() if isinstance(payload, dict) else payload
        try:
            msg = await self._nc.request(
                f"{self._prefix}.{subject}", data, timeout=timeout or self._timeout
            )
        except NoRespondersError:
            raise JetStreamNotEnabledError(
                f"no JetStream API answered on {self._prefix}.{subject}: is the server "
                "running with JetStream (-js) enabled for this account?",
                code=503,
            ) from None
        return check_api_response(msg.data)

    # ================================================================= account / streams

    async def account_info(self) -> api.AccountInfo:
        return _load(api.AccountInfo, await self.api_request("INFO"))

    async def add_stream(
        self, config: api.StreamConfig | None = None, **params: Any
    ) -> api.StreamInfo:
        config = (config or api.StreamConfig()).evolve(**params)
        name = validate_name("stream", config.name)
        resp = await self.api_request(f"STREAM.CREATE.{name}", config.as_dict())
        return _load(api.StreamInfo, resp)

    async def update_stream(
        self, config: api.StreamConfig | None = None, **params: Any
    ) -> api.StreamInfo:
        config = (config or api.StreamConfig()).evolve(**params)
        name = validate_name("stream", config.name)
        resp = await self.api_request(f"STREAM.UPDATE.{name}", config.as_dict())
        return _load(api.StreamInfo, resp)

    async def delete_stream(self, name: str) -> bool:
        resp = await self.api_request(f"STREAM.DELETE.{validate_name('stream', name)}")
        return bool(resp["success"])

    async def stream_info(self, name: str, subjects_filter: str | None = None) -> api.StreamInfo:
        payload = {"subjects_filter": subjects_filter} if subjects_filter else b""
        resp = await self.api_request(f"STREAM.INFO.{validate_name('stream', name)}", payload)
        return _load(api.StreamInfo, resp)

    async def find_stream_name_by_subject(self, subject: str) -> str:
        resp = await self.api_request("STREAM.NAMES", {"subject": subject})
        if not resp.get("streams"):
            raise NotFoundError(f"no stream captures subject {subject!r}", code=404)
        return str(resp["streams"][0])

    async def streams_info(self, offset: int = 0) -> list[api.StreamInfo]:
        resp = await self.api_request("STREAM.LIST", {"offset": offset})
        return [_load(api.StreamInfo, s) for s in resp.get("streams") or []]

    async def purge_stream(
        self,
        name: str,
        seq: int | None = None,
        subject: str | None = None,
        keep: int | None = None,
    ) -> bool:
        request: dict[str, Any] = {}
        if seq:
            request["seq"] = seq
        if subject:
            request["filter"] = subject
        if keep:
            request["keep"] = keep
        resp = await self.api_request(f"STREAM.PURGE.{validate_name('stream', name)}", request)
        return bool(resp["success"])

    # ================================================================= consumers

    async def add_consumer(
        self,
        stream: str,
        config: api.ConsumerConfig | None = None,
        timeout: float | None = None,
        **params: Any,
    ) -> api.ConsumerInfo:
        validate_name("stream", stream)
        config = (config or api.ConsumerConfig()).evolve(**params)
        request = {"stream_name": stream, "config": config.as_dict()}
        if config.name:
            validate_name("consumer", config.name)
            filter_subject = config.filter_subject
            subject = f"CONSUMER.CREATE.{stream}.{config.name}"
            if filter_subject and filter_subject != ">":
                subject += f".{filter_subject}"
        elif config.durable_name:
            subject = (
                f"CONSUMER.DURABLE.CREATE.{stream}.{validate_name('consumer', config.durable_name)}"
            )
        else:
            subject = f"CONSUMER.CREATE.{stream}"
        resp = await self.api_request(subject, request, timeout)
        return _load(api.ConsumerInfo, resp)

    async def delete_consumer(self, stream: str, consumer: str) -> bool:
        validate_name("stream", stream)
        resp = await self.api_request(
            f"CONSUMER.DELETE.{stream}.{validate_name('consumer', consumer)}"
        )
        return bool(resp["success"])

    async def consumer_info(
        self, stream: str, consumer: str, timeout: float | None = None
    ) -> api.ConsumerInfo:
        validate_name("stream", stream)
        resp = await self.api_request(
            f"CONSUMER.INFO.{stream}.{validate_name('consumer', consumer)}", b"", timeout
        )
        return _load(api.ConsumerInfo, resp)

    async def consumers_info(
        self, stream: str, offset: int | None = None
    ) -> list[api.ConsumerInfo]:
        payload = {"offset": offset} if offset is not None else b""
        name = validate_name("stream", stream)
        resp = await self.api_request(f"CONSUMER.LIST.{name}", payload)
        return [_load(api.ConsumerInfo, c) for c in resp.get("consumers") or []]

    # ================================================================= stored messages

    async def get_msg(
        self,
        stream_name: str,
        seq: int | None = None,
        subject: str | None = None,
        direct: bool = False,
        next: bool = False,
    ) -> api.RawStreamMsg:
        """A message stored in the stream: by ``seq``, the last on ``subject``, or with
        ``next`` the first on ``subject`` at or after ``seq``. ``direct`` uses the Direct
        Get API (any replica answers; the stream needs ``allow_direct``)."""
        validate_name("stream", stream_name)
        request: dict[str, Any] = {}
        if next:
            request = {"seq": seq or 0, "next_by_subj": subject}
        elif subject:
            request = {"last_by_subj": subject}
        elif seq:
            request = {"seq": seq}
        if direct:
            return await self._direct_get(stream_name, request, subject, seq)
        resp = await self.api_request(f"STREAM.MSG.GET.{stream_name}", request)
        message = resp["message"]
        raw = _load(api.RawStreamMsg, message)
        raw.data = base64.b64decode(message["data"]) if message.get("data") else b""
        if message.get("hdrs"):
            pairs, _, _ = parse_headers(base64.b64decode(message["hdrs"]))
            raw.headers = dict(pairs) or None
        return raw

    async def _direct_get(
        self, stream: str, request: dict[str, Any], subject: str | None, seq: int | None
    ) -> api.RawStreamMsg:
        if subject and seq is None and "last_by_subj" in request:
            target, payload = f"{self._prefix}.DIRECT.GET.{stream}.{subject}", b""
        else:
            target, payload = f"{self._prefix}.DIRECT.GET.{stream}", json.dumps(request).encode()
        try:
            msg = await self._nc.request(target, payload, timeout=self._timeout)
        except NoRespondersError:
            raise JetStreamNotEnabledError(
                f"no answer on {target}: does the stream allow direct get?", code=503
            ) from None
        if msg.status is not None and msg.status >= 300:
            if msg.status == 404:
                raise MsgNotFoundError(msg.description or "no message found", code=404)
            raise api_error({"code": msg.status, "description": msg.description})
        headers = msg.headers or {}
        raw = api.RawStreamMsg(
            subject=headers.get("Nats-Subject"),
            seq=int(headers["Nats-Sequence"]) if "Nats-Sequence" in headers else None,
            data=msg.data,
            headers=headers,
            stream=headers.get("Nats-Stream", stream),
        )
        if stamp := headers.get("Nats-Time-Stamp"):
            raw.time = api.Base._parse_utc_iso(stamp)
        return raw

    async def get_last_msg(
        self, stream_name: str, subject: str, direct: bool = False
    ) -> api.RawStreamMsg:
        return await self.get_msg(stream_name, subject=subject, direct=direct)

    async def delete_msg(self, stream_name: str, seq: int) -> bool:
        validate_name("stream", stream_name)
        resp = await self.api_request(f"STREAM.MSG.DELETE.{stream_name}", {"seq": seq})
        return bool(resp["success"])

    # ================================================================= publish

    async def publish(
        self,
        subject: str,
        payload: bytes = b"",
        timeout: float | None = None,
        stream: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> api.PubAck:
        """Publish to a stream and wait for its ack (raises the mapped error if refused).

        Deduplication and optimistic concurrency go in ``headers``, as with nats-py:
        ``Nats-Msg-Id``, ``Nats-Expected-Last-Sequence``, ``Nats-Expected-Last-Msg-Id``...
        """
        try:
            msg = await self._nc.request(
                subject,
                payload,
                timeout=timeout or self._timeout,
                headers=pub_headers(headers, stream),
            )
        except NoRespondersError:
            raise NoStreamResponseError(subject) from None
        return _load(api.PubAck, check_api_response(msg.data))

    async def publish_async(
        self,
        subject: str,
        payload: bytes = b"",
        wait_stall: float | None = None,
        stream: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> PubAckFuture:
        """Publish without waiting for the ack: ``await`` the returned future for it.

        At most ``max_pending`` (4000) acks are outstanding; beyond that this waits for
        room up to ``wait_stall`` seconds, then raises :class:`TooManyStalledMsgsError`.
        """
        if self._async is None:
            self._async = AsyncPublisher(self._nc)
        return await self._async.publish(
            subject, payload, headers=pub_headers(headers, stream), wait_stall=wait_stall
        )

    def publish_async_pending(self) -> int:
        return 0 if self._async is None else self._async.pending

    async def publish_async_completed(self, timeout: float | None = None) -> None:
        """Wait until every ``publish_async`` got its ack (or error)."""
        if self._async is not None:
            await self._async.completed(timeout)

    # ================================================================= consumers

    async def subscribe(
        self,
        subject: str,
        queue: str | None = None,
        cb: MsgHandler | None = None,
        durable: str | None = None,
        stream: str | None = None,
        config: api.ConsumerConfig | None = None,
        manual_ack: bool = False,
        ordered_consumer: bool = False,
        idle_heartbeat: float | None = None,
        flow_control: bool = False,
        pending_msgs_limit: int = DEFAULT_PENDING_MSGS,
        pending_bytes_limit: int = DEFAULT_PENDING_BYTES,
        deliver_policy: api.DeliverPolicy | None = None,
        headers_only: bool | None = None,
        inactive_threshold: float | None = None,
    ) -> PushSubscription:
        """Create (or bind to) a push consumer and subscribe to what it delivers."""
        return await push_subscribe(
            self,
            subject,
            queue=queue,
            cb=cb,
            durable=durable,
            stream=stream,
            config=config,
            manual_ack=manual_ack,
            ordered_consumer=ordered_consumer,
            idle_heartbeat=idle_heartbeat,
            flow_control=flow_control,
            pending_msgs_limit=pending_msgs_limit,
            pending_bytes_limit=pending_bytes_limit,
            deliver_policy=deliver_policy,
            headers_only=headers_only,
            inactive_threshold=inactive_threshold,
        )

    async def pull_subscribe(
        self,
        subject: str,
        durable: str | None = None,
        stream: str | None = None,
        config: api.ConsumerConfig | None = None,
        pending_msgs_limit: int = DEFAULT_PENDING_MSGS,
        pending_bytes_limit: int = DEFAULT_PENDING_BYTES,
        inbox_prefix: str | None = None,
    ) -> PullSubscription:
        """Create (or bind to) a pull consumer; :meth:`PullSubscription.fetch` from it."""
        return await pull_subscribe(
            self,
            subject,
            durable=durable,
            stream=stream,
            config=config,
            pending_msgs_limit=pending_msgs_limit,
            pending_bytes_limit=pending_bytes_limit,
            inbox_prefix=inbox_prefix,
        )

    # ================================================================= KV / object store

    async def key_value(self, bucket: str) -> KeyValue:
        from .kv import key_value

        return await key_value(self, bucket)

    async def create_key_value(
        self, config: api.KeyValueConfig | None = None, **params: Any
    ) -> KeyValue:
        from .kv import create_key_value

        return await create_key_value(self, config, **params)

    async def delete_key_value(self, bucket: str) -> bool:
        from .kv import delete_key_value

        return bool(await delete_key_value(self, bucket))

    async def object_store(self, bucket: str) -> ObjectStore:
        from .object_store import object_store

        return await object_store(self, bucket)

    async def create_object_store(
        self, bucket: str | None = None, config: api.ObjectStoreConfig | None = None, **params: Any
    ) -> ObjectStore:
        from .object_store import create_object_store

        return await create_object_store(self, bucket, config, **params)

    async def delete_object_store(self, bucket: str) -> bool:
        from .object_store import delete_object_store

        return bool(await delete_object_store(self, bucket))
