"""faststream's application internals anystream's apps are built on (no class patched).

anystream's ``AsgiFastStream`` subclasses faststream's and runs the application's start
sequence itself, on anyio: it reads the hooks faststream's ``Application`` keeps
(``_on_startup_calling``, ...), logs through its ``_log``, wraps hooks in its
``catch_startup_validation_error``, passes the CLI's extra options as its
``_run_extra_options`` do, and takes faststream's defaults (``EMPTY``, its logger) for the
same constructor arguments. The HTTP side reads two private attributes of faststream's
ASGI helpers: the undecorated function of an ``HttpHandler`` and the parsed query of an
``AsgiRequest``. Everything here is a name or a small function over those.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

from .._contract import Assumption, Broken, all_of, defines, lookup, source_has, uses
from ._install import FaststreamAdapterError

__all__ = (
    "ASSUMPTIONS",
    "DEFAULT_LOGGER",
    "EMPTY",
    "HOOKS",
    "Application",
    "StartAbleApplication",
    "catch_startup_validation_error",
    "copy_hooks",
    "handler_function",
    "hooks",
    "log",
    "run_extra_options",
    "set_query_params",
    "set_run_extra_options",
)

_APPLICATION = "faststream._internal.application:Application"
_ASGI_APP = "faststream.asgi.app:AsgiFastStream"
_HANDLER = "faststream.asgi.handlers:HttpHandler"
_REQUEST = "faststream.asgi.request:AsgiRequest"

#: The hook lists of an ``Application``, in the order they run.
HOOKS = ("on_startup", "after_startup", "on_shutdown", "after_shutdown")

_NAMES = {
    "Application": "faststream._internal.application:Application",
    "StartAbleApplication": "faststream._internal.application:StartAbleApplication",
    "catch_startup_validation_error": (
        "faststream._internal.application:catch_startup_validation_error"
    ),
    "EMPTY": "faststream._internal.constants:EMPTY",
    "DEFAULT_LOGGER": "faststream._internal.logger:logger",
}
_NAMES_ASSUMPTION = (
    "faststream._internal has Application, StartAbleApplication and "
    "catch_startup_validation_error (application), EMPTY (constants), logger (logger)"
)


def _check_names() -> None:
    for path in _NAMES.values():
        lookup(path)


def _names() -> dict[str, Any]:
    try:
        _check_names()
    except Broken as exc:
        raise FaststreamAdapterError(
            f"faststream assumption broken: {_NAMES_ASSUMPTION}: {exc}"
        ) from None
    return {name: lookup(path) for name, path in _NAMES.items()}


_found = _names()
if TYPE_CHECKING:
    from faststream._internal.application import Application, StartAbleApplication
else:
    #: faststream's base of every application (``FastStream``, ``AsgiFastStream``).
    Application = _found["Application"]
    #: faststream's base of anything holding brokers and an AsyncAPI schema.
    StartAbleApplication = _found["StartAbleApplication"]
#: Wraps a start-up hook: pydantic's ``ValidationError`` -> ``StartupValidationError``.
catch_startup_validation_error: Callable[[], AbstractAsyncContextManager[Any]] = _found[
    "catch_startup_validation_error"
]
#: faststream's "argument not given" marker (a ``serializer`` default).
EMPTY: Any = _found["EMPTY"]
#: faststream's default application logger.
DEFAULT_LOGGER: Any = _found["DEFAULT_LOGGER"]


def hooks(app: Any, stage: str) -> list[Any]:
    """The hooks ``app`` runs at ``stage`` (one of :data:`HOOKS`), in order; the app's own list."""
    if stage not in HOOKS:
        raise ValueError(f"unknown hook stage {stage!r}, expected one of {HOOKS}")
    result: list[Any] = getattr(app, f"_{stage}_calling")
    return result


def copy_hooks(source: Any, target: Any) -> None:
    """Make ``target`` run ``source``'s hooks (the same lists), as faststream's ``from_app``."""
    for stage in HOOKS:
        setattr(target, f"_{stage}_calling", hooks(source, stage))


def log(app: Any, message: str) -> None:
    """Log ``message`` as ``app`` logs its start and stop (its logger, its log level)."""
    app._log(app._log_level, message)


def run_extra_options(app: Any) -> dict[str, Any]:
    """A copy of the extra options (the CLI's ``--key value``) ``app`` passes its hooks."""
    return dict(getattr(app, "_run_extra_options", {}) or {})


def set_run_extra_options(app: Any, options: Mapping[str, Any]) -> None:
    """Make ``app`` pass ``options`` to its ``lifespan`` and ``on_startup`` hooks."""
    app._run_extra_options = dict(options)


def handler_function(handler: Any) -> Any:
    """The function an ``HttpHandler`` was made from (undecorated), else None."""
    return getattr(handler, "_HttpHandler__original_func", None)


def set_query_params(request: Any, params: dict[str, list[str]]) -> None:
    """Make ``request.query_params`` (an ``AsgiRequest``) answer ``params`` without parsing."""
    request._query_params = params


def _asgi_app_keeps_its_run_options() -> None:
    from faststream.asgi import AsgiFastStream

    app = AsgiFastStream()
    found = getattr(app, "_run_extra_options", None)
    if found != {} or getattr(app, "_log_level", None) is None:
        raise Broken(
            "AsgiFastStream() no longer starts with _run_extra_options == {} and a _log_level"
        )


#: What this module assumes (tests/adapters/test_contracts.py).
ASSUMPTIONS: tuple[Assumption, ...] = (
    Assumption(_NAMES_ASSUMPTION, _check_names),
    Assumption(
        "Application keeps its hooks in the lists _on_startup_calling, "
        "_after_startup_calling, _on_shutdown_calling, _after_shutdown_calling",
        all_of(
            *(uses(_APPLICATION, "__init__", f"_{stage}_calling") for stage in HOOKS),
            *(uses(_APPLICATION, stage, f"_{stage}_calling", "append") for stage in HOOKS),
        ),
    ),
    Assumption(
        "Application._log(level, message) logs through the app's logger",
        all_of(defines(_APPLICATION, "_log"), uses(_APPLICATION, "_log", "logger", "log")),
    ),
    Assumption(
        "AsgiFastStream keeps the CLI's extra options in _run_extra_options and its "
        "log level in _log_level",
        all_of(
            uses(_ASGI_APP, "__init__", "_run_extra_options", "_log_level"),
            _asgi_app_keeps_its_run_options,
        ),
    ),
    Assumption(
        "catch_startup_validation_error() turns a hook's pydantic ValidationError into "
        "StartupValidationError",
        source_has(
            "faststream._internal.application:",
            "catch_startup_validation_error",
            "raise StartupValidationError(",
        ),
    ),
    Assumption(
        "HttpHandler keeps the function it was made from in the private __original_func",
        source_has(_HANDLER, "__init__", "self.__original_func = func"),
    ),
    Assumption(
        "AsgiRequest.query_params returns _query_params once set (parsed only while None)",
        all_of(
            source_has(_REQUEST, "__init__", "self._query_params"),
            source_has(_REQUEST, "query_params", "if self._query_params is None:"),
        ),
    ),
)
