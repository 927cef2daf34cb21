"""The object store's pure parts: chunking a source, digests, name encoding (no server)."""

from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import AsyncIterator

import pytest

from anystream.nats.js.errors import BadObjectMetaError
from anystream.nats.js.kv_protocol import subject_matches
from anystream.nats.js.object_store_data import chunked, format_digest, parse_digest

pytestmark = pytest.mark.anyio


async def collect(source: object, size: int) -> list[bytes]:
    return [chunk async for chunk in chunked(source, size)]  # type: ignore[arg-type]


async def uneven() -> AsyncIterator[bytes]:
    for piece in (b"a", b"bcdefg", b"", b"hi", b"jklmnopq", b"r"):
        yield piece


async def test_any_source_becomes_chunks_of_the_size_but_the_last() -> None:
    expected = [b"abcd", b"efgh", b"ijkl", b"mnop", b"qr"]
    assert await collect(b"abcdefghijklmnopqr", 4) == expected
    assert await collect("abcdefghijklmnopqr", 4) == expected
    assert await collect(io.BytesIO(b"abcdefghijklmnopqr"), 4) == expected
    assert await collect(uneven(), 4) == expected
    assert await collect([b"abcdefg", b"hijklmnopqr"], 4) == expected
    assert await collect(iter([b"abcdefghijklmnopq", b"r"]), 4) == expected
    assert await collect(b"", 4) == []


class AsyncReader:
    """An object with an async read(n) that returns short reads, as sockets and pipes do."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    async def read(self, size: int = -1) -> bytes:
        piece, self._data = self._data[: min(size, 3)], self._data[min(size, 3) :]
        return piece


async def test_short_reads_are_put_back_together_into_full_chunks() -> None:
    assert await collect(AsyncReader(b"abcdefghij"), 4) == [b"abcd", b"efgh", b"ij"]


async def test_text_and_other_sources_are_refused() -> None:
    with pytest.raises(TypeError, match="binary mode"):
        await collect(io.StringIO("text"), 4)
    with pytest.raises(TypeError, match="got int"):
        await collect(42, 4)


def test_digests_are_sha256_in_base64url_with_or_without_padding() -> None:
    sha = hashlib.sha256(b"data").digest()
    digest = format_digest(sha)
    assert digest == "SHA-256=" + base64.urlsafe_b64encode(sha).decode()
    assert parse_digest(digest) == sha
    assert parse_digest(digest.rstrip("=")) == sha
    assert parse_digest("sha-256=" + digest[8:]) == sha
    with pytest.raises(BadObjectMetaError):
        parse_digest("MD5=abc")


@pytest.mark.parametrize(
    ("pattern", "subject", "matches"),
    [
        ("a.b", "a.b", True),
        ("a.*", "a.b", True),
        ("a.*", "a.b.c", False),
        ("a.>", "a.b.c", True),
        ("a.>", "a", False),
        ("*.b", "a.b", True),
        ("a.b", "a.bc", False),
    ],
)
def test_key_filters_match_as_nats_subjects(pattern: str, subject: str, matches: bool) -> None:
    assert subject_matches(pattern, subject) is matches
