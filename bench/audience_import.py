"""Import of a large audience CSV through the upload-URL path, with moto in a separate process.

Three processes, as in production where S3/DynamoDB are not Herald's memory:
- a moto server (`bench.moto_server`: moto's server, Herald's resources and the seeded accounts),
  standing in for S3, SQS and DynamoDB;
- Herald: the embedded stack (API over HTTP, SQS pollers feeding the real import worker)
  pointed at that moto server; it reports its own peak RSS growth from `/proc/self/status`
  (VmHWM, reset through `/proc/self/clear_refs` once the stack is up, minus VmRSS then);
- this process: seeds the accounts, writes the CSV, asks Herald for an upload URL, POSTs the file
  to moto like a browser would, and times until the communication's audience is `ready`.

The CSV has a header with an extra column, 0.5% duplicate lines, 0.5% unknown accounts and
0.1% lines that are not UUIDs, so every path of the reader runs.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import requests

from bench import moto_server
from chalicelib.local.resources import DUMMY_CREDENTIALS
from chalicelib.local.stack import free_port

TARGETS = {"audience_import_1m_peak_rss_growth_mb": ("<=", 150)}
PROJECT_DIR = Path(__file__).resolve().parents[1]
REGION = "us-east-1"


def _client(service: str, moto_url: str) -> Any:
    return boto3.client(service, endpoint_url=moto_url, region_name=REGION, **DUMMY_CREDENTIALS)


def _wait_http(url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=2)
            return
        except requests.ConnectionError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout_s} s")


def _write_csv(path: Path, account_ids: list[str]) -> dict[str, int]:
    unknown = duplicates = garbage = 0
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write("account_id,note\r\n")
        for index, account_id in enumerate(account_ids):
            f.write(f"{account_id},row {index}\r\n")
            if index % 200 == 7:
                f.write(f"{account_ids[index // 2]},again\r\n")
                duplicates += 1
            if index % 200 == 11:
                f.write(f"{uuid.uuid4()},unknown\r\n")
                unknown += 1
            if index % 1000 == 13:
                f.write(f"not-a-uuid-{index},garbage\r\n")
                garbage += 1
    return {"accepted": len(account_ids), "duplicates": duplicates, "rejected": unknown + garbage}


def run(smoke: bool = False) -> dict[str, float]:
    rows = int(os.environ.get("BENCH_AUDIENCE_ROWS", 2_000 if smoke else 1_000_000))
    label = "smoke" if smoke else "1m"
    work = Path(tempfile.mkdtemp(prefix="herald-bench-"))
    account_ids = [str(uuid.uuid4()) for _ in range(rows)]
    ids_path, csv_path, warmup_path = work / "ids.txt", work / "audience.csv", work / "warmup.csv"
    ids_path.write_text("\n".join(account_ids) + "\n")
    expected = _write_csv(csv_path, account_ids)
    warmup_expected = _write_csv(warmup_path, account_ids[:50])
    del account_ids

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PYTHONPATH"] = str(PROJECT_DIR)
    moto_port, api_port = free_port(), free_port()
    ready_path, stats_path = work / "moto-ready.json", work / "herald-stats.json"
    moto = moto_server.spawn(moto_port, ready_path, work / "moto.log", env, seed=ids_path)
    herald: subprocess.Popen[bytes] | None = None
    try:
        started = time.perf_counter()
        ready = _wait_for_file(ready_path, moto, timeout_s=1800)
        seed_s = time.perf_counter() - started
        herald = subprocess.Popen(
            [
                *(sys.executable, "-m", "bench.audience_import", "herald"),
                *("--moto-port", str(moto_port), "--api-port", str(api_port), "--stats", str(stats_path)),
            ],
            cwd=PROJECT_DIR,
            env={**env, **ready["environment"]},
            stdout=(work / "herald.log").open("w"),
            stderr=subprocess.STDOUT,
        )
        api = f"http://127.0.0.1:{api_port}"
        _wait_http(f"{api}/health", 120)
        # A small import first, so code loading and client set-up are not counted as growth.
        _import_through_upload_url(api, warmup_path, warmup_expected, timeout_s=120)
        herald.send_signal(signal.SIGUSR1)
        time.sleep(0.5)
        measured = _import_through_upload_url(api, csv_path, expected, timeout_s=3600)
        herald.send_signal(signal.SIGINT)
        herald.wait(60)
        stats = json.loads(stats_path.read_text())
    finally:
        for process in (herald, moto):
            _stop(process)
    megabytes = csv_path.stat().st_size / 1e6
    return {
        f"audience_import_{label}_rows": rows,
        f"audience_import_{label}_csv_mb": round(megabytes, 1),
        f"audience_import_{label}_seconds": round(measured["import_s"], 2),
        f"audience_import_{label}_upload_seconds": round(measured["upload_s"], 2),
        f"audience_import_{label}_rows_per_second": round(rows / measured["import_s"], 1),
        f"audience_import_{label}_peak_rss_growth_mb": round(stats["peak_mb"] - stats["baseline_mb"], 1),
        f"audience_import_{label}_herald_baseline_rss_mb": round(stats["baseline_mb"], 1),
        f"audience_import_{label}_moto_seed_seconds": round(seed_s, 1),
    }


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(30)


def _wait_for_file(path: Path, process: subprocess.Popen[bytes], timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            ready: dict[str, Any] = json.loads(path.read_text())
            return ready
        except (FileNotFoundError, json.JSONDecodeError):  # not there yet, or still being written
            pass
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[2:4]} exited with {process.returncode}")
        time.sleep(0.2)
    raise RuntimeError(f"the moto server was not ready within {timeout_s} s")


def _import_through_upload_url(
    api: str, csv_path: Path, expected: dict[str, int], timeout_s: float
) -> dict[str, float]:
    from chalicelib.local.tokens import mint_dev_token

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {mint_dev_token('bench', 'Bench', 'Runner')}"
    content = {"sms": {"en": {"body": "Hello {{ account.first_name }}"}}, "email": {}}
    created = session.post(
        f"{api}/communications",
        json={"name": "Bench", "channels": ["sms"], "default_language": "en", "content": content},
        timeout=60,
    )
    comm_id = created.json()["id"]
    ticket = session.post(f"{api}/communications/{comm_id}/audience/upload-url", timeout=60).json()
    started = time.perf_counter()
    with csv_path.open("rb") as f:
        uploaded = requests.post(
            ticket["url"], data=ticket["fields"], files={"file": ("audience.csv", f, "text/csv")}, timeout=600
        )
    uploaded.raise_for_status()
    uploaded_at = time.perf_counter()
    deadline = uploaded_at + timeout_s
    while time.perf_counter() < deadline:
        audience = session.get(f"{api}/communications/{comm_id}", timeout=60).json()["audience"]
        if audience["state"] in ("ready", "failed"):
            break
        time.sleep(0.2)
    done = time.perf_counter()
    got = {k: audience[k] for k in ("accepted", "duplicates", "rejected")}
    if audience["state"] != "ready" or got != expected:
        raise RuntimeError(f"import ended {audience['state']} with {got}, expected {expected}: {audience}")
    return {"upload_s": uploaded_at - started, "import_s": done - uploaded_at}


# -- the Herald process --------------------------------------------------------------------------


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def _herald(moto_port: int, api_port: int, stats_path: Path) -> int:
    """Run the embedded stack on the external moto until SIGINT, then write RSS figures."""
    from chalicelib.local.stack import EmbeddedStack

    stopping = threading.Event()
    baseline = [_status_mb("VmRSS")]

    def restart_high_water_mark(*_: object) -> None:
        # From here on, the high-water mark is the import's own growth over the warmed-up process.
        Path("/proc/self/clear_refs").write_text("5")
        baseline[0] = _status_mb("VmRSS")

    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGUSR1, restart_high_water_mark)
    with EmbeddedStack(moto_port, api_port, external_moto=True, visibility_timeout_s=900):
        stopping.wait()
        peak = _status_mb("VmHWM")
    stats_path.write_text(json.dumps({"baseline_mb": baseline[0], "peak_mb": peak}))
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["herald"])
    parser.add_argument("--moto-port", type=int, required=True)
    parser.add_argument("--api-port", type=int, required=True)
    parser.add_argument("--stats", type=Path, required=True)
    arguments = parser.parse_args()
    sys.exit(_herald(arguments.moto_port, arguments.api_port, arguments.stats))
