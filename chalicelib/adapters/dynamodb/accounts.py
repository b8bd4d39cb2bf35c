"""Accounts in DynamoDB, keyed by account_id."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from chalicelib.adapters.dynamodb.common import batch_get, batch_write, from_item, query_pages, to_item
from chalicelib.domain.models import Account, Channel, Page
from chalicelib.domain.ports import AccountFilter

FILTER_KEYS = ("service_area", "network_provider", "segment")


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
        keys = [{"account_id": {"S": account_id}} for account_id in dict.fromkeys(account_ids)]
        accounts = (account_from_item(item) for item in batch_get(self._client, self._table, keys))
        return {account.account_id: account for account in accounts}

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
