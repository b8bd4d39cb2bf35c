"""Mapping AWS SDK errors to the domain's send failures."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain.errors import PermanentFailure, SendFailure, Throttled, TransientFailure

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


def classify(provider: str, error: Exception) -> SendFailure:
    """Throttled / TransientFailure / PermanentFailure for an SDK error, with the provider's text."""
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        code = details.get("Code", "Unknown")
        text = f"{provider} {code}: {details.get('Message', '')}".strip()
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400)
        if code in THROTTLE_CODES or status == 429:
            return Throttled(text)
        if code in TRANSIENT_CODES or status >= 500:
            return TransientFailure(text)
        return PermanentFailure(text)
    if isinstance(error, BotoCoreError):
        return TransientFailure(f"{provider}: {error}")
    return TransientFailure(f"{provider}: {error}")
