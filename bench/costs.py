"""What Herald's own infrastructure costs per message, at AWS list prices.

Prices: us-east-1, on-demand list prices as published on each service's pricing page, as of
June 2025 (DynamoDB on-demand after the November 2024 reduction). Free tiers are left out: a
million-message month would use most of them up anyway, and an operator's other workloads
share them. Provider charges (SES per email, SNS per SMS) are not infrastructure and are left
out too; so are storage, logs and fixed per-month costs (the sweep and schedule ticks, idle
queue polling), which do not grow with the number of messages.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

PRICES_AS_OF = "2025-06"
REGION = "us-east-1"
LAMBDA_PER_REQUEST = 0.20 / 1e6
LAMBDA_PER_GB_SECOND = 0.0000166667  # x86_64, first pricing tier (Chalice deploys x86_64)
SQS_PER_REQUEST = 0.40 / 1e6  # standard queue, per 64 KB chunk
# SES and End User Messaging put each delivery event on the events delivery stream (Direct PUT):
# Firehose charges ingestion per GB with each record rounded up to 5 KB; each file it writes is an
# S3 PUT, and the event files worker's read of it an S3 GET.
FIREHOSE_PER_GB = 0.029
FIREHOSE_RECORD_BYTES = 5 * 1024
S3_PER_PUT = 0.005 / 1000
S3_PER_GET = 0.0004 / 1000
DYNAMODB_PER_WRITE_UNIT = 0.625 / 1e6  # on-demand write request unit
DYNAMODB_PER_READ_UNIT = 0.125 / 1e6  # on-demand read request unit
API_GATEWAY_PER_REQUEST = 3.50 / 1e6  # REST API, first 333 million a month

CHALICE_CONFIG = Path(__file__).resolve().parents[1] / ".chalice" / "config.json"


# Lambda gives a function CPU in proportion to its memory: one vCPU at 1,769 MB.
LAMBDA_MB_PER_VCPU = 1769


def lambda_gb_seconds(function: str, wall_s: float, cpu_s: float) -> float:
    """GB-seconds of `function` for work measured here as `wall_s` elapsed, `cpu_s` of it computing.

    The time spent waiting on AWS stays as measured; the computing is stretched by the share of a
    vCPU the function's memory buys (this machine gives each process a whole core).
    """
    memory_gb = lambda_memory_gb(function)
    cpu_share = min(1.0, memory_gb * 1024 / LAMBDA_MB_PER_VCPU)
    return (wall_s - cpu_s + cpu_s / cpu_share) * memory_gb


def lambda_memory_gb(function: str, stage: str = "prod") -> float:
    """A function's memory as deployed (.chalice/config.json: the stage's, or the function's own)."""
    config = json.loads(CHALICE_CONFIG.read_text())
    stage_config = config["stages"][stage]
    own = stage_config.get("lambda_functions", {}).get(function, {})
    megabytes = own.get("lambda_memory_size", stage_config.get("lambda_memory_size", 128))
    return float(megabytes) / 1024


@dataclass
class Usage:
    """Per message: what the run measured."""

    lambda_invocations: float
    lambda_gb_seconds: float
    sqs_requests: float
    ddb_write_units: float
    ddb_read_units: float
    api_requests: float = 0.0
    firehose_gb: float = 0.0
    s3_puts: float = 0.0
    s3_gets: float = 0.0

    def usd(self) -> dict[str, float]:
        return {
            "lambda_requests": self.lambda_invocations * LAMBDA_PER_REQUEST,
            "lambda_duration": self.lambda_gb_seconds * LAMBDA_PER_GB_SECOND,
            "sqs": self.sqs_requests * SQS_PER_REQUEST,
            "firehose": self.firehose_gb * FIREHOSE_PER_GB,
            "s3": self.s3_puts * S3_PER_PUT + self.s3_gets * S3_PER_GET,
            "dynamodb_writes": self.ddb_write_units * DYNAMODB_PER_WRITE_UNIT,
            "dynamodb_reads": self.ddb_read_units * DYNAMODB_PER_READ_UNIT,
            "api_gateway": self.api_requests * API_GATEWAY_PER_REQUEST,
        }

    def usd_per_million(self) -> float:
        return sum(self.usd().values()) * 1e6


def firehose_billed_gb(record_sizes: list[int]) -> float:
    """What Firehose bills for records of these sizes: each rounded up to 5 KB."""
    billed = sum(-(-size // FIREHOSE_RECORD_BYTES) * FIREHOSE_RECORD_BYTES for size in record_sizes)
    return billed / 1024**3
