"""Every route the app serves is in its OpenAPI document, with the same methods."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def test_every_route_is_documented(client):
    from app import app

    served = {(path, method.lower()) for path, entries in app.routes.items() for method in entries}
    paths = client.http.get("/openapi.json").json_body["paths"]
    documented = {(path, method) for path, operations in paths.items() for method in operations}
    assert served == documented
