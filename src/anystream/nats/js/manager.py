"""JetStream management: account info, streams, consumers and stored messages.

Every call is one request to the JetStream API (``$JS.API.<...>``, JSON in and out)
through :meth:`JetStreamManager.api_request`: an ``error`` answer raises the exception
:mod:`.errors` maps it to, no responders raise :class:`JetStreamNotEnabledError`.
Configs and results are nats-py's ``nats.js.api`` dataclasses. :class:`~.context.JetStream` adds
publishing and consumers on top.
"""

from __future__ import annotations

import base64
import datetime
import json
from typing import TYPE_CHECKING, Any, TypeVar, cast

from nats.js import api

from ..errors import NatsTimeoutError, NoRespondersError
from ..protocol import parse_headers
from .errors import (
    APITimeoutError,
    JetStreamNotEnabledError,
    MsgNotFoundError,
    NotFoundError,
    api_error,
)

if TYPE_CHECKING:
    from ..client import Client

__all__ = ("JetStreamManager", "check_api_response", "load", "parse_time", "validate_name")

_INVALID_NAME_CHARS = frozenset(">*. /\\\t\r\n")


def validate_name(kind: str, name: str | None) -> str:
    """A stream or consumer name, checked (``ValueError`` if empty or with ``. * > /``...)."""
    if not name:
        raise ValueError(f"a {kind} name is required")
    if _INVALID_NAME_CHARS.intersection(name):
        raise ValueError(f"invalid {kind} name {name!r}: no spaces, '.', '*', '>' or slashes")
    return name


_T = TypeVar("_T")


def load(cls: type[_T], resp: dict[str, Any]) -> _T:
    """``cls.from_response(resp)``, typed (nats-py's classmethods are not annotated)."""
    return cast(_T, cls.from_response(resp))  # type: ignore[attr-defined]


def parse_time(stamp: str) -> datetime.datetime:
    """An RFC 3339 time as the server writes it (nanoseconds, ``Z``), in UTC (pure)."""
    stamp = stamp.strip().replace("Z", "+00:00").replace("z", "+00:00")
    date, dot, rest = stamp.partition(".")
    if dot:  # Python reads at most 6 fractional digits: drop the nanoseconds
        digits = len(rest) - len(rest.lstrip("0123456789"))
        stamp = f"{date}.{rest[:digits][:6].ljust(6, '0')}{rest[digits:]}"
    return datetime.datetime.fromisoformat(stamp).astimezone(datetime.timezone.utc)


def check_api_response(data: bytes) -> dict[str, Any]:
    """The JSON body of an API answer; raises the mapped error when it carries ``error``."""
    resp: dict[str, Any] = json.loads(data)
    if "error" in resp:
        raise api_error(resp["error"])
    return resp


class JetStreamManager:
    """The JetStream management API on an :class:`anystream.nats.Client` (nats-py's
    ``JetStreamManager``): account, streams, consumers, stored messages.

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
        timeout = timeout or self._timeout
        try:
            msg = await self._nc.request(f"{self._prefix}.{subject}", data, timeout=timeout)
        except NatsTimeoutError:
            raise APITimeoutError(
                f"the JetStream API did not answer {self._prefix}.{subject} within {timeout} s"
            ) from None
        except NoRespondersError:
            raise JetStreamNotEnabledError(
                f"no JetStream API answered on {self._prefix}.{subject}: is the server "
                "running with JetStream (-js) enabled for this account?",
                code=503,
            ) from None
        return check_api_response(msg.data)

    # ================================================================= account / streams

    async def account_info(self) -> api.AccountInfo:
        return load(api.AccountInfo, await self.api_request("INFO"))

    async def add_stream(
        self, config: api.StreamConfig | None = None, **params: Any
    ) -> api.StreamInfo:
        config = (config or api.StreamConfig()).evolve(**params)
        name = validate_name("stream", config.name)
        resp = await self.api_request(f"STREAM.CREATE.{name}", config.as_dict())
        return load(api.StreamInfo, resp)

    async def update_stream(
        self, config: api.StreamConfig | None = None, **params: Any
    ) -> api.StreamInfo:
        config = (config or api.StreamConfig()).evolve(**params)
        name = validate_name("stream", config.name)
        resp = await self.api_request(f"STREAM.UPDATE.{name}", config.as_dict())
        return load(api.StreamInfo, resp)

    async def delete_stream(self, name: str) -> bool:
        resp = await self.api_request(f"STREAM.DELETE.{validate_name('stream', name)}")
        return bool(resp["success"])

    async def stream_info(self, name: str, subjects_filter: str | None = None) -> api.StreamInfo:
        payload = {"subjects_filter": subjects_filter} if subjects_filter else b""
        resp = await self.api_request(f"STREAM.INFO.{validate_name('stream', name)}", payload)
        return load(api.StreamInfo, resp)

    async def find_stream_name_by_subject(self, subject: str) -> str:
        resp = await self.api_request("STREAM.NAMES", {"subject": subject})
        if not resp.get("streams"):
            raise NotFoundError(f"no stream captures subject {subject!r}", code=404)
        return str(resp["streams"][0])

    async def streams_info(self, offset: int = 0) -> list[api.StreamInfo]:
        resp = await self.api_request("STREAM.LIST", {"offset": offset})
        return [load(api.StreamInfo, s) for s in resp.get("streams") or []]

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
        return load(api.ConsumerInfo, resp)

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
        return load(api.ConsumerInfo, resp)

    async def consumers_info(
        self, stream: str, offset: int | None = None
    ) -> list[api.ConsumerInfo]:
        payload = {"offset": offset} if offset is not None else b""
        name = validate_name("stream", stream)
        resp = await self.api_request(f"CONSUMER.LIST.{name}", payload)
        return [load(api.ConsumerInfo, c) for c in resp.get("consumers") or []]

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
        raw = load(api.RawStreamMsg, message)
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
            raw.time = parse_time(stamp)
        return raw

    async def get_last_msg(
        self, stream_name: str, subject: str, direct: bool = False
    ) -> api.RawStreamMsg:
        return await self.get_msg(stream_name, subject=subject, direct=direct)

    async def delete_msg(self, stream_name: str, seq: int) -> bool:
        validate_name("stream", stream_name)
        resp = await self.api_request(f"STREAM.MSG.DELETE.{stream_name}", {"seq": seq})
        return bool(resp["success"])
