"""uvicorn serving one app on a public and an internal socket (docs/security.md).

``python -m tests.e2e.apps.uvicorn_two_binds MODULE:APP PUBLIC_PORT INTERNAL_PORT``
"""

import os
import socket
import sys

import uvicorn


def listen(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


if __name__ == "__main__":
    target, public, internal = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    os.environ["ANYSTREAM_INTERNAL_BINDS"] = f"127.0.0.1:{internal}"
    server = uvicorn.Server(uvicorn.Config(target, lifespan="on"))
    server.run(sockets=[listen(public), listen(internal)])
