"""``anystream bench``: its statistics, its schedules, its report files and its mistakes."""

from __future__ import annotations

import json
import random
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from anystream.bench import driver
from anystream.bench.driver import TARGETS, Phase, PhaseResult
from anystream.bench.report import goals, goals_text, table, write_json, write_plot
from anystream.bench.schedule import due_at, due_count
from anystream.bench.stats import Histogram


def test_percentiles_match_a_known_distribution_within_the_precision() -> None:
    rng = random.Random(7)
    values = [rng.expovariate(1 / 2000) for _ in range(50_000)]  # mean 2 ms, in us
    hist = Histogram()
    for value in values:
        hist.record(value)
    ordered = sorted(values)
    for p in (50, 90, 99, 99.9):
        exact = ordered[max(0, int(p / 100 * len(ordered)) - 1)]
        assert hist.percentile(p) == pytest.approx(exact, rel=0.02)
    assert hist.percentile(100) == max(values)
    assert hist.total == 50_000


def test_an_empty_histogram_says_nan_and_bad_values_are_refused() -> None:
    hist = Histogram()
    assert hist.summary_ms()["p99"] != hist.summary_ms()["p99"]  # NaN
    with pytest.raises(ValueError, match="non-negative"):
        hist.record(-1)
    with pytest.raises(ValueError, match=r"0\.\.100"):
        hist.percentile(101)


def test_an_open_loop_schedule_is_due_at_a_fixed_rate_whatever_happens() -> None:
    assert [due_at(i, 100, start=10.0) for i in range(3)] == [10.0, 10.01, 10.02]
    assert due_count(9.9, 100, start=10.0) == 0
    assert due_count(10.0, 100, start=10.0) == 1
    assert due_count(11.0, 100, start=10.0) == 101  # a stalled sender owes them all
    assert due_count(11.0, 100, start=10.0, limit=50) == 50
    with pytest.raises(ValueError):
        due_at(0, 0, start=0)


def _result(
    target: str,
    rate: str,
    p99: float,
    *,
    closed: bool = False,
    rps: float = 199.5,
    consumed_per_s: float = 500.0,
    lost: int = 0,
    client_dropped: int = 0,
    cpu_us_per_msg: float | None = None,
) -> PhaseResult:
    return PhaseResult(
        target=target,
        rate=rate,
        request_rate=None if closed else 200,
        requests_per_s=rps,
        latency_ms={
            "/health": {"p50": 1.0, "p90": 2.0, "p99": p99, "p99.9": p99, "max": p99},
            "/hello": {"p50": 0.5, "p90": 1.0, "p99": 2.0, "p99.9": 3.0, "max": 4.0},
        },
        http_errors=0,
        unsent=0,
        published=1000 if rate != "0" else 0,
        consumed=1000 - lost if rate != "0" else 0,
        consumed_per_s=consumed_per_s,
        lost=lost,
        cpu_percent=42.0,
        offered=1000 if rate != "0" else 0,
        client_dropped=client_dropped,
        slow_consumers=0,
        cpu_us_per_msg=cpu_us_per_msg,
    )


def test_the_report_writes_a_table_json_with_every_figure_and_a_plot(tmp_path: Path) -> None:
    results = [
        _result("anystream/uvicorn", "0", 3.0),
        _result("anystream/uvicorn", "1000", 5.0),
        _result("bare/uvicorn", "0", 1.0),
    ]
    text = table(results)
    assert "anystream/uvicorn" in text and "bare/uvicorn" in text
    write_json(tmp_path / "results.json", results, {"rates": ["0", "1000"]})
    document = json.loads((tmp_path / "results.json").read_text())
    assert document["environment"]["versions"]["faststream"]
    assert document["results"][1]["latency_ms"]["/health"]["p99"] == 5.0
    assert document["results"][1]["lost"] == 0
    assert write_plot(tmp_path / "plot.png", results)
    assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert isinstance(document["goals"], list)
    assert {
        "target",
        "rate",
        "request_rate",
        "requests_per_s",
        "latency_ms",
        "published",
        "consumed",
        "lost",
        "cpu_percent",
        "loadgen_cpu_percent",
        "schedule_lag_ms",
        "histograms",
        "cpu_us_per_msg",
    } <= set(document["results"][0])


