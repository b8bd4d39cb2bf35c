"""`python -m bench --smoke`: every benchmark still runs end to end, reporting numbers (timing unchecked)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
SMOKE_TIMEOUT_S = 800
# What an operator reads in bench/results.json and docs/benchmarks.md.
OPERATOR_FIGURES = (
    "messages",
    "aws_requests_per_message",
    "ddb_write_units_per_message",
    "sqs_requests_per_message",
    "infra_usd_per_million",
    "throughput_ratio",
    "rate_limit_accuracy",
    "cold_start_ratio",
    "plan_peak_rss_mb_per_million",
    "webhook_usd_per_million_events",
)


def test_the_benchmarks_run_and_write_numbers(tmp_path: Path) -> None:
    output = tmp_path / "results.json"
    # Its own process group: if it hangs, its moto servers and workers go down with it.
    bench = subprocess.Popen(
        [sys.executable, "-m", "bench", "--smoke", "--output", str(output)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = bench.communicate(timeout=SMOKE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(bench.pid, signal.SIGKILL)
        stdout, stderr = bench.communicate()
        pytest.fail(f"the smoke bench ran past {SMOKE_TIMEOUT_S} s; it printed:\n{stderr}")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(bench.pid, signal.SIGKILL)
    assert bench.returncode == 0, stdout + stderr
    results = json.loads(output.read_text())
    assert results["audience_import_smoke_rows"] == 2000
    for key in (
        "audience_import_smoke_seconds",
        "audience_import_smoke_peak_rss_growth_mb",
        "render_smoke_throughput_ratio",
        *OPERATOR_FIGURES,
    ):
        assert isinstance(results[key], int | float) and not isinstance(results[key], bool), key
        assert key in stdout, key  # in the table
    assert results["messages"] > 0
    assert (tmp_path / "results.png").stat().st_size > 0  # the chart


def test_the_committed_results_hold_every_operator_figure() -> None:
    committed = json.loads((ROOT / "bench" / "results.json").read_text())
    for key in OPERATOR_FIGURES:
        assert isinstance(committed[key], int | float) and not isinstance(committed[key], bool), key
    assert committed["messages"] >= 20_000
    assert committed["plan_largest_recipients"] == 1_000_000
    assert (ROOT / "docs" / "benchmarks.png").stat().st_size > 0
    assert "docs/benchmarks.md" in (ROOT / "README.md").read_text()
