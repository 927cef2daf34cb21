"""The per-message half of anystream's broker-wide faststream middlewares.

faststream builds one middleware object per message by calling the broker
middleware with the message. Ours (time-slicing, the redelivery guard) keep their
state in one broker-wide *owner*; the per-message object only points at it.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from faststream import BaseMiddleware

__all__ = ("PerMessage",)


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
