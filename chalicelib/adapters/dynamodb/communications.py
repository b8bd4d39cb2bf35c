"""Communications in DynamoDB: one item each, and once it is sent, a small item of counters.

DynamoDB bills a write on the whole item, and in a transaction twice. Sending and delivery
tracking move the counters all along a send, so they live apart from the communication (whose
content, every language's subject, HTML, text and SMS, runs to kilobytes even zlib-compressed,
and which the `by_created` index copies): in the communication's partition of the audiences
table, `sk = counts`, as flat numeric attributes beside `tasks_planned` and `tasks_done`.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable
from dataclasses import asdict
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.adapters.dynamodb.common import (
    batch_get,
    from_item,
    is_condition_failure,
    query_pages,
    to_item,
)
from chalicelib.domain.errors import Conflict
from chalicelib.domain.models import (
    COUNT_FIELDS,
    Admin,
    AudienceSummary,
    Channel,
    Communication,
    CommunicationStatus,
    ContactHours,
    Content,
    Counts,
    Page,
    iso,
    utc_now,
)

LIST_PARTITION = "communications"
# The by_schedule index is sparse: only SCHEDULED communications carry schedule_pk.
SCHEDULE_INDEX = "by_schedule"
SCHEDULE_PARTITION = "scheduled"
PRECISE_TIME = "%Y-%m-%dT%H:%M:%S.%f"


COUNTS_SK = "counts"


def counter_name(channel: Channel, field: str) -> str:
    return f"cnt_{channel}_{field}"


def channel_counts(counters: dict[str, Any], channels: Iterable[Channel]) -> dict[Channel, Counts]:
    """The counts item's counters (plain values), by channel: the inverse of `counter_values`."""
    return {
        channel: Counts(**{f: int(counters.get(counter_name(channel, f), 0)) for f in COUNT_FIELDS})
        for channel in channels
    }


def counter_values(counts: dict[Channel, Counts]) -> dict[str, int]:
    """Counter name → amount, for each nonzero count of each channel."""
    return {
        counter_name(channel, name): getattr(channel_counts, name)
        for channel, channel_counts in counts.items()
        for name in COUNT_FIELDS
        if getattr(channel_counts, name)
    }


def counts_key(comm_id: str) -> dict[str, Any]:
    return {"comm_id": {"S": comm_id}, "sk": {"S": COUNTS_SK}}


def add_counters(counts_table: str, comm_id: str, counters: dict[str, int]) -> dict[str, Any]:
    """A transaction item adding `counters` (counter name → amount) to a communication's counts."""
    names = {f"#c{i}": name for i, name in enumerate(counters)}
    values = {f":c{i}": {"N": str(n)} for i, n in enumerate(counters.values())}
    values[":now"] = {"S": iso(utc_now()) or ""}
    add = ", ".join(f"#c{i} :c{i}" for i in range(len(counters)))
    update: dict[str, Any] = {
        "TableName": counts_table,
        "Key": counts_key(comm_id),
        "UpdateExpression": "SET updated_at = :now" + (f" ADD {add}" if add else ""),
        "ExpressionAttributeValues": values,
    }
    if names:
        update["ExpressionAttributeNames"] = names
    return {"Update": update}


def _admin(values: dict[str, Any] | None) -> Admin | None:
    if not values:
        return None
    return Admin(values["id"], values.get("first_name", ""), values.get("last_name", ""), can_write=False)


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def communication_from_item(item: dict[str, Any], counts_item: dict[str, Any] | None) -> Communication:
    values = from_item(item)
    counts = from_item(counts_item) if counts_item else {}
    channels = [Channel(c) for c in values["channels"]]
    return Communication(
        comm_id=values["comm_id"],
        name=values["name"],
        channels=channels,
        default_language=values["default_language"],
        content=_content_from(values.get("content")),
        status=CommunicationStatus(values["status"]),
        created_at=_time(values["created_at"]) or utc_now(),
        updated_at=_time(max(values.get("updated_at") or "", counts.get("updated_at") or "")) or utc_now(),
        created_by=_admin(values.get("created_by")),
        sent_by=_admin(values.get("sent_by")),
        started_at=_time(values.get("started_at")),
        finished_at=_time(values.get("finished_at")),
        wizard_step=values.get("wizard_step"),
        template_id=values.get("template_id"),
        audience=AudienceSummary(**values["audience"]) if values.get("audience") else AudienceSummary(),
        counts_by_channel=channel_counts(counts, channels),
        planning_done=bool(values.get("planning_done")),
        plan_state=values.get("plan_state", "queued"),
        plan_next=int(values.get("plan_next", 0)),
        plan_touched_at=float(values.get("plan_touched_at", 0)),
        tasks_planned=int(counts.get("tasks_planned", 0)),
        tasks_done=int(counts.get("tasks_done", 0)),
        send_at=_time(values.get("send_at")),
        scheduled_by=_admin(values.get("scheduled_by")),
        approved_by=_admin(values.get("approved_by")),
        approved_at=_time(values.get("approved_at")),
        urgent=bool(values.get("urgent")),
        expires_at=_time(values.get("expires_at")),
        contact_hours=ContactHours.from_api(values["contact_hours"]) if values.get("contact_hours") else None,
        transactional=values.get("transactional") is not False,
    )


