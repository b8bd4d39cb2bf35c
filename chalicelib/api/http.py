"""What every route shares: the error shape, JSON bodies, paging parameters, the caller."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from typing import Any

from chalice import Blueprint, Response
from chalice.app import Request

from chalicelib.api.auth import admin_authorizer, authenticate, is_public_path
from chalicelib.domain.errors import BadRequest, HeraldError, PayloadTooLarge, ValidationError
from chalicelib.domain.models import Admin, Page

logger = logging.getLogger(__name__)

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
JSON_TYPES = ["application/json"]
CSV_TYPES = ["text/csv", "application/csv", "text/plain", "application/octet-stream"]


def error_response(error: HeraldError) -> Response:
    body = {"error": {"code": error.code, "message": error.message, "details": error.details}}
    return Response(body=body, status_code=error.status, headers={"Content-Type": "application/json"})


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        body=body, status_code=status, headers={"Content-Type": "application/json", **(headers or {})}
    )


def page_response(page: Page[Any], serialize: Callable[[Any], dict[str, Any]]) -> Response:
    return json_response({"items": [serialize(item) for item in page.items], "next_cursor": page.next_cursor})


def route(bp: Blueprint, path: str, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a route whose domain errors become API.md error bodies, never a bare 500.

    Deployed, every route but the public ones (auth.is_public_path) sits behind the Cognito authorizer.
    """
    authorizer = admin_authorizer()
    if authorizer is not None and not is_public_path(path):
        options.setdefault("authorizer", authorizer)

    def register(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return view(*args, **kwargs)
            except HeraldError as error:
                return error_response(error)
            except Exception:
                logger.exception("unhandled error", extra={"path": path})
                return error_response(HeraldError("something went wrong on our side; try again"))

        return bp.route(path, **options)(guarded)

    return register


def current_request(bp: Blueprint) -> Request:
    """The request a blueprint's route is serving (Chalice sets it before calling the route)."""
    request = bp.current_request
    assert request is not None
    return request


def lowercase_headers(request: Request) -> dict[str, str]:
    """The request's headers with lower-case names, as signature checks look them up."""
    headers: Any = request.headers or {}
    return {str(k).lower(): str(v) for k, v in headers.items()}


def caller(bp: Blueprint, write: bool = False) -> Admin:
    return authenticate(current_request(bp), write=write)


def json_object(request: Request, max_bytes: int = 1024 * 1024) -> dict[str, Any]:
    raw = request.raw_body or b""
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"the body is larger than {max_bytes} bytes")
    try:
        body = json.loads(raw or b"null")
    except ValueError as error:
        raise BadRequest(f"the body is not valid JSON: {error}") from error
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


def raw_body(request: Request, max_bytes: int) -> bytes:
    raw = request.raw_body or b""
    if isinstance(raw, str):
        raw = raw.encode()
    if len(raw) > max_bytes:
        raise PayloadTooLarge(
            f"the body is larger than {max_bytes} bytes; upload large files with an upload URL"
        )
    return raw


def content_type(request: Request) -> str:
    """The request's media type, without parameters (charset, boundary)."""
    headers: Any = request.headers or {}
    return str(headers.get("content-type") or "").split(";")[0].strip().lower()


def query_param(request: Request, name: str) -> str | None:
    params: Any = request.query_params or {}
    return params.get(name) or None


def query_params(request: Request) -> dict[str, str]:
    """Every query parameter, as a signature check reads them."""
    params: Any = request.query_params or {}
    return {str(k): str(v) for k, v in params.items()}


def limit_param(request: Request) -> int:
    raw = query_param(request, "limit")
    if raw is None:
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError as error:
        raise ValidationError(
            "limit must be a whole number", [{"field": "limit", "error": "not a number"}]
        ) from error
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationError(
            f"limit must be between 1 and {MAX_LIMIT}", [{"field": "limit", "error": "out of range"}]
        )
    return limit
