"""The tabs that let an admin fix what failed: send failures by account, clone for a resend, suppressions."""

from __future__ import annotations

import boto3
import pytest

from chalicelib.settings import get_settings
from tests.integration.conftest import drain

pytestmark = pytest.mark.integration


@pytest.fixture
def failed_comm(api, client):
    """Email refused by SES for everyone (identity removed); SMS goes out through SNS."""
    accounts = {
        "both": api.put_account(email="both@example.com", phone="+15145551111"),
        "email_only": api.put_account(email="solo@example.com", channels=["email"]),
        "sms_only": api.put_account(email=None, phone="+15145552222", channels=["sms"]),
    }
    comm_id = api.create_communication()
    api.set_audience(comm_id, list(accounts.values()))
    boto3.client("ses").delete_identity(Identity=get_settings().from_email)
    api.call("post", f"/communications/{comm_id}/send")
    drain(client)
    return comm_id, accounts


def test_send_failures_are_grouped_by_account_with_what_else_it_got(api, failed_comm):
    comm_id, accounts = failed_comm
    page = api.call("get", f"/communications/{comm_id}/send-failures").json
    groups = {g["account_id"]: g for g in page["items"]}
    assert set(groups) == {accounts["both"], accounts["email_only"]}
    assert groups[accounts["both"]]["got_other_message"] is True
    assert [o["status"] for o in groups[accounts["both"]]["other_messages"]] == ["SENT"]
    assert groups[accounts["email_only"]]["got_other_message"] is False
    [failure] = groups[accounts["email_only"]]["failures"]
    assert failure["channel"] == "email" and "not verified" in failure["error"]
    # one account per page at a time, each listed once across pages
    seen, cursor = [], ""
    while True:
        small = api.call("get", f"/communications/{comm_id}/send-failures?limit=1{cursor}").json
        seen += [g["account_id"] for g in small["items"]]
        if not small["next_cursor"]:
            break
        cursor = f"&cursor={small['next_cursor']}"
    assert sorted(seen) == sorted(groups)


def test_send_failures_as_csv_reimport_as_an_audience(api, failed_comm):
    comm_id, accounts = failed_comm
    response = api.client.http.get(
        f"/communications/{comm_id}/send-failures", headers={**api.auth, "Accept": "text/csv"}
    )
    assert response.headers["Content-Type"] == "text/csv"
    lines = response.body.decode().splitlines()
    assert lines[0] == "account_id"
    assert sorted(lines[1:]) == sorted([accounts["both"], accounts["email_only"]])
    draft = api.create_communication()
    imported = api.call(
        "put", f"/communications/{draft}/audience", response.body, {"Content-Type": "text/csv"}
    )
    assert imported.json["accepted"] == 2


def test_clone_with_send_failures_targets_exactly_those_accounts(api, failed_comm):
    comm_id, accounts = failed_comm
    original = api.call("get", f"/communications/{comm_id}").json
    response = api.call("post", f"/communications/{comm_id}/clone", {"only": "send_failures"})
    assert response.status_code == 201, response.body
    clone = response.json
    assert clone["status"] == "DRAFT" and clone["id"] != comm_id
    assert clone["content"] == original["content"]
    assert clone["name"] == "Planned maintenance (resend to send failures)"
    assert clone["audience"]["accepted"] == 2 and clone["audience"]["source"] == "clone"
    stored = api.call("get", f"/communications/{clone['id']}").json
    assert stored["audience"]["accepted"] == 2
    # the clone sends to exactly those accounts once SES is fixed
    boto3.client("ses").verify_email_identity(EmailAddress=get_settings().from_email)
    api.call("post", f"/communications/{clone['id']}/send")
    from tests.integration.conftest import drain as run

    run(api.client)
    messages = api.call("get", f"/communications/{clone['id']}/messages?limit=200").json["items"]
    assert {m["account_id"] for m in messages} == {accounts["both"], accounts["email_only"]}


def test_clone_without_only_copies_the_content_not_the_audience(api, failed_comm):
    comm_id, _ = failed_comm
    response = api.call("post", f"/communications/{comm_id}/clone", {"only": None})
    assert response.status_code == 201
    assert response.json["audience"]["accepted"] == 0
    assert response.json["name"] == "Planned maintenance (copy)"
    assert api.call("post", f"/communications/{comm_id}/clone", "").status_code == 201


def test_clone_refusals(api, failed_comm, client):
    comm_id, _ = failed_comm
    assert api.call("post", f"/communications/{comm_id}/clone", {"only": "everyone"}).status_code == 422
    assert api.call("post", f"/communications/{comm_id}/clone", {"only": None, "x": 1}).status_code == 422
    assert api.call("post", f"/communications/{comm_id}/clone", "{not json").status_code == 400
    nothing = api.call("post", f"/communications/{comm_id}/clone", {"only": "delivery_failures"})
    assert nothing.status_code == 422
    draft = api.create_communication()
    assert api.call("post", f"/communications/{draft}/clone", {"only": "send_failures"}).status_code == 409
    missing = "00000000-0000-4000-8000-000000000000"
    assert api.call("post", f"/communications/{missing}/clone", {}).status_code == 404
    listed = api.call("get", "/communications?limit=200").json["items"]
    assert len(listed) == 2  # the failed one and the draft: nothing was created by the refusals


def test_viewers_read_failures_but_cannot_clone(api, failed_comm, client):
    from chalicelib.local.tokens import VIEWER, mint_dev_token

    comm_id, _ = failed_comm
    viewer = {"Authorization": f"Bearer {mint_dev_token('v-1', 'Vera', 'Viewer', permissions=VIEWER)}"}
    assert client.http.get(f"/communications/{comm_id}/send-failures", headers=viewer).status_code == 200
    headers = {**viewer, "Content-Type": "application/json"}
    assert client.http.post(f"/communications/{comm_id}/clone", headers=headers, body="{}").status_code == 403


def test_suppressions_can_be_listed_added_and_lifted(api):
    added = api.call("post", "/suppressions", {"channel": "email", "address": "Someone@Example.com"})
    assert added.status_code == 201
    assert added.json["address"] == "someone@example.com" and added.json["reason"] == "manual"
    assert api.call("post", "/suppressions", {"channel": "sms", "address": "5551234"}).status_code == 422
    assert api.call("post", "/suppressions", {"channel": "fax", "address": "x"}).status_code == 422
    assert [s["address"] for s in api.call("get", "/suppressions").json["items"]] == ["someone@example.com"]
    assert api.call("delete", "/suppressions/email/someone%40example.com").status_code == 204
    assert api.call("delete", "/suppressions/email/someone%40example.com").status_code == 404
    assert api.call("get", "/suppressions").json["items"] == []


def test_every_route_the_app_serves_is_in_the_openapi_document(client):
    from app import app

    served = {(path, method.lower()) for path, methods in app.routes.items() for method in methods}
    documented = {
        (path, method)
        for path, operations in client.http.get("/openapi.json").json_body["paths"].items()
        for method in operations
    }
    assert served == documented
    webhook = client.http.get("/openapi.json").json_body["paths"]["/webhooks/sns"]["post"]
    assert "security" not in webhook  # proven by signature, not by admin auth
