"""Delivery counts stay exact whatever dies midway: seeded runs of events workers dying while
writing statuses or before counting them, with SQS redelivering (and dead-lettering what failed
five times, which the operator sends back), duplicate and out-of-order reports, through the real
events worker on moto. Every message must end as its latest report says, and the counts must
equal the records."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import boto3
import pytest

from chalicelib.local.pollers import sqs_event
from chalicelib.ops import dlq
from chalicelib.settings import get_settings
from chalicelib.wiring import services
from tests.integration.conftest import ACCOUNT, drain
from tests.integration.rig import Rig
from tests.integration.test_delivery_tracking import (  # noqa: F401 (delivery_env is a fixture)
    BOUNCE,
    T,
    delivery_env,
    detail,
    publish_to_topic,
    ses_event,
)
from tests.support import SimulatedClock

pytestmark = pytest.mark.integration

MESSAGES = 24
DEATH_RATE = 0.3


def _reports(
    rng: random.Random, comm_id: str, messages: list[dict[str, Any]]
) -> tuple[list[Any], dict[str, str]]:
    """One to three reports per email at random times (ties included), some published twice; and
    the status each email must end in: the latest report in provider time, a failure winning a tie."""
    reports, expected = [], {}
    for message in messages:
        decisive: tuple[Any, bool] | None = None
        for _ in range(rng.randint(1, 3)):
            bounce = rng.random() < 0.4
            at = T + timedelta(seconds=rng.randint(0, 4))
            reports.append(
                ses_event(comm_id, message, "Bounce", at, **BOUNCE)
                if bounce
                else ses_event(comm_id, message, "Delivery", at)
            )
            decisive = max(decisive or (at, bounce), (at, bounce))
        assert decisive is not None
        expected[message["id"]] = "FAILED" if decisive[1] else "DELIVERED"
    reports += rng.sample(reports, len(reports) // 4)
    rng.shuffle(reports)
    return reports, expected


def _dying(rng: random.Random, monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers that die after writing some of a group's statuses, or after all of them."""
    store = services().delivery_store
    write, close = store._write, store._close_tally

    def write_then_maybe_die(changes, token):
        if rng.random() < DEATH_RATE:
            write(changes[: rng.randint(0, len(changes))], token)
            raise TimeoutError("Lambda timed out while writing statuses")
        return write(changes, token)

    def maybe_die_before_counting(*args):
        if rng.random() < DEATH_RATE:
            raise TimeoutError("Lambda timed out before counting")
        return close(*args)

    monkeypatch.setattr(store, "_write", write_then_maybe_die)
    monkeypatch.setattr(store, "_close_tally", maybe_die_before_counting)


def _run_events_worker_until_drained(client, clock: SimulatedClock) -> None:
    """As Lambda's poller does: failed records come back, the others are deleted; a second passes
    between batches, so tallies left behind come due."""
    sqs = boto3.client("sqs")
    queue = get_settings().events_queue
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    for _ in range(2000):
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get(
            "Messages", []
        )
        if not messages:
            return
        event = sqs_event(messages, f"arn:aws:sqs:us-east-1:{ACCOUNT}:{queue}", "us-east-1")
        payload = client.lambda_.invoke("events_worker", event).payload or {}
        failed = {f["itemIdentifier"] for f in payload.get("batchItemFailures", [])}
        for message in messages:
            if message["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        clock.advance(1)
    raise AssertionError("the events queue did not drain")


@pytest.mark.usefixtures("delivery_env")
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_counts_equal_the_records_whatever_dies_midway(api, client, monkeypatch, seed):
    rng = random.Random(seed)
    accounts = [api.put_account(email=f"p{i}@example.com", channels=["email"]) for i in range(MESSAGES)]
    comm_id = api.create_communication(channels=["email"])
    api.set_audience(comm_id, accounts)
    api.call("post", f"/communications/{comm_id}/send")
    drain(client)
    messages = api.call("get", f"/communications/{comm_id}/messages?limit=200").json["items"]
    reports, expected = _reports(rng, comm_id, messages)

    # GIVEN events workers that often die midway, on a clock where tallies come due after 5 s
    store = services().delivery_store
    clock = SimulatedClock(store._clock.now())
    monkeypatch.setattr(store, "_clock", clock)
    monkeypatch.setattr(store, "_tally_settle_s", 5.0)
    _dying(rng, monkeypatch)
    # WHEN the reports arrive, and SQS redelivers until every record went through
    publish_to_topic(*reports)
    _run_events_worker_until_drained(client, clock)
    # A record that failed five times in a row lands in the DLQ: the operator sends it back.
    sqs = boto3.client("sqs")
    [events_dlq] = [q for q in dlq.dead_letter_queues(sqs, get_settings()) if q.source == "events"]
    while dlq.redrive(sqs, events_dlq):
        _run_events_worker_until_drained(client, clock)
    monkeypatch.undo()
    Rig().sweep(after_s=3600)

    # THEN every email ends as its latest report says, and the counts are those of the records
    ended = {
        m["id"]: m["status"]
        for m in api.call("get", f"/communications/{comm_id}/messages?limit=200").json["items"]
    }
    assert ended == expected
    counts = detail(api, comm_id)["counts"]
    assert counts["delivered"] == sum(s == "DELIVERED" for s in ended.values())
    assert counts["delivery_failed"] == sum(s == "FAILED" for s in ended.values())
    tallies = boto3.client("dynamodb").query(
        TableName=get_settings().audiences_table,
        KeyConditionExpression="comm_id = :c AND begins_with(sk, :t)",
        ExpressionAttributeValues={":c": {"S": comm_id}, ":t": {"S": "tally#"}},
    )["Items"]
    assert tallies == []
