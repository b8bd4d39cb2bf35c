"""Deployed stages (HERALD_AUTH_MODE=cognito): API Gateway's Cognito authorizer verified the token
and passed its claims; the app trusts those claims only, so a dev token is refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.local.tokens import mint_dev_token
from chalicelib.settings import get_settings

pytestmark = pytest.mark.integration


@pytest.fixture
def cognito_mode(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("HERALD_AUTH_MODE", "cognito")
    get_settings.cache_clear()
    yield
    monkeypatch.delenv("HERALD_AUTH_MODE")
    get_settings.cache_clear()


def _gateway_event(
    method: str, path: str, token: str | None = None, claims: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A REST API proxy event, as API Gateway hands it to the API function after its authorizer ran."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    context: dict[str, Any] = {
        "resourcePath": path,
        "httpMethod": method,
        "requestId": "req-1",
        "stage": "api",
    }
    if claims is not None:
        context["authorizer"] = {"claims": claims}
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": context,
        "body": None,
        "isBase64Encoded": False,
    }


def _invoke(event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """The API function's Lambda entry point (the Chalice app object), as API Gateway calls it."""
    from chalice.local import LambdaContext

    from app import app

    response = app(event, LambdaContext("api_handler", memory_size=512))
    return response["statusCode"], json.loads(response["body"])


def _claims(groups: str) -> dict[str, Any]:
    return {"sub": "c0gn170-5ub", "given_name": "Ada", "family_name": "Lovelace", "cognito:groups": groups}


def test_a_dev_token_is_refused_on_a_deployed_stage(aws: None, cognito_mode: None) -> None:
    token = mint_dev_token("admin-1", "Ada", "Lovelace")

    status, body = _invoke(_gateway_event("GET", "/communications", token=token))

    assert status == 401
    assert body["error"]["code"] == "unauthorized" and body["error"]["details"] == []


def test_the_authorizers_claims_identify_an_admin(aws: None, cognito_mode: None) -> None:
    status, body = _invoke(_gateway_event("GET", "/communications", claims=_claims("mass_communications")))

    assert status == 200
    assert body == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    "groups", ["mass_communications:read", "[mass_communications:read]", "billing,mass_communications:read"]
)
def test_a_viewer_group_reads_but_cannot_write(aws: None, cognito_mode: None, groups: str) -> None:
    assert _invoke(_gateway_event("GET", "/communications", claims=_claims(groups)))[0] == 200

    status, body = _invoke(_gateway_event("POST", "/communications", claims=_claims(groups)))

    assert status == 403 and body["error"]["code"] == "forbidden"


def test_claims_without_a_group_are_forbidden(aws: None, cognito_mode: None) -> None:
    status, _ = _invoke(_gateway_event("GET", "/communications", claims=_claims("billing")))
    assert status == 403


def test_locally_forged_authorizer_claims_count_for_nothing(aws: None) -> None:
    # Dev mode verifies its own tokens; a request context cannot stand in for one.
    status, _ = _invoke(_gateway_event("GET", "/communications", claims=_claims("mass_communications")))
    assert status == 401
