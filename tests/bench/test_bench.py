"""``anystream bench``: its statistics, its schedules, its report files and its mistakes."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from anystream.bench.driver import TARGETS, PhaseResult
from anystream.bench.report import table, write_json, write_plot
from anystream.bench.schedule import due_at, due_count
from anystream.bench.stats import Histogram


def test_percentiles_match_a_known_distribution_within_the_precision() -> None:
    rng = random.Random(7)
    values = [rng.expovariate(1 / 2000) for _ in range(50_000)]  # mean 2 ms, in us
    hist = Histogram()
    hist.record_many(values)
    ordered = sorted(values)
    for p in (50, 90, 99, 99.9):
        exact = ordered[max(0, int(p / 100 * len(ordered)) - 1)]
        assert hist.percentile(p) == pytest.approx(exact, rel=0.02)
    assert hist.percentile(100) == max(values)
    assert hist.total == 50_000


def test_histograms_merge_and_survive_json() -> None:
    a, b = Histogram(), Histogram()
    a.record_many([100, 200, 300])
    b.record_many([10_000, 20_000])
    restored = Histogram.from_dict(json.loads(json.dumps(b.to_dict())))
    merged = a.merge(restored)
    assert merged.total == 5
    assert merged.max_value == 20_000
    assert merged.percentile(50) == pytest.approx(300, rel=0.01)


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


def _result(target: str, rate: str, p99: float) -> PhaseResult:
    return PhaseResult(
        target=target, rate=rate, request_rate=200, requests_per_s=199.5,
        latency_ms={"/health": {"p50": 1.0, "p90": 2.0, "p99": p99, "p99.9": p99, "max": p99},
                    "/hello": {"p50": 0.5, "p90": 1.0, "p99": 2.0, "p99.9": 3.0, "max": 4.0}},
        http_errors=0, unsent=0, published=1000 if rate != "0" else 0,
        consumed=1000 if rate != "0" else 0, consumed_per_s=500.0, lost=0, cpu_percent=42.0,
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


def _bench(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "anystream", "bench", *args],
        capture_output=True, text=True, timeout=120, cwd=cwd,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--targets", "nginx"], "unknown target 'nginx'"),
        (["--rates", "0,fast"], "--rates: 'fast' is not a number or 'max'"),
        (["--app", "no_such_module:app"], "--app: cannot import 'no_such_module'"),
        (["--nats-url", "nats://127.0.0.1:1"], "--nats-url: 127.0.0.1:1 does not answer"),
        (["--duration", "0"], "--duration must be > 0"),
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


@pytest.mark.e2e
def test_a_short_real_run_measures_latency_consumption_and_writes_the_files(
    tmp_path: Path,
) -> None:
    done = _bench(
        "--targets", "anystream/uvicorn,bare/uvicorn", "--rates", "0,500",
        "--duration", "1", "--request-rate", "100", "--out", str(tmp_path / "out"),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    document = json.loads((tmp_path / "out" / "results.json").read_text())
    phases = {(r["target"], r["rate"], r["request_rate"]): r for r in document["results"]}
    assert set(phases) == {
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
    assert set(TARGETS) >= {r["target"] for r in document["results"]}
    assert (tmp_path / "out" / "plot.png").exists()
