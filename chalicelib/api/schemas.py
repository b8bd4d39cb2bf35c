"""Request bodies, validated with pydantic. Imported lazily: only routes that parse bodies pay for it."""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic import ValidationError as PydanticValidationError

from chalicelib.domain.addresses import email_problem, phone_problem
from chalicelib.domain.audience import canonical_uuid
from chalicelib.domain.communications import DraftFields
from chalicelib.domain.errors import ValidationError
from chalicelib.domain.models import (
    WEEKDAYS,
    Account,
    Channel,
    ContactHours,
    Content,
    EmailContent,
    SmsContent,
    iso,
    utc_now,
)
from chalicelib.domain.operator_settings import (
    KNOWN_PROVIDERS,
    MAX_RETENTION_DAYS,
    MIN_RETENTION_DAYS,
    OperatorSettings,
    Providers,
    RateLimits,
)
from chalicelib.domain.ports import AccountFilter
from chalicelib.domain.templates import TemplateFields

if TYPE_CHECKING:
    from chalicelib.settings import Settings

LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
OptionalText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None
ChannelName = Literal["email", "sms"]
LanguageTag = Annotated[str, StringConstraints(pattern=LANGUAGE_TAG.pattern, max_length=35)]
CLOCK_TIME = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
END_OF_DAY = "24:00"
# An alphanumeric SMS sender id: 1 to 11 letters, digits or hyphens, at least one letter.
SENDER_ID = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9-]{1,11}$")


def check_time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError("not an IANA time zone (like America/Toronto)") from error
    return value


