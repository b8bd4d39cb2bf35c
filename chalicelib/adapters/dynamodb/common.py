"""Shared DynamoDB plumbing: item codec, cursors, batched reads and writes, error mapping."""

from __future__ import annotations

import base64
import binascii
import functools
import json
import random
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import Binary, TypeSerializer
from botocore.exceptions import ClientError

from chalicelib.domain.errors import BadRequest

Item = dict[str, Any]

BATCH_WRITE_MAX = 25
BATCH_GET_MAX = 100
BATCH_GET_CONCURRENCY = 4
UNPROCESSED_RETRIES = 8
# A transaction that lost to a concurrent one on the same item (a communication's counters are
# touched by many) or was throttled did nothing: try it again.
RETRYABLE_REASONS = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})
TRANSACT_ATTEMPTS = 6


def wire_json_client(client: Any) -> Any:
    """The DynamoDB client, made to pass items through as the wire JSON they are.

    The adapters read and write DynamoDB's wire form ({"S": ...}, {"N": "12"}); botocore would
    still walk its shape model for every attribute of every item, both ways, which was most of a
    planner's CPU. As document types, attribute values and the maps of them (items, keys,
    expression values) go out and come back as they are. Binary is the one type whose wire form
    differs (base64 text, where botocore gives bytes): the codec below speaks it.
    """
    resolver = client.meta.service_model._shape_resolver
    document = {"type": "structure", "members": {}, "document": True}
    # A copy for this client: the model's JSON is shared with every other client in the process.
    resolver._shape_map = {
        name: document if name == "AttributeValue" or _maps_to_attribute_values(shape) else shape
        for name, shape in resolver._shape_map.items()
    }
    return client


def _maps_to_attribute_values(shape: dict[str, Any]) -> bool:
    return shape["type"] == "map" and shape["value"]["shape"] == "AttributeValue"


class _WireSerializer(TypeSerializer):
    def _serialize_b(self, value: Any) -> str:
        return base64.b64encode(super()._serialize_b(value)).decode("ascii")


_serializer = _WireSerializer()


def to_item(values: dict[str, Any]) -> Item:
    """A plain dict to a DynamoDB item, leaving out None values."""
    return {
        key: _serializer.serialize(_plain_to_dynamo(value))
        for key, value in values.items()
        if value is not None
    }


def from_item(item: Item) -> dict[str, Any]:
    return {key: _plain(value) for key, value in item.items()}


def _plain(value: dict[str, Any]) -> Any:
    """One attribute value in wire form to plain Python (numbers as int or float, sets as lists)."""
    ((kind, raw),) = value.items()
    if kind in ("S", "BOOL"):
        return raw
    if kind == "N":
        return _number(raw)
    if kind == "M":
        return {key: _plain(inner) for key, inner in raw.items()}
    if kind == "L":
        return [_plain(inner) for inner in raw]
    if kind == "NULL":
        return None
    if kind == "SS":
        return list(raw)
    if kind == "NS":
        return [_number(number) for number in raw]
    if kind == "B":
        return Binary(base64.b64decode(raw))
    if kind == "BS":
        return [Binary(base64.b64decode(inner)) for inner in raw]
    raise ValueError(f"unknown DynamoDB attribute type {kind!r}")


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        number = Decimal(text)
        return int(number) if number == number.to_integral_value() else float(number)


def _plain_to_dynamo(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _plain_to_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_to_dynamo(v) for v in value]
    return value


def encode_cursor(last_key: Item | None) -> str | None:
    if not last_key:
        return None
    return base64.urlsafe_b64encode(json.dumps(last_key, separators=(",", ":")).encode()).decode()


def decode_cursor(cursor: str | None) -> Item | None:
    if not cursor:
        return None
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as error:
        raise BadRequest("the cursor is not valid; use next_cursor from a previous page") from error
    if not isinstance(decoded, dict) or not all(map(_is_key_value, decoded.values())):
        raise BadRequest("the cursor is not valid; use next_cursor from a previous page")
    return decoded


def _is_key_value(value: Any) -> bool:
    """A cursor holds a page's last key: key attributes are strings, numbers or binary, each
    in wire form. DynamoDB itself checks that they are the table's keys."""
    if not isinstance(value, dict) or len(value) != 1:
        return False
    ((kind, raw),) = value.items()
    return kind in ("S", "N", "B") and isinstance(raw, str)


def is_condition_failure(error: ClientError) -> bool:
    code = error.response.get("Error", {}).get("Code", "")
    if code == "ConditionalCheckFailedException":
        return True
    if code == "TransactionCanceledException":
        reasons = error.response.get("CancellationReasons") or []
        return any(r.get("Code") == "ConditionalCheckFailed" for r in reasons) or not reasons
    return False


def transact(client: Any, items: list[Item]) -> list[str] | None:
    """Run a transaction, again while it loses to concurrent ones or is throttled; None when it
    committed, else the cancellation reason of each item (a condition failed)."""
    for attempt in range(TRANSACT_ATTEMPTS):
        try:
            client.transact_write_items(TransactItems=items)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = [r.get("Code", "None") for r in error.response.get("CancellationReasons") or []]
            if "ConditionalCheckFailed" in reasons or not reasons:
                return reasons or ["ConditionalCheckFailed"]
            if not set(reasons) & RETRYABLE_REASONS or attempt == TRANSACT_ATTEMPTS - 1:
                raise
            time.sleep(random.uniform(0, 0.05 * 2**attempt))
            continue
        return None
    raise AssertionError("unreachable")


