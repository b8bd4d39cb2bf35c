"""Cold start: importing `app` (every route and handler) against importing `boto3` alone.

Each import runs in a fresh interpreter (a new subprocess, as a new Lambda execution environment
is), timed inside it around the import statement alone; the two alternate so both see the same
load, and the figure is the ratio of their medians.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
TARGETS = {"cold_start_ratio": ("<=", 2.0)}
PROBE = "import time; started = time.perf_counter(); import {module}; print(time.perf_counter() - started)"


def _import_seconds(module: str) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"PYTHONPATH": str(PROJECT_DIR), "AWS_DEFAULT_REGION": "us-east-1"})
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=module)],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return float(result.stdout.strip().splitlines()[-1])


def run(smoke: bool = False) -> dict[str, float]:
    repeats = 1 if smoke else 11
    app_s: list[float] = []
    boto3_s: list[float] = []
    for _ in range(repeats):
        app_s.append(_import_seconds("app"))
        boto3_s.append(_import_seconds("boto3"))
    app_median, boto3_median = statistics.median(app_s), statistics.median(boto3_s)
    return {
        "cold_start_app_import_ms": round(app_median * 1000, 1),
        "cold_start_boto3_import_ms": round(boto3_median * 1000, 1),
        "cold_start_ratio": round(app_median / boto3_median, 3),
    }
