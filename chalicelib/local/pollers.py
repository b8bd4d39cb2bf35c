"""Feed SQS batches from moto to the real worker handlers, the way Lambda's event source does.

One ``QueuePoller`` thread per consumer: receive up to ``batch_size`` messages, build a
Lambda-shaped SQS event, call the handler, then delete exactly the records the handler did
not list in ``batchItemFailures`` (ReportBatchItemFailures semantics). When the handler
raises, or reports an identifier that is not in the batch, nothing is deleted. Records left
behind reappear after the (short, local) visibility timeout; moto moves them to the DLQ once
they have been received ``maxReceiveCount`` times, as SQS does.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from chalicelib.local import MOTO_ACCOUNT_ID

log = logging.getLogger("herald.local.pollers")
RECEIVE_MAX = 10  # messages per ReceiveMessage and per DeleteMessageBatch call

SqsHandler = Callable[[dict[str, Any], Any], Any]


@dataclass
class FakeLambdaContext:
    """The attributes Lambda's context object has that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int = 512
    timeout_s: int = 300
    region: str = "us-east-1"
    account_id: str = MOTO_ACCOUNT_ID
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    _deadline: float = field(default=0.0, init=False, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_s
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass(frozen=True)
class Consumer:
    """One SQS consumer of the app: what ``@app.on_sqs_message`` declares."""

    name: str
    queue_name: str
    handler: SqsHandler
    batch_size: int = 10
    timeout_s: int = 300
    memory_mb: int = 512


def sqs_event(messages: Iterable[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda's SQS event source passes for these ReceiveMessage results."""
    return {"Records": [_record(m, queue_arn, region) for m in messages]}


def _record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {
            name: _message_attribute(value) for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def _message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": value["DataType"],
    }
    if "StringValue" in value:
        out["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        out["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode("ascii")
    return out


def failed_ids(response: Any, batch_ids: set[str]) -> set[str]:
    """Message ids to keep, from a handler's partial batch response.

    As Lambda does: no response or an empty list means all succeeded; a malformed response
    or an identifier not in the batch fails the whole batch.
    """
    if response is None:
        return set()
    if not isinstance(response, dict):
        log.error("handler returned %r, not a batch response: the whole batch fails", type(response))
        return set(batch_ids)
    failures = response.get("batchItemFailures") or []
    ids: set[str] = set()
    for failure in failures:
        item = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not item or item not in batch_ids:
            log.error("batchItemFailures has %r, not in the batch: the whole batch fails", failure)
            return set(batch_ids)
        ids.add(item)
    return ids


class QueuePoller:
    """Long-polls one queue on a thread of its own and invokes one handler, until ``stop_event`` is set."""

    def __init__(
        self,
        consumer: Consumer,
        sqs_client: Any,
        *,
        region: str = "us-east-1",
        visibility_timeout_s: int = 5,
        wait_time_s: int = 1,
        stop_event: threading.Event | None = None,
    ) -> None:
        self.consumer = consumer
        self._sqs = sqs_client
        self._region = region
        self._visibility_timeout_s = visibility_timeout_s
        self._wait_time_s = wait_time_s
        self.stop_event = stop_event or threading.Event()
        self._busy = threading.Event()
        self._queue_url: str | None = None
        self._queue_arn: str | None = None
        self._thread = threading.Thread(target=self._run, name=f"poller-{consumer.name}", daemon=True)

    @property
    def busy(self) -> bool:
        """True while a batch is being handled."""
        return self._busy.is_set()

    @property
    def queue_url(self) -> str:
        if self._queue_url is None:
            self._queue_url = self._sqs.get_queue_url(QueueName=self.consumer.queue_name)["QueueUrl"]
        return self._queue_url

    @property
    def queue_arn(self) -> str:
        if self._queue_arn is None:
            attributes = self._sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])
            self._queue_arn = attributes["Attributes"]["QueueArn"]
        return self._queue_arn

    def start(self) -> None:
        self._thread.start()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout_s: float | None = 10) -> None:
        """Ask the loop to stop and wait for the batch in hand, if any, to finish."""
        self.stop_event.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.poll_once()
            except Exception:
                log.exception("poller %s: receive/delete failed", self.consumer.name)
                self.stop_event.wait(1)

    def poll_once(self, wait_time_s: int | None = None) -> int:
        """Receive one batch, hand it to the handler, delete what succeeded. Returns the batch size.

        SQS returns at most ten messages a call; a larger batch is gathered from the calls that
        come back full, as Lambda's poller does within its batching window.
        """
        messages = self._receive(self._wait_time_s if wait_time_s is None else wait_time_s)
        while messages and len(messages) % RECEIVE_MAX == 0 and len(messages) < self.consumer.batch_size:
            more = self._receive(0)
            if not more:
                break
            messages.extend(more)
        if not messages:
            return 0
        self._busy.set()
        try:
            self._invoke(messages)
        finally:
            self._busy.clear()
        return len(messages)

    def _receive(self, wait_time_s: int) -> list[dict[str, Any]]:
        received = self._sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=min(self.consumer.batch_size, RECEIVE_MAX),
            WaitTimeSeconds=wait_time_s,
            VisibilityTimeout=self._visibility_timeout_s,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages: list[dict[str, Any]] = received.get("Messages", [])
        return messages

    def _invoke(self, messages: list[dict[str, Any]]) -> None:
        event = sqs_event(messages, self.queue_arn, self._region)
        context = FakeLambdaContext(
            function_name=self.consumer.name,
            memory_limit_in_mb=self.consumer.memory_mb,
            timeout_s=self.consumer.timeout_s,
            region=self._region,
        )
        batch_ids = {m["MessageId"] for m in messages}
        try:
            response = self.consumer.handler(event, context)
        except Exception:
            log.exception(
                "%s raised on a batch of %d: nothing deleted, SQS will redeliver",
                self.consumer.name,
                len(messages),
            )
            return
        keep = failed_ids(response, batch_ids)
        done = [m for m in messages if m["MessageId"] not in keep]
        if keep:
            log.warning(
                "%s: %d of %d records failed, left for retry", self.consumer.name, len(keep), len(messages)
            )
        if done:
            self._delete_succeeded(done)

    def _delete_succeeded(self, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), RECEIVE_MAX):
            chunk = messages[start : start + RECEIVE_MAX]
            result = self._sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
            for failure in result.get("Failed", []):
                log.error("%s: delete failed: %s", self.consumer.name, failure)


def consumers_from_app(app_module: Any, function_config: Callable[[str], tuple[int, int]]) -> list[Consumer]:
    """The SQS consumers the Chalice app declares (``@app.on_sqs_message``).

    ``function_config(name)`` gives (timeout_s, memory_mb) for a function, from .chalice/config.json.
    """
    from chalice.app import SQSEventConfig

    consumers = []
    for source in app_module.app.event_sources:
        if not isinstance(source, SQSEventConfig) or not source.queue:
            continue
        timeout_s, memory_mb = function_config(source.name)
        consumers.append(
            Consumer(
                name=source.name,
                queue_name=source.queue,
                handler=getattr(app_module, source.name),
                batch_size=source.batch_size,
                timeout_s=timeout_s,
                memory_mb=memory_mb,
            )
        )
    return consumers
