"""What the sending tests, the fault-injection suite and the benchmark share: simulated time, a
Lambda context on it, and botocore hooks that make AWS calls fail the ways they do in life."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError

ACCOUNT = "123456789012"
REGION = "us-east-1"


def offline_aws_environment() -> None:
    """Dummy credentials and a region for moto; nothing may point a client anywhere else."""
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")] + [
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
    ]:
        os.environ.pop(name, None)


class SimulatedClock:
    """Time that moves only when told (and when someone sleeps): leases expire on cue."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.t = start

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.t += seconds

    def advance(self, seconds: float) -> None:
        self.t += seconds


class SimulatedContext:
    """A Lambda context whose remaining time runs on a simulated clock."""

    def __init__(self, clock: SimulatedClock, timeout_s: float = 300) -> None:
        self._clock = clock
        self._deadline = clock.now() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - self._clock.now()) * 1000))


class WorkerCrash(BaseException):
    """The worker's process dies right here (Lambda killed it, out of memory): nothing after it
    runs, no exception handler sees it, SQS gets no answer."""


def error_response(code: str, message: str, status: int) -> tuple[AWSResponse, dict[str, Any]]:
    """What a before-call hook returns to make botocore raise this error without sending anything."""
    http = AWSResponse("https://aws.invalid/", status, {}, io.BytesIO(b""))
    parsed = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status, "RetryAttempts": 0},
    }
    return http, parsed


def read_timeout() -> ReadTimeoutError:
    return ReadTimeoutError(endpoint_url="https://email.us-east-1.amazonaws.com/")


def connection_refused() -> EndpointConnectionError:
    return EndpointConnectionError(endpoint_url="https://email.us-east-1.amazonaws.com/")


Hook = Callable[..., Any]


class CallHooks:
    """Hooks on one boto3 client: `before(operation, params)` may return an error response or
    raise; `after(operation, params, parsed)` runs once the service took the call (it may raise
    too: the call happened, the caller never hears of it). `params` are the call's arguments."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.before: Callable[[str, dict[str, Any]], Any] | None = None
        self.after: Callable[[str, dict[str, Any], dict[str, Any]], None] | None = None
        service = client.meta.service_model.service_id.hyphenize()
        events = client.meta.events
        events.register(f"before-parameter-build.{service}", self._keep_params)
        events.register_first(f"before-call.{service}", self._before)
        events.register(f"after-call.{service}", self._after)

    @staticmethod
    def _keep_params(params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        context["herald_params"] = json.loads(json.dumps(params, default=str))

    def _before(self, model: Any, context: dict[str, Any], **_: Any) -> Any:
        if self.before is None:
            return None
        return self.before(model.name, context.get("herald_params", {}))

    def _after(
        self, http_response: Any, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        if self.after is not None and http_response.status_code < 300:
            self.after(model.name, context.get("herald_params", {}), parsed)


def sent_emails() -> list[Any]:
    from moto.ses.models import ses_backends

    return list(ses_backends[ACCOUNT][REGION].sent_messages)


def sent_sms() -> list[tuple[str, str]]:
    from moto.sns.models import sns_backends

    return list(sns_backends[ACCOUNT][REGION].sms_messages.values())


@contextmanager
def item_level_transaction_rollback() -> Iterator[None]:
    """moto's DynamoDB as the embedded stack runs it: a transaction backs up only the items it
    writes (moto copies whole tables: seconds per commit with ten thousand message records)."""
    from chalicelib.local import moto_dynamodb

    moto_dynamodb.install()
    yield


DATA_PLANE = frozenset(
    {
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "BatchWriteItem",
        "TransactWriteItems",
        "BatchExecuteStatement",
    }
)


@contextmanager
def plain_json_dynamodb_responses() -> Iterator[None]:
    """Render moto's DynamoDB data-plane answers with json.dumps instead of its model-driven
    serializer: the same bytes for these operations (items are already in wire form), and the
    serializer is where moto spends most of a large batch read."""
    from moto.dynamodb.responses import DynamoResult

    from chalicelib.local.moto_dynamodb import wire_json

    original = DynamoResult.execute_result

    def execute_result(self: Any, context: Any) -> Any:
        if context.operation_model.name not in DATA_PLANE or not isinstance(self.result, dict):
            return original(self, context)
        return 200, {"Content-Type": "application/x-amz-json-1.0"}, wire_json(self.result)

    DynamoResult.execute_result = execute_result  # type: ignore[method-assign]
    try:
        yield
    finally:
        DynamoResult.execute_result = original  # type: ignore[method-assign]


@contextmanager
def quicker_moto() -> Iterator[None]:
    """Both of the above, SQS that does not recount a queue's messages at every send and receive
    (chalicelib/local/moto_sqs.py), and projections that do not convert whole items
    (chalicelib/local/moto_dynamodb.py): moto with the speed a ten-thousand-message run needs."""
    from chalicelib.local import moto_dynamodb, moto_sqs

    moto_sqs.install()
    moto_dynamodb.install_quick_projection()
    with item_level_transaction_rollback(), plain_json_dynamodb_responses():
        yield
