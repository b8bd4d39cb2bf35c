"""Saved templates (CRUD, checked on save, copied into communications) and account exports."""

from __future__ import annotations

import csv
import io
import json

import pytest
import requests

from chalicelib.settings import get_settings
from tests.integration.conftest import BILINGUAL_CONTENT, deliver_once

pytestmark = pytest.mark.integration

TEMPLATE = {"name": "Outage notice", "default_language": "fr", "content": BILINGUAL_CONTENT}


def test_templates_are_created_listed_read_replaced_and_deleted(api):
    created = api.call("post", "/templates", TEMPLATE)
    assert created.status_code == 201, created.body
    template_id = created.json["id"]
    assert created.json["content"] == {
        "email": {lang: {**c} for lang, c in BILINGUAL_CONTENT["email"].items()},
        "sms": BILINGUAL_CONTENT["sms"],
    }
    assert created.json["created_by"] == {"id": "admin-1", "first_name": "Ada", "last_name": "Lovelace"}
    second = api.call("post", "/templates", {**TEMPLATE, "name": "Second"}).json["id"]
    listed = api.call("get", "/templates?limit=1").json
    assert [t["id"] for t in listed["items"]] == [second] and listed["next_cursor"]
    rest = api.call("get", f"/templates?limit=1&cursor={listed['next_cursor']}").json
    assert [t["id"] for t in rest["items"]] == [template_id]
    replaced = api.call("put", f"/templates/{template_id}", {**TEMPLATE, "name": "Renamed"})
    assert replaced.status_code == 200 and replaced.json["name"] == "Renamed"
    assert api.call("get", f"/templates/{template_id}").json["name"] == "Renamed"
    assert api.call("delete", f"/templates/{template_id}").status_code == 204
    assert api.call("get", f"/templates/{template_id}").status_code == 404
    assert api.call("delete", f"/templates/{template_id}").status_code == 404
    assert api.call("put", f"/templates/{template_id}", TEMPLATE).status_code == 404


def test_template_syntax_errors_are_422_with_the_field_and_line(api):
    broken = {
        **TEMPLATE,
        "content": {"sms": {"en": {"body": "Hello\n{{ account.first_name }\nbye"}}, "email": {}},
    }
    response = api.call("post", "/templates", broken)
    assert response.status_code == 422
    (detail,) = response.json["error"]["details"]
    assert (detail["field"], detail["line"]) == ("content.sms.en.body", 2)
    assert api.call("get", "/templates").json["items"] == []


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x"},
        {**TEMPLATE, "default_language": "not a tag"},
        {**TEMPLATE, "extra": 1},
        {**TEMPLATE, "name": ""},
    ],
)
def test_invalid_template_bodies_are_422(api, body):
    assert api.call("post", "/templates", body).status_code == 422


def test_a_viewer_reads_templates_but_cannot_change_them(api, client):
    from chalicelib.local.tokens import VIEWER, mint_dev_token

    template_id = api.call("post", "/templates", TEMPLATE).json["id"]
    viewer = {
        "Authorization": f"Bearer {mint_dev_token('v', 'Vi', 'Ewer', VIEWER)}",
        "Content-Type": "application/json",
    }
    assert client.http.get(f"/templates/{template_id}", headers=viewer).status_code == 200
    assert client.http.delete(f"/templates/{template_id}", headers=viewer).status_code == 403


def test_a_communication_from_a_template_gets_a_copy(api):
    template_id = api.call("post", "/templates", TEMPLATE).json["id"]
    created = api.call(
        "post", "/communications", {"name": "From template", "channels": ["sms"], "template_id": template_id}
    )
    assert created.status_code == 201, created.body
    comm = created.json
    assert (comm["template_id"], comm["default_language"]) == (template_id, "fr")
    assert comm["content"]["sms"] == BILINGUAL_CONTENT["sms"]
    # Editing the communication leaves the template as it was, and the other way round.
    edited = {"sms": {"fr": {"body": "Changé"}}, "email": {}}
    api.call("patch", f"/communications/{comm['id']}", {"content": edited})
    assert api.call("get", f"/templates/{template_id}").json["content"]["sms"] == BILINGUAL_CONTENT["sms"]
    api.call(
        "put",
        f"/templates/{template_id}",
        {**TEMPLATE, "name": "v2", "content": {"sms": {"fr": {"body": "v2"}}}},
    )
    assert api.call("get", f"/communications/{comm['id']}").json["content"]["sms"] == {
        "fr": {"body": "Changé"}
    }


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "channels": ["sms"], "template_id": "missing"},
        {"name": "x", "channels": ["sms"], "template_id": "t", "content": {"sms": {}, "email": {}}},
        {"name": "x", "channels": ["sms"]},
    ],
)
def test_template_id_must_exist_and_not_come_with_content(api, body):
    assert api.call("post", "/communications", body).status_code == 422


# -- exports ------------------------------------------------------------------------------------


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_a_small_export_is_a_csv_the_audience_upload_takes_back_unchanged(api):
    ids = [api.put_account(segment="gold", first_name='=HYPERLINK("x")') for _ in range(3)]
    api.put_account(segment="silver")
    response = api.client.http.get("/accounts/export.csv?segment=gold", headers=api.auth)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv"
    text = response.body.decode()
    rows = _rows(text)
    assert sorted(r["account_id"] for r in rows) == sorted(ids)
    assert rows[0]["channels"] == "email|sms" and rows[0]["phone"] == "+15145550100"
    assert rows[0]["first_name"] == '\'=HYPERLINK("x")'  # no formula for spreadsheets
    comm_id = api.create_communication()
    back = api.call("put", f"/communications/{comm_id}/audience", text, {"Content-Type": "text/csv"})
    assert back.json == {"accepted": 3, "duplicates": 0, "rejected": 0, "errors": []}
    everyone = _rows(api.client.http.get("/accounts/export.csv", headers=api.auth).body.decode())
    assert len(everyone) == 4


def test_a_large_export_is_a_job_with_a_download_url(api, client, monkeypatch):
    from chalicelib.wiring import services

    ids = [api.put_account(service_area="north") for _ in range(5)]
    monkeypatch.setenv("HERALD_EXPORT_DIRECT_MAX_ROWS", "2")
    get_settings.cache_clear()
    services.cache_clear()
    started = api.client.http.get("/accounts/export.csv?service_area=north", headers=api.auth)
    assert started.status_code == 202
    job_id = json.loads(started.body)["job_id"]
    assert deliver_once(client, get_settings().jobs_queue, "jobs_worker")
    job = api.call("get", f"/jobs/{job_id}").json
    assert (job["state"], job["result"], job["progress"]) == ("done", {"rows": 5}, {"done": 5, "total": 5})
    exported = requests.get(job["result_url"], timeout=30)
    assert sorted(r["account_id"] for r in _rows(exported.text)) == sorted(ids)
