"""Overload benchmark: ``/health`` latency and consume rate while messages pour in.

One embedded nats-server per phase; the app (a subscriber that parses a pydantic
model and touches shared state, plus ``/health``) runs under a real server process;
a publisher process offers a fixed rate (``30000`` msgs/s) or ``max`` (flat out);
a prober process sends ``GET /health`` open-loop at a fixed rate (200 req/s) over 10
keep-alive connections and measures latency from the *scheduled* send time, so
queueing delay counts. Phases: every target x offered rate x slicing off/on.

Targets: ``hypercorn-trio``, ``hypercorn-asyncio``, ``uvicorn`` (uvloop when installed),
``uvicorn-asyncio`` (``--loop asyncio``) (anystream's app),
and ``faststream-uvicorn`` (faststream's own ``AsgiFastStream``, the baseline).

Usage::

    python benchmarks/overload.py [--duration 6] [--rates 30000,max] [--out results.json]

Every loop is bounded in time (``--duration`` per phase plus fixed grace periods) and
in count (``--max-messages`` per phase, probes = rate x duration).

The same file is the app module (``benchmarks.overload:app``), configured through
``OVERLOAD_*`` environment variables by the driver.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SUBJECT = "overload.orders"
TARGETS = ("hypercorn-trio", "hypercorn-asyncio", "uvicorn", "uvicorn-asyncio",
           "faststream-uvicorn")
BUCKET = 0.1  # seconds per consumption bucket

# --------------------------------------------------------------------------- the app

if os.environ.get("OVERLOAD_APP"):
    from pydantic import BaseModel

    class Order(BaseModel):
        id: int
        sku: str
        qty: int
        price: float


def _build_app() -> Any:
    from faststream.nats import NatsBroker

    flavour = os.environ.get("OVERLOAD_APP", "anystream")
    # "off" or "<budget seconds>"
    budget_env = os.environ.get("OVERLOAD_BUDGET", "off")
    budget = None if budget_env == "off" else float(budget_env)

    broker = NatsBroker(os.environ["NATS_URL"], logger=None)
    totals: dict[str, float] = {}
    buckets: dict[int, int] = {}
    cpu_marks: dict[int, float] = {}

    @broker.subscriber(SUBJECT)
    async def handle(order: Order) -> None:
        totals[order.sku] = totals.get(order.sku, 0.0) + order.qty * order.price
        key = int(time.monotonic() / BUCKET)
        if key not in buckets:  # the process's CPU time when the bucket opened
            cpu_marks[key] = time.process_time()
        buckets[key] = buckets.get(key, 0) + 1

    async def stats_endpoint(scope: Any, receive: Any, send: Any) -> None:
        body: dict[str, Any] = {"buckets": buckets, "cpu_marks": cpu_marks,
                                "skus": len(totals)}
        if flavour == "anystream":
            from anystream.broker import stats

            body["slicing"] = stats(broker).as_dict()
        data = json.dumps(body).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(data)).encode())]})
        await send({"type": "http.response.body", "body": data})

    async def live_endpoint(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    if flavour == "faststream":
        from faststream.asgi import AsgiFastStream as Upstream
        from faststream.asgi import make_ping_asgi as upstream_ping

        return Upstream(broker, asgi_routes=[
            ("/health", upstream_ping(broker, timeout=5.0)),
            ("/stats", stats_endpoint),
        ])
    from anystream.asgi import AsgiFastStream, make_ping_asgi

    return AsgiFastStream(broker, asgi_routes=[
        ("/health", make_ping_asgi(broker, timeout=5.0)),
        ("/stats", stats_endpoint),
        ("/live", live_endpoint),
    ], consume_budget=budget)


app = _build_app() if os.environ.get("OVERLOAD_APP") else None

# --------------------------------------------------------------------------- publisher

PAYLOAD = b'{"id": %d, "sku": "sku-%d", "qty": 3, "price": 9.99}'


async def publisher(url: str, rate: float | None, start: float, duration: float,
                    max_messages: int) -> dict[str, Any]:
    import nats

    nc = await nats.connect(url, max_reconnect_attempts=0, pending_size=8 * 1024 * 1024)
    sent = 0
    await asyncio.sleep(max(0.0, start - time.time()))
    t0 = time.monotonic()
    end = t0 + duration
    while sent < max_messages:
        now = time.monotonic()
        if now >= end:
            break
        due = max_messages if rate is None else min(max_messages, int((now - t0) * rate))
        batch = min(due - sent, 2000)
        for _ in range(batch):
            await nc.publish(SUBJECT, PAYLOAD % (sent, sent % 50))
            sent += 1
        await asyncio.sleep(0.002 if rate is not None else 0)
    elapsed = time.monotonic() - t0
    with contextlib.suppress(Exception):
        await nc.flush(timeout=10)
    await nc.close()
    return {"sent": sent, "offered_rate": sent / elapsed}

# --------------------------------------------------------------------------- prober


async def _one_probe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     path: str) -> int:
    writer.write(b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % path.encode())
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    if length:
        await reader.readexactly(length)
    return status


def _summary(latencies: list[float], probes: int, errors: int) -> dict[str, Any]:
    lat = sorted(latencies)

    def pct(p: float) -> float | None:
        return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else None

    return {"probes": probes, "answered": len(lat), "errors": errors,
            "p50_ms": pct(0.50), "p99_ms": pct(0.99),
            "max_ms": lat[-1] * 1000 if lat else None,
            "mean_ms": statistics.fmean(lat) * 1000 if lat else None}


async def prober(port: int, rate: float, start: float, duration: float,
                 connections: int, timeout: float, live_rate: float) -> dict[str, Any]:
    """Open loop: ``/health`` at ``rate``/s and ``/live`` at ``live_rate``/s.

    ``/health`` does a NATS round trip (its PONG queues behind the messages on the
    same connection); ``/live`` touches nothing: it shows event-loop responsiveness.
    """
    schedule = sorted([(i / rate, "/health") for i in range(int(rate * duration))]
                      + [(i / live_rate, "/live") for i in range(int(live_rate * duration))])
    # Separate connection pools: slow /health answers must not hold up /live probes.
    queues: dict[str, asyncio.Queue[float]] = {"/health": asyncio.Queue(),
                                               "/live": asyncio.Queue()}
    latencies: dict[str, list[float]] = {"/health": [], "/live": []}
    errors = {"/health": 0, "/live": 0}

    async def worker(path: str) -> None:
        queue = queues[path]
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        while True:
            scheduled = await queue.get()
            try:
                if conn is None:
                    conn = await asyncio.open_connection("127.0.0.1", port)
                await asyncio.wait_for(_one_probe(*conn, path), timeout)
                latencies[path].append(time.monotonic() - scheduled)
            except Exception:
                errors[path] += 1
                if conn is not None:
                    conn[1].close()
                conn = None
            finally:
                queue.task_done()

    workers = [asyncio.create_task(worker("/health")) for _ in range(connections)]
    workers += [asyncio.create_task(worker("/live")) for _ in range(2)]
    await asyncio.sleep(max(0.0, start - time.time()))
    t0 = time.monotonic()
    for offset, path in schedule:
        due = t0 + offset
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        queues[path].put_nowait(due)
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(
            asyncio.gather(*(q.join() for q in queues.values())), timeout + 5
        )
    for w in workers:
        w.cancel()
    health = _summary(latencies["/health"], int(rate * duration), errors["/health"])
    health["live"] = _summary(latencies["/live"], int(live_rate * duration), errors["/live"])
    return health

# --------------------------------------------------------------------------- driver


def _server_command(target: str, port: int) -> list[str]:
    app = "benchmarks.overload:app"
    if "uvicorn" in target:
        # uvicorn's default loop is uvloop when installed; "uvicorn-asyncio" forces asyncio.
        loop = ["--loop", "asyncio"] if target.endswith("-asyncio") else []
        return [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port),
                "--log-level", "warning", "--no-access-log", *loop, app]
    worker = "trio" if target == "hypercorn-trio" else "asyncio"
    return [sys.executable, "-m", "hypercorn", "-k", worker, "-b", f"127.0.0.1:{port}",
            "--log-level", "warning", app]


def _http_get(port: int, path: str, timeout: float) -> bytes | None:
    import http.client

    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        conn.request("GET", path)
        body = conn.getresponse().read()
        conn.close()
        return body
    except OSError:
        return None


def _child(role: str, args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, __file__, "--role", role, *args],
                            cwd=ROOT, stdout=subprocess.PIPE)


def run_phase(target: str, rate: float | None, budget: str, opts: argparse.Namespace,
              ) -> dict[str, Any]:
    from anystream.bench.processes import tree_cpu_ticks
    from anystream.testing import NatsServer, free_port

    offered: float | str = "max" if rate is None else rate
    result: dict[str, Any] = {"target": target, "offered": offered, "slicing": budget}
    with NatsServer() as nats_server:
        port = free_port()
        env = {**os.environ, "NATS_URL": nats_server.url, "PYTHONUNBUFFERED": "1",
               "OVERLOAD_APP": "faststream" if target.startswith("faststream") else "anystream",
               "OVERLOAD_BUDGET": budget}
        log = open(opts.log_dir / f"{target}-{offered}-{budget}.log", "wb")  # noqa: SIM115
        server = subprocess.Popen(_server_command(target, port), cwd=ROOT, env=env,
                                  stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 20
            while _http_get(port, "/stats", 1.0) is None:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"{target} did not start (see {log.name})")
                time.sleep(0.1)
            start = time.time() + 1.0
            common = ["--start", str(start), "--duration", str(opts.duration)]
            pub = None if rate == 0 else _child(
                "publisher", [*common, "--url", nats_server.url, "--rate", str(rate or 0),
                              "--max-messages", str(opts.max_messages)])
            probe = _child("prober", [*common, "--port", str(port),
                                      "--probe-rate", str(opts.probe_rate),
                                      "--connections", str(opts.connections),
                                      "--live-rate", str(opts.live_rate)])
            # The app's CPU (server process tree) over the probing window: with no
            # messages (offered 0), what serving the probes alone costs.
            time.sleep(max(0.0, start - time.time()))
            ticks = tree_cpu_ticks(server.pid)
            time.sleep(opts.duration)
            result["app_cpu_percent"] = 100 * (tree_cpu_ticks(server.pid) - ticks) / (
                os.sysconf("SC_CLK_TCK") * opts.duration)
            limit = opts.duration + 40
            pub_out = pub.communicate(timeout=limit)[0] if pub else b"{}"
            probe_out, _ = probe.communicate(timeout=limit)
            result["publisher"] = json.loads(pub_out or b"{}")
            result["probes"] = json.loads(probe_out or b"{}")
            raw = _http_get(port, "/stats", 30.0)
            stats = json.loads(raw) if raw else {}
            t0 = time.monotonic() + (start - time.time())
            lo, hi = int((t0 + 0.5) / BUCKET), int((t0 + opts.duration) / BUCKET)
            window = sum(n for k, n in stats.get("buckets", {}).items() if lo <= int(k) < hi)
            result["consumed_rate"] = window / ((hi - lo) * BUCKET)
            # Messages per CPU-second of the app process in the window: less
            # sensitive than msgs/s to what else runs on a shared machine.
            marks = {int(k): v for k, v in stats.get("cpu_marks", {}).items()}
            first = min((k for k in marks if k >= lo), default=None)
            last = max((k for k in marks if k <= hi), default=None)
            if first is not None and last is not None and marks[last] > marks[first]:
                in_span = sum(n for k, n in stats["buckets"].items() if first <= int(k) < last)
                result["consumed_per_cpu_s"] = in_span / (marks[last] - marks[first])
            result["consumed_total"] = sum(stats.get("buckets", {}).values())
            result["app_stats"] = stats.get("slicing")
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                result["exit"] = server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
                result["exit"] = "killed"
            log.close()
            text = Path(log.name).read_text(errors="replace")
            result["shutdown_failed"] = "shutdown failed" in text.lower() or (
                "shutdown.failed" in text)
            result["slow_consumer_in_log"] = text.lower().count("slow consumer")
    return result


def _fmt(v: Any, spec: str = ".0f") -> str:
    return "-" if v is None else format(v, spec)


def print_table(results: list[dict[str, Any]]) -> None:
    head = (f"{'target':<19} {'offered':>7} {'slicing':>7} {'p50 ms':>8} {'p99 ms':>8} "
            f"{'max ms':>8} {'ok/probes':>10} {'live p99':>8} {'consumed/s':>10} {'per cpu-s':>9} "
            f"{'drops':>7} {'app cpu%':>8}")
    print(head)
    print("-" * len(head))
    for r in results:
        p = r.get("probes", {})
        drops = (r.get("app_stats") or {}).get("slow_consumer_dropped")
        print(f"{r['target']:<19} {r['offered']!s:>7} {r['slicing']:>7} "
              f"{_fmt(p.get('p50_ms'), '.1f'):>8} {_fmt(p.get('p99_ms'), '.1f'):>8} "
              f"{_fmt(p.get('max_ms'), '.1f'):>8} "
              f"{str(p.get('answered', 0)) + '/' + str(p.get('probes', 0)):>10} "
              f"{_fmt(p.get('live', {}).get('p99_ms'), '.1f'):>8} "
              f"{_fmt(r.get('consumed_rate')):>10} {_fmt(r.get('consumed_per_cpu_s')):>9} "
              f"{_fmt(drops, 'd'):>7} {_fmt(r.get('app_cpu_percent')):>8}")


def print_goals(results: list[dict[str, Any]]) -> None:
    """The issue's goals per server and offered rate, slicing on (the last setting).

    ``vs off`` compares with slicing off, where the probes are mostly left
    unanswered and cost nothing. With an idle phase (offered 0) in the run, the
    probes' own CPU share is known, and ``vs off minus probes`` compares with
    what consumption could reach once the probes are served.
    """
    rows = [r for r in results if "error" not in r]

    def find(target: str, offered: Any, on: bool) -> dict[str, Any] | None:
        match = [r for r in rows if r["target"] == target and r["offered"] == offered
                 and (r["slicing"] != "off") == on]
        return match[-1] if match else None

    print(f"{'server':<19} {'offered':>7} {'p99 ms':>8} {'<=50':>5} {'on/s':>7} {'off/s':>7} "
          f"{'vs off':>7} {'probe cpu':>9} {'vs off minus probes':>19}")
    for target in dict.fromkeys(r["target"] for r in rows):
        idle = next((r for r in rows if r["target"] == target and r["offered"] == 0), None)
        share = min(1.0, idle["app_cpu_percent"] / 100) if idle and (
            idle.get("app_cpu_percent") is not None) else None
        for offered in dict.fromkeys(r["offered"] for r in rows if r["offered"] != 0):
            on, off = find(target, offered, True), find(target, offered, False)
            if on is None or off is None or not off.get("consumed_rate"):
                continue
            p99 = on.get("probes", {}).get("p99_ms")
            ratio = on["consumed_rate"] / off["consumed_rate"]
            bound = None if share is None else off["consumed_rate"] * (1 - share)
            share_s = "-" if share is None else f"{100 * share:.0f}%"
            vs_bound = "-" if not bound else f"{on['consumed_rate'] / bound:.2f}x"
            print(f"{target:<19} {offered!s:>7} {_fmt(p99):>8} "
                  f"{'yes' if p99 is not None and p99 <= 50 else 'no':>5} "
                  f"{on['consumed_rate']:>7.0f} {off['consumed_rate']:>7.0f} {ratio:>6.2f}x "
                  f"{share_s:>9} {vs_bound:>19}")


def plot(results: list[dict[str, Any]], path: Path) -> None:
    """Two panels per offered rate: ``/health`` p99 (log scale) and consumed msgs/s,
    one bar per slicing setting, grouped by server."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in results if "error" not in r and r["offered"] != 0]
    offered = list(dict.fromkeys(str(r["offered"]) for r in rows))
    targets = list(dict.fromkeys(r["target"] for r in rows))
    settings = list(dict.fromkeys(r["slicing"] for r in rows))
    fig, axes = plt.subplots(len(offered), 2, figsize=(12, 4.2 * len(offered)), squeeze=False)
    width = 0.8 / max(1, len(settings))
    for row, rate in enumerate(offered):
        for col, (key, label) in enumerate((("p99", "/health p99 ms (log)"),
                                            ("consumed", "consumed msgs/s"))):
            ax = axes[row][col]
            for i, setting in enumerate(settings):
                xs, ys = [], []
                for x, target in enumerate(targets):
                    match = [r for r in rows if r["target"] == target
                             and str(r["offered"]) == rate and r["slicing"] == setting]
                    if not match:
                        continue
                    r = match[0]
                    value = (r.get("probes", {}).get("p99_ms") if key == "p99"
                             else r.get("consumed_rate"))
                    if value is not None:
                        xs.append(x + (i - (len(settings) - 1) / 2) * width)
                        ys.append(value)
                name = "slicing off" if setting == "off" else f"slicing {setting}"
                ax.bar(xs, ys, width, label=name)
            if key == "p99":
                ax.set_yscale("log")
                ax.axhline(50, color="red", linestyle="--", linewidth=1, label="50 ms goal")
            ax.set_xticks(range(len(targets)))
            ax.set_xticklabels(targets, rotation=20, ha="right", fontsize=8)
            ax.set_title(f"{label}, {rate} msgs/s offered")
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", default="driver", choices=("driver", "publisher", "prober"))
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--rates", default="30000,max")
    parser.add_argument("--budgets", default="off,0.005",
                        help="slicing settings for anystream targets: off or seconds")
    parser.add_argument("--duration", type=float, default=6.0)
    parser.add_argument("--probe-rate", type=float, default=200.0)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--live-rate", type=float, default=50.0,
                        help="GET /live (no broker round trip) per second, 0: off")
    parser.add_argument("--max-messages", type=int, default=3_000_000)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--plot", type=Path, help="write a PNG of p99 and consumption here")
    parser.add_argument("--plot-from", type=Path,
                        help="only plot the results in this JSON (from --out) to --plot")
    # child roles
    parser.add_argument("--start", type=float, default=0.0)
    parser.add_argument("--url", default="")
    parser.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--port", type=int, default=0)
    opts = parser.parse_args()

    if opts.role == "publisher":
        out = asyncio.run(publisher(opts.url, opts.rate or None, opts.start, opts.duration,
                                    opts.max_messages))
        print(json.dumps(out))
        return 0
    if opts.role == "prober":
        out = asyncio.run(prober(opts.port, opts.probe_rate, opts.start, opts.duration,
                                 opts.connections, timeout=10.0, live_rate=opts.live_rate))
        print(json.dumps(out))
        return 0

    if opts.plot_from:
        if not opts.plot:
            parser.error("--plot-from needs --plot FILE")
        plot(json.loads(opts.plot_from.read_text())["results"], opts.plot)
        return 0

    import tempfile

    opts.log_dir = Path(tempfile.mkdtemp(prefix="anystream-overload-"))
    results = []
    for target in opts.targets.split(","):
        for rate_s in opts.rates.split(","):
            rate = None if rate_s == "max" else float(rate_s)
            budgets = ["off"] if target.startswith("faststream") else opts.budgets.split(",")
            if rate == 0:  # no messages: what the probes cost, with the default settings
                budgets = budgets[-1:]
            for budget in budgets:
                try:
                    r = run_phase(target, rate, budget, opts)
                except Exception as exc:  # one broken phase must not lose the others
                    r = {"target": target, "offered": "max" if rate is None else rate,
                         "slicing": budget,
                         "error": str(exc)}
                results.append(r)
                print_table([r])
                sys.stdout.flush()
                if opts.out:  # written after every phase
                    opts.out.write_text(json.dumps({"results": results,
                                                    "cpus": os.cpu_count()}, indent=1))
    print()
    print_table(results)
    print()
    print_goals(results)
    print(f"\nserver logs: {opts.log_dir}")
    if opts.out:
        opts.out.write_text(json.dumps({"results": results, "cpus": os.cpu_count(),
                                        "duration": opts.duration,
                                        "probe_rate": opts.probe_rate}, indent=1))
    if opts.plot:
        plot(results, opts.plot)
        print(f"plot: {opts.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
