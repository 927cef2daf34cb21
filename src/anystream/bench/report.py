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

__all__ = ("environment", "goals", "goals_text", "table", "write_json", "write_plot")

_PACKAGES = (
    "anystream",
    "faststream",
    "nats-py",
    "anyio",
    "hypercorn",
    "uvicorn",
    "uvloop",
    "trio",
    "trio-asyncio",
    "pydantic",
)


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
        f" {'consumed/s':>10} {'lost':>6} | {'cpu%':>5} {'lg%':>4} {'us/msg':>6}"
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
            f" | {_fmt(r.cpu_percent, 0):>5} {_fmt(r.loadgen_cpu_percent, 0):>4}"
            f" {_fmt(r.cpu_us_per_msg, 0):>6}"
        )
    lines.append(
        "latency in ms from each request's due time (open loop); load 'max': closed loop on "
        "/hello, the requests/s ceiling; err = errors + unsent;\ncpu% = the server's process "
        "tree, lg% = the load generator (100 = one core); loadgen/null = the load "
        "generator's own ceiling;\nus/msg = the server's CPU per consumed message, phase and "
        "drain (compare these when the machine is busy)"
    )
    lines.extend(_notes(results))
    return "\n".join(lines)


def _notes(results: Sequence[PhaseResult]) -> list[str]:
    """Why a phase lost messages, fell behind, or may have measured the load generator."""
    notes = []
    for r in results:
        where = f"{r.target} @ {r.rate} msgs/s"
        if r.offered and r.published < r.offered:
            notes.append(
                f"note: {where}: the publisher sent {r.published} of {r.offered} due "
                "messages (it could not keep its schedule)"
            )
        if r.lost:
            causes = []
            if r.client_dropped:
                causes.append(f"nats-py dropped {r.client_dropped} (subscription queue full)")
            if r.slow_consumers:
                causes.append(f"nats-server cut the app off {r.slow_consumers}x as a slow consumer")
            if not causes:
                causes.append("not consumed within the 3 s drain")
            notes.append(f"note: {where}: {r.lost} lost: " + "; ".join(causes))
        lag = (r.schedule_lag_ms or {}).get("p99")
        if lag is not None and lag > 10:
            notes.append(
                f"note: {where}: the load generator's own scheduler was {lag:.1f} ms late at "
                "p99 (the machine was busy): latency figures include it"
            )
    return notes


#: The overload goal: /health p99 <= 50 ms at these offered rates, on every server.
OVERLOAD_RATES = ("30000", "max")


def _find(results: Sequence[PhaseResult], target: str, rate: str, closed: bool) -> PhaseResult:
    for r in results:
        if r.target == target and r.rate == rate and (r.request_rate is None) == closed:
            return r
    raise LookupError(target)


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0 or math.isnan(a) or math.isnan(b):
        return None
    return round(a / b, 2)


