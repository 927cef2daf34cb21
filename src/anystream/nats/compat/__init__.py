"""nats-py's client API over :mod:`anystream.nats`, for code written for nats-py.

:class:`Client` (publish, request, subscribe, ``jetstream()``...), :class:`Msg` (a
``nats.aio.msg.Msg``, so nats-py's ack code runs on it) and :class:`JetStreamContext`,
with nats-py's signatures and exceptions, on asyncio and trio alike.
"""

from .client import Client, Msg, Subscription
from .jetstream import JetStreamContext

__all__ = ("Client", "JetStreamContext", "Msg", "Subscription")
