"""Key-value buckets shared with nats-py (run on asyncio in a worker thread), both ways."""

from __future__ import annotations

import threading
from typing import Any

import anyio
import anyio.to_thread
import pytest
from nats_helpers import in_nats_py, wait_until

import nats as nats_py
from anystream.nats.js import JetStream, KeyValue
from anystream.nats.js.errors import KeyNotFoundError
from nats.js import api

pytestmark = pytest.mark.anyio


async def test_a_bucket_written_by_nats_py_reads_the_same_here(
    js: JetStream, js_url: str, bucket: str
) -> None:
    async def write() -> None:
        nc = await nats_py.connect(js_url)
        kv = await nc.jetstream().create_key_value(bucket=bucket, history=5)
        await kv.put("color", b"red")
        await kv.put("color", b"blue")
        await kv.put("size", b"L")
        await kv.put("gone", b"x")
        await kv.delete("gone")
        await nc.close()

    await in_nats_py(write)
    kv = await js.key_value(bucket)

    assert (await kv.get("color")).value == b"blue"
    assert sorted(await kv.keys()) == ["color", "size"]
    assert [e.value for e in await kv.history("color")] == [b"red", b"blue"]
    with pytest.raises(KeyNotFoundError):
        await kv.get("gone")
    assert (await kv.status()).history == 5


async def test_a_bucket_written_here_reads_the_same_in_nats_py(
    js: JetStream, js_url: str, bucket: str
) -> None:
    kv = await js.create_key_value(bucket=bucket, history=3)
    first = await kv.put("color", b"red")
    await kv.update("color", b"blue", last=first)
    await kv.put("gone", b"x")
    await kv.purge("gone")

    async def read() -> tuple[bytes | None, list[str], list[Any], str]:
        nc = await nats_py.connect(js_url)
        theirs = await nc.jetstream().key_value(bucket)
        color = (await theirs.get("color")).value
        keys = sorted(await theirs.keys())
        history = [e.value for e in await theirs.history("color")]
        try:
            await theirs.get("gone")
            gone = "found"
        except nats_py.js.errors.KeyNotFoundError:
            gone = "not found"
        await nc.close()
        return color, keys, history, gone

    assert await in_nats_py(read) == (b"blue", ["color"], [b"red", b"blue"], "not found")


async def test_the_same_bucket_config_declared_by_both_clients_is_accepted(
    js: JetStream, js_url: str, bucket: str
) -> None:
    config = api.KeyValueConfig(bucket=bucket, history=4, description="shared")

    async def declare() -> int:
        nc = await nats_py.connect(js_url)
        kv = await nc.jetstream().create_key_value(config=config)
        revision = await kv.put("k", b"from nats-py")
        await nc.close()
        return revision

    ours = await js.create_key_value(config=config)
    revision = await in_nats_py(declare)
    again = await js.create_key_value(config=config)

    assert (await again.get("k")).revision == revision
    assert (await ours.get("k")).value == b"from nats-py"


async def test_we_watch_a_bucket_nats_py_writes(js: JetStream, js_url: str, bucket: str) -> None:
    kv = await js.create_key_value(bucket=bucket, history=5)
    await kv.put("before", b"0")
    async with await kv.watchall() as watcher:
        assert (await watcher.updates(timeout=5)) is not None
        assert await watcher.updates(timeout=5) is None

        async def write() -> None:
            nc = await nats_py.connect(js_url)
            theirs = await nc.jetstream().key_value(bucket)
            for i in range(5):
                await theirs.put(f"n.{i}", str(i).encode())
            await theirs.delete("before")
            await nc.close()

        await in_nats_py(write)
        updates = [await watcher.updates(timeout=5) for _ in range(6)]

    assert [(e.key, e.value, e.operation) for e in updates if e] == [
        *((f"n.{i}", str(i).encode(), None) for i in range(5)),
        ("before", b"", "DEL"),
    ]


async def test_nats_py_watches_a_bucket_we_write(js: JetStream, js_url: str, bucket: str) -> None:
    kv: KeyValue = await js.create_key_value(bucket=bucket, history=5)
    await kv.put("before", b"0")
    ready = threading.Event()

    async def watch() -> list[tuple[str, bytes | None, str | None]]:
        nc = await nats_py.connect(js_url)
        theirs = await nc.jetstream().key_value(bucket)
        watcher = await theirs.watchall()
        seen = []
        while True:
            entry = await watcher.updates(timeout=10)
            if entry is None:
                ready.set()
                continue
            seen.append((entry.key, entry.value, entry.operation))
            if entry.key == "before" and entry.operation == "DEL":
                break
        await watcher.stop()
        await nc.close()
        return seen

    result: list[Any] = []

    async def run_watcher() -> None:
        result.extend(await in_nats_py(watch))

    async with anyio.create_task_group() as tg:
        tg.start_soon(run_watcher)
        await wait_until(ready.is_set, timeout=10.0)
        for i in range(5):
            await kv.put(f"n.{i}", str(i).encode())
        await kv.delete("before")

    assert result == [
        ("before", b"0", None),
        *((f"n.{i}", str(i).encode(), None) for i in range(5)),
        ("before", b"", "DEL"),
    ]
