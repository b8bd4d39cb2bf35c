"""Provider REST calls over one pooled urllib3 client (botocore ships urllib3, so no SDK to import).

Nothing here retries: a request that timed out may have been taken, and the sender never resends
blindly. Answers map to the domain's send failures the same way for every provider.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.errors import PermanentFailure, SendFailure, Throttled, TransientFailure


def pool(timeout_s: float, max_connections: int = 20) -> Any:
    """The one connection pool a Lambda container uses for every provider."""
    import urllib3

    return urllib3.PoolManager(
        num_pools=8,
        maxsize=max_connections,
        retries=False,
        timeout=urllib3.Timeout(connect=min(3.0, timeout_s), read=timeout_s),
    )


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")[:500]


def request(
    http: Any,
    provider: str,
    method: str,
    url: str,
    *,
    headers: dict[str, str],
    body: bytes | None = None,
    fields: dict[str, str] | list[tuple[str, str]] | None = None,
) -> HttpAnswer:
    """Send one request; connection trouble becomes TransientFailure with the provider's name."""
    import urllib3

    try:
        if fields is not None:
            response = http.request(method, url, fields=fields, headers=headers, encode_multipart=False)
        else:
            response = http.request(method, url, body=body, headers=headers)
    except urllib3.exceptions.HTTPError as error:
        raise TransientFailure(f"{provider}: no answer ({type(error).__name__})") from error
    return HttpAnswer(
        status=response.status,
        body=response.data or b"",
        headers={k.lower(): v for k, v in response.headers.items()},
    )


def failure_for(provider: str, answer: HttpAnswer, reason: str) -> SendFailure:
    """429 → Throttled, 5xx → TransientFailure, any other refusal → PermanentFailure."""
    text = f"{provider} {answer.status}: {reason}".strip().rstrip(":")
    if answer.status == 429:
        return Throttled(text)
    if answer.status >= 500:
        return TransientFailure(text)
    return PermanentFailure(text)


def basic_auth(user: str, password: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
