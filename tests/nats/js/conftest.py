"""Fixtures of the JetStream tests: ``js``, a JetStream context on the session's ``js_server``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from anystream import nats
from anystream.nats.js import JetStream


@pytest.fixture
async def js(js_url: str) -> AsyncIterator[JetStream]:
    async with nats.connect(js_url) as nc:
        yield JetStream(nc)


@pytest.fixture
def bucket(stream_name: str) -> str:
    """A KV or object store bucket name unique to the test (tests share one server)."""
    return stream_name[:120]
