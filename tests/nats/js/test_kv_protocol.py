"""The key-value protocol's pure parts: keys, headers, the bucket's stream (no server)."""

from __future__ import annotations

import pytest

from anystream.nats.js.errors import InvalidBucketNameError, KeyHistoryTooLargeError
from anystream.nats.js.kv_protocol import (
    is_key_valid,
    kv_stream_config,
    operation,
    user_headers,
)
from nats.js import api


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (None, (True, None)),
        ({"X-Own": "1"}, (True, None)),
        ({"KV-Operation": "DEL"}, (True, "DEL")),
        ({"KV-Operation": "PURGE", "Nats-Rollup": "sub"}, (True, "PURGE")),
        ({"Nats-Marker-Reason": "MaxAge"}, (True, "PURGE")),
        ({"Nats-Marker-Reason": "Purge"}, (True, "PURGE")),
        ({"Nats-Marker-Reason": "Remove"}, (True, "DEL")),
        ({"Nats-Marker-Reason": "SomethingNew"}, (False, None)),  # skipped by watchers
    ],
)
def test_the_operation_a_revision_stores(
    headers: dict[str, str] | None, expected: tuple[bool, str | None]
) -> None:
    assert operation(headers) == expected


def test_a_direct_gets_own_headers_are_not_the_entrys() -> None:
    sent = {"Nats-Stream": "KV_b", "Nats-Sequence": "3", "Nats-Subject": "$KV.b.k"}
    assert user_headers(sent) is None
    assert user_headers({**sent, "KV-Operation": "DEL"}) == {"KV-Operation": "DEL"}


def test_keys_follow_the_nats_rules() -> None:
    assert all(is_key_valid(k) for k in ("a", "a.b", "A-b_c/d=e", "0"))
    assert not any(is_key_valid(k) for k in ("", ".a", "a.", "a b", "a*", "a>", "ä"))


def test_a_buckets_stream_is_what_every_client_declares() -> None:
    config = api.KeyValueConfig(bucket="b", history=5, ttl=60, max_value_size=1024)
    stream = kv_stream_config(config)
    assert (stream.name, stream.subjects, stream.max_msgs_per_subject) == (
        "KV_b",
        ["$KV.b.>"],
        5,
    )
    assert (stream.max_age, stream.duplicate_window, stream.max_msg_size) == (60, 60, 1024)
    assert (stream.deny_delete, stream.allow_rollup_hdrs, stream.discard) == (
        True,
        True,
        api.DiscardPolicy.NEW,
    )
    with pytest.raises(KeyHistoryTooLargeError):
        kv_stream_config(api.KeyValueConfig(bucket="b", history=65))
    with pytest.raises(InvalidBucketNameError):
        kv_stream_config(api.KeyValueConfig(bucket="a.b"))
