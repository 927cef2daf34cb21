"""Helpers for tests, demos and benchmarks: real servers on loopback, lifespan driving."""

from ..exceptions import LifespanFailed  # what lifespan() raises, kept beside it
from .lifespan import lifespan
from .nats_cluster import ClusterNode, NatsCluster
from .nats_server import NatsServer, free_port, nats_server_binary

__all__ = (
    "ClusterNode",
    "LifespanFailed",
    "NatsCluster",
    "NatsServer",
    "free_port",
    "lifespan",
    "nats_server_binary",
)
