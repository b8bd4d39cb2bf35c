"""Per-message records in DynamoDB, keyed by (comm_id, message_id)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

from chalicelib.adapters.dynamodb.common import batch_get, batch_write, from_item, query_pages, to_item
from chalicelib.domain.models import Channel, Message, MessageStatus, Page, SkipReason, iso


def message_to_item(message: Message) -> dict[str, Any]:
    values = message.to_api()
    values.pop("id")
    values["comm_id"] = message.comm_id
    values["message_id"] = message.message_id
    values["ctx"] = json.dumps(message.render_context, ensure_ascii=False) if message.render_context else None
    values["updated_at"] = iso(message.updated_at)
    values["deferral"] = message.deferral
    return to_item(values)


def message_from_item(item: dict[str, Any]) -> Message:
    values = from_item(item)

    def moment(key: str) -> datetime | None:
        return datetime.fromisoformat(values[key]) if values.get(key) else None

    return Message(
        comm_id=values["comm_id"],
        account_id=values["account_id"],
        channel=Channel(values["channel"]),
        status=MessageStatus(values["status"]),
        language=values.get("language"),
        address=values.get("address"),
        error=values.get("error"),
        error_code=values.get("error_code"),
        skip_reason=SkipReason(values["skip_reason"]) if values.get("skip_reason") else None,
        provider=values.get("provider"),
        provider_message_id=values.get("provider_message_id"),
        sent_at=moment("sent_at"),
        delivered_at=moment("delivered_at"),
        updated_at=moment("updated_at") or datetime.now(),
        render_context=json.loads(values["ctx"]) if values.get("ctx") else None,
        delivery_outcome=values.get("outcome"),
        deferred_until=moment("deferred_until"),
        deferral=values.get("deferral"),
    )


# The table's TTL attribute: DynamoDB deletes a record (within days) once this epoch second passes.
TTL_ATTRIBUTE = "expires_at"


class DynamoMessageStore:
    def __init__(self, client: Any, table: str, retention_seconds: Callable[[], int]) -> None:
        """`retention_seconds()` is the operator's current retention, read once per write batch."""
        self._client = client
        self._table = table
        self._retention_seconds = retention_seconds

    def put_many(self, messages: Sequence[Message]) -> None:
        expires_at = {"N": str(int(time.time()) + self._retention_seconds())}
        items = [{**message_to_item(m), TTL_ATTRIBUTE: expires_at} for m in messages]
        batch_write(self._client, self._table, items)

    def get(self, comm_id: str, message_id: str) -> Message | None:
        response = self._client.get_item(
            TableName=self._table, Key={"comm_id": {"S": comm_id}, "message_id": {"S": message_id}}
        )
        item = response.get("Item")
        return message_from_item(item) if item else None

    def get_many(self, comm_id: str, message_ids: Sequence[str]) -> dict[str, Message]:
        """The messages among `message_ids` that exist, by id (BatchGetItem, strongly consistent)."""
        keys = [{"comm_id": {"S": comm_id}, "message_id": {"S": m}} for m in dict.fromkeys(message_ids)]
        items = batch_get(self._client, self._table, keys, ConsistentRead=True)
        return {record.message_id: record for record in map(message_from_item, items)}

    def all_of(self, comm_id: str) -> Iterator[Message]:
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "comm_id = :comm",
            "ExpressionAttributeValues": {":comm": {"S": comm_id}},
        }
        while True:
            response = self._client.query(**query)
            yield from (message_from_item(item) for item in response.get("Items", []))
            if not response.get("LastEvaluatedKey"):
                return
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def list(
        self,
        comm_id: str,
        channel: Channel | None,
        statuses: frozenset[MessageStatus] | None,
        account_id: str | None,
        cursor: str | None,
        limit: int,
    ) -> Page[Message]:
        names: dict[str, str] = {}
        values: dict[str, Any] = {":comm": {"S": comm_id}}
        filters = []
        if channel is not None:
            names["#channel"] = "channel"
            values[":channel"] = {"S": str(channel)}
            filters.append("#channel = :channel")
        if statuses:
            names["#status"] = "status"
            placeholders = []
            for index, status in enumerate(sorted(statuses)):
                values[f":s{index}"] = {"S": str(status)}
                placeholders.append(f":s{index}")
            filters.append(f"#status IN ({', '.join(placeholders)})")
        if account_id is not None:
            values[":account"] = {"S": account_id}
            filters.append("account_id = :account")
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "comm_id = :comm",
            "ExpressionAttributeValues": values,
        }
        if filters:
            query["FilterExpression"] = " AND ".join(filters)
        if names:
            query["ExpressionAttributeNames"] = names
        items, next_cursor = query_pages(self._client, limit, cursor, **query)
        return Page([message_from_item(item) for item in items], next_cursor)
