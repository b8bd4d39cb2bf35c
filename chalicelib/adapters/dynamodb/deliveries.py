"""Delivery tracking in DynamoDB: message status changes, raw provider events, suppressions, replay tokens.

- Message records (messages table) change in PartiQL batches of conditional UPDATEs: each is
  conditional on the record being as it was read, so a concurrent report can never be undone or
  counted twice. A write costs one unit per message, where a transaction would cost two.
- What makes the counts exact without a transaction is a tally, written in three steps:
  1. `tally#<token>` in the communication's partition of the audiences table lists the changes
     about to be written, and is due to the sweep a while later;
  2. each changed message carries the token (`tally`) and the status it changed from (`tally_from`);
  3. one transaction adds the counter moves of the messages written (the counts item,
     adapters/dynamodb/communications.py) and deletes the tally.
  A worker that dies before step 3 leaves its tally to the sweep, which counts exactly the listed
  messages that carry the token. Until then those messages take no other change (delivery tracking
  hands their events back to wait), so a message carrying the token was written by that tally.
- Events that changed nothing live in the delivery-events table under ``event#<provider>#<event_id>``
  (which is also how their duplicates are found), with a TTL; Mailgun webhook tokens under
  ``token#mailgun#<token>``.
- Suppressions are keyed by (channel, address) in their own table.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.adapters.dynamodb.common import (
    batch_get,
    batch_write,
    from_item,
    is_condition_failure,
    query_pages,
    to_item,
    transact,
)
from chalicelib.adapters.dynamodb.communications import add_counters, counter_values
from chalicelib.adapters.dynamodb.ledger import DUE_PARTITION
from chalicelib.domain.delivery import (
    ConcurrentDelivery,
    DeliveryChange,
    DeliveryEvent,
    Suppression,
    TrackedMessage,
    change_counts,
    event_reference,
    precise,
    status_moves,
)
from chalicelib.domain.models import Channel, Counts, Message, MessageStatus, Page, iso, new_id, utc_now
from chalicelib.domain.ports import Clock

logger = logging.getLogger(__name__)

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
    "tally",
)
TALLY_PREFIX = "tally#"
# DynamoDB runs at most 25 statements in one BatchExecuteStatement.
STATEMENTS_PER_BATCH = 25
# Statements DynamoDB turned away for load are tried again this many times.
STATEMENT_ATTEMPTS = 5
RETRYABLE_STATEMENT_CODES = frozenset(
    {"ProvisionedThroughputExceeded", "ThrottlingError", "RequestLimitExceeded", "InternalServerError"}
)


def tally_key(comm_id: str, token: str) -> dict[str, Any]:
    return {"comm_id": {"S": comm_id}, "sk": {"S": f"{TALLY_PREFIX}{token}"}}


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
        *,
        clock: Clock,
        tally_settle_s: float = 300.0,
    ) -> None:
        self._client = client
        self._messages = messages_table
        self._communications = communications_table
        self._counts = counts_table
        self._events = events_table
        self._retention = timedelta(days=retention_days)
        self._clock = clock
        # Well past the events worker's Lambda timeout: a tally this old has no worker left.
        self._tally_settle_s = tally_settle_s

    def tracked(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], TrackedMessage]:
        found = batch_get(self._client, self._messages, [_message_key(*k) for k in keys], TRACKED_ATTRIBUTES)
        records = [from_item(item) for item in found]
        open_tallies = self._open_tallies({(v["comm_id"], v["tally"]) for v in records if v.get("tally")})
        messages = {}
        for values in records:
            message = TrackedMessage(
                comm_id=values["comm_id"],
                message_id=values["message_id"],
                channel=Channel(values["channel"]),
                status=MessageStatus(values["status"]),
                address=values.get("address"),
                event_at=values.get("event_at"),
                last_event_id=values.get("last_event_id"),
                error_code=values.get("error_code"),
                tally=values.get("tally"),
                pending=(values["comm_id"], values.get("tally")) in open_tallies,
            )
            messages[(message.comm_id, message.message_id)] = message
        return messages

    def logged(self, event_keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        found = batch_get(self._client, self._events, [event_key(*k) for k in event_keys], ("pk",))
        seen = set()
        for item in found:
            _, provider, event_id = item["pk"]["S"].split("#", 2)
            seen.add((provider, event_id))
        return seen

    def _open_tallies(self, tallies: set[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which (comm_id, token) tallies are still being counted (read consistently: a tally is
        written before the messages that carry its token). One whose worker is surely gone by now
        is settled here and then, rather than waiting for the sweep."""
        if not tallies:
            return set()
        keys = [tally_key(comm_id, token) for comm_id, token in sorted(tallies)]
        items = batch_get(
            self._client, self._counts, keys, projection=("comm_id", "sk", "due_at"), ConsistentRead=True
        )
        open_tallies = set()
        for item in items:
            comm_id, token = item["comm_id"]["S"], item["sk"]["S"].removeprefix(TALLY_PREFIX)
            if float(item["due_at"]["N"]) <= self._clock.now():
                self.settle_tally(comm_id, token)
            else:
                open_tallies.add((comm_id, token))
        return open_tallies

    def existing_communications(self, comm_ids: Sequence[str]) -> set[str]:
        keys = [{"comm_id": {"S": c}} for c in comm_ids]
        return {
            item["comm_id"]["S"]
            for item in batch_get(self._client, self._communications, keys, projection=("comm_id",))
        }

    def apply(self, changes: Sequence[DeliveryChange]) -> None:
        # The tally lives in the partition of its first message's communication.
        home, token = changes[0].message.comm_id, new_id()
        self._client.put_item(TableName=self._counts, Item=self._tally_item(home, token, changes))
        written = self._write(changes, token)
        by_comm: dict[str, list[DeliveryChange]] = defaultdict(list)
        for change in written:
            by_comm[change.message.comm_id].append(change)
        self._close_tally(home, token, {comm_id: change_counts(group) for comm_id, group in by_comm.items()})
        if len(written) < len(changes):
            raise ConcurrentDelivery("messages changed while their events applied")

    def settle_tally(self, comm_id: str, tally: str) -> bool:
        item = self._client.get_item(
            TableName=self._counts, Key=tally_key(comm_id, tally), ConsistentRead=True
        ).get("Item")
        if item is None:
            return False
        listed = [
            (comm_id_, message_id)
            for comm_id_, ids in item["changes"]["M"].items()
            for message_id in ids["S"].split()
        ]
        moves: dict[str, list[tuple[Channel, MessageStatus, MessageStatus]]] = defaultdict(list)
        for values in map(
            from_item,
            batch_get(
                self._client,
                self._messages,
                [_message_key(*key) for key in listed],
                projection=("comm_id", "message_id", "channel", "status", "tally", "tally_from"),
                ConsistentRead=True,
            ),
        ):
            if values.get("tally") == tally:
                moves[values["comm_id"]].append(
                    (
                        Channel(values["channel"]),
                        MessageStatus(values["tally_from"]),
                        MessageStatus(values["status"]),
                    )
                )
        return self._close_tally(comm_id, tally, {comm: status_moves(group) for comm, group in moves.items()})

    def _tally_item(self, home: str, token: str, changes: Sequence[DeliveryChange]) -> dict[str, Any]:
        """The tally: its messages' ids by communication (each message keeps its own change)."""
        ids: dict[str, list[str]] = defaultdict(list)
        for change in changes:
            ids[change.message.comm_id].append(change.message.message_id)
        return {
            **tally_key(home, token),
            "changes": {"M": {comm_id: {"S": " ".join(listed)} for comm_id, listed in ids.items()}},
            "due_pk": {"S": DUE_PARTITION},
            "due_at": {"N": f"{self._clock.now() + self._tally_settle_s:.3f}"},
        }

    def _write(self, changes: Sequence[DeliveryChange], token: str) -> list[DeliveryChange]:
        """Write each change that still applies; the ones written, in order."""
        written = []
        for start in range(0, len(changes), STATEMENTS_PER_BATCH):
            batch = list(changes[start : start + STATEMENTS_PER_BATCH])
            for attempt in range(STATEMENT_ATTEMPTS):
                response = self._client.batch_execute_statement(
                    Statements=[self._status_statement(c, token) for c in batch]
                )
                turned_away = []
                for change, outcome in zip(batch, response["Responses"], strict=True):
                    code = outcome.get("Error", {}).get("Code")
                    if code is None:
                        written.append(change)
                    elif code in RETRYABLE_STATEMENT_CODES:
                        turned_away.append(change)
                    elif code not in ("ConditionalCheckFailed", "TransactionConflict"):
                        raise RuntimeError(f"status write refused: {outcome['Error']}")
                batch = turned_away
                if not batch:
                    break
                time.sleep(0.05 * 2**attempt)
            else:
                raise RuntimeError("DynamoDB turned status writes away after retries")
        return written

    def _status_statement(self, change: DeliveryChange, token: str) -> dict[str, Any]:
        event, target, read = change.event, change.status, change.message
        sets: list[tuple[str, str]] = [
            ("status", str(target)),
            ("event_at", precise(event.occurred_at)),
            ("last_event_id", event_reference(event)),
            ("outcome", str(event.outcome)),
            ("updated_at", iso(utc_now()) or ""),
            ("tally", token),
            ("tally_from", str(read.status)),
        ]
        if target is MessageStatus.DELIVERED:
            sets.append(("delivered_at", iso(event.occurred_at) or ""))
            removed = "error"
        else:
            sets.append(("error", event.error or f"{event.provider}: {event.outcome}"))
            removed = "delivered_at"
        # Exactly as read: the status, the event that set it, and the write that set it.
        where: list[tuple[str, str | None]] = [
            ("comm_id", read.comm_id),
            ("message_id", read.message_id),
            ("status", str(read.status)),
            ("event_at", read.event_at),
            ("tally", read.tally),
        ]
        actions = " ".join(f'SET "{name}"=?' for name, _ in sets) + f' REMOVE "{removed}"'
        condition = " AND ".join(
            f'"{name}"=?' if value is not None else f'"{name}" IS MISSING' for name, value in where
        )
        parameters = [{"S": value} for _, value in sets] + [
            {"S": value} for _, value in where if value is not None
        ]
        return {
            "Statement": f'UPDATE "{self._messages}" {actions} WHERE {condition}',
            "Parameters": parameters,
        }

    def _close_tally(self, home: str, token: str, counts: dict[str, dict[Channel, Counts]]) -> bool:
        """Add each communication's counter moves and delete the tally, together; False when the
        tally was already closed."""
        delete = {
            "Delete": {
                "TableName": self._counts,
                "Key": tally_key(home, token),
                "ConditionExpression": "attribute_exists(sk)",
            }
        }
        moves = [
            add_counters(self._counts, comm_id, values)
            for comm_id, by_channel in sorted(counts.items())
            if (values := counter_values(by_channel))
        ]
        if transact(self._client, [delete, *moves]) is not None:
            logger.warning("tally already settled", extra={"comm_id": home, "tally": token})
            return False
        return True


def event_key(provider: str, event_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"event#{provider}#{event_id}"}}


class DynamoEventLog:
    def __init__(self, client: Any, table: str, retention_days: int) -> None:
        self._client = client
        self._table = table
        self._retention = timedelta(days=retention_days)

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
