"""docs/kubernetes.md: the app runs, the Deployment probes its real routes, the grace
period covers preStop + server graceful timeout + shutdown_timeout."""

from __future__ import annotations

import re

import pytest

from anystream.testing import NatsServer

from .test_observability_docs import DOCS, asgi_fast_stream, check_routes, python_blocks, run_block

PAGE = "kubernetes.md"
YAML = re.findall(r"```yaml\n(.*?)```", (DOCS / PAGE).read_text(), re.DOTALL)[0]


def _probe_paths() -> dict[str, str]:
    found = re.findall(r"(\w+Probe):\s*\n\s*httpGet: \{path: (\S+),", YAML)
    return dict(found)


def _number(pattern: str) -> float:
    match = re.search(pattern, YAML)
    assert match is not None, pattern
    return float(match.group(1))


@pytest.mark.anyio
async def test_kubernetes_app_answers_every_probe_of_the_deployment(
    nats_server: NatsServer,
) -> None:
    (block,) = python_blocks(PAGE)
    namespace = run_block(block, PAGE, nats_server.url)
    paths = await check_routes(namespace["app"])
    probes = _probe_paths()
    assert set(probes) == {"startupProbe", "livenessProbe", "readinessProbe"}
    assert set(probes.values()) <= set(paths)
    # Liveness never depends on the broker.
    assert probes["livenessProbe"] == probes["startupProbe"] == "/health/live"


def test_grace_period_covers_prestop_graceful_timeout_and_shutdown_timeout() -> None:
    (block,) = python_blocks(PAGE)
    app = asgi_fast_stream(run_block(block, PAGE, "nats://127.0.0.1:1")["app"])
    grace = _number(r"terminationGracePeriodSeconds: (\d+)")
    pre_stop = _number(r'command: \["sleep", "(\d+)"\]')
    graceful = _number(r'"--graceful-timeout", "(\d+)"')
    assert grace >= pre_stop + graceful + app.shutdown_timeout
    # And the start-up window covers the app's start-up timeout.
    period = _number(r"startupProbe:\n.*\n\s*periodSeconds: (\d+)")
    failures = _number(r"startupProbe:\n.*\n.*\n\s*failureThreshold: (\d+)")
    assert app.startup_timeout is not None
    assert period * failures > app.startup_timeout
