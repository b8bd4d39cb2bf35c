"""Dead-letter queues: what landed there after the redrive count, and sending it back.

    python -m chalicelib.ops.dlq                      # each queue's DLQ and how many wait there
    python -m chalicelib.ops.dlq show send            # what is in the send queue's DLQ
    python -m chalicelib.ops.dlq redrive send         # move it back to the send queue

Queues: plan, send, urgent-send, events, event-files. Sending a task back is safe: claims drop what
was already done; so is sending delivery events (or a file of them) back: tracking applies each
event once.
``make dlq`` runs it against the local stack.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chalicelib.adapters.events_queue import RETRY_KEY
from chalicelib.adapters.queue import created_keys_from_body
from chalicelib.settings import Settings, get_settings

BATCH = 10


@dataclass(frozen=True)
class DeadLetterQueue:
    source: str  # plan | send | urgent-send | events | event-files
    source_url: str
    name: str
    url: str
    depth: int


def source_queues(settings: Settings) -> dict[str, str]:
    return {
        "plan": settings.plan_queue,
        "send": settings.send_queue,
        "urgent-send": settings.urgent_send_queue,
        "events": settings.events_queue,
        "event-files": settings.event_files_queue,
    }


def dead_letter_queues(sqs: Any, settings: Settings) -> list[DeadLetterQueue]:
    """Each source queue's DLQ (found through its redrive policy) and its depth."""
    found = []
    for source, queue_name in source_queues(settings).items():
        source_url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=source_url, AttributeNames=["RedrivePolicy"])
        policy = json.loads(attributes["Attributes"]["RedrivePolicy"])
        name = policy["deadLetterTargetArn"].rsplit(":", 1)[-1]
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        depth = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        found.append(DeadLetterQueue(source, source_url, name, url, sum(int(v) for v in depth.values())))
    return found


def describe(body: str) -> str:
    """What a queued body is, in a line."""
    try:
        raw = json.loads(body)
    except ValueError:
        return f"not JSON: {body[:120]!r}"
    if isinstance(raw, dict) and "task_id" in raw:
        accounts = raw.get("accounts") or []
        return f"send task {raw['task_id']} of communication {raw.get('comm_id')} ({len(accounts)} accounts)"
    if isinstance(raw, dict) and "first_chunk" in raw:
        return f"planning of communication {raw.get('comm_id')} from chunk {raw['first_chunk']}"
    if isinstance(raw, dict) and raw.get("Type") == "Notification":
        return f"provider event from {raw.get('TopicArn')}"
    if isinstance(raw, dict) and RETRY_KEY in raw:
        return f"{len(raw[RETRY_KEY])} delivery events handed back (attempt {raw.get('attempt')})"
    if isinstance(raw, dict) and raw.get("Records") and "s3" in raw["Records"][0]:
        return f"file of delivery events {', '.join(created_keys_from_body(body))}"
    return f"unexpected: {body[:120]!r}"


def peek(sqs: Any, queue: DeadLetterQueue, limit: int = BATCH) -> list[dict[str, Any]]:
    """Up to `limit` messages of a DLQ, left where they are."""
    seen: dict[str, dict[str, Any]] = {}
    while len(seen) < limit:
        messages = sqs.receive_message(
            QueueUrl=queue.url,
            MaxNumberOfMessages=min(BATCH, limit - len(seen)),
            VisibilityTimeout=0,
            AttributeNames=["All"],
        ).get("Messages", [])
        fresh = [m for m in messages if m["MessageId"] not in seen]
        if not fresh:
            break
        for message in fresh:
            attributes = message.get("Attributes", {})
            sent = datetime.fromtimestamp(int(attributes.get("SentTimestamp", "0")) / 1000, UTC)
            seen[message["MessageId"]] = {
                "message_id": message["MessageId"],
                "sent_at": sent.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "receives": int(attributes.get("ApproximateReceiveCount", "0")),
                "what": describe(message["Body"]),
                "body": message["Body"],
            }
    return list(seen.values())


def redrive(sqs: Any, queue: DeadLetterQueue, limit: int | None = None) -> int:
    """Move messages from a DLQ back to its source queue; returns how many moved."""
    moved = 0
    while limit is None or moved < limit:
        want = BATCH if limit is None else min(BATCH, limit - moved)
        messages = sqs.receive_message(
            QueueUrl=queue.url, MaxNumberOfMessages=want, VisibilityTimeout=60
        ).get("Messages", [])
        if not messages:
            break
        sent = sqs.send_message_batch(
            QueueUrl=queue.source_url,
            Entries=[{"Id": str(i), "MessageBody": m["Body"]} for i, m in enumerate(messages)],
        )
        done = {int(entry["Id"]) for entry in sent.get("Successful", [])}
        if done:
            sqs.delete_message_batch(
                QueueUrl=queue.url,
                Entries=[{"Id": str(i), "ReceiptHandle": messages[i]["ReceiptHandle"]} for i in sorted(done)],
            )
        moved += len(done)
        if len(done) < len(messages):
            break
    return moved


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    sources = list(source_queues(settings))
    parser = argparse.ArgumentParser(prog="python -m chalicelib.ops.dlq", description=__doc__.split("\n")[0])
    parser.add_argument("action", nargs="?", choices=["list", "show", "redrive"], default="list")
    parser.add_argument("queue", nargs="?", choices=sources)
    parser.add_argument("--limit", type=int, default=None, help="at most this many messages")
    args = parser.parse_args(argv)
    if args.action != "list" and args.queue is None:
        parser.error(f"{args.action} needs a queue: one of {', '.join(sources)}")
    import boto3

    sqs = boto3.client("sqs", region_name=settings.region)
    queues = dead_letter_queues(sqs, settings)
    if args.action == "list":
        print(f"{'queue':<12} {'dead-letter queue':<36} {'messages':>8}")
        for queue in queues:
            print(f"{queue.source:<12} {queue.name:<36} {queue.depth:>8}")
        return 0
    queue = next(q for q in queues if q.source == args.queue)
    if args.action == "show":
        for message in peek(sqs, queue, args.limit or 50):
            print(f"{message['message_id']}  sent {message['sent_at']}  received {message['receives']}x")
            print(f"    {message['what']}")
        return 0
    moved = redrive(sqs, queue, args.limit)
    print(f"moved {moved} message(s) from {queue.name} back to {args.queue}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
