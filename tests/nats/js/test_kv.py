"""Key-value buckets on a real ``nats-server -js``, on asyncio and trio."""

from __future__ import annotations

import anyio
import pytest

from anystream import nats
from anystream.nats import NatsTimeoutError, SubscriptionClosedError
from anystream.nats.js import JetStream, KeyValue
from anystream.nats.js.errors import (
    BadRequestError,
    BucketNotFoundError,
    InvalidBucketNameError,
    InvalidKeyError,
    KeyDeletedError,
    KeyHistoryTooLargeError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
    NoKeysError,
    NotFoundError,
)
from nats.js import api

pytestmark = pytest.mark.anyio


@pytest.fixture
async def kv(js: JetStream, bucket: str) -> KeyValue:
    return await js.create_key_value(bucket=bucket, history=5)


# ----------------------------------------------------------------------------- buckets


async def test_create_then_open_and_delete_a_bucket(js: JetStream, bucket: str) -> None:
    created = await js.create_key_value(config=api.KeyValueConfig(bucket=bucket, history=3))
    await created.put("greeting", b"hello")

    opened = await js.key_value(bucket)
    status = await opened.status()

    assert (opened.bucket, status.bucket, status.history, status.values) == (bucket, bucket, 3, 1)
    assert await js.delete_key_value(bucket) is True
    with pytest.raises(BucketNotFoundError):
        await js.key_value(bucket)


async def test_creating_an_existing_bucket_again_opens_it(js: JetStream, bucket: str) -> None:
    first = await js.create_key_value(bucket=bucket)
    await first.put("k", b"v")
    second = await js.create_key_value(bucket=bucket)
    assert (await second.get("k")).value == b"v"


async def test_opening_a_missing_bucket_says_so(js: JetStream) -> None:
    with pytest.raises(BucketNotFoundError, match="no_such_bucket"):
        await js.key_value("no_such_bucket")
    with pytest.raises(NotFoundError):  # BucketNotFoundError is a NotFoundError too
        await js.delete_key_value("no_such_bucket")


async def test_bad_bucket_names_and_history_are_refused(js: JetStream) -> None:
    with pytest.raises(InvalidBucketNameError):
        await js.create_key_value(bucket="a.b")
    with pytest.raises(KeyHistoryTooLargeError):
        await js.create_key_value(bucket="too_long_history", history=65)


# ----------------------------------------------------------------------------- put / get


async def test_put_returns_the_revision_get_returns_the_entry(kv: KeyValue, bucket: str) -> None:
    first = await kv.put("user.1", b"ann")
    second = await kv.put("user.1", b"bob")

    entry = await kv.get("user.1")

    assert second > first
    assert (entry.bucket, entry.key, entry.value, entry.revision) == (
        bucket,
        "user.1",
        b"bob",
        second,
    )
    assert entry.created is not None and entry.operation is None
    assert (await kv.get("user.1", revision=first)).value == b"ann"


async def test_get_of_a_missing_key_raises_key_not_found(kv: KeyValue) -> None:
    with pytest.raises(KeyNotFoundError, match="nope"):
        await kv.get("nope")


async def test_get_of_a_revision_of_another_key_raises_key_not_found(kv: KeyValue) -> None:
    other = await kv.put("a", b"1")
    with pytest.raises(KeyNotFoundError, match="is not key 'b'"):
        await kv.get("b", revision=other)


async def test_get_of_a_deleted_key_raises_key_not_found_with_the_marker(kv: KeyValue) -> None:
    await kv.put("gone", b"x")
    await kv.delete("gone")

    with pytest.raises(KeyNotFoundError, match="deleted") as caught:
        await kv.get("gone")

    assert caught.value.op == "DEL"
    assert caught.value.entry.operation == "DEL"
    assert not isinstance(caught.value, KeyDeletedError)


async def test_invalid_keys_are_refused_before_anything_is_sent(kv: KeyValue) -> None:
    for key in ("", ".a", "a.", "a b", "a*", "a>"):
        with pytest.raises(InvalidKeyError):
            await kv.put(key, b"x")


async def test_empty_values_and_binary_values_round_trip(kv: KeyValue) -> None:
    await kv.put("empty", b"")
    await kv.put("binary", bytes(range(256)))
    assert (await kv.get("empty")).value == b""
    assert (await kv.get("binary")).value == bytes(range(256))


# ----------------------------------------------------------------------------- revision checks


async def test_create_refuses_a_key_that_has_a_value(kv: KeyValue) -> None:
    revision = await kv.create("lock", b"mine")
    with pytest.raises(KeyWrongLastSequenceError, match="already exists"):
        await kv.create("lock", b"theirs")
    assert (await kv.get("lock")).revision == revision