def test_the_goals_of_the_issue_are_checked_as_ratios_met_or_not() -> None:
    results = [
        _result("anystream/uvicorn", "0", 3.0, closed=True, rps=4000),
        _result("bare/uvicorn", "0", 1.0, closed=True, rps=4200),
        _result("faststream/uvicorn", "0", 3.0, closed=True, rps=3000),
        _result("anystream/hypercorn-trio", "0", 3.0, closed=True, rps=600),
        _result("bare/hypercorn-trio", "0", 1.0, closed=True, rps=1200),
        _result("anystream/uvicorn", "5000", 10.0, consumed_per_s=5000),
        _result("faststream/uvicorn", "5000", 900.0, consumed_per_s=5000),
        _result("anystream/hypercorn-trio", "5000", 30.0, lost=12, client_dropped=12),
        _result("anystream/hypercorn-asyncio", "5000", 100.0),
    ]
    checked = {g["goal"]: g for g in goals(results)}
    assert checked["uvicorn: idle /hello req/s >= 0.9x the bare app's"]["met"] is True
    trio_idle = checked["hypercorn-trio: idle /hello req/s >= 0.9x the bare app's"]
    assert trio_idle["ratio"] == 0.5 and trio_idle["met"] is False
    trio_vs_asyncio = "/health p99 at 5000 msgs/s: hypercorn-trio <= 1.5x hypercorn-asyncio"
    assert checked[trio_vs_asyncio]["ratio"] == 0.3 and checked[trio_vs_asyncio]["met"]
    assert checked["uvicorn @ 5000 msgs/s: /health p99 <= 1.05x faststream's"]["met"] is True
    assert checked["uvicorn @ 5000 msgs/s: consumption >= 0.95x faststream's"]["met"] is True
    assert checked["uvicorn: idle /hello req/s >= 0.95x faststream's"]["ratio"] == 1.33
    assert checked["hypercorn-trio @ 5000 msgs/s: 0 messages lost"]["met"] is False
    assert checked["uvicorn @ 5000 msgs/s: 0 messages lost"]["met"] is True
    text = goals_text(goals(results))
    assert "NOT MET  hypercorn-trio @ 5000 msgs/s: 0 messages lost" in text
    # The table says why messages were lost.
    assert "12 lost: nats-py dropped 12 (subscription queue full)" in table(results)


def test_flat_out_trio_consumption_and_overload_p99_are_checked() -> None:
    results = [
        _result("anystream/hypercorn-trio", "max", 24.0, consumed_per_s=6500, cpu_us_per_msg=131),
        _result("anystream/uvicorn", "max", 60.0, consumed_per_s=7000),
        _result("faststream/uvicorn", "max", 7000.0, consumed_per_s=9000, cpu_us_per_msg=108),
        _result("anystream/hypercorn-asyncio", "30000", 32.0),
    ]
    checked = {g["goal"]: g for g in goals(results)}
    flat_out = checked["hypercorn-trio @ max msgs/s: consumption >= 1.0x faststream/uvicorn's"]
    assert flat_out["ratio"] == 0.72 and flat_out["met"] is False
    assert flat_out["figure"] == "6500 vs 9000 msgs/s; CPU per message 131 vs 108 us"
    assert checked["hypercorn-trio @ max msgs/s: /health p99 <= 50 ms"]["met"] is True
    assert checked["uvicorn @ max msgs/s: /health p99 <= 50 ms"]["met"] is False
    assert checked["hypercorn-asyncio @ 30000 msgs/s: /health p99 <= 50 ms"]["met"] is True
    # faststream's own app is the baseline, not held to the overload goal.
    assert not any(g.startswith("faststream") for g in checked)
    assert " 131" in table(results).splitlines()[2]


