"""The admin web app's files, configuration and dev sign-in, served by the Chalice app."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import jwt
import pytest

from chalicelib.api.ui import STATIC_DIR
from chalicelib.settings import get_settings

pytestmark = pytest.mark.integration


@pytest.fixture
def cognito_mode(monkeypatch):
    monkeypatch.setenv("HERALD_AUTH_MODE", "cognito")
    monkeypatch.setenv("HERALD_COGNITO_DOMAIN", "https://herald.auth.us-east-1.amazoncognito.com")
    monkeypatch.setenv("HERALD_COGNITO_CLIENT_ID", "client-123")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_the_root_and_ui_redirect_to_the_app(client):
    for path in ("/", "/ui"):
        response = client.http.get(path)
        assert response.status_code == 302
        assert response.headers["Location"] == "/ui/index.html"


def test_index_is_html_that_revalidates_and_only_runs_its_own_scripts(client):
    response = client.http.get("/ui/index.html")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    import_map = re.search(r'<script type="importmap">(.*?)</script>', response.body.decode(), re.DOTALL)
    assert import_map
    digest = base64.b64encode(hashlib.sha256(import_map.group(1).encode()).digest()).decode()
    policy = response.headers["Content-Security-Policy"]
    assert f"script-src 'self' 'sha256-{digest}'" in policy
    assert "frame-ancestors 'none'" in policy


def test_an_unchanged_file_answers_304_to_its_etag(client):
    first = client.http.get("/ui/app.js")
    assert first.headers["Content-Type"] == "text/javascript; charset=utf-8"
    again = client.http.get("/ui/app.js", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    assert again.body == b""


def test_vendored_libraries_are_cached_and_say_their_version_and_license(client):
    response = client.http.get("/ui/vendor/preact.mjs")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert response.headers["Cache-Control"] == "public, max-age=86400"
    header = response.body.decode()[:400]
    assert re.search(r"preact \d+\.\d+\.\d+", header)
    assert "MIT License" in header


@pytest.mark.parametrize(
    "path",
    ["/ui/missing.js", "/ui/app.py", "/ui/..", "/ui/.hidden.js", "/ui/vendor/app.js", "/ui/vendor/x.exe"],
)
def test_anything_but_the_apps_files_is_not_found(client, path):
    response = client.http.get(path)
    assert response.status_code == 404
    assert response.json_body["error"]["code"] == "not_found"


def test_every_module_the_app_imports_is_served():
    """Relative imports and the import map point at files that exist: no CDN, nothing missing."""
    index = (STATIC_DIR / "index.html").read_text()
    import_map = json.loads(re.search(r'<script type="importmap">(.*?)</script>', index, re.DOTALL).group(1))
    mapped = import_map["imports"]
    for target in mapped.values():
        assert (STATIC_DIR / target).is_file(), target
    for module in [*STATIC_DIR.glob("*.js"), *STATIC_DIR.glob("vendor/*.mjs")]:
        for specifier in re.findall(r'(?:from|import)\s*"([^"]+)"', module.read_text()):
            if specifier.startswith("./"):
                assert (module.parent / specifier).is_file(), f"{module.name} imports {specifier}"
            else:
                assert specifier in mapped, f"{module.name} imports {specifier}, which the import map lacks"
    assert not re.search(r"https?://", index), "index.html loads nothing from elsewhere"


def test_config_says_how_to_sign_in_locally(client):
    body = client.http.get("/ui/config.json").json_body
    assert body == {"auth_mode": "dev", "stage": "dev", "api_base": None, "dev_token": True, "cognito": None}


def test_a_dev_token_is_minted_for_a_name_and_a_role(client):
    response = client.http.post(
        "/ui/dev-token",
        headers={"Content-Type": "application/json"},
        body=json.dumps({"name": "Grace Hopper", "role": "viewer"}),
    )
    assert response.status_code == 201
    claims = jwt.decode(response.json_body["token"], get_settings().dev_jwt_secret, algorithms=["HS256"])
    assert (claims["given_name"], claims["family_name"]) == ("Grace", "Hopper")
    assert claims["permissions"] == "mass_communications:read"
    listed = client.http.get(
        "/communications", headers={"Authorization": f"Bearer {response.json_body['token']}"}
    )
    assert listed.status_code == 200


def test_a_token_without_the_permission_gets_403_from_the_api(client):
    token = client.http.post(
        "/ui/dev-token",
        headers={"Content-Type": "application/json"},
        body=json.dumps({"name": "No One", "role": "none"}),
    ).json_body["token"]
    response = client.http.get("/communications", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert response.json_body["error"]["code"] == "forbidden"


@pytest.mark.parametrize(
    "body", ['{"name": ""}', '{"name": "A", "role": "root"}', "not json", '{"name": "A", "x": 1}']
)
def test_a_bad_dev_token_request_is_refused_clearly(client, body):
    response = client.http.post("/ui/dev-token", headers={"Content-Type": "application/json"}, body=body)
    assert response.status_code in (400, 422)
    assert response.json_body["error"]["code"] == "validation_error"


def test_deployed_with_cognito_there_is_no_dev_sign_in_and_config_names_the_hosted_login(
    client, cognito_mode
):
    minted = client.http.post(
        "/ui/dev-token", headers={"Content-Type": "application/json"}, body=json.dumps({"name": "Eve"})
    )
    assert minted.status_code == 404
    config = client.http.get("/ui/config.json").json_body
    assert config["auth_mode"] == "cognito"
    assert config["dev_token"] is False
    assert config["cognito"]["domain"] == "https://herald.auth.us-east-1.amazoncognito.com"
    assert config["cognito"]["client_id"] == "client-123"
    policy = client.http.get("/ui/index.html").headers["Content-Security-Policy"]
    assert "127.0.0.1" not in policy


def test_the_ui_routes_are_in_the_openapi_document(client):
    paths = client.http.get("/openapi.json").json_body["paths"]
    for path in ("/", "/ui", "/ui/{asset}", "/ui/vendor/{asset}", "/ui/config.json", "/ui/dev-token"):
        assert path in paths
    assert "security" not in paths["/ui/{asset}"]["get"]


def test_the_static_files_are_inside_the_package_chalice_deploys():
    assert STATIC_DIR.is_relative_to(Path(__file__).resolve().parents[2] / "chalicelib")
