"""The embedded stack's parts: resources from infra/, SQS pollers, dev tokens, and the entry point."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import boto3
import jwt
import pytest
from moto import mock_aws

from chalicelib.local.pollers import Consumer, QueuePoller, failed_ids
from chalicelib.local.resources import (
    LOCAL_RESOURCE_TYPES,
    create_resources_with_clients,
    load_template,
    local_template,
)
from chalicelib.local.stack import free_port
from chalicelib.local.ticker import ScheduledFunction, ScheduleTicker, scheduled_functions_from_app
from chalicelib.local.tokens import VIEWER, mint_dev_token, mint_for_name

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        create_resources_with_clients(boto3.client("cloudformation"), boto3.client("ses"), stage="dev")
        yield


def _queue_url(name: str) -> str:
    url: str = boto3.client("sqs").get_queue_url(QueueName=name)["QueueUrl"]
    return url


def _drain(name: str) -> list[str]:
    sqs = boto3.client("sqs")
    got = sqs.receive_message(QueueUrl=_queue_url(name), MaxNumberOfMessages=10, VisibilityTimeout=0)
    return sorted(m["Body"] for m in got.get("Messages", []))


# -- resources -------------------------------------------------------------------------------


@pytest.mark.infra
def test_local_resources_are_the_templates_tables_and_queues(aws: None) -> None:
    ddb = boto3.client("dynamodb")
    for resource in local_template()["Resources"].values():
        props = resource["Properties"]
        if resource["Type"] == "AWS::S3::Bucket":
            continue  # test_local_bucket_has_the_templates_lifecycle_and_notifications
        if resource["Type"] == "AWS::SNS::Topic" and props.get("Subscription"):
            name = props["TopicName"]["Fn::Sub"].replace("${Stage}", "dev")
            [topic] = [t for t in boto3.client("sns").list_topics()["Topics"] if t["TopicArn"].endswith(name)]
            subscriptions = boto3.client("sns").list_subscriptions_by_topic(TopicArn=topic["TopicArn"])
            assert [s["Endpoint"].split(":")[-1] for s in subscriptions["Subscriptions"]] == [
                "herald-dev-events"
            ]
        elif resource["Type"] == "AWS::DynamoDB::Table":
            table = ddb.describe_table(TableName=props["TableName"]["Fn::Sub"].replace("${Stage}", "dev"))[
                "Table"
            ]
            assert table["KeySchema"] == props["KeySchema"]
            described = {g["IndexName"]: g["KeySchema"] for g in table.get("GlobalSecondaryIndexes", [])}
            assert described == {
                g["IndexName"]: g["KeySchema"] for g in props.get("GlobalSecondaryIndexes", [])
            }
        elif resource["Type"] == "AWS::SQS::Queue":
            name = props["QueueName"]["Fn::Sub"].replace("${Stage}", "dev")
            attrs = boto3.client("sqs").get_queue_attributes(
                QueueUrl=_queue_url(name), AttributeNames=["All"]
            )
            if "RedrivePolicy" in props:
                redrive = json.loads(attrs["Attributes"]["RedrivePolicy"])
                assert redrive["deadLetterTargetArn"].endswith(f":{name}-dlq")
                assert redrive["maxReceiveCount"] == props["RedrivePolicy"]["maxReceiveCount"]
    assert "notices@herald.example" in boto3.client("ses").list_identities()["Identities"]


@pytest.mark.infra
def test_local_bucket_has_the_templates_lifecycle_and_notifications(aws: None) -> None:
    # GIVEN the local resources (the `aws` fixture created them from infra/template.json)
    bucket = f"herald-dev-{ACCOUNT_ID}-files"
    s3 = boto3.client("s3")
    # THEN the bucket expires uploads and notifies the audience-import queue of new CSVs
    rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
    assert rules["expire-audience-uploads"]["Expiration"] == {"Days": 2}
    assert rules["expire-audience-uploads"]["Filter"] == {"Prefix": "audience-uploads/"}
    notifications = s3.get_bucket_notification_configuration(Bucket=bucket)["QueueConfigurations"]
    assert [n["QueueArn"].rsplit(":", 1)[1] for n in notifications] == ["herald-dev-audience-import"]
    # AND an object created under audience-uploads/ reaches that queue as an S3 event
    s3.put_object(Bucket=bucket, Key="audience-uploads/c1/u1.csv", Body=b"account_id\n")
    s3.put_object(Bucket=bucket, Key="exports/elsewhere.csv", Body=b"x")
    bodies = [json.loads(b) for b in _drain("herald-dev-audience-import")]
    keys = [unquote_plus(r["s3"]["object"]["key"]) for body in bodies for r in body.get("Records", [])]
    assert keys == ["audience-uploads/c1/u1.csv"]


@pytest.mark.infra
def test_creating_resources_twice_is_harmless(aws: None) -> None:
    tables = [r for r in local_template()["Resources"].values() if r["Type"] == "AWS::DynamoDB::Table"]
    env = create_resources_with_clients(boto3.client("cloudformation"), boto3.client("ses"), stage="dev")
    assert len(boto3.client("dynamodb").list_tables()["TableNames"]) == len(tables) == 10
    assert env == {
        "HERALD_FILES_BUCKET": f"herald-dev-{ACCOUNT_ID}-files",
        "HERALD_EVENTS_BUCKET": f"herald-dev-{ACCOUNT_ID}-events",
    }


@pytest.mark.infra
def test_local_template_keeps_only_standalone_resources() -> None:
    kept = local_template()["Resources"]
    assert {r["Type"] for r in kept.values()} <= LOCAL_RESOURCE_TYPES
    assert set(kept) < set(load_template()["Resources"])
    assert local_template()["Conditions"] == load_template()["Conditions"]


# -- pollers ---------------------------------------------------------------------------------


class RecordingHandler:
    """Fails records whose body starts with "fail", raises on "boom"."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.contexts: list[Any] = []

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.events.append(event)
        self.contexts.append(context)
        if any(r["body"] == "boom" for r in event["Records"]):
            raise RuntimeError("boom")
        return {
            "batchItemFailures": [
                {"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"].startswith("fail")
            ]
        }


