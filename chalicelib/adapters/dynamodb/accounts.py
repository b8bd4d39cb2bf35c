"""Accounts in DynamoDB, keyed by account_id."""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from chalicelib.adapters.dynamodb.common import (
    all_items,
    batch_get,
    batch_write,
    from_item,
    query_pages,
    to_item,
)
from chalicelib.domain.models import Account, Channel, Contact, Page
from chalicelib.domain.ports import AccountFilter

FILTER_KEYS = ("service_area", "network_provider", "segment")
INDEX_FOR = {key: f"by_{key}" for key in FILTER_KEYS}


def account_to_item(account: Account) -> dict[str, Any]:
    values = account.to_api()
    values["channels"] = [str(c) for c in account.channels]
    values["attributes"] = json.dumps(account.attributes) if account.attributes else None
    return to_item(values)


def account_from_item(item: dict[str, Any]) -> Account:
    values = from_item(item)
    return Account(
        account_id=values["account_id"],
        first_name=values.get("first_name", ""),
        last_name=values.get("last_name", ""),
        language=values.get("language", "en"),
        channels=[Channel(c) for c in values.get("channels", [])],
        status=values.get("status", "active"),
        email=values.get("email"),
        phone=values.get("phone"),
        timezone=values.get("timezone"),
        service_area=values.get("service_area"),
        network_provider=values.get("network_provider"),
        segment=values.get("segment"),
        attributes=json.loads(values["attributes"]) if values.get("attributes") else {},
        updated_at=values.get("updated_at"),
    )


# What planning reads of an account: fewer attributes to send and parse on every planned chunk.
CONTACT_ATTRIBUTES = ("account_id", "status", "channels", "email", "phone")


def contact_from_item(item: dict[str, Any]) -> Contact:
    values = from_item(item)
    return Contact(
        account_id=values["account_id"],
        channels=tuple(Channel(c) for c in values.get("channels", [])),
        status=values.get("status", "active"),
        email=values.get("email"),
        phone=values.get("phone"),
    )


def _keys(account_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The keys of these accounts, each once."""
    return [{"account_id": {"S": account_id}} for account_id in dict.fromkeys(account_ids)]


class DynamoAccountDirectory:
    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def put(self, account: Account) -> bool:
        response = self._client.put_item(
            TableName=self._table, Item=account_to_item(account), ReturnValues="ALL_OLD"
        )
        return not response.get("Attributes")

    def put_many(self, accounts: Sequence[Account]) -> None:
        batch_write(self._client, self._table, [account_to_item(a) for a in accounts])

    def get(self, account_id: str) -> Account | None:
        response = self._client.get_item(TableName=self._table, Key={"account_id": {"S": account_id}})
        item = response.get("Item")
        return account_from_item(item) if item else None

    def get_many(self, account_ids: Sequence[str]) -> dict[str, Account]:
        accounts = (
            account_from_item(item) for item in batch_get(self._client, self._table, _keys(account_ids))
        )
        return {account.account_id: account for account in accounts}

    def contacts(self, account_ids: Sequence[str]) -> dict[str, Contact]:
        items = batch_get(self._client, self._table, _keys(account_ids), CONTACT_ATTRIBUTES)
        return {contact.account_id: contact for contact in map(contact_from_item, items)}

    def list(self, account_filter: AccountFilter, cursor: str | None, limit: int) -> Page[Account]:
        query: dict[str, Any] = {"TableName": self._table}
        conditions, names, values = [], {}, {}
        for key in FILTER_KEYS:
            wanted = getattr(account_filter, key)
            if not wanted:
                continue
            names[f"#{key}"] = key
            placeholders = []
            for index, value in enumerate(wanted):
                values[f":{key}{index}"] = {"S": value}
                placeholders.append(f":{key}{index}")
            conditions.append(f"#{key} IN ({', '.join(placeholders)})")
        if conditions:
            query.update(
                FilterExpression=" AND ".join(conditions),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        items, next_cursor = query_pages(self._client, limit, cursor, **query)
        return Page([account_from_item(item) for item in items], next_cursor)

    def statuses(self, account_ids: Sequence[str]) -> dict[str, str]:
        items = batch_get(
            self._client,
            self._table,
            _keys(account_ids),
            ProjectionExpression="account_id, #status",
            ExpressionAttributeNames={"#status": "status"},
        )
        return {item["account_id"]["S"]: item.get("status", {}).get("S", "active") for item in items}

    def ids_matching(self, account_filter: AccountFilter) -> Iterator[str]:
        # Each (index, value) query yields ids in ascending order (the index's sort key), so OR
        # within a key is a merge and AND across keys is a merge-intersection: no scan, and
        # memory does not grow with the number of matches.
        per_key = [
            _unique(heapq.merge(*(self._index_ids(key, value) for value in dict.fromkeys(values))))
            for key in FILTER_KEYS
            if (values := getattr(account_filter, key))
        ]
        if not per_key:
            raise ValueError("ids_matching needs a non-empty filter")
        return _intersect(per_key)

    def _index_ids(self, key: str, value: str) -> Iterator[str]:
        items = all_items(
            self._client.query,
            TableName=self._table,
            IndexName=INDEX_FOR[key],
            KeyConditionExpression="#key = :value",
            ExpressionAttributeNames={"#key": key},
            ExpressionAttributeValues={":value": {"S": value}},
        )
        return (item["account_id"]["S"] for item in items)

    def iter_accounts(self, account_filter: AccountFilter) -> Iterator[Account]:
        if account_filter.is_empty():
            yield from (
                account_from_item(item) for item in all_items(self._client.scan, TableName=self._table)
            )
            return
        batch: list[str] = []
        for account_id in self.ids_matching(account_filter):
            batch.append(account_id)
            if len(batch) == 100:
                yield from self._in_order(batch)
                batch = []
        yield from self._in_order(batch)

    def _in_order(self, account_ids: Sequence[str]) -> Iterator[Account]:
        found = self.get_many(account_ids)
        return (found[account_id] for account_id in account_ids if account_id in found)


def _unique(ids: Iterable[str]) -> Iterator[str]:
    previous = None
    for account_id in ids:
        if account_id != previous:
            yield account_id
            previous = account_id


def _intersect(streams: Sequence[Iterator[str]]) -> Iterator[str]:
    """Ids present in every ascending stream."""
    heads: list[str] = []
    for stream in streams:
        head = next(stream, None)
        if head is None:
            return
        heads.append(head)
    while True:
        highest = max(heads)
        for index, stream in enumerate(streams):
            while heads[index] < highest:
                following = next(stream, None)
                if following is None:
                    return
                heads[index] = following
        if all(head == highest for head in heads):
            yield highest
            following_heads = [next(stream, None) for stream in streams]
            if any(head is None for head in following_heads):
                return
            heads = [head for head in following_heads if head is not None]
