"""Every Python example in docs/nats.md runs, against a real server, on asyncio and trio.

The server has JetStream enabled (the guide's JetStream, key-value and object store
examples need it; the core examples do not care).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from anystream.testing import NatsServer

DOC = Path(__file__).resolve().parents[2] / "docs" / "nats.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL)
RUNNABLE = [block for block in BLOCKS if "async def main" in block]


def _run(code: str, url: str) -> dict[str, Any]:
    code = code.replace("nats://127.0.0.1:4222", url)
    namespace: dict[str, Any] = {"__name__": "docs_example"}
    exec(compile(code, str(DOC), "exec"), namespace)
    return namespace


@pytest.fixture(scope="module")
def docs_server() -> Iterator[NatsServer]:
    with NatsServer(jetstream=True) as server:
        yield server


def test_the_guide_has_runnable_examples() -> None:
    assert len(RUNNABLE) >= 5


@pytest.mark.parametrize("index", range(len(RUNNABLE)))
@pytest.mark.anyio
async def test_guide_example_runs(index: int, docs_server: NatsServer) -> None:
    namespace = _run(RUNNABLE[index], docs_server.url)
    await namespace["main"]()


@pytest.mark.parametrize(
    "block", [b for b in BLOCKS if "async def main" not in b], ids=lambda b: b.split("\n")[0]
)
def test_other_examples_compile_and_run(block: str) -> None:
    # Blocks without main() only build objects (connect() is lazy until entered).
    _run(block, "nats://127.0.0.1:1")
