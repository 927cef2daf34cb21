"""faststream's FastAPI integration for NATS, on :mod:`anystream.nats`.

``from anystream.nats.fastapi import NatsRouter`` is faststream's ``NatsRouter`` whose
broker is :class:`anystream.nats.NatsBroker`: the same router API (``@router.subscriber``,
``router.lifespan_context``, dependencies), with NATS on anystream's own client, so a
FastAPI app served on trio consumes NATS too.
"""

from __future__ import annotations

from faststream.nats.fastapi import NatsRouter as _FaststreamNatsRouter

from .broker import NatsBroker

__all__ = ("NatsRouter",)


class NatsRouter(_FaststreamNatsRouter):
    """faststream's FastAPI ``NatsRouter`` with :class:`anystream.nats.NatsBroker`."""

    broker_class = NatsBroker
