"""The ``anystream`` command: ``run``, ``bench``, ``demo``.

Each subcommand lives in its own module with two functions:
``add_parser(subparsers)`` declares its options and ``main(args, extra)`` runs it
and returns the exit code. Mistakes print one readable line, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ("CLIError", "main")

#: Subcommand name -> module (relative to this package) that implements it.
COMMANDS: dict[str, str] = {
    "run": ".run",
    "bench": ".bench",
    "demo": ".demo",
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
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules: dict[str, object] = {}
    for name, module_name in COMMANDS.items():
        try:
            module = importlib.import_module(module_name, __name__)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith(__name__):
                continue  # subcommand not built yet
            raise
        module.add_parser(subparsers)
        modules[name] = module
    return parser, modules


def main(argv: Sequence[str] | None = None) -> int:
    parser, modules = _parser()
    args, extra = parser.parse_known_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    module = modules[args.command]
    try:
        code: int = module.main(args, extra)  # type: ignore[attr-defined]
    except CLIError as exc:
        print(f"anystream {args.command}: error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    return code
