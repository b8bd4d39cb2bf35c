"""The audit trail in DynamoDB: one partition per subject, entries sorted by time."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from chalicelib.adapters.dynamodb.common import query_pages
from chalicelib.domain.models import Admin, AuditAction, AuditEntry, Page, iso_precise


def audit_to_item(entry: AuditEntry) -> dict[str, Any]:
    at = iso_precise(entry.at)
    return {
        "subject": {"S": entry.subject},
        # Time first so a partition reads in order; the entry id keeps same-microsecond entries apart.
        "sk": {"S": f"{at}#{entry.entry_id}"},
        "at": {"S": at},
        "actor": {"M": {key: {"S": value} for key, value in entry.actor.to_api().items()}},
        "action": {"S": str(entry.action)},
        # Details are free-form JSON (nested, mixed types), kept as the text that was recorded.
        "details": {"S": json.dumps(entry.details, ensure_ascii=False, default=str)},
    }


def audit_from_item(item: dict[str, Any]) -> AuditEntry:
    actor = {key: value["S"] for key, value in item["actor"]["M"].items()}
    return AuditEntry(
        subject=item["subject"]["S"],
        actor=Admin(actor["id"], actor.get("first_name", ""), actor.get("last_name", ""), can_write=False),
        action=AuditAction(item["action"]["S"]),
        details=json.loads(item["details"]["S"]),
        at=datetime.fromisoformat(item["at"]["S"]),
        entry_id=item["sk"]["S"].rpartition("#")[2],
    )


class DynamoAuditLog:
    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def record(self, entry: AuditEntry) -> None:
        self._client.put_item(
            TableName=self._table, Item=audit_to_item(entry), ConditionExpression="attribute_not_exists(sk)"
        )

    def list(self, subject: str, cursor: str | None, limit: int) -> Page[AuditEntry]:
        items, next_cursor = query_pages(
            self._client,
            limit,
            cursor,
            TableName=self._table,
            KeyConditionExpression="#subject = :subject",
            ExpressionAttributeNames={"#subject": "subject"},
            ExpressionAttributeValues={":subject": {"S": subject}},
            ScanIndexForward=True,
        )
        return Page([audit_from_item(item) for item in items], next_cursor)
