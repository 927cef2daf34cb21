"""The per-message half of anystream's broker-wide faststream middlewares.

Here, in the adapter, because :class:`PerMessage` skips ``BaseMiddleware.__init__`` and
sets the attributes faststream's middleware methods read itself (``msg``, ``context``):
it relies on what that ``__init__`` does, which faststream does not promise.

faststream asks every broker middleware for a per-message object (``middleware(msg,
context=context)``), enters it around the message and wraps the handler in its
``consume_scope`` (and a publish in its ``publish_scope``). Ours keep their state in one
broker-wide *owner*, so a message that a policy does not apply to gets one shared,
stateless object (:class:`Shared`): nothing is built per message, and its scopes call
straight through. Only a message a policy acts on (a JetStream message under the
redelivery guard) gets an object of its own (:class:`PerMessage`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

from faststream import BaseMiddleware

__all__ = ("PerMessage", "Shared")


class PerMessage(BaseMiddleware):
    """A message, its context, and the broker-wide object that decides what to do."""

    __slots__ = ("owner",)

    def __init__(self, msg: Any, /, *, context: Any, owner: Any) -> None:
        self.msg = msg
        self.context = context
        self.owner = owner

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_val: BaseException | None = None,
        exc_tb: TracebackType | None = None,
    ) -> bool:
        return False

    async def publish_scope(self, call_next: Callable[[Any], Awaitable[Any]], cmd: Any) -> Any:
        return await call_next(cmd)


class Shared(PerMessage):
    """One object for every message (and publish) of a broker: entering it awaits
    ``enter()`` if given; its scopes add nothing.

    It keeps no per-message state (``msg`` and ``context`` stay ``None``), so it serves
    concurrent messages (``max_workers``) alike.
    """

    __slots__ = ("_enter",)

    def __init__(self, owner: Any, enter: Callable[[], Awaitable[None]] | None = None) -> None:
        super().__init__(None, context=None, owner=owner)
        self._enter = enter

    async def __aenter__(self) -> Shared:
        enter = self._enter
        if enter is not None:
            await enter()
        return self

    async def consume_scope(self, call_next: Callable[[Any], Awaitable[Any]], msg: Any) -> Any:
        return await call_next(msg)
