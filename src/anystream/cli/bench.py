"""``anystream bench``: HTTP latency while the broker consumes, target by target."""

from __future__ import annotations

import argparse
import math
import socket
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from . import CLIError

QUICK_TARGETS = ("anystream/hypercorn-trio", "anystream/uvicorn", "bare/uvicorn")


def add_parser(subparsers: Any) -> None:
    from ..bench.driver import DEFAULT_RATES, TARGETS

    parser = subparsers.add_parser(
        "bench",
        help="measure HTTP latency while the broker consumes",
        description=(
            "For each target and message rate: a publisher process offers messages, a "
            "load-generator process offers requests at a fixed rate (open loop), and the "
            "latency of /health and /hello, requests/s, messages consumed and CPU are "
            "recorded. Targets: " + ", ".join(TARGETS)
        ),
    )
    parser.add_argument(
        "--targets", default=None, help="comma-separated target names (default: all)"
    )
    parser.add_argument(
        "--rates",
        default=",".join(DEFAULT_RATES),
        help="comma-separated message rates in msgs/s, or 'max' (default: %(default)s)",
    )
    parser.add_argument(
        "--duration", type=float, default=None, help="seconds per phase (4; --quick: 2)"
    )
    parser.add_argument("--request-rate", type=float, default=200.0, help="requests/s (200)")
    parser.add_argument("--connections", type=int, default=10, help="keep-alive connections")
    parser.add_argument("--nats-url", default=None, help="use this NATS server (default: embedded)")
    parser.add_argument(
        "--app", default=None, help="benchmark your own module:app (needs /health and /hello)"
    )
    parser.add_argument(
        "--subject",
        default="bench.orders",
        help="the subject the publisher publishes to (default: %(default)s, the sample app's)",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="write results.json and plot.png here"
    )
    parser.add_argument("--quick", action="store_true", help="a ~30 s smoke run")


def _rates(text: str) -> list[str]:
    rates = []
    for item in (part.strip() for part in text.split(",")):
        if item == "max":
            rates.append(item)
            continue
        try:
            value = float(item)
        except ValueError:
            raise CLIError(f"--rates: {item!r} is not a number or 'max'") from None
        if value < 0 or math.isnan(value) or math.isinf(value):
            raise CLIError(f"--rates: {item!r} must be a finite number >= 0")
        rates.append(f"{value:g}")
    if not rates:
        raise CLIError("--rates: give at least one rate")
    return rates


def _check_nats(url: str) -> None:
    """The URL must name a server that greets like NATS (``INFO {...}``) within 2 s."""
    parsed = urlparse(url)
    if parsed.scheme not in ("nats", "tls") or not parsed.hostname:
        raise CLIError(f"--nats-url: {url!r} is not a nats:// URL")
    where = f"{parsed.hostname}:{parsed.port or 4222}"
    try:
        with socket.create_connection((parsed.hostname, parsed.port or 4222), timeout=2) as sock:
            greeting = sock.recv(5)
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise CLIError(f"--nats-url: {where} does not answer ({reason})") from None
    if not greeting.startswith(b"INFO"):
        raise CLIError(f"--nats-url: {where} answers, but not as a NATS server")


def _check_app(spec: str) -> None:
    import importlib

    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise CLIError(f"--app: {spec!r} is not in module:attribute form")
    sys.path.insert(0, ".")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise CLIError(
            f"--app: cannot import {module_name!r}: {type(exc).__name__}: {exc}"
        ) from None
    if not callable(getattr(module, attribute, None)):
        raise CLIError(f"--app: {module_name!r} has no ASGI app named {attribute!r}")


def _progress(label: str, done: float, total: int) -> None:
    """One line on stderr, redrawn in place: a bar over all phases, this phase's share."""
    width = 30
    filled = int(width * done / max(1, total))
    bar = "#" * filled + "." * (width - filled)
    finished = done >= total
    phase = "" if finished else f" phase {int(done) + 1}/{total} {int(100 * (done % 1)):>3}%"
    line = f"\r[{bar}]{phase} {label:<42}"
    if finished:
        line = f"\r[{bar}] {total}/{total} phases done" + " " * 40
    print(line, end="\n" if finished else "", file=sys.stderr, flush=True)


def main(args: argparse.Namespace, extra: list[str]) -> int:
    from ..bench.driver import TARGETS, Target, run_benchmark
    from ..bench.report import goals, goals_text, table, write_json, write_plot

    if extra:
        raise CLIError(f"unknown arguments: {' '.join(extra)}")
    names = (
        args.targets.split(",") if args.targets else list(QUICK_TARGETS if args.quick else TARGETS)
    )
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        raise CLIError(f"unknown target {unknown[0]!r}; known: {', '.join(TARGETS)}")
    rates = _rates("0,1000" if args.quick and args.rates == "0,1000,5000,max" else args.rates)
    duration = args.duration if args.duration is not None else (2.0 if args.quick else 4.0)
    if duration <= 0:
        raise CLIError("--duration must be > 0 seconds")
    if args.request_rate <= 0:
        raise CLIError("--request-rate must be > 0")
    if args.connections < 1:
        raise CLIError("--connections must be >= 1")
    if args.nats_url:
        _check_nats(args.nats_url)
    targets = [TARGETS[n] for n in names]
    if args.app:
        _check_app(args.app)
        # Your app in place of the sample app; the bare ceilings stay for comparison.
        targets = [
            Target(f"{args.app}/{t.server}", t.server, args.app) if t.broker else t
            for t in targets
            if not t.name.startswith("faststream/")
        ]
    out_dir: Path = args.out or Path("bench-out")
    began = time.monotonic()
    try:
        results = run_benchmark(
            targets,
            rates,
            duration=duration,
            request_rate=args.request_rate,
            connections=args.connections,
            nats_url=args.nats_url,
            log_dir=out_dir / "logs",
            progress=_progress,
            subject=args.subject,
        )
    except RuntimeError as exc:
        raise CLIError(str(exc), code=1) from None
    print(table(results))
    checked = goals_text(goals(results))
    if checked:
        print(checked)
    settings = {
        "targets": names,
        "rates": rates,
        "duration": duration,
        "request_rate": args.request_rate,
        "connections": args.connections,
        "app": args.app,
        "subject": args.subject,
        "wall_seconds": round(time.monotonic() - began, 1),
    }
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        write_json(args.out / "results.json", results, settings)
        plotted = write_plot(args.out / "plot.png", results)
        print(
            f"wrote {args.out / 'results.json'}"
            + (
                f" and {args.out / 'plot.png'}"
                if plotted
                else " (no plot: pip install 'anystream[bench]')"
            )
        )
    return 0
