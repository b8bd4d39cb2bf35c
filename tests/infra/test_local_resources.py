"""The template's event plumbing, bucket and secrets, created in moto (in-process) exactly as the
local stack creates them, and used the way the deployed code uses them."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from chalicelib.local.resources import create_resources_with_clients, secret_names, stack_name
from chalicelib.settings import get_settings
from chalicelib.wiring import Services

pytestmark = pytest.mark.infra

STAGE = "dev"


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        create_resources_with_clients(
            boto3.client("cloudformation"),
            boto3.client("ses"),
            stage=STAGE,
            secretsmanager=boto3.client("secretsmanager"),
        )
        resources = boto3.client("cloudformation").describe_stack_resources(StackName=stack_name(STAGE))
        yield {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources["StackResources"]}


def test_an_sms_reply_published_to_the_events_topic_lands_in_the_events_queue(stack: dict[str, str]) -> None:
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    (topic_arn,) = [
        t["TopicArn"] for t in sns.list_topics()["Topics"] if t["TopicArn"].endswith(":herald-dev-events")
    ]
    event = {"originationNumber": "+15145551111", "destinationNumber": "+12065550152", "messageBody": "STOP"}

    sns.publish(TopicArn=topic_arn, Message=json.dumps(event))

    url = sqs.get_queue_url(QueueName="herald-dev-events")["QueueUrl"]
    (received,) = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    envelope = json.loads(received["Body"])
    assert envelope["Type"] == "Notification" and envelope["TopicArn"] == topic_arn
    assert json.loads(envelope["Message"]) == event
    redrive = json.loads(
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])["Attributes"][
            "RedrivePolicy"
        ]
    )
    assert redrive["deadLetterTargetArn"].endswith(":herald-dev-events-dlq")


def test_events_put_on_the_delivery_stream_reach_the_event_files_queue_as_a_file(
    stack: dict[str, str],
) -> None:
    from chalicelib.adapters.event_files import S3EventFiles
    from chalicelib.adapters.queue import created_keys_from_body

    firehose, sqs = boto3.client("firehose"), boto3.client("sqs")
    sent_at = "2026-11-27T12:00:00.000Z"
    delivery = {"eventType": "Delivery", "mail": {"messageId": "0100018c-ses-id", "timestamp": sent_at}}
    bounce = {"eventType": "Bounce", "mail": {"messageId": "0100018c-ses-id-2", "timestamp": sent_at}}

    firehose.put_record_batch(
        DeliveryStreamName="herald-dev-events",
        Records=[{"Data": json.dumps(e).encode()} for e in (delivery, bounce)],
    )

    url = sqs.get_queue_url(QueueName="herald-dev-event-files")["QueueUrl"]
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    # S3 also reports that the notification was set up (an s3:TestEvent, naming no file).
    (key,) = [key for message in received for key in created_keys_from_body(message["Body"])]
    assert key.startswith("events/")
    events = S3EventFiles(boto3.client("s3"), stack["EventsBucket"]).events(key)
    assert [(e.provider_message_id, str(e.outcome)) for e in events] == [
        ("0100018c-ses-id", "delivered"),
        ("0100018c-ses-id-2", "bounced"),
    ]
    redrive = json.loads(
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])["Attributes"][
            "RedrivePolicy"
        ]
    )
    assert redrive["deadLetterTargetArn"].endswith(":herald-dev-event-files-dlq")


def test_the_files_bucket_is_encrypted_and_takes_an_upload(stack: dict[str, str]) -> None:
    s3 = boto3.client("s3")
    bucket = stack["FilesBucket"]
    (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    s3.put_object(Bucket=bucket, Key="audiences/c-1.csv", Body=b"account_id\n")
    assert s3.get_object(Bucket=bucket, Key="audiences/c-1.csv")["Body"].read() == b"account_id\n"


def test_the_alarm_topic_exists(stack: dict[str, str]) -> None:
    topics = {t["TopicArn"].rsplit(":", 1)[1] for t in boto3.client("sns").list_topics()["Topics"]}
    assert topics == {"herald-dev-events", "herald-dev-alarms"}


def test_provider_keys_are_read_from_the_templates_secrets(stack: dict[str, str]) -> None:
    secrets = boto3.client("secretsmanager")
    names = secret_names(STAGE)
    arn = secrets.describe_secret(SecretId=names["SendGridWebhookPublicKeySecret"])["ARN"]
    settings = dataclasses.replace(
        get_settings(), sendgrid_webhook_public_key="", sendgrid_webhook_public_key_secret=arn
    )
    services = Services(settings)

    # GIVEN the secret the stack created, still empty: the key reads as not configured
    assert services.provider_key("sendgrid_webhook_public_key") == ""
    # WHEN an operator puts the key, THEN the functions read it (once the cached empty value ages out)
    secrets.put_secret_value(SecretId=arn, SecretString="MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE")
    assert (
        Services(settings).provider_key("sendgrid_webhook_public_key")
        == "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE"
    )
    # a value set directly (local, tests) wins over the secret
    direct = Services(dataclasses.replace(settings, sendgrid_webhook_public_key="local-key"))
    assert direct.provider_key("sendgrid_webhook_public_key") == "local-key"


def test_a_rotated_key_is_picked_up_after_the_cache_age(stack: dict[str, str]) -> None:
    secrets = boto3.client("secretsmanager")
    arn = secrets.describe_secret(SecretId=secret_names(STAGE)["TwilioAuthTokenSecret"])["ARN"]
    secrets.put_secret_value(SecretId=arn, SecretString="old-token")
    cached = Services(dataclasses.replace(get_settings(), twilio_auth_token_secret=arn, secret_max_age_s=300))
    fresh = Services(dataclasses.replace(get_settings(), twilio_auth_token_secret=arn, secret_max_age_s=0))
    assert cached.provider_key("twilio_auth_token") == fresh.provider_key("twilio_auth_token") == "old-token"

    secrets.put_secret_value(SecretId=arn, SecretString="new-token")

    assert cached.provider_key("twilio_auth_token") == "old-token"
    assert fresh.provider_key("twilio_auth_token") == "new-token"


def test_every_template_secret_exists_locally(stack: dict[str, str]) -> None:
    listed = {s["Name"] for s in boto3.client("secretsmanager").list_secrets()["SecretList"]}
    assert set(secret_names(STAGE).values()) <= listed
