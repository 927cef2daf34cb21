"""The broker side: start and stop brokers on any backend, and the per-message policies.

``broker_lifespan()`` connects brokers and starts their subscribers (usable inside
any framework's lifespan); the policies it adds to each broker are the consume time
budget with slow-consumer accounting (:func:`stats`) and the opt-in redelivery guard
(``redelivery_memory``, :data:`DEFAULT_REDELIVERY_MEMORY`). What anystream needs of a
broker is :class:`BrokerLike`.
"""

from ..exceptions import BrokerAlreadyConsumingError, BrokerStartupTimeout
from ._lifespan import DEFAULT_SHUTDOWN_TIMEOUT, DEFAULT_STARTUP_TIMEOUT, broker_lifespan
from ._protocol import BrokerLike
from ._record import broker_call
from ._redelivery import DEFAULT_REDELIVERY_MEMORY
from ._slicing import DEFAULT_CONSUME_BUDGET, DEFAULT_LOG_INTERVAL, ConsumeStats, stats

__all__ = (
    "DEFAULT_CONSUME_BUDGET",
    "DEFAULT_LOG_INTERVAL",
    "DEFAULT_REDELIVERY_MEMORY",
    "DEFAULT_SHUTDOWN_TIMEOUT",
    "DEFAULT_STARTUP_TIMEOUT",
    "BrokerAlreadyConsumingError",
    "BrokerLike",
    "BrokerStartupTimeout",
    "ConsumeStats",
    "broker_call",
    "broker_lifespan",
    "stats",
)
