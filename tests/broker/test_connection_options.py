"""nats-py's connection options, as faststream passes them, mapped to anystream.nats."""

from __future__ import annotations

import pytest
from faststream.nats import NatsBroker

from anystream.nats.broker import connection_options


def test_faststream_s_defaults_map_to_the_native_client() -> None:
    servers, options = connection_options(NatsBroker("nats://h:4333")._connection_kwargs)
    assert servers == ["nats://h:4333"]
    assert options["reconnect_wait"] == options["reconnect_wait_max"] == 2.0  # nats-py: fixed
    assert options["echo"] is True and options["randomize"] is True
    assert options["inbox_prefix"] == "_INBOX"
    assert callable(options["error_cb"])


def test_broker_options_reach_the_native_client() -> None:
    broker = NatsBroker(
        ["nats://a:1", "nats://b:2"],
        name="svc",
        no_echo=True,
        dont_randomize=True,
        inbox_prefix="my",
        reconnect_time_wait=0.5,
        max_reconnect_attempts=-1,
        pending_size=1024,
        token="t0k",
    )
    servers, options = connection_options(broker._connection_kwargs)
    assert servers == ["nats://a:1", "nats://b:2"]
    assert options["name"] == "svc"
    assert (options["echo"], options["randomize"]) == (False, False)
    assert options["inbox_prefix"] == "my"
    assert options["reconnect_wait"] == 0.5 and options["max_reconnect_attempts"] == -1
    assert options["reconnect_buffer_size"] == 1024
    assert options["token"] == "t0k"


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("ws_connection_headers", {"a": ["b"]}),
        ("tls_handshake_first", True),
        ("discovered_server_cb", print),
        ("reconnect_to_server_handler", print),
    ],
)
def test_options_without_a_native_counterpart_are_refused_by_name(
    option: str, value: object
) -> None:
    with pytest.raises(ValueError, match=option):
        connection_options({"servers": "nats://h:1", option: value})


def test_an_unknown_option_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="no_such_option"):
        connection_options({"servers": "nats://h:1", "no_such_option": 1})
