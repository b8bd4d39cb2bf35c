"""The sender's business metrics, through the real handlers on moto: one count per outcome and
channel per window, and one per provider throttle."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from chalicelib.domain.ports import MetricName
from tests.integration.rig import Rig
from tests.support import CallHooks, error_response

pytestmark = pytest.mark.integration


class RecordingMetrics:
    def __init__(self) -> None:
        self.counts: list[tuple[str, int, dict[str, str]]] = []

    def count(self, name: str, value: int = 1, dimensions: Mapping[str, str] | None = None) -> None:
        self.counts.append((str(name), value, dict(dimensions or {})))

    def total(self, name: str, **dimensions: str) -> int:
        return sum(v for n, v, d in self.counts if n == name and d == dimensions)


def test_sent_failed_skipped_and_throttles_are_counted(api, client):
    # GIVEN accounts preferring both channels: one without a phone, one whose email SES refuses for
    # good, and SES throttling the first attempt at the third
    ok = api.put_account(channels=["email", "sms"], email="ok@example.com", phone="+15145550101")
    no_phone = api.put_account(channels=["email", "sms"], email="nophone@example.com", phone=None)
    refused = api.put_account(channels=["email", "sms"], email="bad@example.com", phone="+15145550102")
    comm_id = api.create_communication(channels=["email", "sms"])
    assert api.set_audience(comm_id, [ok, no_phone, refused]).json["accepted"] == 3
    rig = Rig()
    metrics = RecordingMetrics()
    rig.svc.metrics = metrics  # before the sender is built: it takes the container's metrics
    throttled = []

    def misbehave(operation, params):
        to = params["Destination"]["ToAddresses"][0]
        if to == "bad@example.com":
            return error_response("MessageRejected", "Email address is not verified.", 400)
        if to == "ok@example.com" and not throttled:
            throttled.append(to)
            return error_response("TooManyRequestsException", "Maximum sending rate exceeded.", 429)
        return None

    CallHooks(rig.svc.sesv2).before = misbehave
    # WHEN it goes out
    assert api.call("post", f"/communications/{comm_id}/send").status_code == 202
    rig.drain()
    # THEN each outcome is counted by channel, and the throttle once
    assert metrics.total(MetricName.MESSAGES_SENT, channel="email") == 2
    assert metrics.total(MetricName.MESSAGES_SENT, channel="sms") == 2
    assert metrics.total(MetricName.MESSAGES_FAILED, channel="email") == 1
    assert metrics.total(MetricName.MESSAGES_SKIPPED, channel="sms") == 1
    assert metrics.total(MetricName.PROVIDER_THROTTLES) == 1
