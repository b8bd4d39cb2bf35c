"""Accounts API against DynamoDB (moto)."""

from __future__ import annotations

import base64
import json
import uuid

import pytest

from tests.conftest import account_body

pytestmark = pytest.mark.integration


def test_put_creates_then_replaces_an_account(api):
    # GIVEN a new account id
    account_id = str(uuid.uuid4())
    # WHEN it is put twice
    first = api.call("put", f"/accounts/{account_id}", account_body())
    second = api.call("put", f"/accounts/{account_id}", account_body(first_name="Irène"))
    # THEN it is created once and replaced once, and reads back with the latest data
    assert (first.status_code, second.status_code) == (201, 200)
    fetched = api.call("get", f"/accounts/{account_id}")
    assert fetched.json["first_name"] == "Irène"
    assert fetched.json["status"] == "active"
    assert fetched.json["channels"] == ["email", "sms"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (account_body(phone="5145550100"), "phone"),
        (account_body(email="not-an-email"), "email"),
        (account_body(language="français"), "language"),
        (account_body(channels=["fax"]), "channels.0"),
        (account_body(timezone="Mars/Olympus"), "timezone"),
        (account_body(nickname="Mimi"), "nickname"),
        (account_body(first_name=42), "first_name"),
    ],
)
def test_invalid_account_fields_are_rejected_with_the_field_named(api, body, field):
    account_id = str(uuid.uuid4())
    response = api.call("put", f"/accounts/{account_id}", body)
    assert response.status_code == 422
    assert response.json["error"]["code"] == "validation_error"
    assert field in [d["field"] for d in response.json["error"]["details"]]
    assert api.call("get", f"/accounts/{account_id}").status_code == 404


def test_malformed_json_is_a_400_and_nothing_is_stored(api):
    account_id = str(uuid.uuid4())
    response = api.call("put", f"/accounts/{account_id}", '{"first_name": ')
    assert response.status_code == 400
    assert response.json["error"]["code"] == "validation_error"
    assert api.call("get", f"/accounts/{account_id}").status_code == 404


def test_an_account_id_that_is_not_a_uuid_is_rejected(api):
    response = api.call("put", "/accounts/bob", account_body())
    assert response.status_code == 422


def test_import_upserts_good_rows_and_reports_bad_lines(api):
    good, other = str(uuid.uuid4()), str(uuid.uuid4())
    csv = (
        "account_id,first_name,last_name,email,phone,language,channels,segment\n"
        f"{good},Ada,Lovelace,ada@example.com,+15145550101,en,email|sms,residential\n"
        "not-a-uuid,Bad,Row,bad@example.com,,en,email,\n"
        f"{other},Émile,Nelligan,,+15145550102,fr-CA,sms,business\n"
        f"{uuid.uuid4()},No,Phone,x@example.com,514,fr,sms,\n"
    )
    response = api.call("post", "/accounts/import", csv, {"Content-Type": "text/csv"})
    assert response.status_code == 200
    assert response.json["upserted"] == 2
    assert [e["line"] for e in response.json["errors"]] == [3, 5]
    assert api.call("get", f"/accounts/{other}").json["language"] == "fr-CA"
    listed = api.call("get", "/accounts?segment=business")
    assert [a["account_id"] for a in listed.json["items"]] == [other]


def test_import_of_a_file_that_is_not_csv_is_a_400(api):
    response = api.call("post", "/accounts/import", "just some words", {"Content-Type": "text/csv"})
    assert response.status_code == 400
    assert response.json["error"]["code"] == "validation_error"


def test_listing_pages_with_a_cursor(api):
    created = {api.put_account() for _ in range(7)}
    seen: list[str] = []
    cursor = None
    while True:
        path = "/accounts?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = api.call("get", path).json
        seen += [a["account_id"] for a in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(created)


@pytest.mark.parametrize("query", ["limit=0", "limit=500", "limit=ten", "cursor=%%%"])
def test_bad_paging_parameters_are_4xx(api, query):
    response = api.call("get", f"/accounts?{query}")
    assert 400 <= response.status_code < 500


@pytest.mark.parametrize(
    "start_key",
    [
        {"account_id": "not an attribute value"},
        {"account_id": {"S": 5}},
        {"account_id": {"XX": "x"}},
        {"account_id": {"S": "a", "N": "1"}},
        {"account_id": {"M": {}}},
    ],
)
def test_a_cursor_that_is_not_one_of_ours_is_a_400(api, start_key):
    api.put_account()
    cursor = base64.urlsafe_b64encode(json.dumps(start_key).encode()).decode()
    response = api.call("get", f"/accounts?limit=3&cursor={cursor}")
    assert response.status_code == 400, response.body
    assert "cursor" in response.json["error"]["message"]
