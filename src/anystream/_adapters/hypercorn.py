"""hypercorn's worker serve loop: how ``anystream run``'s worker processes serve.

hypercorn's public entry point (``hypercorn.asyncio.serve`` / ``hypercorn.trio.serve``)
binds its own sockets and installs its own shutdown handling; a worker of ``anystream
run`` serves sockets its supervisor bound and inherited, until the supervisor says stop.
That is what hypercorn's own worker processes do, with ``worker_serve`` (in the
undocumented ``hypercorn.asyncio.run`` / ``hypercorn.trio.run``) and the app wrapped in
``hypercorn.app_wrappers.ASGIWrapper``: :func:`serve_worker` calls them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ._contract import Assumption, all_of, defines, signature

if TYPE_CHECKING:
    from hypercorn.config import Config, Sockets

    from ..asgi.types import ASGIApp

__all__ = ("ASSUMPTIONS", "serve_worker")

_SERVE_SIGNATURE = "(app, config, *, sockets=None, shutdown_trigger=None{})"


async def serve_worker(
    backend: str,
    app: ASGIApp,
    config: Config,
    sockets: Sockets,
    shutdown_trigger: Callable[..., Awaitable[Any]],
) -> None:
    """Serve ``app`` on the inherited ``sockets`` until ``shutdown_trigger`` returns.

    One hypercorn worker's serve loop on ``backend`` (``"trio"`` or ``"asyncio"``, the
    backend this runs on).
    """
    from hypercorn.app_wrappers import ASGIWrapper

    wrapped = ASGIWrapper(app)  # type: ignore[arg-type]
    if backend == "trio":
        from hypercorn.trio.run import worker_serve as trio_serve

        await trio_serve(wrapped, config, sockets=sockets, shutdown_trigger=shutdown_trigger)
    else:
        from hypercorn.asyncio.run import worker_serve as asyncio_serve

        await asyncio_serve(wrapped, config, sockets=sockets, shutdown_trigger=shutdown_trigger)


#: What :func:`serve_worker` assumes (tests/adapters/test_contracts.py).
ASSUMPTIONS: tuple[Assumption, ...] = (
    Assumption(
        "hypercorn.asyncio.run.worker_serve(app, config, *, sockets, shutdown_trigger)",
        signature("hypercorn.asyncio.run:", "worker_serve", _SERVE_SIGNATURE.format("")),
    ),
    Assumption(
        "hypercorn.trio.run.worker_serve(app, config, *, sockets, shutdown_trigger, task_status)",
        signature(
            "hypercorn.trio.run:",
            "worker_serve",
            _SERVE_SIGNATURE.format(", task_status=TASK_STATUS_IGNORED"),
        ),
    ),
    Assumption(
        "hypercorn.app_wrappers.ASGIWrapper(app) wraps an ASGI 3 app for worker_serve",
        all_of(
            signature("hypercorn.app_wrappers:ASGIWrapper", "__init__", "(self, app)"),
            defines("hypercorn.app_wrappers:ASGIWrapper", "__call__"),
        ),
    ),
)