def _content_from(stored: Any) -> Content:
    if stored is None:
        return Content.from_api({})
    if isinstance(stored, str):  # written before content was compressed
        return Content.from_api(json.loads(stored))
    return Content.from_api(json.loads(zlib.decompress(stored.value)))


def _draft_values(communication: Communication) -> dict[str, Any]:
    return {
        "name": communication.name,
        "channels": [str(c) for c in communication.channels],
        "default_language": communication.default_language,
        "content": zlib.compress(json.dumps(communication.content.to_api(), ensure_ascii=False).encode()),
        "wizard_step": communication.wizard_step,
        "updated_at": iso(communication.updated_at),
        "urgent": communication.urgent,
        "expires_at": iso(communication.expires_at),
        "contact_hours": communication.contact_hours.to_api() if communication.contact_hours else None,
        "transactional": communication.transactional,
    }


def _admin_values(admin: Admin | None) -> dict[str, str] | None:
    return admin.to_api() if admin else None


def _lifecycle_values(communication: Communication) -> dict[str, Any]:
    """Status and the fields that move with it; None values are removed from the item."""
    return {
        "status": str(communication.status),
        "sent_by": _admin_values(communication.sent_by),
        "started_at": iso(communication.started_at),
        "finished_at": iso(communication.finished_at),
        "send_at": iso(communication.send_at),
        "scheduled_by": _admin_values(communication.scheduled_by),
        "approved_by": _admin_values(communication.approved_by),
        "approved_at": iso(communication.approved_at),
        "schedule_pk": SCHEDULE_PARTITION if communication.status is CommunicationStatus.SCHEDULED else None,
        "updated_at": iso(utc_now()),
    }


def read_communication(client: Any, table: str, counts_table: str, comm_id: str) -> Communication | None:
    """A communication with its counters (a draft has none yet), read consistently."""
    item = client.get_item(TableName=table, Key={"comm_id": {"S": comm_id}}, ConsistentRead=True).get("Item")
    if not item:
        return None
    return communication_from_item(item, _counts_item(client, counts_table, item))


def _counts_item(client: Any, counts_table: str, item: dict[str, Any]) -> dict[str, Any] | None:
    if _is_draft(item):  # counters start with the send
        return None
    response = client.get_item(
        TableName=counts_table, Key=counts_key(item["comm_id"]["S"]), ConsistentRead=True
    )
    return response.get("Item")


def _is_draft(item: dict[str, Any]) -> bool:
    return item["status"]["S"] == CommunicationStatus.DRAFT


