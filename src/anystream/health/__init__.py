"""Health: a real round trip to each broker, shared by concurrent probes."""

from ._ping import ping_broker

__all__ = ("ping_broker",)
