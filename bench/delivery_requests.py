"""AWS requests per delivery event, counted (not timed) on moto in-process.

    .venv/bin/python bench/delivery_requests.py

Feeds SNS-wrapped SES events to the events worker in SQS batches of 10, and SendGrid events to
the webhook in one signed batch, and counts the DynamoDB and SQS calls each path makes.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
for key, value in {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "x",
    "AWS_SECRET_ACCESS_KEY": "x",
}.items():
    os.environ.setdefault(key, value)
os.environ.pop("AWS_ENDPOINT_URL", None)

MESSAGES = 500
BATCH = 10


def main() -> None:
    import json

    import boto3
    from moto import mock_aws

    from chalicelib.domain.models import Channel, Message, MessageStatus, utc_now
    from chalicelib.local.pollers import sqs_event
    from chalicelib.local.resources import create_resources_with_clients
    from chalicelib.wiring import services
    from tests.support import item_level_transaction_rollback

    with mock_aws(), item_level_transaction_rollback():
        create_resources_with_clients(boto3.client("cloudformation"), boto3.client("ses"))
        services.cache_clear()
        svc = services()
        comm_id = "bench-comm"
        boto3.client("dynamodb").put_item(
            TableName=svc.settings.communications_table, Item={"comm_id": {"S": comm_id}}
        )
        messages = [
            Message(
                comm_id,
                f"account-{i}",
                Channel.EMAIL,
                MessageStatus.SENT,
                address=f"p{i}@example.com",
                provider="ses",
                provider_message_id=f"ses-{i}",
                sent_at=utc_now(),
            )
            for i in range(MESSAGES)
        ]
        svc.message_store.put_many(messages)
        calls: Counter[str] = Counter()
        for client in (svc.dynamodb, svc.sqs):
            client.meta.events.register("before-call.*.*", lambda model, **_: calls.update([model.name]))

        at = datetime(2026, 11, 26, 14, tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        records = []
        for i, message in enumerate(messages):
            kind = "Bounce" if i % 10 == 0 else "Delivery"
            detail = {"timestamp": at}
            if kind == "Bounce":
                detail |= {
                    "bounceType": "Permanent",
                    "bounceSubType": "General",
                    "bouncedRecipients": [{"emailAddress": message.address}],
                }
            event = {
                "eventType": kind,
                kind.lower(): detail,
                "mail": {
                    "timestamp": at,
                    "messageId": message.provider_message_id,
                    "destination": [message.address],
                    "tags": {"herald_comm_id": [comm_id], "herald_message_id": [message.message_id]},
                },
            }
            envelope = {
                "Type": "Notification",
                "MessageId": str(i),
                "TopicArn": "arn:aws:sns:us-east-1:1:t",
                "Message": json.dumps(event),
                "Timestamp": at,
            }
            records.append(
                {
                    "MessageId": str(i),
                    "ReceiptHandle": "r",
                    "Body": json.dumps(envelope),
                    "MD5OfBody": "",
                    "Attributes": {},
                }
            )
        from chalicelib.workers import events

        for start in range(0, len(records), BATCH):
            events.handle(sqs_event(records[start : start + BATCH], "arn:aws:sqs:us-east-1:1:q", "us-east-1"))
        total = sum(calls.values())
        print(
            f"events worker: {MESSAGES} SES events in batches of {BATCH}: {total} AWS requests "
            f"({total / MESSAGES:.2f} per event): {dict(sorted(calls.items()))}"
        )
        item = boto3.client("dynamodb").get_item(
            TableName=svc.settings.audiences_table, Key={"comm_id": {"S": comm_id}, "sk": {"S": "counts"}}
        )["Item"]
        print(f"  → counters: { ({k: v['N'] for k, v in item.items() if k.startswith('cnt_')}) }")
        calls.clear()
        for start in range(0, len(records), BATCH):
            events.handle(sqs_event(records[start : start + BATCH], "arn:aws:sqs:us-east-1:1:q", "us-east-1"))
        total = sum(calls.values())
        print(
            f"the same events again (duplicates): {total} AWS requests ({total / MESSAGES:.2f} per event): "
            f"{dict(sorted(calls.items()))}"
        )


if __name__ == "__main__":
    main()
