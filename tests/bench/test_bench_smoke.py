"""`python -m bench --smoke`: every benchmark still runs end to end, reporting numbers (timing unchecked)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
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
)


def test_the_benchmarks_run_and_write_numbers(tmp_path: Path) -> None:
    output = tmp_path / "results.json"
    try:
        result = subprocess.run(
            [sys.executable, "-m", "bench", "--smoke", "--output", str(output)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=800,
        )
    except subprocess.TimeoutExpired as stuck:
        printed = stuck.stderr.decode(errors="replace") if isinstance(stuck.stderr, bytes) else stuck.stderr
        pytest.fail(f"the smoke bench ran past {stuck.timeout} s; it printed:\n{printed}")
    assert result.returncode == 0, result.stdout + result.stderr
    results = json.loads(output.read_text())
    assert results["audience_import_smoke_rows"] == 2000
    for key in (
        "audience_import_smoke_seconds",
        "audience_import_smoke_peak_rss_growth_mb",
        "render_smoke_throughput_ratio",
        *OPERATOR_FIGURES,
    ):
        assert isinstance(results[key], int | float) and not isinstance(results[key], bool), key
        assert key in result.stdout, key  # in the table
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
