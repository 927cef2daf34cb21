"""``--bind`` values: parse them, then open the listening sockets with readable errors.

Accepted forms (hypercorn's, checked up front so a typo is one line, not a traceback):
``HOST:PORT``, ``[IPV6]:PORT``, ``unix:/path``, ``fd://N``.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import stat
from dataclasses import dataclass

from hypercorn.config import Config, Sockets

from . import CLIError

__all__ = ("Bind", "describe_socket", "open_sockets", "parse_bind")

_FORMS = "expected HOST:PORT, [IPV6]:PORT, unix:PATH or fd://N"


@dataclass(frozen=True)
class Bind:
    """One parsed ``--bind``: ``kind`` is ``tcp``, ``unix`` or ``fd``."""

    kind: str
    text: str  # what the user typed
    host: str = ""
    port: int = 0
    path: str = ""
    fd: int = -1

    @property
    def hypercorn(self) -> str:
        """The same bind in hypercorn's syntax."""
        if self.kind == "unix":
            return f"unix:{self.path}"
        if self.kind == "fd":
            return f"fd://{self.fd}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_bind(text: str) -> Bind:
    """Parse one ``--bind`` value; raise :class:`CLIError` if it cannot be one."""
    if text.startswith("unix:"):
        path = text[len("unix:") :]
        if not path:
            raise CLIError(f"bad --bind {text!r}: unix: needs a path ({_FORMS})")
        return Bind("unix", text, path=path)
    if text.startswith("fd://"):
        number = text[len("fd://") :]
        if not number.isdigit():
            raise CLIError(f"bad --bind {text!r}: fd:// needs a file descriptor number")
        return Bind("fd", text, fd=int(number))
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise CLIError(f"bad --bind {text!r}: {_FORMS}")
    if host.startswith("["):
        if not host.endswith("]"):
            raise CLIError(f"bad --bind {text!r}: {_FORMS}")
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise CLIError(f"bad --bind {text!r}: {host!r} is not an IPv6 address") from None
    elif ":" in host:
        raise CLIError(f"bad --bind {text!r}: write IPv6 addresses in brackets, [::1]:PORT")
    if not port_text.isdigit() or int(port_text) > 65535:
        raise CLIError(f"bad --bind {text!r}: the port must be a number from 0 to 65535")
    return Bind("tcp", text, host=host, port=int(port_text))


def _check_fd(bind: Bind) -> None:
    try:
        mode = os.fstat(bind.fd).st_mode
    except OSError:
        raise CLIError(f"bad --bind {bind.text!r}: file descriptor {bind.fd} is not open") from None
    if not stat.S_ISSOCK(mode):
        raise CLIError(f"bad --bind {bind.text!r}: file descriptor {bind.fd} is not a socket")
    with socket.socket(fileno=os.dup(bind.fd)) as sock:
        if sock.type != socket.SOCK_STREAM:
            raise CLIError(f"bad --bind {bind.text!r}: socket {bind.fd} is not a stream socket")


def open_sockets(config: Config, binds: list[Bind]) -> Sockets:
    """Open (bind and listen on) every socket, in the supervisor, before any worker starts.

    Workers inherit them, so a port in use is reported once and up front. Each
    bind is opened on its own to name the one that failed.
    """
    for bind in binds:
        if bind.kind == "fd":
            _check_fd(bind)
    opened: list[socket.socket] = []
    try:
        for bind in binds:
            single = Config()
            single.bind = [bind.hypercorn]
            single.backlog = config.backlog
            single.umask = config.umask
            try:
                sockets = single.create_sockets().insecure_sockets
            except socket.gaierror as exc:
                raise CLIError(f"cannot bind {bind.text}: unknown host ({exc.strerror})") from None
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    reason = "address already in use"
                elif exc.errno == errno.EACCES:
                    reason = "permission denied"
                else:
                    reason = exc.strerror or str(exc)
                raise CLIError(f"cannot bind {bind.text}: {reason}") from None
            opened.extend(sockets)
            for sock in sockets:
                sock.listen(config.backlog)
    except BaseException:
        for sock in opened:
            sock.close()
        raise
    return Sockets(secure_sockets=[], insecure_sockets=opened, quic_sockets=[])


def describe_socket(sock: socket.socket) -> str:
    """``http://127.0.0.1:8000``, ``http://[::1]:8000`` or ``unix:/path`` for a log line."""
    address = sock.getsockname()
    if sock.family == socket.AF_UNIX:
        return f"unix:{address}"
    if sock.family == socket.AF_INET6:
        return f"http://[{address[0]}]:{address[1]}"
    return f"http://{address[0]}:{address[1]}"
