"""A send rig for integration tests: the real handlers on moto, on simulated time, with as many
worker "containers" as a test needs, and hooks to make their AWS calls fail."""

from __future__ import annotations

import time
from typing import Any

import boto3

from chalicelib.local.pollers import sqs_event
from chalicelib.settings import Settings
from chalicelib.wiring import Services
from chalicelib.workers import plan as plan_worker
from chalicelib.workers import send as send_worker
from tests.support import ACCOUNT, REGION, SimulatedClock, SimulatedContext

LANES = {"plan": "plan_queue", "send": "send_queue", "urgent-send": "urgent_send_queue"}


class Rig:
    def __init__(self, **settings: Any) -> None:
        self.clock = SimulatedClock(time.time())
        settings.setdefault("email_rate_per_s", "1000")
        settings.setdefault("sms_rate_per_s", "1000")
        settings.setdefault("status_cache_s", 0.0)
        self.settings = Settings(**settings)
        # Delays asked for when tasks are handed back; the rig queues them at once.
        self.delays: list[int] = []
        self.svc = self.container()
        self.sqs = boto3.client("sqs")

    def container(self) -> Services:
        """Another worker container: its own clients, caches and rate-limit blocks."""
        svc = Services(self.settings, self.clock)
        svc.sqs.meta.events.register("before-parameter-build.sqs.SendMessageBatch", self._no_delay)
        return svc

    def _no_delay(self, params: dict[str, Any], **_: Any) -> None:
        for entry in params.get("Entries", []):
            if entry.get("DelaySeconds"):
                self.delays.append(entry.pop("DelaySeconds"))

    def url(self, lane: str) -> str:
        return str(self.sqs.get_queue_url(QueueName=getattr(self.settings, LANES[lane]))["QueueUrl"])

    def receive(self, lane: str, count: int = 10) -> list[dict[str, Any]]:
        return list(
            self.sqs.receive_message(
                QueueUrl=self.url(lane),
                MaxNumberOfMessages=count,
                VisibilityTimeout=3600,
                AttributeNames=["All"],
            ).get("Messages", [])
        )

    def deliver(
        self,
        lane: str,
        svc: Services | None = None,
        messages: list[dict[str, Any]] | None = None,
        count: int = 10,
        timeout_s: float = 300,
    ) -> list[dict[str, Any]]:
        """One batch to the lane's handler, as Lambda's event source mapping would; deletes
        what succeeded. Returns the batch."""
        svc = svc or self.svc
        batch = messages if messages is not None else self.receive(lane, 1 if lane == "plan" else count)
        if not batch:
            return []
        event = sqs_event(batch, f"arn:aws:sqs:{REGION}:{ACCOUNT}:{lane}", REGION)
        if lane == "plan":
            response = plan_worker.handle(event, svc)
        else:
            response = send_worker.handle(event, SimulatedContext(self.clock, timeout_s), svc)
        failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
        for message in batch:
            if message["MessageId"] in failed:
                # Its visibility timeout runs out at once: SQS delivers it again.
                self.sqs.change_message_visibility(
                    QueueUrl=self.url(lane), ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
            else:
                self.sqs.delete_message(QueueUrl=self.url(lane), ReceiptHandle=message["ReceiptHandle"])
        return batch

    def again(self, lane: str, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The batch's visibility timeout ran out: its records are received again."""
        for message in batch:
            self.sqs.change_message_visibility(
                QueueUrl=self.url(lane), ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
        return self.receive(lane)

    def drain(self, svc: Services | None = None, rounds: int = 200) -> None:
        for _ in range(rounds):
            worked = [self.deliver(lane, svc) for lane in ("plan", "urgent-send", "send")]
            if not any(worked):
                return
        raise AssertionError("queues did not drain")

    def depth(self, lane: str) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.url(lane),
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return sum(int(v) for v in attributes.values())

    def sweep(self, after_s: float = 0) -> dict[str, int]:
        self.clock.advance(after_s)
        return dict(self.svc.sweeper.sweep())
