"""Interoperability with nats-py (run on asyncio in a worker thread), both ways."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import anyio
import anyio.to_thread
import pytest
from nats_helpers import in_nats_py, wait_until

import nats as nats_py
from anystream import nats
from anystream.nats import Msg

pytestmark = pytest.mark.anyio


async def test_message_from_nats_py_arrives_with_headers(nats_url: str) -> None:
    async def publish() -> None:
        nc = await nats_py.connect(nats_url)
        await nc.publish("interop.in", b"from nats-py", reply="r.1", headers={"K": "v"})
        await nc.flush()
        await nc.close()

    async with nats.connect(nats_url) as nc:
        sub = await nc.subscribe("interop.in")
        await nc.flush()
        await in_nats_py(publish)
        msg = await sub.next_msg(timeout=5)
    assert (msg.data, msg.reply, msg.headers) == (b"from nats-py", "r.1", {"K": "v"})


async def test_message_to_nats_py_arrives_with_headers(nats_url: str) -> None:
    ready = threading.Event()

    async def receive() -> tuple[bytes, dict[str, str] | None]:
        nc = await nats_py.connect(nats_url)
        sub = await nc.subscribe("interop.out")
        await nc.flush()
        ready.set()
        msg = await sub.next_msg(timeout=5)
        await nc.close()
        return msg.data, msg.headers

    result: list[tuple[bytes, dict[str, str] | None]] = []

    async def run_receiver() -> None:
        result.append(await in_nats_py(receive))

    async with nats.connect(nats_url) as nc, anyio.create_task_group() as tg:
        tg.start_soon(run_receiver)
        await wait_until(ready.is_set)
        await nc.publish("interop.out", b"from anystream", headers={"X-Id": "7"})
    assert result == [(b"from anystream", {"X-Id": "7"})]


async def test_request_to_a_nats_py_responder(nats_url: str) -> None:
    ready = threading.Event()
    stop = threading.Event()

    async def serve() -> None:
        nc = await nats_py.connect(nats_url)

        async def handler(msg: Any) -> None:
            await msg.respond(b"nats-py says " + msg.data)

        await nc.subscribe("interop.svc", cb=handler)
        await nc.flush()
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.01)
        await nc.drain()

    async with nats.connect(nats_url) as nc, anyio.create_task_group() as tg:
        tg.start_soon(in_nats_py, serve)
        await wait_until(ready.is_set)
        try:
            reply = await nc.request("interop.svc", b"hi", timeout=5)
        finally:
            stop.set()
    assert reply.data == b"nats-py says hi"


async def test_nats_py_request_to_our_responder(nats_url: str) -> None:
    async def ask() -> bytes:
        nc = await nats_py.connect(nats_url)
        msg = await nc.request("interop.ours", b"hi", timeout=5)
        await nc.close()
        return bytes(msg.data)

    async def answer(msg: Msg) -> None:
        await msg.respond(b"anystream says " + msg.data)

    async with nats.connect(nats_url) as nc:
        await nc.subscribe("interop.ours", cb=answer)
        await nc.flush()
        assert await in_nats_py(ask) == b"anystream says hi"


async def test_queue_group_shared_with_nats_py(nats_url: str) -> None:
    ready = threading.Event()
    stop = threading.Event()
    theirs: list[bytes] = []
    ours: list[bytes] = []

    async def member() -> None:
        nc = await nats_py.connect(nats_url)

        async def collect(msg: Any) -> None:
            theirs.append(msg.data)

        await nc.subscribe("interop.work", queue="mixed", cb=collect)
        await nc.flush()
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.01)
        await nc.drain()

    async def collect(msg: Msg) -> None:
        ours.append(msg.data)

    async with nats.connect(nats_url) as nc, anyio.create_task_group() as tg:
        tg.start_soon(in_nats_py, member)
        await wait_until(ready.is_set)
        await nc.subscribe("interop.work", "mixed", cb=collect)
        await nc.flush()
        try:
            for i in range(100):
                await nc.publish("interop.work", b"%d" % i)
            await wait_until(lambda: len(ours) + len(theirs) == 100)
        finally:
            stop.set()
    assert sorted(ours + theirs) == sorted(b"%d" % i for i in range(100))
    assert ours and theirs
