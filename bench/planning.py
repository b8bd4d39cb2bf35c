"""Planning 10,000, 100,000 and 1,000,000 recipients: time, AWS usage and Herald's memory.

A moto server (`bench.moto_server`, its own process) holds a million accounts; this process
stores three audiences (the first 10k, 100k and 1M of them) and sends each communication, so
its planning task is queued. For each size a fresh Herald process (the plan worker's Lambda
environment) first plans a 100-recipient communication (code loading, client set-up), then
restarts its high-water mark (`/proc/self/clear_refs`) and runs the real plan handler on the
plan queue — continuations included — until the communication's planning is done. It reports
its peak RSS growth over the warmed-up baseline (VmHWM minus VmRSS), the handler's time, and every
AWS request it made (botocore hooks; read units from what the reads returned). The send tasks
it queues stay on moto's send queue: the benchmark plans, it does not send a million messages.
The planner's window of queued tasks is raised for the run so that planning never parks.

The moto server and its million accounts time nothing: `make bench` starts them in the
background (`prepare()`, bench/background.py) while the metered send runs, which times nothing
either, and the timed runs start once they are in place.
"""

from __future__ import annotations

import argparse
import atexit
import json
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import moto_server
from bench.audience_import import _status_mb, _stop, _wait_for_file

PROJECT_DIR = Path(__file__).resolve().parents[1]
REGION = "us-east-1"
ACCOUNT = "123456789012"
SIZES = (10_000, 100_000, 1_000_000)
SMOKE_SIZES = (200, 500, 1_000)
WARMUP = 100
TARGETS = {"plan_peak_rss_mb_per_million": ("<=", 150)}
BACKGROUND = "planning: the moto server and its accounts"
LABELS = {10_000: "10k", 100_000: "100k", 1_000_000: "1m", 200: "200", 500: "500", 1_000: "1k"}


def _account_id(number: int) -> str:
    return f"{number:08x}-7000-4000-8000-00000000beef"


def prepare(smoke: bool = False) -> None:
    """Start the moto server and its accounts in the background (bench/background.py): it times
    nothing, so it can run alongside the metered send."""
    from bench import background
    from bench.pipeline import base_environment

    sizes, base_env = SMOKE_SIZES if smoke else SIZES, base_environment()  # os.environ, read on this thread
    background.start(BACKGROUND, lambda: _Server.start(sizes, base_env))


def run(smoke: bool = False) -> dict[str, float]:
    from bench import background
    from bench.pipeline import _environment, _patched_environ, base_environment

    sizes = SMOKE_SIZES if smoke else SIZES
    server = background.take(BACKGROUND) or _Server.start(sizes, base_environment())
    results: dict[str, float] = {}
    try:
        env = {
            **server.base_env,
            **_environment(f"http://127.0.0.1:{server.port}", server.ready["environment"]),
            "HERALD_PLANNER_WINDOW_TASKS": "100000000",
        }
        with _patched_environ(env):
            setup = _Setup()
            warmups = [setup.communication(WARMUP, offset=max(sizes)) for _ in sizes]
            comms = [setup.communication(size) for size in sizes]
        for size, warmup, comm_id in zip(sizes, warmups, comms, strict=True):
            with _patched_environ(env):
                setup.send(warmup)
            results |= _figures(size, _plan(server.work, env, size, warmup, comm_id))
    finally:
        _stop(server.process)
    largest = max(sizes)
    scale = 1_000_000 / largest
    results["plan_largest_recipients"] = float(largest)
    results["plan_peak_rss_mb_per_million"] = round(
        results[f"plan_{LABELS[largest]}_peak_rss_growth_mb"] * scale, 1
    )
    results["plan_seconds_per_million"] = round(results[f"plan_{LABELS[largest]}_seconds"] * scale, 1)
    results["plan_usd_per_million"] = round(results[f"plan_{LABELS[largest]}_usd"] * scale, 6)
    return results


