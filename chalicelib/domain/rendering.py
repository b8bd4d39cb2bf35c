"""Sandboxed rendering of message content with Jinja2."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from chalicelib.domain.models import Content, EmailContent, SmsContent

MAX_RENDERED_CHARS = 200_000
MAX_SUBJECT_CHARS = 998
MAX_SMS_CHARS = 1_600


class RenderError(Exception):
    """A template that cannot be compiled or rendered; the message says where."""


@lru_cache(maxsize=2)
def _environment(html: bool) -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=html)


@lru_cache(maxsize=1024)
def _compiled(source: str, html: bool) -> Any:
    return _environment(html).from_string(source)


def _render(source: str, context: dict[str, Any], html: bool, field: str, limit: int) -> str:
    # Not only TemplateError: a template that compiles can still fail on an account's data
    # ({{ 1 / 0 }}, "%d" % text); that is the template's fault, never a crashed send task.
    try:
        output = _compiled(source, html).render(**context)
    except Exception as error:
        raise RenderError(f"{field}: {error}") from error
    if len(output) > limit:
        raise RenderError(f"{field}: rendered text is longer than {limit} characters")
    return output


def render_email(content: EmailContent, account: dict[str, Any]) -> EmailContent:
    context = {"account": account}
    subject = _render(content.subject, context, False, "subject", MAX_SUBJECT_CHARS)
    if "\r" in subject or "\n" in subject:
        raise RenderError("subject: line breaks are not allowed in a subject")
    return EmailContent(
        subject=subject,
        html=_render(content.html, context, True, "html", MAX_RENDERED_CHARS),
        text=_render(content.text, context, False, "text", MAX_RENDERED_CHARS),
    )


def render_sms(content: SmsContent, account: dict[str, Any]) -> SmsContent:
    return SmsContent(body=_render(content.body, {"account": account}, False, "body", MAX_SMS_CHARS))


def template_errors(content: Content) -> list[dict[str, str]]:
    """Compile every template; one entry per field that does not compile."""
    errors: list[dict[str, str]] = []
    for lang, email in content.email.items():
        for field, source, html in (
            ("subject", email.subject, False),
            ("html", email.html, True),
            ("text", email.text, False),
        ):
            _check(f"content.email.{lang}.{field}", source, html, errors)
    for lang, sms in content.sms.items():
        _check(f"content.sms.{lang}.body", sms.body, False, errors)
    return errors


def _check(field: str, source: str, html: bool, errors: list[dict[str, str]]) -> None:
    try:
        _compiled(source, html)
    except TemplateError as error:
        errors.append({"field": field, "error": f"template error: {error}"})
