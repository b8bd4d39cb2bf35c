"""The embedded stack's moto server: SQS sends skip the whole-queue attribute pass and deletes
cannot lose a message sent meanwhile (chalicelib/local/moto_sqs.py), the dispatcher remembers
each host's backend (chalicelib/local/moto_dispatch.py), and services still behave as AWS's do."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.core import DEFAULT_ACCOUNT_ID as ACCOUNT
from moto.server import ThreadedMotoServer
from moto.sqs.models import sqs_backends

from chalicelib.local import moto_dispatch, moto_sqs
from chalicelib.local.stack import free_port


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    moto_dispatch.install()
    moto_sqs.install()
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def _client(service: str, endpoint: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture(scope="module")
def sqs(endpoint: str) -> Any:
    return _client("sqs", endpoint)


def test_each_service_on_one_endpoint_reaches_its_own_backend(endpoint: str) -> None:
    sqs, sns, dynamodb = (_client(service, endpoint) for service in ("sqs", "sns", "dynamodb"))
    for round_ in range(3):  # the second and third rounds use the remembered backends
        sqs.create_queue(QueueName=f"q{round_}")
        sns.create_topic(Name=f"t{round_}")
    assert len(sqs.list_queues()["QueueUrls"]) >= 3
    assert len(sns.list_topics()["Topics"]) == 3
    assert dynamodb.list_tables()["TableNames"] == []


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


def test_asking_for_some_attributes_answers_as_asking_for_all(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="asked", Attributes={"VisibilityTimeout": "45"})["QueueUrl"]
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "m"} for i in range(4)])
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)
    names = ["ApproximateNumberOfMessages", "VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds"]

    some = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    everything = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]

    assert some == {name: everything[name] for name in names}
    assert (some["ApproximateNumberOfMessages"], some["VisibilityTimeout"]) == ("3", "45")


class _SendsWhenWalkedToTheEnd(list[Any]):
    """A queue's message list that lets another request in just after a delete has walked all of it
    and before the delete puts its new list in place: the moment a send can be lost."""

    def __init__(self, messages: list[Any], let_in: Callable[[], None]) -> None:
        super().__init__(messages)
        self._let_in = let_in

    def __iter__(self) -> Iterator[Any]:
        yield from list.__iter__(self)
        self._let_in()


def test_a_message_sent_while_another_is_deleted_stays_queued(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="racing")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="first")
    first = sqs.receive_message(QueueUrl=url)["Messages"][0]
    queue = sqs_backends[ACCOUNT]["us-east-1"].get_queue("racing")
    sender = threading.Thread(target=sqs.send_message, kwargs={"QueueUrl": url, "MessageBody": "second"})

    def let_the_send_in() -> None:
        if sender.ident is None:
            sender.start()
            sender.join(timeout=1)  # done at once, unless the delete holds the queue's lock

    queue._messages = _SendsWhenWalkedToTheEnd(queue._messages, let_the_send_in)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    sender.join()

    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    assert [m["Body"] for m in received] == ["second"]
