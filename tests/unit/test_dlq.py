"""What the operator's DLQ listing says of each kind of record."""

from __future__ import annotations

import json

import pytest

from chalicelib.adapters.events_queue import retry_body
from chalicelib.domain.delivery import DeliveryEvent, DeliveryOutcome
from chalicelib.domain.models import Channel
from chalicelib.ops.dlq import describe, main
from tests.unit.test_delivery_tracker import T0

pytestmark = pytest.mark.unit


def test_delivery_event_records_are_described_as_what_they_carry():
    envelope = {
        "Type": "Notification",
        "TopicArn": "arn:aws:sns:us-east-1:1:herald-dev-events",
        "Message": "{}",
    }
    event = DeliveryEvent("ses", "e-1", DeliveryOutcome.DELIVERED, T0, Channel.EMAIL, "c-1", "m-1")
    assert describe(json.dumps(envelope)) == "provider event from arn:aws:sns:us-east-1:1:herald-dev-events"
    assert describe(retry_body([event], 3)) == "1 delivery events handed back (attempt 3)"
    assert describe("{]").startswith("not JSON")


def test_show_or_redrive_without_a_queue_names_every_queue_and_touches_nothing(capsys, monkeypatch):
    monkeypatch.setattr("boto3.client", lambda *a, **k: pytest.fail("no AWS call for a bad command line"))
    with pytest.raises(SystemExit) as exited:
        main(["redrive"])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert "redrive needs a queue: one of plan, send, urgent-send, events" in error


def test_an_unknown_queue_is_refused_with_the_queues_there_are(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["show", "nope"])
    assert exited.value.code == 2
    assert "events" in capsys.readouterr().err