def batch_write(client: Any, table: str, items: Sequence[Item]) -> None:
    """Put items in BatchWriteItem calls of 25, retrying what DynamoDB leaves unprocessed."""
    for start in range(0, len(items), BATCH_WRITE_MAX):
        requests = [{"PutRequest": {"Item": item}} for item in items[start : start + BATCH_WRITE_MAX]]
        _write_until_done(client, {table: requests})


def batch_delete(client: Any, table: str, keys: Sequence[Item]) -> None:
    for start in range(0, len(keys), BATCH_WRITE_MAX):
        requests = [{"DeleteRequest": {"Key": key}} for key in keys[start : start + BATCH_WRITE_MAX]]
        _write_until_done(client, {table: requests})


def _write_until_done(client: Any, request_items: dict[str, Any]) -> None:
    for attempt in range(UNPROCESSED_RETRIES):
        response = client.batch_write_item(RequestItems=request_items)
        request_items = response.get("UnprocessedItems") or {}
        if not request_items:
            return
        time.sleep(0.05 * 2**attempt)
    raise RuntimeError("DynamoDB left writes unprocessed after retries")


def batch_get(
    client: Any, table: str, keys: Sequence[Item], projection: Sequence[str] = (), **read: Any
) -> Iterator[Item]:
    """Get items in BatchGetItem calls of 100, retrying unprocessed keys; missing items are left out.

    `projection` names the attributes to read (all of them when empty); `read` adds other
    per-table options.
    """
    for _, item in batch_get_items(client, {table: TableRead(keys, projection, read)}):
        yield item


@dataclass(frozen=True)
class TableRead:
    """Keys to get from one table, with the attributes to read (all when empty) and other options."""

    keys: Sequence[Item]
    projection: Sequence[str] = ()
    options: dict[str, Any] = field(default_factory=dict)

    def request(self, keys: list[Item]) -> dict[str, Any]:
        request: dict[str, Any] = {"Keys": keys, **self.options}
        if self.projection:
            request["ProjectionExpression"] = ", ".join(f"#p{i}" for i in range(len(self.projection)))
            request["ExpressionAttributeNames"] = {f"#p{i}": name for i, name in enumerate(self.projection)}
        return request


def batch_get_items(client: Any, reads: dict[str, TableRead]) -> Iterator[tuple[str, Item]]:
    """Get items of one or more tables in shared BatchGetItem calls of 100 keys, retrying
    unprocessed keys; yields (table, item) for each item found, call by call.

    Up to `BATCH_GET_CONCURRENCY` calls are in flight at once (boto3 clients are thread-safe): a
    thousand keys wait for DynamoDB about three times, not ten."""
    wanted = [(table, key) for table, read in reads.items() for key in read.keys]
    calls = []
    for start in range(0, len(wanted), BATCH_GET_MAX):
        by_table: dict[str, list[Item]] = {}
        for table, key in wanted[start : start + BATCH_GET_MAX]:
            by_table.setdefault(table, []).append(key)
        calls.append({table: reads[table].request(keys) for table, keys in by_table.items()})
    if len(calls) <= 1:
        results: Iterator[list[tuple[str, Item]]] = (_batch_get_call(client, call) for call in calls)
    else:
        results = _batch_get_pool().map(lambda call: _batch_get_call(client, call), calls)
    for found in results:
        yield from found


def _batch_get_call(client: Any, request_items: dict[str, Any]) -> list[tuple[str, Item]]:
    found: list[tuple[str, Item]] = []
    for attempt in range(UNPROCESSED_RETRIES):
        response = client.batch_get_item(RequestItems=request_items)
        for table, items in response.get("Responses", {}).items():
            found.extend((table, item) for item in items)
        request_items = response.get("UnprocessedKeys") or {}
        if not request_items:
            return found
        time.sleep(0.05 * 2**attempt)
    raise RuntimeError("DynamoDB left reads unprocessed after retries")


@functools.cache
def _batch_get_pool() -> ThreadPoolExecutor:
    """One pool per process, kept across invocations like the clients."""
    return ThreadPoolExecutor(max_workers=BATCH_GET_CONCURRENCY, thread_name_prefix="batch-get")


def all_items(operation: Any, **request: Any) -> Iterator[Item]:
    """Every item a Query or Scan (`operation`, e.g. `client.query`) returns, page after page."""
    while True:
        response = operation(**request)
        yield from response.get("Items", [])
        if not response.get("LastEvaluatedKey"):
            return
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def query_pages(client: Any, limit: int, cursor: str | None, **query: Any) -> tuple[list[Item], str | None]:
    """Up to `limit` items of a filtered Query (or Scan, without a key condition) and the next cursor."""
    operation = client.query if "KeyConditionExpression" in query else client.scan
    start_key = decode_cursor(cursor)
    items: list[Item] = []
    while True:
        if start_key:
            query["ExclusiveStartKey"] = start_key
        try:
            response = operation(Limit=limit - len(items), **query)
        except ClientError as error:
            if start_key and error.response.get("Error", {}).get("Code") == "ValidationException":
                raise BadRequest("the cursor is not valid; use next_cursor from a previous page") from error
            raise
        items.extend(response.get("Items", []))
        start_key = response.get("LastEvaluatedKey")
        if not start_key or len(items) >= limit:
            return items, encode_cursor(start_key)
