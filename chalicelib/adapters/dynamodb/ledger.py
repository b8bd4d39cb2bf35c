"""The send ledger in DynamoDB: items in the audiences table (one partition per communication),
counters on the communication, message records in the messages table, moved together in
transactions.

Items of a communication's partition in the audiences table (besides its `chunk#` items):

- `planned#<chunk>`: the chunk was planned, with its planned messages per channel.
- `counts`: the communication's counters (adapters/dynamodb/communications.py).
- `task#<task_id>`: a send task's lease (`owner`, `lease_until`), `cursor`, `window_end`, and
  what rebuilds it (`chunk`, `start_at`, `plan`, `urgent`).
- `park#<task_id>`: a task parked by a pause, with its queue body.
- `unknown#<task_id>@<position>`: message ids recorded UNKNOWN together, until settled.
- `watch`: the communication is active; the sweep looks after it.
- `deferral#<task_id>`: messages recorded DEFERRED together, as the send task (`body`) that sends
  them when their contact window opens (`until`). Task ids of deferrals start with the opening's
  zero-padded epoch second, so a communication's deferrals sort by opening. The task's DONE
  commit deletes it.

Leases, UNKNOWN windows, watches and deferrals carry `due_pk`/`due_at` while the sweep must look at them:
the sparse `due` index holds only those, so the sweep queries what is due, never scans. A claim
writes `due_at` once; renewals only move `lease_until` (not projected, so no index write), and
the sweep moves `due_at` forward when it finds a lease still alive.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.adapters.dynamodb.common import all_items, from_item, is_condition_failure, transact
from chalicelib.adapters.dynamodb.communications import (
    add_counters,
    counter_name,
    counter_values,
    counts_key,
    read_communication,
)
from chalicelib.adapters.dynamodb.messages import message_to_item
from chalicelib.adapters.queue import send_task_from_body, send_task_to_body
from chalicelib.domain.models import (
    COUNT_FIELDS,
    Channel,
    Communication,
    Counts,
    FailureCode,
    Message,
    MessageStatus,
    iso,
    new_id,
    utc_now,
)
from chalicelib.domain.ports import (
    ClaimAttempt,
    CommitOutcome,
    CommitResult,
    Deferral,
    DueEntry,
    DueKind,
    ParkedTask,
    SendTask,
    Takeover,
    TaskPhase,
    TaskRef,
    TaskState,
    WindowCommit,
    add_counts,
)

DUE_INDEX = "due"
# Tallies a task holds until they are rolled up into the communication's counters.
PENDING_PREFIX = "pending_"
DUE_PARTITION = "due"

_NAMES = {
    "#state": "state",
    "#owner": "owner",
    "#lease": "lease_until",
    "#cursor": "cursor",
    "#wend": "window_end",
    "#due_pk": "due_pk",
    "#due_at": "due_at",
    "#plan": "plan",
    "#deferred": "deferred",
}


def task_key(comm_id: str, task_id: str) -> dict[str, Any]:
    return {"comm_id": {"S": comm_id}, "sk": {"S": f"task#{task_id}"}}


PLANNED_PREFIX = "planned#"


def planned_key(comm_id: str, chunk_number: int) -> dict[str, Any]:
    """A chunk's mark that it was planned, with how many messages per channel it planned."""
    return {"comm_id": {"S": comm_id}, "sk": {"S": f"{PLANNED_PREFIX}{chunk_number:06d}"}}


def park_key(comm_id: str, task_id: str) -> dict[str, Any]:
    return {"comm_id": {"S": comm_id}, "sk": {"S": f"park#{task_id}"}}


def unknown_key(comm_id: str, key: str) -> dict[str, Any]:
    return {"comm_id": {"S": comm_id}, "sk": {"S": f"unknown#{key}"}}


def watch_key(comm_id: str) -> dict[str, Any]:
    return {"comm_id": {"S": comm_id}, "sk": {"S": "watch"}}


DEFERRAL_PREFIX = "deferral#"


def deferral_key(comm_id: str, task_id: str) -> dict[str, Any]:
    return {"comm_id": {"S": comm_id}, "sk": {"S": f"{DEFERRAL_PREFIX}{task_id}"}}


def deferral_from_item(item: dict[str, Any]) -> Deferral:
    return Deferral(
        task=send_task_from_body(item["body"]["S"]),
        until=float(item["until"]["N"]),
        queued=bool(item.get("queued", {}).get("BOOL", False)),
    )


