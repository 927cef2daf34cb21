"""The code in docs/overload.md runs (with a real broker object, not started)."""

from __future__ import annotations

import re
from pathlib import Path

from faststream.nats import NatsBroker

from anystream.asgi import AsgiFastStream

DOC = Path(__file__).resolve().parents[2] / "docs" / "overload.md"


def test_the_documented_settings_and_counters_work() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) == 3
    broker = NatsBroker("nats://127.0.0.1:4222")
    namespace: dict[str, object] = {"broker": broker}
    exec(blocks[0], namespace)  # the three consume_budget settings
    app = namespace["app"]
    assert isinstance(app, AsgiFastStream) and app.consume_budget is None
    exec(blocks[1], namespace)  # the backlog limit: set on the broker's slicer
    from anystream.slicing import slicer_for

    slicer = slicer_for(broker)
    assert slicer is not None and slicer.backlog_limit is None
    assert slicer.read_bytes == 65536
    exec(blocks[2], namespace)  # the counters: zeros for a broker never started
    assert namespace["stats"](broker).as_dict()["consumed"] == 0  # type: ignore[operator]
