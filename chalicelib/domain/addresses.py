"""Email address and phone number checks, shared by account writes and the send path.

Emails: syntax by `email-validator` (no DNS lookups: deliverability is the provider's job).
Phones: E.164 as written (`+` and digits, nothing else) and a valid number for its country by
`phonenumbers`. Both libraries load lazily and answers are cached: the send path asks once per
distinct address.
"""

from __future__ import annotations

import re
from functools import lru_cache

E164_SHAPE = re.compile(r"^\+[1-9]\d{6,14}$")


@lru_cache(maxsize=65_536)
def email_problem(address: str) -> str | None:
    """Why `address` is not a usable email address, or None when it is."""
    from email_validator import EmailNotValidError, validate_email

    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError as error:
        return str(error)
    return None


@lru_cache(maxsize=65_536)
def phone_problem(number: str) -> str | None:
    """Why `number` is not a valid E.164 phone number, or None when it is."""
    if not E164_SHAPE.match(number):
        return "not an E.164 phone number (like +15145550123)"
    import phonenumbers

    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException as error:
        return f"not a phone number: {error}"
    if not phonenumbers.is_valid_number(parsed):
        return "not a valid phone number for its country code"
    return None
