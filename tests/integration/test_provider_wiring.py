"""Provider choice and credentials: settings pick the adapter; secrets from the env or Secrets Manager."""

from __future__ import annotations

import boto3
import pytest

from chalicelib.settings import Settings
from chalicelib.wiring import Services

pytestmark = pytest.mark.integration


def services_with(monkeypatch: pytest.MonkeyPatch, **env: str) -> Services:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Services(Settings())


@pytest.mark.parametrize(
    ("email", "sms", "email_name", "sms_name"),
    [
        ("ses", "sns", "ses", "sns"),
        ("sendgrid", "eum", "sendgrid", "eum"),
        ("mailgun", "twilio", "mailgun", "twilio"),
    ],
)
def test_settings_choose_the_provider_per_channel(monkeypatch, aws, email, sms, email_name, sms_name):
    services = services_with(monkeypatch, HERALD_EMAIL_PROVIDER=email, HERALD_SMS_PROVIDER=sms)
    assert (services.email_sender.name, services.sms_sender.name) == (email_name, sms_name)


def test_an_unknown_provider_is_a_configuration_error(monkeypatch, aws):
    with pytest.raises(ValueError, match="HERALD_EMAIL_PROVIDER"):
        _ = services_with(monkeypatch, HERALD_EMAIL_PROVIDER="postcard").email_sender


def test_provider_keys_come_from_the_environment_first_then_their_own_secret(monkeypatch, aws):
    secrets = boto3.client("secretsmanager")
    sendgrid = secrets.create_secret(Name="herald/dev/sendgrid-api-key", SecretString="SG.from-secret")
    twilio = secrets.create_secret(Name="herald/dev/twilio-auth-token", SecretString="from-secret")
    services = services_with(
        monkeypatch,
        HERALD_SENDGRID_API_KEY_SECRET=sendgrid["ARN"],
        HERALD_TWILIO_AUTH_TOKEN_SECRET=twilio["ARN"],
        HERALD_TWILIO_AUTH_TOKEN="from-env",
    )
    assert services.provider_key("sendgrid_api_key") == "SG.from-secret"
    assert services.provider_key("twilio_auth_token") == "from-env"
    assert services.provider_key("mailgun_api_key") == ""
