"""Helpers for tests, demos and benchmarks: real servers on loopback."""

from .nats_server import NatsServer, free_port, nats_server_binary

__all__ = ("NatsServer", "free_port", "nats_server_binary")
