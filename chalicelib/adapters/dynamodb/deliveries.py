"""Delivery tracking in DynamoDB: message status changes, raw provider events, suppressions, replay tokens.

- Message records (messages table) change in transactions of up to 99, together with the
  communication's delivery counters (its counts item, adapters/dynamodb/communications.py);
  each update is conditional on the record being as it was read,
  so a concurrent report can never be undone or counted twice.
- Events that changed nothing live in the delivery-events table under ``event#<provider>#<event_id>``
  (which is also how their duplicates are found), with a TTL; Mailgun webhook tokens under
  ``token#mailgun#<token>``.
- Suppressions are keyed by (channel, address) in their own table.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.adapters.dynamodb.common import (
    batch_get,
    batch_write,
    from_item,
    is_condition_failure,
    is_transaction_conflict,
    query_pages,
    to_item,
)
from chalicelib.adapters.dynamodb.communications import add_counters, counter_name
from chalicelib.domain.delivery import (
    ConcurrentDelivery,
    DeliveryChange,
    DeliveryEvent,
    Suppression,
    TrackedMessage,
    event_reference,
    precise,
)
from chalicelib.domain.models import Channel, Counts, Message, MessageStatus, Page, iso, utc_now

RAW_EVENT_MAX_CHARS = 32_000
TRACKED_ATTRIBUTES = (
    "comm_id",
    "message_id",
    "channel",
    "status",
    "address",
    "event_at",
    "last_event_id",
    "error_code",
)


def _message_key(comm_id: str, message_id: str) -> dict[str, Any]:
    return {"comm_id": {"S": comm_id}, "message_id": {"S": message_id}}


class DynamoDeliveryStore:
    def __init__(
        self,
        client: Any,
        messages_table: str,
        communications_table: str,
        counts_table: str,
        events_table: str,
        retention_days: int,
    ) -> None:
        self._client = client
        self._messages = messages_table
        self._communications = communications_table
        self._counts = counts_table
        self._events = events_table
        self._retention = timedelta(days=retention_days)

    def tracked(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], TrackedMessage]:
        items = batch_get(
            self._client, self._messages, [_message_key(*k) for k in keys], projection=TRACKED_ATTRIBUTES
        )
        found = {}
        for item in items:
            values = from_item(item)
            message = TrackedMessage(
                comm_id=values["comm_id"],
                message_id=values["message_id"],
                channel=Channel(values["channel"]),
                status=MessageStatus(values["status"]),
                address=values.get("address"),
                event_at=values.get("event_at"),
                last_event_id=values.get("last_event_id"),
                error_code=values.get("error_code"),
            )
            found[(message.comm_id, message.message_id)] = message
        return found

    def existing_communications(self, comm_ids: Sequence[str]) -> set[str]:
        keys = [{"comm_id": {"S": c}} for c in comm_ids]
        return {
            item["comm_id"]["S"]
            for item in batch_get(self._client, self._communications, keys, projection=("comm_id",))
        }

    def apply(self, comm_id: str, changes: Sequence[DeliveryChange], counts: dict[Channel, Counts]) -> None:
        updates = [{"Update": self._status_update(change)} for change in changes]
        try:
            self._client.transact_write_items(TransactItems=[self._counter_update(comm_id, counts), *updates])
        except ClientError as error:
            if is_condition_failure(error) or is_transaction_conflict(error):
                raise ConcurrentDelivery(
                    f"messages of {comm_id} changed while their events applied"
                ) from error
            raise

    def _status_update(self, change: DeliveryChange) -> dict[str, Any]:
        event, target, read = change.event, change.status, change.message
        values: dict[str, Any] = {
            ":status": {"S": str(target)},
            ":t": {"S": precise(event.occurred_at)},
            ":outcome": {"S": str(event.outcome)},
            ":event_id": {"S": event_reference(event)},
            ":now": {"S": iso(utc_now()) or ""},
            ":read_status": {"S": str(read.status)},
        }
        sets = [
            "#status = :status",
            "event_at = :t",
            "last_event_id = :event_id",
            "outcome = :outcome",
            "updated_at = :now",
        ]
        if target is MessageStatus.DELIVERED:
            values[":delivered_at"] = {"S": iso(event.occurred_at) or ""}
            sets.append("delivered_at = :delivered_at")
            removes = ["#error"]
        else:
            values[":error"] = {"S": event.error or f"{event.provider}: {event.outcome}"}
            sets.append("#error = :error")
            removes = ["delivered_at"]
        # Exactly as read: the status and the event that set it.
        unchanged = "#status = :read_status AND "
        if read.event_at is None:
            unchanged += "attribute_not_exists(event_at)"
        else:
            values[":read_at"] = {"S": read.event_at}
            unchanged += "event_at = :read_at"
        return {
            "TableName": self._messages,
            "Key": _message_key(read.comm_id, read.message_id),
            "UpdateExpression": f"SET {', '.join(sets)} REMOVE {', '.join(removes)}",
            "ConditionExpression": unchanged,
            "ExpressionAttributeNames": {"#status": "status", "#error": "error"},
            "ExpressionAttributeValues": values,
        }

    def _counter_update(self, comm_id: str, counts: dict[Channel, Counts]) -> dict[str, Any]:
        moves = {
            counter_name(channel, field): getattr(delta, field)
            for channel, delta in counts.items()
            for field in ("delivered", "delivery_failed")
            if getattr(delta, field)
        }
        return add_counters(self._counts, comm_id, moves)


def event_key(provider: str, event_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"event#{provider}#{event_id}"}}


class DynamoEventLog:
    def __init__(self, client: Any, table: str, retention_days: int) -> None:
        self._client = client
        self._table = table
        self._retention = timedelta(days=retention_days)

    def seen(self, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        items = batch_get(self._client, self._table, [event_key(*k) for k in keys], projection=("pk",))
        found = set()
        for item in items:
            _, provider, event_id = item["pk"]["S"].split("#", 2)
            found.add((provider, event_id))
        return found

    def record(self, events: Sequence[tuple[DeliveryEvent, str]]) -> None:
        expires_at = int((utc_now() + self._retention).timestamp())
        batch_write(self._client, self._table, [event_item(e, verdict, expires_at) for e, verdict in events])


def event_item(event: DeliveryEvent, verdict: str, expires_at: int) -> dict[str, Any]:
    """The audit item of one provider event, keyed for deduplication."""
    raw = json.dumps(event.raw, ensure_ascii=False, default=str)
    values = {
        "provider": event.provider,
        "event_id": event.event_id,
        "outcome": str(event.outcome),
        "verdict": verdict,
        "occurred_at": precise(event.occurred_at),
        "recorded_at": iso(utc_now()),
        "comm_id": event.comm_id,
        "message_id": event.message_id,
        "provider_message_id": event.provider_message_id,
        "error": event.error,
        "raw": raw[:RAW_EVENT_MAX_CHARS],
        "expires_at": expires_at,
    }
    return {**to_item(values), **event_key(event.provider, event.event_id)}


def provider_id_key(provider: str, provider_message_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"pmid#{provider}#{provider_message_id}"}}


class DynamoProviderIdIndex:
    """``pmid#<provider>#<provider message id>`` → the message, in the delivery-events table, with a TTL."""

    def __init__(self, client: Any, table: str, retention_days: int) -> None:
        self._client = client
        self._table = table
        self._retention = timedelta(days=retention_days)

    def lookup(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, str]]:
        items = batch_get(
            self._client,
            self._table,
            [provider_id_key(*k) for k in keys],
            projection=("pk", "comm_id", "message_id"),
        )
        found = {}
        for item in items:
            _, provider, provider_message_id = item["pk"]["S"].split("#", 2)
            found[(provider, provider_message_id)] = (item["comm_id"]["S"], item["message_id"]["S"])
        return found

    def remember(self, messages: Sequence[Message]) -> None:
        expires_at = {"N": str(int((utc_now() + self._retention).timestamp()))}
        items = [
            {
                **provider_id_key(m.provider, m.provider_message_id),
                "comm_id": {"S": m.comm_id},
                "message_id": {"S": m.message_id},
                "expires_at": expires_at,
            }
            for m in messages
            if m.provider and m.provider_message_id
        ]
        batch_write(self._client, self._table, items)


