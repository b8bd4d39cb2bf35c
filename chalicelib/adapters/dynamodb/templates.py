"""Saved templates in DynamoDB: one item each, listed newest first through the by_created index."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.adapters.dynamodb.common import from_item, is_condition_failure, query_pages, to_item
from chalicelib.domain.errors import NotFound
from chalicelib.domain.models import Admin, Content, Page, Template, iso, utc_now

LIST_PARTITION = "templates"
PRECISE_TIME = "%Y-%m-%dT%H:%M:%S.%f"


def template_to_item(template: Template) -> dict[str, Any]:
    return to_item(
        {
            "template_id": template.template_id,
            "list_pk": LIST_PARTITION,
            "created_key": f"{template.created_at.strftime(PRECISE_TIME)}#{template.template_id}",
            "name": template.name,
            "default_language": template.default_language,
            "content": json.dumps(template.content.to_api(), ensure_ascii=False),
            "created_at": iso(template.created_at),
            "updated_at": iso(template.updated_at),
            "created_by": template.created_by.to_api() if template.created_by else None,
        }
    )


def template_from_item(item: dict[str, Any]) -> Template:
    values = from_item(item)
    creator = values.get("created_by")
    return Template(
        template_id=values["template_id"],
        name=values["name"],
        default_language=values["default_language"],
        content=Content.from_api(json.loads(values.get("content") or "{}")),
        created_at=datetime.fromisoformat(values["created_at"]) if values.get("created_at") else utc_now(),
        updated_at=datetime.fromisoformat(values["updated_at"]) if values.get("updated_at") else utc_now(),
        created_by=Admin(creator["id"], creator.get("first_name", ""), creator.get("last_name", ""), False)
        if creator
        else None,
    )


class DynamoTemplateStore:
    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def _key(self, template_id: str) -> dict[str, Any]:
        return {"template_id": {"S": template_id}}

    def create(self, template: Template) -> None:
        self._client.put_item(
            TableName=self._table,
            Item=template_to_item(template),
            ConditionExpression="attribute_not_exists(template_id)",
        )

    def get(self, template_id: str) -> Template | None:
        response = self._client.get_item(
            TableName=self._table, Key=self._key(template_id), ConsistentRead=True
        )
        item = response.get("Item")
        return template_from_item(item) if item else None

    def list(self, cursor: str | None, limit: int) -> Page[Template]:
        items, next_cursor = query_pages(
            self._client,
            limit,
            cursor,
            TableName=self._table,
            IndexName="by_created",
            KeyConditionExpression="list_pk = :pk",
            ExpressionAttributeValues={":pk": {"S": LIST_PARTITION}},
            ScanIndexForward=False,
        )
        return Page([template_from_item(item) for item in items], next_cursor)

    def save(self, template: Template) -> None:
        try:
            self._client.put_item(
                TableName=self._table,
                Item=template_to_item(template),
                ConditionExpression="attribute_exists(template_id)",
            )
        except ClientError as error:
            if is_condition_failure(error):
                raise NotFound(f"template {template.template_id} not found") from error
            raise

    def delete(self, template_id: str) -> bool:
        response = self._client.delete_item(
            TableName=self._table, Key=self._key(template_id), ReturnValues="ALL_OLD"
        )
        return bool(response.get("Attributes"))
