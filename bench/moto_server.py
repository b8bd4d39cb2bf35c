"""A moto server for benchmarks: Herald's resources, seeded accounts, and a fast DynamoDB reply path.

Runs in its own process (``python -m bench.moto_server --port P --ready FILE [--seed IDS]``):
starts moto's server, creates Herald's resources from infra/template.json over HTTP, writes the
accounts listed in IDS straight into moto's table (a million BatchWriteItem calls over HTTP take
longer than the benchmark itself), then writes FILE with the resource environment.

moto 5.2 serializes every DynamoDB AttributeValue by walking botocore's shape model, ~2 ms an
item; a million existence checks would time moto, not Herald. DynamoDB results in moto are
already wire-format JSON, so this server sends them with ``json.dumps`` instead (the bytes on
the wire are the same DynamoDB JSON). Transactions snapshot only the items they touch, one at a
time (`_serialized_transactions`).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
from pathlib import Path
from typing import Any

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"


def _fast_dynamodb_replies() -> None:
    from moto.dynamodb.responses import DynamoHandler

    def serialized(self: Any, action_result: Any) -> Any:
        body = json.dumps(action_result.result, separators=(",", ":"))
        return 200, {"Content-Type": "application/x-amz-json-1.0", **self.response_headers}, body

    DynamoHandler.serialized = serialized  # type: ignore[method-assign]


def _serialized_transactions() -> None:
    """One transaction at a time, each snapshotting only the items it touches (tests/support.py).

    moto deep-copies every table a transaction touches, to roll back a cancelled one: seconds and
    gigabytes with a few thousand message records, and a copy that breaks ("dictionary changed
    size during iteration") when another request thread writes to the table meanwhile.
    """
    from moto.dynamodb import models

    from tests.support import item_level_transaction_rollback

    item_level_transaction_rollback().__enter__()  # for the server's lifetime
    item_level = models.DynamoDBBackend.transact_write_items
    lock = threading.Lock()

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        with lock:
            item_level(self, transact_items)

    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


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

    from chalicelib.local.resources import create_resources

    _fast_dynamodb_replies()
    _serialized_transactions()
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
