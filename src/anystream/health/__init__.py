"""Health: a real round trip to the broker, and the endpoints that serve it.

- :func:`ping_broker`: one real round trip (PING/PONG for NATS), shared by every
  caller that asks while it is in flight.
- :func:`make_ping_asgi`: 204 when the broker answers, 500 when not.
- :func:`make_liveness_asgi` / :func:`make_readiness_asgi`: Kubernetes probes.
"""

from ._endpoints import make_liveness_asgi, make_ping_asgi, make_readiness_asgi
from ._ping import ping_broker

__all__ = ("make_liveness_asgi", "make_ping_asgi", "make_readiness_asgi", "ping_broker")
