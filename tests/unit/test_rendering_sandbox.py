"""The template sandbox: what templates can use, and the escapes and resource bombs that must fail."""

from __future__ import annotations

import pytest

from chalicelib.domain.models import Channel, Communication, Content, EmailContent, SmsContent
from chalicelib.domain.rendering import RenderError, render_email, render_message, render_sms, template_errors

pytestmark = pytest.mark.unit

ACCOUNT = {"first_name": "Ada", "last_name": "Lovelace", "attributes": {"plan": "Fibre 1G"}}


def sms(source: str) -> str:
    return render_sms(SmsContent(source), ACCOUNT).body


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ account.__class__ }}",
        "{{ account.first_name.__class__.__base__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ lipsum.__globals__['os'] }}",
        "{{ range.__self__ }}",
        "{{ self._TemplateReference__context }}",
        "{{ account.attributes.update({'x': 1}) }}",
        "{% for i in range(100000) %}{% endfor %}",
        "{% for i in range(200) %}{% for j in range(200) %}{% endfor %}{% endfor %}",
        "{{ 10 ** 100000 }}",
        "{{ (2 ** 64) ** 1000 }}",
        "{{ 'x' * 100000000 }}",
        "{{ [1] * 100000000 }}",
        "{{ '%999999999s' % 'x' }}",
        "{{ '{:>999999999}'.format('x') }}",
        "{{ 'x'.ljust(999999999) }}",
        "{{ 'x' | center(999999999) }}",
        "{{ 'x' | indent(999999999) }}",
        "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
        "{{ account.missing_field }}",
        "{{ 1 / 0 }}",
    ],
)
def test_escapes_bombs_and_mistakes_fail_as_render_errors(source):
    with pytest.raises(RenderError):
        sms(source)


def test_templates_see_the_account_and_the_communication_name():
    communication = Communication(
        comm_id="c1",
        name="Fibre upgrade",
        channels=[Channel.SMS],
        default_language="en",
        content=Content(sms={"en": SmsContent("{{ communication.name }}: {{ account.first_name|upper }}")}),
    )
    rendered = render_message(communication, Channel.SMS, "en", ACCOUNT)
    assert rendered == SmsContent("Fibre upgrade: ADA")
    assert sms("{{ account.attributes.plan }} {{ 2 ** 10 }} {% for i in range(3) %}{{ i }}{% endfor %}") == (
        "Fibre 1G 1024 012"
    )


def test_line_breaks_in_a_rendered_subject_are_folded_into_spaces():
    account = {**ACCOUNT, "first_name": "Ada\r\nBcc: victim@example.com"}
    email = render_email(EmailContent("Hello {{ account.first_name }}\n  today", "<p>x</p>", "x"), account)
    assert email.subject == "Hello Ada Bcc: victim@example.com today"
    assert "\n" not in email.subject and "\r" not in email.subject


def test_html_is_escaped_and_text_is_not():
    account = {**ACCOUNT, "first_name": "<b>Ada</b>"}
    email = render_email(
        EmailContent(
            "{{ account.first_name }}", "<p>{{ account.first_name }}</p>", "{{ account.first_name }}"
        ),
        account,
    )
    assert email.html == "<p>&lt;b&gt;Ada&lt;/b&gt;</p>"
    assert email.text == "<b>Ada</b>" and email.subject == "<b>Ada</b>"


def test_output_is_capped():
    with pytest.raises(RenderError, match="longer than"):
        sms("{% for i in range(9000) %}ab{% endfor %}")


def test_syntax_errors_name_the_field_and_the_line():
    content = Content(
        email={"en": EmailContent("Hi", "<p>\n{{ account.first_name }\n</p>", "ok")},
        sms={"fr": SmsContent("ligne 1\nligne 2 {% if %}")},
    )
    errors = template_errors(content)
    assert [(e["field"], e["line"]) for e in errors] == [
        ("content.email.en.html", 2),
        ("content.sms.fr.body", 2),
    ]


def test_a_runtime_error_reports_its_template_line():
    with pytest.raises(RenderError) as caught:
        sms("line one\nline two {{ account.nope }}")
    assert caught.value.line == 2


def test_large_numbers_as_values_are_fine():
    account = {**ACCOUNT, "attributes": {"balance": 1_500_000, "plan": "x"}}
    assert (
        render_sms(SmsContent("{{ '{:,}'.format(account.attributes.balance) }}"), account).body == "1,500,000"
    )
    assert render_sms(SmsContent("{{ account.attributes.balance * 3 }}"), account).body == "4500000"
