"""Herald's OpenAPI 3.1 document, built from the route list and the request models."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

ERROR = {"$ref": "#/components/schemas/Error"}

# (method, path, summary, request body: model names and/or "csv" joined by "|", or None; success status)
ROUTES: list[tuple[str, str, str, str | None, int]] = [
    ("get", "/health", "Liveness check", None, 200),
    ("get", "/openapi.json", "This document", None, 200),
    ("put", "/accounts/{account_id}", "Create or replace an account", "AccountBody", 200),
    (
        "get",
        "/accounts/export.csv",
        "Export accounts as CSV (same filters as the list); over 5,000 rows it answers 202 {job_id}",
        None,
        200,
    ),
    ("get", "/accounts/{account_id}", "One account", None, 200),
    ("get", "/accounts", "List accounts (filters: service_area, network_provider, segment)", None, 200),
    ("post", "/accounts/import", "Upsert accounts from a CSV with a header row", "csv", 200),
    ("post", "/communications", "Create a draft communication", "CommunicationCreate", 201),
    ("get", "/communications", "List communications, newest first", None, 200),
    ("get", "/communications/audience-template.csv", "A blank audience CSV", None, 200),
    (
        "get",
        "/communications/{comm_id}",
        "One communication with content and counts; counts.deferred messages wait for their contact "
        "window, the first going at deferred_until and the last at deferred_until_latest (UTC)",
        None,
        200,
    ),
    ("patch", "/communications/{comm_id}", "Change a draft (autosave)", "CommunicationPatch", 200),
    ("delete", "/communications/{comm_id}", "Delete a draft", None, 204),
    (
        "put",
        "/communications/{comm_id}/audience",
        "Replace a draft's audience: a CSV of account ids (up to 6 MB), or JSON {filter}",
        "AudienceFilterBody|csv",
        200,
    ),
    (
        "post",
        "/communications/{comm_id}/audience/upload-url",
        "A presigned S3 form upload for a large audience CSV, imported by a worker",
        None,
        201,
    ),
    (
        "get",
        "/communications/{comm_id}/audience/errors.csv",
        "Redirect to the full list of rejected audience lines",
        None,
        302,
    ),
    (
        "post",
        "/communications/{comm_id}/preview",
        "What one account would receive, or why it would be skipped",
        "PreviewBody",
        200,
    ),
    (
        "post",
        "/communications/{comm_id}/dry-run",
        "Count the messages a send would produce; over 5,000 accounts it answers 202 {job_id}",
        None,
        200,
    ),
    (
        "post",
        "/communications/{comm_id}/test-send",
        "Send the rendered message(s) to one recipient; nothing is recorded",
        "TestSendBody",
        200,
    ),
    ("post", "/templates", "Save a template", "TemplateBody", 201),
    ("get", "/templates", "List templates, newest first", None, 200),
    ("get", "/templates/{template_id}", "One template", None, 200),
    ("put", "/templates/{template_id}", "Replace a template", "TemplateBody", 200),
    ("delete", "/templates/{template_id}", "Delete a template", None, 204),
    ("get", "/jobs/{job_id}", "A job's state, progress and result (or result_url)", None, 200),
    (
        "post",
        "/communications/{comm_id}/send",
        "Send now (idempotent); above the approval threshold it waits for approval (PENDING_APPROVAL)",
        None,
        202,
    ),
    (
        "post",
        "/communications/{comm_id}/schedule",
        "Schedule a ready draft: send_at is ISO-8601 with Z or an offset, in the future (content freezes)",
        "ScheduleBody",
        200,
    ),
    (
        "post",
        "/communications/{comm_id}/unschedule",
        "Take a scheduled communication back to draft",
        None,
        200,
    ),
    (
        "post",
        "/communications/{comm_id}/cancel",
        "Cancel for good (SCHEDULED, IN_PROGRESS or PAUSED; repeating it changes nothing; else 409)",
        None,
        200,
    ),
    ("post", "/communications/{comm_id}/pause", "Pause sending (IN_PROGRESS; else 409)", None, 200),
    ("post", "/communications/{comm_id}/resume", "Resume where it stopped (PAUSED; else 409)", None, 200),
    (
        "post",
        "/communications/{comm_id}/approve",
        "Approve a send waiting for approval and start it; the requester cannot (403)",
        None,
        202,
    ),
    (
        "post",
        "/communications/{comm_id}/withdraw",
        "Take a send waiting for approval back to draft (the requester, or another admin declining)",
        None,
        200,
    ),
    ("get", "/communications/{comm_id}/audit", "Who did what to a communication, oldest first", None, 200),
    ("get", "/communications/{comm_id}/messages", "Per-message delivery status", None, 200),
    (
        "get",
        "/communications/{comm_id}/messages/{message_id}",
        "One message with its rendered content",
        None,
        200,
    ),
    (
        "get",
        "/communications/{comm_id}/send-failures",
        "Messages that could not be sent, by account (Accept: text/csv for an account_id CSV)",
        None,
        200,
    ),
    (
        "post",
        "/communications/{comm_id}/clone",
        'A new draft with the same content; {"only": "send_failures" | "delivery_failures"} '
        "makes those accounts its audience",
        "CloneBody",
        201,
    ),
    ("get", "/suppressions", "Suppressed addresses (filter: channel)", None, 200),
    ("post", "/suppressions", "Suppress an address", "SuppressionBody", 201),
    ("delete", "/suppressions/{channel}/{address}", "Lift a suppression", None, 204),
    ("post", "/webhooks/sendgrid", "SendGrid Event Webhook (signed, ECDSA)", "webhook", 200),
    ("post", "/webhooks/mailgun", "Mailgun webhook (HMAC, token replay refused)", "webhook", 200),
    ("post", "/webhooks/twilio", "Twilio status callback (X-Twilio-Signature)", "webhook", 200),
    ("post", "/webhooks/sns", "SES and SMS events over an SNS HTTPS subscription (signed)", "webhook", 200),
    (
        "post",
        "/webhooks/twilio/inbound",
        "Twilio incoming SMS (X-Twilio-Signature): STOP keywords suppress the number, START lifts it",
        "webhook",
        200,
    ),
    (
        "get",
        "/unsubscribe",
        "Unsubscribe confirmation page for a signed link (token in the query); changes nothing by itself",
        None,
        200,
    ),
    (
        "post",
        "/unsubscribe",
        "RFC 8058 one-click unsubscribe (token in the query, body List-Unsubscribe=One-Click or empty)",
        "unsubscribe",
        200,
    ),
    ("get", "/suppressions/audit", "Opt-outs recorded by recipients (unsubscribe, STOP, START)", None, 200),
    (
        "delete",
        "/accounts/{account_id}/personal-data",
        "Erase an account's name, email and phone from the account, its messages and their provider events",
        None,
        200,
    ),
    ("get", "/accounts/{account_id}/audit", "Who erased an account's personal data, and when", None, 200),
    ("get", "/settings", "The operator settings", None, 200),
    (
        "put",
        "/settings",
        "Change operator settings (fields left out keep their value)",
        "SettingsBody",
        200,
    ),
    ("get", "/settings/audit", "Changes to the operator settings, oldest first", None, 200),
    ("get", "/", "Redirect to the admin web app", None, 302),
    ("get", "/ui", "Redirect to the admin web app", None, 302),
    ("get", "/ui/{asset}", "The admin web app's files (index.html, app.js, styles.css, ...)", None, 200),
    ("get", "/ui/vendor/{asset}", "The admin web app's vendored libraries", None, 200),
    ("get", "/ui/config.json", "How the admin web app signs in here (auth mode, Cognito)", None, 200),
    ("post", "/ui/dev-token", "Mint a dev token (only when HERALD_AUTH_MODE is dev)", "DevTokenRequest", 201),
]

QUERY_PARAMETERS: dict[str, list[str]] = {
    "/accounts": ["service_area", "network_provider", "segment", "cursor", "limit"],
    "/accounts/export.csv": ["service_area", "network_provider", "segment"],
    "/templates": ["cursor", "limit"],
    "/communications": ["status", "cursor", "limit"],
    "/communications/{comm_id}/messages": ["channel", "status", "account_id", "cursor", "limit"],
    "/communications/{comm_id}/send-failures": ["cursor", "limit"],
    "/suppressions": ["channel", "cursor", "limit"],
    "/communications/{comm_id}/audit": ["cursor", "limit"],
    "/settings/audit": ["cursor", "limit"],
    "/suppressions/audit": ["cursor", "limit"],
    "/accounts/{account_id}/audit": ["cursor", "limit"],
    "/unsubscribe": ["token"],
}


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    from chalicelib.api import schemas
    from chalicelib.api.auth import is_public_path

    components: dict[str, Any] = {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message", "details"],
                    "properties": {
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "details": {"type": "array", "items": {}},
                    },
                }
            },
        }
    }
    paths: dict[str, Any] = {}
    for method, path, summary, body, status in ROUTES:
        operation: dict[str, Any] = {
            "summary": summary,
            "responses": {
                str(status): {"description": "success"},
                "4XX": {"description": "client error", "content": {"application/json": {"schema": ERROR}}},
            },
            "parameters": [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in _path_names(path)
            ]
            + [
                {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
                for name in QUERY_PARAMETERS.get(path, [])
                if method == "get" or name == "token"
            ],
        }
        if not is_public_path(path):
            operation["security"] = [{"bearer": []}]
        content: dict[str, Any] = {}
        for kind in (body or "").split("|"):
            if kind == "webhook":
                for media in ("application/json", "text/plain", "application/x-www-form-urlencoded"):
                    content[media] = {"schema": {}}
            elif kind == "unsubscribe":
                form = {"type": "object", "properties": {"List-Unsubscribe": {"const": "One-Click"}}}
                content["application/x-www-form-urlencoded"] = {"schema": form}
            elif kind == "csv":
                content["text/csv"] = {"schema": {"type": "string"}}
            elif kind:
                model = getattr(schemas, kind)
                schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(schema.pop("$defs", {}))
                components[kind] = schema
                content["application/json"] = {"schema": {"$ref": f"#/components/schemas/{kind}"}}
        if content:
            operation["requestBody"] = {"required": body != "unsubscribe", "content": content}
        paths.setdefault(path, {})[method] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Herald",
            "version": "1.0.0",
            "description": "Mass communications by email and SMS.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }


def _path_names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]
