"""Make moto's DynamoDB safe for the embedded stack, where many workers call it at once.

moto's TransactWriteItems backs up every table it touches with a deep copy, runs its writes, and
on a cancelled transaction puts the copies back. Under concurrent requests that is wrong twice
over: the copy races with other threads' writes ("dictionary changed size during iteration",
served as a 500), and a rollback silently undoes writes other requests made meanwhile. It is also
slow and memory-hungry: each transaction copies whole tables (the messages table included).

So, in the local stack only: DynamoDB requests are served one at a time, and a transaction backs
up just the items it writes, restoring those items if it is cancelled. DynamoDB itself isolates
transactions; this gives the local stack the same guarantees.
"""

from __future__ import annotations

import base64
import copy
import json
import threading
from datetime import datetime
from typing import Any

_LOCK = threading.RLock()
_installed = False


class _CopyWithoutTables:
    """moto's `copy` module, except that tables are not copied (items are backed up instead)."""

    def __init__(self, table_type: type) -> None:
        self._table_type = table_type

    def deepcopy(self, value: Any, memo: dict[int, Any] | None = None) -> Any:
        if isinstance(value, self._table_type):
            return value
        return copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def wire_json(result: Any) -> str:
    """moto's DynamoDB result as DynamoDB's JSON: binary values base64, times as epoch seconds."""
    return json.dumps(result, separators=(",", ":"), default=_wire_value)


def _wire_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def install() -> None:
    """Patch moto's DynamoDB in this process (idempotent)."""
    global _installed
    if _installed:
        return
    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table
    from moto.dynamodb.responses import DynamoHandler

    serve = DynamoHandler.call_action

    def call_action_alone(self: Any) -> Any:
        with _LOCK:
            return serve(self)

    transact = models.DynamoDBBackend.transact_write_items

    def transact_with_item_backups(self: Any, transact_items: list[dict[str, Any]]) -> None:
        with _LOCK:
            backups = _back_up(self, transact_items)
            try:
                transact(self, transact_items)
            except Exception:
                _restore(self, backups)
                raise

    models.copy = _CopyWithoutTables(Table)  # type: ignore[assignment]
    DynamoHandler.call_action = call_action_alone  # type: ignore[method-assign]
    models.DynamoDBBackend.transact_write_items = transact_with_item_backups  # type: ignore[method-assign]
    _installed = True


def _key_of(backend: Any, operation: str, body: dict[str, Any]) -> dict[str, Any] | None:
    if operation != "Put":
        key: dict[str, Any] | None = body.get("Key")
        return key
    table = backend.tables.get(body.get("TableName"))
    if table is None:
        return None
    item = body["Item"]
    key = {table.hash_key_attr: item[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = item[table.range_key_attr]
    return key


Backup = tuple[str, dict[str, Any], dict[str, Any] | None]


def _back_up(backend: Any, transact_items: list[dict[str, Any]]) -> list[Backup]:
    backups: list[Backup] = []
    for entry in transact_items:
        for operation, body in entry.items():
            if operation == "ConditionCheck" or body.get("TableName") not in backend.tables:
                continue
            key = _key_of(backend, operation, body)
            if key is None:
                continue
            current = _get(backend, body["TableName"], key)
            attributes = current.to_json()["Attributes"] if current is not None else None
            backups.append((body["TableName"], key, copy.deepcopy(attributes)))
    return backups


def _get(backend: Any, table_name: str, key: dict[str, Any]) -> Any:
    try:
        return backend.get_item(table_name, key)
    except Exception:  # a malformed key: the transaction itself reports it
        return None


def _restore(backend: Any, backups: list[Backup]) -> None:
    for table_name, key, attributes in reversed(backups):
        if attributes is not None:
            backend.put_item(table_name, attributes)
        elif _get(backend, table_name, key) is not None:
            backend.delete_item(table_name, key)
