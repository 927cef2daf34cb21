"""``anystream demo``: the README's first command, run as a user would."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e


def run_demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "anystream", "demo", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("worker_class", ["trio", "asyncio"])
def test_demo_serves_consumes_and_stops_cleanly(worker_class: str) -> None:
    result = run_demo("--worker-class", worker_class, "--messages", "4")

    assert result.returncode == 0, result.stdout + result.stderr
    out = " ".join(result.stdout.split())  # the report's columns, spaces collapsed
    assert f"under hypercorn --worker-class {worker_class}" in out
    assert "published 4 orders (8 items) to demo.orders" in out
    assert "consumed 4 orders, 8 items" in out
    assert "GET /health 204" in out
    assert "GET /docs 200" in out
    assert "demo.orders" in out.split("GET /docs.json", 1)[1]
    assert "SIGTERM hypercorn exited with 0" in out
    assert "FAIL" not in out
    assert out.endswith("demo OK")


def test_demo_rejects_a_bad_message_count_in_one_line() -> None:
    result = run_demo("--messages", "0")

    assert result.returncode == 2
    assert result.stderr.strip() == (
        "anystream demo: error: --messages must be between 1 and 1000, got 0"
    )
    assert "Traceback" not in result.stderr
