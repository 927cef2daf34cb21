"""The demo app of ``anystream demo`` (it lives in the package as ``anystream.cli._demo_app``).

Serve it with a running nats-server::

    NATS_URL=nats://127.0.0.1:4222 hypercorn --worker-class trio examples.demo:app

then publish ``{"id": 1, "item": "tea", "quantity": 2}`` to ``demo.orders`` and
``GET /stats``.
"""

from anystream.cli._demo_app import Order, app, broker, counters

__all__ = ("Order", "app", "broker", "counters")
