"""faststream's FastAPI integration for NATS, on :mod:`anystream.nats`.

``from anystream.nats.fastapi import NatsRouter`` is faststream's ``NatsRouter`` whose
broker is :class:`anystream.nats.NatsBroker`: the same router API (``@router.subscriber``,
``router.lifespan_context``, dependencies), with NATS on anystream's own client, so a
FastAPI app served on trio consumes NATS too.
"""

from __future__ import annotations

from typing import Any

from faststream.nats.fastapi import NatsRouter as _FaststreamNatsRouter

from .broker import NatsBroker
from .options import (
    DEFAULT_BACKLOG_LIMIT,
    DEFAULT_BACKLOG_READ_SIZE,
    DEFAULT_READ_CHECKPOINT_BUDGET,
    DEFAULT_READ_CHECKPOINT_EVENTS,
    pacing_options,
)

__all__ = ("NatsRouter",)


class NatsRouter(_FaststreamNatsRouter):
    """faststream's FastAPI ``NatsRouter`` with :class:`anystream.nats.NatsBroker`.

    Takes faststream's arguments plus the reader pacing that :class:`NatsBroker` takes
    (``backlog_limit``, ``backlog_read_size``, ``read_checkpoint_events``,
    ``read_checkpoint_budget``), for its broker's connection.
    """

    broker_class = NatsBroker

    def __init__(
        self,
        *args: Any,
        backlog_limit: int | None = DEFAULT_BACKLOG_LIMIT,
        backlog_read_size: int = DEFAULT_BACKLOG_READ_SIZE,
        read_checkpoint_events: int = DEFAULT_READ_CHECKPOINT_EVENTS,
        read_checkpoint_budget: float = DEFAULT_READ_CHECKPOINT_BUDGET,
        **kwargs: Any,
    ) -> None:
        pacing = pacing_options(
            backlog_limit=backlog_limit,
            backlog_read_size=backlog_read_size,
            read_checkpoint_events=read_checkpoint_events,
            read_checkpoint_budget=read_checkpoint_budget,
        )
        super().__init__(*args, **kwargs)
        broker = self.broker
        assert isinstance(broker, NatsBroker)
        broker.client_options.update(pacing)
