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


def _measured_rig() -> tuple[Rig, RecordingMetrics]:
    rig = Rig()
    metrics = RecordingMetrics()
    rig.svc.metrics = metrics  # before the sender is built: it takes the container's metrics
    return rig, metrics


def test_sent_failed_and_skipped_messages_are_counted_by_channel(api, client):
    # GIVEN accounts preferring both channels: one without a phone, one whose email SES refuses
    # for good
    ok = api.put_account(channels=["email", "sms"], email="ok@example.com", phone="+15145550101")
    no_phone = api.put_account(channels=["email", "sms"], email="nophone@example.com", phone=None)
    refused = api.put_account(channels=["email", "sms"], email="bad@example.com", phone="+15145550102")
    comm_id = api.create_communication(channels=["email", "sms"])
    assert api.set_audience(comm_id, [ok, no_phone, refused]).json["accepted"] == 3
    rig, metrics = _measured_rig()

    def refuse_bad(operation, params):
        if params["Destination"]["ToAddresses"][0] == "bad@example.com":
            return error_response("MessageRejected", "Email address is not verified.", 400)
        return None

    CallHooks(rig.svc.sesv2).before = refuse_bad
    # WHEN it goes out
    assert api.call("post", f"/communications/{comm_id}/send").status_code == 202
    rig.drain()
    # THEN each outcome is counted once, by channel, as a message count; nothing was throttled
    assert metrics.total(MetricName.MESSAGES_SENT, channel="email") == 2
    assert metrics.total(MetricName.MESSAGES_SENT, channel="sms") == 2
    assert metrics.total(MetricName.MESSAGES_FAILED, channel="email") == 1
    assert metrics.total(MetricName.MESSAGES_FAILED, channel="sms") == 0
    assert metrics.total(MetricName.MESSAGES_SKIPPED, channel="sms") == 1
    assert metrics.total(MetricName.MESSAGES_SKIPPED, channel="email") == 0
    assert metrics.total(MetricName.PROVIDER_THROTTLES) == 0
    # and they agree with what the communication reports
    by_channel = api.call("get", f"/communications/{comm_id}").json["counts_by_channel"]
    assert (by_channel["email"]["sent"], by_channel["email"]["send_failed"]) == (2, 1)
    assert (by_channel["sms"]["sent"], by_channel["sms"]["skipped"]) == (2, 1)


def test_every_provider_throttle_is_counted(api, client):
    # GIVEN SES throttling the first attempt at one email and SNS the first two at one SMS
    first = api.put_account(channels=["email"], email="ok@example.com", phone=None)
    second = api.put_account(channels=["sms"], email=None, phone="+15145550199")
    comm_id = api.create_communication(channels=["email", "sms"])
    assert api.set_audience(comm_id, [first, second]).json["accepted"] == 2
    rig, metrics = _measured_rig()
    email_attempts: list[str] = []
    sms_attempts: list[str] = []

    def throttle_first_email(operation, params):
        email_attempts.append(params["Destination"]["ToAddresses"][0])
        if len(email_attempts) == 1:
            return error_response("TooManyRequestsException", "Maximum sending rate exceeded.", 429)
        return None

    def throttle_two_sms(operation, params):
        sms_attempts.append(params["PhoneNumber"])
        if len(sms_attempts) <= 2:
            return error_response("Throttling", "Rate exceeded", 400)
        return None

    CallHooks(rig.svc.sesv2).before = throttle_first_email
    CallHooks(rig.svc.sns).before = throttle_two_sms
    # WHEN it goes out
    assert api.call("post", f"/communications/{comm_id}/send").status_code == 202
    rig.drain()
    # THEN each throttle is counted, and the messages went out after waiting, not as failures
    assert (len(email_attempts), len(sms_attempts)) == (2, 3)
    assert metrics.total(MetricName.PROVIDER_THROTTLES) == 3
    assert metrics.total(MetricName.MESSAGES_SENT, channel="email") == 1
    assert metrics.total(MetricName.MESSAGES_SENT, channel="sms") == 1
    assert metrics.total(MetricName.MESSAGES_FAILED, channel="email") == 0
    assert metrics.total(MetricName.MESSAGES_FAILED, channel="sms") == 0
    assert api.call("get", f"/communications/{comm_id}").json["status"] == "COMPLETED"