async def test_create_over_a_deleted_or_purged_key_succeeds(kv: KeyValue) -> None:
    await kv.create("lock", b"first")
    await kv.delete("lock")
    await kv.create("lock", b"second")
    await kv.purge("lock")
    await kv.create("lock", b"third")
    assert (await kv.get("lock")).value == b"third"


async def test_update_checks_the_last_revision(kv: KeyValue) -> None:
    revision = await kv.put("counter", b"1")
    newer = await kv.update("counter", b"2", last=revision)

    with pytest.raises(KeyWrongLastSequenceError) as caught:
        await kv.update("counter", b"3", last=revision)

    assert caught.value.err_code == 10071
    assert (await kv.get("counter")).revision == newer


async def test_delete_with_a_stale_revision_is_refused(kv: KeyValue) -> None:
    revision = await kv.put("k", b"1")
    await kv.put("k", b"2")
    with pytest.raises(KeyWrongLastSequenceError):
        await kv.delete("k", last=revision)
    assert (await kv.get("k")).value == b"2"


# ----------------------------------------------------------------------------- delete / purge


async def test_delete_keeps_the_history_purge_drops_it(kv: KeyValue) -> None:
    await kv.put("a", b"1")
    await kv.put("a", b"2")
    await kv.delete("a")
    assert [(e.value, e.operation) for e in await kv.history("a")] == [
        (b"1", None),
        (b"2", None),
        (b"", "DEL"),
    ]

    await kv.purge("a")

    assert [e.operation for e in await kv.history("a")] == ["PURGE"]


async def test_purge_deletes_removes_the_markers(kv: KeyValue) -> None:
    await kv.put("kept", b"v")
    await kv.put("deleted", b"v")
    await kv.delete("deleted")
    await kv.put("purged", b"v")
    await kv.purge("purged")

    await kv.purge_deletes(olderthan=0)

    assert (await kv.status()).values == 1
    with pytest.raises(NoKeysError):
        await kv.history("deleted")
    assert (await kv.get("kept")).value == b"v"


async def test_purge_deletes_keeps_recent_markers_by_default(kv: KeyValue) -> None:
    await kv.put("deleted", b"v")
    await kv.delete("deleted")

    await kv.purge_deletes()

    assert [e.operation for e in await kv.history("deleted")] == ["DEL"]


# ----------------------------------------------------------------------------- keys / history


async def test_keys_lists_the_keys_with_a_value(kv: KeyValue) -> None:
    await kv.put("orders.1", b"a")
    await kv.put("orders.2", b"b")
    await kv.put("orders.2", b"c")
    await kv.put("users.ann", b"d")
    await kv.put("tmp", b"e")
    await kv.delete("tmp")

    assert sorted(await kv.keys()) == ["orders.1", "orders.2", "users.ann"]


async def test_keys_filters_are_subject_patterns(kv: KeyValue) -> None:
    for key in ("orders.1", "orders.2", "orders.eu.3", "users.ann", "users.bob"):
        await kv.put(key, b"x")

    assert sorted(await kv.keys(filters=["orders.*"])) == ["orders.1", "orders.2"]
    assert sorted(await kv.keys(filters=["orders.>"])) == ["orders.1", "orders.2", "orders.eu.3"]
    assert sorted(await kv.keys(filters=["orders.1", "users.*"])) == [
        "orders.1",
        "users.ann",
        "users.bob",
    ]
    with pytest.raises(NoKeysError):
        await kv.keys(filters=["nothing.*"])


async def test_keys_of_an_empty_bucket_raises_no_keys(kv: KeyValue) -> None:
    with pytest.raises(NoKeysError, match="no keys"):
        await kv.keys()


async def test_history_is_bounded_by_the_bucket_history(kv: KeyValue) -> None:
    for i in range(8):
        await kv.put("k", str(i).encode())
    history = await kv.history("k")
    assert [e.value for e in history] == [b"3", b"4", b"5", b"6", b"7"]
    assert [e.revision for e in history] == sorted(e.revision or 0 for e in history)


# ----------------------------------------------------------------------------- watch


