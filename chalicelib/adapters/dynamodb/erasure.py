"""Erasing personal data from message records and raw provider events.

Message ids derive from (communication, account, channel), so an account's records are found by
key, communication by communication (the communications table is small: one item each); the
messages table needs no per-account index, which would cost a write unit on every message sent.
Raw events are found through the delivery-events table's KEYS_ONLY ``by_message`` index.

Each record is changed with one conditional UpdateItem (never re-created if DynamoDB's TTL removed
it meanwhile); an account has one message per communication and channel, so the work is small.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import batched
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.adapters.dynamodb.common import BATCH_GET_MAX, all_items, batch_get, is_condition_failure
from chalicelib.domain.erasure import scrub
from chalicelib.domain.models import Channel, iso, message_id_for, utc_now

EVENTS_BY_MESSAGE = "by_message"
EVENT_PREFIX = "event#"


class DynamoPersonalRecords:
    def __init__(
        self, client: Any, messages_table: str, events_table: str, communications_table: str
    ) -> None:
        self._client = client
        self._messages = messages_table
        self._events = events_table
        self._communications = communications_table

    def message_keys(self, account_id: str) -> Iterator[tuple[str, str]]:
        candidates = (
            {"comm_id": {"S": comm_id}, "message_id": {"S": message_id_for(comm_id, account_id, channel)}}
            for comm_id in self._communication_ids()
            for channel in Channel
        )
        for keys in batched(candidates, BATCH_GET_MAX, strict=False):
            for item in batch_get(self._client, self._messages, keys, projection=("comm_id", "message_id")):
                yield item["comm_id"]["S"], item["message_id"]["S"]

    def _communication_ids(self) -> Iterator[str]:
        items = all_items(self._client.scan, TableName=self._communications, ProjectionExpression="comm_id")
        return (item["comm_id"]["S"] for item in items)

    def erase_messages(self, keys: Sequence[tuple[str, str]]) -> int:
        wanted = [{"comm_id": {"S": c}, "message_id": {"S": m}} for c, m in dict.fromkeys(keys)]
        records = batch_get(
            self._client, self._messages, wanted, projection=("comm_id", "message_id", "address", "error")
        )
        erased = 0
        now = {"S": iso(utc_now()) or ""}
        for record in records:
            address = record.get("address", {}).get("S")
            error = record.get("error", {}).get("S")
            sets, values = ["erased_at = :now"], {":now": now}
            scrubbed = scrub(error, [address] if address else [])
            if scrubbed != error:
                sets.append("#error = :error")
                values[":error"] = {"S": scrubbed or ""}
            if self._update(
                self._messages,
                {"comm_id": record["comm_id"], "message_id": record["message_id"]},
                f"SET {', '.join(sets)} REMOVE address, ctx",
                "message_id",
                values,
                {"#error": "error"} if ":error" in values else None,
            ):
                erased += 1
        return erased

    def erase_events(self, message_ids: Sequence[str]) -> int:
        erased = 0
        now = {"S": iso(utc_now()) or ""}
        for message_id in dict.fromkeys(message_ids):
            for item in all_items(
                self._client.query,
                TableName=self._events,
                IndexName=EVENTS_BY_MESSAGE,
                KeyConditionExpression="message_id = :message",
                ExpressionAttributeValues={":message": {"S": message_id}},
            ):
                # The index also holds provider-id entries (ids only, nothing personal).
                if not item["pk"]["S"].startswith(EVENT_PREFIX):
                    continue
                if self._update(
                    self._events,
                    {"pk": item["pk"]},
                    "SET erased_at = :now REMOVE #raw, #error",
                    "pk",
                    {":now": now},
                    {"#raw": "raw", "#error": "error"},
                ):
                    erased += 1
        return erased

    def _update(
        self,
        table: str,
        key: dict[str, Any],
        expression: str,
        key_attribute: str,
        values: dict[str, Any],
        names: dict[str, str] | None,
    ) -> bool:
        update: dict[str, Any] = {
            "TableName": table,
            "Key": key,
            "UpdateExpression": expression,
            "ConditionExpression": f"attribute_exists({key_attribute})",
            "ExpressionAttributeValues": values,
        }
        if names:
            update["ExpressionAttributeNames"] = names
        try:
            self._client.update_item(**update)
        except ClientError as error:
            if is_condition_failure(error):
                return False  # expired (TTL) since it was found
            raise
        return True
