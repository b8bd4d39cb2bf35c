"""Integration fixtures: drive the real handlers with real-shaped SQS events from moto."""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3
import pytest

from chalicelib.local.pollers import sqs_event
from chalicelib.settings import get_settings
from tests.conftest import account_body

ACCOUNT = "123456789012"


class Api:
    """Small JSON helper over chalice.test.Client."""

    def __init__(self, client: Any, auth: dict[str, str]) -> None:
        self.client = client
        self.auth = auth

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        raw = body if isinstance(body, str | bytes) or body is None else json.dumps(body)
        response = getattr(self.client.http, method)(path, headers={**self.auth, **(headers or {})}, body=raw)
        is_json = str(response.headers.get("Content-Type", "")).startswith("application/json")
        response.json = json.loads(response.body) if response.body and is_json else None
        return response

    def as_admin(
        self, sub: str, given_name: str, family_name: str, permissions: str = "mass_communications"
    ) -> Api:
        """The same client with another person's token."""
        from chalicelib.local.tokens import mint_dev_token

        token = mint_dev_token(sub, given_name, family_name, permissions=permissions)
        return Api(self.client, {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})

    def put_account(self, **overrides: Any) -> str:
        account_id = overrides.pop("account_id", None) or str(uuid.uuid4())
        response = self.call("put", f"/accounts/{account_id}", account_body(**overrides))
        assert response.status_code in (200, 201), response.body
        return account_id

    def create_communication(self, **overrides: Any) -> str:
        body = {
            "name": "Planned maintenance",
            "channels": ["email", "sms"],
            "default_language": "en",
            "content": BILINGUAL_CONTENT,
        }
        body.update(overrides)
        response = self.call("post", "/communications", body)
        assert response.status_code == 201, response.body
        return str(response.json["id"])

    def set_audience(self, comm_id: str, account_ids: list[str]) -> Any:
        csv = "account_id\n" + "\n".join(account_ids) + "\n"
        return self.call("put", f"/communications/{comm_id}/audience", csv, {"Content-Type": "text/csv"})


BILINGUAL_CONTENT = {
    "email": {
        "en": {
            "subject": "Maintenance for {{ account.first_name }}",
            "html": "<p>Hello {{ account.first_name }}, we are upgrading the network.</p>",
            "text": "Hello {{ account.first_name }}, we are upgrading the network.",
        },
        "fr": {
            "subject": "Maintenance pour {{ account.first_name }}",
            "html": "<p>Bonjour {{ account.first_name }}, nous améliorons le réseau.</p>",
            "text": "Bonjour {{ account.first_name }}, nous améliorons le réseau.",
        },
    },
    "sms": {
        "en": {"body": "Hello {{ account.first_name }}: network maintenance tonight."},
        "fr": {"body": "Bonjour {{ account.first_name }} : maintenance du réseau ce soir."},
    },
}


@pytest.fixture
def api(client: Any, auth: dict[str, str]) -> Api:
    return Api(client, auth)


def _queue_url(name: str) -> str:
    return str(boto3.client("sqs").get_queue_url(QueueName=name)["QueueUrl"])


def deliver_once(client: Any, queue: str, function: str, delete: bool = True) -> list[dict[str, Any]]:
    """Receive one batch from `queue`, invoke `function` with a real-shaped event, delete what succeeded."""
    sqs = boto3.client("sqs")
    url = _queue_url(queue)
    messages = sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=10,
        AttributeNames=["All"],
        VisibilityTimeout=0 if not delete else 30,
    ).get("Messages", [])
    if not messages:
        return []
    event = sqs_event(messages, f"arn:aws:sqs:us-east-1:{ACCOUNT}:{queue}", "us-east-1")
    payload = client.lambda_.invoke(function, event).payload
    failed = {f["itemIdentifier"] for f in (payload or {}).get("batchItemFailures", [])}
    if delete:
        for message in messages:
            if message["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return event["Records"]


def drain(client: Any, max_rounds: int = 500) -> None:
    """Run the planner and send workers until both queues are empty."""
    settings = get_settings()
    for _ in range(max_rounds):
        planned = deliver_once(client, settings.plan_queue, "plan_worker")
        sent = deliver_once(client, settings.send_queue, "send_worker")
        if not planned and not sent:
            return
    raise AssertionError("queues did not drain")


def tick(client: Any) -> dict[str, list[str]]:
    """One run of the schedule handler, with the event EventBridge's rule sends."""
    event = client.events.generate_cw_event(
        source="aws.events",
        detail_type="Scheduled Event",
        detail={},
        resources=[f"arn:aws:events:us-east-1:{ACCOUNT}:rule/herald-dev-schedule-tick"],
        region="us-east-1",
    )
    result: dict[str, list[str]] = client.lambda_.invoke("schedule_tick", event).payload
    return result


def plan_queue_bodies() -> list[dict[str, Any]]:
    """The planning tasks waiting on the plan queue (left there, visible again at once)."""
    sqs = boto3.client("sqs")
    messages = sqs.receive_message(
        QueueUrl=_queue_url(get_settings().plan_queue), MaxNumberOfMessages=10, VisibilityTimeout=0
    ).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def sent_emails() -> list[Any]:
    from moto.ses.models import ses_backends

    return list(ses_backends[ACCOUNT]["us-east-1"].sent_messages)


def sent_sms() -> list[tuple[str, str]]:
    from moto.sns.models import sns_backends

    return list(sns_backends[ACCOUNT]["us-east-1"].sms_messages.values())