async def test_watch_gives_current_values_then_none_then_changes(kv: KeyValue) -> None:
    await kv.put("a", b"1")
    await kv.put("a", b"2")
    await kv.put("b", b"3")

    watcher = await kv.watchall()
    initial = [await watcher.updates(timeout=5), await watcher.updates(timeout=5)]
    marker = await watcher.updates(timeout=5)
    await kv.put("c", b"4")
    await kv.delete("a")
    live = [await watcher.updates(timeout=5), await watcher.updates(timeout=5)]
    await watcher.stop()

    assert [(e.key, e.value, e.delta) for e in initial if e] == [("a", b"2", 1), ("b", b"3", 0)]
    assert marker is None
    assert [(e.key, e.value, e.operation) for e in live if e] == [
        ("c", b"4", None),
        ("a", b"", "DEL"),
    ]


async def test_watch_of_an_empty_bucket_starts_with_none(kv: KeyValue) -> None:
    async with await kv.watch("x.*") as watcher:
        assert await watcher.updates(timeout=5) is None
        await kv.put("x.1", b"v")
        await kv.put("y.1", b"not watched")
        await kv.put("x.2", b"w")
        got = [await watcher.updates(timeout=5), await watcher.updates(timeout=5)]
    assert [(e.key, e.value) for e in got if e] == [("x.1", b"v"), ("x.2", b"w")]


async def test_watch_with_history_gives_every_kept_revision(kv: KeyValue) -> None:
    for value in (b"1", b"2", b"3"):
        await kv.put("k", value)

    async with await kv.watch("k", include_history=True) as watcher:
        entries = [e async for e in _until_none(watcher)]

    assert [e.value for e in entries] == [b"1", b"2", b"3"]


async def test_watch_can_ignore_deletes(kv: KeyValue) -> None:
    await kv.put("a", b"1")
    await kv.put("b", b"2")
    await kv.delete("b")

    async with await kv.watchall(ignore_deletes=True) as watcher:
        initial = [e async for e in _until_none(watcher)]
        await kv.purge("a")
        await kv.put("c", b"3")
        live = await watcher.updates(timeout=5)

    assert [e.key for e in initial] == ["a"]
    assert live is not None and (live.key, live.value) == ("c", b"3")


async def test_watch_meta_only_leaves_values_out(kv: KeyValue) -> None:
    await kv.put("big", b"x" * 1000)
    async with await kv.watchall(meta_only=True) as watcher:
        entry = await watcher.updates(timeout=5)
    assert entry is not None and (entry.key, entry.value) == ("big", b"")
    assert entry.headers is not None and entry.headers.get("Nats-Msg-Size") == "1000"


async def test_watch_updates_time_out_with_a_timeout_error(kv: KeyValue) -> None:
    async with await kv.watchall() as watcher:
        assert await watcher.updates(timeout=5) is None
        with pytest.raises(NatsTimeoutError):
            await watcher.updates(timeout=0.1)
        with pytest.raises(TimeoutError):  # what faststream's watch loop catches
            await watcher.updates(timeout=0.1)


async def test_a_stopped_watcher_ends_iteration(kv: KeyValue) -> None:
    await kv.put("a", b"1")
    watcher = await kv.watchall()
    assert (await watcher.updates(timeout=5)) is not None
    await watcher.stop()

    assert [e async for e in watcher] == []
    with pytest.raises(SubscriptionClosedError, match="stopped"):
        await watcher.updates(timeout=1)


async def _until_none(watcher: KeyValue.KeyWatcher):  # type: ignore[name-defined,no-untyped-def]
    async for entry in watcher:
        if entry is None:
            return
        yield entry


async def test_watching_a_large_bucket_gives_every_key_then_none(kv: KeyValue) -> None:
    value = b"v" * 4096
    for i in range(1500):  # 6 MB of current values: past the consumer's flow control window
        await kv.put(f"k.{i}", value)

    async with await kv.watchall() as watcher:
        seen = [e async for e in _until_none(watcher)]

    assert len(seen) == 1500
    assert {e.key for e in seen} == {f"k.{i}" for i in range(1500)}
    assert seen[-1].delta == 0


async def test_stopping_a_watcher_from_another_task_ends_its_iteration(kv: KeyValue) -> None:
    await kv.put("a", b"1")
    watcher = await kv.watchall()
    seen: list[KeyValue.Entry | None] = []

    async def consume() -> None:
        async for entry in watcher:
            seen.append(entry)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(consume)
            while len(seen) < 2:
                await anyio.sleep(0.01)
            await watcher.stop()

    assert [e.key if e else None for e in seen] == ["a", None]


async def test_keys_history_and_stopped_watchers_leave_no_consumer_behind(
    js: JetStream, kv: KeyValue, bucket: str
) -> None:
    await kv.put("a", b"1")
    await kv.keys()
    await kv.history("a")
    async with await kv.watchall():
        assert len(await js.consumers_info(f"KV_{bucket}")) == 1
    assert await js.consumers_info(f"KV_{bucket}") == []


