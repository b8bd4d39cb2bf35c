"""Demo accounts for the local stack, loaded through the HTTP API like an operator would."""

from __future__ import annotations

import json
import unicodedata
import urllib.error
import urllib.request
import uuid
from typing import Any

_NAMESPACE = uuid.UUID("0b7d4c1e-8f3a-4f0e-b1d2-5a6c7e8f9a01")

_FIRST = [
    "Ada", "Alan", "Grace", "Édith", "Hélène", "Jean", "Marie", "Louis", "Chloé", "Noah",
    "Olivia", "Liam", "Zoé", "Gabriel", "Léa", "Amir", "Priya", "Kenji", "Sofia", "Mateo",
]  # fmt: skip
_LAST = [
    "Lovelace", "Turing", "Hopper", "Tremblay", "Gagnon", "Roy", "Côté", "Bouchard", "Gauthier",
    "Morin", "Nguyen", "Singh", "Okafor", "Martin", "Lavoie", "Fortin", "Bélanger", "Smith",
]  # fmt: skip
_LANGUAGES = ["en", "fr", "fr-CA", "en", "fr-CA"]
_CHANNELS: list[list[str]] = [["email"], ["sms"], ["email", "sms"]]
_SERVICE_AREAS = ["north", "south", "east", "west"]
_PROVIDERS = ["fibrenet", "coppercom", "skywave"]
_SEGMENTS = ["residential", "business", "wholesale"]
_TIMEZONES = ["America/Toronto", "America/Edmonton", "America/Vancouver", "America/Halifax"]


def demo_account_id(i: int) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"demo-account-{i}"))


def demo_accounts(count: int = 50) -> list[tuple[str, dict[str, Any]]]:
    """Deterministic (account_id, PUT body) pairs: a mix of languages, channels and attributes.

    Every 7th account has no phone (so SMS to it is skipped as ``no_phone``), every 11th
    has no email, every 13th is inactive. Phone numbers are in the fictional 555-01xx range.
    """
    accounts = []
    for i in range(count):
        first, last = _FIRST[i % len(_FIRST)], _LAST[(i * 7) % len(_LAST)]
        body: dict[str, Any] = {
            "first_name": first,
            "last_name": last,
            "language": _LANGUAGES[i % len(_LANGUAGES)],
            "channels": _CHANNELS[i % len(_CHANNELS)],
            "status": "inactive" if i % 13 == 12 else "active",
            "timezone": _TIMEZONES[i % len(_TIMEZONES)],
            "service_area": _SERVICE_AREAS[i % len(_SERVICE_AREAS)],
            "network_provider": _PROVIDERS[i % len(_PROVIDERS)],
            "segment": _SEGMENTS[i % len(_SEGMENTS)],
            "attributes": {"plan": ["basic", "plus", "pro"][i % 3], "customer_since": 2010 + i % 15},
        }
        if i % 11 != 10:
            body["email"] = f"{_ascii(first)}.{_ascii(last)}.{i}@example.com".lower()
        if i % 7 != 6:
            body["phone"] = f"+1613555{100 + i % 100:04d}"
        accounts.append((demo_account_id(i), body))
    return accounts


def load_demo_accounts(api_url: str, token: str, count: int = 50) -> int:
    """PUT the demo accounts through the API; returns how many were stored."""
    stored = 0
    for account_id, body in demo_accounts(count):
        request = urllib.request.Request(
            f"{api_url.rstrip('/')}/accounts/{account_id}",
            data=json.dumps(body).encode(),
            method="PUT",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                stored += response.status in (200, 201)
        except urllib.error.HTTPError as e:
            raise RuntimeError(
                f"PUT /accounts/{account_id} answered {e.code}: {e.read().decode()[:500]}"
            ) from e
    return stored


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
