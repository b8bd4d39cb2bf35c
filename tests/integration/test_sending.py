"""Sending through the real handlers: SQS-shaped events in, SES/SNS (moto) out, records and counters."""

from __future__ import annotations

import boto3
import pytest

from chalicelib.settings import get_settings
from tests.integration.conftest import ACCOUNT, deliver_once, drain, sent_emails, sent_sms

pytestmark = pytest.mark.integration


@pytest.fixture
def audience(api):
    """Six accounts: en/fr-CA, email-only / sms-only / both, one without a phone."""
    return {
        "en_both": api.put_account(
            language="en", first_name="Alan", email="alan@example.com", phone="+15145550001"
        ),
        "frca_both": api.put_account(
            language="fr-CA", first_name="Gaston", email="gaston@example.com", phone="+15145550002"
        ),
        "en_email": api.put_account(language="en", channels=["email"], email="grace@example.com", phone=None),
        "fr_sms": api.put_account(language="fr", channels=["sms"], email=None, phone="+15145550004"),
        "fr_sms_no_phone": api.put_account(language="fr", channels=["sms"], phone=None),
        "de_both": api.put_account(
            language="de", first_name="Emmy", email="emmy@example.com", phone="+15145550006"
        ),
    }


def test_a_bilingual_communication_goes_out_once_in_each_language(api, client, audience):
    # GIVEN a two-channel bilingual communication to a mixed audience
    comm_id = api.create_communication()
    assert api.set_audience(comm_id, list(audience.values())).json["accepted"] == 6
    # WHEN it is sent and the workers run
    started = api.call("post", f"/communications/{comm_id}/send")
    assert started.status_code == 202
    assert started.json["status"] == "IN_PROGRESS"
    assert started.json["sent_by"] == {"id": "admin-1", "first_name": "Ada", "last_name": "Lovelace"}
    assert started.json["started_at"]
    drain(client)

    # THEN SES and SNS received exactly the expected messages, in each account's language
    emails = {m.destinations["ToAddresses"][0]: m for m in sent_emails()}
    assert sorted(emails) == sorted(
        ["alan@example.com", "gaston@example.com", "grace@example.com", "emmy@example.com"]
    )
    assert emails["gaston@example.com"].subject == "Maintenance pour Gaston"
    assert "Bonjour Gaston" in emails["gaston@example.com"].body
    assert emails["alan@example.com"].subject == "Maintenance for Alan"
    assert emails["emmy@example.com"].subject == "Maintenance for Emmy"  # no German: the default language
    sms = dict(sent_sms())
    assert sorted(sms) == ["+15145550001", "+15145550002", "+15145550004", "+15145550006"]
    assert sms["+15145550004"].startswith("Bonjour")
    assert sms["+15145550001"].startswith("Hello Alan")

    # AND the communication completed with counts that match the message records
    detail = api.call("get", f"/communications/{comm_id}").json
    assert detail["status"] == "COMPLETED"
    assert detail["counts"]["messages_total"] == 9
    assert (detail["counts"]["sent"], detail["counts"]["skipped"], detail["counts"]["pending"]) == (8, 1, 0)
    assert detail["counts_by_channel"]["email"]["sent"] == 4
    assert detail["counts_by_channel"]["sms"]["skipped"] == 1
    assert detail["sent_pct"] == 100.0
    (listed,) = [c for c in api.call("get", "/communications").json["items"] if c["id"] == comm_id]
    assert (listed["counts"]["messages_total"], listed["counts"]["sent"], listed["sent_pct"]) == (9, 8, 100.0)
    messages = api.call("get", f"/communications/{comm_id}/messages?limit=200").json["items"]
    assert len(messages) == 9
    assert sum(m["status"] == "SENT" for m in messages) == 8
    skipped = api.call("get", f"/communications/{comm_id}/messages?status=SKIPPED").json["items"]
    assert [(m["account_id"], m["skip_reason"], m["error"]) for m in skipped] == [
        (audience["fr_sms_no_phone"], "no_phone", "no phone number on file")
    ]
    french_sms = api.call(
        "get", f"/communications/{comm_id}/messages?channel=sms&account_id={audience['frca_both']}"
    ).json["items"]
    assert [(m["language"], m["status"], m["provider"]) for m in french_sms] == [("fr", "SENT", "sns")]
    one = api.call("get", f"/communications/{comm_id}/messages/{french_sms[0]['id']}").json
    assert one["content"]["body"].startswith("Bonjour Gaston")


