"""faststream's broker internals anystream reads or replaces (no class patched).

- A broker's connection: faststream's ``BrokerUsecase.connect()`` calls the private
  ``_connect()`` hook once and keeps what it returned in ``_connection``; the NATS
  broker's ``_connect`` is ``nats.connect(**self._connection_kwargs)`` handed to
  ``self.config.connect()``. ``anystream.nats`` replaces that hook
  (:func:`connect_with`) to connect with its own client, and reads the connection and
  its keyword arguments (:func:`connection`, :func:`connection_kwargs`).
- A broker's producers: every publish path ends at the producer (NATS: and the
  JetStream producer) its config holds; the trio runtime wraps them
  (:func:`swap_producers`) so a publish from a trio task runs in the asyncio loop.
- The test broker faststream registers for a broker class (:func:`find_test_broker`,
  try-it-out's dry run).
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .._contract import Assumption, Broken, all_of, signature, source_has

if TYPE_CHECKING:
    from faststream._internal.broker import BrokerUsecase as BrokerUsecase
else:
    BrokerUsecase = Any

__all__ = (
    "ASSUMPTIONS",
    "PRODUCER_ATTRS",
    "BrokerUsecase",
    "connect_with",
    "connection",
    "connection_kwargs",
    "connects_with",
    "find_test_broker",
    "swap_producers",
)

_USECASE = "faststream._internal.broker.broker:BrokerUsecase"
_NATS_BROKER = "faststream.nats.broker.broker:NatsBroker"

#: Attributes of a faststream broker's config that hold producers (NATS has two).
PRODUCER_ATTRS = ("producer", "js_producer")

Connect = Callable[[Any], Awaitable[Any]]


def connection(broker: Any) -> Any:
    """The connection ``broker`` made (``None`` before it connects, or if it has none)."""
    return getattr(broker, "_connection", None)


def connection_kwargs(broker: Any) -> Any:
    """The keyword arguments ``broker`` connects with (NATS: ``nats.connect()``'s), else None.

    The broker's own dict: changing it changes how the broker connects.
    """
    return getattr(broker, "_connection_kwargs", None)


def connect_with(target: Any, connect: Connect) -> None:
    """Make ``target`` (a broker class, or one broker) connect with ``connect(broker)``.

    ``connect`` replaces the broker's ``_connect`` hook: it must return the connection
    and hand it to the broker's config, as the hook it replaces does.
    """
    if isinstance(target, type):
        setattr(target, "_connect", connect)  # noqa: B010 - a class: a plain function
    else:
        target._connect = types.MethodType(connect, target)


def connects_with(broker: Any, *connects: Any) -> bool:
    """Whether ``broker``'s ``_connect`` hook is one of ``connects``."""
    hook = getattr(broker, "_connect", None)
    return getattr(hook, "__func__", None) in connects


def swap_producers(broker: Any, swap: Callable[[Any], Any]) -> None:
    """Replace each producer ``broker``'s config holds with ``swap(producer)``.

    A broker without faststream's config (no producers to swap) is left as it is.
    """
    config = getattr(getattr(broker, "config", None), "broker_config", None)
    if config is None:
        return
    for attr in PRODUCER_ATTRS:
        producer = getattr(config, attr, None)
        if producer is not None:
            replacement = swap(producer)
            if replacement is not producer:
                setattr(config, attr, replacement)


def find_test_broker(broker: Any) -> Any:
    """The ``TestBroker`` class faststream registered for ``broker``'s class, else None."""
    from faststream._internal.testing.broker import find_test_broker as find

    return find(broker)


def _config_holds_the_producers() -> None:
    from faststream.nats import NatsBroker

    broker = NatsBroker()
    config = broker.config.broker_config
    if not dataclasses.is_dataclass(config):
        raise Broken(f"broker.config.broker_config is a {type(config).__name__}, not a dataclass")
    fields = {f.name for f in dataclasses.fields(config)}
    missing = set(PRODUCER_ATTRS) - fields
    if missing:
        raise Broken(f"NatsBroker's broker_config has no {', '.join(sorted(missing))} field")
    for attr in PRODUCER_ATTRS:
        if getattr(broker.config, attr) is not getattr(config, attr):
            raise Broken(f"broker.config.{attr} is not read from broker_config.{attr}")


#: What this module assumes (tests/adapters/test_contracts.py).
ASSUMPTIONS: tuple[Assumption, ...] = (
    Assumption(
        "BrokerUsecase.connect() calls the _connect() hook once and keeps its result in "
        "_connection (None until then)",
        all_of(
            source_has(_USECASE, "connect", "self._connect()", "if self._connection is None:"),
            source_has(_USECASE, "__init__", "self._connection = None"),
        ),
    ),
    Assumption(
        "NatsBroker.stop() drains the connection _connect() returned (self._connection)",
        source_has(_NATS_BROKER, "stop", "self._connection.drain()"),
    ),
    Assumption(
        "BrokerUsecase keeps its connection keyword arguments in the dict _connection_kwargs",
        source_has(_USECASE, "__init__", "self._connection_kwargs = connection_kwargs"),
    ),
    Assumption(
        "NatsBroker._connect() connects with nats.connect(**self._connection_kwargs) and "
        "hands the connection to self.config.connect()",
        all_of(
            signature(_NATS_BROKER, "_connect", "(self)"),
            source_has(
                _NATS_BROKER,
                "_connect",
                "nats.connect(**self._connection_kwargs)",
                "self.config.connect(connection)",
            ),
        ),
    ),
    Assumption(
        "a broker's config.broker_config holds its producers (NATS: producer and "
        "js_producer), which every publish reads",
        _config_holds_the_producers,
    ),
    Assumption(
        "faststream._internal.testing.broker.find_test_broker(broker)",
        signature("faststream._internal.testing.broker:", "find_test_broker", "(broker)"),
    ),
)
