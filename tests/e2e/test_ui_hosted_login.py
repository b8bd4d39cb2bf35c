"""Deployed sign-in: the app's authorization-code + PKCE exchange with a hosted login.

A small OAuth server on 127.0.0.1 plays Cognito's /oauth2/authorize and /oauth2/token and checks
the PKCE challenge for real; the page is told (through its config) to use it. The id token it
returns is signed like a dev token, so the local API accepts it and the app signs in with it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import expect

from chalicelib.local.stack import free_port
from chalicelib.local.tokens import mint_dev_token

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CLIENT_ID = "herald-admin-client"


class HostedLogin(BaseHTTPRequestHandler):
    pending: dict[str, dict[str, str]]  # code -> the authorize request it answers
    exchanged: list[str]

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if url.path != "/oauth2/authorize" or query.get("client_id") != CLIENT_ID:
            self.send_error(400)
            return
        assert query["response_type"] == "code" and query["code_challenge_method"] == "S256"
        code = base64.urlsafe_b64encode(hashlib.sha256(query["state"].encode()).digest()).decode()
        self.pending[code] = query
        target = query["redirect_uri"] + "?" + urllib.parse.urlencode({"code": code, "state": query["state"]})
        self.send_response(302)
        self.send_header("Location", target)
        self.end_headers()

    def do_POST(self) -> None:
        form = dict(urllib.parse.parse_qsl(self.rfile.read(int(self.headers["Content-Length"])).decode()))
        request = self.pending.pop(form.get("code", ""), None)
        verifier = form.get("code_verifier", "").encode()
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).decode().rstrip("=")
        if (
            request is None
            or challenge != request["code_challenge"]
            or form["redirect_uri"] != request["redirect_uri"]
        ):
            self._json(400, {"error": "invalid_grant"})
            return
        self.exchanged.append(form["code"])
        id_token = mint_dev_token("cognito-user-1", "Cora", "Cognito", permissions="")
        self._json(200, {"id_token": id_token, "access_token": "unused", "token_type": "Bearer"})

    def do_OPTIONS(self) -> None:  # the browser's CORS preflight is not needed for a form POST
        self.send_response(204)
        self._cors()
        self.end_headers()

    def _json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self._cors()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _cors(self) -> None:
        self.send_header("Access-Control-Allow-Origin", self.headers.get("Origin", "*"))


@pytest.fixture
def hosted_login() -> Iterator[tuple[str, list[str]]]:
    exchanged: list[str] = []
    handler = type("Handler", (HostedLogin,), {"pending": {}, "exchanged": exchanged})
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", exchanged
    finally:
        server.shutdown()
        server.server_close()


def test_the_hosted_login_signs_in_with_pkce_and_a_token_without_the_permission_meets_the_403_page(
    screen, stack, hosted_login
):
    domain, exchanged = hosted_login
    config = {
        "auth_mode": "cognito",
        "stage": "prod",
        "api_base": None,
        "dev_token": False,
        "cognito": {"domain": domain, "client_id": CLIENT_ID, "scopes": "openid email profile"},
    }
    page = screen.page
    page.route("**/ui/config.json", lambda route: route.fulfill(json=config))
    screen.open()
    expect(page.get_by_role("heading", name="Sign in to Mass Communications")).to_be_visible()
    page.get_by_role("button", name="Continue to sign-in").click()
    expect(page.get_by_test_id("signed-in-as")).to_have_text("Cora Cognito")
    assert len(exchanged) == 1
    assert "code=" not in page.url  # the one-time code does not stay in the address bar
    expect(page.get_by_role("heading", name="You need the Mass Communications permission")).to_be_visible()