@dataclass(frozen=True)
class _Server:
    """The moto server (its own process) with the accounts of every audience size in its table."""

    process: subprocess.Popen[bytes]
    port: int
    ready: dict[str, Any]
    work: Path
    base_env: dict[str, str]

    @classmethod
    def start(cls, sizes: tuple[int, ...], base_env: dict[str, str]) -> _Server:
        from chalicelib.local.stack import free_port

        work = Path(tempfile.mkdtemp(prefix="herald-planning-"))
        ids = work / "ids.txt"
        ids.write_text("".join(_account_id(n) + "\n" for n in range(max(sizes) + WARMUP)))
        port = free_port()
        process = moto_server.spawn(port, work / "moto", work / "moto.log", base_env, seed=ids)
        atexit.register(_stop, process)  # should the benchmarks stop before planning's
        try:
            ready = _wait_for_file(work / "moto", process, timeout_s=1800)
        except BaseException:
            _stop(process)
            raise
        return cls(process, port, ready, work, base_env)


def _plan(work: Path, env: dict[str, str], size: int, warmup: str, comm_id: str) -> dict[str, Any]:
    """The plan worker's figures for one communication, from a fresh Herald process."""
    stats = work / f"plan-{size}.json"
    herald = subprocess.run(
        [
            *(sys.executable, "-m", "bench.planning", "--warmup", warmup),
            *("--comm", comm_id, "--stats", str(stats)),
        ],
        cwd=PROJECT_DIR,
        env=env,
        stderr=(work / f"plan-{size}.log").open("w"),
        timeout=3600,
        check=False,
    )
    if herald.returncode != 0:
        raise RuntimeError(f"planning {size} failed: see {work}/plan-{size}.log")
    stats_read: dict[str, Any] = json.loads(stats.read_text())
    return stats_read


def _figures(size: int, stats: dict[str, Any]) -> dict[str, float]:
    from bench import costs

    label = LABELS[size]
    usage = costs.Usage(
        lambda_invocations=stats["invocations"],
        lambda_gb_seconds=costs.lambda_gb_seconds(
            "plan_worker", stats["billed_seconds"], stats["cpu_seconds"]
        ),
        sqs_requests=stats["sqs_requests"] + 2 * stats["invocations"],  # + the mapping's receive and delete
        ddb_write_units=stats["ddb_write_requests_items"],
        ddb_read_units=stats["ddb_read_units"],
    )
    return {
        f"plan_{label}_recipients": float(size),
        f"plan_{label}_seconds": round(stats["seconds"], 2),
        f"plan_{label}_recipients_per_second": round(size / stats["seconds"], 1),
        f"plan_{label}_peak_rss_growth_mb": round(stats["peak_mb"] - stats["baseline_mb"], 1),
        f"plan_{label}_aws_requests": float(stats["requests"]),
        f"plan_{label}_usd": round(sum(usage.usd().values()), 6),
    }


class _Setup:
    """This process: audiences stored as the import stores them, communications sent."""

    def __init__(self) -> None:
        from chalicelib.domain.models import Admin
        from chalicelib.settings import Settings
        from chalicelib.wiring import Services

        self.svc = Services(Settings())
        self.admin = Admin("bench", "Bench", "Runner", can_write=True)

    def communication(self, size: int, offset: int = 0) -> str:
        from chalicelib.domain.communications import DraftFields
        from chalicelib.domain.models import AudienceSummary, Channel, Content, EmailContent

        content = Content(
            email={"en": EmailContent("Notice", "<p>Hello {{ account.first_name }}</p>", "Hello")}
        )
        draft = self.svc.communications.create(
            DraftFields(
                name=f"Plan {size}", channels=[Channel.EMAIL], default_language="en", content=content
            ),
            by=self.admin,
        )
        chunk = self.svc.settings.audience_chunk_size
        chunks = (
            [_account_id(n) for n in range(start, min(start + chunk, offset + size))]
            for start in range(offset, offset + size, chunk)
        )
        written = self.svc.audience_store.replace(draft.comm_id, chunks, 0)
        summary = AudienceSummary(source="csv", state="ready", accepted=size, chunks=written)
        self.svc.communication_store.set_audience(draft.comm_id, summary)
        return draft.comm_id

    def send(self, comm_id: str) -> None:
        self.svc.communications.send(comm_id, by=self.admin)


