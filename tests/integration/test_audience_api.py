"""Audiences through the API and the import worker: CSV bodies, filters, S3 uploads, rejected lines."""

from __future__ import annotations

import uuid

import boto3
import pytest
import requests

from chalicelib.settings import get_settings
from tests.integration.conftest import deliver_once

pytestmark = pytest.mark.integration

CSV = {"Content-Type": "text/csv"}


def audience(api, comm_id):
    return api.call("get", f"/communications/{comm_id}").json["audience"]


def test_a_spreadsheet_export_with_bom_semicolons_crlf_and_quotes_is_taken(api):
    known = [api.put_account() for _ in range(3)]
    comm_id = api.create_communication()
    body = (
        "\ufeffNom;Account ID;Remarque\r\n"
        f'"Tremblay; Marie";{known[0]};"dit ""bonjour"""\r\n'
        f'Hopper;"{known[1]}";\r\n'
        f"\r\n   \r\nTuring;{known[2].upper()};x\r\n"
        f'Curie;"=HYPERLINK(""http://evil.example"")";y\r\n'
    ).encode()
    response = api.call("put", f"/communications/{comm_id}/audience", body, CSV)
    assert response.status_code == 200, response.body
    assert response.json["accepted"] == 3
    assert response.json["errors"] == [
        {"line": 7, "value": '=HYPERLINK("http://evil.example")', "error": "not a UUID"}
    ]
    assert audience(api, comm_id)["state"] == "ready"


def test_inactive_accounts_are_rejected_by_line(api):
    active, inactive = api.put_account(), api.put_account(status="inactive")
    comm_id = api.create_communication()
    response = api.set_audience(comm_id, [active, inactive])
    assert response.json["accepted"] == 1
    assert response.json["errors"] == [{"line": 3, "value": inactive, "error": "inactive account"}]


def test_a_body_over_the_direct_limit_is_413_and_points_to_the_upload_url(api):
    comm_id = api.create_communication()
    first = api.put_account()
    assert api.set_audience(comm_id, [first]).status_code == 200
    body = "account_id\n" + (str(uuid.uuid4()) + "\n") * 300_000  # ~11 MB
    response = api.call("put", f"/communications/{comm_id}/audience", body, CSV)
    assert response.status_code == 413
    assert response.json["error"]["code"] == "payload_too_large"
    assert "upload URL" in response.json["error"]["message"]
    assert audience(api, comm_id)["accepted"] == 1


@pytest.mark.parametrize(
    "body",
    [b"\x00\x01\x02binary\xff\xfe", b"%PDF-1.7\n\x00\x00\x9c", b"   \n\n"],
)
def test_binary_or_empty_bodies_are_400_and_change_nothing(api, body):
    comm_id = api.create_communication()
    account = api.put_account()
    api.set_audience(comm_id, [account])
    response = api.call("put", f"/communications/{comm_id}/audience", body, CSV)
    assert response.status_code == 400
    assert audience(api, comm_id)["accepted"] == 1


def test_many_rejected_lines_are_all_listed_in_a_downloadable_file(api):
    comm_id = api.create_communication()
    account = api.put_account()
    body = "account_id\n" + "".join(f"bad-{i}\n" for i in range(1500)) + account + "\n"
    response = api.call("put", f"/communications/{comm_id}/audience", body, CSV)
    assert response.json["rejected"] == 1500 and len(response.json["errors"]) == 1000
    assert response.json["errors_url"] == f"/communications/{comm_id}/audience/errors.csv"
    redirect = api.call("get", response.json["errors_url"])
    assert redirect.status_code == 302
    key = redirect.headers["Location"].split("?")[0].split(".amazonaws.com/")[1]
    rows = _object(key).decode().splitlines()
    assert rows[0] == "line,value,error" and len(rows) == 1501
    assert rows[1] == "2,bad-0,not a UUID"


def _object(key: str) -> bytes:
    bucket = get_settings().files_bucket
    return boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()


# -- filters -----------------------------------------------------------------------------------


@pytest.fixture
def segmented(api):
    """Accounts across service areas, providers and segments (one inactive)."""
    spec = {
        "a": ("north", "acme", "gold", "active"),
        "b": ("north", "acme", "silver", "active"),
        "c": ("south", "acme", "gold", "active"),
        "d": ("south", "bolt", "gold", "inactive"),
        "e": ("east", "bolt", "bronze", "active"),
        "f": ("north", None, "gold", "active"),
    }
    ids = {}
    for name, (area, provider, segment, status) in spec.items():
        fields = {"service_area": area, "segment": segment, "status": status}
        if provider:
            fields["network_provider"] = provider
        ids[name] = api.put_account(**fields)
    return ids


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        ({"service_area": ["north"]}, "abf"),
        ({"service_area": ["north", "south"]}, "abcdf"),
        ({"service_area": ["north", "south"], "segment": ["gold"]}, "acdf"),
        ({"service_area": ["north", "south"], "segment": ["gold"], "network_provider": ["acme"]}, "ac"),
        ({"network_provider": ["bolt"], "segment": ["bronze", "gold"]}, "de"),
    ],
)
def test_a_filter_selects_through_the_indexes_and_combines_and_across_or_within(
    api, segmented, filter_, expected
):
    client = boto3.client("dynamodb")
    comm_id = api.create_communication()
    response = api.call("put", f"/communications/{comm_id}/audience", {"filter": filter_})
    assert response.status_code == 200, response.body
    assert response.json == {
        "accepted": len(expected),
        "duplicates": 0,
        "rejected": 0,
        "errors": [],
        "filter": filter_,
    }
    chunk = client.get_item(
        TableName=get_settings().audiences_table,
        Key={"comm_id": {"S": comm_id}, "sk": {"S": "chunk#000000"}},
    )["Item"]["ids"]["S"].split("\n")
    assert sorted(chunk) == sorted(segmented[name] for name in expected)
    summary = audience(api, comm_id)
    assert (summary["source"], summary["state"], summary["filter"]) == ("filter", "ready", filter_)


