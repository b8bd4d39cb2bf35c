"""Delivery tracking through the real handlers: SNS-wrapped SES events over SQS, signed webhooks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from chalicelib.adapters.queue import created_keys_from_body
from chalicelib.adapters.sms import twilio
from chalicelib.settings import get_settings
from chalicelib.wiring import services
from tests.integration.conftest import ACCOUNT, deliver_once, drain
from tests.integration.rig import Rig
from tests.support import SimulatedClock

pytestmark = pytest.mark.integration

TOPIC_ARN = f"arn:aws:sns:us-east-1:{ACCOUNT}:herald-dev-events"
PUBLIC_URL = "https://herald.example/api"
SENDGRID_KEY = ec.generate_private_key(ec.SECP256R1())
MAILGUN_KEY = "mailgun-signing-key"
TWILIO_TOKEN = "twilio-auth-token"


@pytest.fixture
def delivery_env(monkeypatch: pytest.MonkeyPatch):
    der = SENDGRID_KEY.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    monkeypatch.setenv("HERALD_SENDGRID_WEBHOOK_PUBLIC_KEY", base64.b64encode(der).decode())
    monkeypatch.setenv("HERALD_MAILGUN_SIGNING_KEY", MAILGUN_KEY)
    monkeypatch.setenv("HERALD_TWILIO_AUTH_TOKEN", TWILIO_TOKEN)
    monkeypatch.setenv("HERALD_PUBLIC_URL", PUBLIC_URL)
    monkeypatch.setenv("HERALD_EVENTS_TOPIC_ARNS", TOPIC_ARN)
    monkeypatch.setenv("HERALD_EARLY_EVENT_DELAY_S", "0")
    get_settings.cache_clear()
    services.cache_clear()
    yield
    get_settings.cache_clear()
    services.cache_clear()


@pytest.fixture
def sent(delivery_env, api, client) -> dict[str, Any]:
    """A sent two-channel communication: four accounts, their messages by address."""
    accounts = {
        "ok": api.put_account(email="ok@example.com", phone="+15145551111"),
        "gone": api.put_account(email="Gone@Example.com", phone="+15145550000", channels=["email"]),
        "complains": api.put_account(email="angry@example.com", channels=["email"]),
        "sms_only": api.put_account(email=None, phone="+15145552222", channels=["sms"]),
    }
    comm_id = api.create_communication()
    api.set_audience(comm_id, list(accounts.values()))
    api.call("post", f"/communications/{comm_id}/send")
    drain(client)
    messages = api.call("get", f"/communications/{comm_id}/messages?limit=200").json["items"]
    return {"comm_id": comm_id, "accounts": accounts, "by_address": {m["address"]: m for m in messages}}


def ses_event(
    comm_id: str, message: dict[str, Any], kind: str, at: datetime, **detail: Any
) -> dict[str, Any]:
    mail = {
        "timestamp": (at - timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "source": "notices@herald.example",
        "messageId": message["provider_message_id"],
        "destination": [message["address"]],
        "tags": {
            "ses:configuration-set": ["herald-dev"],
            "herald_comm_id": [comm_id],
            "herald_message_id": [message["id"]],
        },
    }
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    key = {"Delivery": "delivery", "Bounce": "bounce", "Complaint": "complaint"}[kind]
    return {"eventType": kind, "mail": mail, key: {"timestamp": stamp, **detail}}


def publish(*events: dict[str, Any]) -> None:
    """As SES and End User Messaging publish to a configuration set's delivery stream: one JSON
    record per event (moto's Firehose writes each call's records as one file)."""
    boto3.client("firehose").put_record_batch(
        DeliveryStreamName=get_settings().events_stream,
        Records=[{"Data": json.dumps(event).encode()} for event in events],
    )


def publish_to_topic(*events: dict[str, Any]) -> None:
    """As SES's identity notifications (or an operator's own topic) reach the events queue."""
    sns = boto3.client("sns")
    for event in events:
        sns.publish(TopicArn=TOPIC_ARN, Message=json.dumps(event))


def run_events_worker(client) -> list[dict[str, Any]]:
    """The event files worker, then the events worker (what the files handed back), until both
    queues are empty."""
    records: list[dict[str, Any]] = []
    while batch := deliver_once(client, get_settings().event_files_queue, "event_files_worker"):
        # Not S3's s3:TestEvent, sent when the bucket's notifications were set up.
        records += [r for r in batch if "s3:TestEvent" not in r["body"]]
    while batch := deliver_once(client, get_settings().events_queue, "events_worker"):
        records += batch
    return records


def detail(api, comm_id: str) -> dict[str, Any]:
    return api.call("get", f"/communications/{comm_id}").json


T = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
BOUNCE = {
    "bounceType": "Permanent",
    "bounceSubType": "General",
    "bouncedRecipients": [
        {"emailAddress": "gone@example.com", "diagnosticCode": "smtp; 550 5.1.1 user unknown"}
    ],
}


def test_ses_events_in_a_firehose_file_fill_in_statuses_counts_and_suppressions(api, client, sent):
    comm_id, by_address = sent["comm_id"], sent["by_address"]
    # GIVEN SES publishing a delivery, a hard bounce and a complaint to the delivery stream
    publish(
        ses_event(comm_id, by_address["ok@example.com"], "Delivery", T),
        ses_event(comm_id, by_address["Gone@Example.com"], "Bounce", T, **BOUNCE),
        ses_event(comm_id, by_address["angry@example.com"], "Delivery", T),
        ses_event(comm_id, by_address["angry@example.com"], "Complaint", T + timedelta(minutes=9)),
    )
    # WHEN the event files worker gets S3's notification of the file Firehose wrote
    records = run_events_worker(client)
    (file_record,) = [r for r in records if "ObjectCreated" in r["body"]]
    (key,) = created_keys_from_body(file_record["body"])
    assert key.startswith("events/")
    # THEN the messages list shows delivered and failed, with SES's words
    messages = {
        m["address"]: m
        for m in api.call("get", f"/communications/{comm_id}/messages?limit=200").json["items"]
    }
    assert messages["ok@example.com"]["status"] == "DELIVERED"
    assert messages["ok@example.com"]["delivered_at"] == "2026-11-26T14:00:00Z"
    assert messages["Gone@Example.com"]["status"] == "FAILED"
    assert (
        messages["Gone@Example.com"]["error"]
        == "SES bounce (Permanent/General): smtp; 550 5.1.1 user unknown"
    )
    assert messages["angry@example.com"]["status"] == "DELIVERED"
    assert messages["+15145551111"]["status"] == "SENT"  # plain SNS SMS: no delivery events
    failed = api.call("get", f"/communications/{comm_id}/messages?status=FAILED").json["items"]
    assert [m["address"] for m in failed] == ["Gone@Example.com"]
    # AND the counts, per channel and in total
    counts = detail(api, comm_id)
    assert (counts["counts"]["delivered"], counts["counts"]["delivery_failed"]) == (2, 1)
    assert counts["counts_by_channel"]["email"]["delivered"] == 2
    assert counts["counts_by_channel"]["sms"]["delivered"] == 0
    # AND the hard bounce and the complaint are suppressed, case-folded
    suppressed = api.call("get", "/suppressions?channel=email").json["items"]
    assert {(s["address"], s["reason"]) for s in suppressed} == {
        ("gone@example.com", "hard_bounce"),
        ("angry@example.com", "complaint"),
    }


def test_duplicate_and_out_of_order_events_change_nothing(api, client, sent):
    comm_id, by_address = sent["comm_id"], sent["by_address"]
    bounce = ses_event(comm_id, by_address["ok@example.com"], "Bounce", T + timedelta(minutes=5), **BOUNCE)
    publish(ses_event(comm_id, by_address["ok@example.com"], "Delivery", T), bounce)
    run_events_worker(client)
    # the same bounce again (SNS redelivers), and a delivery that happened before it
    publish(
        bounce, bounce, ses_event(comm_id, by_address["ok@example.com"], "Delivery", T + timedelta(minutes=1))
    )
    run_events_worker(client)
    message = api.call("get", f"/communications/{comm_id}/messages/{by_address['ok@example.com']['id']}").json
    assert message["status"] == "FAILED"
    assert message["delivered_at"] is None
    counts = detail(api, comm_id)["counts"]
    assert (counts["delivered"], counts["delivery_failed"]) == (0, 1)
    # AND the event that changed nothing is kept for audit (the applied ones live on in the message)
    stored = boto3.client("dynamodb").scan(TableName=get_settings().delivery_events_table)["Items"]
    assert [i["verdict"]["S"] for i in stored if i["pk"]["S"].startswith("event#ses#")] == ["stale"]


def test_a_suppressed_address_is_skipped_on_the_next_send(api, client, sent):
    comm_id, by_address, accounts = sent["comm_id"], sent["by_address"], sent["accounts"]
    publish(ses_event(comm_id, by_address["Gone@Example.com"], "Bounce", T, **BOUNCE))
    run_events_worker(client)
    again = api.create_communication(channels=["email"])
    api.set_audience(again, [accounts["ok"], accounts["gone"]])
    api.call("post", f"/communications/{again}/send")
    drain(client)
    skipped = api.call("get", f"/communications/{again}/messages?status=SKIPPED").json["items"]
    assert [(m["address"], m["skip_reason"]) for m in skipped] == [("Gone@Example.com", "suppressed")]
    assert detail(api, again)["counts"]["sent"] == 1


def test_an_event_before_its_message_is_recorded_waits_on_the_queue(api, client, delivery_env):
    account = api.put_account(channels=["email"], email="early@example.com")
    comm_id = api.create_communication(channels=["email"])
    api.set_audience(comm_id, [account])
    api.call("post", f"/communications/{comm_id}/send")
    drain(client)
    message = api.call("get", f"/communications/{comm_id}/messages").json["items"][0]
    early = {**message, "id": "00000000-0000-0000-0000-000000000000"}  # not recorded (yet)
    publish(ses_event(comm_id, early, "Delivery", T))
    while deliver_once(client, get_settings().event_files_queue, "event_files_worker"):
        pass
    handed_back = deliver_once(client, get_settings().events_queue, "events_worker")
    assert json.loads(handed_back[0]["body"])["attempt"] == 1
    retry = deliver_once(client, get_settings().events_queue, "events_worker")
    assert json.loads(retry[0]["body"])["attempt"] == 2


def test_an_unreadable_record_fails_alone(api, client, sent):
    comm_id, by_address = sent["comm_id"], sent["by_address"]
    publish_to_topic(ses_event(comm_id, by_address["ok@example.com"], "Delivery", T))
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=get_settings().events_queue)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="{not json")
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    from chalicelib.local.pollers import sqs_event

    event = sqs_event(messages, f"arn:aws:sqs:us-east-1:{ACCOUNT}:herald-dev-events", "us-east-1")
    payload = client.lambda_.invoke("events_worker", event).payload
    poison = next(m["MessageId"] for m in messages if m["Body"] == "{not json")
    assert payload == {"batchItemFailures": [{"itemIdentifier": poison}]}
    assert api.call("get", f"/communications/{comm_id}").json["counts"]["delivered"] == 1


def test_a_file_that_is_not_json_fails_alone_and_an_unreadable_event_in_a_file_is_skipped(api, client, sent):
    from chalicelib.local.pollers import sqs_event

    comm_id, by_address = sent["comm_id"], sent["by_address"]
    settings = get_settings()
    boto3.client("s3").put_object(Bucket=settings.events_bucket, Key="events/garbage", Body=b"\x00 not json")
    no_id = {"eventType": "Delivery", "mail": {"timestamp": "2026-11-26T14:00:00.000Z"}, "delivery": {}}
    publish(no_id, ses_event(comm_id, by_address["ok@example.com"], "Delivery", T))
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=settings.event_files_queue)["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    event = sqs_event(messages, f"arn:aws:sqs:us-east-1:{ACCOUNT}:{settings.event_files_queue}", "us-east-1")
    payload = client.lambda_.invoke("event_files_worker", event).payload
    # THEN only the garbage file goes back (to end in the DLQ); the other file's good event counts
    garbage = next(m["MessageId"] for m in messages if "garbage" in m["Body"])
    assert payload == {"batchItemFailures": [{"itemIdentifier": garbage}]}
    assert api.call("get", f"/communications/{comm_id}").json["counts"]["delivered"] == 1


# -- webhooks ------------------------------------------------------------------------------------


def sendgrid_request(events: list[dict[str, Any]], key=SENDGRID_KEY) -> tuple[dict[str, str], bytes]:
    body = json.dumps(events).encode()
    timestamp = str(int(time.time()))
    signature = key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "Content-Type": "application/json",
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
    }, body


def sendgrid_event(comm_id: str, message: dict[str, Any], name: str, **extra: Any) -> dict[str, Any]:
    return {
        "email": message["address"],
        "timestamp": int(T.timestamp()),
        "event": name,
        "sg_event_id": f"{message['id']}-{name}",
        "sg_message_id": "sg-1.filter",
        "herald_comm_id": comm_id,
        "herald_message_id": message["id"],
        **extra,
    }


def post(client, path: str, headers: dict[str, str], body: bytes) -> Any:
    response = client.http.post(path, headers=headers, body=body)
    response.json = json.loads(response.body) if response.body else None
    return response


def stored_events() -> list[dict[str, Any]]:
    return boto3.client("dynamodb").scan(TableName=get_settings().delivery_events_table)["Items"]


def test_sendgrid_batch_webhook_is_verified_queued_and_recorded_once(api, client, sent):
    comm_id, by_address = sent["comm_id"], sent["by_address"]
    events = [
        sendgrid_event(comm_id, by_address["ok@example.com"], "processed"),
        sendgrid_event(comm_id, by_address["ok@example.com"], "delivered"),
        sendgrid_event(
            comm_id,
            by_address["Gone@Example.com"],
            "bounce",
            type="bounce",
            status="5.1.1",
            reason="550 no such user",
        ),
        sendgrid_event("unknown-comm", {"address": "x@example.com", "id": "nope"}, "delivered"),
    ]
    headers, body = sendgrid_request(events)
    first = post(client, "/webhooks/sendgrid", headers, body)
    # The request only verifies and queues ("processed" is no delivery news): nothing changed yet.
    assert (first.status_code, first.json) == (200, {"accepted": 3}), first.body
    gone_id = by_address["Gone@Example.com"]["id"]
    assert api.call("get", f"/communications/{comm_id}/messages/{gone_id}").json["status"] == "SENT"
    # The events worker applies the batch: both reports, once, and logs the unknown message's event.
    assert len(run_events_worker(client)) == 3
    gone = api.call("get", f"/communications/{comm_id}/messages/{gone_id}").json
    assert (gone["status"], gone["error"]) == ("FAILED", "SendGrid bounce (5.1.1): 550 no such user")
    ok = api.call("get", f"/communications/{comm_id}/messages/{by_address['ok@example.com']['id']}").json
    assert ok["status"] == "DELIVERED"
    counts = detail(api, comm_id)["counts"]
    assert (counts["delivered"], counts["delivery_failed"]) == (1, 1)
    # SendGrid sends the same batch again: accepted, and the worker counts nothing twice.
    assert post(client, "/webhooks/sendgrid", headers, body).json == {"accepted": 3}
    run_events_worker(client)
    counts = detail(api, comm_id)["counts"]
    assert (counts["delivered"], counts["delivery_failed"]) == (1, 1)


def test_forged_webhooks_are_refused_and_record_nothing(api, client, sent):
    comm_id, by_address = sent["comm_id"], sent["by_address"]
    events = [sendgrid_event(comm_id, by_address["ok@example.com"], "delivered")]
    headers, body = sendgrid_request(events, key=ec.generate_private_key(ec.SECP256R1()))
    forged = post(client, "/webhooks/sendgrid", headers, body)
    assert forged.status_code == 403
    assert forged.json["error"]["code"] == "forbidden"
    unsigned = post(client, "/webhooks/sendgrid", {"Content-Type": "application/json"}, body)
    assert unsigned.status_code == 401
    headers, _ = sendgrid_request(events)
    tampered = post(client, "/webhooks/sendgrid", headers, body.replace(b"delivered", b"bounce"))
    assert tampered.status_code == 403
    assert stored_events() == []
    message = api.call("get", f"/communications/{comm_id}/messages/{by_address['ok@example.com']['id']}").json
    assert message["status"] == "SENT"


def test_a_signed_but_malformed_sendgrid_body_is_a_400(client, delivery_env, aws):
    headers, body = sendgrid_request({"not": "a list"})  # type: ignore[arg-type]
    response = post(client, "/webhooks/sendgrid", headers, body)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "validation_error"


def mailgun_body(comm_id: str, message: dict[str, Any], token: str, timestamp: int | None = None) -> bytes:
    stamp = str(timestamp or int(time.time()))
    signature = hmac.new(MAILGUN_KEY.encode(), f"{stamp}{token}".encode(), hashlib.sha256).hexdigest()
    return json.dumps(
        {
            "signature": {"timestamp": stamp, "token": token, "signature": signature},
            "event-data": {
                "event": "delivered",
                "id": f"mg-{token}",
                "timestamp": T.timestamp(),
                "recipient": message["address"],
                "user-variables": {"herald_comm_id": comm_id, "herald_message_id": message["id"]},
            },
        }
    ).encode()


def test_mailgun_webhook_replayed_or_stale_is_refused(api, client, sent):
    comm_id, message = sent["comm_id"], sent["by_address"]["ok@example.com"]
    headers = {"Content-Type": "application/json"}
    body = mailgun_body(comm_id, message, "token-1")
    assert post(client, "/webhooks/mailgun", headers, body).json == {"accepted": 1}
    run_events_worker(client)
    delivered = api.call("get", f"/communications/{comm_id}/messages/{message['id']}").json
    assert delivered["status"] == "DELIVERED"
    replay = post(client, "/webhooks/mailgun", headers, body)
    assert (replay.status_code, replay.json["error"]["message"]) == (
        403,
        "this Mailgun webhook token was already used",
    )
    stale = post(
        client, "/webhooks/mailgun", headers, mailgun_body(comm_id, message, "t-2", int(time.time()) - 7200)
    )
    assert stale.status_code == 403


def test_a_mailgun_webhook_that_could_not_be_queued_is_answered_500_and_taken_on_its_retry(
    api, client, sent, monkeypatch
):
    comm_id, message = sent["comm_id"], sent["by_address"]["ok@example.com"]
    headers = {"Content-Type": "application/json"}
    body = mailgun_body(comm_id, message, "token-sqs-down")
    queue = services().delivery_event_queue

    def sqs_down(events: Any) -> None:
        raise RuntimeError("SQS is unavailable")

    with monkeypatch.context() as patched:
        patched.setattr(queue, "hand_over", sqs_down)
        refused = post(client, "/webhooks/mailgun", headers, body)
    assert refused.status_code == 500
    # Mailgun retries the very same request: its token was not spent on the failed attempt.
    assert post(client, "/webhooks/mailgun", headers, body).json == {"accepted": 1}
    run_events_worker(client)
    assert (
        api.call("get", f"/communications/{comm_id}/messages/{message['id']}").json["status"] == "DELIVERED"
    )


def test_twilio_status_callback_is_verified_against_the_public_url(api, client, sent):
    comm_id, message = sent["comm_id"], sent["by_address"]["+15145551111"]
    query = {"comm_id": comm_id, "message_id": message["id"]}
    form = [
        ("MessageSid", "SM1"),
        ("MessageStatus", "undelivered"),
        ("ErrorCode", "30005"),
        ("To", message["address"]),
    ]
    signature = twilio.compute_signature(TWILIO_TOKEN, twilio.request_url(PUBLIC_URL, query), form)
    from urllib.parse import urlencode

    path = f"/webhooks/twilio?{urlencode(sorted(query.items()))}"
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
    bad = post(client, path, {**headers, "X-Twilio-Signature": "AAAA"}, urlencode(form).encode())
    assert bad.status_code == 403
    good = post(client, path, headers, urlencode(form).encode())
    assert good.json == {"accepted": 1}
    run_events_worker(client)
    stored = api.call("get", f"/communications/{comm_id}/messages/{message['id']}").json
    assert (stored["status"], stored["error"]) == (
        "FAILED",
        "Twilio undelivered (30005): unknown destination handset",
    )
    assert api.call("get", "/suppressions?channel=sms").json["items"][0]["address"] == message["address"]


def test_sns_webhook_refuses_certificates_off_sns_and_unlisted_topics(client, delivery_env, aws):
    envelope = {
        "Type": "Notification",
        "MessageId": "m",
        "TopicArn": TOPIC_ARN,
        "Message": "{}",
        "Timestamp": "2026-11-26T14:00:00.000Z",
        "SignatureVersion": "2",
        "Signature": base64.b64encode(b"x" * 256).decode(),
        "SigningCertURL": "https://evil.example/SimpleNotificationService-x.pem",
    }
    headers = {"Content-Type": "text/plain; charset=UTF-8"}
    assert post(client, "/webhooks/sns", headers, json.dumps(envelope).encode()).status_code == 403
    other = {**envelope, "TopicArn": TOPIC_ARN.replace("herald-dev", "other")}
    assert post(client, "/webhooks/sns", headers, json.dumps(other).encode()).status_code == 403
    assert post(client, "/webhooks/sns", headers, b"not json").status_code == 400
    assert stored_events() == []


def test_ses_identity_notifications_without_tags_map_through_the_provider_id_index(
    api, client, delivery_env, monkeypatch
):
    # GIVEN a deployment whose SES events come as identity notifications (no tags), indexed by SES id
    monkeypatch.setenv("HERALD_INDEX_PROVIDER_IDS", "ses")
    get_settings.cache_clear()
    services.cache_clear()
    account = api.put_account(channels=["email"], email="untagged@example.com")
    comm_id = api.create_communication(channels=["email"])
    api.set_audience(comm_id, [account])
    api.call("post", f"/communications/{comm_id}/send")
    drain(client)
    message = api.call("get", f"/communications/{comm_id}/messages").json["items"][0]
    # WHEN SES reports a hard bounce carrying only its own message id
    notification = ses_event(comm_id, message, "Bounce", T, **BOUNCE)
    del notification["mail"]["tags"]
    notification["notificationType"] = notification.pop("eventType")
    publish_to_topic(notification)
    run_events_worker(client)
    # THEN the message it belongs to failed
    stored = api.call("get", f"/communications/{comm_id}/messages/{message['id']}").json
    assert stored["status"] == "FAILED"


def test_a_worker_dying_while_writing_leaves_counts_exact_after_redelivery(api, client, sent, monkeypatch):
    comm_id, by_address = sent["comm_id"], sent["by_address"]
    publish(
        ses_event(comm_id, by_address["ok@example.com"], "Delivery", T),
        ses_event(comm_id, by_address["Gone@Example.com"], "Bounce", T, **BOUNCE),
    )
    store = services().delivery_tracker.store
    writes = store.apply

    def dies(*args, **kwargs):
        raise TimeoutError("Lambda timed out")

    # GIVEN a worker that dies while writing statuses and counters (SQS keeps the file's record)
    monkeypatch.setattr(store, "apply", dies)
    queue = get_settings().event_files_queue
    records = deliver_once(client, queue, "event_files_worker", delete=False)
    assert any("ObjectCreated" in r["body"] for r in records)
    monkeypatch.setattr(store, "apply", writes)
    # WHEN SQS delivers them again
    run_events_worker(client)
    run_events_worker(client)
    # THEN each is counted once
    counts = detail(api, comm_id)["counts"]
    assert (counts["delivered"], counts["delivery_failed"]) == (1, 1)


def _dies_before_counting(monkeypatch, store) -> None:
    def dies(*args, **kwargs):
        raise TimeoutError("Lambda timed out")

    monkeypatch.setattr(store, "_close_tally", dies)


def test_statuses_written_by_a_worker_that_died_before_counting_are_counted_once_by_the_sweep(
    api, client, sent, monkeypatch
):
    comm_id, by_address = sent["comm_id"], sent["by_address"]
    publish_to_topic(
        ses_event(comm_id, by_address["ok@example.com"], "Delivery", T),
        ses_event(comm_id, by_address["Gone@Example.com"], "Bounce", T, **BOUNCE),
    )
    # GIVEN a worker that wrote both statuses, then died before adding them to the counters
    store = services().delivery_tracker.store
    _dies_before_counting(monkeypatch, store)
    assert len(deliver_once(client, get_settings().events_queue, "events_worker", delete=False)) == 2
    monkeypatch.undo()
    # WHEN SQS delivers the events again, and later the sweep comes by
    run_events_worker(client)
    run_events_worker(client)
    assert (
        detail(api, comm_id)["counts"]["delivered"],
        detail(api, comm_id)["counts"]["delivery_failed"],
    ) == (0, 0)
    rig = Rig()
    assert rig.sweep(after_s=60).get("tally_settled") is None  # its worker may still be at it
    assert rig.sweep(after_s=600)["tally_settled"] == 1
    # THEN each status is counted once, and sweeping again changes nothing
    assert rig.sweep(after_s=600).get("tally_settled") is None
    counts = detail(api, comm_id)["counts"]
    assert (counts["delivered"], counts["delivery_failed"]) == (1, 1)
    stored = api.call("get", f"/communications/{comm_id}/messages/{by_address['ok@example.com']['id']}").json
    assert stored["status"] == "DELIVERED"


def test_a_later_event_waits_until_the_change_before_it_is_counted(api, client, sent, monkeypatch):
    comm_id, message = sent["comm_id"], sent["by_address"]["ok@example.com"]
    # GIVEN a delivery written by a worker that died before counting it
    publish_to_topic(ses_event(comm_id, message, "Delivery", T))
    _dies_before_counting(monkeypatch, services().delivery_tracker.store)
    deliver_once(client, get_settings().events_queue, "events_worker")
    monkeypatch.undo()
    # WHEN a bounce of the same message arrives before the sweep counted the delivery
    publish_to_topic(ses_event(comm_id, message, "Bounce", T + timedelta(minutes=1), **BOUNCE))
    handed_back = deliver_once(client, get_settings().events_queue, "events_worker")
    # THEN it waits on the queue, and applies once the delivery is counted
    assert (
        json.loads(deliver_once(client, get_settings().events_queue, "events_worker")[0]["body"])["attempt"]
        == 1
    )
    assert len(handed_back) == 1
    stored = api.call("get", f"/communications/{comm_id}/messages/{message['id']}").json
    assert stored["status"] == "DELIVERED"
    Rig().sweep(after_s=600)
    run_events_worker(client)
    stored = api.call("get", f"/communications/{comm_id}/messages/{message['id']}").json
    assert stored["status"] == "FAILED"
    counts = detail(api, comm_id)["counts"]
    assert (counts["delivered"], counts["delivery_failed"]) == (0, 1)


def test_an_event_meeting_a_tally_long_past_its_worker_settles_it_without_the_sweep(
    api, client, sent, monkeypatch
):
    comm_id, message = sent["comm_id"], sent["by_address"]["ok@example.com"]
    # GIVEN a delivery written by a worker that died before counting it, long ago
    publish_to_topic(ses_event(comm_id, message, "Delivery", T))
    store = services().delivery_store
    _dies_before_counting(monkeypatch, store)
    deliver_once(client, get_settings().events_queue, "events_worker")
    monkeypatch.undo()
    monkeypatch.setattr(store, "_clock", SimulatedClock(time.time() + 3600))
    # WHEN a bounce of the same message arrives
    publish(ses_event(comm_id, message, "Bounce", T + timedelta(minutes=1), **BOUNCE))
    run_events_worker(client)
    # THEN the delivery was counted, then the bounce moved it: nothing waited for the sweep
    stored = api.call("get", f"/communications/{comm_id}/messages/{message['id']}").json
    assert stored["status"] == "FAILED"
    counts = detail(api, comm_id)["counts"]
    assert (counts["delivered"], counts["delivery_failed"]) == (0, 1)
    assert Rig().sweep(after_s=3600).get("tally_settled") is None


def test_ses_events_over_an_sns_https_subscription(api, client, sent):
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from cryptography.x509.oid import NameOID

    from chalicelib.adapters.sns_events import string_to_sign

    # GIVEN SNS's signing certificate, served (to the injected fetcher) from sns.us-east-1.amazonaws.com
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(T - timedelta(days=1))
        .not_valid_after(T + timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    cert_url = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-test.pem"
    fetched: list[str] = []

    def fetch(url: str) -> bytes:
        fetched.append(url)
        return certificate.public_bytes(serialization.Encoding.PEM)

    svc = services()
    svc._fetch_from_sns = fetch  # type: ignore[method-assign]

    def signed(envelope: dict[str, Any]) -> bytes:
        envelope = {**envelope, "SignatureVersion": "1", "SigningCertURL": cert_url}
        signature = key.sign(string_to_sign(envelope), padding.PKCS1v15(), hashes.SHA1())
        return json.dumps({**envelope, "Signature": base64.b64encode(signature).decode()}).encode()

    headers = {"Content-Type": "text/plain; charset=UTF-8"}
    subscribe_url = (
        f"https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={TOPIC_ARN}&Token=t"
    )
    confirmation = {
        "Type": "SubscriptionConfirmation",
        "MessageId": "c-1",
        "Token": "t",
        "TopicArn": TOPIC_ARN,
        "Message": "You have chosen to subscribe",
        "SubscribeURL": subscribe_url,
        "Timestamp": "2026-11-26T14:00:00.000Z",
    }
    # WHEN SNS asks to confirm the subscription, then delivers an SES bounce
    assert post(client, "/webhooks/sns", headers, signed(confirmation)).json == {"confirmed": True}
    comm_id, message = sent["comm_id"], sent["by_address"]["Gone@Example.com"]
    notification = {
        "Type": "Notification",
        "MessageId": "n-1",
        "TopicArn": TOPIC_ARN,
        "Message": json.dumps(ses_event(comm_id, message, "Bounce", T, **BOUNCE)),
        "Timestamp": "2026-11-26T14:00:01.000Z",
    }
    answer = post(client, "/webhooks/sns", headers, signed(notification))
    # THEN the subscription was confirmed at SNS, the certificate fetched once, the bounce recorded
    assert answer.json == {"accepted": 1}
    run_events_worker(client)
    assert fetched == [cert_url, subscribe_url]
    stored = api.call("get", f"/communications/{comm_id}/messages/{message['id']}").json
    assert stored["status"] == "FAILED"
