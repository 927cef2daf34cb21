"""``anystream run main:app``: serve an app with hypercorn workers on asyncio, uvloop or trio.

See ``docs/cli.md`` for the user guide. The pieces:

- ``_appload.py``: import ``module:attribute`` in each worker, wrap FastStream apps;
- ``_binds.py``: parse ``--bind`` and open the sockets once, up front;
- ``_worker.py``: a worker process, serving with hypercorn's ``worker_serve``;
- ``_supervisor.py``: starts, replaces, reloads and stops the workers: the process
  loop around ``_pool.py`` (the decisions, a state machine without I/O) and
  ``_reload.py`` (``--reload``'s file scanner).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import logging
import os
import socket
import sys
from typing import Any

from hypercorn.config import Config, Sockets

from . import CLIError
from ._appload import AppLoadError, parse_extra_options
from ._binds import Bind, describe_socket, open_sockets, parse_bind
from ._supervisor import Supervisor
from ._worker import WorkerSpec

__all__ = ("add_parser", "main")

WORKER_CLASSES = ("asyncio", "uvloop", "trio")
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_GRACEFUL_TIMEOUT = 30.0

log = logging.getLogger("anystream.run")


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run",
        help="serve an app (AsgiFastStream, FastStream or any ASGI app) with workers",
        description=(
            "Serve APP with hypercorn worker processes on asyncio, uvloop or trio. "
            "Options it does not know (--env prod) reach the app's lifespan and "
            "on_startup hooks as keyword arguments (env='prod')."
        ),
        allow_abbrev=False,  # an app's --log must not be taken for --log-level
    )
    parser.add_argument("app", metavar="APP", help="MODULE:ATTRIBUTE, e.g. main:app")
    parser.add_argument(
        "--factory", action="store_true", help="APP is a function that returns the app"
    )
    parser.add_argument(
        "--app-dir", default=".", metavar="DIR", help="import APP from DIR (default: .)"
    )
    parser.add_argument(
        "-w", "--workers", type=int, default=1, metavar="N",
        help="number of worker processes (default: 1)",
    )
    parser.add_argument(
        "-k", "--worker-class", default="asyncio", metavar="CLASS",
        help="asyncio (default), uvloop or trio",
    )
    parser.add_argument("--host", default=None, help=f"host to bind (default: {DEFAULT_HOST})")
    parser.add_argument(
        "--port", type=int, default=None, help=f"port to bind (default: {DEFAULT_PORT})"
    )
    parser.add_argument(
        "-b", "--bind", action="append", default=[], metavar="ADDRESS",
        help="HOST:PORT, [IPV6]:PORT, unix:PATH or fd://N; repeat to listen on several",
    )
    parser.add_argument(
        "--internal-bind", action="append", default=[], metavar="ADDRESS",
        help=(
            "HOST:PORT or [IPV6]:PORT for internal endpoints (probes, /metrics): routes "
            "the app marks internal answer only here, 404 on the --bind addresses; repeatable"
        ),
    )
    parser.add_argument(
        "--graceful-timeout", type=float, default=DEFAULT_GRACEFUL_TIMEOUT, metavar="SECONDS",
        help=(
            "on SIGTERM/SIGINT, open requests get this long to finish, then the app's "
            f"shutdown (in-flight handlers) as long again (default: {DEFAULT_GRACEFUL_TIMEOUT:g})"
        ),
    )
    parser.add_argument(
        "--log-level", default="info", type=str.lower, metavar="LEVEL",
        help="critical, error, warning, info (default) or debug",
    )
    parser.add_argument(
        "--access-log", action="store_true", help="log every HTTP request to stderr"
    )
    parser.add_argument(
        "--reload", action="store_true",
        help="development: restart the workers when a .py file under --app-dir changes",
    )


def _check_options(args: argparse.Namespace) -> None:
    if args.workers < 1:
        raise CLIError(f"--workers must be at least 1, not {args.workers}")
    if args.worker_class not in WORKER_CLASSES:
        raise CLIError(
            f"unknown --worker-class {args.worker_class!r}: choose asyncio, uvloop or trio"
        )
    if args.log_level not in LOG_LEVELS:
        raise CLIError(f"unknown --log-level {args.log_level!r}: choose {', '.join(LOG_LEVELS)}")
    if args.graceful_timeout < 0:
        raise CLIError("--graceful-timeout must not be negative")
    if args.port is not None and not 0 <= args.port <= 65535:
        raise CLIError(f"--port must be from 0 to 65535, not {args.port}")
    if args.bind and (args.host is not None or args.port is not None):
        raise CLIError("use either --bind or --host/--port, not both")
    if not os.path.isdir(args.app_dir):
        raise CLIError(f"--app-dir {args.app_dir!r} is not a directory")
    if args.worker_class == "trio":
        missing = [name for name in ("trio", "trio_asyncio") if not _installed(name)]
        if missing:
            raise CLIError(
                "--worker-class trio needs the trio extra "
                f"({' and '.join(missing)} not installed): pip install 'anystream[trio]'"
            )
    if args.worker_class == "uvloop" and not _installed("uvloop"):
        raise CLIError(
            "--worker-class uvloop needs uvloop (not installed): pip install 'anystream[uvloop]'"
        )


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _binds(args: argparse.Namespace) -> list[Bind]:
    if args.bind:
        return [parse_bind(text) for text in args.bind]
    host = args.host if args.host is not None else DEFAULT_HOST
    port = args.port if args.port is not None else DEFAULT_PORT
    return [parse_bind(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")]


def _internal_binds(args: argparse.Namespace) -> list[Bind]:
    try:
        binds = [parse_bind(text) for text in args.internal_bind]
    except CLIError as exc:
        raise CLIError(str(exc).replace("--bind", "--internal-bind", 1), exc.code) from None
    for bind in binds:
        if bind.kind == "unix":
            raise CLIError(
                f"bad --internal-bind {bind.text!r}: TCP only (HOST:PORT or fd://N of a TCP "
                "socket); servers give apps no local address for unix sockets"
            )
    return binds


def _check_internal(public: Sockets, internal: Sockets) -> list[str]:
    """The internal sockets' addresses (``host:port``), checked apart from the public ones."""
    addresses = []
    public_ports = {
        s.getsockname()[1] for s in public.insecure_sockets if s.family != socket.AF_UNIX
    }
    for sock in internal.insecure_sockets:
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            raise CLIError("--internal-bind: fd:// must be a TCP socket")
        host, port = sock.getsockname()[:2]
        if port in public_ports:
            raise CLIError(f"--internal-bind: port {port} is also a public --bind port")
        addresses.append(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
    return addresses


def _config(args: argparse.Namespace) -> Config:
    config = Config()
    config.application_path = args.app
    # Our supervisor runs the workers; for hypercorn each worker is the only one
    # (this also keeps SO_REUSEPORT off, so a port held elsewhere is an error).
    config.workers = 1
    config.graceful_timeout = args.graceful_timeout
    config.shutdown_timeout = max(args.graceful_timeout, 1.0)
    config.loglevel = args.log_level.upper()
    # Logger objects (pickled by name): the workers' logging set-up formats them.
    config.accesslog = logging.getLogger("hypercorn.access") if args.access_log else None
    config.errorlog = logging.getLogger("hypercorn.error")
    return config


def _setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("anystream run: %(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(level.upper())
    log.propagate = False


def main(args: argparse.Namespace, extra: list[str]) -> int:
    _check_options(args)
    try:
        extra_options = parse_extra_options(extra)
    except AppLoadError as exc:
        raise CLIError(str(exc)) from None
    binds = _binds(args)
    internal_binds = _internal_binds(args)
    _setup_logging(args.log_level)
    config = _config(args)
    public = open_sockets(config, binds)
    opened = list(public.insecure_sockets)
    try:
        internal = open_sockets(config, internal_binds)
        opened += internal.insecure_sockets
        internal_addresses = _check_internal(public, internal)
    except BaseException:
        for sock in opened:
            sock.close()
        raise
    sockets = Sockets(
        secure_sockets=[],
        insecure_sockets=[*public.insecure_sockets, *internal.insecure_sockets],
        quic_sockets=[],
    )
    unix_paths = [b.path for b in binds if b.kind == "unix"]
    spec = WorkerSpec(
        target=args.app,
        worker_class=args.worker_class,
        factory=args.factory,
        app_dir=args.app_dir,
        extra_options=extra_options,
        log_level=args.log_level,
        internal_binds=tuple(internal_addresses),
    )
    supervisor = Supervisor(
        spec,
        config,
        sockets,
        workers=args.workers,
        kill_after=2 * args.graceful_timeout + 5.0,
        reload_dirs=[args.app_dir] if args.reload else (),
    )
    addresses = ", ".join(describe_socket(s) for s in public.insecure_sockets)
    if internal.insecure_sockets:
        addresses += " (internal: {})".format(
            ", ".join(describe_socket(s) for s in internal.insecure_sockets)
        )
    log.info(
        "serving %s on %s with %d %s worker%s (pid %d)",
        args.app, addresses, args.workers, args.worker_class,
        "s" if args.workers > 1 else "", os.getpid(),
    )
    try:
        result = supervisor.run()
    finally:
        for sock in sockets.insecure_sockets:
            sock.close()
        for path in unix_paths:
            with contextlib.suppress(OSError):
                os.unlink(path)
    if result.error is not None:
        raise CLIError(result.error, result.code)
    log.info("stopped")
    return result.code
