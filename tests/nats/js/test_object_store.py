"""Object store buckets on a real ``nats-server -js``, on asyncio and trio."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from anystream.nats.js import JetStream, ObjectStore, object_store_chunks
from anystream.nats.js.errors import (
    BadRequestError,
    BucketNotFoundError,
    DigestMismatchError,
    InvalidObjectNameError,
    LinkIsABucketError,
    ObjectAlreadyExists,
    ObjectNotFoundError,
)
from nats.js import api

pytestmark = pytest.mark.anyio

SMALL_CHUNKS = api.ObjectMeta(options=api.ObjectMetaOptions(max_chunk_size=1000))


@pytest.fixture
async def obs(js: JetStream, bucket: str) -> ObjectStore:
    return await js.create_object_store(bucket)


def digest_of(data: bytes) -> str:
    return "SHA-256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode()


async def pieces(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        await anyio.lowlevel.checkpoint()
        yield data[start : start + size]


# ----------------------------------------------------------------------------- buckets


async def test_create_open_and_delete_a_bucket(js: JetStream, bucket: str) -> None:
    created = await js.create_object_store(
        config=api.ObjectStoreConfig(bucket=bucket, description="files")
    )
    await created.put("a.txt", b"hello")

    opened = await js.object_store(bucket)
    status = await opened.status()

    assert (opened.bucket, status.bucket, status.description, status.sealed) == (
        bucket,
        bucket,
        "files",
        False,
    )
    assert status.size > 0
    assert await js.delete_object_store(bucket) is True
    with pytest.raises(BucketNotFoundError, match=bucket):
        await js.object_store(bucket)


# ----------------------------------------------------------------------------- put / get


async def test_put_then_get_bytes(obs: ObjectStore, bucket: str) -> None:
    data = bytes(range(256)) * 1000

    info = await obs.put("blob.bin", data)
    result = await obs.get("blob.bin")

    assert (info.name, info.bucket, info.size, info.chunks) == ("blob.bin", bucket, len(data), 2)
    assert info.digest == digest_of(data)
    assert result.data == data
    assert (result.info.name, result.info.size, result.info.digest) == (
        "blob.bin",
        len(data),
        info.digest,
    )


async def test_chunks_follow_the_max_chunk_size(obs: ObjectStore) -> None:
    info = await obs.put("x", b"y" * 2500, meta=SMALL_CHUNKS)
    assert (info.size, info.chunks) == (2500, 3)
    assert info.options is not None and info.options.max_chunk_size == 1000
    assert (await obs.get("x")).data == b"y" * 2500


async def test_put_from_str_file_async_file_and_async_iterator(
    obs: ObjectStore, tmp_path: Path
) -> None:
    data = b"0123456789" * 300
    path = tmp_path / "data.bin"
    path.write_bytes(data)

    await obs.put("from-str", data.decode(), meta=SMALL_CHUNKS)
    with path.open("rb") as file:
        await obs.put("from-file", file, meta=SMALL_CHUNKS)
    async with await anyio.open_file(path, "rb") as async_file:
        await obs.put("from-async-file", async_file, meta=SMALL_CHUNKS)
    await obs.put("from-iterator", pieces(data, 7), meta=SMALL_CHUNKS)

    for name in ("from-str", "from-file", "from-async-file", "from-iterator"):
        result = await obs.get(name)
        assert (result.data, result.info.chunks) == (data, 3), name


async def test_get_writes_into_a_file_or_an_async_writer(obs: ObjectStore, tmp_path: Path) -> None:
    data = b"abc" * 1000
    await obs.put("doc", data, meta=SMALL_CHUNKS)

    path = tmp_path / "out.bin"
    with path.open("wb") as file:
        result = await obs.get("doc", writeinto=file)
    async with await anyio.open_file(tmp_path / "out2.bin", "wb") as async_file:
        await obs.get("doc", writeinto=async_file)

    assert result.data == b""
    assert path.read_bytes() == data
    assert (tmp_path / "out2.bin").read_bytes() == data


async def test_an_empty_object(obs: ObjectStore) -> None:
    info = await obs.put("empty", b"")
    result = await obs.get("empty")
    assert (info.size, info.chunks, result.data) == (0, 0, b"")
    assert info.digest == digest_of(b"")


async def test_text_files_and_other_types_are_refused(obs: ObjectStore, tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("text")
    with path.open("r") as text_file:
        info = await obs.put("text", text_file)  # its binary buffer is read
    assert info.size == 4
    with pytest.raises(TypeError, match="object data"):
        await obs.put("number", 42)  # type: ignore[arg-type]
    with pytest.raises(InvalidObjectNameError):
        await obs.put("", b"x")


async def test_replacing_an_object_drops_the_old_data(obs: ObjectStore) -> None:
    await obs.put("same", b"a" * 5000)
    size_before = (await obs.status()).size
    await obs.put("same", b"b" * 10)

    result = await obs.get("same")

    assert result.data == b"b" * 10
    assert (await obs.status()).size < size_before - 4000


async def test_get_of_a_missing_object_says_so(obs: ObjectStore) -> None:
    with pytest.raises(ObjectNotFoundError, match="nothing-here"):
        await obs.get("nothing-here")


async def test_names_with_any_characters_round_trip(obs: ObjectStore) -> None:
    name = "dir/sub dir/ünïcode.txt"
    await obs.put(name, b"x")
    assert (await obs.get(name)).info.name == name


# ----------------------------------------------------------------------------- digest


async def test_data_not_matching_its_digest_is_refused(js: JetStream, obs: ObjectStore) -> None:
    info = await obs.put("tampered", b"original data")
    info.digest = digest_of(b"other data")
    meta_subject = "$O.{}.M.{}".format(obs.bucket, base64.urlsafe_b64encode(b"tampered").decode())
    await js.publish(
        meta_subject, json.dumps(info.as_dict()).encode(), headers={"Nats-Rollup": "sub"}
    )

    with pytest.raises(DigestMismatchError, match="tampered"):
        await obs.get("tampered")


async def test_missing_chunks_are_a_digest_mismatch(js: JetStream, obs: ObjectStore) -> None:
    info = await obs.put("cut", b"z" * 2500, meta=SMALL_CHUNKS)
    await js.purge_stream(f"OBJ_{obs.bucket}", subject=f"$O.{obs.bucket}.C.{info.nuid}", keep=1)

    with pytest.raises(DigestMismatchError, match="read 500 bytes"):
        await obs.get("cut")


# ----------------------------------------------------------------------------- meta / delete


async def test_update_meta_changes_the_description_and_renames(obs: ObjectStore) -> None:
    await obs.put("old-name", b"data")

    await obs.update_meta("old-name", api.ObjectMeta(name="new-name", description="renamed"))

    result = await obs.get("new-name")
    assert (result.data, result.info.description) == (b"data", "renamed")
    with pytest.raises(ObjectNotFoundError):
        await obs.get_info("old-name")


async def test_renaming_onto_an_existing_object_is_refused(obs: ObjectStore) -> None:
    await obs.put("a", b"1")
    await obs.put("b", b"2")
    with pytest.raises(ObjectAlreadyExists):
        await obs.update_meta("a", api.ObjectMeta(name="b"))
    assert (await obs.get("b")).data == b"2"


async def test_delete_removes_the_data_and_leaves_a_marker(obs: ObjectStore) -> None:
    await obs.put("doomed", b"q" * 5000)

    await obs.delete("doomed")

    with pytest.raises(ObjectNotFoundError, match="deleted"):
        await obs.get("doomed")
    info = await obs.get_info("doomed", show_deleted=True)
    assert (info.deleted, info.size) == (True, 0)
    assert (await obs.status()).size < 1000


# ----------------------------------------------------------------------------- list / watch


async def test_list_gives_every_object(obs: ObjectStore) -> None:
    await obs.put("a", b"1")
    await obs.put("b", b"2")
    await obs.put("c", b"3")
    await obs.delete("c")

    everything = await obs.list()
    live = await obs.list(ignore_deletes=True)

    assert sorted(i.name for i in everything) == ["a", "b", "c"]
    assert sorted(i.name for i in live) == ["a", "b"]


async def test_list_of_an_empty_bucket_raises_not_found(obs: ObjectStore) -> None:
    with pytest.raises(ObjectNotFoundError, match="no objects"):
        await obs.list()


async def test_watch_gives_current_objects_then_none_then_changes(obs: ObjectStore) -> None:
    await obs.put("first", b"1")

    async with await obs.watch() as watcher:
        initial = await watcher.updates(timeout=5)
        marker = await watcher.updates(timeout=5)
        await obs.put("second", b"22")
        await obs.delete("first")
        live = [await watcher.updates(timeout=5), await watcher.updates(timeout=5)]

    assert initial is not None and (initial.name, initial.size) == ("first", 1)
    assert marker is None
    assert [(i.name, i.size, i.deleted) for i in live if i] == [
        ("second", 2, False),
        ("first", 0, True),
    ]


async def test_watch_updates_only_skips_current_objects(obs: ObjectStore) -> None:
    await obs.put("old", b"1")
    async with await obs.watch(updates_only=True) as watcher:
        await obs.put("new", b"2")
        update = await watcher.updates(timeout=5)
    assert update is not None and update.name == "new"


# ----------------------------------------------------------------------------- seal


async def test_a_sealed_bucket_refuses_writes(obs: ObjectStore) -> None:
    await obs.put("kept", b"1")

    await obs.seal()

    assert (await obs.status()).sealed is True
    with pytest.raises(BadRequestError, match="sealed stream"):
        await obs.put("more", b"2")
    assert (await obs.get("kept")).data == b"1"


# ----------------------------------------------------------------------------- interop-shaped


async def test_get_into_a_bytes_io(obs: ObjectStore) -> None:
    await obs.put("io", b"data" * 100)
    buffer = io.BytesIO()
    await obs.get("io", writeinto=buffer)
    assert buffer.getvalue() == b"data" * 100


async def test_watch_can_ignore_deleted_objects(obs: ObjectStore) -> None:
    await obs.put("kept", b"1")
    await obs.put("dropped", b"2")
    await obs.delete("dropped")
    async with await obs.watch(ignore_deletes=True) as watcher:
        initial = [await watcher.updates(timeout=5), await watcher.updates(timeout=5)]
        assert isinstance(watcher, ObjectStore.ObjectWatcher)
    assert [i.name if i else None for i in initial] == ["kept", None]


async def test_a_put_that_fails_midway_leaves_the_previous_object_intact(
    js: JetStream, obs: ObjectStore
) -> None:
    await obs.put("doc", b"version 1")

    async def broken() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b"x" * 1000
        raise OSError("disk on fire")

    with pytest.raises(OSError, match="disk on fire"):
        await obs.put("doc", broken(), meta=SMALL_CHUNKS)

    assert (await obs.get("doc")).data == b"version 1"
    state = (await js.stream_info(f"OBJ_{obs.bucket}")).state
    assert state.messages == 2  # the old object's chunk and description: new chunks purged


# ----------------------------------------------------------------------------- links


async def test_a_link_gets_the_object_it_points_to(js: JetStream, obs: ObjectStore) -> None:
    other = await js.create_object_store(f"{obs.bucket}_other")
    target = await other.put("original", b"linked data")

    link = await obs.add_link("shortcut", target)
    result = await obs.get("shortcut")

    assert link.is_link() and (await obs.get_info("shortcut")).is_link()
    assert (result.data, result.info.name, result.info.bucket) == (
        b"linked data",
        "original",
        other.bucket,
    )
    await js.delete_object_store(other.bucket)


async def test_a_bucket_link_has_no_data_to_get(js: JetStream, obs: ObjectStore) -> None:
    await obs.add_bucket_link("everything", obs)
    with pytest.raises(LinkIsABucketError):
        await obs.get("everything")


async def test_links_to_deleted_objects_or_over_objects_are_refused(obs: ObjectStore) -> None:
    target = await obs.put("target", b"1")
    await obs.put("taken", b"2")
    with pytest.raises(ObjectAlreadyExists):
        await obs.add_link("taken", target)
    await obs.delete("target")
    with pytest.raises(ObjectNotFoundError, match="deleted"):
        await obs.add_link("dangling", await obs.get_info("target", show_deleted=True))


# ----------------------------------------------------------------------------- read paths


async def test_a_bucket_without_direct_gets_reads_the_same(js: JetStream, bucket: str) -> None:
    # as a client that predates direct gets would have made it
    await js.add_stream(
        name=f"OBJ_{bucket}",
        subjects=[f"$O.{bucket}.C.>", f"$O.{bucket}.M.>"],
        allow_rollup_hdrs=True,
        discard=api.DiscardPolicy.NEW,
    )
    obs = await js.object_store(bucket)
    data = bytes(range(256)) * 20

    await obs.put("doc", data, meta=SMALL_CHUNKS)

    assert (await obs.get("doc")).data == data
    assert [i.name for i in await obs.list()] == ["doc"]


async def test_servers_before_2_11_get_one_chunk_per_request(
    obs: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = bytes(range(256)) * 20
    await obs.put("doc", data, meta=SMALL_CHUNKS)
    monkeypatch.setattr(object_store_chunks, "_batch_get_supported", lambda server_info: False)

    assert (await obs.get("doc")).data == data


@pytest.mark.parametrize(
    ("version", "batched"),
    [("2.15.1", True), ("2.11.0", True), ("2.10.22", False), ("3.0.0-beta", True), ("", False)],
)
def test_batched_direct_gets_need_nats_server_2_11(version: str, batched: bool) -> None:
    assert object_store_chunks._batch_get_supported({"version": version}) is batched
