"""What a key-value bucket and an object store bucket share: a stream, opened and watched.

A bucket ``B`` is one stream (``KV_B``, ``OBJ_B``): opening it reads the stream's info
(:class:`BucketNotFoundError` when there is none), deleting it deletes the stream, its
status is the stream's info, and a watch is an ordered push consumer on its subjects,
read one update at a time by a :class:`~.kv_watch.Watcher`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import anyio
from typing_extensions import Self

from nats.js import api

from .errors import BucketNotFoundError, NotFoundError
from .kv_protocol import check_bucket_name
from .kv_watch import Watcher

if TYPE_CHECKING:
    from .context import JetStream
    from .msg import JsMsg

__all__ = ("Bucket", "Status", "collect")

T = TypeVar("T")
W = TypeVar("W", bound=Watcher[Any])


@dataclass(frozen=True)
class Status:
    """A bucket's stream info (each store adds its own view of it)."""

    stream_info: api.StreamInfo
    bucket: str

    @property
    def ttl(self) -> float | None:
        """Maximum age of what is stored, in seconds (``None``: forever)."""
        return self.stream_info.config.max_age


class Bucket:
    """A bucket on its stream (``STREAM_PREFIX`` + its name); ``KIND`` names it in errors."""

    KIND: ClassVar[str]
    STREAM_PREFIX: ClassVar[str]

    def __init__(self, name: str, stream: str, js: JetStream, direct: bool) -> None:
        self._name = name
        self._stream = stream
        self._js = js
        self._direct = direct

    @property
    def bucket(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"{type(self).__name__}(bucket={self._name!r})"

    @classmethod
    def _on_stream(cls, js: JetStream, bucket: str, info: api.StreamInfo) -> Self:
        """The bucket on its stream (``info``, that stream's info)."""
        return cls(bucket, f"{cls.STREAM_PREFIX}{bucket}", js, bool(info.config.allow_direct))

    @classmethod
    async def _stream_info_of(cls, js: JetStream, bucket: str) -> api.StreamInfo:
        """The info of an existing bucket's stream; :class:`BucketNotFoundError` if none."""
        check_bucket_name(bucket)
        try:
            return await js.stream_info(f"{cls.STREAM_PREFIX}{bucket}")
        except NotFoundError:
            raise BucketNotFoundError(f"{cls.KIND} bucket {bucket!r} not found") from None

    @classmethod
    async def _delete(cls, js: JetStream, bucket: str) -> bool:
        """Delete the bucket's stream and everything in it."""
        check_bucket_name(bucket)
        try:
            return await js.delete_stream(f"{cls.STREAM_PREFIX}{bucket}")
        except NotFoundError:
            raise BucketNotFoundError(f"{cls.KIND} bucket {bucket!r} not found") from None

    async def _stream_info(self) -> api.StreamInfo:
        return await self._js.stream_info(self._stream)

    async def _watch(
        self,
        watcher: type[W],
        subject: str,
        convert: Callable[[JsMsg], Any],
        *,
        include_history: bool,
        updates_only: bool,
        **consumer: Any,
    ) -> W:
        """A ``watcher`` on an ordered consumer of ``subject`` (``consumer``: its options).

        It gives the latest message of each subject (every kept one with
        ``include_history``), then ``None``, then every new one; with ``updates_only``
        only the new ones.
        """
        if updates_only:
            deliver_policy: api.DeliverPolicy | None = api.DeliverPolicy.NEW
        elif include_history:
            deliver_policy = None
        else:
            deliver_policy = api.DeliverPolicy.LAST_PER_SUBJECT
        sub = await self._js.subscribe(
            subject,
            stream=self._stream,
            ordered_consumer=True,
            deliver_policy=deliver_policy,
            **consumer,
        )
        started = watcher(self._js, sub, convert, initial_marker=not updates_only)
        try:
            await started._start()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await sub.unsubscribe()
            raise
        return started


async def collect(watcher: Watcher[T]) -> list[T]:
    """What ``watcher`` gives up to its first ``None`` (the values present); then it stops."""
    items: list[T] = []
    async with watcher:
        async for item in watcher:
            if item is None:
                break
            items.append(item)
    return items
