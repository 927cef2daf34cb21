"""Objects shared with nats-py (run on asyncio in a worker thread), both ways."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import pytest
from nats_helpers import in_nats_py

import nats as nats_py
from anystream.nats.js import JetStream
from nats.js import api

pytestmark = pytest.mark.anyio

DATA = hashlib.sha256(b"seed").digest() * 20_000  # 640,000 bytes: 5 chunks of 128 KiB


async def test_an_object_put_by_nats_py_is_got_here(
    js: JetStream, js_url: str, bucket: str
) -> None:
    async def put() -> api.ObjectInfo:
        nc = await nats_py.connect(js_url)
        theirs = await nc.jetstream().create_object_store(bucket)
        info = await theirs.put("report.bin", DATA, meta=api.ObjectMeta(description="from nats-py"))
        await nc.close()
        return info

    their_info = await in_nats_py(put)
    obs = await js.object_store(bucket)
    result = await obs.get("report.bin")

    assert result.data == DATA
    assert (result.info.digest, result.info.chunks, result.info.description) == (
        their_info.digest,
        5,
        "from nats-py",
    )
    assert [i.name for i in await obs.list()] == ["report.bin"]


async def test_an_object_put_here_is_got_by_nats_py(
    js: JetStream, js_url: str, bucket: str
) -> None:
    obs = await js.create_object_store(bucket)

    async def stream() -> AsyncIterator[bytes]:
        for start in range(0, len(DATA), 50_000):
            yield DATA[start : start + 50_000]

    info = await obs.put("report.bin", stream(), meta=api.ObjectMeta(description="from anystream"))

    async def get() -> tuple[bytes | None, str | None, str | None]:
        nc = await nats_py.connect(js_url)
        theirs = await nc.jetstream().object_store(bucket)
        result = await theirs.get("report.bin")
        await nc.close()
        return result.data, result.info.digest, result.info.description

    assert await in_nats_py(get) == (DATA, info.digest, "from anystream")


async def test_an_object_deleted_here_is_gone_for_nats_py(
    js: JetStream, js_url: str, bucket: str
) -> None:
    obs = await js.create_object_store(bucket)
    await obs.put("a", b"1")
    await obs.put("b", b"2")
    await obs.delete("a")

    async def names() -> list[tuple[str, bool | None]]:
        nc = await nats_py.connect(js_url)
        # the same bucket config declared by nats-py is accepted
        theirs = await nc.jetstream().create_object_store(bucket)
        infos = await theirs.list()
        await nc.close()
        return sorted((i.name, i.deleted) for i in infos)

    assert await in_nats_py(names) == [("a", True), ("b", False)]


async def test_a_link_made_here_is_followed_by_nats_py(
    js: JetStream, js_url: str, bucket: str
) -> None:
    obs = await js.create_object_store(bucket)
    target = await obs.put("original", b"linked")
    await obs.add_link("shortcut", target)

    async def get() -> bytes | None:
        nc = await nats_py.connect(js_url)
        theirs = await nc.jetstream().object_store(bucket)
        result = await theirs.get("shortcut")
        await nc.close()
        return result.data

    assert await in_nats_py(get) == b"linked"
