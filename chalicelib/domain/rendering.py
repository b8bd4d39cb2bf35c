"""Sandboxed rendering of message content with Jinja2.

Templates are written by admins and rendered with each account's data, so the environment is
Jinja2's ImmutableSandboxedEnvironment (no attribute access to internals, no mutation of
lists/dicts), StrictUndefined (a misspelt field is an error, not a blank), autoescape for HTML
only, and limits on what a template can make the worker compute: the total length of the
`range`s one render may iterate, the size of `**` results, and string repetition or padding
beyond the output cap. Subjects have CR/LF folded into spaces (no header injection).
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from chalicelib.domain.models import Channel, Communication, Content, EmailContent, SmsContent

MAX_RENDERED_CHARS = 200_000
MAX_SUBJECT_CHARS = 998
MAX_SMS_CHARS = 1_600
# Items all `range()` calls of one render may produce together (nested loops multiply).
MAX_RANGE_ITEMS = 10_000
# Bits of an integer `**` may produce (a 1,000-digit number is plenty for any message).
MAX_POWER_BITS = 4_096
LINE_BREAKS = re.compile(r"\s*[\r\n]+\s*")
# A width or precision in a %-format or str.format spec, e.g. "%999999999s" or "{:>999999999}".
FORMAT_WIDTH = re.compile(r"\d{6,}|%[-#0 +]*\*")
SIZE_FILTERS = ("center", "indent", "wordwrap", "truncate", "batch", "slice")
# String methods whose numeric argument is the length of the text they make.
SIZING_METHODS = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs"})

_range_budget: ContextVar[list[int]] = ContextVar("range_budget")


class RenderError(Exception):
    """A template that cannot be compiled or rendered; the message says where."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def _budgeted_range(*args: int) -> range:
    numbers = range(*args)
    budget = _range_budget.get(None)
    if budget is None:
        budget = [MAX_RANGE_ITEMS]
        _range_budget.set(budget)
    budget[0] -= len(numbers)
    if budget[0] < 0:
        raise SecurityError(f"range() may produce at most {MAX_RANGE_ITEMS} items in one message")
    return numbers


def _check_size(value: Any) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_RENDERED_CHARS:
        raise SecurityError(f"a number above {MAX_RENDERED_CHARS} cannot size text in a template")


