"""A key-value watch outlives a nats-server restart (same port, same store)."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import pytest

from anystream import nats
from anystream.nats import NatsError
from anystream.nats.js import JetStream
from anystream.testing import NatsServer

pytestmark = pytest.mark.anyio


@pytest.fixture
def js_own_server() -> Iterator[NatsServer]:
    with NatsServer(jetstream=True) as server:
        yield server


async def put_until_acked(js: JetStream, bucket: str, key: str, value: bytes) -> None:
    """Retry while the server is coming back (connection lost, JetStream not ready...)."""
    with anyio.fail_after(30):
        while True:
            try:
                kv = await js.key_value(bucket)
                await kv.put(key, value)
                return
            except NatsError:
                await anyio.sleep(0.1)


async def test_a_watch_resumes_after_the_server_restarts(js_own_server: NatsServer) -> None:
    async with nats.connect(js_own_server.url, reconnect_wait=0.1, reconnect_wait_max=0.5) as nc:
        js = JetStream(nc)
        kv = await js.create_key_value(bucket="survivor")
        await kv.put("before", b"1")
        async with await kv.watchall(idle_heartbeat=0.5) as watcher:
            assert (await watcher.updates(timeout=5)).key == "before"  # type: ignore[union-attr]
            assert await watcher.updates(timeout=5) is None

            js_own_server.stop()
            js_own_server.start()
            await put_until_acked(js, "survivor", "after", b"2")

            # the consumer died with the server: two missed heartbeats (1 s) make the
            # watcher recreate it after the last revision it gave, so "after" still comes
            entry = await watcher.updates(timeout=30)

    assert entry is not None and (entry.key, entry.value) == ("after", b"2")
