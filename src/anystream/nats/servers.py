"""Server URLs and the pool the client connects and reconnects across."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

__all__ = ("Server", "ServerPool", "parse_server_url")

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
        servers = [parse_server_url(u) for u in urls]
        if not servers:
            raise ValueError("at least one server URL is needed")
        if randomize:
            random.shuffle(servers)
        self._servers = servers

    def __iter__(self) -> Iterable[Server]:  # type: ignore[override]
        return iter(list(self._servers))

    def __len__(self) -> int:
        return len(self._servers)

    @property
    def servers(self) -> list[Server]:
        return list(self._servers)

    def add_discovered(self, addresses: Iterable[str], *, tls: bool) -> list[Server]:
        """Add servers from INFO ``connect_urls`` not yet known; return the new ones."""
        known = {s.address for s in self._servers}
        added = []
        for address in addresses:
            try:
                server = parse_server_url(
                    f"{'tls' if tls else 'nats'}://{address}", discovered=True
                )
            except ValueError:
                continue
            if server.address not in known:
                known.add(server.address)
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
