"""Server URLs, and the pool the client connects and reconnects across, with its backoff.

Everything about *which* server to try next and *when* lives here (no I/O): the
configured and discovered servers, lame-duck servers tried last, the per-server backoff
and the attempt limit (:meth:`ServerPool.reconnect_plan`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

__all__ = ("Backoff", "Server", "ServerPool", "parse_server_url")

DEFAULT_PORT = 4222
_SCHEMES = ("nats", "tls")


@dataclass
class Server:
    """One server: where it is, credentials from its URL, and its reconnect record."""

    scheme: str
    host: str
    port: int
    user: str | None = None
    password: str | None = None
    token: str | None = None
    discovered: bool = False
    attempts: int = 0
    """Failed connection attempts in a row."""
    last_attempt: float = field(default=float("-inf"))
    lame_duck: bool = False

    def backoff(self, wait: float, wait_max: float) -> float:
        """Seconds between attempts: ``wait``, doubled per failure in a row, at most ``wait_max``.

        (The client adds random jitter on top.)
        """
        return float(min(wait * 2.0 ** min(self.attempts, 16), max(wait, wait_max)))

    @property
    def tls(self) -> bool:
        return self.scheme == "tls"

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        """The URL without credentials."""
        return f"{self.scheme}://{self.address}"


def parse_server_url(url: str, *, discovered: bool = False) -> Server:
    """Parse ``nats://[user:pass@|token@]host[:port]`` (also ``tls://`` and bare ``host:port``).

    Raises ``ValueError`` for another scheme or a URL without host.
    """
    text = url.strip()
    if "://" not in text:
        text = "nats://" + text
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise ValueError(f"unsupported scheme in server URL {url!r}: use nats:// or tls://")
    if not parts.hostname:
        raise ValueError(f"server URL {url!r} has no host")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise ValueError(f"server URL {url!r} has an invalid port") from None
    user = password = token = None
    if parts.username is not None:
        if parts.password is not None:
            user, password = unquote(parts.username), unquote(parts.password)
        else:
            token = unquote(parts.username)
    return Server(scheme, parts.hostname, port, user, password, token, discovered=discovered)


class ServerPool:
    """The servers to try, in order: the configured ones, then those the cluster announced."""

    def __init__(self, urls: Sequence[str], *, randomize: bool = False) -> None:
        # "nats://a:4222,nats://b:4222" (a NATS_URL as the nats CLI and Go client take it)
        # is several servers.
        servers = [parse_server_url(p) for u in urls for p in u.split(",") if p.strip()]
        if not servers:
            raise ValueError("at least one server URL is needed")
        if randomize:
            random.shuffle(servers)
        self._servers = servers

    @property
    def servers(self) -> list[Server]:
        return list(self._servers)

    def add_discovered(self, addresses: Iterable[str], *, tls: bool) -> list[Server]:
        """Servers from INFO ``connect_urls``: add those not yet known; return the new ones.

        The cluster announces the servers that accept clients (it leaves out those in
        lame duck mode), so a known server announced again is no longer in lame duck:
        it was restarted.
        """
        known = {s.address: s for s in self._servers}
        added = []
        for address in addresses:
            try:
                server = parse_server_url(
                    f"{'tls' if tls else 'nats'}://{address}", discovered=True
                )
            except ValueError:
                continue
            existing = known.get(server.address)
            if existing is not None:
                existing.lame_duck = False
                continue
            known[server.address] = server
            self._servers.append(server)
            added.append(server)
        return added

    def remove(self, server: Server) -> None:
        if server in self._servers:
            self._servers.remove(server)

    def rotation(self, current: Server | None) -> list[Server]:
        """Servers in the order to try next: others first, lame-duck and ``current`` last."""
        others = [s for s in self._servers if s is not current and not s.lame_duck]
        tail = [s for s in self._servers if s is not current and s.lame_duck]
        if current is not None and current in self._servers:
            tail.append(current)
        return others + tail

    # ----------------------------------------------------------------- reconnecting

    def disconnected(self, server: Server, now: float) -> None:
        """The connection to ``server`` was lost at ``now`` (its next try waits its backoff)."""
        server.last_attempt = now

    def reconnect_plan(
        self, previous: Server | None, backoff: Backoff, clock: Callable[[], float]
    ) -> Iterator[tuple[Server, float]]:
        """Yield ``(server, seconds to wait before trying it)`` until no server is left.

        Servers come in :meth:`rotation` order, round after round. In the first round a
        server never tried (other than ``previous``) is tried at once; otherwise each
        waits ``backoff.wait`` doubled per failure in a row (up to ``backoff.wait_max``)
        since its last attempt, plus random jitter. Report each try with
        :meth:`attempted` and then :meth:`failed` or :meth:`succeeded`.
        """
        rounds = 0
        while True:
            rotation = self.rotation(previous)
            if not rotation:
                return
            for server in rotation:
                if server not in self._servers:
                    continue
                wait = server.backoff(backoff.wait, backoff.wait_max)
                if server.attempts == 0 and server is not previous and rounds == 0:
                    wait = 0.0
                delay = server.last_attempt + wait - clock()
                if delay > 0:
                    delay += random.uniform(0, backoff.jitter)
                yield server, max(delay, 0.0)
            rounds += 1

    def attempted(self, server: Server, now: float) -> None:
        server.last_attempt = now

    def failed(self, server: Server, backoff: Backoff) -> None:
        """A try failed: count it; drop the server after ``backoff.max_attempts`` in a row."""
        server.attempts += 1
        if 0 <= backoff.max_attempts < server.attempts:
            self.remove(server)

    def succeeded(self, server: Server) -> None:
        server.attempts = 0


@dataclass(frozen=True)
class Backoff:
    """How long to wait between reconnect attempts, and how many to make per server."""

    wait: float = 2.0
    wait_max: float = 30.0
    jitter: float = 0.1
    max_attempts: int = 60
    """Failures in a row after which a server is dropped (-1: never)."""
