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


def parse_rate_limits(raw: str) -> dict[str, float]:
    """ "ses=14,sns=20" → {"ses": 14.0, "sns": 20.0}: messages per second per provider."""
    limits: dict[str, float] = {}
    for part in raw.split(","):
        if part.strip():
            provider, _, rate = part.partition("=")
            limits[provider.strip()] = float(rate)
    return limits


# SES's starting production quota and SNS's default SMS rate; raise them to what AWS granted you.
DEFAULT_RATE_LIMITS = "ses=14,sns=20"


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
    urgent_send_queue: str = field(
        default_factory=lambda: _env("HERALD_URGENT_SEND_QUEUE", _resource("urgent-send"))
    )

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
    # Send tasks of one communication queued ahead at most: two communications share the workers
    # instead of one waiting behind the other; more are planned as these finish.
    planner_window_tasks: int = field(default_factory=lambda: _int("HERALD_PLANNER_WINDOW_TASKS", 40))
    # Messages a worker may hand to providers before recording them: a crash turns at most these
    # into UNKNOWN. Each window costs one transaction.
    send_window: int = field(default_factory=lambda: _int("HERALD_SEND_WINDOW", 25))
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
    # Messages per second per provider, for the whole fleet.
    rate_limits: dict[str, float] = field(
        default_factory=lambda: parse_rate_limits(_env("HERALD_RATE_LIMITS", DEFAULT_RATE_LIMITS))
    )
    # Tokens a worker takes per request to the shared bucket.
    rate_block: int = field(default_factory=lambda: _int("HERALD_RATE_BLOCK", 25))
    # Share of each second bulk sends leave to urgent ones while urgent messages are going out.
    urgent_reserve: float = field(default_factory=lambda: _float("HERALD_URGENT_RESERVE", 0.3))
    max_csv_bytes: int = field(
        default_factory=lambda: int(_env("HERALD_MAX_CSV_BYTES", str(6 * 1024 * 1024)))
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
