"""The operator settings record in DynamoDB: one item, versioned so concurrent saves never lose a change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.adapters.dynamodb.common import from_item, is_condition_failure, to_item
from chalicelib.domain.models import Admin, ContactHours
from chalicelib.domain.operator_settings import OperatorSettings, Providers, RateLimits

OPERATOR_SCOPE = "operator"


def settings_to_item(settings: OperatorSettings) -> dict[str, Any]:
    values = settings.to_api()
    values["scope"] = OPERATOR_SCOPE
    values["version"] = settings.version
    return to_item(values)


def settings_from_item(item: dict[str, Any]) -> OperatorSettings:
    values = from_item(item)
    updated_by = values.get("updated_by")
    rate_limits = values["rate_limits"]
    return OperatorSettings(
        from_email=values["from_email"],
        from_name=values.get("from_name", ""),
        reply_to=values.get("reply_to"),
        sms_sender=values.get("sms_sender"),
        default_language=values["default_language"],
        default_timezone=values["default_timezone"],
        contact_hours=ContactHours.from_api(values["contact_hours"]),
        providers=Providers(**values["providers"]),
        rate_limits=RateLimits(float(rate_limits["email_per_s"]), float(rate_limits["sms_per_s"])),
        approval_threshold=values.get("approval_threshold"),
        retention_days=int(values["retention_days"]),
        version=int(values["version"]),
        updated_at=datetime.fromisoformat(values["updated_at"]) if values.get("updated_at") else None,
        updated_by=Admin(
            updated_by["id"], updated_by.get("first_name", ""), updated_by.get("last_name", ""), False
        )
        if updated_by
        else None,
    )


class DynamoSettingsStore:
    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def get(self) -> OperatorSettings | None:
        response = self._client.get_item(
            TableName=self._table, Key={"scope": {"S": OPERATOR_SCOPE}}, ConsistentRead=True
        )
        item = response.get("Item")
        return settings_from_item(item) if item else None

    def put(self, settings: OperatorSettings, expected_version: int) -> bool:
        condition: dict[str, Any] = (
            {
                "ConditionExpression": "attribute_not_exists(#scope)",
                "ExpressionAttributeNames": {"#scope": "scope"},
            }
            if expected_version == 0
            else {
                "ConditionExpression": "#version = :expected",
                "ExpressionAttributeNames": {"#version": "version"},
                "ExpressionAttributeValues": {":expected": {"N": str(expected_version)}},
            }
        )
        try:
            self._client.put_item(TableName=self._table, Item=settings_to_item(settings), **condition)
        except ClientError as error:
            if is_condition_failure(error):
                return False
            raise
        return True
