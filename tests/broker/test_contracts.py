"""What anystream.nats's faststream/nats-py integration assumes about their internals.

Each test names the assumption; a release of faststream or nats-py that breaks one fails
here, loudly, instead of somewhere deep in a consumer.
"""

from __future__ import annotations

import inspect

import anyio
import pytest
from faststream.nats import NatsBroker
from nats.aio.msg import Msg as NatsPyMsg

from anystream.nats.compat import Msg
from anystream.nats.compat.jetstream import JetStreamContext as CompatJetStreamContext
from anystream.nats.js import JetStream
from nats.js import JetStreamContext


def test_faststream_connects_with_nats_connect_and_its_connection_kwargs() -> None:
    source = inspect.getsource(NatsBroker._connect)
    assert "nats.connect(**self._connection_kwargs)" in source, (
        "faststream's NatsBroker._connect no longer calls nats.connect(**_connection_kwargs): "
        "anystream.nats.broker maps those kwargs to anystream.nats.connect()"
    )
    assert "self.config.connect(connection)" in source, (
        "faststream's NatsBroker._connect no longer hands the connection to "
        "config.connect(): anystream.nats.broker._native_connect does the same"
    )


def test_nats_py_messages_ack_through_their_client_s_publish_only() -> None:
    """compat.Msg reuses nats-py's ack code: it must only call ``self._client.publish``."""
    calls: list[tuple[str, bytes]] = []

    class Recorder:
        async def publish(self, subject: str, payload: bytes = b"", **kwargs: object) -> None:
            calls.append((subject, payload))

    reply = "$JS.ACK.S.C.1.5.5.1700000000000000000.0"
    for method, expected in (("ack", b""), ("nak", b"-NAK"), ("term", b"+TERM")):
        msg = Msg(_client=Recorder(), subject="s", reply=reply, data=b"")  # type: ignore[arg-type]
        anyio.run(getattr(msg, method))
        assert calls[-1] == (reply, expected), f"nats-py's Msg.{method} changed"
        assert msg.is_acked
    assert issubclass(Msg, NatsPyMsg)
    assert Msg(_client=None, reply=reply).metadata.sequence.stream == 5  # type: ignore[arg-type]


def test_nats_py_jetstream_context_keeps_its_prefix_and_timeout() -> None:
    """compat.JetStreamContext reads ``_prefix``/``_timeout`` to build anystream.nats.js's."""
    js = JetStreamContext(object(), prefix="$JS.API", domain="hub", timeout=3)  # type: ignore[arg-type]
    assert (js._prefix, js._timeout) == ("$JS.hub.API", 3)


@pytest.mark.parametrize("name", ["_nc", "_prefix", "_timeout"])
def test_nats_py_jetstream_manager_talks_through_nc_request(name: str) -> None:
    """Management is nats-py's JetStreamManager over the facade: it uses ``_nc.request``."""
    from nats.js.manager import JetStreamManager

    assert "self._nc.request(" in inspect.getsource(JetStreamManager._api_request)
    assert name in inspect.getsource(JetStreamManager.__init__)


@pytest.mark.parametrize(
    "name", ["subscribe", "pull_subscribe", "pull_subscribe_bind", "publish_async"]
)
def test_nats_py_jetstream_calls_forward_to_what_anystream_s_jetstream_takes(name: str) -> None:
    """compat.JetStreamContext takes nats-py's own signature and forwards it by name."""
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
