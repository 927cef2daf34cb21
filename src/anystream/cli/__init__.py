"""The ``anystream`` command: ``run``, ``bench``, ``demo``.

Each subcommand lives in its own module with two functions:
``add_parser(subparsers)`` declares its options and ``main(args, extra)`` runs it
and returns the exit code. Mistakes print one readable line, never a traceback.

A plain ``pip install anystream`` gives ``run``; a subcommand that needs an extra
(:data:`EXTRAS`) is imported only when it is used, and without its extra it says
which one to install, in one line.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from .._version import __version__

__all__ = ("CLIError", "main")

#: Subcommand name -> module (relative to this package) that implements it.
COMMANDS: dict[str, str] = {
    "run": ".run",
    "bench": ".bench",
    "demo": ".demo",
}

#: Subcommand name -> the extra it needs beyond a plain ``pip install anystream``.
EXTRAS: dict[str, str] = {
    "bench": "bench",
    "demo": "demo",
}


class CLIError(Exception):
    """A user mistake: printed as ``anystream: error: <message>``, exit code 2."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def _parser() -> tuple[argparse.ArgumentParser, dict[str, object]]:
    parser = argparse.ArgumentParser(
        prog="anystream",
        description="Serve and measure FastStream ASGI apps on asyncio or trio.",
    )
    parser.add_argument("--version", action="version", version=f"anystream {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules: dict[str, object] = {}
    for name, module_name in COMMANDS.items():
        try:
            module = importlib.import_module(module_name, __name__)
            module.add_parser(subparsers)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith(__name__):
                continue  # subcommand not built yet
            if name not in EXTRAS:
                raise
            subparsers.add_parser(name, help=f"(needs pip install 'anystream[{EXTRAS[name]}]')")
            modules[name] = exc
            continue
        modules[name] = module
    return parser, modules


def _missing_extra(command: str, exc: ModuleNotFoundError) -> int:
    extra = EXTRAS[command]
    print(
        f"anystream {command}: error: needs the {extra} extra ({exc.name or exc} is not "
        f"installed): pip install 'anystream[{extra}]'",
        file=sys.stderr,
    )
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    parser, modules = _parser()
    args, extra = parser.parse_known_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    module = modules[args.command]
    if isinstance(module, ModuleNotFoundError):
        return _missing_extra(args.command, module)
    try:
        code: int = module.main(args, extra)  # type: ignore[attr-defined]
    except ModuleNotFoundError as exc:
        if args.command not in EXTRAS or (exc.name or "").startswith("anystream"):
            raise
        return _missing_extra(args.command, exc)
    except CLIError as exc:
        print(f"anystream {args.command}: error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    return code