class DynamoCommunicationStore:
    def __init__(self, client: Any, table: str, counts_table: str) -> None:
        self._client = client
        self._table = table
        self._counts_table = counts_table

    def _key(self, comm_id: str) -> dict[str, Any]:
        return {"comm_id": {"S": comm_id}}

    def create(self, communication: Communication) -> None:
        created_at = iso(communication.created_at)
        values = {
            **_draft_values(communication),
            "comm_id": communication.comm_id,
            "list_pk": LIST_PARTITION,
            # Microseconds keep the newest-first order exact for drafts created in the same second.
            "created_key": f"{communication.created_at.strftime(PRECISE_TIME)}#{communication.comm_id}",
            "status": str(communication.status),
            "created_at": created_at,
            "created_by": communication.created_by.to_api() if communication.created_by else None,
            "template_id": communication.template_id,
            "audience": asdict(communication.audience),
        }
        self._client.put_item(
            TableName=self._table, Item=to_item(values), ConditionExpression="attribute_not_exists(comm_id)"
        )

    def get(self, comm_id: str) -> Communication | None:
        return read_communication(self._client, self._table, self._counts_table, comm_id)

    def list(self, status: CommunicationStatus | None, cursor: str | None, limit: int) -> Page[Communication]:
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "by_created",
            "KeyConditionExpression": "list_pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": LIST_PARTITION}},
            "ScanIndexForward": False,
        }
        if status is not None:
            query["FilterExpression"] = "#status = :status"
            query["ExpressionAttributeNames"] = {"#status": "status"}
            query["ExpressionAttributeValues"][":status"] = {"S": str(status)}
        items, next_cursor = query_pages(self._client, limit, cursor, **query)
        sent = [counts_key(item["comm_id"]["S"]) for item in items if not _is_draft(item)]
        counts = {found["comm_id"]["S"]: found for found in batch_get(self._client, self._counts_table, sent)}
        return Page(
            [communication_from_item(item, counts.get(item["comm_id"]["S"])) for item in items], next_cursor
        )

    def _update(
        self,
        comm_id: str,
        values: dict[str, Any],
        condition_status: CommunicationStatus | None = None,
        return_new: bool = False,
        extra_condition: tuple[str, dict[str, str], dict[str, Any]] | None = None,
    ) -> dict[str, Any] | None:
        names = {f"#{k}": k for k in values}
        expression_values = {f":{k}": v for k, v in to_item(values).items()}
        removed = [f"#{k}" for k, v in values.items() if v is None]
        set_parts = [f"#{k} = :{k}" for k, v in values.items() if v is not None]
        expression = "SET " + ", ".join(set_parts)
        if removed:
            expression += " REMOVE " + ", ".join(removed)
        request: dict[str, Any] = {
            "TableName": self._table,
            "Key": self._key(comm_id),
            "UpdateExpression": expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": expression_values,
        }
        if condition_status is not None:
            names["#status"] = "status"
            expression_values[":expected_status"] = {"S": str(condition_status)}
            request["ConditionExpression"] = "#status = :expected_status"
            if extra_condition is not None:
                expression_part, extra_names, extra_values = extra_condition
                request["ConditionExpression"] += f" AND {expression_part}"
                names.update(extra_names)
                expression_values.update(extra_values)
        else:
            request["ConditionExpression"] = "attribute_exists(comm_id)"
        if return_new:
            request["ReturnValues"] = "ALL_NEW"
        response = self._client.update_item(**request)
        return response.get("Attributes")

    def save_draft(self, communication: Communication) -> None:
        self._update_draft(communication.comm_id, _draft_values(communication))

    def set_audience(self, comm_id: str, audience: AudienceSummary) -> None:
        self._update_draft(comm_id, {"audience": asdict(audience), "updated_at": iso(utc_now())})

    def _update_draft(self, comm_id: str, values: dict[str, Any]) -> None:
        try:
            self._update(comm_id, values, condition_status=CommunicationStatus.DRAFT)
        except ClientError as error:
            if is_condition_failure(error):
                raise Conflict(
                    "only drafts can be changed; this communication is no longer a draft"
                ) from error
            raise

    def delete_draft(self, comm_id: str) -> None:
        try:
            self._client.delete_item(
                TableName=self._table,
                Key=self._key(comm_id),
                ConditionExpression="#status = :draft",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":draft": {"S": str(CommunicationStatus.DRAFT)}},
            )
        except ClientError as error:
            if is_condition_failure(error):
                raise Conflict(
                    "only drafts can be deleted; this communication is no longer a draft"
                ) from error
            raise

    def start_sending(
        self, communication: Communication, expected: CommunicationStatus = CommunicationStatus.DRAFT
    ) -> bool:
        # Only a ready audience is sent: an import that is writing chunks cannot race the send.
        ready = (
            "#audience.#audience_state = :ready",
            {"#audience": "audience", "#audience_state": "state"},
            {":ready": {"S": "ready"}},
        )
        return self._conditional(communication.comm_id, _lifecycle_values(communication), expected, ready)

    def move(self, communication: Communication, expected: CommunicationStatus) -> bool:
        return self._conditional(communication.comm_id, _lifecycle_values(communication), expected)

    def due(self, now: datetime, cursor: str | None, limit: int) -> Page[str]:
        items, next_cursor = query_pages(
            self._client,
            limit,
            cursor,
            TableName=self._table,
            IndexName=SCHEDULE_INDEX,
            KeyConditionExpression="schedule_pk = :pk AND send_at <= :now",
            ExpressionAttributeValues={":pk": {"S": SCHEDULE_PARTITION}, ":now": {"S": iso(now) or ""}},
        )
        return Page([item["comm_id"]["S"] for item in items], next_cursor)

    def mark_planning_done(self, comm_id: str) -> Communication:
        attributes = self._update(comm_id, {"planning_done": True}, return_new=True)
        assert attributes is not None
        return communication_from_item(attributes, _counts_item(self._client, self._counts_table, attributes))

    def finish(self, comm_id: str, status: CommunicationStatus) -> bool:
        now = iso(utc_now())
        values = {"status": str(status), "finished_at": now, "updated_at": now}
        return self._conditional(comm_id, values, CommunicationStatus.IN_PROGRESS)

    def change_status(
        self, comm_id: str, allowed: frozenset[CommunicationStatus], target: CommunicationStatus
    ) -> bool:
        now = iso(utc_now())
        values: dict[str, Any] = {":target": {"S": str(target)}, ":now": {"S": now}}
        placeholders = []
        for index, status in enumerate(sorted(allowed)):
            values[f":from{index}"] = {"S": str(status)}
            placeholders.append(f":from{index}")
        expression = "SET #status = :target, updated_at = :now"
        if target in (
            CommunicationStatus.CANCELLED,
            CommunicationStatus.COMPLETED,
            CommunicationStatus.FAILED,
        ):
            expression += ", finished_at = :now"
        # Out of the sparse schedule index whatever it becomes.
        expression += " REMOVE schedule_pk"
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(comm_id),
                UpdateExpression=expression,
                ConditionExpression=f"#status IN ({', '.join(placeholders)})",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    def _conditional(
        self,
        comm_id: str,
        values: dict[str, Any],
        expected: CommunicationStatus,
        extra: tuple[str, dict[str, str], dict[str, Any]] | None = None,
    ) -> bool:
        try:
            self._update(comm_id, values, condition_status=expected, extra_condition=extra)
        except ClientError as error:
            if is_condition_failure(error):
                return False
            raise
        return True
