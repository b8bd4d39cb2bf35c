"""The fleet's shared token bucket, in the audiences table under `rate#<provider>`.

`slot#<second>` items count the tokens taken in each second (one conditional ADD per block of
tokens, never past the capacity) and expire through the table's TTL; the `fleet` item holds the
ceiling as lowered after throttling and until when urgent sends are going out.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from chalicelib.adapters.dynamodb.common import is_condition_failure
from chalicelib.domain.ports import FleetRate

SLOT_TTL_S = 3600


def _key(provider: str, sort_key: str) -> dict[str, Any]:
    return {"comm_id": {"S": f"rate#{provider}"}, "sk": {"S": sort_key}}


def _n(value: float) -> dict[str, str]:
    return {"N": f"{value:.3f}" if isinstance(value, float) else str(value)}


class DynamoRateLimitStore:
    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def take(self, provider: str, slot: int, wanted: int, capacity: int) -> int:
        used = self._add(provider, slot, wanted, capacity)
        if used is None:
            return wanted
        left = capacity - used
        if left <= 0 or self._add(provider, slot, left, capacity) is not None:
            return 0
        return left

    def _add(self, provider: str, slot: int, tokens: int, capacity: int) -> int | None:
        """Take `tokens`; None when taken, else how many the slot already gave out."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_key(provider, f"slot#{slot}"),
                UpdateExpression="ADD used :tokens SET expires_at = :expires",
                ConditionExpression="attribute_not_exists(used) OR used <= :limit",
                ExpressionAttributeValues={
                    ":tokens": _n(tokens),
                    ":limit": _n(capacity - tokens),
                    ":expires": _n(slot + SLOT_TTL_S),
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if not is_condition_failure(error):
                raise
            item = error.response.get("Item") or {}
            return int(item["used"]["N"]) if "used" in item else capacity
        return None

    def fleet_rate(self, provider: str) -> FleetRate:
        item = self._client.get_item(TableName=self._table, Key=_key(provider, "fleet")).get("Item") or {}

        def number(name: str) -> float | None:
            return float(item[name]["N"]) if name in item else None

        return FleetRate(
            rate=number("rate"),
            throttled_at=number("throttled_at") or 0.0,
            urgent_until=number("urgent_until") or 0.0,
        )

    def lower_rate(self, provider: str, rate: float, now: float, cooldown_s: float) -> bool:
        return self._conditional(
            provider,
            "SET rate = :rate, throttled_at = :now",
            "attribute_not_exists(throttled_at) OR throttled_at < :cut",
            {":rate": _n(float(rate)), ":now": _n(float(now)), ":cut": _n(float(now - cooldown_s))},
        )

    def raise_rate(self, provider: str, expected: float | None, rate: float | None) -> bool:
        values: dict[str, Any] = {}
        if expected is None:
            condition = "attribute_not_exists(rate)"
        else:
            condition = "rate = :expected"
            values[":expected"] = _n(float(expected))
        if rate is None:
            expression = "REMOVE rate"
        else:
            expression = "SET rate = :rate"
            values[":rate"] = _n(float(rate))
        return self._conditional(provider, expression, condition, values)

    def mark_urgent(self, provider: str, until: float) -> None:
        self._conditional(
            provider,
            "SET urgent_until = :until",
            "attribute_not_exists(urgent_until) OR urgent_until < :until",
            {":until": _n(float(until))},
        )

    def _conditional(self, provider: str, expression: str, condition: str, values: dict[str, Any]) -> bool:
        request: dict[str, Any] = {
            "TableName": self._table,
            "Key": _key(provider, "fleet"),
            "UpdateExpression": expression,
            "ConditionExpression": condition,
        }
        if values:
            request["ExpressionAttributeValues"] = values
        try:
            self._client.update_item(**request)
        except ClientError as error:
            if is_condition_failure(error):
                return False
            raise
        return True
