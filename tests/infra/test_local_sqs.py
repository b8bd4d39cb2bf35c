"""The embedded stack's SQS: sending skips the whole-queue attribute pass
(chalicelib/local/moto_sqs.py), and queues still behave as SQS does."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from chalicelib.local import moto_sqs
from chalicelib.local.stack import free_port


@pytest.fixture(scope="module")
def sqs() -> Iterator[Any]:
    moto_sqs.install()
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield boto3.client(
        "sqs",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    server.stop()


def test_a_standard_queue_still_counts_what_it_holds(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="tasks")["QueueUrl"]
    for start in range(0, 30, 10):
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "MessageBody": f"task {i}"} for i in range(start, start + 10)],
        )
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60)

    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]

    assert attributes["ApproximateNumberOfMessages"] == "20"
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "10"
    assert "ContentBasedDeduplication" not in attributes


def test_a_fifo_queue_with_content_based_deduplication_drops_a_repeat(sqs: Any) -> None:
    url = sqs.create_queue(
        QueueName="dedup.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    )["QueueUrl"]

    sqs.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="g")
    sqs.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="g")

    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    assert [m["Body"] for m in received] == ["same"]


def test_a_fifo_queue_without_it_still_requires_a_deduplication_id(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="plain.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]

    with pytest.raises(ClientError) as raised:
        sqs.send_message(QueueUrl=url, MessageBody="no id", MessageGroupId="g")

    assert raised.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ContentBasedDeduplication"])[
        "Attributes"
    ] == {"ContentBasedDeduplication": "false"}
