"""One typed settings object, read once from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _stage() -> str:
    return _env("HERALD_STAGE", "dev")


def _resource(kind: str) -> str:
    return f"herald-{_stage()}-{kind}"


def _int(name: str, default: int) -> int:
    return int(_env(name, str(default)))


def _float(name: str, default: float) -> float:
    return float(_env(name, str(default)))


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
    audit_table: str = field(default_factory=lambda: _env("HERALD_AUDIT_TABLE", _resource("audit")))
    settings_table: str = field(default_factory=lambda: _env("HERALD_SETTINGS_TABLE", _resource("settings")))

    templates_table: str = field(
        default_factory=lambda: _env("HERALD_TEMPLATES_TABLE", _resource("templates"))
    )
    jobs_table: str = field(default_factory=lambda: _env("HERALD_JOBS_TABLE", _resource("jobs")))
    # Audience uploads, lists of rejected lines and exports; the name is set by the deployment
    # (and by the local stack), since S3 bucket names are global.
    files_bucket: str = field(default_factory=lambda: _env("HERALD_FILES_BUCKET", _resource("files")))

    plan_queue: str = field(default_factory=lambda: _env("HERALD_PLAN_QUEUE", _resource("plan")))
    send_queue: str = field(default_factory=lambda: _env("HERALD_SEND_QUEUE", _resource("send")))
    audience_import_queue: str = field(
        default_factory=lambda: _env("HERALD_AUDIENCE_IMPORT_QUEUE", _resource("audience-import"))
    )
    jobs_queue: str = field(default_factory=lambda: _env("HERALD_JOBS_QUEUE", _resource("jobs")))
    urgent_send_queue: str = field(
        default_factory=lambda: _env("HERALD_URGENT_SEND_QUEUE", _resource("urgent-send"))
    )

    # "cognito" on deployed stages: API Gateway's Cognito authorizer verifies tokens, and dev
    # tokens are refused. Read at import time too: it decides whether routes carry the authorizer.
    auth_mode: str = field(default_factory=lambda: _env("HERALD_AUTH_MODE", "dev"))
    dev_jwt_secret: str = field(default_factory=lambda: _env("HERALD_DEV_JWT_SECRET", "herald-dev-secret"))
    # The admin UI's hosted login when auth_mode is cognito: https://<prefix>.auth.<region>.amazoncognito.com
    cognito_domain: str = field(default_factory=lambda: _env("HERALD_COGNITO_DOMAIN", ""))
    cognito_client_id: str = field(default_factory=lambda: _env("HERALD_COGNITO_CLIENT_ID", ""))

    from_email: str = field(default_factory=lambda: _env("HERALD_FROM_EMAIL", "notices@herald.example"))
    from_name: str = field(default_factory=lambda: _env("HERALD_FROM_NAME", "Herald"))
    ses_configuration_set: str = field(default_factory=lambda: _env("HERALD_SES_CONFIGURATION_SET", ""))
    sms_sender_id: str = field(default_factory=lambda: _env("HERALD_SMS_SENDER_ID", ""))

    # Defaults of the operator settings (GET|PUT /settings) until an admin saves them.
    reply_to: str = field(default_factory=lambda: _env("HERALD_REPLY_TO", ""))
    default_language: str = field(default_factory=lambda: _env("HERALD_DEFAULT_LANGUAGE", "en"))
    default_timezone: str = field(default_factory=lambda: _env("HERALD_DEFAULT_TIMEZONE", "UTC"))
    contact_hours_start: str = field(default_factory=lambda: _env("HERALD_CONTACT_HOURS_START", "08:00"))
    contact_hours_end: str = field(default_factory=lambda: _env("HERALD_CONTACT_HOURS_END", "21:00"))
    contact_days: str = field(default_factory=lambda: _env("HERALD_CONTACT_DAYS", "mon,tue,wed,thu,fri,sat"))
    email_provider: str = field(default_factory=lambda: _env("HERALD_EMAIL_PROVIDER", "ses"))
    sms_provider: str = field(default_factory=lambda: _env("HERALD_SMS_PROVIDER", "sns"))
    email_rate_per_s: str = field(default_factory=lambda: _env("HERALD_EMAIL_RATE_PER_S", "14"))
    sms_rate_per_s: str = field(default_factory=lambda: _env("HERALD_SMS_RATE_PER_S", "20"))
    approval_threshold: str = field(default_factory=lambda: _env("HERALD_APPROVAL_THRESHOLD", "0"))
    retention_days: str = field(default_factory=lambda: _env("HERALD_RETENTION_DAYS", "180"))
    # How long a container reuses the operator settings it read before reading them again.
    settings_cache_s: float = field(default_factory=lambda: float(_env("HERALD_SETTINGS_CACHE_S", "30")))

    # Accounts per send task: one SQS message, one claim, one BatchGetItem.
    send_task_size: int = field(default_factory=lambda: int(_env("HERALD_SEND_TASK_SIZE", "100")))
    # Accounts per stored audience chunk; the planner expands one chunk at a time.
    audience_chunk_size: int = field(default_factory=lambda: int(_env("HERALD_AUDIENCE_CHUNK_SIZE", "1000")))
    # Chunks the planner expands per invocation before handing over to a continuation.
    planner_chunks_per_run: int = field(
        default_factory=lambda: int(_env("HERALD_PLANNER_CHUNKS_PER_RUN", "50"))
    )
    # Send tasks of one communication queued ahead at most: two communications share the workers
    # instead of one waiting behind the other; more are planned as these finish.
    planner_window_tasks: int = field(default_factory=lambda: _int("HERALD_PLANNER_WINDOW_TASKS", 40))
    # Messages a worker may hand to providers before recording them: a crash turns at most these
    # into UNKNOWN. Each window costs one transaction.
    send_window: int = field(default_factory=lambda: _int("HERALD_SEND_WINDOW", 80))
    # Provider calls a worker has in flight at once, among its window's messages (the calls mostly
    # wait on the provider, and Lambda bills the wait).
    send_concurrency: int = field(default_factory=lambda: _int("HERALD_SEND_CONCURRENCY", 8))
    # How long a task's claim holds without renewal; a dead worker's task is taken over after it.
    send_lease_s: float = field(default_factory=lambda: _float("HERALD_SEND_LEASE_S", 120))
    # How long provider events may take to prove an UNKNOWN message was sent; it must outlast the
    # send worker's timeout, so no worker that lost its lease can still be writing.
    reconcile_window_s: float = field(default_factory=lambda: _float("HERALD_RECONCILE_WINDOW_S", 600))
    # How stale a worker's view of a communication's status may be (pause and cancel take effect
    # within this).
    status_cache_s: float = field(default_factory=lambda: _float("HERALD_STATUS_CACHE_S", 5))
    # Time left at which a worker hands the rest of its task back to the queue.
    handback_margin_s: float = field(default_factory=lambda: _float("HERALD_HANDBACK_MARGIN_S", 30))
    # Attempts at a message whose provider failed without taking it (connection refused, 5xx).
    send_attempts: int = field(default_factory=lambda: _int("HERALD_SEND_ATTEMPTS", 3))
    retry_base_delay_s: float = field(default_factory=lambda: _float("HERALD_RETRY_BASE_DELAY_S", 0.5))
    retry_max_delay_s: float = field(default_factory=lambda: _float("HERALD_RETRY_MAX_DELAY_S", 20))
    # Planning queued but not moving for this long is queued again by the sweep.
    plan_stall_s: float = field(default_factory=lambda: _float("HERALD_PLAN_STALL_S", 600))
    # How often the sweep looks after each active communication.
    watch_interval_s: float = field(default_factory=lambda: _float("HERALD_WATCH_INTERVAL_S", 60))
    # The most tokens a worker takes per request to the shared bucket (each take is also at most a
    # quarter of the second's tokens and about what the worker can use in the rest of the second).
    rate_block: int = field(default_factory=lambda: _int("HERALD_RATE_BLOCK", 200))
    # Share of each second bulk sends leave to urgent ones while urgent messages are going out.
    urgent_reserve: float = field(default_factory=lambda: _float("HERALD_URGENT_RESERVE", 0.3))
    max_csv_bytes: int = field(
        default_factory=lambda: int(_env("HERALD_MAX_CSV_BYTES", str(6 * 1024 * 1024)))
    )
    # Largest audience file accepted through an upload URL (a million ids is ~37 MB); the import
    # keeps rejected lines on the worker's local disk, which this bound keeps within /tmp.
    max_upload_bytes: int = field(
        default_factory=lambda: int(_env("HERALD_MAX_UPLOAD_BYTES", str(200 * 1024 * 1024)))
    )
    # Up to this many audience accounts a dry run answers in the request; beyond, it runs as a job.
    dry_run_direct_max_accounts: int = field(
        default_factory=lambda: int(_env("HERALD_DRY_RUN_DIRECT_MAX_ACCOUNTS", "5000"))
    )
    # Up to this many rows an export is the response itself; beyond, it runs as a job.
    export_direct_max_rows: int = field(
        default_factory=lambda: int(_env("HERALD_EXPORT_DIRECT_MAX_ROWS", "5000"))
    )

    # -- delivery tracking -------------------------------------------------------------------------
    delivery_events_table: str = field(
        default_factory=lambda: _env("HERALD_DELIVERY_EVENTS_TABLE", _resource("delivery-events"))
    )
    suppressions_table: str = field(
        default_factory=lambda: _env("HERALD_SUPPRESSIONS_TABLE", _resource("suppressions"))
    )
    events_queue: str = field(default_factory=lambda: _env("HERALD_EVENTS_QUEUE", _resource("events")))
    # SES's and End User Messaging's delivery events, as Firehose writes them in files: the bucket
    # (global name, set by the deployment and the local stack), the queue its notifications go to,
    # and the delivery stream (only the local stack writes to it; AWS's services do in production).
    events_bucket: str = field(default_factory=lambda: _env("HERALD_EVENTS_BUCKET", _resource("events")))
    event_files_queue: str = field(
        default_factory=lambda: _env("HERALD_EVENT_FILES_QUEUE", _resource("event-files"))
    )
    events_stream: str = field(default_factory=lambda: _env("HERALD_EVENTS_STREAM", _resource("events")))
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

    # Observability: Powertools reads POWERTOOLS_SERVICE_NAME / POWERTOOLS_METRICS_NAMESPACE too.
    service_name: str = field(default_factory=lambda: _env("POWERTOOLS_SERVICE_NAME", "herald"))
    metrics_namespace: str = field(default_factory=lambda: _env("POWERTOOLS_METRICS_NAMESPACE", "Herald"))
    # "emf" prints CloudWatch embedded metrics to stdout (deployed); "log" logs them at DEBUG.
    metrics_sink: str = field(default_factory=lambda: _env("HERALD_METRICS", "log"))
    tracing: bool = field(default_factory=lambda: _env("HERALD_TRACING", "false").lower() == "true")

    # Provider keys: the value itself (local, tests) or the Secrets Manager secret holding it
    # (deployed: the template passes each secret's ARN). See wiring.Services.provider_key.
    sendgrid_api_key: str = field(default_factory=lambda: _env("HERALD_SENDGRID_API_KEY", ""))
    sendgrid_api_key_secret: str = field(default_factory=lambda: _env("HERALD_SENDGRID_API_KEY_SECRET", ""))
    sendgrid_webhook_public_key: str = field(
        default_factory=lambda: _env("HERALD_SENDGRID_WEBHOOK_PUBLIC_KEY", "")
    )
    sendgrid_webhook_public_key_secret: str = field(
        default_factory=lambda: _env("HERALD_SENDGRID_WEBHOOK_PUBLIC_KEY_SECRET", "")
    )
    mailgun_api_key: str = field(default_factory=lambda: _env("HERALD_MAILGUN_API_KEY", ""))
    mailgun_api_key_secret: str = field(default_factory=lambda: _env("HERALD_MAILGUN_API_KEY_SECRET", ""))
    mailgun_signing_key: str = field(default_factory=lambda: _env("HERALD_MAILGUN_SIGNING_KEY", ""))
    mailgun_signing_key_secret: str = field(
        default_factory=lambda: _env("HERALD_MAILGUN_SIGNING_KEY_SECRET", "")
    )
    twilio_auth_token: str = field(default_factory=lambda: _env("HERALD_TWILIO_AUTH_TOKEN", ""))
    twilio_auth_token_secret: str = field(default_factory=lambda: _env("HERALD_TWILIO_AUTH_TOKEN_SECRET", ""))
    # Signs one-click unsubscribe links (HMAC-SHA256): the key itself (local, tests) or its secret
    # (deployed: the template generates one). Locally, dev mode falls back to a fixed dev key.
    unsubscribe_key: str = field(default_factory=lambda: _env("HERALD_UNSUBSCRIBE_KEY", ""))
    unsubscribe_key_secret: str = field(default_factory=lambda: _env("HERALD_UNSUBSCRIBE_KEY_SECRET", ""))
    unsubscribe_link_days: int = field(
        default_factory=lambda: int(_env("HERALD_UNSUBSCRIBE_LINK_DAYS", "90"))
    )
    # An address that takes unsubscribe requests by email, offered next to the link (optional).
    unsubscribe_mailto: str = field(default_factory=lambda: _env("HERALD_UNSUBSCRIBE_MAILTO", ""))
    # How long a provider key read from Secrets Manager is reused before it is read again.
    secret_max_age_s: int = field(default_factory=lambda: int(_env("HERALD_SECRET_MAX_AGE_S", "300")))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