class IndexedMessageStore:
    """The message store, also indexing the messages of some providers by the provider's id."""

    def __init__(self, inner: Any, index: DynamoProviderIdIndex, providers: Iterable[str]) -> None:
        self._inner = inner
        self._index = index
        self._providers = frozenset(providers)

    def put_many(self, messages: Sequence[Message]) -> None:
        self._inner.put_many(messages)
        self._index.remember([m for m in messages if m.provider in self._providers])

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class DynamoReplayGuard:
    """Remembers webhook tokens until they expire, so each is accepted once."""

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def first_use(self, namespace: str, token: str, keep_until: datetime) -> bool:
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    "pk": {"S": f"token#{namespace}#{token}"},
                    "expires_at": {"N": str(int(keep_until.timestamp()))},
                },
                # An expired item may linger until DynamoDB's TTL sweep: it no longer counts.
                ConditionExpression="attribute_not_exists(pk) OR expires_at < :now",
                ExpressionAttributeValues={":now": {"N": str(int(time.time()))}},
            )
        except ClientError as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    def forget(self, namespace: str, token: str) -> None:
        self._client.delete_item(TableName=self._table, Key={"pk": {"S": f"token#{namespace}#{token}"}})


def _suppression_key(channel: Channel, address: str) -> dict[str, Any]:
    return {"channel": {"S": str(channel)}, "address": {"S": address}}