def _poller(handler: RecordingHandler, visibility_timeout_s: int = 0) -> QueuePoller:
    consumer = Consumer(name="send_worker", queue_name="herald-dev-send", handler=handler, batch_size=10)
    return QueuePoller(
        consumer, boto3.client("sqs"), region=REGION, visibility_timeout_s=visibility_timeout_s
    )


@pytest.mark.infra
def test_poller_deletes_exactly_the_records_not_reported_as_failures(aws: None) -> None:
    sqs = boto3.client("sqs")
    for body in ("ok-1", "fail-1", "ok-2"):
        sqs.send_message(
            QueueUrl=_queue_url("herald-dev-send"),
            MessageBody=body,
            MessageAttributes={"kind": {"DataType": "String", "StringValue": "task"}},
        )
    handler = RecordingHandler()

    assert _poller(handler, visibility_timeout_s=0).poll_once(wait_time_s=0) == 3

    assert _drain("herald-dev-send") == ["fail-1"]
    record = handler.events[0]["Records"][0]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"].endswith(":herald-dev-send")
    assert record["awsRegion"] == REGION
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["messageAttributes"]["kind"]["stringValue"] == "task"
    assert {"messageId", "receiptHandle", "body", "md5OfBody"} <= set(record)
    context = handler.contexts[0]
    assert context.function_name == "send_worker"
    assert 0 < context.get_remaining_time_in_millis() <= 300_000
    assert context.invoked_function_arn.endswith(":function:send_worker")


@pytest.mark.infra
def test_poller_deletes_nothing_when_the_handler_raises(aws: None) -> None:
    sqs = boto3.client("sqs")
    for body in ("ok-1", "boom"):
        sqs.send_message(QueueUrl=_queue_url("herald-dev-send"), MessageBody=body)

    _poller(RecordingHandler()).poll_once(wait_time_s=0)

    assert _drain("herald-dev-send") == ["boom", "ok-1"]


@pytest.mark.infra
def test_a_record_failing_max_receive_count_times_lands_in_the_dlq(aws: None) -> None:
    boto3.client("sqs").send_message(QueueUrl=_queue_url("herald-dev-send"), MessageBody="fail-always")
    handler = RecordingHandler()
    poller = _poller(handler)

    for _ in range(6):
        poller.poll_once(wait_time_s=0)

    assert len(handler.events) == 5
    assert _drain("herald-dev-send") == []
    assert _drain("herald-dev-send-dlq") == ["fail-always"]


