"""Business metrics: the EMF adapter writes lines CloudWatch turns into the metrics the alarms
watch. What the sender counts is tested through the real handlers: tests/integration/test_send_metrics.py."""

from __future__ import annotations

import json

import pytest

from chalicelib.adapters.metrics import EmfMetrics
from chalicelib.domain.ports import MetricName

pytestmark = pytest.mark.unit


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