def _suppression_from_item(item: dict[str, Any]) -> Suppression:
    values = from_item(item)
    created = values.get("created_at")
    return Suppression(
        channel=Channel(values["channel"]),
        address=values["address"],
        reason=values.get("reason", ""),
        source=values.get("source", ""),
        comm_id=values.get("comm_id"),
        message_id=values.get("message_id"),
        created_at=datetime.fromisoformat(created) if created else None,
    )


class DynamoSuppressionList:
    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def suppressed(self, addresses: Iterable[tuple[Channel, str]]) -> set[tuple[Channel, str]]:
        keys = [_suppression_key(c, a) for c, a in dict.fromkeys(addresses)]
        items = batch_get(self._client, self._table, keys, projection=("channel", "address"))
        return {(Channel(i["channel"]["S"]), i["address"]["S"]) for i in items}

    def add_many(self, suppressions: Sequence[Suppression]) -> None:
        unique = {(s.channel, s.address): s for s in suppressions if s.address}
        batch_write(self._client, self._table, [self._item(s) for s in unique.values()])

    def put(self, suppression: Suppression) -> None:
        self._client.put_item(TableName=self._table, Item=self._item(suppression))

    def add_if_absent(self, suppression: Suppression) -> bool:
        """Add unless the address is already suppressed, whatever the reason (the first reason stays)."""
        try:
            self._client.put_item(
                TableName=self._table,
                Item=self._item(suppression),
                ConditionExpression="attribute_not_exists(address)",
            )
        except ClientError as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    def delete_if_reason(self, channel: Channel, address: str, reason: str) -> bool:
        """Lift the suppression only when it has this reason (a STOP, never a hard bounce)."""
        try:
            self._client.delete_item(
                TableName=self._table,
                Key=_suppression_key(channel, address),
                ConditionExpression="reason = :reason",
                ExpressionAttributeValues={":reason": {"S": reason}},
            )
        except ClientError as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    def get(self, channel: Channel, address: str) -> Suppression | None:
        item = self._client.get_item(TableName=self._table, Key=_suppression_key(channel, address)).get(
            "Item"
        )
        return _suppression_from_item(item) if item else None

    def delete(self, channel: Channel, address: str) -> bool:
        response = self._client.delete_item(
            TableName=self._table, Key=_suppression_key(channel, address), ReturnValues="ALL_OLD"
        )
        return bool(response.get("Attributes"))

    def list(self, channel: Channel | None, cursor: str | None, limit: int) -> Page[Suppression]:
        query: dict[str, Any] = {"TableName": self._table}
        if channel is not None:
            query["KeyConditionExpression"] = "channel = :channel"
            query["ExpressionAttributeValues"] = {":channel": {"S": str(channel)}}
        items, next_cursor = query_pages(self._client, limit, cursor, **query)
        return Page([_suppression_from_item(i) for i in items], next_cursor)

    @staticmethod
    def _item(suppression: Suppression) -> dict[str, Any]:
        values = {
            "channel": str(suppression.channel),
            "address": suppression.address,
            "reason": suppression.reason,
            "source": suppression.source,
            "comm_id": suppression.comm_id,
            "message_id": suppression.message_id,
            "created_at": iso(suppression.created_at or utc_now()),
        }
        return to_item(values)
