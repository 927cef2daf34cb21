"""nats-py's ``JetStreamContext`` API over the nats-py-shaped facade.

Management (nats-py's ``JetStreamManager``: streams, consumers, messages) and
``publish`` are nats-py's own code: they only call ``self._nc.request`` and parse JSON,
so they run unchanged over :class:`~anystream.nats.compat.client.Client` on any backend
and raise nats-py's ``nats.js.errors``. What nats-py implements with asyncio (push and
pull consumers, key-value and object-store watchers) is delegated to
:mod:`anystream.nats.js` when it is available.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import nats.js

if TYPE_CHECKING:
    from .client import Client

__all__ = ("JetStreamContext",)


class JetStreamContext(nats.js.JetStreamContext):
    """nats-py's ``JetStreamContext`` over the facade (``isinstance`` holds for faststream)."""

    def __init__(
        self,
        conn: Client,
        prefix: str = nats.js.api.DEFAULT_PREFIX,
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
        self._domain = domain
