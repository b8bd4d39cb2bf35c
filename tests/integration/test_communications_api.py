"""Communications API: drafts, audience CSVs, bad input, and the message list."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.conftest import BILINGUAL_CONTENT, drain

pytestmark = pytest.mark.integration


def test_a_draft_is_created_read_patched_and_deleted(api):
    comm_id = api.create_communication()
    fetched = api.call("get", f"/communications/{comm_id}").json
    assert fetched["status"] == "DRAFT"
    assert fetched["content"]["sms"]["fr"]["body"].startswith("Bonjour")
    assert fetched["sent_by"] is None and fetched["started_at"] is None
    assert fetched["created_by"]["first_name"] == "Ada"

    patched = api.call("patch", f"/communications/{comm_id}", {"name": "Renamed", "wizard_step": "message"})
    assert patched.status_code == 200
    assert (patched.json["name"], patched.json["wizard_step"]) == ("Renamed", "message")
    assert patched.json["content"] == fetched["content"]

    assert api.call("delete", f"/communications/{comm_id}").status_code == 204
    assert api.call("get", f"/communications/{comm_id}").status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "channels": ["email"], "default_language": "en", "colour": "red"},
        {"name": "x", "channels": ["pigeon"], "default_language": "en"},
        {"name": "", "channels": ["email"], "default_language": "en"},
        {"name": "x", "channels": [], "default_language": "en"},
        {"name": "x", "channels": "email", "default_language": "en"},
        {"channels": ["email"], "default_language": "en"},
        {
            "name": "x",
            "channels": ["email"],
            "default_language": "en",
            "content": {"email": {"en": {"subject": "{{ account.first_name ", "text": "t"}}},
        },
    ],
)
def test_invalid_drafts_are_422_and_nothing_is_created(api, body):
    response = api.call("post", "/communications", body)
    assert response.status_code == 422, response.body
    assert response.json["error"]["details"]
    assert api.call("get", "/communications").json["items"] == []


def test_malformed_json_is_400(api):
    response = api.call("post", "/communications", "{not json")
    assert response.status_code == 400
    assert response.json["error"]["code"] == "validation_error"


def test_list_is_newest_first_with_counts_and_paging(api):
    ids = [api.create_communication(name=f"c{i}") for i in range(3)]
    first = api.call("get", "/communications?limit=2").json
    assert [c["id"] for c in first["items"]] == ids[::-1][:2]
    assert first["items"][0]["counts"]["messages_total"] == 0
    assert first["items"][0]["sent_pct"] is None
    second = api.call("get", f"/communications?limit=2&cursor={first['next_cursor']}").json
    assert [c["id"] for c in second["items"]] == ids[:1]
    drafts = api.call("get", "/communications?status=DRAFT").json["items"]
    assert len(drafts) == 3
    assert api.call("get", "/communications?status=NOPE").status_code == 422


def test_audience_csv_takes_good_lines_and_reports_bad_ones(api):
    known = [api.put_account() for _ in range(3)]
    unknown = str(uuid.uuid4())
    comm_id = api.create_communication()
    csv = (
        f"Account UUID,name\n{known[0]},a\nnope,b\n{known[1]},c\n{known[0]},d\n{unknown},e\n\n{known[2]},f\n"
    )
    response = api.call("put", f"/communications/{comm_id}/audience", csv, {"Content-Type": "text/csv"})
    assert response.status_code == 200
    assert response.json == {
        "accepted": 3,
        "duplicates": 1,
        "rejected": 2,
        "errors": [
            {"line": 3, "value": "nope", "error": "not a UUID"},
            {"line": 6, "value": unknown, "error": "unknown account"},
        ],
    }
    audience = api.call("get", f"/communications/{comm_id}").json["audience"]
    assert (audience["accepted"], audience["duplicates"], audience["rejected"]) == (3, 1, 2)


@pytest.mark.parametrize(
    "body",
    ["", "   \n", '{"filter": 1}', "\x00\x01binary", "first,second\nfoo,bar\n"],
)
def test_a_body_that_is_not_an_audience_csv_is_4xx_and_keeps_the_audience(api, body):
    comm_id = api.create_communication()
    api.set_audience(comm_id, [api.put_account()])
    response = api.call("put", f"/communications/{comm_id}/audience", body, {"Content-Type": "text/csv"})
    assert 400 <= response.status_code < 500
    assert api.call("get", f"/communications/{comm_id}").json["audience"]["accepted"] == 1


def test_sending_an_empty_audience_is_422_and_stays_a_draft(api):
    comm_id = api.create_communication()
    response = api.call("post", f"/communications/{comm_id}/send")
    assert response.status_code == 422
    assert api.call("get", f"/communications/{comm_id}").json["status"] == "DRAFT"


def test_sending_without_default_language_content_is_422(api):
    comm_id = api.create_communication(default_language="es")
    api.set_audience(comm_id, [api.put_account()])
    response = api.call("post", f"/communications/{comm_id}/send")
    assert response.status_code == 422
    assert api.call("get", f"/communications/{comm_id}").json["status"] == "DRAFT"


def test_a_sent_communication_cannot_be_edited_deleted_or_given_a_new_audience(api, client):
    account = api.put_account()
    comm_id = api.create_communication()
    api.set_audience(comm_id, [account])
    assert api.call("post", f"/communications/{comm_id}/send").status_code == 202
    drain(client)
    assert api.call("patch", f"/communications/{comm_id}", {"name": "late"}).status_code == 409
    assert api.call("delete", f"/communications/{comm_id}").status_code == 409
    assert api.set_audience(comm_id, [account]).status_code == 409
    after = api.call("get", f"/communications/{comm_id}").json
    assert after["name"] == "Planned maintenance"
    assert after["status"] == "COMPLETED"


def test_unknown_communication_is_404(api):
    missing = str(uuid.uuid4())
    for method, path in [
        ("get", f"/communications/{missing}"),
        ("post", f"/communications/{missing}/send"),
        ("get", f"/communications/{missing}/messages"),
        ("delete", f"/communications/{missing}"),
    ]:
        response = api.call(method, path)
        assert response.status_code == 404, path
        assert response.json["error"]["code"] == "not_found"


def test_openapi_lists_the_routes(client):
    document = client.http.get("/openapi.json")
    assert document.status_code == 200
    paths = document.json_body["paths"]
    assert "/communications/{comm_id}/send" in paths
    assert "CommunicationCreate" in document.json_body["components"]["schemas"]


def test_content_is_copied_not_shared(api):
    comm_id = api.create_communication()
    content = api.call("get", f"/communications/{comm_id}").json["content"]
    assert content == BILINGUAL_CONTENT