def test_an_app_that_answers_its_stats_late_still_gets_its_consumption_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # faststream's app flat out answers no HTTP while it consumes: /stats comes late.
    answers = iter([{}, {}, {"consumed": 1500}])
    monkeypatch.setattr(driver, "app_stats", lambda port: next(answers, {"consumed": 1500}))
    phase = Phase(TARGETS["faststream/uvicorn"], "max", 200, ("/health",), 1.0, 1)
    now = driver.time.monotonic()
    window = driver._Window(began=now - 1.0, ended=now, cpu_percent=90.0)
    counted = driver._consumed(phase, 0, {"consumed": 500}, 5000, window)
    assert counted.consumed == 1000 and counted.lost == 4000
    assert counted.consumed_per_s is not None and 0 < counted.consumed_per_s <= 1000


def test_goals_whose_phases_did_not_run_are_left_out() -> None:
    assert goals([_result("anystream/uvicorn", "1000", 3.0)]) == []
    assert goals_text([]) == ""


def _bench(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "anystream", "bench", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--targets", "nginx"], "unknown target 'nginx'"),
        (["--rates", "0,fast"], "--rates: 'fast' is not a number or 'max'"),
        (["--app", "no_such_module:app"], "--app: cannot import 'no_such_module'"),
        (["--nats-url", "nats://127.0.0.1:1"], "--nats-url: 127.0.0.1:1 does not answer"),
        (["--duration", "0"], "--duration must be > 0"),
        (["--targets", "bare/uvicorn", "--connections", "0"], "--connections must be >= 1"),
    ],
)
def test_mistakes_get_one_readable_line_and_a_non_zero_exit(
    args: list[str], message: str, tmp_path: Path
) -> None:
    done = _bench(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_nats_url_where_something_else_listens_is_refused(tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts connections (backlog) but never greets
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        done = _bench("--nats-url", f"nats://127.0.0.1:{port}", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().endswith(f"--nats-url: 127.0.0.1:{port} does not answer (timed out)")
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.e2e
def test_a_short_real_run_measures_latency_consumption_and_writes_the_files(
    tmp_path: Path,
) -> None:
    done = _bench(
        "--targets",
        "anystream/uvicorn,bare/uvicorn",
        "--rates",
        "0,500",
        "--duration",
        "1",
        "--request-rate",
        "100",
        "--out",
        str(tmp_path / "out"),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    document = json.loads((tmp_path / "out" / "results.json").read_text())
    phases = {(r["target"], r["rate"], r["request_rate"]): r for r in document["results"]}
    assert set(phases) == {
        ("loadgen/null", "0", None),  # the load generator's own ceiling
        ("anystream/uvicorn", "0", None),  # the requests/s ceiling, closed loop
        ("anystream/uvicorn", "0", 100),
        ("anystream/uvicorn", "500", 100),
        ("bare/uvicorn", "0", None),
        ("bare/uvicorn", "0", 100),
    }
    assert phases[("bare/uvicorn", "0", None)]["requests_per_s"] > 100
    busy = phases[("anystream/uvicorn", "500", 100)]
    assert busy["published"] > 0
    assert busy["consumed"] == busy["published"] and busy["lost"] == 0
    assert busy["latency_ms"]["/health"]["p50"] > 0
    assert busy["requests_per_s"] > 0
    assert set(TARGETS) | {"loadgen/null"} >= {r["target"] for r in document["results"]}
    assert phases[("loadgen/null", "0", None)]["loadgen_cpu_percent"] > 0
    assert busy["offered"] == 500 and busy["client_dropped"] == 0
    assert busy["slow_consumers"] == 0  # the embedded server's monitoring endpoint answered
    assert busy["cpu_us_per_msg"] > 0  # the server's CPU per consumed message
    assert busy["paced_reads"] == 0  # 500 msgs/s: the client never fell behind
    assert phases[("anystream/uvicorn", "0", 100)]["cpu_us_per_msg"] is None  # none consumed
    assert "uvicorn: idle /hello req/s >= 0.9x the bare app's" in done.stdout  # goals shown
    assert (tmp_path / "out" / "plot.png").exists()
