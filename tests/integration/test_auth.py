"""Who may do what: 401 without a valid token, 403 without the permission, viewers only read."""

from __future__ import annotations

import time

import jwt
import pytest

from chalicelib.local.tokens import mint_dev_token
from tests.conftest import account_body

pytestmark = pytest.mark.integration


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def test_no_token_is_401(client):
    response = client.http.get("/communications")
    assert response.status_code == 401


def test_a_token_signed_with_another_secret_is_401(client):
    forged = jwt.encode(
        {"sub": "x", "exp": time.time() + 60, "permissions": "mass_communications"}, "wrong-key-" * 4
    )
    assert client.http.get("/communications", headers=_headers(forged)).status_code == 401


def test_an_expired_token_is_401(client):
    expired = mint_dev_token("a", "A", "B", ttl_s=-10)
    assert client.http.get("/communications", headers=_headers(expired)).status_code == 401


def test_without_the_permission_is_403(client):
    token = mint_dev_token("a", "A", "B", permissions="billing")
    response = client.http.get("/communications", headers=_headers(token))
    assert response.status_code == 403
    assert b"Mass Communications permission" in response.body


def test_a_viewer_reads_but_cannot_write(client):
    token = mint_dev_token("v", "Vera", "Viewer", permissions="mass_communications:read")
    assert client.http.get("/communications", headers=_headers(token)).status_code == 200
    response = client.http.put(
        "/accounts/7b0e4c1e-8f3a-4f55-9a55-0b7b7c0d1e2f", headers=_headers(token), body=str(account_body())
    )
    assert response.status_code == 403


def test_health_needs_no_token(client):
    assert client.http.get("/health").status_code == 200
