"""Make moto's DynamoDB safe for the embedded stack, where many workers call it at once.

moto's TransactWriteItems backs up every table it touches with a deep copy, runs its writes, and
on a cancelled transaction puts the copies back. Under concurrent requests that is wrong twice
over: the copy races with other threads' writes ("dictionary changed size during iteration",
served as a 500), and a rollback silently undoes writes other requests made meanwhile. It is also
slow and memory-hungry: each transaction copies whole tables (the messages table included).

So, in the local stack only: DynamoDB requests are served one at a time, and a transaction backs
up just the items it writes, restoring those items if it is cancelled. DynamoDB itself isolates
transactions; this gives the local stack the same guarantees.

moto projects an item (a read's ProjectionExpression) by turning the whole item into plain
Python once per projected attribute and back again: reading five attributes of a hundred
accounts cost more than reading them whole. Projections of top-level attributes here take
those attributes as they are.

moto answers a Query on a table's own key by listing and sorting every item of the table, then
keeping the partition asked for: listing a communication's messages, or reading its planning
marks, took longer the more the whole table held. Here such a Query starts from that partition.

moto's PartiQL copies every item of every table for each statement, and its UPDATE applies a
WHERE clause that matches nothing as a silent no-op. BatchExecuteStatement's conditional UPDATEs,
in the form Herald writes them (see `parse_update`), are therefore applied to their item directly,
each failing alone with ConditionalCheckFailed, as DynamoDB does.

moto checks an item's 400 KB limit again at each attribute it sets, summing the sizes of all the
attributes set so far: building an item of fifteen attributes sized 120 of them. Here a new item is
sized once, whole, against the same limit.

moto answers a BatchGetItem key by key through its general item machinery: each item found is
projected into a new item, sized twice, and the whole result converted to plain data a second
time, about 0.15 ms a key. A BatchGetItem in the form Herald sends (keys of existing tables, no duplicates,
a projection of `#name` placeholders if any) is answered here from the stored items directly;
any other form, invalid ones included, is left to moto. The answer is the one moto gives, except
that the 16 MB response cap is not applied: a hundred of Herald's items are far below it.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# Held while a request is served; code reading moto's tables from outside a request holds it too.
SERVING = threading.RLock()
ITEM_SIZE_LIMIT = 405_000  # moto's (DynamoDB's 400 KB, measured to lie between 409 and 410 KB)
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
        with SERVING:
            return serve(self)

    transact = models.DynamoDBBackend.transact_write_items

    def transact_with_item_backups(self: Any, transact_items: list[dict[str, Any]]) -> None:
        with SERVING:
            backups = _back_up(self, transact_items)
            try:
                transact(self, transact_items)
            except Exception:
                _restore(self, backups)
                raise

    batch_statements = models.DynamoDBBackend.batch_execute_statement

    def batch_execute_updates(self: Any, statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
        with SERVING:
            return _batch_execute(self, statements, batch_statements)

    install_quick_projection()
    _size_new_items_once()
    _query_partitions_directly(Table)
    _batch_get_directly(DynamoHandler)
    models.copy = _CopyWithoutTables(Table)  # type: ignore[assignment]
    models.DynamoDBBackend.batch_execute_statement = batch_execute_updates  # type: ignore[method-assign]
    DynamoHandler.call_action = call_action_alone  # type: ignore[method-assign]
    models.DynamoDBBackend.transact_write_items = transact_with_item_backups  # type: ignore[method-assign]
    _installed = True


def _query_partitions_directly(table_type: Any) -> None:
    """A Query without an index lists only its partition's items (moto then sorts them by the
    range key, as it did): requests are served one at a time here, so the table's `all_items`
    can stand for the partition while moto's own query runs."""
    query = table_type.query

    def query_partition(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
        if index_name is not None or hash_key is None:
            return query(self, hash_key, *args, **kwargs)
        found = self.items.get(hash_key)
        if found is None:
            partition = []
        elif self.range_key_attr:
            partition = list(found.values())
        else:
            partition = [found]
        self.all_items = lambda: partition
        try:
            return query(self, hash_key, *args, **kwargs)
        finally:
            del self.all_items

    table_type.query = query_partition


def _size_new_items_once() -> None:
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize

    def build_item(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
        self.hash_key, self.range_key = hash_key, range_key
        values = LimitedSizeDict()
        for name, value in attrs.items():
            dict.__setitem__(values, name, DynamoType(value))
        # The sum moto's LimitedSizeDict would have reached at its last attribute.
        if sum(bytesize(name) + value.size() for name, value in values.items()) > ITEM_SIZE_LIMIT:
            raise ItemSizeTooLarge
        self.attrs = values

    Item.__init__ = build_item  # type: ignore[method-assign]


def _batch_get_directly(handler_type: Any) -> None:
    from moto.core.responses import ActionResult
    from moto.dynamodb.responses import DynamoResult

    class PlainResult(DynamoResult):
        """A DynamoDB result already in plain form (DynamoResult converts its data again)."""

        def __init__(self, result: dict[str, Any]) -> None:
            ActionResult.__init__(self, result)

    batch_get = handler_type.batch_get_item

    def batch_get_item(self: Any) -> Any:
        result = quick_batch_get(self.dynamodb_backend, self.body.get("RequestItems") or {})
        return batch_get(self) if result is None else PlainResult(result)

    handler_type.batch_get_item = batch_get_item


BATCH_GET_MAX = 100
_PLACEHOLDER = re.compile(r"#[A-Za-z0-9_]+")


class _Unusual(Exception):
    """A request not in the form Herald sends: moto answers it (its errors included)."""


def quick_batch_get(backend: Any, request_items: dict[str, Any]) -> dict[str, Any] | None:
    """BatchGetItem's result, read straight from the stored items; None for a request in another
    form than Herald's."""
    try:
        if sum(len(request.get("Keys") or ()) for request in request_items.values()) > BATCH_GET_MAX:
            raise _Unusual
        responses = {name: _read_table(backend, name, request) for name, request in request_items.items()}
    except _Unusual:
        return None
    capacity = [{"CapacityUnits": len(r.get("Keys") or ()), "TableName": n} for n, r in request_items.items()]
    return {"ConsumedCapacity": capacity, "Responses": responses, "UnprocessedKeys": {}}


def _read_table(backend: Any, table_name: str, request: dict[str, Any]) -> list[dict[str, Any]]:
    table = backend.tables.get(table_name)
    keys = request.get("Keys") or []
    if (
        table is None
        or "AttributesToGet" in request
        or len({json.dumps(k, sort_keys=True) for k in keys}) < len(keys)
    ):
        raise _Unusual
    from moto.dynamodb.models.utilities import dynamo_to_dict

    names = _projected_names(request)
    found = []
    for key in keys:
        stored = _stored_item(backend, table, key)
        if stored is not None:
            attrs = (
                stored.attrs if names is None else {n: stored.attrs[n] for n in names if n in stored.attrs}
            )
            found.append(dynamo_to_dict(attrs))
    return found


def _projected_names(request: dict[str, Any]) -> list[str] | None:
    """The attributes a request projects, None for all of them; only projections of the form
    `#a, #b`, with exactly those names defined, are taken."""
    expression = request.get("ProjectionExpression")
    defined = request.get("ExpressionAttributeNames") or {}
    if expression is None and not defined:
        return None
    placeholders = [token.strip() for token in (expression or "").split(",")]
    if not all(_PLACEHOLDER.fullmatch(token) for token in placeholders) or set(placeholders) != set(defined):
        raise _Unusual
    return [defined[token] for token in placeholders]


def _stored_item(backend: Any, table: Any, key: dict[str, Any]) -> Any:
    """The stored item with this key, None if there is none."""
    from moto.dynamodb.exceptions import MockValidationException

    try:
        hash_key, range_key = backend.get_keys_value(table, key)
    except MockValidationException:
        raise _Unusual from None
    return table.get_item(hash_key, range_key)


_projection_installed = False


def install_quick_projection() -> None:
    """Patch moto's item projection in this process (idempotent); nested paths keep moto's own."""
    global _projection_installed
    if _projection_installed:
        return
    from moto.dynamodb.models.dynamo_type import Item

    project = Item.project

    def project_top_level(self: Any, projection_expressions: list[list[str]]) -> Any:
        names = [path[0] for path in projection_expressions if len(path) == 1]
        if len(names) < len(projection_expressions) or any("[" in name for name in names):
            return project(self, projection_expressions)
        attrs = {name: self.attrs[name] for name in names if name in self.attrs}
        return Item(hash_key=self.hash_key, range_key=self.range_key, attrs=attrs)  # Item copies each value

    Item.project = project_top_level  # type: ignore[method-assign]
    _projection_installed = True


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


BATCH_STATEMENTS_MAX = 25
_UPDATE = re.compile(r'UPDATE\s+"(?P<table>[^"]+)"\s+(?P<actions>.+?)\s+WHERE\s+(?P<where>.+)$', re.S)
_ACTION = re.compile(r'\s*(?:SET\s+"(?P<set>[^"]+)"\s*=\s*\?|REMOVE\s+"(?P<remove>[^"]+)")\s*')
_TERM = re.compile(r'\s*"(?P<name>[^"]+)"\s*(?:(?P<eq>=\s*\?)|IS\s+(?P<missing>MISSING))\s*$')


@dataclass(frozen=True)
class Update:
    """A PartiQL UPDATE of one item: its SET and REMOVE actions, and its WHERE terms."""

    table: str
    sets: dict[str, Any]
    removes: list[str]
    equals: dict[str, Any]
    missing: list[str]


def parse_update(statement: str, parameters: list[Any]) -> Update | None:
    """`UPDATE "t" SET "a"=? … REMOVE "b" … WHERE "k"=? AND "c"=? AND "d" IS MISSING`, parameters in
    the order of their `?`; None for any other statement."""
    match = _UPDATE.match(statement.strip())
    if match is None:
        return None
    values = iter(parameters)
    sets: dict[str, Any] = {}
    removes: list[str] = []
    actions = match["actions"]
    position = 0
    while position < len(actions):
        action = _ACTION.match(actions, position)
        if action is None or action.end() == position:
            return None
        if action["set"]:
            sets[action["set"]] = next(values)
        else:
            removes.append(action["remove"])
        position = action.end()
    equals: dict[str, Any] = {}
    missing: list[str] = []
    for term_text in re.split(r"\s+AND\s+", match["where"].strip()):
        term = _TERM.match(term_text)
        if term is None:
            return None
        if term["eq"]:
            equals[term["name"]] = next(values)
        else:
            missing.append(term["name"])
    return Update(match["table"], sets, removes, equals, missing)


def _batch_execute(backend: Any, statements: list[dict[str, Any]], moto_batch: Any) -> list[dict[str, Any]]:
    from moto.dynamodb.exceptions import ConditionalCheckFailed, MockValidationException

    if len(statements) > BATCH_STATEMENTS_MAX:
        raise MockValidationException(f"Member must have length less than or equal to {BATCH_STATEMENTS_MAX}")
    responses = []
    for statement in statements:
        update = parse_update(statement["Statement"], statement.get("Parameters", []))
        if update is None:
            responses.extend(moto_batch(backend, [statement]))
        elif update.table not in backend.tables:
            responses.append(
                {"Error": {"Code": "ResourceNotFound", "Message": "Requested resource not found"}}
            )
        else:
            try:
                _update_item(backend, update)
            except ConditionalCheckFailed:
                responses.append(
                    {"Error": {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"}}
                )
            else:
                responses.append({"TableName": update.table})
    return responses


def _update_item(backend: Any, update: Update) -> None:
    """Apply the UPDATE to the item in place: its WHERE terms are plain equality and absence, so
    moto's expression parser (the bulk of an UpdateItem's time there) has nothing to add."""
    from moto.dynamodb.exceptions import ConditionalCheckFailed
    from moto.dynamodb.models.dynamo_type import DynamoType

    table = backend.get_table(update.table)
    key_names = {table.hash_key_attr, table.range_key_attr} - {None}
    if not key_names <= update.equals.keys():
        raise ConditionalCheckFailed  # no full key: a statement no item can match
    range_value = DynamoType(update.equals[table.range_key_attr]) if table.range_key_attr else None
    item = table.get_item(DynamoType(update.equals[table.hash_key_attr]), range_value)
    # An UPDATE never creates an item: one that does not exist fails the condition.
    if item is None:
        raise ConditionalCheckFailed
    for name, value in update.equals.items():
        current = item.attrs.get(name)
        if name not in key_names and (current is None or current != DynamoType(value)):
            raise ConditionalCheckFailed
    if any(name in item.attrs for name in update.missing):
        raise ConditionalCheckFailed
    before = copy.deepcopy(item) if table.stream_shard is not None else None
    for name, value in update.sets.items():
        item.attrs[name] = DynamoType(value)
    for name in update.removes:
        item.attrs.pop(name, None)
    if before is not None:
        table.stream_shard.add(before, item)
