"""The code in docs/overload.md runs (with a real broker object, not started)."""

from __future__ import annotations

import re
from pathlib import Path

import anyio
from faststream.nats import NatsBroker

from anystream.asgi import AsgiFastStream
from anystream.testing import NatsServer

DOC = Path(__file__).resolve().parents[2] / "docs" / "overload.md"


def test_the_documented_settings_and_counters_work(nats_server: NatsServer) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) == 3
    broker = NatsBroker("nats://127.0.0.1:4222")
    namespace: dict[str, object] = {"broker": broker}
    exec(blocks[0], namespace)  # the three consume_budget settings
    app = namespace["app"]
    assert isinstance(app, AsgiFastStream) and app.consume_budget is None
    exec(blocks[1], namespace)  # the native client's backlog pacing options
    anyio.run(namespace["consume"], nats_server.url)  # type: ignore[arg-type]
    exec(blocks[2], namespace)  # the counters: zeros for a broker never started
    assert namespace["stats"](broker).as_dict()["consumed"] == 0  # type: ignore[operator]
