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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
