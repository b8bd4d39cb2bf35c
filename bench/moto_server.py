"""A moto server for benchmarks: Herald's resources, seeded accounts, and a fast DynamoDB reply path.

Runs in its own process (``python -m bench.moto_server --port P --ready FILE [--seed IDS]``):
starts moto's server, creates Herald's resources from infra/template.json over HTTP, writes the
accounts listed in IDS straight into moto's table (a million BatchWriteItem calls over HTTP take
longer than the benchmark itself), then writes FILE with the resource environment.

moto 5.2 serializes every DynamoDB AttributeValue by walking botocore's shape model, ~2 ms an
item; a million existence checks would time moto, not Herald. DynamoDB results in moto are
already wire-format JSON, so this server sends them with ``json.dumps`` instead (the bytes on
the wire are the same DynamoDB JSON). DynamoDB requests are served one at a time and transactions
back up only the items they write, as in the embedded stack (chalicelib/local/moto_dynamodb.py).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
PROJECT_DIR = Path(__file__).resolve().parents[1]


def spawn(
    port: int, ready: Path, log: Path, env: dict[str, str], seed: Path | None = None
) -> subprocess.Popen[bytes]:
    """This server in a process of its own, logging to `log`; it writes `ready` once serving."""
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "bench.moto_server", "--port", str(port), "--ready", str(ready)),
            *(("--seed", str(seed)) if seed else ()),
        ],
        cwd=PROJECT_DIR,
        env={**env, "PYTHONPATH": str(PROJECT_DIR)},
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
    )


def _fast_dynamodb_replies() -> None:
    from moto.dynamodb.responses import DynamoHandler

    from chalicelib.local.moto_dynamodb import wire_json

    def serialized(self: Any, action_result: Any) -> Any:
        body = wire_json(action_result.result)
        return 200, {"Content-Type": "application/x-amz-json-1.0", **self.response_headers}, body

    DynamoHandler.serialized = serialized  # type: ignore[method-assign]


def _seed(ids_path: Path, table_name: str) -> int:
    from moto.dynamodb.models import dynamodb_backends

    table = dynamodb_backends[ACCOUNT_ID][REGION].get_table(table_name)
    count = 0
    with ids_path.open(encoding="utf-8") as ids:
        for line in ids:
            account_id = line.strip()
            if not account_id:
                continue
            table.put_item(
                {
                    "account_id": {"S": account_id},
                    "first_name": {"S": "Bench"},
                    "last_name": {"S": "Account"},
                    "language": {"S": "en"},
                    "channels": {"L": [{"S": "email"}]},
                    "status": {"S": "active"},
                }
            )
            count += 1
    return count


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ready", type=Path, required=True)
    parser.add_argument("--seed", type=Path)
    args = parser.parse_args()

    from moto.server import ThreadedMotoServer

    from chalicelib.local import moto_dispatch, moto_dynamodb, moto_sqs
    from chalicelib.local.resources import create_resources

    _fast_dynamodb_replies()
    moto_dispatch.install()
    moto_dynamodb.install()
    moto_sqs.install()
    # werkzeug logs every request at INFO; the embedded stack keeps warnings only, and so does this.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{args.port}"
    environment = create_resources(url, stage="dev", region=REGION)
    seeded = _seed(args.seed, "herald-dev-accounts") if args.seed else 0
    args.ready.write_text(json.dumps({"environment": environment, "seeded": seeded}))
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    stopping.wait()
    # Nothing to keep: skip the server's orderly shutdown (slow with a million items in memory).
    os._exit(0)


if __name__ == "__main__":
    raise SystemExit(main())
