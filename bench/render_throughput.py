"""Rendering throughput of the send worker's path, as a ratio to bare `jinja2.Template.render`.

The worker path is what `Sender` runs per message: the account's template fields
(`Account.render_context`) and `render_message` (the sandboxed, StrictUndefined environment
with its range/size guards, subject folding and output cap). The baseline renders the same
sources with a plain `jinja2.Template` and a ready-made context. Both run on one core, best of
a few repeats.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import jinja2

from chalicelib.domain.models import Account, Channel, Communication, Content, EmailContent, SmsContent
from chalicelib.domain.rendering import render_message

TARGETS = {"render_throughput_ratio": (">=", 0.5)}

SUBJECT = "{{ communication.name }}: maintenance in {{ account.service_area }}, {{ account.first_name }}"
HTML = """<html><body>
<p>Hello {{ account.first_name }} {{ account.last_name }},</p>
<p>We are upgrading the network in {{ account.service_area }} tonight between 1 and 3 am.
{% if account.segment == "business" %}Your account manager will call you.
{% else %}No action is needed.{% endif %}</p>
<ul>{% for item in ["Internet", "TV", "Phone"] %}
<li>{{ item }}: {{ "down" if loop.index == 1 else "up" }}</li>{% endfor %}</ul>
<p>Reference {{ account.account_id[:8] | upper }}
&middot; {{ account.attributes.plan | default("standard plan") }}</p>
</body></html>"""
TEXT = """Hello {{ account.first_name }} {{ account.last_name }},
We are upgrading the network in {{ account.service_area }} tonight between 1 and 3 am.
Reference {{ account.account_id[:8] | upper }}"""
SMS = (
    "{{ account.first_name }}: network work in {{ account.service_area }} 1-3 am. "
    "Ref {{ account.account_id[:8] }}"
)


def _accounts(count: int) -> list[Account]:
    return [
        Account(
            account_id=f"{index:08x}-1111-4222-8333-444455556666",
            first_name=f"First{index}",
            last_name=f"Last{index}",
            language="en",
            channels=[Channel.EMAIL, Channel.SMS],
            email=f"person{index}@example.com",
            phone="+15145550100",
            service_area=f"area-{index % 17}",
            segment="business" if index % 5 == 0 else "home",
            attributes={"plan": "Fibre 1G"} if index % 2 else {},
        )
        for index in range(count)
    ]


def _best_rates(count: int, repeats: int, *works: Callable[[], None]) -> list[float]:
    """Messages per second of each `work`, best of `repeats`; runs alternate, so both see the same load."""
    best = [float("inf")] * len(works)
    for _ in range(repeats):
        for index, work in enumerate(works):
            started = time.perf_counter()
            work()
            best[index] = min(best[index], time.perf_counter() - started)
    return [count / seconds for seconds in best]


def run(smoke: bool = False) -> dict[str, float]:
    count, repeats = (200, 1) if smoke else (5_000, 7)
    accounts = _accounts(count)
    communication = Communication(
        comm_id="bench",
        name="Fibre upgrade",
        channels=[Channel.EMAIL, Channel.SMS],
        default_language="en",
        content=Content(email={"en": EmailContent(SUBJECT, HTML, TEXT)}, sms={"en": SmsContent(SMS)}),
    )

    def worker_path() -> None:
        for account in accounts:
            context = account.render_context()
            render_message(communication, Channel.EMAIL, "en", context)
            render_message(communication, Channel.SMS, "en", context)

    plain = jinja2.Environment(autoescape=False)
    html_env = jinja2.Environment(autoescape=True)
    subject, text, sms = (plain.from_string(s) for s in (SUBJECT, TEXT, SMS))
    html = html_env.from_string(HTML)
    contexts = [
        {"account": account.render_context(), "communication": {"name": communication.name}}
        for account in accounts
    ]

    def bare() -> None:
        for context in contexts:
            subject.render(context)
            html.render(context)
            text.render(context)
            sms.render(context)

    worker_path()  # compile and warm caches outside the timed runs
    bare()
    worker_rate, bare_rate = _best_rates(count, repeats, worker_path, bare)
    prefix = "render_smoke" if smoke else "render"
    return {
        f"{prefix}_worker_messages_per_second": round(worker_rate * 2, 1),
        f"{prefix}_bare_messages_per_second": round(bare_rate * 2, 1),
        f"{prefix}_throughput_ratio": round(worker_rate / bare_rate, 3),
    }