async def test_values_must_be_bytes(kv: KeyValue) -> None:
    with pytest.raises(TypeError, match="must be bytes, got str"):
        await kv.put("k", "text")  # type: ignore[arg-type]
    await kv.put("k", bytearray(b"ok"))
    assert (await kv.get("k")).value == b"ok"


async def test_watchers_are_key_watchers(kv: KeyValue) -> None:
    async with await kv.watchall() as watcher:
        assert isinstance(watcher, KeyValue.KeyWatcher)


async def test_a_bucket_with_direct_gets_reads_the_same(js: JetStream, bucket: str) -> None:
    kv = await js.create_key_value(bucket=bucket, history=3, direct=True)
    first = await kv.put("k", b"1")
    await kv.put("k", b"2")

    latest = await kv.get("k")
    older = await kv.get("k", revision=first)
    await kv.delete("k")

    assert (await kv.status()).stream_info.config.allow_direct is True
    assert (latest.value, latest.headers, older.value) == (b"2", None, b"1")
    assert latest.created is not None
    with pytest.raises(KeyNotFoundError) as caught:
        await kv.get("k")
    assert caught.value.op == "DEL"
    with pytest.raises(KeyNotFoundError):
        await kv.get("missing")


async def test_bucket_settings_show_in_its_status(js: JetStream, bucket: str) -> None:
    kv = await js.create_key_value(
        bucket=bucket, history=7, ttl=3600, max_value_size=1024, description="cache"
    )
    status = await kv.status()
    assert (status.history, status.ttl, status.values) == (7, 3600, 0)
    assert status.stream_info.config.description == "cache"
    with pytest.raises(BadRequestError, match="message size exceeds maximum"):
        await kv.put("big", b"x" * 2048)


async def test_a_watch_ends_when_its_connection_closes(js_url: str, bucket: str) -> None:
    async with nats.connect(js_url) as nc:
        kv = await JetStream(nc).create_key_value(bucket=bucket)
        watcher = await kv.watchall()
        assert await watcher.updates(timeout=5) is None
    with pytest.raises(SubscriptionClosedError, match="is closed"):
        await watcher.updates(timeout=1)
    assert [e async for e in watcher] == []


async def test_create_with_a_ttl_expires_the_value(kv: KeyValue) -> None:
    await kv.create("session", b"token", msg_ttl=1)
    assert (await kv.get("session")).value == b"token"
    with anyio.fail_after(15):
        while True:
            try:
                await kv.get("session")
            except KeyNotFoundError:
                break
            await anyio.sleep(0.2)
    await kv.create("session", b"new token")  # the key is free again


async def test_watch_updates_only_skips_the_current_values(kv: KeyValue) -> None:
    await kv.put("old", b"1")
    async with await kv.watchall(updates_only=True) as watcher:
        await kv.put("new", b"2")
        entry = await watcher.updates(timeout=5)
        with pytest.raises(NatsTimeoutError):
            await watcher.updates(timeout=0.2)
    assert entry is not None and (entry.key, entry.value) == ("new", b"2")


async def test_a_watch_sees_the_servers_marker_when_a_value_expires(
    js: JetStream, bucket: str
) -> None:
    kv = await js.create_key_value(bucket=bucket, limit_marker_ttl=60)
    async with await kv.watchall() as watcher:
        assert await watcher.updates(timeout=5) is None
        await kv.create("session", b"token", msg_ttl=1)
        created = await watcher.updates(timeout=5)
        expired = await watcher.updates(timeout=15)  # the server's marker, 1 s later

    assert created is not None and created.operation is None
    assert expired is not None and (expired.key, expired.operation) == ("session", "PURGE")
    assert expired.headers is not None and expired.headers.get("Nats-Marker-Reason") == "MaxAge"
    assert (await kv.status()).marker_ttl == 60


async def test_updates_that_time_out_lose_no_entry(kv: KeyValue) -> None:
    seen: list[str] = []
    async with await kv.watchall() as watcher:
        assert await watcher.updates(timeout=5) is None

        async def put_all() -> None:
            for i in range(200):
                await kv.put(f"k.{i}", b"v")

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(put_all)
                while len(seen) < 200:
                    try:  # timeouts this short often cut a wait for an entry
                        entry = await watcher.updates(timeout=0.0005)
                    except NatsTimeoutError:
                        continue
                    assert entry is not None
                    seen.append(entry.key)

    assert seen == [f"k.{i}" for i in range(200)]