# -- the Herald process: the plan worker ------------------------------------------------------------


def _herald(warmup: str, comm_id: str, stats_path: Path) -> int:
    import boto3

    from bench.sending import _read_units
    from chalicelib.local.pollers import sqs_event
    from chalicelib.wiring import services
    from chalicelib.workers import plan

    svc = services()
    sqs = boto3.client("sqs", region_name=REGION)  # the event source mapping's
    queue = svc.settings.plan_queue
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}"
    requests: Counter[str] = Counter()
    units = {"read": 0.0, "write_items": 0.0}

    def count(model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        requests[model.service_model.service_id.hyphenize()] += 1
        context["bench_params"] = json.loads(json.dumps(params, default=str))
        # Planning writes small items (the chunk's tally, the planning note), a unit each.
        if model.name in ("PutItem", "UpdateItem", "DeleteItem"):
            units["write_items"] += 1
        elif model.name == "BatchWriteItem":
            units["write_items"] += sum(len(v) for v in params["RequestItems"].values())
        elif model.name == "TransactWriteItems":
            units["write_items"] += 2 * len(params["TransactItems"])

    def read(model: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        units["read"] += sum(_read_units(model.name, context.get("bench_params", {}), parsed).values())

    def plan_until(done: str) -> tuple[int, float, float]:
        invocations, cpu, billed = 0, 0.0, 0.0
        while True:
            communication = svc.communication_store.get(done)
            if communication.planning_done:
                return invocations, cpu, billed
            batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1).get("Messages", [])
            if not batch:
                time.sleep(0.05)
                continue
            clock, cpu_clock = time.perf_counter(), time.process_time()
            response = plan.handle(sqs_event(batch, arn, REGION))
            elapsed = time.perf_counter() - clock
            invocations += 1
            cpu += time.process_time() - cpu_clock
            billed += max(0.001, round(elapsed + 0.0005, 3))
            if not response.get("batchItemFailures"):
                sqs.delete_message(QueueUrl=url, ReceiptHandle=batch[0]["ReceiptHandle"])

    plan_until(warmup)
    from chalicelib.domain.models import Admin

    # Sent from here (the API's code, before the baseline), so the warm-up was planned first.
    svc.communications.send(comm_id, by=Admin("bench", "Bench", "Runner", can_write=True))
    for client in (svc.dynamodb, svc.sqs):
        client.meta.events.register("before-parameter-build", count)
        client.meta.events.register("after-call.dynamodb", read)
    Path("/proc/self/clear_refs").write_text("5")
    baseline = _status_mb("VmRSS")
    started = time.perf_counter()
    invocations, cpu, billed = plan_until(comm_id)
    seconds = time.perf_counter() - started
    peak = _status_mb("VmHWM")
    stats_path.write_text(
        json.dumps(
            {
                "baseline_mb": baseline,
                "peak_mb": peak,
                "seconds": seconds,
                "invocations": invocations,
                "billed_seconds": billed,
                "cpu_seconds": cpu,
                "requests": sum(requests.values()),
                "sqs_requests": requests["sqs"],
                "ddb_read_units": units["read"],
                "ddb_write_requests_items": units["write_items"],
            }
        )
    )
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    parser = argparse.ArgumentParser()
    parser.add_argument("--warmup", required=True)
    parser.add_argument("--comm", required=True)
    parser.add_argument("--stats", type=Path, required=True)
    arguments = parser.parse_args()
    sys.exit(_herald(arguments.warmup, arguments.comm, arguments.stats))
