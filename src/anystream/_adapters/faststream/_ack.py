"""faststream's acknowledgement middleware: a cancelled handler is cancelled on every backend."""

from __future__ import annotations

import functools
import logging
from typing import Any

import anyio

from .._contract import (
    Assumption,
    Patch,
    all_of,
    defines,
    unchanged,
    uses,
)

__all__ = (
    "ASSUMPTIONS",
    "PATCHES",
    "ack_middleware_aexit",
)

_ACK = "faststream.middlewares.acknowledgement.middleware:_AcknowledgementMiddleware"


# --------------------------------------------------------------------------------------
# 3. The acknowledgement middleware: a cancelled handler is cancelled on every backend
# --------------------------------------------------------------------------------------


@functools.cache
def _names() -> tuple[Any, ...]:
    """faststream's names the copy below reads, imported once (not on every message)."""
    from faststream.exceptions import AckMessage, HandlerException, NackMessage, RejectMessage
    from faststream.middlewares.acknowledgement.config import AckPolicy

    return AckMessage, HandlerException, NackMessage, RejectMessage, AckPolicy


async def ack_middleware_aexit(
    self: Any,
    exc_type: type[BaseException] | None = None,
    exc_val: BaseException | None = None,
    exc_tb: Any = None,
) -> bool | None:
    """Upstream's ``_AcknowledgementMiddleware.__aexit__`` with one line changed.

    Upstream tells a cancelled handler from a failed one with ``isinstance(exc_val,
    asyncio.CancelledError)``; on trio the cancellation is ``trio.Cancelled``, which fell
    through to the ``REJECT_ON_ERROR``/``NACK_ON_ERROR`` branches: a JetStream message whose
    handler was cancelled (shutdown) was TERMed or NAKed as if the handler had failed. Here
    the check is ``anyio.get_cancelled_exc_class()`` (``asyncio.CancelledError`` on asyncio,
    so nothing changes there): a cancelled handler's message is left to redelivery.
    """
    AckMessage, HandlerException, NackMessage, RejectMessage, AckPolicy = _names()

    if self.ack_policy is AckPolicy.ACK_FIRST:
        if self.message is None:
            await self._AcknowledgementMiddleware__ack()
        return False

    if not exc_type:
        # upstream's ``await self.__ack()``: ``__resolve_message`` answers ``self.message``
        # (set by ``consume_scope``) and ``__do_with_logging`` awaits its ``ack()``, logging
        # an error at CRITICAL: the same inline, with upstream's calls when it is not set
        message = self.message
        if message:
            try:
                await message.ack()
            except Exception as er:
                if self.logger is not None:
                    self.logger.log(repr(er), logging.CRITICAL, exc_info=er)
        else:
            await self._AcknowledgementMiddleware__ack()

    elif isinstance(exc_val, HandlerException):
        if isinstance(exc_val, AckMessage):
            await self._AcknowledgementMiddleware__ack(**exc_val.extra_options)

        elif isinstance(exc_val, NackMessage):
            await self._AcknowledgementMiddleware__nack(**exc_val.extra_options)

        elif isinstance(exc_val, RejectMessage):  # pragma: no branch
            await self._AcknowledgementMiddleware__reject(**exc_val.extra_options)

        # Exception was processed and suppressed
        return True

    elif isinstance(exc_val, anyio.get_cancelled_exc_class()):
        return False

    elif self.ack_policy is AckPolicy.REJECT_ON_ERROR:
        await self._AcknowledgementMiddleware__reject()

    elif self.ack_policy is AckPolicy.NACK_ON_ERROR:
        await self._AcknowledgementMiddleware__nack()

    elif self.ack_policy is AckPolicy.ACK:
        await self._AcknowledgementMiddleware__ack()

    # Exception was not processed
    return False


# --------------------------------------------------------------------------------------
# What these replacements assume, and the patches
# --------------------------------------------------------------------------------------

#: Checked by :func:`~anystream._adapters.faststream.install` before it patches anything.
ASSUMPTIONS: tuple[Assumption, ...] = (
    # 3. acknowledgement middleware
    Assumption(
        "_AcknowledgementMiddleware.__aexit__ still checks asyncio.CancelledError",
        uses(_ACK, "__aexit__", "asyncio", "CancelledError"),
    ),
    Assumption(
        "_AcknowledgementMiddleware.__aexit__ is the 0.7.8 code our copy is based on",
        unchanged(_ACK, "__aexit__", "83844de287f2bac0", copy_in=__name__),
    ),
    Assumption(
        "_AcknowledgementMiddleware.__ack acks self.message (else the fallback parser's) "
        "and logs a failed ack at CRITICAL (0.7.8 code, inlined in our copy)",
        all_of(
            unchanged(
                _ACK, "_AcknowledgementMiddleware__ack", "74622d0da42e2d77", copy_in=__name__
            ),
            unchanged(
                _ACK,
                "_AcknowledgementMiddleware__resolve_message",
                "72a843005d09f148",
                copy_in=__name__,
            ),
            unchanged(
                _ACK,
                "_AcknowledgementMiddleware__do_with_logging",
                "f2e428865e574db9",
                copy_in=__name__,
            ),
        ),
    ),
    Assumption(
        "_AcknowledgementMiddleware has the private __ack/__nack/__reject our copy calls",
        defines(
            _ACK,
            "_AcknowledgementMiddleware__ack",
            "_AcknowledgementMiddleware__nack",
            "_AcknowledgementMiddleware__reject",
        ),
    ),
)

PATCHES: tuple[Patch, ...] = (Patch(_ACK, "__aexit__", ack_middleware_aexit),)
