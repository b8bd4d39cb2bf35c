"""Mapping AWS SDK errors to the domain's send failures.

What matters is whether the error proves the provider did not take the message:

- an explicit answer (any error response with a body) means the call failed: Throttled (429 or a
  throttling code), TransientFailure (5xx: safe to retry) or PermanentFailure (4xx);
- no connection at all (refused, DNS, connect timeout, TLS handshake) means nothing was sent:
  TransientFailure;
- no answer after the request went out (read timeout, connection dropped mid-response, a
  gateway's 504) may mean the provider took it: OutcomeUnknown, never resent.
"""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError

from chalicelib.domain.errors import (
    OutcomeUnknown,
    PermanentFailure,
    SendFailure,
    Throttled,
    TransientFailure,
)

THROTTLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "LimitExceededException",
    }
)
TRANSIENT_CODES = frozenset(
    {"InternalFailure", "InternalError", "ServiceUnavailable", "InternalErrorException"}
)
GATEWAY_TIMEOUT = 504


def classify(provider: str, error: Exception) -> SendFailure:
    """Throttled / TransientFailure / OutcomeUnknown / PermanentFailure, with the provider's text."""
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        code = details.get("Code", "Unknown")
        text = f"{provider} {code}: {details.get('Message', '')}".strip()
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400)
        if code in THROTTLE_CODES or status == 429:
            return Throttled(text)
        if status == GATEWAY_TIMEOUT:
            return OutcomeUnknown(text)
        if code in TRANSIENT_CODES or status >= 500:
            return TransientFailure(text)
        return PermanentFailure(text)
    if isinstance(error, ConnectionError):
        return TransientFailure(f"{provider} unreachable: {error}")
    if isinstance(error, HTTPClientError):
        return OutcomeUnknown(f"{provider} did not answer: {error}")
    if isinstance(error, BotoCoreError):
        return TransientFailure(f"{provider}: {error}")
    return OutcomeUnknown(f"{provider}: {error}")