def _n(value: float) -> dict[str, str]:
    return {"N": f"{value:.3f}" if isinstance(value, float) else str(value)}


def _names(*expressions: str) -> dict[str, str]:
    """The attribute names these expressions use (DynamoDB refuses unused ones)."""
    text = " ".join(expressions)
    return {placeholder: name for placeholder, name in _NAMES.items() if placeholder in text}


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def task_state_from_item(item: dict[str, Any]) -> TaskState:
    values = from_item(item)
    pending: dict[Channel, Counts] = {}
    for name, amount in values.items():
        if name.startswith(PENDING_PREFIX):
            # pending_cnt_<channel>_<field>, as counter_name() spells the counter
            channel, _, field = name.removeprefix(f"{PENDING_PREFIX}cnt_").partition("_")
            setattr(pending.setdefault(Channel(channel), Counts()), field, int(amount))
    return TaskState(
        phase=TaskPhase(values.get("state", TaskPhase.RELEASED)),
        owner=values.get("owner"),
        lease_until=float(values.get("lease_until", 0)),
        cursor=int(values.get("cursor", 0)),
        window_end=int(values.get("window_end", 0)),
        pending=pending,
    )


class DynamoSendLedger:
    def __init__(
        self, client: Any, audiences_table: str, communications_table: str, messages_table: str
    ) -> None:
        self._client = client
        self._audiences = audiences_table
        self._communications = communications_table
        self._messages = messages_table

    # -- plumbing -----------------------------------------------------------------------------

    def _add_counters(self, comm_id: str, counters: dict[str, int]) -> dict[str, Any]:
        return add_counters(self._audiences, comm_id, counters)

    def _unknown_window_put(
        self, comm_id: str, key: str, message_ids: Sequence[str], deadline: float
    ) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self._audiences,
                "Item": {
                    **unknown_key(comm_id, key),
                    "ids": _s("\n".join(message_ids)),
                    "due_pk": _s(DUE_PARTITION),
                    "due_at": _n(deadline),
                },
            }
        }

    def _new_record_put(self, message: Message) -> dict[str, Any]:
        # A DEFERRED record is not an outcome: the message's deferral task replaces it.
        return {
            "Put": {
                "TableName": self._messages,
                "Item": message_to_item(message),
                "ConditionExpression": "attribute_not_exists(message_id) OR #status = :deferred",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": {":deferred": _s(MessageStatus.DEFERRED)},
            }
        }

    def _deferral_put(self, deferral: Deferral) -> dict[str, Any]:
        task = deferral.task
        return {
            "Put": {
                "TableName": self._audiences,
                "Item": {
                    **deferral_key(task.comm_id, task.task_id),
                    "body": _s(send_task_to_body(task)),
                    "until": _n(deferral.until),
                    "queued": {"BOOL": False},
                    "due_pk": _s(DUE_PARTITION),
                    "due_at": _n(deferral.until),
                },
            }
        }

    # -- planning -----------------------------------------------------------------------------

    def mark_chunk_planned(
        self, comm_id: str, chunk_number: int, totals: dict[Channel, int], tasks: int
    ) -> bool:
        # A small item of its own: marking the chunk itself would rewrite its account ids.
        mark = {
            "Put": {
                "TableName": self._audiences,
                "Item": {
                    **planned_key(comm_id, chunk_number),
                    "totals": {"M": {str(channel): _n(n) for channel, n in totals.items()}},
                },
                "ConditionExpression": "attribute_not_exists(sk)",
            }
        }
        counters = {counter_name(channel, "total"): n for channel, n in totals.items() if n}
        counters["tasks_planned"] = tasks
        return transact(self._client, [mark, self._add_counters(comm_id, counters)]) is None

    def note_planning(self, comm_id: str, next_chunk: int, state: str, now: float) -> None:
        try:
            self._client.update_item(
                TableName=self._communications,
                Key={"comm_id": _s(comm_id)},
                UpdateExpression="SET plan_next = :next, plan_state = :state, plan_touched_at = :now",
                ConditionExpression="attribute_exists(comm_id) AND "
                "(attribute_not_exists(plan_next) OR plan_next <= :next)",
                ExpressionAttributeValues={":next": _n(next_chunk), ":state": _s(state), ":now": _n(now)},
            )
        except ClientError as error:
            if not is_condition_failure(error):
                raise

    def kick_planning(self, comm_id: str, next_chunk: int, now: float) -> bool:
        try:
            self._client.update_item(
                TableName=self._communications,
                Key={"comm_id": _s(comm_id)},
                UpdateExpression="SET plan_state = :queued, plan_touched_at = :now",
                ConditionExpression="plan_state = :parked AND plan_next = :next",
                ExpressionAttributeValues={
                    ":queued": _s("queued"),
                    ":parked": _s("parked"),
                    ":next": _n(next_chunk),
                    ":now": _n(now),
                },
            )
        except ClientError as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    # -- leases and windows -------------------------------------------------------------------

    def claim_task(self, task: SendTask, owner: str, lease_until: float, window: int) -> ClaimAttempt:
        expression = (
            "SET #state = :claimed, #owner = :owner, #lease = :lease, "
            "#cursor = if_not_exists(#cursor, :zero), #wend = if_not_exists(#cursor, :zero) + :window, "
            "#due_pk = :due, #due_at = :lease, msgs = :msgs, chunk = :chunk, start_at = :start, "
            "#plan = :plan, urgent = :urgent, #deferred = :deferred"
        )
        try:
            response = self._client.update_item(
                TableName=self._audiences,
                Key=task_key(task.comm_id, task.task_id),
                UpdateExpression=expression,
                ConditionExpression="attribute_not_exists(sk) OR #state IN (:released, :parked)",
                ExpressionAttributeNames=_names(expression),
                ExpressionAttributeValues={
                    ":claimed": _s(TaskPhase.CLAIMED),
                    ":released": _s(TaskPhase.RELEASED),
                    ":parked": _s(TaskPhase.PARKED),
                    ":owner": _s(owner),
                    ":lease": _n(lease_until),
                    ":zero": _n(0),
                    ":window": _n(window),
                    ":due": _s(DUE_PARTITION),
                    ":msgs": _n(task.planned_messages),
                    ":chunk": _n(task.chunk),
                    ":start": _n(task.start),
                    ":plan": _s(task.plan_code()),
                    ":urgent": {"BOOL": task.urgent},
                    ":deferred": {"BOOL": task.deferred},
                },
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if not is_condition_failure(error):
                raise
            item = error.response.get("Item")
            if item is None:
                item = self._get(self._audiences, task_key(task.comm_id, task.task_id))
            return ClaimAttempt(False, task_state_from_item(item) if item else None)
        return ClaimAttempt(True, task_state_from_item(response["Attributes"]))

    def take_over(self, takeover: Takeover) -> bool:
        task, stale = takeover.task, takeover.stale
        new_cursor = stale.cursor + len(task.messages()[stale.cursor : stale.window_end])
        # The stale owner's pending tallies are rolled up with the takeover (they are in its counts).
        pending = {f"#p{i}": name for i, name in enumerate(self._pending_names(stale.pending))}
        expression = "SET #owner = :owner, #lease = :lease, #cursor = :cursor, #wend = :wend, "
        expression += "#due_pk = :due, #due_at = :lease"
        if pending:
            expression += " REMOVE " + ", ".join(pending)
        claim = {
            "Update": {
                "TableName": self._audiences,
                "Key": task_key(task.comm_id, task.task_id),
                "UpdateExpression": expression,
                "ConditionExpression": "#state = :claimed AND #owner = :old_owner AND #lease = :old_lease "
                "AND #cursor = :old_cursor",
                "ExpressionAttributeNames": {
                    **_names("#state #owner #lease #cursor #wend #due_pk #due_at"),
                    **pending,
                },
                "ExpressionAttributeValues": {
                    ":owner": _s(takeover.owner),
                    ":lease": _n(takeover.lease_until),
                    ":cursor": _n(new_cursor),
                    ":wend": _n(takeover.window_end),
                    ":due": _s(DUE_PARTITION),
                    ":claimed": _s(TaskPhase.CLAIMED),
                    ":old_owner": _s(stale.owner or ""),
                    ":old_lease": _n(stale.lease_until),
                    ":old_cursor": _n(stale.cursor),
                },
            }
        }
        items: list[dict[str, Any]] = [claim]
        counters = counter_values(takeover.counts)
        if counters:
            items.append(self._add_counters(task.comm_id, counters))
        items.extend(self._new_record_put(message) for message in takeover.unknown)
        if takeover.unknown:
            key = f"{task.task_id}@{stale.cursor}"
            ids = [m.message_id for m in takeover.unknown]
            items.append(self._unknown_window_put(task.comm_id, key, ids, takeover.unknown_deadline))
        items.extend(self._deferral_put(deferral) for deferral in takeover.deferrals)
        return transact(self._client, items) is None

    def renew_lease(self, task: SendTask, owner: str, lease_until: float) -> bool:
        try:
            self._client.update_item(
                TableName=self._audiences,
                Key=task_key(task.comm_id, task.task_id),
                UpdateExpression="SET #lease = :lease",
                ConditionExpression="#state = :claimed AND #owner = :owner",
                ExpressionAttributeNames={"#lease": "lease_until", "#state": "state", "#owner": "owner"},
                ExpressionAttributeValues={
                    ":lease": _n(lease_until),
                    ":claimed": _s(TaskPhase.CLAIMED),
                    ":owner": _s(owner),
                },
            )
        except ClientError as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    def commit_window(self, commit: WindowCommit) -> CommitResult:
        task = commit.task
        names = _names("#state #owner #cursor #wend")
        values: dict[str, Any] = {
            ":owner": _s(commit.owner),
            ":start": _n(commit.start),
            ":claimed": _s(TaskPhase.CLAIMED),
            ":reached": _n(commit.reached),
        }
        sets = ["#cursor = :reached"]
        removes: list[str] = []
        adds: list[str] = []
        if commit.outcome is CommitOutcome.OPEN:
            sets += ["#wend = :next", "#lease = :lease"]
            names["#lease"] = "lease_until"
            values[":next"] = _n(commit.next_window_end)
            values[":lease"] = _n(commit.lease_until)
        else:
            # The lease ends, and with it the task's entry in the due index.
            sets += ["#wend = :reached", "#state = :phase"]
            removes += ["#owner", "#due_pk", "#due_at"]
            names.update(_names("#due_pk #due_at"))
            values[":phase"] = _s(commit.outcome)
        if commit.rolls_up:
            # What the task carried goes to the communication, with this window.
            for index, name in enumerate(self._pending_names(commit.carried)):
                names[f"#p{index}"] = name
                removes.append(f"#p{index}")
        else:
            for index, (name, amount) in enumerate(counter_values(commit.counts).items()):
                names[f"#p{index}"] = f"{PENDING_PREFIX}{name}"
                values[f":p{index}"] = _n(amount)
                adds.append(f"#p{index} :p{index}")
        expression = "SET " + ", ".join(sets)
        if adds:
            expression += " ADD " + ", ".join(adds)
        if removes:
            expression += " REMOVE " + ", ".join(removes)
        task_update = {
            "TableName": self._audiences,
            "Key": task_key(task.comm_id, task.task_id),
            "UpdateExpression": expression,
            "ConditionExpression": "#state = :claimed AND #owner = :owner AND #cursor = :start",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        if not commit.rolls_up and not commit.unknown and not commit.deferrals:
            # The common case: one conditional write to the task item.
            try:
                self._client.update_item(**task_update)
            except ClientError as error:
                if is_condition_failure(error):
                    return CommitResult.LEASE_LOST
                raise
            return CommitResult.COMMITTED
        items: list[dict[str, Any]] = [{"Update": task_update}]
        paused_check = -1
        if commit.rolls_up:
            counters = counter_values(add_counts(commit.carried, commit.counts))
            if commit.outcome is CommitOutcome.DONE and not task.deferred:
                # Deferral tasks were never planned: they do not count against planning's window.
                counters["tasks_done"] = 1
            if counters:
                items.append(self._add_counters(task.comm_id, counters))
            if commit.outcome is CommitOutcome.PARKED:
                # Park only a paused communication: a resume that came first must not be missed.
                paused_check = len(items)
                items.append(
                    {
                        "ConditionCheck": {
                            "TableName": self._communications,
                            "Key": {"comm_id": _s(task.comm_id)},
                            "ConditionExpression": "#status = :paused",
                            "ExpressionAttributeNames": {"#status": "status"},
                            "ExpressionAttributeValues": {":paused": _s("PAUSED")},
                        }
                    }
                )
        record_positions = range(len(items), len(items) + len(commit.unknown))
        items.extend(self._new_record_put(message) for message in commit.unknown)
        if commit.unknown:
            key = f"{task.task_id}@{commit.start}"
            ids = [m.message_id for m in commit.unknown]
            items.append(self._unknown_window_put(task.comm_id, key, ids, commit.unknown_deadline))
        items.extend(self._deferral_put(deferral) for deferral in commit.deferrals)
        if commit.outcome is CommitOutcome.DONE and task.deferred:
            # Its messages are through: the deferral is no longer waiting.
            items.append(
                {"Delete": {"TableName": self._audiences, "Key": deferral_key(task.comm_id, task.task_id)}}
            )
        if commit.outcome is CommitOutcome.PARKED:
            items.append(
                {
                    "Put": {
                        "TableName": self._audiences,
                        "Item": {
                            **park_key(task.comm_id, task.task_id),
                            "body": _s(send_task_to_body(task)),
                            "token": _s(new_id()),
                        },
                    }
                }
            )
        reasons = transact(self._client, items)
        if reasons is None:
            return CommitResult.COMMITTED
        failed = {i for i, code in enumerate(reasons) if code == "ConditionalCheckFailed"}
        if 0 in failed:
            return CommitResult.LEASE_LOST
        if paused_check in failed:
            return CommitResult.NOT_PAUSED
        if failed & set(record_positions):
            return CommitResult.RECORD_CONFLICT
        return CommitResult.LEASE_LOST

    def _pending_names(self, pending: dict[Channel, Counts]) -> list[str]:
        return [f"{PENDING_PREFIX}{name}" for name in counter_values(pending)]

    def task_state(self, comm_id: str, task_id: str) -> TaskState | None:
        item = self._get(self._audiences, task_key(comm_id, task_id))
        return task_state_from_item(item) if item else None

    def task_ref(self, comm_id: str, task_id: str) -> TaskRef | None:
        item = self._get(self._audiences, task_key(comm_id, task_id))
        if not item or "plan" not in item:
            return None
        values = from_item(item)
        return TaskRef(
            chunk=int(values["chunk"]),
            start=int(values["start_at"]),
            plan_code=values["plan"],
            urgent=bool(values.get("urgent")),
            deferred=bool(values.get("deferred")),
        )

    # -- parked tasks -------------------------------------------------------------------------

    def parked_tasks(self, comm_id: str) -> list[ParkedTask]:
        parked: list[ParkedTask] = []
        query: dict[str, Any] = {
            "TableName": self._audiences,
            "KeyConditionExpression": "comm_id = :comm AND begins_with(sk, :park)",
            "ExpressionAttributeValues": {":comm": _s(comm_id), ":park": _s("park#")},
            "ConsistentRead": True,
        }
        while True:
            response = self._client.query(**query)
            for item in response.get("Items", []):
                parked.append(ParkedTask(send_task_from_body(item["body"]["S"]), item["token"]["S"]))
            if not response.get("LastEvaluatedKey"):
                return parked
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def unpark(self, parked: Sequence[ParkedTask]) -> None:
        for entry in parked:
            try:
                self._client.delete_item(
                    TableName=self._audiences,
                    Key=park_key(entry.task.comm_id, entry.task.task_id),
                    ConditionExpression="#token = :token",
                    ExpressionAttributeNames={"#token": "token"},
                    ExpressionAttributeValues={":token": _s(entry.token)},
                )
            except ClientError as error:
                if not is_condition_failure(error):
                    raise

    # -- messages in doubt --------------------------------------------------------------------

    def unknown_window(self, comm_id: str, key: str) -> list[str] | None:
        item = self._get(self._audiences, unknown_key(comm_id, key))
        if not item:
            return None
        ids = item["ids"]["S"]
        return ids.split("\n") if ids else []

    def settle_unknown(self, comm_id: str, key: str, failed: Sequence[Message]) -> bool:
        items: list[dict[str, Any]] = []
        counts: dict[Channel, Counts] = {}
        for message in failed:
            counts.setdefault(message.channel, Counts()).send_failed += 1
            items.append(
                {
                    "Update": {
                        "TableName": self._messages,
                        "Key": {"comm_id": _s(comm_id), "message_id": _s(message.message_id)},
                        "UpdateExpression": "SET #status = :failed, #error = :error, error_code = :code, "
                        "updated_at = :now",
                        "ConditionExpression": "#status = :unknown",
                        "ExpressionAttributeNames": {"#status": "status", "#error": "error"},
                        "ExpressionAttributeValues": {
                            ":failed": _s(MessageStatus.SEND_FAILED),
                            ":unknown": _s(MessageStatus.UNKNOWN),
                            ":error": _s(message.error or ""),
                            ":code": _s(FailureCode.OUTCOME_UNKNOWN),
                            ":now": _s(iso(utc_now()) or ""),
                        },
                    }
                }
            )
        counters = counter_values(counts)
        if counters:
            items.append(self._add_counters(comm_id, counters))
        items.append(
            {
                "Delete": {
                    "TableName": self._audiences,
                    "Key": unknown_key(comm_id, key),
                    "ConditionExpression": "attribute_exists(sk)",
                }
            }
        )
        return transact(self._client, items) is None

    def confirm_sent(self, message: Message, provider: str | None, provider_message_id: str) -> bool:
        counts = Counts(sent=1)
        values: dict[str, Any] = {
            ":sent": _s(MessageStatus.SENT),
            ":was": _s(message.status),
            ":pmid": _s(provider_message_id),
            ":now": _s(iso(utc_now()) or ""),
        }
        expression = (
            "SET #status = :sent, provider_message_id = :pmid, sent_at = if_not_exists(sent_at, :now), "
        )
        expression += "updated_at = :now"
        if provider:
            expression += ", provider = :provider"
            values[":provider"] = _s(provider)
        expression += " REMOVE #error, error_code"
        condition = "#status = :was"
        if message.status is MessageStatus.SEND_FAILED:
            counts.send_failed = -1
            condition += " AND error_code = :code"
            values[":code"] = _s(FailureCode.OUTCOME_UNKNOWN)
        update = {
            "Update": {
                "TableName": self._messages,
                "Key": {"comm_id": _s(message.comm_id), "message_id": _s(message.message_id)},
                "UpdateExpression": expression,
                "ConditionExpression": condition,
                "ExpressionAttributeNames": {"#status": "status", "#error": "error"},
                "ExpressionAttributeValues": values,
            }
        }
        counters = {counter_name(message.channel, k): v for k, v in vars(counts).items() if v}
        return transact(self._client, [update, self._add_counters(message.comm_id, counters)]) is None

    def record_proof(self, message: Message) -> bool:
        try:
            self._client.put_item(
                TableName=self._messages,
                Item=message_to_item(message),
                # A DEFERRED record says nothing about sending: its deferral task is at work.
                ConditionExpression="attribute_not_exists(message_id) OR #status = :deferred",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":deferred": _s(MessageStatus.DEFERRED)},
            )
        except ClientError as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    # -- the sweep ----------------------------------------------------------------------------

    def due(self, now: float, limit: int) -> list[DueEntry]:
        response = self._client.query(
            TableName=self._audiences,
            IndexName=DUE_INDEX,
            KeyConditionExpression="due_pk = :due AND due_at <= :now",
            ExpressionAttributeValues={":due": _s(DUE_PARTITION), ":now": _n(now)},
            Limit=limit,
        )
        entries = []
        for item in response.get("Items", []):
            sort_key = item["sk"]["S"]
            kind_name, _, key = sort_key.partition("#")
            entries.append(
                DueEntry(DueKind(kind_name), item["comm_id"]["S"], key, float(item["due_at"]["N"]))
            )
        return entries

    def reschedule(self, entry: DueEntry, due_at: float | None) -> None:
        key = {
            DueKind.TASK: task_key,
            DueKind.UNKNOWN: unknown_key,
            DueKind.WATCH: lambda comm_id, _: watch_key(comm_id),
            DueKind.DEFERRAL: deferral_key,
        }[entry.kind](entry.comm_id, entry.key)
        try:
            if due_at is None and entry.kind in (DueKind.WATCH, DueKind.DEFERRAL):
                self._client.delete_item(TableName=self._audiences, Key=key)
            elif due_at is None:
                self._client.update_item(
                    TableName=self._audiences,
                    Key=key,
                    UpdateExpression="REMOVE #due_pk, #due_at",
                    ConditionExpression="attribute_exists(sk)",
                    ExpressionAttributeNames={"#due_pk": "due_pk", "#due_at": "due_at"},
                )
            else:
                self._client.update_item(
                    TableName=self._audiences,
                    Key=key,
                    UpdateExpression="SET #due_at = :at",
                    # Only what is still in the index: a lease that ended stays out of it.
                    ConditionExpression="attribute_exists(#due_pk)",
                    ExpressionAttributeNames={"#due_pk": "due_pk", "#due_at": "due_at"},
                    ExpressionAttributeValues={":at": _n(due_at)},
                )
        except ClientError as error:
            if not is_condition_failure(error):
                raise

    def watch(self, comm_id: str, due_at: float) -> None:
        self._client.put_item(
            TableName=self._audiences,
            Item={**watch_key(comm_id), "due_pk": _s(DUE_PARTITION), "due_at": _n(due_at)},
        )

    def communication(self, comm_id: str) -> Communication | None:
        return read_communication(self._client, self._communications, self._audiences, comm_id)

    # -- deferrals ----------------------------------------------------------------------------

    def deferral(self, comm_id: str, task_id: str) -> Deferral | None:
        item = self._get(self._audiences, deferral_key(comm_id, task_id))
        return deferral_from_item(item) if item else None

    def deferrals(self, comm_id: str) -> list[Deferral]:
        found: list[Deferral] = []
        query: dict[str, Any] = {
            "TableName": self._audiences,
            "KeyConditionExpression": "comm_id = :comm AND begins_with(sk, :deferral)",
            "ExpressionAttributeValues": {":comm": _s(comm_id), ":deferral": _s(DEFERRAL_PREFIX)},
            "ConsistentRead": True,
        }
        while True:
            response = self._client.query(**query)
            found.extend(deferral_from_item(item) for item in response.get("Items", []))
            if not response.get("LastEvaluatedKey"):
                return found
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def deferral_queued(self, comm_id: str, task_id: str, look_again_at: float) -> None:
        try:
            self._client.update_item(
                TableName=self._audiences,
                Key=deferral_key(comm_id, task_id),
                UpdateExpression="SET queued = :true, #due_pk = :due, #due_at = :at",
                ConditionExpression="attribute_exists(sk)",
                ExpressionAttributeNames={"#due_pk": "due_pk", "#due_at": "due_at"},
                ExpressionAttributeValues={
                    ":true": {"BOOL": True},
                    ":due": _s(DUE_PARTITION),
                    ":at": _n(look_again_at),
                },
            )
        except ClientError as error:
            # Its task finished meanwhile and took it away.
            if not is_condition_failure(error):
                raise

    def deferral_span(self, comm_id: str) -> tuple[float, float] | None:
        ends = []
        for forward in (True, False):
            response = self._client.query(
                TableName=self._audiences,
                KeyConditionExpression="comm_id = :comm AND begins_with(sk, :deferral)",
                ExpressionAttributeValues={":comm": _s(comm_id), ":deferral": _s(DEFERRAL_PREFIX)},
                ProjectionExpression="#until",
                ExpressionAttributeNames={"#until": "until"},
                ScanIndexForward=forward,
                Limit=1,
            )
            items = response.get("Items", [])
            if not items:
                return None
            ends.append(float(items[0]["until"]["N"]))
        return ends[0], ends[1]

    # -- counters -----------------------------------------------------------------------------

    def planned_totals(self, comm_id: str) -> dict[Channel, int]:
        totals: dict[Channel, int] = {}
        marks = all_items(
            self._client.query,
            TableName=self._audiences,
            KeyConditionExpression="comm_id = :comm AND begins_with(sk, :planned)",
            ExpressionAttributeValues={":comm": _s(comm_id), ":planned": _s(PLANNED_PREFIX)},
            ConsistentRead=True,
        )
        for item in marks:
            for channel, total in from_item(item).get("totals", {}).items():
                totals[Channel(channel)] = totals.get(Channel(channel), 0) + int(total)
        return totals

    def set_counters(self, comm_id: str, counts_by_channel: dict[Channel, Counts]) -> None:
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        parts = []
        for channel, counts in counts_by_channel.items():
            for name in COUNT_FIELDS:
                index = len(names)
                names[f"#c{index}"] = counter_name(channel, name)
                values[f":c{index}"] = _n(getattr(counts, name))
                parts.append(f"#c{index} = :c{index}")
        if parts:
            self._client.update_item(
                TableName=self._audiences,
                Key=counts_key(comm_id),
                UpdateExpression="SET " + ", ".join(parts),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )

    def _get(self, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self._client.get_item(
            TableName=table, Key=key, ConsistentRead=True
        ).get("Item")
        return item
