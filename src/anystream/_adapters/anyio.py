"""anyio's asyncio backend module: the one private name anystream touches in it.

anyio's asyncio backend (``anyio._backends._asyncio``) imports ``get_running_loop`` from
asyncio by name and calls it through that module global. trio-asyncio patches
``asyncio.get_running_loop`` when it is imported, so a backend module imported before
keeps the C builtin, which does not see trio-asyncio's loop. The trio runtime
(``anystream.runtime._trio``, the only caller) re-points the global at the patched
function with :func:`repoint_get_running_loop`; which function that is stays in
``runtime/`` (backend-specific code lives there), only the private module is touched here.
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Callable
from typing import Any

from ._contract import Assumption, Broken, all_of, lookup, uses

__all__ = ("ASSUMPTIONS", "BACKEND_MODULE", "repoint_get_running_loop")

#: anyio's asyncio backend module (imported whenever anyio has run on asyncio).
BACKEND_MODULE = "anyio._backends._asyncio"


def repoint_get_running_loop(get_running_loop: Callable[[], Any]) -> None:
    """Make anyio's asyncio backend call ``get_running_loop`` from now on.

    Does nothing when the backend module is not imported yet (it then imports the
    patched function itself) or already calls this one.
    """
    module = sys.modules.get(BACKEND_MODULE)
    if module is not None and getattr(module, "get_running_loop", None) is not get_running_loop:
        setattr(module, "get_running_loop", get_running_loop)  # noqa: B010


def _imports_get_running_loop_by_name() -> None:
    module = lookup(f"{BACKEND_MODULE}:")
    found = getattr(module, "get_running_loop", None)
    if not callable(found) or getattr(found, "__name__", None) != "get_running_loop":
        raise Broken(f"{BACKEND_MODULE} has no module global get_running_loop")
    source = inspect.getsource(module)
    if not re.search(r"from asyncio import \([^)]*\bget_running_loop\b", source):
        raise Broken(f"{BACKEND_MODULE} no longer imports get_running_loop from asyncio by name")


#: What :func:`repoint_get_running_loop` assumes (tests/adapters/test_contracts.py).
ASSUMPTIONS: tuple[Assumption, ...] = (
    Assumption(
        "anyio._backends._asyncio imports asyncio's get_running_loop by name, as a module global",
        _imports_get_running_loop_by_name,
    ),
    Assumption(
        "anyio's asyncio task groups and clock call get_running_loop through that global",
        all_of(
            uses(f"{BACKEND_MODULE}:TaskGroup", "__aexit__", "get_running_loop"),
            uses(f"{BACKEND_MODULE}:AsyncIOBackend", "current_time", "get_running_loop"),
        ),
    ),
)
