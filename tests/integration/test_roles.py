"""Roles on every route: a viewer (mass_communications:read) reads everything and changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.api.auth import is_public_path
from chalicelib.api.openapi import ROUTES
from chalicelib.domain.models import iso
from tests.integration.conftest import Api, drain

pytestmark = pytest.mark.integration

VIEWER = "mass_communications:read"
WRITE_BODIES: dict[tuple[str, str], Any] = {
    ("post", "/communications"): {"name": "X", "channels": ["email"], "default_language": "en"},
    ("post", "/communications/{comm_id}/schedule"): {"send_at": "2027-01-01T10:00:00Z"},
    ("put", "/settings"): {"retention_days": 30},
    ("put", "/accounts/{account_id}"): {
        "first_name": "V",
        "last_name": "W",
        "language": "en",
        "channels": ["email"],
    },
    ("patch", "/communications/{comm_id}"): {"name": "Changed"},
}


@pytest.fixture
def world(api: Api, client: Any) -> dict[str, str]:
    """A sent communication with messages, a scheduled one, an account: ids for every path."""
    account_id = api.put_account()
    sent = api.create_communication()
    api.set_audience(sent, [account_id])
    api.call("post", f"/communications/{sent}/send")
    drain(client)
    message_id = api.call("get", f"/communications/{sent}/messages").json["items"][0]["id"]
    scheduled = api.create_communication()
    api.set_audience(scheduled, [account_id])
    api.call(
        "post",
        f"/communications/{scheduled}/schedule",
        {"send_at": iso(datetime.now(UTC) + timedelta(hours=1))},
    )
    return {"account_id": account_id, "comm_id": scheduled, "sent_id": sent, "message_id": message_id}


def _path(template: str, ids: dict[str, str], for_read: bool) -> str:
    comm_id = ids["sent_id"] if for_read and "message_id" in template else ids["comm_id"]
    return template.format(comm_id=comm_id, account_id=ids["account_id"], message_id=ids["message_id"])


def test_a_viewer_gets_200_on_every_read(api: Api, world: dict[str, str]) -> None:
    viewer = api.as_admin("viewer-1", "Vera", "Viewer", permissions=VIEWER)
    reads = [path for method, path, *_ in ROUTES if method == "get" and not is_public_path(path)]
    assert "/communications/{comm_id}/audit" in reads and "/settings" in reads
    for template in reads:
        response = viewer.call("get", _path(template, world, for_read=True))
        assert response.status_code == 200, (template, response.body)


def test_a_viewer_gets_403_on_every_write_and_nothing_changes(api: Api, world: dict[str, str]) -> None:
    viewer = api.as_admin("viewer-1", "Vera", "Viewer", permissions=VIEWER)
    before = {
        "detail": api.call("get", f"/communications/{world['comm_id']}").json,
        "settings": api.call("get", "/settings").json,
        "list": api.call("get", "/communications").json,
        "audit": api.call("get", f"/communications/{world['comm_id']}/audit").json,
    }
    writes = [(method, path) for method, path, *_ in ROUTES if method != "get" and not is_public_path(path)]
    assert {("post", "/communications/{comm_id}/approve"), ("put", "/settings")} <= set(writes)
    for method, template in writes:
        body = WRITE_BODIES.get((method, template))
        headers = {"Content-Type": "text/csv"} if template.endswith(("/audience", "/import")) else None
        response = viewer.call(method, _path(template, world, for_read=False), body or "", headers)
        assert response.status_code == 403, (method, template, response.body)
        assert response.json["error"]["code"] == "forbidden"
    after = {
        "detail": api.call("get", f"/communications/{world['comm_id']}").json,
        "settings": api.call("get", "/settings").json,
        "list": api.call("get", "/communications").json,
        "audit": api.call("get", f"/communications/{world['comm_id']}/audit").json,
    }
    assert after == before


def test_without_any_permission_even_reads_are_403(api: Api, world: dict[str, str]) -> None:
    stranger = api.as_admin("someone", "Some", "One", permissions="billing")
    for template in ("/settings", "/communications/{comm_id}/audit", "/settings/audit"):
        assert stranger.call("get", _path(template, world, for_read=True)).status_code == 403


def test_every_route_of_the_app_is_in_the_openapi_document(client: Any) -> None:
    from app import app

    served = {(method.lower(), path) for path, entry in app.routes.items() for method in entry}
    documented = {(method, path) for method, path, *_ in ROUTES}
    assert served == documented
    paths = client.http.get("/openapi.json").json_body["paths"]
    assert "ScheduleBody" in str(paths["/communications/{comm_id}/schedule"]["post"])
    assert "SettingsBody" in str(paths["/settings"]["put"])
