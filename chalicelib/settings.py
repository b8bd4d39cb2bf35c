"""One typed settings object, read once from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache

# Secrets: never in code; HERALD_<NAME> in the environment or the provider secret (see below).
CREDENTIAL_NAMES = (
    "sendgrid_api_key",
    "sendgrid_webhook_public_key",
    "mailgun_api_key",
    "mailgun_signing_key",
    "twilio_auth_token",
)


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _stage() -> str:
    return _env("HERALD_STAGE", "dev")


def _resource(kind: str) -> str:
    return f"herald-{_stage()}-{kind}"


@dataclass(frozen=True)
class Settings:
    stage: str = field(default_factory=_stage)
    region: str = field(default_factory=lambda: _env("AWS_DEFAULT_REGION", "us-east-1"))

    accounts_table: str = field(default_factory=lambda: _env("HERALD_ACCOUNTS_TABLE", _resource("accounts")))
    communications_table: str = field(
        default_factory=lambda: _env("HERALD_COMMUNICATIONS_TABLE", _resource("communications"))
    )
    messages_table: str = field(default_factory=lambda: _env("HERALD_MESSAGES_TABLE", _resource("messages")))
    audiences_table: str = field(
        default_factory=lambda: _env("HERALD_AUDIENCES_TABLE", _resource("audiences"))
    )

    plan_queue: str = field(default_factory=lambda: _env("HERALD_PLAN_QUEUE", _resource("plan")))
    send_queue: str = field(default_factory=lambda: _env("HERALD_SEND_QUEUE", _resource("send")))

    auth_mode: str = field(default_factory=lambda: _env("HERALD_AUTH_MODE", "dev"))
    dev_jwt_secret: str = field(default_factory=lambda: _env("HERALD_DEV_JWT_SECRET", "herald-dev-secret"))

    from_email: str = field(default_factory=lambda: _env("HERALD_FROM_EMAIL", "notices@herald.example"))
    from_name: str = field(default_factory=lambda: _env("HERALD_FROM_NAME", "Herald"))
    ses_configuration_set: str = field(default_factory=lambda: _env("HERALD_SES_CONFIGURATION_SET", ""))
    sms_sender_id: str = field(default_factory=lambda: _env("HERALD_SMS_SENDER_ID", ""))

    # Accounts per send task: one SQS message, one claim, one BatchGetItem.
    send_task_size: int = field(default_factory=lambda: int(_env("HERALD_SEND_TASK_SIZE", "100")))
    # Accounts per stored audience chunk; the planner expands one chunk at a time.
    audience_chunk_size: int = field(default_factory=lambda: int(_env("HERALD_AUDIENCE_CHUNK_SIZE", "1000")))
    # Chunks the planner expands per invocation before handing over to a continuation.
    planner_chunks_per_run: int = field(
        default_factory=lambda: int(_env("HERALD_PLANNER_CHUNKS_PER_RUN", "50"))
    )
    max_csv_bytes: int = field(
        default_factory=lambda: int(_env("HERALD_MAX_CSV_BYTES", str(6 * 1024 * 1024)))
    )

    # -- delivery tracking -------------------------------------------------------------------------
    delivery_events_table: str = field(
        default_factory=lambda: _env("HERALD_DELIVERY_EVENTS_TABLE", _resource("delivery-events"))
    )
    suppressions_table: str = field(
        default_factory=lambda: _env("HERALD_SUPPRESSIONS_TABLE", _resource("suppressions"))
    )
    events_queue: str = field(default_factory=lambda: _env("HERALD_EVENTS_QUEUE", _resource("events")))
    # SNS topics whose messages /webhooks/sns accepts (comma-separated ARNs).
    events_topic_arns: tuple[str, ...] = field(
        default_factory=lambda: tuple(a for a in _env("HERALD_EVENTS_TOPIC_ARNS", "").split(",") if a)
    )
    # Raw provider events (and the duplicates they reveal) are kept this long.
    event_retention_days: int = field(default_factory=lambda: int(_env("HERALD_EVENT_RETENTION_DAYS", "90")))
    # An event that arrives before its message is recorded is tried again after this delay, so often.
    early_event_delay_s: int = field(default_factory=lambda: int(_env("HERALD_EARLY_EVENT_DELAY_S", "30")))
    early_event_attempts: int = field(default_factory=lambda: int(_env("HERALD_EARLY_EVENT_ATTEMPTS", "20")))
    # Providers whose events may come without Herald's ids (SES identity notifications rather than a
    # configuration set, a Twilio callback set on the Messaging Service): their sent messages are also
    # indexed by the provider's message id (one more batched write per message). Comma-separated.
    index_provider_ids: tuple[str, ...] = field(
        default_factory=lambda: tuple(p for p in _env("HERALD_INDEX_PROVIDER_IDS", "").split(",") if p)
    )
    # The public base URL of this API (Twilio signs the full callback URL).
    public_url: str = field(default_factory=lambda: _env("HERALD_PUBLIC_URL", "").rstrip("/"))

    email_provider: str = field(default_factory=lambda: _env("HERALD_EMAIL_PROVIDER", "ses"))
    sms_provider: str = field(default_factory=lambda: _env("HERALD_SMS_PROVIDER", "sns"))
    # Provider credentials: from the environment, or from this Secrets Manager secret (a JSON object
    # with the same names in lower case, e.g. {"sendgrid_api_key": "..."}) when the variable is unset.
    provider_secret_id: str = field(default_factory=lambda: _env("HERALD_PROVIDER_SECRET_ID", ""))
    http_timeout_s: float = field(default_factory=lambda: float(_env("HERALD_PROVIDER_TIMEOUT_S", "10")))

    sendgrid_base_url: str = field(
        default_factory=lambda: _env("HERALD_SENDGRID_BASE_URL", "https://api.sendgrid.com")
    )
    mailgun_base_url: str = field(
        default_factory=lambda: _env("HERALD_MAILGUN_BASE_URL", "https://api.mailgun.net")
    )
    mailgun_domain: str = field(default_factory=lambda: _env("HERALD_MAILGUN_DOMAIN", ""))
    # Mailgun webhooks older than this are refused (their tokens are remembered this long).
    mailgun_max_age_s: int = field(default_factory=lambda: int(_env("HERALD_MAILGUN_MAX_AGE_S", "900")))
    twilio_base_url: str = field(
        default_factory=lambda: _env("HERALD_TWILIO_BASE_URL", "https://api.twilio.com")
    )
    twilio_account_sid: str = field(default_factory=lambda: _env("HERALD_TWILIO_ACCOUNT_SID", ""))
    twilio_from: str = field(default_factory=lambda: _env("HERALD_TWILIO_FROM", ""))
    twilio_messaging_service_sid: str = field(
        default_factory=lambda: _env("HERALD_TWILIO_MESSAGING_SERVICE_SID", "")
    )
    eum_origination_identity: str = field(default_factory=lambda: _env("HERALD_EUM_ORIGINATION_IDENTITY", ""))
    eum_configuration_set: str = field(default_factory=lambda: _env("HERALD_EUM_CONFIGURATION_SET", ""))
    credentials: dict[str, str] = field(
        default_factory=lambda: {
            name: os.environ[f"HERALD_{name.upper()}"]
            for name in CREDENTIAL_NAMES
            if os.environ.get(f"HERALD_{name.upper()}")
        }
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
