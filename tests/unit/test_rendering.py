"""Sandboxed rendering of message content."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.domain.models import Content, EmailContent, SmsContent
from chalicelib.domain.rendering import (
    MAX_SMS_CHARS,
    MAX_SUBJECT_CHARS,
    RenderError,
    render_email,
    render_sms,
    template_errors,
)
from tests.unit.fakes import make_account

pytestmark = pytest.mark.unit


def context(**overrides: Any) -> dict[str, Any]:
    return make_account(**overrides).render_context()


def email(subject: str = "Hi", html: str = "<p>Hi</p>", text: str = "Hi") -> EmailContent:
    return EmailContent(subject=subject, html=html, text=text)


def test_placeholders_are_filled_from_the_account() -> None:
    # GIVEN an email naming the account and one of its free-form attributes
    content = email(
        subject="Outage in {{ account.service_area }}",
        html="<p>Dear {{ account.first_name }} {{ account.last_name }}</p>",
        text="Plan: {{ account.attributes.plan }}",
    )
    account = context(
        first_name="Ada", last_name="Lovelace", service_area="Montreal", attributes={"plan": "Gold"}
    )
    # WHEN it is rendered for the account
    rendered = render_email(content, account)
    # THEN each placeholder holds the account's value
    assert rendered == EmailContent(
        subject="Outage in Montreal", html="<p>Dear Ada Lovelace</p>", text="Plan: Gold"
    )


def test_sms_placeholders_are_filled_from_the_account() -> None:
    assert render_sms(SmsContent("Hi {{ account.first_name }}!"), context(first_name="Ada")).body == "Hi Ada!"


def test_html_is_escaped_in_the_html_part_only() -> None:
    # GIVEN an account whose name contains markup
    account = context(first_name="<b>Eve</b> & co")
    content = email(
        subject="For {{ account.first_name }}",
        html="<p>{{ account.first_name }}</p>",
        text="{{ account.first_name }}",
    )
    # WHEN the email is rendered
    rendered = render_email(content, account)
    # THEN the HTML part shows the name as text, while the subject and the text part keep it as typed
    assert rendered.html == "<p>&lt;b&gt;Eve&lt;/b&gt; &amp; co</p>"
    assert rendered.subject == "For <b>Eve</b> & co"
    assert rendered.text == "<b>Eve</b> & co"


def test_sms_is_not_html_escaped() -> None:
    account = context(first_name="Tom & Jerry")
    assert render_sms(SmsContent("{{ account.first_name }}"), account).body == "Tom & Jerry"


@pytest.mark.parametrize(
    "source",
    ["{{ account.nickname }}", "{{ acount.first_name }}", "{{ account.attributes.plan }}"],
)
def test_a_placeholder_the_account_lacks_is_an_error_not_a_blank(source: str) -> None:
    # GIVEN a template naming something the account does not have (or a typo)
    # WHEN it is rendered
    # THEN rendering fails, naming the field, instead of sending a message with a hole in it
    with pytest.raises(RenderError, match=r"^text: "):
        render_email(email(text=source), context(attributes={}))


def test_line_breaks_in_a_rendered_subject_are_refused() -> None:
    # GIVEN a subject that takes a value carrying a line break (header injection)
    account = context(first_name="Ada\r\nBcc: everyone@example.com")
    # WHEN it is rendered
    # THEN it is refused
    with pytest.raises(RenderError, match="subject: line breaks"):
        render_email(email(subject="Hello {{ account.first_name }}"), account)


def test_line_breaks_typed_into_a_subject_are_refused() -> None:
    with pytest.raises(RenderError, match="subject"):
        render_email(email(subject="Hello\nthere"), context())


@pytest.mark.parametrize(
    "source",
    [
        "{{ account.__class__ }}",
        "{{ ''.__class__.__mro__ }}",
        "{{ account.items.__self__.__class__.__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ account.update({'first_name': 'x'}) }}",  # immutable sandbox: no mutating methods
    ],
)
def test_the_sandbox_blocks_python_internals(source: str) -> None:
    # GIVEN a template trying to reach Python internals or change its context
    # WHEN it is rendered
    # THEN it fails as a template error, exposing nothing
    with pytest.raises(RenderError):
        render_sms(SmsContent(source), context())


@pytest.mark.parametrize(
    "source",
    [
        "{{ 1 / 0 }}",
        "{{ account.first_name + 1 }}",
        "{{ '%d' % account.first_name }}",
        "{{ account.attributes['missing'] }}",
    ],
)
def test_any_failure_while_rendering_is_a_render_error(source: str) -> None:
    # GIVEN a template that compiles but fails on this account's data
    # WHEN it is rendered
    # THEN it is reported as a template error (a skipped message, a 4xx preview), never a crash
    with pytest.raises(RenderError, match=r"^body: "):
        render_sms(SmsContent(source), context(attributes={}))


def test_rendered_output_is_capped() -> None:
    # GIVEN an SMS template that expands beyond what an SMS may carry
    source = "{% for _ in range(" + str(MAX_SMS_CHARS + 1) + ") %}x{% endfor %}"
    # WHEN it is rendered
    # THEN it is refused for its length
    with pytest.raises(RenderError, match="longer than"):
        render_sms(SmsContent(source), context())


def test_subjects_are_capped() -> None:
    with pytest.raises(RenderError, match="subject: rendered text is longer"):
        render_email(email(subject="x" * (MAX_SUBJECT_CHARS + 1)), context())


def test_template_errors_lists_each_field_that_does_not_compile() -> None:
    # GIVEN content with a broken French HTML part and a broken English SMS
    content = Content(
        email={"en": email(), "fr": email(html="<p>{{ account.first_name </p>")},
        sms={"en": SmsContent("{% if %}"), "fr": SmsContent("ok")},
    )
    # WHEN it is checked
    errors = template_errors(content)
    # THEN each broken field is listed by its path in the content, with the template error
    assert [e["field"] for e in errors] == ["content.email.fr.html", "content.sms.en.body"]
    assert all(e["error"].startswith("template error: ") for e in errors)


def test_content_that_compiles_has_no_template_errors() -> None:
    # GIVEN valid content (placeholders unknown at compile time are fine until rendering)
    content = Content(
        email={"en": email(subject="{{ account.first_name }}")}, sms={"en": SmsContent("{{ anything }}")}
    )
    assert template_errors(content) == []
