"""Structured logs on Lambda: every line of an invocation carries its correlation id (API Gateway's
request id, or the SQS message id per record) and the ids the code logs; off Lambda nothing changes."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from chalicelib import observability
from chalicelib.settings import get_settings
from chalicelib.workers.batch import process_sqs_batch

pytestmark = pytest.mark.unit

log = logging.getLogger("chalicelib.domain.example")


def _reset() -> None:
    get_settings.cache_clear()
    observability.powertools_logger.cache_clear()
    observability.tracer.cache_clear()


@pytest.fixture
def on_lambda(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """What the function prints to stdout (CloudWatch Logs), while it runs as if on Lambda."""
    app_logger = logging.getLogger(observability.APP_LOGGER)
    saved = (list(app_logger.handlers), app_logger.level, app_logger.propagate)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "herald-dev-SendWorker-abc123")
    monkeypatch.setenv("HERALD_STAGE", "dev")
    _reset()
    stdout = io.StringIO()
    # Powertools keeps one handler per service for the process; point it at this test's buffer.
    previous = observability.powertools_logger().registered_handler.setStream(stdout)
    yield stdout
    observability.powertools_logger().registered_handler.setStream(previous)
    app_logger.handlers, app_logger.level, app_logger.propagate = saved
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME")
    _reset()


def _json_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_an_http_request_logs_json_with_the_gateway_request_id(
    on_lambda: None, capsys: pytest.CaptureFixture[str]
) -> None:
    request = SimpleNamespace(context={"requestId": "req-42"})

    def view(event: Any) -> str:
        log.info("communication sent", extra={"comm_id": "c-1"})
        return "ok"

    assert observability.middleware(request, view) == "ok"

    (line,) = _json_lines(on_lambda.getvalue())
    assert line["message"] == "communication sent"
    assert (line["correlation_id"], line["comm_id"], line["level"]) == ("req-42", "c-1", "INFO")
    assert (line["service"], line["stage"]) == ("herald", "dev")
    assert line["function_name"] == "herald-dev-SendWorker-abc123"


def test_logs_stay_json_once_the_app_has_served_a_request(on_lambda: io.StringIO) -> None:
    # On Lambda the Chalice app handles the first request before any middleware logs.
    from chalice.local import LambdaContext

    from app import app

    event = {
        "resource": "/health",
        "path": "/health",
        "httpMethod": "GET",
        "headers": {},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {"resourcePath": "/health", "httpMethod": "GET", "requestId": "req-7"},
        "body": None,
        "isBase64Encoded": False,
    }
    assert app(event, LambdaContext("api_handler", memory_size=512))["statusCode"] == 200

    observability.middleware(SimpleNamespace(context={"requestId": "req-8"}), lambda _: log.warning("after"))

    (line,) = _json_lines(on_lambda.getvalue())
    assert (line["message"], line["correlation_id"]) == ("after", "req-8")


def test_each_sqs_record_logs_with_its_own_message_id(
    on_lambda: None, capsys: pytest.CaptureFixture[str]
) -> None:
    records = [
        {
            "messageId": f"m-{n}",
            "receiptHandle": "r",
            "body": f"task-{n}",
            "attributes": {},
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:1:q",
            "awsRegion": "us-east-1",
        }
        for n in (1, 2)
    ]

    def handle(body: str) -> None:
        log.info("handled %s", body)

    observability.middleware(SimpleNamespace(), lambda _: process_sqs_batch({"Records": records}, handle))

    lines = _json_lines(on_lambda.getvalue())
    assert [(line["message"], line["correlation_id"]) for line in lines] == [
        ("handled task-1", "m-1"),
        ("handled task-2", "m-2"),
    ]


def test_off_lambda_the_middleware_leaves_logging_alone() -> None:
    _reset()
    app_logger = logging.getLogger(observability.APP_LOGGER)
    before = list(app_logger.handlers)

    assert observability.middleware(SimpleNamespace(context={"requestId": "r"}), lambda _: 204) == 204

    assert observability.powertools_logger() is None and observability.tracer() is None
    assert app_logger.handlers == before
