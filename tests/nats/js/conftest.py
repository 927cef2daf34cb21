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
