"""The benchmark's outputs: a terminal table, a JSON file of every figure, a PNG plot."""

from __future__ import annotations

import json
import math
import platform
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from .driver import PhaseResult

__all__ = ("environment", "table", "write_json", "write_plot")

_PACKAGES = ("anystream", "faststream", "nats-py", "anyio", "hypercorn", "uvicorn", "trio")


def environment() -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": _cpu_count(),
        "versions": versions,
    }


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}"


def _load(result: PhaseResult) -> str:
    return "max" if result.request_rate is None else f"{result.request_rate:g}"


def table(results: Sequence[PhaseResult]) -> str:
    """One row per target and rate: latency of /health and /hello, req/s, msgs/s, loss, CPU."""
    head = (
        f"{'target':<28} {'msgs/s':>6} {'load':>5} | {'/health p50':>11} {'p99':>8}"
        f" {'p99.9':>8} {'max':>8}"
        f" | {'/hello p50':>10} {'p99':>8} | {'req/s':>7} {'err':>4} | {'published':>9}"
        f" {'consumed/s':>10} {'lost':>6} | {'cpu%':>5}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        health = r.latency_ms.get("/health", {})
        hello = r.latency_ms.get("/hello", {})
        lines.append(
            f"{r.target:<28} {r.rate:>6} {_load(r):>5} | {_fmt(health.get('p50'), 2):>11}"
            f" {_fmt(health.get('p99')):>8} {_fmt(health.get('p99.9')):>8}"
            f" {_fmt(health.get('max')):>8} | {_fmt(hello.get('p50'), 2):>10}"
            f" {_fmt(hello.get('p99')):>8} | {_fmt(r.requests_per_s):>7}"
            f" {r.http_errors + r.unsent:>4} | {r.published:>9}"
            f" {_fmt(r.consumed_per_s, 0):>10} {('-' if r.lost is None else r.lost):>6}"
            f" | {_fmt(r.cpu_percent, 0):>5}"
        )
    lines.append(
        "latency in ms from each request's due time (open loop); load 'max': closed loop on "
        "/hello, the requests/s ceiling; err = errors + unsent"
    )
    return "\n".join(lines)


def write_json(path: Path, results: Sequence[PhaseResult], settings: dict[str, Any]) -> None:
    document = {
        "environment": environment(),
        "settings": settings,
        "results": [r.as_dict() for r in results],
    }
    path.write_text(json.dumps(document, indent=1, default=_nan_to_none))


def _nan_to_none(value: Any) -> Any:  # pragma: no cover - json calls it for odd types only
    return None


def write_plot(path: Path, results: Sequence[PhaseResult]) -> bool:
    """p50 and p99 of ``/health`` against message rate, one line per target.

    Returns False (and writes nothing) when matplotlib is not installed
    (``pip install 'anystream[bench]'``).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    results = [r for r in results if r.request_rate is not None]  # open-loop phases only
    rates = list(dict.fromkeys(r.rate for r in results))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=False)
    for ax, key in zip(axes, ("p50", "p99"), strict=True):
        for target in dict.fromkeys(r.target for r in results):
            points = [r for r in results if r.target == target]
            xs = [rates.index(r.rate) for r in points]
            ys = [r.latency_ms.get("/health", {}).get(key, math.nan) for r in points]
            style = "--" if target.startswith("bare/") else "-"
            ax.plot(xs, ys, style, marker="o", label=target)
        ax.set_xticks(range(len(rates)), [f"{r} msgs/s" for r in rates])
        ax.set_yscale("log")
        ax.set_ylabel(f"/health {key} latency (ms)")
        ax.set_title(f"/health {key} while the broker consumes")
        ax.grid(True, which="both", alpha=0.3)
    axes[1].legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
