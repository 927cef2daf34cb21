"""The code in docs/compatibility.md does what the page says."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from anystream.testing import LifespanFailed, free_port, lifespan

PAGE = Path(__file__).resolve().parents[2] / "docs" / "compatibility.md"


def python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", PAGE.read_text(), re.DOTALL | re.MULTILINE)


@pytest.mark.anyio
async def test_bounded_connection_attempts_fail_the_startup_fast(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (code,) = python_blocks()
    monkeypatch.setenv("NATS_URL", f"nats://127.0.0.1:{free_port()}")
    namespace: dict[str, Any] = {"__name__": "compatibility_example"}
    exec(compile(code, str(PAGE), "exec"), namespace)

    # `timeout` bounds the start-up: a TimeoutError here would mean it did not fail fast.
    with pytest.raises(LifespanFailed, match="NoServersError"):
        async with lifespan(namespace["app"], timeout=10.0):
            pass
