"""The events SES publishes for a sent email, as its configuration set's SNS destination sends them.

Shaped like the local stack's SES simulator (chalicelib/local/sandboxes.py): a `Send` event (the
template's event destination matches it), then `Delivery`, or a permanent `Bounce` for every
hundredth address. Published to the events topic, which moto delivers to the events queue, as
SNS does in AWS.
"""

from __future__ import annotations

import json
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
    events: list[dict[str, Any]] = [{"eventType": "Send", "mail": mail, "send": {}}]
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


def publish(sns: Any, topic_arn: str, events: list[dict[str, Any]]) -> int:
    """Publish `events` to the topic, ten per request; returns the number of events published."""
    for start in range(0, len(events), PUBLISH_BATCH):
        entries = [
            {"Id": str(index), "Message": json.dumps(event)}
            for index, event in enumerate(events[start : start + PUBLISH_BATCH])
        ]
        response = sns.publish_batch(TopicArn=topic_arn, PublishBatchRequestEntries=entries)
        if response.get("Failed"):
            raise RuntimeError(f"SNS refused events: {response['Failed'][:1]}")
    return len(events)


def topic_arn(stage: str = "dev", region: str = "us-east-1") -> str:
    return f"arn:aws:sns:{region}:{ACCOUNT_ID}:herald-{stage}-events"
