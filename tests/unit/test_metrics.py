"""Business metrics: the sender reports what happened per task, and the EMF adapter writes lines
CloudWatch turns into the metrics the alarms watch."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping

import pytest

from chalicelib.adapters.metrics import EmfMetrics
from chalicelib.domain.communications import CommunicationService
from chalicelib.domain.errors import PermanentFailure, Throttled
from chalicelib.domain.models import Admin, Channel
from chalicelib.domain.ports import MetricName
from chalicelib.domain.sending import Planner, Sender
from tests.unit.conftest import DraftMaker, Pipeline
from tests.unit.fakes import FakeAccountDirectory, FakeEmailSender, FakeSmsSender, FakeWorkQueue

pytestmark = pytest.mark.unit


class RecordingMetrics:
    def __init__(self) -> None:
        self.counts: list[tuple[str, int, dict[str, str]]] = []

    def count(self, name: str, value: int = 1, dimensions: Mapping[str, str] | None = None) -> None:
        self.counts.append((str(name), value, dict(dimensions or {})))

    def total(self, name: str, **dimensions: str) -> int:
        return sum(v for n, v, d in self.counts if n == name and d == dimensions)


@pytest.fixture
def metrics() -> RecordingMetrics:
    return RecordingMetrics()


@pytest.fixture
def measured(planner: Planner, sender: Sender, queue: FakeWorkQueue, metrics: RecordingMetrics) -> Pipeline:
    return Pipeline(planner, dataclasses.replace(sender, metrics=metrics), queue)


def _send(
    make_draft: DraftMaker, service: CommunicationService, admin: Admin, account_ids: list[str]
) -> None:
    draft = make_draft(channels=[Channel.EMAIL, Channel.SMS])
    service.set_audience_csv(draft.comm_id, "account_id\n" + "\n".join(account_ids) + "\n", by=admin)
    service.send(draft.comm_id, by=admin)


def test_sent_failed_and_skipped_messages_are_counted_by_channel(
    make_draft: DraftMaker,
    service: CommunicationService,
    admin: Admin,
    directory: FakeAccountDirectory,
    email_sender: FakeEmailSender,
    measured: Pipeline,
    metrics: RecordingMetrics,
) -> None:
    # GIVEN two accounts preferring both channels: one without a phone, one whose email bounces for good
    no_phone = directory.add(email="ada@example.com", phone=None)
    refused = directory.add(email="bad@example.com", phone="+15145550123")
    email_sender.fail("bad@example.com", PermanentFailure("SES 550: mailbox unavailable"))
    # WHEN the communication goes out
    _send(make_draft, service, admin, [no_phone.account_id, refused.account_id])
    measured.run()
    # THEN each outcome is counted once per channel, as a message count
    assert metrics.total(MetricName.MESSAGES_SENT, channel="email") == 1
    assert metrics.total(MetricName.MESSAGES_SENT, channel="sms") == 1
    assert metrics.total(MetricName.MESSAGES_FAILED, channel="email") == 1
    assert metrics.total(MetricName.MESSAGES_SKIPPED, channel="sms") == 1
    assert metrics.total(MetricName.PROVIDER_THROTTLES) == 0


def test_every_provider_throttle_is_counted(
    make_draft: DraftMaker,
    service: CommunicationService,
    admin: Admin,
    directory: FakeAccountDirectory,
    sms_sender: FakeSmsSender,
    measured: Pipeline,
    metrics: RecordingMetrics,
) -> None:
    account = directory.add(phone="+15145550199")
    sms_sender.fail("+15145550199", Throttled("SNS Throttling: Rate exceeded"), times=2)

    _send(make_draft, service, admin, [account.account_id])
    measured.run()

    assert metrics.total(MetricName.PROVIDER_THROTTLES) == 2
    assert metrics.total(MetricName.MESSAGES_SENT, channel="sms") == 1


def test_emf_lines_carry_namespace_service_and_dimensions() -> None:
    lines: list[str] = []
    EmfMetrics("Herald/prod", "herald", write=lines.append).count(
        MetricName.MESSAGES_SENT, 7, {"channel": "sms"}
    )
    EmfMetrics("Herald/prod", "herald", write=lines.append).count(MetricName.PROVIDER_THROTTLES)

    sent, throttles = (json.loads(line) for line in lines)
    (directive,) = sent["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "Herald/prod"
    assert directive["Metrics"] == [{"Name": "MessagesSent", "Unit": "Count"}]
    assert sorted(directive["Dimensions"][0]) == ["channel", "service"]
    assert (sent["MessagesSent"], sent["channel"], sent["service"]) == ([7.0], "sms", "herald")
    # The alarm on ProviderThrottles names exactly the service dimension.
    assert throttles["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]
    assert throttles["ProviderThrottles"] == [1.0]