def test_sending_twice_sends_once(api, client, audience):
    comm_id = api.create_communication(channels=["email"])
    api.set_audience(comm_id, list(audience.values()))
    first = api.call("post", f"/communications/{comm_id}/send")
    second = api.call("post", f"/communications/{comm_id}/send")
    assert (first.status_code, second.status_code) == (202, 202)
    drain(client)
    assert len(sent_emails()) == 4
    assert api.call("post", f"/communications/{comm_id}/send").status_code == 202
    drain(client)
    assert len(sent_emails()) == 4


def test_redelivered_tasks_do_not_send_twice(api, client, audience):
    # GIVEN a communication whose send tasks SQS will deliver twice
    comm_id = api.create_communication()
    api.set_audience(comm_id, list(audience.values()))
    api.call("post", f"/communications/{comm_id}/send")
    settings = get_settings()
    deliver_once(client, settings.plan_queue, "plan_worker")
    records = deliver_once(client, settings.send_queue, "send_worker", delete=False)
    assert len({r["messageId"] for r in records}) == len(records)
    # WHEN the same tasks arrive again (a visibility timeout expired)
    drain(client)
    # THEN each message went out once and the counts are exact
    assert len(sent_emails()) == 4 and len(sent_sms()) == 4
    counts = api.call("get", f"/communications/{comm_id}").json["counts"]
    assert (counts["messages_total"], counts["sent"], counts["skipped"]) == (9, 8, 1)


def test_a_poison_record_fails_alone(api, client, audience):
    # GIVEN a batch holding a good task and a record that cannot be parsed
    comm_id = api.create_communication(channels=["sms"])
    api.set_audience(comm_id, list(audience.values()))
    api.call("post", f"/communications/{comm_id}/send")
    settings = get_settings()
    deliver_once(client, settings.plan_queue, "plan_worker")
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=settings.send_queue)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="{not a task")
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    assert len(messages) == 2
    from chalicelib.local.pollers import sqs_event

    event = sqs_event(messages, f"arn:aws:sqs:us-east-1:{ACCOUNT}:{settings.send_queue}", "us-east-1")
    # WHEN the send worker handles the batch
    payload = client.lambda_.invoke("send_worker", event).payload
    # THEN only the poison record is reported failed, and the good task was sent
    poison = next(m["MessageId"] for m in messages if m["Body"] == "{not a task")
    assert payload == {"batchItemFailures": [{"itemIdentifier": poison}]}
    assert len(sent_sms()) == 4


def test_ses_refusal_is_recorded_as_send_failed(api, client):
    # GIVEN SES refuses the sender (the identity is not verified)
    account = api.put_account(channels=["email"], email="ok@example.com")
    comm_id = api.create_communication(channels=["email"])
    api.set_audience(comm_id, [account])
    boto3.client("ses").delete_identity(Identity=get_settings().from_email)
    # WHEN it is sent
    api.call("post", f"/communications/{comm_id}/send")
    drain(client)
    # THEN the message is SEND_FAILED with SES's reason and the communication FAILED
    detail = api.call("get", f"/communications/{comm_id}").json
    assert detail["status"] == "FAILED"
    assert detail["counts"]["send_failed"] == 1
    failed = api.call("get", f"/communications/{comm_id}/messages?status=SEND_FAILED").json["items"]
    assert "not verified" in failed[0]["error"]