def test_filters_never_scan_the_accounts_table(api, segmented, monkeypatch):
    from chalicelib.wiring import services

    dynamodb = services().dynamodb
    calls = []
    original = dynamodb.scan
    monkeypatch.setattr(dynamodb, "scan", lambda **kw: calls.append(kw) or original(**kw))
    comm_id = api.create_communication()
    api.call("put", f"/communications/{comm_id}/audience", {"filter": {"segment": ["gold"]}})
    assert calls == []


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"filter": {}}, 422),
        ({"filter": {"segment": []}}, 422),
        ({"filter": {"segment": ["platinum"]}}, 422),
        ({"filter": {"colour": ["red"]}}, 422),
        ({"filter": {"segment": "gold"}}, 422),
        ({"nope": 1}, 422),
    ],
)
def test_bad_or_empty_filters_are_4xx_and_change_nothing(api, segmented, body, status):
    comm_id = api.create_communication()
    api.set_audience(comm_id, [segmented["a"]])
    response = api.call("put", f"/communications/{comm_id}/audience", body)
    assert response.status_code == status, response.body
    assert audience(api, comm_id)["accepted"] == 1


# -- uploads through S3 ------------------------------------------------------------------------


def _upload(api, comm_id, body: bytes):
    ticket = api.call("post", f"/communications/{comm_id}/audience/upload-url")
    assert ticket.status_code == 201, ticket.body
    assert set(ticket.json) >= {"url", "fields", "expires_at"}
    response = requests.post(
        ticket.json["url"],
        data=ticket.json["fields"],
        files={"file": ("audience.csv", body, "text/csv")},
        timeout=30,
    )
    assert response.status_code == 204, response.text
    return ticket.json


def _run_import_worker(client):
    return deliver_once(client, get_settings().audience_import_queue, "audience_import_worker")


def test_a_large_csv_goes_through_a_presigned_upload_and_the_import_worker(api, client):
    known = [api.put_account() for _ in range(5)]
    inactive = api.put_account(status="inactive")
    comm_id = api.create_communication()
    lines = ["account_id", *known, known[0], "junk", inactive, str(uuid.uuid4())]
    _upload(api, comm_id, ("\r\n".join(lines) + "\r\n").encode("utf-8-sig"))
    assert _run_import_worker(client)
    summary = audience(api, comm_id)
    assert summary["state"] == "ready"
    assert (summary["accepted"], summary["duplicates"], summary["rejected"]) == (5, 1, 3)
    assert summary["source"] == "upload"
    redirect = api.call("get", summary["errors_url"])
    rows = requests.get(redirect.headers["Location"], timeout=30).text.splitlines()
    assert rows[1:] == [
        "8,junk,not a UUID",
        f"9,{inactive},inactive account",
        f"10,{lines[9]},unknown account",
    ]
    assert api.call("post", f"/communications/{comm_id}/send").status_code == 202


def test_a_repeated_s3_notification_imports_the_file_once(api, client):
    from chalicelib.wiring import services

    known = [api.put_account() for _ in range(2)]
    comm_id = api.create_communication()
    _upload(api, comm_id, ("account_id\n" + "\n".join(known) + "\n").encode())
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=get_settings().audience_import_queue)["QueueUrl"]
    (notification,) = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)["Messages"]
    assert _run_import_worker(client)
    calls = []
    original = services().files.read_chunks
    services().files.read_chunks = lambda key: calls.append(key) or original(key)  # type: ignore[method-assign]
    # S3 delivers at least once: the same notification again
    sqs.send_message(QueueUrl=url, MessageBody=notification["Body"])
    assert _run_import_worker(client)
    assert calls == []
    assert audience(api, comm_id)["accepted"] == 2


def test_an_upload_that_is_not_csv_leaves_the_audience_failed_with_the_reason(api, client):
    comm_id = api.create_communication()
    _upload(api, comm_id, b"\x89PNG\r\n\x1a\n\x00\x00binary")
    _run_import_worker(client)
    summary = audience(api, comm_id)
    assert summary["state"] == "failed"
    assert "UTF-8" in summary["error"]
    response = api.call("post", f"/communications/{comm_id}/send")
    assert response.status_code == 422
    assert "failed" in response.json["error"]["details"][0]["error"]


def test_the_upload_url_is_for_drafts_only(api, client):
    account = api.put_account()
    comm_id = api.create_communication()
    api.set_audience(comm_id, [account])
    api.call("post", f"/communications/{comm_id}/send")
    assert api.call("post", f"/communications/{comm_id}/audience/upload-url").status_code == 409
