"""The nats-py facade's JetStream calls take nats-py's own signatures, forwarded by name.

``anystream.nats.compat.JetStreamContext`` does not restate nats-py's parameters: it
takes nats-py's signature and hands the arguments, by name, to
``anystream.nats.js.JetStream``. A nats-py release that adds a parameter fails here,
naming it, instead of with a ``TypeError`` deep in a consumer.
"""

from __future__ import annotations

import inspect

import pytest

from anystream.nats.compat.jetstream import JetStreamContext as CompatJetStreamContext
from anystream.nats.js import JetStream
from nats.js import JetStreamContext


@pytest.mark.parametrize(
    "name", ["subscribe", "pull_subscribe", "pull_subscribe_bind", "publish_async"]
)
def test_nats_py_jetstream_calls_forward_to_what_anystream_s_jetstream_takes(name: str) -> None:
    nats_py = inspect.signature(getattr(JetStreamContext, name))
    assert inspect.signature(getattr(CompatJetStreamContext, name)) == nats_py
    native = inspect.signature(getattr(JetStream, name)).parameters
    renamed = {"consumer"}  # pull_subscribe_bind: nats-py's ``consumer`` is a ``durable``
    forwarded = list(nats_py.parameters)[1:]  # after ``self``
    missing = [p for p in forwarded if p not in native and p not in renamed]
    assert not missing, (
        f"nats-py's JetStreamContext.{name} takes {missing}: anystream.nats.js.JetStream's "
        "does not, and compat.JetStreamContext forwards every argument by name"
    )
