"""docs/benchmarks.md's tables, from bench/results.json: ``python -m bench.report``.

The prose of docs/benchmarks.md is written by hand; the numbers in it come from here, so a new
run's figures are pasted, not retyped.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

from bench import BENCHMARKS
from bench.__main__ import DEFAULT_OUTPUT, _meets

OPERATOR_FIGURES = {
    "messages": "messages in the main run (email + SMS, English + French)",
    "aws_requests_per_message": "AWS requests per message, provider calls excluded",
    "ddb_write_units_per_message": "DynamoDB write units per message",
    "sqs_requests_per_message": "SQS requests per message (Herald's own)",
    "infra_usd_per_million": "infrastructure USD per million messages",
    "throughput_ratio": "pipeline ÷ bare provider sends, same endpoint and concurrency",
    "rate_limit_accuracy": "achieved ÷ configured rate",
    "cold_start_ratio": "import app ÷ import boto3",
    "plan_peak_rss_mb_per_million": "planner's peak RSS growth (MB) planning 1,000,000 recipients",
}


def _targets() -> dict[str, tuple[str, float]]:
    targets: dict[str, tuple[str, float]] = {}
    for name in BENCHMARKS:
        targets |= getattr(importlib.import_module(name), "TARGETS", {})
    return targets


def operator_table(results: dict[str, float]) -> str:
    targets = _targets()
    lines = ["| figure | what | measured | target |", "|---|---|---:|---|"]
    for key, what in OPERATOR_FIGURES.items():
        lines.append(f"| `{key}` | {what} | {results[key]:,.3f} | {_meets(results[key], targets.get(key))} |")
    return "\n".join(lines)


def prefixed_table(results: dict[str, float], prefix: str, header: str, unit: str) -> str:
    lines = [f"| {header} | {unit} |", "|---|---:|"]
    for key in sorted(k for k in results if k.startswith(prefix)):
        lines.append(f"| `{key.removeprefix(prefix)}` | {results[key]:.3f} |")
    return "\n".join(lines)


def planning_table(results: dict[str, float]) -> str:
    lines = [
        "| recipients | seconds | recipients/s | peak RSS growth (MB) | AWS requests | USD |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for label in ("10k", "100k", "1m"):
        if f"plan_{label}_recipients" not in results:
            continue
        r = {
            name: results[f"plan_{label}_{name}"]
            for name in (
                "recipients",
                "seconds",
                "recipients_per_second",
                "peak_rss_growth_mb",
                "aws_requests",
                "usd",
            )
        }
        lines.append(
            f"| {r['recipients']:,.0f} | {r['seconds']:,.1f} | {r['recipients_per_second']:,.0f} "
            f"| {r['peak_rss_growth_mb']:.1f} | {r['aws_requests']:,.0f} | {r['usd']:.4f} |"
        )
    return "\n".join(lines)


def main() -> int:
    results = json.loads((Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUTPUT).read_text())
    print(operator_table(results), end="\n\n")
    print(
        prefixed_table(
            results, "write_units_per_message.", "phase.table.operation", "write units per message"
        ),
        end="\n\n",
    )
    print(
        prefixed_table(results, "read_units_per_message.", "phase.table.operation", "read units per message"),
        end="\n\n",
    )
    print(prefixed_table(results, "usd_per_million.", "part", "USD per million messages"), end="\n\n")
    if "webhook_events" in results:
        print(
            prefixed_table(
                results, "webhook_usd_per_million_events.", "part", "USD per million webhook reports"
            ),
            end="\n\n",
        )
    print(planning_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
