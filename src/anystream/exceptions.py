"""Every exception anystream raises for you to catch, in one module.

Also importable from ``anystream`` itself. The NATS client keeps its own error classes
(``anystream.nats.errors``, and nats-py's on the faststream path).
"""

from __future__ import annotations

from typing import Any

__all__ = (
    "BrokerAlreadyConsumingError",
    "BrokerStartupTimeout",
    "FaststreamAdapterError",
    "LifespanFailed",
    "MalformedJSONError",
    "RequestBodyTooLarge",
    "TrioExtraMissingError",
)


class BrokerStartupTimeout(TimeoutError):
    """A broker did not connect and start its subscribers within ``startup_timeout``."""

    def __init__(self, broker: Any, timeout: float | None) -> None:
        super().__init__(
            f"{type(broker).__name__} did not connect within {timeout} s "
            "(is the server reachable? raise startup_timeout to wait longer)"
        )


class BrokerAlreadyConsumingError(RuntimeError):
    """A NATS broker reached anystream already consuming on a nats-py connection.

    anystream runs NATS brokers on its own client (:mod:`anystream.nats`): that is what
    paces consumption, answers health pings with a real round trip and counts slow
    consumers. A broker whose subscribers already consume on nats-py would run without
    any of it, so the start fails instead.
    """

    def __init__(self, broker: Any) -> None:
        super().__init__(
            f"{type(broker).__name__} is already consuming on a nats-py connection; "
            "anystream runs NATS brokers on anystream.nats: hand the broker to the app "
            "without starting it (no broker.start() or 'async with broker' before the "
            "app starts)"
        )


class TrioExtraMissingError(RuntimeError):
    """The app runs on trio but ``anystream[trio]`` is not installed."""


class FaststreamAdapterError(RuntimeError):
    """The installed faststream does not match what this adapter was written against."""


class LifespanFailed(RuntimeError):
    """The app answered ``lifespan.startup.failed`` or ``lifespan.shutdown.failed``."""

    def __init__(self, phase: str, message: str) -> None:
        super().__init__(f"lifespan {phase} failed: {message}")
        self.phase = phase
        self.message = message


class RequestBodyTooLarge(Exception):
    """The request body grew past ``max_body_size`` while it was read."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body larger than {limit} bytes")
        self.limit = limit


class MalformedJSONError(ValueError):
    """The request body is not valid JSON (or not UTF-8)."""
