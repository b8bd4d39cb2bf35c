"""Which provider errors prove the message was not taken (retry), which leave it in doubt (never resend)."""

from __future__ import annotations

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from chalicelib.adapters.aws_errors import classify
from chalicelib.domain.errors import OutcomeUnknown, PermanentFailure, Throttled, TransientFailure

pytestmark = pytest.mark.unit


def _client_error(code: str, status: int, message: str = "boom") -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "SendEmail",
    )


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (_client_error("TooManyRequestsException", 429), Throttled),
        (_client_error("Throttling", 400), Throttled),
        (_client_error("ServiceUnavailable", 503), TransientFailure),
        (_client_error("InternalFailure", 500), TransientFailure),
        (_client_error("GatewayTimeout", 504), OutcomeUnknown),
        (_client_error("MessageRejected", 400, "Email address is not verified."), PermanentFailure),
        (EndpointConnectionError(endpoint_url="https://email"), TransientFailure),
        (ConnectTimeoutError(endpoint_url="https://email"), TransientFailure),
        (ReadTimeoutError(endpoint_url="https://email"), OutcomeUnknown),
        (ConnectionClosedError(endpoint_url="https://email"), OutcomeUnknown),
    ],
)
def test_errors_are_classified_by_what_they_prove(error, kind):
    assert type(classify("SES", error)) is kind


def test_the_error_an_admin_reads_names_the_provider_and_its_reason():
    failure = classify("SES", _client_error("MessageRejected", 400, "Email address is not verified."))
    assert failure.reason == "SES MessageRejected: Email address is not verified."
