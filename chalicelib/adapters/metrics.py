"""Business metrics as CloudWatch embedded metric format (EMF) lines: CloudWatch Logs turns each
printed line into metric data points, with no PutMetricData call and no extra IAM permission."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)


class EmfMetrics:
    """The domain's Metrics port over Powertools' EMF serializer."""

    def __init__(self, namespace: str, service: str, write: Callable[[str], None] | None = None) -> None:
        self._namespace = namespace
        self._service = service
        self._write = write or _log_line

    def count(self, name: str, value: int = 1, dimensions: Mapping[str, str] | None = None) -> None:
        from aws_lambda_powertools.metrics import MetricUnit
        from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
            AmazonCloudWatchEMFProvider,
        )

        # One provider per line: Powertools' shared Metrics object would mix dimensions across counts.
        provider = AmazonCloudWatchEMFProvider(namespace=self._namespace, service=self._service)
        for key, dimension in (dimensions or {}).items():
            provider.add_dimension(name=key, value=dimension)
        provider.add_metric(name=name, unit=MetricUnit.Count, value=value)
        self._write(json.dumps(provider.serialize_metric_set(), separators=(",", ":")))


def _log_line(line: str) -> None:
    log.debug("metric %s", line)