def parse_aware_time(value: str) -> datetime:
    """An ISO-8601 timestamp with an explicit offset or Z; a naive time is ambiguous, so refused."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise ValueError("not an ISO-8601 timestamp (like 2026-11-26T14:03:00Z)") from error
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("needs a time zone: end it with Z or an offset like -05:00")
    return moment


def _aware_time_text(value: str) -> str:
    parse_aware_time(value)
    return value


AwareTimestamp = Annotated[str, StringConstraints(max_length=64), AfterValidator(_aware_time_text)]


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
        return _valid_email(value)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return _valid_phone(value)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        return check_time_zone(value) if value else None

    @field_validator("channels")
    @classmethod
    def _unique_channels(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


def _valid_email(value: str | None) -> str | None:
    problem = email_problem(value) if value else None
    if problem:
        raise ValueError(f"not a valid email address: {problem}")
    return value or None


def _valid_phone(value: str | None) -> str | None:
    problem = phone_problem(value) if value else None
    if problem:
        raise ValueError(problem)
    return value or None


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


class ContactHoursBody(_Body):
    """A daily window, start before end (HH:MM, 24-hour), on the listed days (mon..sun)."""

    start: str
    end: str
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(min_length=1, max_length=7)

    @field_validator("start")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        if not CLOCK_TIME.match(value):
            raise ValueError("not a 24-hour HH:MM time (like 08:00 or 21:30)")
        return value

    @field_validator("end")
    @classmethod
    def _end_time(cls, value: str) -> str:
        # "24:00" ends the window at midnight (00:00 would be before any start).
        if not (CLOCK_TIME.match(value) or value == END_OF_DAY):
            raise ValueError("not a 24-hour HH:MM time (like 08:00 or 21:30, or 24:00 for midnight)")
        return value

    @model_validator(mode="after")
    def _start_before_end(self) -> Self:
        if self.start >= self.end:
            raise ValueError("start must be before end (a window does not run past midnight)")
        return self

    def to_contact_hours(self) -> ContactHours:
        days = sorted(set(self.days), key=WEEKDAYS.index)
        return ContactHours(start=self.start, end=self.end, days=tuple(days))


class CommunicationPatch(_Body):
    name: Name | None = None
    channels: list[ChannelName] | None = Field(default=None, min_length=1, max_length=2)
    default_language: LanguageTag | None = None
    content: ContentBody | None = None
    wizard_step: Annotated[str, StringConstraints(max_length=50)] | None = None
    # Send even outside contact hours (an outage notice); urgent ones also skip the queue of bulk
    # ones (their own send lane).
    urgent: bool | None = None
    # Messages not sent by then are skipped; null clears it.
    expires_at: AwareTimestamp | None = None
    # The communication's own contact window; null falls back to the operator's default.
    contact_hours: ContactHoursBody | None = None
    # False for a non-essential message (a newsletter, an offer): its emails carry a one-click
    # unsubscribe link (RFC 8058). Transactional notices (the default) do not.
    transactional: bool | None = None

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
            expires_at=parse_aware_time(self.expires_at) if self.expires_at else None,
            contact_hours=self.contact_hours.to_contact_hours() if self.contact_hours else None,
            transactional=self.transactional,
            cleared=frozenset(
                name
                for name in ("expires_at", "contact_hours")
                if name in self.model_fields_set and getattr(self, name) is None
            ),
        )


class CommunicationCreate(CommunicationPatch):
    name: Name
    channels: list[ChannelName] = Field(min_length=1, max_length=2)
    default_language: LanguageTag | None = None
    template_id: Annotated[str, StringConstraints(max_length=64)] | None = None

    @model_validator(mode="after")
    def _content_source(self) -> CommunicationCreate:
        if self.template_id and self.content is not None:
            raise ValueError("give content or template_id, not both")
        if not self.template_id and not self.default_language:
            raise ValueError("default_language is required (unless template_id gives it)")
        return self

    def to_fields(self) -> DraftFields:
        fields = super().to_fields()
        return DraftFields(**{**vars(fields), "template_id": self.template_id})


class TemplateBody(_Body):
    name: Name
    default_language: LanguageTag
    content: ContentBody

    def to_fields(self) -> TemplateFields:
        return TemplateFields(self.name, self.default_language, self.content.to_content())


FilterValues = list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]]


class AccountFilterBody(_Body):
    service_area: FilterValues | None = Field(default=None, max_length=100)
    network_provider: FilterValues | None = Field(default=None, max_length=100)
    segment: FilterValues | None = Field(default=None, max_length=100)


class AudienceFilterBody(_Body):
    filter: AccountFilterBody

    def to_filter(self) -> AccountFilter:
        return AccountFilter(
            service_area=self.filter.service_area or None,
            network_provider=self.filter.network_provider or None,
            segment=self.filter.segment or None,
        )


class PreviewBody(_Body):
    account_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    channel: ChannelName | None = None


class TestSendBody(_Body):
    account_id: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] | None = None
    email: OptionalText = None
    phone: OptionalText = None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return _valid_email(value)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return _valid_phone(value)

    @model_validator(mode="after")
    def _recipient(self) -> TestSendBody:
        if not (self.account_id or self.email or self.phone):
            raise ValueError("give account_id, email or phone")
        return self


class ScheduleBody(_Body):
    # ISO-8601 with Z or an offset, in the future.
    send_at: AwareTimestamp

    @property
    def moment(self) -> datetime:
        return parse_aware_time(self.send_at)


class ProvidersBody(_Body):
    email: str
    sms: str

    @field_validator("email", "sms")
    @classmethod
    def _known(cls, value: str, info: Any) -> str:
        known = KNOWN_PROVIDERS[Channel(info.field_name)]
        if value not in known:
            raise ValueError(f"not a known {info.field_name} provider ({', '.join(known)})")
        return value


PerSecond = Annotated[float, Field(gt=0, le=100_000)]


class RateLimitsBody(_Body):
    email_per_s: PerSecond
    sms_per_s: PerSecond


EmailAddress = Annotated[str, StringConstraints(strip_whitespace=True, max_length=254)]


class SettingsBody(_Body):
    """The operator settings; in a PUT, fields left out keep their value and nested objects are whole."""

    from_email: EmailAddress | None = None
    from_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None
    reply_to: EmailAddress | None = None
    sms_sender: Annotated[str, StringConstraints(strip_whitespace=True, max_length=16)] | None = None
    default_language: LanguageTag | None = None
    default_timezone: Annotated[str, StringConstraints(max_length=64)] | None = None
    contact_hours: ContactHoursBody | None = None
    providers: ProvidersBody | None = None
    rate_limits: RateLimitsBody | None = None
    approval_threshold: Annotated[int, Field(ge=0, le=1_000_000_000)] | None = None
    retention_days: Annotated[int, Field(ge=MIN_RETENTION_DAYS, le=MAX_RETENTION_DAYS)] | None = None

    NULLABLE: ClassVar[frozenset[str]] = frozenset({"reply_to", "sms_sender", "approval_threshold"})

    @field_validator("from_email", "reply_to")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and email_problem(value) is not None:
            raise ValueError("not a valid email address")
        return value

    @field_validator("from_name")
    @classmethod
    def _display_name(cls, value: str | None) -> str | None:
        if value is not None and any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ValueError("must be one line of text (no control characters)")
        return value

    @field_validator("sms_sender")
    @classmethod
    def _sms_sender(cls, value: str | None) -> str | None:
        if value and not (SENDER_ID.match(value) or phone_problem(value) is None):
            raise ValueError(
                "not an SMS sender: 1-11 letters, digits or hyphens with a letter, or an E.164 number"
            )
        return value or None

    @field_validator("default_timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return check_time_zone(value) if value is not None else None

    @model_validator(mode="after")
    def _no_null_for_required(self) -> Self:
        nulled = sorted(name for name in self.model_fields_set - self.NULLABLE if getattr(self, name) is None)
        if nulled:
            raise ValueError(f"these settings cannot be null: {', '.join(nulled)}")
        return self

    def to_changes(self) -> dict[str, Any]:
        """The fields given, as values of OperatorSettings."""
        converters: dict[str, Any] = {
            "contact_hours": lambda v: v.to_contact_hours(),
            "providers": lambda v: Providers(email=v.email, sms=v.sms),
            "rate_limits": lambda v: RateLimits(
                email_per_s=float(v.email_per_s), sms_per_s=float(v.sms_per_s)
            ),
            "approval_threshold": lambda v: v or None,
        }
        changes: dict[str, Any] = {}
        for name in self.model_fields_set:
            value = getattr(self, name)
            convert = converters.get(name)
            changes[name] = convert(value) if convert and value is not None else value
        return changes


def operator_defaults(settings: Settings) -> OperatorSettings:
    """The operator settings from the environment, checked by the same rules as PUT /settings."""
    raw = {
        "from_email": settings.from_email,
        "from_name": settings.from_name,
        "reply_to": settings.reply_to or None,
        "sms_sender": settings.sms_sender_id or None,
        "default_language": settings.default_language,
        "default_timezone": settings.default_timezone,
        "contact_hours": {
            "start": settings.contact_hours_start,
            "end": settings.contact_hours_end,
            "days": [d.strip().lower() for d in settings.contact_days.split(",") if d.strip()],
        },
        "providers": {"email": settings.email_provider, "sms": settings.sms_provider},
        "rate_limits": {
            "email_per_s": _number(settings.email_rate_per_s),
            "sms_per_s": _number(settings.sms_rate_per_s),
        },
        "approval_threshold": _number(settings.approval_threshold),
        "retention_days": _number(settings.retention_days),
    }
    try:
        body = SettingsBody.model_validate(raw, strict=False)
    except PydanticValidationError as error:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())
        raise RuntimeError(f"the HERALD_* default operator settings are not valid: {problems}") from error
    return OperatorSettings(**body.to_changes())


def _number(text: str) -> int | float | str:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text  # left for validation to report


class DevTokenRequest(_Body):
    """Who to sign in as on a local stack (POST /ui/dev-token)."""

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    role: Literal["admin", "viewer", "none"] = "admin"


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


class CloneBody(_Body):
    only: Literal["send_failures", "delivery_failures"] | None = None


class SuppressionBody(_Body):
    channel: ChannelName
    address: Annotated[str, StringConstraints(min_length=1, max_length=320)]
    reason: Annotated[str, StringConstraints(max_length=200)] | None = None
