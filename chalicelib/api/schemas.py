"""Request bodies, validated with pydantic. Imported lazily: only routes that parse bodies pay for it."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from pydantic import ValidationError as PydanticValidationError

from chalicelib.domain.audience import canonical_uuid
from chalicelib.domain.communications import DraftFields
from chalicelib.domain.errors import ValidationError
from chalicelib.domain.models import Account, Channel, Content, EmailContent, SmsContent, iso, utc_now
from chalicelib.domain.planning import E164, EMAIL

LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
OptionalText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None
ChannelName = Literal["email", "sms"]
LanguageTag = Annotated[str, StringConstraints(pattern=LANGUAGE_TAG.pattern, max_length=35)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class AccountBody(_Body):
    first_name: Name
    last_name: Name
    email: OptionalText = None
    phone: OptionalText = None
    language: LanguageTag
    channels: list[ChannelName] = Field(max_length=2)
    status: Literal["active", "inactive"] = "active"
    timezone: OptionalText = None
    service_area: OptionalText = None
    network_provider: OptionalText = None
    segment: OptionalText = None
    attributes: dict[str, Any] = Field(default_factory=dict)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value and not EMAIL.match(value):
            raise ValueError("not a valid email address")
        return value or None

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value and not E164.match(value):
            raise ValueError("not an E.164 phone number (like +15145550123)")
        return value or None

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        if value:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError) as error:
                raise ValueError("not an IANA time zone (like America/Toronto)") from error
        return value or None

    @field_validator("channels")
    @classmethod
    def _unique_channels(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


class EmailBody(_Body):
    subject: Annotated[str, StringConstraints(min_length=1, max_length=998)]
    html: Annotated[str, StringConstraints(max_length=200_000)] = ""
    text: Annotated[str, StringConstraints(max_length=200_000)] = ""


class SmsBody(_Body):
    body: Annotated[str, StringConstraints(min_length=1, max_length=1600)]


class ContentBody(_Body):
    email: dict[LanguageTag, EmailBody] = Field(default_factory=dict)
    sms: dict[LanguageTag, SmsBody] = Field(default_factory=dict)

    def to_content(self) -> Content:
        return Content(
            email={lang: EmailContent(c.subject, c.html, c.text) for lang, c in self.email.items()},
            sms={lang: SmsContent(c.body) for lang, c in self.sms.items()},
        )


class CommunicationPatch(_Body):
    name: Name | None = None
    channels: list[ChannelName] | None = Field(default=None, min_length=1, max_length=2)
    default_language: LanguageTag | None = None
    content: ContentBody | None = None
    wizard_step: Annotated[str, StringConstraints(max_length=50)] | None = None
    # Urgent communications skip the queue of bulk ones (their own send lane).
    urgent: bool | None = None

    @field_validator("channels")
    @classmethod
    def _unique_channels(cls, value: list[str] | None) -> list[str] | None:
        return list(dict.fromkeys(value)) if value is not None else None

    def to_fields(self) -> DraftFields:
        return DraftFields(
            name=self.name,
            channels=[Channel(c) for c in self.channels] if self.channels else None,
            default_language=self.default_language,
            content=self.content.to_content() if self.content else None,
            wizard_step=self.wizard_step,
            urgent=self.urgent,
        )


class CommunicationCreate(CommunicationPatch):
    name: Name
    channels: list[ChannelName] = Field(min_length=1, max_length=2)
    default_language: LanguageTag


def validated[M: BaseModel](model: type[M], body: dict[str, Any], strict: bool = True) -> M:
    """The body as `model`, or a 422 listing every field that is wrong."""
    try:
        return model.model_validate(body, strict=strict)
    except PydanticValidationError as error:
        details = [
            {"field": ".".join(str(p) for p in e["loc"]) or "body", "error": e["msg"]} for e in error.errors()
        ]
        raise ValidationError("the request has invalid fields", details) from error


def parse_account(account_id: str, fields: dict[str, Any], strict: bool = True) -> Account:
    """An Account from API fields, or (strict=False) from a CSV row whose values are all text."""
    canonical = canonical_uuid(account_id)
    if canonical is None:
        raise ValidationError(
            "the account id is not a UUID", [{"field": "account_id", "error": "not a UUID"}]
        )
    values = validated(AccountBody, fields, strict=strict).model_dump()
    values["channels"] = [Channel(c) for c in values["channels"]]
    return Account(account_id=canonical, updated_at=iso(utc_now()), **values)
