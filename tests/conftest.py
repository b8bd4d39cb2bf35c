"""Shared fixtures: moto in-process with the resources from infra/, dev tokens, the Chalice test client."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.pop("AWS_ENDPOINT_URL", None)
# Tests send fast; the rate limiter's own tests set their ceilings.
os.environ.setdefault("HERALD_EMAIL_RATE_PER_S", "1000")
os.environ.setdefault("HERALD_SMS_RATE_PER_S", "1000")
# Tests send at any hour: the default contact window is always open; contact-hours tests set theirs.
os.environ.setdefault("HERALD_CONTACT_HOURS_START", "00:00")
os.environ.setdefault("HERALD_CONTACT_HOURS_END", "24:00")
os.environ.setdefault("HERALD_CONTACT_DAYS", "mon,tue,wed,thu,fri,sat,sun")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Moto in-process with Herald's tables, queues and bucket created from infra/template.json,
    its DynamoDB as the embedded stack serves it (chalicelib/local/moto_dynamodb.py)."""
    import boto3
    from moto import mock_aws

    from chalicelib.local import moto_dynamodb
    from chalicelib.local.resources import create_resources_with_clients
    from chalicelib.settings import get_settings
    from chalicelib.wiring import services

    moto_dynamodb.install()

    with mock_aws():
        resource_env = create_resources_with_clients(
            boto3.client("cloudformation"), boto3.client("ses"), dynamodb=boto3.client("dynamodb")
        )
        for name, value in resource_env.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        services.cache_clear()
        yield
        services.cache_clear()
    get_settings.cache_clear()


@pytest.fixture
def token() -> str:
    from chalicelib.local.tokens import mint_dev_token

    return mint_dev_token("admin-1", "Ada", "Lovelace")


@pytest.fixture
def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


@pytest.fixture
def client(aws: None) -> Iterator[Any]:
    from chalice.test import Client

    from app import app

    with Client(app) as test_client:
        yield test_client


def account_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "first_name": "Marie",
        "last_name": "Curie",
        "email": "marie@example.com",
        "phone": "+15145550100",
        "language": "fr",
        "channels": ["email", "sms"],
    }
    body.update(overrides)
    return body


def new_uuid() -> str:
    return str(uuid.uuid4())


def dumps(body: Any) -> str:
    return json.dumps(body)
