"""Find the app named on the command line and make it an ASGI app anystream can serve.

Runs in every worker process (the app module is imported there, brokers connect
in the lifespan). Every mistake is an :class:`AppLoadError` with one readable line.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Sequence
from typing import Any

from .._adapters.faststream import Application, run_extra_options, set_run_extra_options
from ..asgi._app import AsgiFastStream
from ..asgi.types import ASGIApp

__all__ = ("AppLoadError", "load_app", "parse_extra_options")

#: Exit code of a worker (and of ``anystream run``) when the app cannot be loaded.
LOAD_ERROR_CODE = 2


class AppLoadError(Exception):
    """The app named on the command line cannot be served; the message says why."""


def _split(target: str) -> tuple[str, str]:
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise AppLoadError(f"bad app {target!r}: expected MODULE:ATTRIBUTE, e.g. main:app")
    return module_name, attribute


def _import(module_name: str, app_dir: str) -> Any:
    directory = os.path.abspath(app_dir)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing == module_name or module_name.startswith(missing + "."):
            raise AppLoadError(
                f"cannot import module {module_name!r}: no such module in {directory}"
            ) from None
        raise AppLoadError(
            f"error while importing {module_name!r}: {type(exc).__name__}: {exc}"
        ) from exc
    except Exception as exc:
        raise AppLoadError(
            f"error while importing {module_name!r}: {type(exc).__name__}: {exc}"
        ) from exc


def _is_asgi(obj: Any) -> bool:
    if inspect.iscoroutinefunction(obj):
        return True
    call = getattr(obj, "__call__", None)  # noqa: B004 - classes and instances alike
    return call is not None and inspect.iscoroutinefunction(call)


def as_asgi(obj: Any, target: str) -> ASGIApp:
    """Serve ``obj``: ours as is, a FastStream app wrapped in ours, any ASGI app as is."""
    if isinstance(obj, AsgiFastStream):
        return obj
    if isinstance(obj, Application):
        # faststream's own AsgiFastStream and plain FastStream apps alike: run their
        # brokers and hooks on anystream's anyio runtime, keep their HTTP routes.
        routes = list(getattr(obj, "routes", ()))
        asgi = AsgiFastStream.from_app(obj, asgi_routes=routes)
        set_run_extra_options(asgi, run_extra_options(obj))
        return asgi
    if _is_asgi(obj):
        return obj  # type: ignore[no-any-return]
    kind = type(obj).__name__
    raise AppLoadError(
        f"{target!r} is a {kind}, not an app: expected an AsgiFastStream, a FastStream app "
        "or an ASGI callable (use --factory if it is a function that builds the app)"
    )


def load_app(
    target: str,
    *,
    factory: bool = False,
    app_dir: str = ".",
    extra_options: dict[str, Any] | None = None,
) -> ASGIApp:
    """Import ``module:attribute`` (calling it with ``factory``) and return an ASGI app.

    ``extra_options`` reach the app's ``lifespan`` and ``on_startup`` hooks, as with
    ``faststream run``; for other ASGI apps they are ignored.
    """
    module_name, attribute = _split(target)
    module = _import(module_name, app_dir)
    obj: Any = module
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AppLoadError(f"module {module_name!r} has no attribute {attribute!r}") from None
    if factory:
        if not callable(obj):
            raise AppLoadError(f"--factory: {target!r} is not callable")
        try:
            obj = obj()
        except Exception as exc:
            raise AppLoadError(
                f"the factory {target!r} failed: {type(exc).__name__}: {exc}"
            ) from exc
        if inspect.isawaitable(obj):
            raise AppLoadError(f"--factory: {target!r} must be a plain function, not async")
    elif inspect.isfunction(obj) and not _is_asgi(obj):
        raise AppLoadError(
            f"{target!r} is a function, not an app: add --factory if it builds the app"
        )
    app = as_asgi(obj, target)
    if extra_options and isinstance(app, AsgiFastStream):
        set_run_extra_options(app, {**run_extra_options(app), **extra_options})
    return app


def parse_extra_options(args: Sequence[str]) -> dict[str, Any]:
    """Options the command does not know, for the app's hooks (``faststream run``'s rules).

    ``--env prod`` -> ``env="prod"``; ``--flag`` -> ``True``; ``--no-flag`` -> ``False``;
    ``--key=value`` works too; dashes become underscores; ``--tag a b`` or a repeated
    ``--tag`` gives a list. Unlike faststream's parser, a value holding a colon
    (``--url nats://host:4222``) is kept, never taken for the app.
    """
    options: dict[str, Any] = {}
    key = ""
    values: list[str] = []

    def flush() -> None:
        if not key:
            return
        name = key.lstrip("-").replace("-", "_")
        value: Any
        if not values:
            value = not name.startswith("no_")
        elif len(values) == 1:
            value = values[0]
        else:
            value = list(values)
        name = name.removeprefix("no_") if not values else name
        if name in options:
            previous = options[name]
            merged = previous if isinstance(previous, list) else [previous]
            options[name] = [*merged, *(value if isinstance(value, list) else [value])]
        else:
            options[name] = value

    for item in args:
        if item.startswith("-") and len(item) > 1 and not _is_number(item):
            flush()
            key, _, inline = item.partition("=")
            values = [inline] if "=" in item else []
        elif key:
            values.append(item)
        else:
            raise AppLoadError(
                f"unexpected argument {item!r} (extra options look like --name value)"
            )
    flush()
    return options


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
