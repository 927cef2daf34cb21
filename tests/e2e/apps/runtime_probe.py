"""Any app (``PROBED_APP=module:attr``) plus ``GET /__runtime``: how NATS runs inside it.

Answers from inside the server process: the backend the request runs on, whether
``trio_asyncio`` was ever imported, and the module of each broker's connection
(``anystream.nats.compat.client`` on the native path, ``nats.aio.client`` on nats-py).
Everything else goes to the probed app unchanged (lifespan included).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from typing import Any

import sniffio

_module, _, _attr = os.environ["PROBED_APP"].partition(":")
probed: Any = getattr(importlib.import_module(_module), _attr)


def report() -> dict[str, Any]:
    brokers = getattr(probed, "brokers", None) or [getattr(probed, "broker", None)]
    return {
        "backend": sniffio.current_async_library(),
        "trio_asyncio": "trio_asyncio" in sys.modules,
        "connections": [
            type(getattr(broker, "_connection", None)).__module__ for broker in brokers
        ],
    }


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "http" and scope["path"] == "/__runtime":
        body = json.dumps(report()).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return
    await probed(scope, receive, send)
