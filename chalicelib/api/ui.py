"""The admin web app: its static files, its runtime configuration and, locally, dev sign-in.

Chalice (locally and on API Gateway) has no greedy ``{proxy+}`` routes, so the files are served
from two one-segment routes, ``/ui/{asset}`` and ``/ui/vendor/{asset}``, and only files that exist
in chalicelib/ui/static/ answer. The same directory can be copied to S3/CloudFront as it is.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from chalice import Blueprint, Response

from chalicelib.api.http import JSON_TYPES, current_request, json_object, json_response, route
from chalicelib.domain.errors import NotFound
from chalicelib.settings import get_settings

bp = Blueprint(__name__)

STATIC_DIR = Path(__file__).resolve().parents[1] / "ui" / "static"
INDEX = "index.html"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".csv": "text/csv; charset=utf-8",
}
# The app's own files change with each deploy and carry no content hash in their names, so the
# browser revalidates them (a cheap 304 by ETag); vendored libraries change only with `make vendor-ui`.
APP_CACHE = "no-cache"
VENDOR_CACHE = "public, max-age=86400"
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL)


@dataclass(frozen=True)
class StaticFile:
    body: str
    content_type: str
    etag: str
    cache_control: str


@lru_cache(maxsize=64)
def _static_file(relative: str) -> StaticFile:
    """A file under STATIC_DIR by its relative path; NotFound for anything else."""
    parts = relative.split("/")
    suffix = Path(relative).suffix
    if not all(SAFE_NAME.match(part) for part in parts) or suffix not in CONTENT_TYPES:
        raise NotFound(f"/ui/{relative} not found")
    path = STATIC_DIR.joinpath(*parts)
    if not path.is_file():
        raise NotFound(f"/ui/{relative} not found")
    body = path.read_text(encoding="utf-8")
    etag = '"' + hashlib.sha256(body.encode()).hexdigest()[:20] + '"'
    cache = VENDOR_CACHE if parts[0] == "vendor" else APP_CACHE
    return StaticFile(body, CONTENT_TYPES[suffix], etag, cache)


def _serve(relative: str) -> Response:
    static = _static_file(relative)
    headers: dict[str, str | list[str]] = {
        "Content-Type": static.content_type,
        "Cache-Control": static.cache_control,
        "ETag": static.etag,
        "X-Content-Type-Options": "nosniff",
    }
    if relative == INDEX:
        headers["Content-Security-Policy"] = _content_security_policy(static.body)
        headers["Referrer-Policy"] = "no-referrer"
    request_headers: Any = current_request(bp).headers or {}
    if_none_match = str(request_headers.get("if-none-match") or "")
    if static.etag in [tag.strip() for tag in if_none_match.split(",")]:
        return Response(body="", status_code=304, headers=headers)
    return Response(body=static.body, status_code=200, headers=headers)


def _content_security_policy(index_html: str) -> str:
    """Only our own scripts run: the import map is inline, so it is allowed by its hash."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in INLINE_SCRIPT.findall(index_html)
    )
    settings = get_settings()
    # Presigned uploads go straight to S3 (moto on 127.0.0.1 locally); sign-in goes to Cognito.
    connect = "'self' https:" + (
        " http://127.0.0.1:* http://localhost:*" if settings.auth_mode == "dev" else ""
    )
    return (
        f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        f"img-src 'self' data: https:; connect-src {connect}; frame-src 'self'; "
        "frame-ancestors 'none'; base-uri 'self'; form-action 'self' https:; object-src 'none'"
    )


def _redirect(suffix: str) -> Response:
    # The request's own path keeps API Gateway's stage prefix (/api/...), so the target does too.
    path = str((current_request(bp).context or {}).get("path") or "/")
    return Response(body="", status_code=302, headers={"Location": path.rstrip("/") + suffix})


@route(bp, "/", methods=["GET"])
def root() -> Response:
    return _redirect("/ui/" + INDEX)


@route(bp, "/ui", methods=["GET"])
def ui_root() -> Response:
    return _redirect("/" + INDEX)


@route(bp, "/ui/{asset}", methods=["GET"])
def ui_asset(asset: str) -> Response:
    return _serve(asset)


@route(bp, "/ui/vendor/{asset}", methods=["GET"])
def ui_vendor_asset(asset: str) -> Response:
    return _serve(f"vendor/{asset}")


@route(bp, "/ui/config.json", methods=["GET"])
def ui_config() -> Response:
    """What the browser needs to sign in here: dev tokens locally, Cognito's hosted login deployed."""
    settings = get_settings()
    cognito = None
    if settings.auth_mode == "cognito":
        cognito = {
            "domain": settings.cognito_domain,
            "client_id": settings.cognito_client_id,
            "scopes": "openid email profile",
        }
    body = {
        "auth_mode": settings.auth_mode,
        "stage": settings.stage,
        "api_base": None,  # the API is where this file came from
        "dev_token": settings.auth_mode == "dev",  # POST /ui/dev-token answers
        "cognito": cognito,
    }
    return json_response(body, headers={"Cache-Control": "no-cache"})


@route(bp, "/ui/dev-token", methods=["POST"], content_types=JSON_TYPES)
def ui_dev_token() -> Response:
    """Mint a dev token for a named person. Only where dev tokens are what the API accepts anyway."""
    settings = get_settings()
    if settings.auth_mode != "dev":
        raise NotFound("dev sign-in is only available when HERALD_AUTH_MODE is dev")
    from chalicelib.api.schemas import DevTokenRequest, validated
    from chalicelib.local.tokens import DEFAULT_TTL_S, ROLE_PERMISSIONS, mint_for_name

    request = validated(DevTokenRequest, json_object(current_request(bp)))
    token = mint_for_name(request.name, permissions=ROLE_PERMISSIONS[request.role])
    return json_response({"token": token, "expires_in": DEFAULT_TTL_S}, status=201)
