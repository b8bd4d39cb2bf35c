"""Mint HS256 dev tokens for the local stack (deployed stages verify Cognito tokens instead).

python -m chalicelib.local.tokens --name "Ada Lovelace" [--read-only]
"""

from __future__ import annotations

import argparse
import time
import uuid
import warnings

import jwt
from jwt.warnings import InsecureKeyLengthWarning

from chalicelib.settings import get_settings

ADMIN = "mass_communications"
VIEWER = "mass_communications:read"
DEFAULT_TTL_S = 12 * 3600
# What the dev sign-in page offers: an admin, a viewer, or someone without the permission.
ROLE_PERMISSIONS = {"admin": ADMIN, "viewer": VIEWER, "none": ""}

# Stable subject per name, so the same person keeps the same id across restarts.
_SUB_NAMESPACE = uuid.UUID("6f1b8a52-3c1e-4d4e-9a57-0d2f3e0c9b11")


def sub_for(name: str) -> str:
    return str(uuid.uuid5(_SUB_NAMESPACE, name.strip().lower()))


def mint_dev_token(
    sub: str,
    given_name: str,
    family_name: str,
    permissions: str = ADMIN,
    secret: str | None = None,
    ttl_s: int = DEFAULT_TTL_S,
) -> str:
    """A signed token with the claims Herald's auth reads: sub, given_name, family_name, permissions."""
    now = int(time.time())
    claims = {
        "sub": sub,
        "given_name": given_name,
        "family_name": family_name,
        "permissions": permissions,
        "iat": now,
        "exp": now + ttl_s,
    }
    with warnings.catch_warnings():
        # The well-known local default secret is short on purpose; deployed stages use Cognito.
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode(claims, secret or get_settings().dev_jwt_secret, algorithm="HS256")


def mint_for_name(
    name: str,
    *,
    read_only: bool = False,
    permissions: str | None = None,
    secret: str | None = None,
    ttl_s: int = DEFAULT_TTL_S,
) -> str:
    given_name, _, family_name = name.strip().partition(" ")
    return mint_dev_token(
        sub=sub_for(name),
        given_name=given_name,
        family_name=family_name.strip(),
        permissions=permissions if permissions is not None else (VIEWER if read_only else ADMIN),
        secret=secret,
        ttl_s=ttl_s,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.local.tokens", description=__doc__)
    parser.add_argument("--name", default="Ada Lovelace", help='"Given Family" (default: Ada Lovelace)')
    parser.add_argument("--read-only", action="store_true", help=f"grant {VIEWER} instead of {ADMIN}")
    parser.add_argument("--ttl", type=int, default=DEFAULT_TTL_S, help="lifetime in seconds")
    args = parser.parse_args(argv)
    print(mint_for_name(args.name, read_only=args.read_only, ttl_s=args.ttl))


if __name__ == "__main__":
    main()
