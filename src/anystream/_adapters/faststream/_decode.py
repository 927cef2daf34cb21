"""faststream's ``decode_message`` (the NATS parser's default decoder) with less work per body.

Upstream's ``decode_message`` (``faststream/message/utils.py``) runs for every message a
handler reads: it looks the message's content type up in the ``ContentTypes`` enum by
calling it (``ContentTypes(value)``: the enum machinery, and a ``ValueError`` raised and
suppressed for every other type), then decodes JSON with ``json_loads(body)``. With the
standard library's ``json`` (faststream's choice when ``orjson`` is not installed),
``json.loads`` of ``bytes`` first asks ``json.detect_encoding`` which of the five UTF
encodings the bytes are in.

:func:`decode_message` is the same function with the two known content types found in a
dict (the same members; any other text stays the text, as after upstream's suppressed
``ValueError``), and a body that plainly is UTF-8 (its first byte a non-zero ASCII byte,
its second byte not zero: ``detect_encoding`` answers ``"utf-8"`` for exactly those)
decoded as ``json.loads`` decodes it, ``bytes.decode("utf-8", "surrogatepass")``, before
it is parsed. Everything else goes through ``json_loads`` as upstream; with ``orjson``,
``orjson.loads`` as upstream. The same value or the same exception for every body.
"""

from __future__ import annotations

import functools
import json
from contextlib import suppress
from typing import Any

from .._contract import Assumption, Patch, all_of, unchanged, uses

__all__ = ("ASSUMPTIONS", "PATCHES", "decode_message")

_UTILS = "faststream.message.utils:"
_NATS_PARSER = "faststream.nats.parser:"


@functools.cache
def _names() -> tuple[Any, Any, Any, dict[str, Any], Any]:
    """faststream's names the copy reads, imported once (not on every message)."""
    from faststream._internal.constants import ContentTypes
    from faststream.message import utils

    by_text = {member.value: member for member in ContentTypes}
    return ContentTypes, ContentTypes.TEXT, ContentTypes.JSON, by_text, utils


def _json(body: Any, json_loads: Any) -> Any:
    """``json_loads(body)``; with the standard library's ``json.loads``, plain UTF-8 bytes
    decoded first (what ``json.loads`` does after ``detect_encoding`` answers "utf-8")."""
    if (
        json_loads is json.loads
        and type(body) is bytes
        and body
        and 0 < body[0] < 0x80
        and (len(body) < 2 or body[1])
    ):
        return json.loads(body.decode("utf-8", "surrogatepass"))
    return json_loads(body)


def decode_message(message: Any) -> Any:
    """Upstream's ``decode_message`` (module docstring): the same result for every message."""
    content_types, text, json_type, by_text, utils = _names()
    json_loads = utils.json_loads  # read per call, as upstream reads its global
    body: Any = getattr(message, "body", message)
    m: Any = body

    if content_type := getattr(message, "content_type", False):
        if type(content_type) is str:
            content_type = by_text.get(content_type, content_type)
        else:
            with suppress(ValueError):
                content_type = content_types(content_type)

        if content_type is text:
            m = body.decode()

        elif content_type is json_type or (
            isinstance(content_type, str) and content_type.startswith(json_type.value)
        ):
            m = _json(body, json_loads)

    else:
        # content-type not set
        with suppress(json.JSONDecodeError, UnicodeDecodeError):
            m = _json(body, json_loads)

    return m


ASSUMPTIONS: tuple[Assumption, ...] = (
    Assumption(
        "decode_message is the 0.7.8 code our copy is based on, and the NATS parser calls "
        "it through faststream.nats.parser's global decode_message",
        all_of(
            unchanged(_UTILS, "decode_message", "08717edf87119935", copy_in=__name__),
            uses(_NATS_PARSER + "NatsBaseParser", "decode_message", "decode_message"),
        ),
    ),
)

PATCHES: tuple[Patch, ...] = (Patch(_NATS_PARSER, "decode_message", decode_message),)
