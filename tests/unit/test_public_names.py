"""Where users import anystream's public names from (issue 15's layout)."""

from __future__ import annotations

import importlib

import pytest
from faststream.nats import NatsBroker

import anystream
import anystream.broker
import anystream.exceptions
import anystream.health


def test_every_public_exception_is_in_anystream_exceptions_and_importable_from_anystream() -> None:
    for name in anystream.exceptions.__all__:
        exc = getattr(anystream.exceptions, name)
        assert issubclass(exc, Exception), name
        assert exc.__module__ == "anystream.exceptions", name
        assert getattr(anystream, name) is exc, f"anystream.{name} is not re-exported"


def test_the_broker_side_s_public_names_are_in_anystream_broker() -> None:
    from anystream.broker import (
        DEFAULT_CONSUME_BUDGET,
        DEFAULT_REDELIVERY_MEMORY,
        BrokerLike,
        BrokerStartupTimeout,
        ConsumeStats,
        broker_call,
        broker_lifespan,
        stats,
    )

    assert (DEFAULT_CONSUME_BUDGET, DEFAULT_REDELIVERY_MEMORY) == (0.002, 100_000)
    assert BrokerStartupTimeout is anystream.BrokerStartupTimeout
    assert broker_lifespan is anystream.broker_lifespan
    assert broker_call is anystream.broker_call
    assert stats(NatsBroker()) == ConsumeStats()  # zeros for a broker anystream never ran
    assert BrokerLike.__name__ == "BrokerLike"
    assert anystream.health.ping_broker is anystream.ping_broker


@pytest.mark.parametrize(
    "old",
    [
        "anystream.app",
        "anystream.lifespan",
        "anystream.ping",
        "anystream.slicing",
        "anystream.redelivery",
        "anystream.demo_app",
    ],
)
def test_the_old_module_paths_are_gone(old: str) -> None:
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(old)
