"""SQS work queues: planning tasks and send tasks, many messages per SQS message.

Send tasks go to the send queue, or to the urgent send queue for urgent communications: a
separate consumer works through it, so an urgent message never waits behind bulk ones.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cached_property
from typing import Any

from chalicelib.domain.models import Channel
from chalicelib.domain.ports import PlannedAccount, SendTask

SEND_BATCH_MAX = 10


def send_task_to_body(task: SendTask) -> str:
    accounts = [[a.account_id, [str(c) for c in a.channels]] for a in task.accounts]
    body: dict[str, Any] = {
        "comm_id": task.comm_id,
        "task_id": task.task_id,
        "accounts": accounts,
        "chunk": task.chunk,
        "start": task.start,
    }
    if task.urgent:
        body["urgent"] = True
    if task.deferred:
        body["deferred"] = True
    return json.dumps(body, separators=(",", ":"))


def send_task_from_body(body: str) -> SendTask:
    raw = json.loads(body)
    accounts = tuple(PlannedAccount(a[0], tuple(Channel(c) for c in a[1])) for a in raw["accounts"])
    return SendTask(
        comm_id=raw["comm_id"],
        task_id=raw["task_id"],
        accounts=accounts,
        chunk=int(raw.get("chunk", 0)),
        start=int(raw.get("start", 0)),
        urgent=bool(raw.get("urgent", False)),
        deferred=bool(raw.get("deferred", False)),
    )


def planning_from_body(body: str) -> tuple[str, int]:
    raw = json.loads(body)
    return raw["comm_id"], int(raw["first_chunk"])


class SqsWorkQueue:
    def __init__(self, client: Any, plan_queue: str, send_queue: str, urgent_send_queue: str) -> None:
        self._client = client
        self._plan_queue = plan_queue
        self._send_queue = send_queue
        self._urgent_send_queue = urgent_send_queue

    def _url(self, name: str) -> str:
        return str(self._client.get_queue_url(QueueName=name)["QueueUrl"])

    @cached_property
    def _plan_url(self) -> str:
        return self._url(self._plan_queue)

    @cached_property
    def _send_url(self) -> str:
        return self._url(self._send_queue)

    @cached_property
    def _urgent_send_url(self) -> str:
        return self._url(self._urgent_send_queue)

    def enqueue_planning(self, comm_id: str, first_chunk: int) -> None:
        body = json.dumps({"comm_id": comm_id, "first_chunk": first_chunk})
        self._client.send_message(QueueUrl=self._plan_url, MessageBody=body)

    def enqueue_send_tasks(self, tasks: Sequence[SendTask], delay_s: int = 0) -> None:
        for urgent in (True, False):
            lane = [task for task in tasks if task.urgent is urgent]
            url = self._urgent_send_url if urgent else self._send_url
            for start in range(0, len(lane), SEND_BATCH_MAX):
                entries = [
                    {"Id": str(index), "MessageBody": send_task_to_body(task), "DelaySeconds": delay_s}
                    for index, task in enumerate(lane[start : start + SEND_BATCH_MAX])
                ]
                response = self._client.send_message_batch(QueueUrl=url, Entries=entries)
                failed = response.get("Failed") or []
                if failed:
                    raise RuntimeError(f"SQS refused {len(failed)} send tasks: {failed[0].get('Message')}")


class SqsJobQueue:
    """Job ids on the jobs queue, one SQS message each."""

    def __init__(self, client: Any, queue: str) -> None:
        self._client = client
        self._queue = queue

    @cached_property
    def _url(self) -> str:
        return str(self._client.get_queue_url(QueueName=self._queue)["QueueUrl"])

    def enqueue_job(self, job_id: str) -> None:
        self._client.send_message(QueueUrl=self._url, MessageBody=json.dumps({"job_id": job_id}))


def job_id_from_body(body: str) -> str:
    return str(json.loads(body)["job_id"])


def created_keys_from_body(body: str) -> list[str]:
    """Object keys of the files an S3 ObjectCreated notification reports (none for s3:TestEvent)."""
    from urllib.parse import unquote_plus

    event = json.loads(body)
    return [
        unquote_plus(record["s3"]["object"]["key"])
        for record in event.get("Records", [])
        if str(record.get("eventName", "")).startswith("ObjectCreated")
    ]