def goals(results: Sequence[PhaseResult]) -> list[dict[str, Any]]:
    """The issue's goals, each as the ratio this run measured and whether it is met.

    A goal whose phases were not run is left out. ``met`` is None when a figure is
    missing (a phase without answers, say).
    """
    out: list[dict[str, Any]] = []

    def add(goal: str, figure: str, ratio: float | None, ok: bool | None) -> None:
        out.append({"goal": goal, "figure": figure, "ratio": ratio, "met": ok})

    def p99(r: PhaseResult) -> float | None:
        return r.latency_ms.get("/health", {}).get("p99")

    for server in ("hypercorn-trio", "hypercorn-asyncio", "uvicorn"):
        try:
            ours = _find(results, f"anystream/{server}", "0", closed=True)
            bare = _find(results, f"bare/{server}", "0", closed=True)
        except LookupError:
            continue
        ratio = _ratio(ours.requests_per_s, bare.requests_per_s)
        add(
            f"{server}: idle /hello req/s >= 0.9x the bare app's",
            f"{ours.requests_per_s:.0f} vs {bare.requests_per_s:.0f} req/s",
            ratio,
            None if ratio is None else ratio >= 0.9,
        )
    try:
        trio = _find(results, "anystream/hypercorn-trio", "5000", closed=False)
        aio = _find(results, "anystream/hypercorn-asyncio", "5000", closed=False)
    except LookupError:
        pass
    else:
        ratio = _ratio(p99(trio), p99(aio))
        add(
            "/health p99 at 5000 msgs/s: hypercorn-trio <= 1.5x hypercorn-asyncio",
            f"{_fmt(p99(trio))} vs {_fmt(p99(aio))} ms",
            ratio,
            None if ratio is None else ratio <= 1.5,
        )
    rates = dict.fromkeys(r.rate for r in results if r.target == "faststream/uvicorn")
    for rate in rates:
        try:
            ours = _find(results, "anystream/uvicorn", rate, closed=False)
            theirs = _find(results, "faststream/uvicorn", rate, closed=False)
        except LookupError:
            continue
        ratio = _ratio(p99(ours), p99(theirs))
        add(
            f"uvicorn @ {rate} msgs/s: /health p99 <= 1.05x faststream's",
            f"{_fmt(p99(ours))} vs {_fmt(p99(theirs))} ms",
            ratio,
            None if ratio is None else ratio <= 1.05,
        )
        if rate != "0":
            ratio = _ratio(ours.consumed_per_s, theirs.consumed_per_s)
            add(
                f"uvicorn @ {rate} msgs/s: consumption >= 0.95x faststream's",
                f"{_fmt(ours.consumed_per_s, 0)} vs {_fmt(theirs.consumed_per_s, 0)} msgs/s",
                ratio,
                None if ratio is None else ratio >= 0.95,
            )
    for rate in rates:
        if rate in ("0", "1000", "5000"):
            continue
        try:
            ours = _find(results, "anystream/hypercorn-trio", rate, closed=False)
            theirs = _find(results, "faststream/uvicorn", rate, closed=False)
        except LookupError:
            continue
        ratio = _ratio(ours.consumed_per_s, theirs.consumed_per_s)
        add(
            f"hypercorn-trio @ {rate} msgs/s: consumption >= 1.0x faststream/uvicorn's",
            f"{_fmt(ours.consumed_per_s, 0)} vs {_fmt(theirs.consumed_per_s, 0)} msgs/s; "
            f"CPU per message {_fmt(ours.cpu_us_per_msg, 0)} vs "
            f"{_fmt(theirs.cpu_us_per_msg, 0)} us",
            ratio,
            None if ratio is None else ratio >= 1.0,
        )
    for r in results:
        if r.rate in OVERLOAD_RATES and r.target.startswith("anystream/") and r.request_rate:
            worst = p99(r)
            add(
                f"{r.target.removeprefix('anystream/')} @ {r.rate} msgs/s: /health p99 <= 50 ms",
                f"{_fmt(worst)} ms",
                None,
                None if worst is None else worst <= 50.0,
            )
    try:
        ours = _find(results, "anystream/uvicorn", "0", closed=True)
        theirs = _find(results, "faststream/uvicorn", "0", closed=True)
    except LookupError:
        pass
    else:
        ratio = _ratio(ours.requests_per_s, theirs.requests_per_s)
        add(
            "uvicorn: idle /hello req/s >= 0.95x faststream's",
            f"{ours.requests_per_s:.0f} vs {theirs.requests_per_s:.0f} req/s",
            ratio,
            None if ratio is None else ratio >= 0.95,
        )
    for r in results:
        if r.rate == "5000" and r.target.startswith("anystream/") and r.request_rate:
            add(
                f"{r.target.removeprefix('anystream/')} @ 5000 msgs/s: 0 messages lost",
                f"{r.published} published, {'-' if r.lost is None else r.lost} lost",
                None,
                None if r.lost is None else r.lost == 0,
            )
    return out


def goals_text(checked: Sequence[dict[str, Any]]) -> str:
    """The goals as lines: met / NOT MET / unknown, the goal, the ratio and the figures."""
    if not checked:
        return ""
    lines = ["goals (the issue's, from this one run):"]
    for g in checked:
        mark = {True: "met    ", False: "NOT MET", None: "unknown"}[g["met"]]
        ratio = "" if g["ratio"] is None else f" ({g['ratio']:.2f}x)"
        lines.append(f"  {mark}  {g['goal']}: {g['figure']}{ratio}")
    return "\n".join(lines)


def write_json(path: Path, results: Sequence[PhaseResult], settings: dict[str, Any]) -> None:
    document = {
        "environment": environment(),
        "settings": settings,
        "goals": goals(results),
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
