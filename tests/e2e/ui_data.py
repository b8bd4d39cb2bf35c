"""Accounts and communications the browser tests start from, created over the HTTP API."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

CONTENT = {
    "email": {
        "en": {
            "subject": "Maintenance tonight, {{ account.first_name }}",
            "html": "<p>Hello {{ account.first_name }}, the network is down from 1 to 3 am.</p>",
            "text": "Hello {{ account.first_name }}, the network is down from 1 to 3 am.",
        },
        "fr": {
            "subject": "Maintenance ce soir, {{ account.first_name }}",
            "html": "<p>Bonjour {{ account.first_name }}, le réseau sera coupé de 1 h à 3 h.</p>",
            "text": "Bonjour {{ account.first_name }}, le réseau sera coupé de 1 h à 3 h.",
        },
    },
    "sms": {
        "en": {"body": "Hello {{ account.first_name }}: network maintenance 1-3 am."},
        "fr": {"body": "Bonjour {{ account.first_name }} : maintenance du réseau de 1 h à 3 h."},
    },
}


@dataclass(frozen=True)
class Cohort:
    """Four accounts: one of each outcome a send can have."""

    marie: str  # fr-CA, email + SMS: two messages, in French
    alan: str  # en, email only
    grace: str  # en, prefers SMS but has no phone: skipped (no_phone)
    broken: str  # en, an address SES refuses ("Missing domain"): could not be sent
    segment: str  # shared by these four accounts only

    @property
    def ids(self) -> list[str]:
        return [self.marie, self.alan, self.grace, self.broken]


def seed_cohort(stack: Any, service_area: str = "North") -> Cohort:
    tag = uuid.uuid4().hex[:6]
    people = {
        "marie": {
            "first_name": "Marie",
            "last_name": "Tremblay",
            "email": f"marie.{tag}@example.com",
            "phone": "+15145550100",
            "language": "fr-CA",
            "channels": ["email", "sms"],
        },
        "alan": {
            "first_name": "Alan",
            "last_name": "Turing",
            "email": f"alan.{tag}@example.com",
            "language": "en",
            "channels": ["email"],
        },
        "grace": {"first_name": "Grace", "last_name": "Hopper", "language": "en", "channels": ["sms"]},
        "broken": {
            "first_name": "Bob",
            "last_name": "Broken",
            # Passes Herald's address check; SES (moto) refuses it, so the message cannot be sent.
            "email": f"bob,{tag}@example.com",
            "language": "en",
            "channels": ["email"],
        },
    }
    ids = {}
    for key, body in people.items():
        account_id = str(uuid.uuid4())
        response = stack.call(
            "PUT", f"/accounts/{account_id}", json={**body, "service_area": service_area, "segment": tag}
        )
        assert response.status_code in (200, 201), response.text
        ids[key] = account_id
    return Cohort(**ids, segment=tag)


def create_draft(
    stack: Any, name: str, account_ids: list[str] | None = None, **fields: Any
) -> dict[str, Any]:
    body = {
        "name": name,
        "channels": ["email", "sms"],
        "default_language": "en",
        "content": CONTENT,
        **fields,
    }
    created = stack.call("POST", "/communications", json=body)
    assert created.status_code == 201, created.text
    draft: dict[str, Any] = created.json()
    if account_ids:
        audience = stack.call(
            "PUT",
            f"/communications/{draft['id']}/audience",
            data="account_id\n" + "\n".join(account_ids) + "\n",
            headers={"Content-Type": "text/csv"},
        )
        assert audience.status_code == 200, audience.text
    return draft


def import_accounts(stack: Any, count: int) -> list[str]:
    """`count` email-only accounts in one CSV import; their ids."""
    ids = [str(uuid.uuid4()) for _ in range(count)]
    lines = ["account_id,first_name,last_name,email,language,channels"]
    lines += [
        f"{account_id},Person,{i},person{i}.{account_id[:8]}@example.com,en,email"
        for i, account_id in enumerate(ids)
    ]
    response = stack.call(
        "POST", "/accounts/import", data="\n".join(lines) + "\n", headers={"Content-Type": "text/csv"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["errors"] == []
    return ids
