"""The idempotent handler of docs/scaling.md runs, and applies each key once."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import anyio
import pytest

from anystream.testing import NatsServer, lifespan

pytestmark = pytest.mark.anyio

DOC = Path(__file__).resolve().parents[2] / "docs" / "scaling.md"


def idempotent_example() -> str:
    blocks = re.findall(r"^```python\n(.*?)^```", DOC.read_text(), re.DOTALL | re.MULTILINE)
    return next(b for b in blocks if "def apply_once" in b)


def orders(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return sorted(row[0] for row in conn.execute("SELECT body FROM orders"))


async def test_the_idempotent_handler_applies_each_key_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "orders.db"
    with NatsServer(jetstream=True) as server:
        monkeypatch.setenv("NATS_URL", server.url)
        monkeypatch.setenv("ORDERS_DB", str(db))
        namespace: dict[str, Any] = {"__name__": "scaling_example"}
        exec(compile(idempotent_example(), str(DOC), "exec"), namespace)
        broker = namespace["broker"]
        async with lifespan(namespace["app"]):
            for _ in range(2):  # a retried publish: stored once (Nats-Msg-Id)
                await broker.publish(
                    "o1", "orders.in", stream="ORDERS", headers={"Nats-Msg-Id": "order-1"}
                )
            await broker.publish("o2", "orders.in", stream="ORDERS")  # keyed by sequence
            with anyio.fail_after(10):
                while not db.exists() or len(orders(db)) < 2:
                    await anyio.sleep(0.05)
        # The same message redelivered to another instance: its effect is not applied again.
        assert namespace["apply_once"]("order-1", "o1") is False
        assert orders(db) == ["o1", "o2"]
