"""The events SES publishes for a sent email, as its configuration set's SNS destination sends them.

Shaped like the local stack's SES simulator (chalicelib/local/sandboxes.py): what the template's
event destination matches, delivery news only: a `Delivery`, or a permanent `Bounce` for every
hundredth address. Each goes on the events queue in the envelope SNS delivers to an SQS
subscription without raw message delivery (the template's), ten per SendMessageBatch, as SNS
would put them there. (Publishing through moto's SNS instead costs a fresh signing certificate
per message and grows moto's memory by gigabytes over twenty thousand events.)
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

ACCOUNT_ID = "123456789012"
PUBLISH_BATCH = 10


def _iso_ms(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def for_email(
    ses_message_id: str,
    to: str,
    subject: str,
    tags: dict[str, str],
    sent_at: datetime,
    configuration_set: str,
    bounce: bool = False,
) -> list[dict[str, Any]]:
    source = "notices@herald.example"
    mail = {
        "timestamp": _iso_ms(sent_at),
        "source": source,
        "sourceArn": f"arn:aws:ses:us-east-1:{ACCOUNT_ID}:identity/{source}",
        "sendingAccountId": ACCOUNT_ID,
        "messageId": ses_message_id,
        "destination": [to],
        "headersTruncated": False,
        "headers": [{"name": "To", "value": to}, {"name": "Subject", "value": subject}],
        "commonHeaders": {"from": [source], "to": [to], "messageId": ses_message_id, "subject": subject},
        "tags": {
            "ses:configuration-set": [configuration_set],
            "ses:operation": ["SendEmail"],
            **{name: [value] for name, value in tags.items()},
        },
    }
    reported_at = sent_at + timedelta(seconds=2)
    events: list[dict[str, Any]] = []
    if bounce:
        events.append(
            {
                "eventType": "Bounce",
                "mail": mail,
                "bounce": {
                    "bounceType": "Permanent",
                    "bounceSubType": "General",
                    "bouncedRecipients": [
                        {
                            "emailAddress": to,
                            "action": "failed",
                            "status": "5.1.1",
                            "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                        }
                    ],
                    "timestamp": _iso_ms(reported_at),
                    "feedbackId": f"{ses_message_id}-bounce",
                    "reportingMTA": "dsn; a8-1.smtp-out.amazonses.com",
                },
            }
        )
    else:
        events.append(
            {
                "eventType": "Delivery",
                "mail": mail,
                "delivery": {
                    "timestamp": _iso_ms(reported_at),
                    "processingTimeMillis": 2000,
                    "recipients": [to],
                    "smtpResponse": "250 2.6.0 Message received",
                    "reportingMTA": "a8-1.smtp-out.amazonses.com",
                },
            }
        )
    return events


def enqueue(sqs: Any, queue_url: str, events: list[dict[str, Any]], topic: str) -> int:
    """Put `events` on the events queue as SNS delivers them; returns the number of events."""
    for start in range(0, len(events), PUBLISH_BATCH):
        entries = [
            {"Id": str(index), "MessageBody": json.dumps(_envelope(event, topic))}
            for index, event in enumerate(events[start : start + PUBLISH_BATCH])
        ]
        response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        if response.get("Failed"):
            raise RuntimeError(f"SQS refused events: {response['Failed'][:1]}")
    return len(events)


def _envelope(event: dict[str, Any], topic: str) -> dict[str, Any]:
    return {
        "Type": "Notification",
        "MessageId": str(uuid.uuid4()),
        "TopicArn": topic,
        "Message": json.dumps(event),
        "Timestamp": _iso_ms(datetime.now(UTC)),
        "SignatureVersion": "1",
        "Signature": "",
        "SigningCertURL": f"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-{ACCOUNT_ID}.pem",
        "UnsubscribeURL": f"https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={topic}:1",
    }


def topic_arn(stage: str = "dev", region: str = "us-east-1") -> str:
    return f"arn:aws:sns:{region}:{ACCOUNT_ID}:herald-{stage}-events"
