"""A message body is decoded to what faststream's ``decode_message`` makes of it.

anystream's copy finds the content type in a dict and decodes plain UTF-8 JSON bytes
without asking ``json.detect_encoding``; every body below, with every content type, must
give faststream's value, or faststream's exception.
"""

from __future__ import annotations

from typing import Any

import pytest
from faststream._internal.constants import ContentTypes

from anystream._adapters._contract import original
from anystream._adapters.faststream import _decode

pytestmark = pytest.mark.usefixtures("adapted")

BODIES = [
    b'{"id": 1, "sku": "sku-1", "qty": 2}',
    b"[1, 2]",
    b"7",
    b"1",
    b"",
    b" ",
    b"not json",
    '{"name": "caf\u00e9"}'.encode(),
    '"\u00e9"'.encode(),
    b"\xef\xbb\xbf{}",  # a UTF-8 byte order mark
    '{"a": 1}'.encode("utf-16"),
    '{"a": 1}'.encode("utf-16-le"),
    '{"a": 1}'.encode("utf-32"),
    b"\x00\x00",
    b"{\x00",
    b'"\xff"',  # not UTF-8
    b'"\xed\xa0\x80"',  # a lone surrogate (json decodes with surrogatepass)
    b"\x80",
]
CONTENT_TYPES: list[Any] = [
    None,
    "",
    "application/json",
    "application/json; charset=utf-8",
    "text/plain",
    "application/octet-stream",
    ContentTypes.JSON,
    ContentTypes.TEXT,
]


class Message:
    def __init__(self, body: bytes, content_type: Any) -> None:
        self.body = body
        if content_type is not None:
            self.content_type = content_type


def _outcome(decode: Any, body: bytes, content_type: Any) -> Any:
    try:
        return ("value", decode(Message(body, content_type)))
    except (ValueError, UnicodeDecodeError) as exc:
        return (type(exc).__name__, str(exc))


@pytest.mark.parametrize("content_type", CONTENT_TYPES, ids=repr)
@pytest.mark.parametrize("body", BODIES, ids=repr)
def test_a_body_decodes_to_what_faststream_decodes_it_to(body: bytes, content_type: Any) -> None:
    upstream = original("faststream.message.utils:", "decode_message")
    assert _outcome(_decode.decode_message, body, content_type) == _outcome(
        upstream, body, content_type
    )


def test_the_nats_parser_decodes_with_the_adapted_function() -> None:
    from faststream.nats import parser

    assert parser.decode_message is _decode.decode_message