class HeraldSandbox(ImmutableSandboxedEnvironment):
    """The sandbox with limits on work a template can ask for."""

    intercepted_binops = frozenset({"**", "*", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.globals["range"] = _budgeted_range
        for name in SIZE_FILTERS:
            self.filters[name] = _size_checked(self.filters[name])

    def call_binop(self, context: Any, op: str, left: Any, right: Any) -> Any:
        if op == "**":
            _check_power(left, right)
        elif op == "*":
            _check_repeat(left, right)
            _check_repeat(right, left)
        elif op == "%" and isinstance(left, str) and FORMAT_WIDTH.search(left):
            raise SecurityError("format widths this large are not allowed in templates")
        return super().call_binop(context, op, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(__obj, "__name__", None) in SIZING_METHODS:
            for value in (*args, *kwargs.values()):
                _check_size(value)
        owner = getattr(getattr(__obj, "__wrapped__", __obj), "__self__", None)
        if isinstance(owner, str) and FORMAT_WIDTH.search(owner):
            raise SecurityError("format widths this large are not allowed in templates")
        return super().call(__context, __obj, *args, **kwargs)


def _size_checked(template_filter: Any) -> Any:
    def checked(*args: Any, **kwargs: Any) -> Any:
        for value in (*args[1:], *kwargs.values()):
            _check_size(value)
        return template_filter(*args, **kwargs)

    for attribute in ("jinja_pass_arg",):
        if hasattr(template_filter, attribute):
            setattr(checked, attribute, getattr(template_filter, attribute))
    return checked


def _check_power(base: Any, exponent: Any) -> None:
    if not (isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1):
        return
    if abs(base).bit_length() * exponent > MAX_POWER_BITS:
        raise SecurityError("the result of ** is too large")


def _check_repeat(sequence: Any, times: Any) -> None:
    sized = isinstance(sequence, str | list | tuple) and isinstance(times, int)
    if sized and len(sequence) * times > MAX_RENDERED_CHARS:
        raise SecurityError(f"repeating text beyond {MAX_RENDERED_CHARS} characters is not allowed")


@lru_cache(maxsize=2)
def _environment(html: bool) -> HeraldSandbox:
    return HeraldSandbox(undefined=StrictUndefined, autoescape=html)


@lru_cache(maxsize=1024)
def _compiled(source: str, html: bool) -> Any:
    return _environment(html).from_string(source)


def _render(source: str, context: dict[str, Any], html: bool, field: str, limit: int) -> str:
    token = _range_budget.set([MAX_RANGE_ITEMS])
    try:
        output = _compiled(source, html).render(context)
    except TemplateSyntaxError as error:
        raise RenderError(f"{field}: line {error.lineno}: {error.message}", error.lineno) from error
    except TemplateError as error:
        raise RenderError(f"{field}: {error}", _template_line(error)) from error
    # Not only TemplateError: a template that compiles can still fail on an account's data
    # ({{ 1 / 0 }}, "%d" % text); that is the template's fault, never a crashed send task.
    except Exception as error:
        raise RenderError(f"{field}: {type(error).__name__}: {error}", _template_line(error)) from error
    finally:
        _range_budget.reset(token)
    if len(output) > limit:
        raise RenderError(f"{field}: rendered text is longer than {limit} characters")
    return output


def _template_line(error: BaseException) -> int | None:
    """The template line a runtime error happened on, from Jinja's rewritten traceback."""
    traceback = error.__traceback__
    line = None
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == "<template>":
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    return line


def render_context(account: dict[str, Any], communication: Communication | None = None) -> dict[str, Any]:
    """What templates see: `account.*` and `communication.name`."""
    return {"account": account, "communication": {"name": communication.name if communication else ""}}


def render_email(
    content: EmailContent, account: dict[str, Any], communication: Communication | None = None
) -> EmailContent:
    context = render_context(account, communication)
    subject = _render(content.subject, context, False, "subject", MAX_SUBJECT_CHARS * 4)
    subject = LINE_BREAKS.sub(" ", subject).strip()
    if len(subject) > MAX_SUBJECT_CHARS:
        raise RenderError(f"subject: rendered text is longer than {MAX_SUBJECT_CHARS} characters")
    return EmailContent(
        subject=subject,
        html=_render(content.html, context, True, "html", MAX_RENDERED_CHARS),
        text=_render(content.text, context, False, "text", MAX_RENDERED_CHARS),
    )


def render_sms(
    content: SmsContent, account: dict[str, Any], communication: Communication | None = None
) -> SmsContent:
    context = render_context(account, communication)
    return SmsContent(body=_render(content.body, context, False, "body", MAX_SMS_CHARS))


def render_message(
    communication: Communication, channel: Channel, language: str, account: dict[str, Any]
) -> EmailContent | SmsContent:
    """One message's content in `language`, rendered with the account's fields (the send path)."""
    if channel is Channel.EMAIL:
        return render_email(communication.content.email[language], account, communication)
    return render_sms(communication.content.sms[language], account, communication)


def template_errors(content: Content) -> list[dict[str, Any]]:
    """Compile every template; one entry per field that does not compile, with its line."""
    errors: list[dict[str, Any]] = []
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


def _check(field: str, source: str, html: bool, errors: list[dict[str, Any]]) -> None:
    try:
        _compiled(source, html)
    except TemplateSyntaxError as error:
        errors.append(
            {
                "field": field,
                "line": error.lineno,
                "error": f"template error: line {error.lineno}: {error.message}",
            }
        )
    except TemplateError as error:
        errors.append({"field": field, "line": None, "error": f"template error: {error}"})
