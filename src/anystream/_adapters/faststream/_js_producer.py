"""faststream's JetStream producer: ``broker.request(..., stream=...)`` on anyio."""

from __future__ import annotations

from contextlib import suppress
from typing import Any

import anyio

from .._contract import (
    Assumption,
    Patch,
    unchanged,
    uses,
)

__all__ = (
    "ASSUMPTIONS",
    "PATCHES",
    "js_producer_request",
)

_JS_PRODUCER = "faststream.nats.publisher.producer:NatsJSFastProducer"


# --------------------------------------------------------------------------------------
# 5. NatsJSFastProducer.request: the reply read from its inbox subscription
# --------------------------------------------------------------------------------------


async def js_producer_request(self: Any, cmd: Any) -> Any:
    """Upstream's ``NatsJSFastProducer.request`` without an ``asyncio.Future``.

    Upstream subscribes the reply inbox with ``subscribe(inbox, future=asyncio.Future())``
    (nats-py sets the future's result from its reader) and awaits the future: asyncio-only,
    and an API of nats-py's client alone. Here the inbox is an ordinary one-message
    subscription read with ``next_msg()`` (the call faststream's core subscriber already
    makes), under the same ``anyio.fail_after(cmd.timeout)``; the rest is upstream's.
    """
    from nats.aio.client import NO_RESPONDERS_STATUS
    from nats.errors import (
        ConnectionClosedError,
        ConnectionDrainingError,
        NoRespondersError,
    )
    from nats.js.api import Header

    payload, content_type = await self.codec.encode(cmd.body, self.serializer)

    connection = self._NatsJSFastProducer__state.connection
    reply_to = connection._nc.new_inbox()
    sub = await connection._nc.subscribe(reply_to, max_msgs=1)
    try:
        await sub.unsubscribe(limit=1)

        headers_to_send = {
            "content-type": content_type or "",
            "reply_to": reply_to,
            **cmd.headers_to_publish(js=False),
        }

        with anyio.fail_after(cmd.timeout):
            await connection.publish(
                subject=cmd.destination,
                payload=payload,
                headers=headers_to_send,
                stream=cmd.stream,
                timeout=cmd.timeout,
            )

            # No timeout of its own: fail_after above bounds the wait
            msg = await sub.next_msg(timeout=None)

            if (  # pragma: no cover
                msg.headers and (msg.headers.get(Header.STATUS) == NO_RESPONDERS_STATUS)
            ):
                raise NoRespondersError

            return msg
    finally:
        # The one-message limit cannot remove an inbox that never receives a reply.
        with (
            anyio.CancelScope(shield=True),
            suppress(
                ConnectionClosedError,
                ConnectionDrainingError,
            ),
        ):
            await sub.unsubscribe()


# --------------------------------------------------------------------------------------
# What these replacements assume, and the patches
# --------------------------------------------------------------------------------------

#: Checked by :func:`~anystream._adapters.faststream.install` before it patches anything.
ASSUMPTIONS: tuple[Assumption, ...] = (
    # 5. NatsJSFastProducer.request
    Assumption(
        "NatsJSFastProducer.request still awaits an asyncio.Future",
        uses(_JS_PRODUCER, "request", "asyncio", "Future"),
    ),
    Assumption(
        "NatsJSFastProducer.request is the 0.7.8 code our copy is based on",
        unchanged(_JS_PRODUCER, "request", "6ff3b14e58b53548", copy_in=__name__),
    ),
    Assumption(
        "NatsJSFastProducer keeps its connection state in the private __state",
        uses(_JS_PRODUCER, "connect", "_NatsJSFastProducer__state"),
    ),
)

PATCHES: tuple[Patch, ...] = (Patch(_JS_PRODUCER, "request", js_producer_request),)
