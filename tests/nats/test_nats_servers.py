"""Server URLs, the server pool and the reconnect back-off (no I/O)."""

from __future__ import annotations

import pytest

from anystream.nats.servers import ServerPool, parse_server_url


def test_url_forms() -> None:
    server = parse_server_url("nats://alice:p%40ss@example.org:4333")
    assert (server.host, server.port, server.user, server.password) == (
        "example.org",
        4333,
        "alice",
        "p@ss",
    )
    assert parse_server_url("tls://tok@127.0.0.1").token == "tok"
    assert parse_server_url("tls://127.0.0.1").tls
    assert parse_server_url("127.0.0.1:4223").url == "nats://127.0.0.1:4223"
    assert parse_server_url("nats://[::1]:4222").url == "nats://[::1]:4222"


@pytest.mark.parametrize("url", ["http://127.0.0.1:4222", "nats://", "nats://h:notaport"])
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        parse_server_url(url)


def test_discovered_servers_are_added_once_and_tried_after_the_others() -> None:
    pool = ServerPool(["nats://127.0.0.1:4222"])
    added = pool.add_discovered(["127.0.0.1:4222", "127.0.0.1:5222", "127.0.0.1:5222"], tls=False)
    assert [s.url for s in added] == ["nats://127.0.0.1:5222"]
    current, discovered = pool.servers
    assert discovered.discovered
    assert pool.rotation(current) == [discovered, current]
    discovered.lame_duck = True
    assert pool.rotation(None) == [current, discovered]


def test_backoff_doubles_per_failure_up_to_the_maximum() -> None:
    server = parse_server_url("nats://127.0.0.1")
    delays = []
    for attempts in range(6):
        server.attempts = attempts
        delays.append(server.backoff(0.5, 4.0))
    assert delays == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    server.attempts = 1000
    assert server.backoff(2.0, 1.0) == 2.0  # never below the base wait


def test_a_comma_separated_url_is_several_servers() -> None:
    pool = ServerPool(["nats://127.0.0.1:4222,nats://127.0.0.1:4223, 127.0.0.1:4224"])
    assert [s.url for s in pool.servers] == [
        "nats://127.0.0.1:4222",
        "nats://127.0.0.1:4223",
        "nats://127.0.0.1:4224",
    ]


def test_a_lame_duck_server_announced_again_by_the_cluster_is_no_longer_last() -> None:
    pool = ServerPool(["nats://127.0.0.1:4222", "nats://127.0.0.1:4223"])
    first, second = pool.servers
    first.lame_duck = True  # it was shutting down...
    assert pool.rotation(None) == [second, first]
    pool.add_discovered(["127.0.0.1:4223", "127.0.0.1:4222"], tls=False)  # ...and is back
    assert not first.lame_duck
    assert pool.rotation(None) == [first, second]
