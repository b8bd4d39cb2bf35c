"""The events SES publishes for a sent email, as its configuration set's Firehose destination
takes them.

Shaped like the local stack's SES simulator (chalicelib/local/sandboxes.py): what the template's
event destination matches, delivery news only: a `Delivery`, or a permanent `Bounce` for every
hundredth address. Each is one JSON record on the events delivery stream, put
`FILE_EVENTS` at a time: moto's Firehose writes each PutRecordBatch as one file in the events
bucket, and S3 reports it on the event files queue. Deployed, Firehose buffers up to 1 MB (about
700 of these events) or a minute, so its files hold as many or more.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

ACCOUNT_ID = "123456789012"
FILE_EVENTS = 500  # records a PutRecordBatch takes at most


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


def put_on_stream(firehose: Any, stream: str, events: list[dict[str, Any]]) -> int:
    """Put `events` on the events delivery stream, one record each; returns the files written."""
    files = 0
    for start in range(0, len(events), FILE_EVENTS):
        records = [{"Data": record(event)} for event in events[start : start + FILE_EVENTS]]
        response = firehose.put_record_batch(DeliveryStreamName=stream, Records=records)
        if response.get("FailedPutCount"):
            raise RuntimeError(f"Firehose refused {response['FailedPutCount']} events")
        files += 1
    return files


def record(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()
