"""What the operator's DLQ listing says of each kind of record."""

from __future__ import annotations

import json

import pytest

from chalicelib.adapters.events_queue import retry_body
from chalicelib.domain.delivery import DeliveryEvent, DeliveryOutcome
from chalicelib.domain.models import Channel
from chalicelib.ops.dlq import describe
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