def test_an_identifier_outside_the_batch_fails_the_whole_batch() -> None:
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": "x"}]}, {"a", "b"}) == {"a", "b"}
    assert failed_ids({"batchItemFailures": []}, {"a"}) == set()
    assert failed_ids(None, {"a"}) == set()


@pytest.mark.infra
def test_poller_thread_stops_on_its_event(aws: None) -> None:
    poller = _poller(RecordingHandler())
    poller.start()
    poller.stop(timeout_s=5)
    assert not poller.is_alive()


@pytest.mark.infra
def test_local_tables_get_the_templates_time_to_live(aws: None) -> None:
    create_resources_with_clients(
        boto3.client("cloudformation"), boto3.client("ses"), stage="dev", dynamodb=boto3.client("dynamodb")
    )
    ttl = boto3.client("dynamodb").describe_time_to_live(TableName="herald-dev-messages")[
        "TimeToLiveDescription"
    ]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")


# -- schedule ticker -------------------------------------------------------------------------


def test_the_ticker_finds_the_apps_schedule_handlers() -> None:
    import app

    functions = {f.name: f for f in scheduled_functions_from_app(app, lambda name: (60, 512))}
    # One ticker runs both: scheduled communications and the sending sweep.
    assert sorted(functions) == ["schedule_tick", "sweep"]
    assert {f.expression for f in functions.values()} == {"rate(1 minute)"}
    assert functions["schedule_tick"].handler is app.schedule_tick
    assert functions["sweep"].handler is app.sweep


def test_each_tick_sends_an_eventbridge_scheduled_event_and_survives_a_failing_handler() -> None:
    events: list[dict[str, Any]] = []
    contexts: list[Any] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        events.append(event)
        contexts.append(context)
        if len(events) == 1:
            raise RuntimeError("DynamoDB throttled")
        return {"started": []}

    ticker = ScheduleTicker([ScheduledFunction("schedule_tick", "rate(1 minute)", handler)], interval_s=0.05)
    assert ticker.tick() == [None]  # the failure is logged; the next tick runs again
    ticker.start()
    deadline = time.monotonic() + 5
    while len(events) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    ticker.stop(timeout_s=5)
    assert not ticker.is_alive() and len(events) >= 3
    event = events[-1]
    assert (event["source"], event["detail-type"], event["detail"]) == ("aws.events", "Scheduled Event", {})
    assert event["resources"][0].startswith("arn:aws:events:us-east-1:")
    assert event["time"].endswith("Z")
    assert contexts[-1].function_name == "schedule_tick"


def test_a_ticker_needs_a_positive_interval() -> None:
    with pytest.raises(ValueError):
        ScheduleTicker([], interval_s=0)


# -- tokens ----------------------------------------------------------------------------------


def test_dev_token_carries_the_claims_the_app_reads() -> None:
    token = mint_dev_token("u-1", "Ada", "Lovelace", secret="s" * 32)
    claims = jwt.decode(token, "s" * 32, algorithms=["HS256"])
    assert claims["sub"] == "u-1"
    assert (claims["given_name"], claims["family_name"]) == ("Ada", "Lovelace")
    assert claims["permissions"] == "mass_communications"
    assert claims["exp"] > time.time()


def test_read_only_token_for_a_name() -> None:
    claims = jwt.decode(
        mint_for_name("Grace Hopper", read_only=True, secret="k" * 32), "k" * 32, algorithms=["HS256"]
    )
    assert claims["permissions"] == VIEWER
    assert claims["family_name"] == "Hopper"


# -- entry point -----------------------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.slow
def test_python_m_chalicelib_local_serves_health_and_stops_on_sigterm() -> None:
    http_port, moto_port = free_port(), free_port()
    env = {**os.environ, "HERALD_PORT": str(http_port), "HERALD_MOTO_PORT": str(moto_port)}
    process = subprocess.Popen(
        [sys.executable, "-m", "chalicelib.local"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    output = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            output.append(line)
            if "Herald is running at" in line:
                break
        assert f"Herald is running at http://127.0.0.1:{http_port}" in "".join(output), "".join(output)
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/health", timeout=5) as response:
            assert json.loads(response.read()) == {"status": "ok"}
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# -- schedule ticker -------------------------------------------------------------------------
