"""A server that answers every HTTP/1.1 request at once: the load generator's own ceiling.

``python -m anystream.bench.null_server --port P`` prints ``ready`` once it listens,
then answers each request head (GET, no body) with a fixed ``200 hello`` until it
is terminated. It parses nothing but the end of each head, so a load generator run
against it closed loop measures how many requests/s the load generator itself can
drive on this machine: the figure every other requests/s figure must stay well under.
"""

from __future__ import annotations

import argparse
import sys

import anyio
from anyio.abc import SocketStream

__all__ = ("RESPONSE", "handle", "main")

RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-type: text/plain\r\n\r\nhello"


async def handle(stream: SocketStream) -> None:
    """Answer every complete request head on ``stream`` until the client closes it."""
    buffer = b""
    async with stream:
        while True:
            try:
                chunk = await stream.receive(65536)
            except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                return
            buffer += chunk
            heads = buffer.count(b"\r\n\r\n")
            if heads:
                buffer = buffer[buffer.rindex(b"\r\n\r\n") + 4 :]
                try:
                    await stream.send(RESPONSE * heads)
                except (anyio.BrokenResourceError, OSError):
                    return


async def serve(host: str, port: int) -> None:
    listener = await anyio.create_tcp_listener(local_host=host, local_port=port)
    print("ready", flush=True)
    await listener.serve(handle)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="anystream.bench.null_server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    from .loadgen import _fast_loop

    anyio.run(serve, args.host, args.port, backend_options=_fast_loop())
    return 0


if __name__ == "__main__":
    sys.exit(main())
