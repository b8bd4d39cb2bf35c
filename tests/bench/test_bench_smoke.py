"""`python -m bench --smoke`: every benchmark still runs end to end, reporting numbers (timing unchecked)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]


def test_the_benchmarks_run_and_write_numbers(tmp_path: Path) -> None:
    output = tmp_path / "results.json"
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    results = json.loads(output.read_text())
    assert results["audience_import_smoke_rows"] == 2000
    for key in (
        "audience_import_smoke_seconds",
        "audience_import_smoke_peak_rss_growth_mb",
        "render_smoke_throughput_ratio",
    ):
        assert isinstance(results[key], int | float), key
    assert "audience_import_smoke_seconds" in result.stdout  # the table
