"""Who is calling: dev HS256 tokens locally, Cognito-verified claims when deployed."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from chalice.app import CognitoUserPoolAuthorizer, Request

from chalicelib.domain.errors import Forbidden, Unauthorized
from chalicelib.domain.models import Admin
from chalicelib.settings import get_settings

WRITE_PERMISSION = "mass_communications"
READ_PERMISSION = "mass_communications:read"

# Routes that prove themselves (signatures, unsubscribe tokens) or reveal nothing: no gateway auth.
# The admin web app's files and sign-in are public; every API call it makes carries a token.
PUBLIC_PATHS = frozenset({"/health", "/openapi.json", "/unsubscribe", "/", "/ui"})
PUBLIC_PREFIXES = ("/webhooks/", "/ui/")
ADMIN_AUTHORIZER_NAME = "CognitoAdmins"


def is_public_path(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


@lru_cache(maxsize=1)
def admin_authorizer() -> CognitoUserPoolAuthorizer | None:
    """API Gateway's Cognito authorizer for admin routes on deployed stages; None locally.

    Chalice reads authorizers when app.py is imported (by `chalice package` too), so this follows
    the settings at import time. Its user pool ARN comes from the template (parameter UserPoolArn
    or the pool the stack creates): infra/template.json sets the swagger's providerARNs.
    """
    if get_settings().auth_mode != "cognito":
        return None
    return CognitoUserPoolAuthorizer(ADMIN_AUTHORIZER_NAME, provider_arns=[])


def authenticate(request: Request, write: bool) -> Admin:
    """The caller as an Admin; 401 without a valid token, 403 without the needed permission."""
    claims = _claims(request)
    permissions = _permissions(claims)
    can_write = WRITE_PERMISSION in permissions
    if not can_write and (write or READ_PERMISSION not in permissions):
        raise Forbidden("you need the Mass Communications permission to do this")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise Unauthorized("the token names no subject")
    return Admin(
        id=subject,
        first_name=str(claims.get("given_name", "")),
        last_name=str(claims.get("family_name", "")),
        can_write=can_write,
    )


def _claims(request: Request) -> dict[str, Any]:
    settings = get_settings()
    if settings.auth_mode == "cognito":
        # API Gateway's Cognito authorizer verified the token before the request reached us.
        authorizer = (request.context or {}).get("authorizer") or {}
        claims = authorizer.get("claims")
        if not isinstance(claims, dict):
            raise Unauthorized("sign in first")
        return claims
    headers: Any = request.headers or {}
    header = str(headers.get("authorization") or "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("sign in first: send Authorization: Bearer <token>")
    import jwt  # only the dev path verifies tokens itself

    try:
        claims = jwt.decode(
            token, settings.dev_jwt_secret, algorithms=["HS256"], options={"require": ["sub", "exp"]}
        )
    except jwt.ExpiredSignatureError as error:
        raise Unauthorized("the token has expired; sign in again") from error
    except jwt.PyJWTError as error:
        raise Unauthorized(f"the token is not valid: {error}") from error
    return dict(claims)


def _permissions(claims: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    raw = claims.get("permissions")
    if isinstance(raw, str):
        found.update(raw.split())
    elif isinstance(raw, list):
        found.update(str(p) for p in raw)
    groups = claims.get("cognito:groups")
    if isinstance(groups, list):
        found.update(str(g) for g in groups)
    elif isinstance(groups, str):
        # API Gateway hands Cognito groups over as one string: "a,b" (REST) or "[a b]" (HTTP APIs).
        found.update(groups.strip("[]").replace(",", " ").split())
    return found
