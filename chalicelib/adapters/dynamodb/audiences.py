"""Audience chunks and send-task claims, in the audiences table (one partition per communication)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.adapters.dynamodb.common import batch_delete, batch_write, is_condition_failure
from chalicelib.adapters.dynamodb.communications import communication_from_item, counter_name
from chalicelib.domain.models import COUNT_FIELDS, Channel, Communication, iso, utc_now
from chalicelib.domain.ports import SendTask, TaskOutcome

CHUNKS_PER_WRITE = 25


def chunk_key(comm_id: str, number: int) -> dict[str, Any]:
    return {"comm_id": {"S": comm_id}, "sk": {"S": f"chunk#{number:06d}"}}


def task_key(comm_id: str, task_id: str) -> dict[str, Any]:
    return {"comm_id": {"S": comm_id}, "sk": {"S": f"task#{task_id}"}}


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


class DynamoSendLedger:
    """Chunk and task markers in the audiences table, counters on the communication, moved together."""

    def __init__(self, client: Any, audiences_table: str, communications_table: str) -> None:
        self._client = client
        self._audiences = audiences_table
        self._communications = communications_table

    def _add_counters(self, comm_id: str, counters: dict[str, int]) -> dict[str, Any]:
        names = {f"#c{i}": name for i, name in enumerate(counters)}
        values = {f":c{i}": {"N": str(n)} for i, n in enumerate(counters.values())}
        values[":now"] = {"S": iso(utc_now()) or ""}
        add = ", ".join(f"#c{i} :c{i}" for i in range(len(counters)))
        expression = "SET updated_at = :now" + (f" ADD {add}" if add else "")
        update: dict[str, Any] = {
            "TableName": self._communications,
            "Key": {"comm_id": {"S": comm_id}},
            "UpdateExpression": expression,
            "ExpressionAttributeValues": values,
        }
        if names:
            update["ExpressionAttributeNames"] = names
        return {"Update": update}

    def _transact(self, items: list[dict[str, Any]]) -> bool:
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    def mark_chunk_planned(self, comm_id: str, chunk_number: int, totals: dict[Channel, int]) -> bool:
        mark = {
            "Update": {
                "TableName": self._audiences,
                "Key": chunk_key(comm_id, chunk_number),
                "UpdateExpression": "SET planned = :true",
                "ConditionExpression": "attribute_exists(sk) AND attribute_not_exists(planned)",
                "ExpressionAttributeValues": {":true": {"BOOL": True}},
            }
        }
        counters = {counter_name(channel, "total"): n for channel, n in totals.items() if n}
        return self._transact([mark, self._add_counters(comm_id, counters)])

    def claim_task(self, task: SendTask) -> bool:
        try:
            self._client.put_item(
                TableName=self._audiences,
                Item={
                    **task_key(task.comm_id, task.task_id),
                    "state": {"S": "claimed"},
                    "claimed_at": {"S": iso(utc_now()) or ""},
                },
                ConditionExpression="attribute_not_exists(sk)",
            )
        except ClientError as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    def complete_task(self, task: SendTask, outcome: TaskOutcome) -> Communication:
        done = {
            "Update": {
                "TableName": self._audiences,
                "Key": task_key(task.comm_id, task.task_id),
                "UpdateExpression": "SET #state = :done, done_at = :now",
                "ConditionExpression": "#state = :claimed",
                "ExpressionAttributeNames": {"#state": "state"},
                "ExpressionAttributeValues": {
                    ":done": {"S": "done"},
                    ":claimed": {"S": "claimed"},
                    ":now": {"S": iso(utc_now()) or ""},
                },
            }
        }
        counters = {
            counter_name(channel, field): getattr(counts, field)
            for channel, counts in outcome.counts_by_channel.items()
            for field in COUNT_FIELDS
            if getattr(counts, field)
        }
        self._transact([done, self._add_counters(task.comm_id, counters)])
        response = self._client.get_item(
            TableName=self._communications, Key={"comm_id": {"S": task.comm_id}}, ConsistentRead=True
        )
        return communication_from_item(response["Item"])
