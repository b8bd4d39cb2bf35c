"""Audience chunks in the audiences table (one partition per communication; the send ledger's
items live there too, see ledger.py)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chalicelib.adapters.dynamodb.common import batch_delete, batch_write

CHUNKS_PER_WRITE = 25


def chunk_key(comm_id: str, number: int) -> dict[str, Any]:
    return {"comm_id": {"S": comm_id}, "sk": {"S": f"chunk#{number:06d}"}}


class DynamoAudienceStore:
    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def replace(self, comm_id: str, chunks: Iterable[list[str]], previous_chunks: int) -> int:
        written = 0
        pending: list[dict[str, Any]] = []
        for account_ids in chunks:
            pending.append({**chunk_key(comm_id, written), "ids": {"S": "\n".join(account_ids)}})
            written += 1
            if len(pending) == CHUNKS_PER_WRITE:
                batch_write(self._client, self._table, pending)
                pending = []
        batch_write(self._client, self._table, pending)
        stale = [chunk_key(comm_id, number) for number in range(written, previous_chunks)]
        batch_delete(self._client, self._table, stale)
        return written

    def chunk(self, comm_id: str, number: int) -> list[str] | None:
        response = self._client.get_item(
            TableName=self._table, Key=chunk_key(comm_id, number), ConsistentRead=True
        )
        item = response.get("Item")
        if not item:
            return None
        ids = item["ids"]["S"]
        return ids.split("\n") if ids else []
