"""What a send costs in AWS requests and DynamoDB write and read units, per message.

A 20,000-message communication (10,000 accounts, email and SMS each, in English and French)
goes through the real planner and send handlers on moto (in-process), fed by SQS as Lambda's
event source would; then SES's events for its emails (`Delivery`, or a hard `Bounce`:
bench/ses_events.py) go on the events delivery stream as SES puts them, which writes them to the
events bucket in files, and S3's notifications of those files through the real event files
handler; then Twilio's "delivered" status callbacks for some of its SMS, each
its own signed request through the real `/webhooks/twilio` route (API Gateway's part priced per
request), and the events handler applies what they queued: what a report that reaches Herald
through a provider's webhook costs. Every call the application's boto3 clients make is counted with
botocore event hooks; the provider calls (SES SendEmail, SNS Publish) are left out, as are the
event source mapping's own ReceiveMessage/DeleteMessage
(Lambda's, reported on their own line and priced with SQS in bench/costs.py) and what AWS's
services do on their own (SES's Firehose records, Firehose's S3 PUTs, S3's notifications: counted
and priced in bench/costs.py).

Write units are computed, not measured: moto reports no consumed capacity. For every write the
item is read from moto's tables before and after, and DynamoDB's on-demand billing is applied:
ceil(max(size before, size after) / 1 KB) per item written, doubled inside transactions, plus
the writes each global secondary index takes (an index whose key changes takes a delete and a
put; an ALL projection is rewritten whenever its item changes; a KEYS_ONLY one only when its
keys do). Sizes follow DynamoDB's rules (attribute names and values in UTF-8; numbers about one
byte per two digits plus one; one byte per list or map element plus three). Read units the same
way from what each read returned: ceil(size / 4 KB) per item (a key not found counts as one),
for a Query the sum of the items' sizes, halved for eventually consistent reads.

    python -m bench.sending            # make bench-sending: this metered run alone
    python -m bench.sending --quick    # 2,000 messages

In `make bench`, `run()` adds the timed run of the whole pipeline (bench/pipeline.py) and prices
both (bench/costs.py).
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

MESSAGES = 20_000
QUICK_MESSAGES = 2_000
SMOKE_MESSAGES = 100
PROVIDER_SERVICES = frozenset({"sesv2", "sns"})
ACCOUNT, REGION = "123456789012", "us-east-1"
KB = 1024
READ_KB = 4 * 1024
CONFIGURATION_SET = "herald-dev"
BOUNCE_EVERY = 100  # one email in a hundred bounces, the others are delivered
EVENT_WAVE = 1_000  # emails whose events are published before the event files handler drains them
# Twilio status callbacks ("delivered"), one request each as Twilio posts them, for this many of
# the run's SMS: the cost of a report that reaches Herald through a webhook and API Gateway.
WEBHOOK_EVENTS = 2_000
TWILIO_AUTH_TOKEN = "bench-twilio-auth-token"
PUBLIC_URL = "https://herald.example.com"


def measure(messages: int) -> dict[str, float]:
    """Send a communication of `messages` messages, then its delivery events; return the cost per message."""
    _offline()
    import boto3
    from moto import mock_aws

    from bench.pipeline import _patched_environ
    from chalicelib.local.resources import create_resources_with_clients
    from chalicelib.settings import get_settings
    from chalicelib.wiring import services
    from tests.support import quicker_moto

    def fresh() -> None:
        # The handlers' services() and settings, read again from this environment (and after it).
        get_settings.cache_clear()
        services.cache_clear()

    webhook_env = {"HERALD_TWILIO_AUTH_TOKEN": TWILIO_AUTH_TOKEN, "HERALD_PUBLIC_URL": PUBLIC_URL}
    with mock_aws(), quicker_moto(), _patched_environ(webhook_env):
        # The bucket names moto chose, as the template sets them on the functions.
        resource_env = create_resources_with_clients(boto3.client("cloudformation"), boto3.client("ses"))
        with _patched_environ(resource_env):
            fresh()
            try:
                return _Bench(messages).run()
            finally:
                fresh()


def run(smoke: bool = False, quick: bool = False) -> dict[str, float]:
    """The metered send (bench.sending), the timed pipeline (bench.pipeline) and their cost per message."""
    from bench import background, costs, pipeline

    metered = measure(SMOKE_MESSAGES if smoke else QUICK_MESSAGES if quick else MESSAGES)
    background.settle()  # the set-up that ran alongside the metered send is done before timing
    timed = pipeline.run(smoke=smoke)
    messages = metered["messages"]
    gb_seconds = sum(
        costs.lambda_gb_seconds(
            function,
            timed[f"lambda_{function}_seconds_per_message"],
            timed[f"lambda_{function}_cpu_seconds_per_message"],
        )
        for function in pipeline.FUNCTIONS
    )
    usage = costs.Usage(
        lambda_invocations=sum(metered.get(f"lambda_{f}_invocations", 0.0) for f in pipeline.FUNCTIONS)
        / messages,
        lambda_gb_seconds=gb_seconds,
        sqs_requests=metered["sqs_requests_per_message"]
        + metered["esm_sqs_requests_per_message"]
        + metered["event_files_per_message"],  # S3's notification of each file
        ddb_write_units=metered["ddb_write_units_per_message"],
        ddb_read_units=metered["ddb_read_units_per_message"],
        # SES's events reach Herald in Firehose's files: no HTTP request per event (bench/costs.py
        # prices a webhook request, for reports that come through one).
        api_requests=0.0,
        firehose_gb=metered["firehose_gb_per_message"],
        s3_puts=metered["event_files_per_message"],
        s3_gets=metered["s3_requests_per_message"],
    )
    priced = {f"usd_per_million.{part}": usd * 1e6 for part, usd in usage.usd().items()}
    return {
        **metered,
        **timed,
        "lambda_gb_seconds_per_message": gb_seconds,
        "infra_usd_per_million": usage.usd_per_million(),
        **priced,
    }


TARGETS = {
    "aws_requests_per_message": ("<=", 0.25),
    "ddb_write_units_per_message": ("<=", 2.0),
    "sqs_requests_per_message": ("<=", 0.15),
    "infra_usd_per_million": ("<=", 1.50),
    "throughput_ratio": (">=", 0.7),
    "rate_limit_accuracy": (">=", 0.9),
}


@dataclass
class _Timing:
    """A handler's calls and their wall and CPU seconds."""

    calls: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0


class _Bench:
    def __init__(self, messages: int) -> None:
        from chalicelib.settings import Settings
        from chalicelib.wiring import Services
        from tests.support import SimulatedClock

        self.messages = messages
        self.clock = SimulatedClock()
        # A production SES/SNS account's quota, so that the rate limit binds as it would there.
        self.settings = Settings(
            email_rate_per_s="200",
            sms_rate_per_s="200",
            ses_configuration_set=CONFIGURATION_SET,
            public_url=PUBLIC_URL,
        )
        self.svc = Services(self.settings, self.clock)
        self.requests: Counter[str] = Counter()
        self.phase_requests: Counter[str] = Counter()
        self.phase_service_requests: Counter[tuple[str, str]] = Counter()
        self.phase_write_units: Counter[str] = Counter()
        self.table_write_units: Counter[tuple[str, str, str]] = Counter()
        self.phase_read_units: Counter[str] = Counter()
        self.table_read_units: Counter[tuple[str, str, str]] = Counter()
        self.phase_esm_requests: Counter[str] = Counter()
        self.invocations: Counter[str] = Counter()
        # By (phase, function): the handler calls timed in-process (moto's work included).
        self.timings: defaultdict[tuple[str, str], _Timing] = defaultdict(_Timing)
        self.accounts: list[Any] = []
        self.sent_emails: list[tuple[dict[str, Any], str]] = []
        self.event_files = 0
        self.event_record_sizes: list[int] = []
        self._phase = "send"
        # The send worker's provider calls run on several threads: each count is taken whole.
        self._tally_lock = threading.Lock()

    def run(self) -> dict[str, float]:
        import boto3

        from bench import costs
        from chalicelib.wiring import services

        # S3's s3:TestEvent from setting up the bucket's notifications: no file, and no part of a send.
        esm = boto3.client("sqs", region_name=REGION)
        esm.purge_queue(QueueUrl=esm.get_queue_url(QueueName=self.settings.event_files_queue)["QueueUrl"])
        comm_id = self._communication()
        self._meter(self.svc.dynamodb)
        self._meter(self.svc.sqs)
        self._meter(services().dynamodb)  # what the events handlers use
        self._meter(services().sqs)
        self._meter(services().event_files._client)
        for provider in (self.svc.sesv2, self.svc.sns, self.svc.sms_sender._client):
            # A provider call takes time: the rate limiter sees a realistic pace.
            provider.meta.events.register("before-call", lambda **_: self.clock.advance(0.01))
        self.svc.sesv2.meta.events.register("before-parameter-build.sesv2.SendEmail", _keep_params)
        self.svc.sesv2.meta.events.register("after-call.sesv2.SendEmail", self._sent_email)
        started = time.monotonic()
        self.svc.communications.send(comm_id, by=self._admin())
        self._drain()
        communication = self.svc.communications.get(comm_id)
        counts = communication.counts
        assert (str(communication.status), counts.sent, counts.total) == (
            "COMPLETED",
            self.messages,
            self.messages,
        ), (communication.status, counts)
        self._phase = "events"
        events = self._deliver_events()
        elapsed = time.monotonic() - started
        counts = self.svc.communications.get(comm_id).counts
        emails = len(self.sent_emails)
        bounced = sum(1 for i in range(emails) if i % BOUNCE_EVERY == BOUNCE_EVERY - 1)
        assert (counts.delivered, counts.delivery_failed) == (emails - bounced, bounced), counts
        ddb = sum(n for (service, _), n in self.requests.items() if service == "dynamodb")
        sqs = sum(n for (service, _), n in self.requests.items() if service == "sqs")
        s3 = sum(n for (service, _), n in self.requests.items() if service == "s3")
        per = float(self.messages)
        measured = {
            "messages": per,
            "email_messages": float(emails),
            "delivery_events": float(events),
            "aws_requests_per_message": (ddb + sqs + s3) / per,
            "send_aws_requests_per_message": self.phase_requests["send"] / per,
            "events_aws_requests_per_event": self.phase_requests["events"] / max(events, 1),
            "ddb_requests_per_message": ddb / per,
            "sqs_requests_per_message": sqs / per,
            "s3_requests_per_message": s3 / per,
            "ddb_write_units_per_message": sum(self.phase_write_units.values()) / per,
            "send_ddb_write_units_per_message": self.phase_write_units["send"] / per,
            "events_ddb_write_units_per_event": self.phase_write_units["events"] / max(events, 1),
            "ddb_read_units_per_message": sum(self.phase_read_units.values()) / per,
            "esm_sqs_requests_per_message": sum(self.phase_esm_requests.values()) / per,
            "event_files": float(self.event_files),
            "event_files_per_message": self.event_files / per,
            "firehose_gb_per_message": costs.firehose_billed_gb(self.event_record_sizes) / per,
            "event_record_bytes_mean": sum(self.event_record_sizes) / max(len(self.event_record_sizes), 1),
            "metered_seconds": elapsed,
            **{f"lambda_{name}_invocations": float(n) for name, n in sorted(self.invocations.items())},
            **{f"calls.{service}.{op}": float(n) for (service, op), n in sorted(self.requests.items())},
            **{
                f"write_units_per_message.{phase}.{table}.{op}": units / per
                for (phase, table, op), units in sorted(self.table_write_units.items())
            },
            **{
                f"read_units_per_message.{phase}.{table}.{op}": units / per
                for (phase, table, op), units in sorted(self.table_read_units.items())
            },
        }
        # After the main figures: the callbacks are reports of messages already counted above.
        return measured | self._webhook_reports(comm_id)

    def _sent_email(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if "MessageId" in parsed:
            self.sent_emails.append((context["bench_params"], parsed["MessageId"]))

    def _deliver_events(self) -> int:
        """SES's events for every email sent, on the events delivery stream (Firehose writes them
        to the events bucket in files), then each file through the event files handler."""
        import boto3

        from bench import ses_events

        firehose = boto3.client("firehose", region_name=REGION)  # SES's side: not metered
        published = 0
        # In waves, as SES reports them over time.
        for wave in range(0, len(self.sent_emails), EVENT_WAVE):
            events = []
            for index in range(wave, min(wave + EVENT_WAVE, len(self.sent_emails))):
                request, ses_message_id = self.sent_emails[index]
                tags = {t["Name"]: t["Value"] for t in request.get("EmailTags") or []}
                events += ses_events.for_email(
                    ses_message_id,
                    request["Destination"]["ToAddresses"][0],
                    request["Content"]["Simple"]["Subject"]["Data"],
                    tags,
                    datetime.fromtimestamp(self.clock.now(), UTC),
                    CONFIGURATION_SET,
                    bounce=index % BOUNCE_EVERY == BOUNCE_EVERY - 1,
                )
            self.event_record_sizes += [len(ses_events.record(event)) for event in events]
            self.event_files += ses_events.put_on_stream(firehose, self.settings.events_stream, events)
            published += len(events)
            self._drain_queue("event_files_worker", self.settings.event_files_queue)
            self._drain_queue("events_worker", self.settings.events_queue)  # early events handed back
        return published

    def _drain_queue(self, function: str, queue: str) -> None:
        """Invoke `function` on each batch of `queue` as its event source mapping would."""
        import boto3

        from bench.pipeline import batch_sizes, delete_batch, receive_batch
        from chalicelib.local.pollers import sqs_event
        from chalicelib.workers import event_files, events

        handle = {"event_files_worker": event_files.handle, "events_worker": events.handle}[function]
        esm = boto3.client("sqs", region_name=REGION)  # Lambda's side: counted on its own line
        url = esm.get_queue_url(QueueName=queue)["QueueUrl"]
        arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}"
        batch_size = batch_sizes()[function]
        while True:
            batch = receive_batch(esm, url, batch_size)
            if not batch:
                return
            self.phase_esm_requests[self._phase] += 2 * math.ceil(len(batch) / 10)  # receives, deletes
            self.invocations[function] += 1
            with self._timed(function):
                response = handle(sqs_event(batch, arn, REGION))
            assert not response.get("batchItemFailures"), response
            delete_batch(esm, url, batch)

    @contextmanager
    def _timed(self, function: str) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            timing = self.timings[(self._phase, function)]
            timing.calls += 1
            timing.wall_s += time.perf_counter() - wall
            timing.cpu_s += time.process_time() - cpu

    def _webhook_reports(self, comm_id: str) -> dict[str, float]:
        """Twilio's "delivered" callbacks for some of the SMS, each its own signed request through
        the real route (which verifies and queues it), then the events handler applies them."""
        from chalice.test import Client

        from app import app
        from bench import costs
        from chalicelib.adapters.sms import twilio
        from chalicelib.domain.models import Channel, message_id_for

        phase = self._phase = "webhooks"
        accounts = self.accounts[: min(WEBHOOK_EVENTS, len(self.accounts))]
        with Client(app) as client:
            for number, account in enumerate(accounts):
                query = {
                    "comm_id": comm_id,
                    "message_id": message_id_for(comm_id, account.account_id, Channel.SMS),
                }
                form = [
                    ("MessageSid", f"SM{number:032d}"),
                    ("MessageStatus", "delivered"),
                    ("To", account.phone),
                ]
                signature = twilio.compute_signature(
                    TWILIO_AUTH_TOKEN, twilio.request_url(PUBLIC_URL, query), form
                )
                with self._timed("api_handler"):
                    response = client.http.post(
                        f"/webhooks/twilio?{urlencode(sorted(query.items()))}",
                        headers={
                            "Content-Type": "application/x-www-form-urlencoded",
                            "X-Twilio-Signature": signature,
                        },
                        body=urlencode(form).encode(),
                    )
                assert response.status_code == 200, response.body
        self._drain_queue("events_worker", self.settings.events_queue)
        sms = self.svc.communications.get(comm_id).counts_by_channel[Channel.SMS]
        assert sms.delivered == len(accounts), sms
        events = float(len(accounts))
        handlers = {
            function: self.timings[(phase, function)] for function in ("api_handler", "events_worker")
        }
        write_units = self.phase_write_units[phase] / events
        read_units = self.phase_read_units[phase] / events
        usage = costs.Usage(
            lambda_invocations=sum(timing.calls for timing in handlers.values()) / events,
            lambda_gb_seconds=sum(
                costs.lambda_gb_seconds(function, timing.wall_s, timing.cpu_s)
                for function, timing in handlers.items()
            )
            / events,
            sqs_requests=(self.phase_service_requests[(phase, "sqs")] + self.phase_esm_requests[phase])
            / events,
            ddb_write_units=write_units,
            ddb_read_units=read_units,
            api_requests=1.0,
        )
        return {
            "webhook_events": events,
            "webhook_aws_requests_per_event": self.phase_requests[phase] / events,
            "webhook_ddb_write_units_per_event": write_units,
            "webhook_ddb_read_units_per_event": read_units,
            "webhook_api_handler_ms_per_event": 1000 * handlers["api_handler"].wall_s / events,
            "webhook_usd_per_million_events": usage.usd_per_million(),
            **{f"webhook_usd_per_million_events.{part}": usd * 1e6 for part, usd in usage.usd().items()},
        }

    # -- the communication ----------------------------------------------------------------------

    @staticmethod
    def _admin() -> Any:
        from chalicelib.domain.models import Admin

        return Admin("bench", "Bench", "Mark", can_write=True)

    def _communication(self) -> str:
        from chalicelib.domain.communications import DraftFields
        from chalicelib.domain.models import Channel

        accounts, content = accounts_and_content(self.messages // 2)
        self.accounts = accounts
        self.svc.directory.put_many(accounts)
        draft = self.svc.communications.create(
            DraftFields(
                name="Bench", channels=[Channel.EMAIL, Channel.SMS], default_language="en", content=content
            ),
            by=self._admin(),
        )
        csv = "account_id\n" + "\n".join(a.account_id for a in accounts) + "\n"
        self.svc.audience.set_from_csv(draft.comm_id, csv, by=self._admin())
        return draft.comm_id

    def _drain(self) -> None:
        import boto3

        from chalicelib.local.pollers import sqs_event
        from chalicelib.workers import plan as plan_worker
        from chalicelib.workers import send as send_worker
        from tests.support import SimulatedContext

        esm = boto3.client("sqs", region_name=REGION)  # Lambda's event source mapping: not metered
        lanes = {
            "plan": self.settings.plan_queue,
            "send": self.settings.send_queue,
            "urgent-send": self.settings.urgent_send_queue,
        }
        urls = {lane: esm.get_queue_url(QueueName=name)["QueueUrl"] for lane, name in lanes.items()}
        while True:
            worked = False
            for lane, url in urls.items():
                batch = esm.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=1 if lane == "plan" else 10
                ).get("Messages", [])
                if not batch:
                    continue  # Lambda's pollers wait on an empty queue (a fixed cost, not per message)
                self.phase_esm_requests[self._phase] += 1
                worked = True
                self.invocations["plan_worker" if lane == "plan" else lane.replace("-", "_") + "_worker"] += 1
                event = sqs_event(batch, f"arn:aws:sqs:{REGION}:{ACCOUNT}:{lane}", REGION)
                if lane == "plan":
                    response = plan_worker.handle(event, self.svc)
                else:
                    response = send_worker.handle(event, SimulatedContext(self.clock), self.svc)
                assert not response.get("batchItemFailures"), response
                esm.delete_message_batch(
                    QueueUrl=url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)
                    ],
                )
                self.phase_esm_requests[self._phase] += 1
            if not worked:
                return

    # -- metering -------------------------------------------------------------------------------

    def _meter(self, client: Any) -> None:
        service = client.meta.service_model.service_id.hyphenize()
        events = client.meta.events
        events.register(f"before-parameter-build.{service}", self._count)
        events.register(f"before-parameter-build.{service}", _keep_params)
        if service == "dynamodb":
            events.register("before-parameter-build.dynamodb", self._snapshot)
            events.register("after-call.dynamodb", self._charge)
            events.register("after-call.dynamodb", self._charge_reads)

    def _count(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        service = model.service_model.service_id.hyphenize()
        if service not in PROVIDER_SERVICES:
            with self._tally_lock:
                self.requests[(service, model.name)] += 1
                self.phase_requests[self._phase] += 1
                self.phase_service_requests[(self._phase, service)] += 1

    def _snapshot(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        writes = list(_writes(model.name, params))
        if writes:
            context["bench_writes"] = [
                (table, key, factor, _item(table, key)) for table, key, factor in writes
            ]

    def _charge(self, http_response: Any, model: Any, context: dict[str, Any], **_: Any) -> None:
        with self._tally_lock:
            self._charge_writes(model, context)

    def _charge_writes(self, model: Any, context: dict[str, Any]) -> None:
        for table, key, factor, before in context.get("bench_writes", []):
            after = _item(table, key)
            size = max(_size(before), _size(after))
            units = math.ceil(size / KB) if size else 1
            charged = factor * (units + _index_units(table, before, after))
            self.phase_write_units[self._phase] += charged
            self.table_write_units[(self._phase, table.removeprefix("herald-dev-"), model.name)] += charged

    def _charge_reads(self, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        by_table = _read_units(model.name, context.get("bench_params", {}), parsed)
        with self._tally_lock:
            self._charge_table_reads(model.name, by_table)

    def _charge_table_reads(self, operation: str, by_table: dict[str, float]) -> None:
        for table, units in by_table.items():
            self.phase_read_units[self._phase] += units
            self.table_read_units[(self._phase, table.removeprefix("herald-dev-"), operation)] += units


# A styled notice: about 6 KB of HTML per language, as a real email template is, of varied text
# (30 different paragraphs: repeated rows would compress far better than real templates do). The
# communication item carries it, so what writes that item shows in the write units.
_VOCABULARY = (
    "network maintenance tonight between one and three your area service may be interrupted for a few "
    "minutes we upgrade equipment improve speed reliability customers fibre cable modem router restart "
    "automatically no action needed questions call support visit account page thank you patience team "
    "outage planned work crews neighbourhood street cabinet power backup television phone internet"
)
_WORDS = _VOCABULARY.split()


def _paragraph(number: int) -> str:
    state = number * 7919 + 17
    words = []
    for _ in range(22):
        state = (state * 1103515245 + 12345) % 2**31
        words.append(_WORDS[state % len(_WORDS)])
    return " ".join(words).capitalize() + "."


def _notice(first_paragraph: int) -> str:
    rows = "".join(
        f"<tr><td style='padding:4px;color:#333'>{{{{ account.first_name }}}}, {_paragraph(n)}</td></tr>"
        for n in range(first_paragraph, first_paragraph + 30)
    )
    return "<table style='width:100%;font-family:Arial'>" + rows + "</table>"


HTML = _notice(0)
HTML_FR = _notice(1000)  # the other language's text


def accounts_and_content(count: int, prefix: str = "0") -> tuple[list[Any], Any]:
    """`count` accounts with email and SMS in English, French and Canadian French, and a bilingual notice."""
    from chalicelib.domain.models import Account, Channel, Content, EmailContent, SmsContent

    accounts = [
        Account(
            account_id=f"{prefix}{i:07d}-0000-4000-8000-000000000000",
            first_name=f"First{i}",
            last_name=f"Last{i}",
            language=["en", "fr", "fr-CA"][i % 3],
            channels=[Channel.EMAIL, Channel.SMS],
            email=f"person{prefix}-{i}@example.com",
            phone=f"+1514{2_000_000 + i:07d}",
            service_area=["north", "south"][i % 2],
            attributes={"plan": "fibre-500"},
        )
        for i in range(count)
    ]
    content = Content(
        email={
            "en": EmailContent("Maintenance, {{ account.first_name }}", HTML, "Tonight 1-3 am."),
            "fr": EmailContent("Maintenance, {{ account.first_name }}", HTML_FR, "Ce soir."),
        },
        sms={"en": SmsContent("Maintenance tonight 1-3 am."), "fr": SmsContent("Maintenance ce soir.")},
    )
    return accounts, content


def _keep_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    context["bench_params"] = json.loads(json.dumps(params, default=str))


def _read_units(operation: str, params: dict[str, Any], parsed: dict[str, Any]) -> dict[str, float]:
    """Read units of one read by table, from what it returned (conditional writes read nothing
    billable).

    DynamoDB charges a projected read for the whole item; the items read with a projection here
    (accounts, for planning) are well under the 4 KB a unit covers, so what returned is enough."""

    def units(size: int, consistent: bool) -> float:
        return max(1, math.ceil(size / READ_KB)) * (1.0 if consistent else 0.5)

    if operation == "GetItem":
        return {params["TableName"]: units(_size(parsed.get("Item")), bool(params.get("ConsistentRead")))}
    if operation == "BatchGetItem":
        by_table: dict[str, float] = {}
        for table, request in params.get("RequestItems", {}).items():
            found = parsed.get("Responses", {}).get(table, [])
            unprocessed = len(parsed.get("UnprocessedKeys", {}).get(table, {}).get("Keys", []))
            consistent = bool(request.get("ConsistentRead"))
            by_table[table] = sum(units(_size(item), consistent) for item in found)
            by_table[table] += (len(request["Keys"]) - len(found) - unprocessed) * units(0, consistent)
        return by_table
    if operation in ("Query", "Scan"):
        size = sum(_size(item) for item in parsed.get("Items", []))
        return {params["TableName"]: units(size, bool(params.get("ConsistentRead")))}
    return {}


def _writes(operation: str, params: dict[str, Any]) -> list[tuple[str, dict[str, Any], int]]:
    """(table, key, 2 in a transaction else 1) of each item a write request touches."""
    if operation in ("PutItem", "UpdateItem", "DeleteItem"):
        key = params.get("Key") or _key_of(params["TableName"], params["Item"])
        return [(params["TableName"], key, 1)]
    if operation == "BatchWriteItem":
        found = []
        for table, requests in params["RequestItems"].items():
            for request in requests:
                if "PutRequest" in request:
                    found.append((table, _key_of(table, request["PutRequest"]["Item"]), 1))
                else:
                    found.append((table, request["DeleteRequest"]["Key"], 1))
        return found
    if operation == "BatchExecuteStatement":
        from chalicelib.local.moto_dynamodb import parse_update

        found = []
        for statement in params["Statements"]:
            update = parse_update(statement["Statement"], statement.get("Parameters", []))
            if update is not None:
                found.append((update.table, _key_of(update.table, update.equals), 1))
        return found
    if operation == "TransactWriteItems":
        found = []
        for entry in params["TransactItems"]:
            kind, op = next(iter(entry.items()))
            if kind == "ConditionCheck":
                continue
            found.append((op["TableName"], op.get("Key") or _key_of(op["TableName"], op["Item"]), 2))
        return found
    return []


def _table(name: str) -> Any:
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[ACCOUNT][REGION].get_table(name)


def _key_of(table_name: str, item: dict[str, Any]) -> dict[str, Any]:
    table = _table(table_name)
    key = {table.hash_key_attr: item[table.hash_key_attr]}
    if table.range_key_attr:
        key[table.range_key_attr] = item[table.range_key_attr]
    return key


def _item(table_name: str, key: dict[str, Any]) -> dict[str, Any] | None:
    from moto.dynamodb.models import dynamodb_backends

    from chalicelib.local.moto_dynamodb import SERVING, wire_json

    # Not while a request is served: a send worker writes a window's records while its calls and
    # their rate-limit takes go on, and moto changes items in place.
    with SERVING:
        found = dynamodb_backends[ACCOUNT][REGION].get_item(table_name, key)
        return json.loads(wire_json(found.to_json()["Attributes"])) if found else None


def _index_units(table_name: str, before: dict[str, Any] | None, after: dict[str, Any] | None) -> int:
    table = _table(table_name)
    table_keys = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
    units = 0
    for index in table.global_indexes:
        keys = [k["AttributeName"] for k in index.schema]
        projection = index.projection.get("ProjectionType", "ALL")

        def projected(
            item: dict[str, Any] | None, keys: list[str] = keys, projection: str = projection
        ) -> Any:
            if item is None or not all(k in item for k in keys):
                return None
            if projection == "KEYS_ONLY":
                return {k: item[k] for k in dict.fromkeys(table_keys + keys)}
            return item

        old, new = projected(before), projected(after)
        if old == new:
            continue
        old_keys = {k: old[k] for k in keys} if old else None
        new_keys = {k: new[k] for k in keys} if new else None
        if old is not None and old_keys != new_keys:
            units += math.ceil(_size(old) / KB)  # the old index entry is deleted
        if new is not None:
            units += math.ceil(_size(new) / KB)
    return units


def _size(item: dict[str, Any] | None) -> int:
    if not item:
        return 0
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    kind, raw = next(iter(value.items()))
    if kind == "S":
        return len(raw.encode())
    if kind == "N":
        digits = raw.lstrip("-").replace(".", "").lstrip("0") or "0"
        return math.ceil(len(digits) / 2) + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "B":  # bytes as botocore parses them, base64 as moto and Herald's client hold them
        return len(raw) if isinstance(raw, bytes) else len(base64.b64decode(raw))
    if kind in ("SS", "NS", "BS"):
        return sum(_value_size({kind[0]: v}) for v in raw)
    if kind == "L":
        return 3 + sum(1 + _value_size(v) for v in raw)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + _value_size(v) for k, v in raw.items())
    raise ValueError(f"unknown DynamoDB type {kind}")


def _offline() -> None:
    """Dummy credentials; nothing may reach past moto."""
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")] + ["AWS_PROFILE"]:
        os.environ.pop(name, None)


def render(result: dict[str, float]) -> str:
    messages, seconds = result["messages"], result["metered_seconds"]
    lines = [
        f"sending: {messages:.0f} messages and {result['delivery_events']:.0f} SES events through the real "
        f"handlers on moto ({seconds:.0f} s)",
        "",
        f"{'measure':<34} {'per message':>12} {'target':>8}",
    ]
    for key in (
        "aws_requests_per_message",
        "send_aws_requests_per_message",
        "events_aws_requests_per_event",
        "ddb_requests_per_message",
        "sqs_requests_per_message",
        "ddb_write_units_per_message",
        "ddb_read_units_per_message",
        "esm_sqs_requests_per_message",
    ):
        target = TARGETS.get(key)
        shown = f"{target[0]} {target[1]:g}" if target else ""
        lines.append(f"{key:<34} {result[key]:>12.4f} {shown:>8}")
    lines += ["", f"{'AWS call':<34} {'count':>12}"]
    lines += [f"{key[6:]:<34} {value:>12.0f}" for key, value in result.items() if key.startswith("calls.")]
    lines += [
        "",
        f"then {result['webhook_events']:.0f} Twilio status callbacks, a request each, to /webhooks/twilio:",
        f"{'measure':<34} {'per event':>12}",
    ]
    for key in (
        "webhook_aws_requests_per_event",
        "webhook_ddb_write_units_per_event",
        "webhook_ddb_read_units_per_event",
        "webhook_api_handler_ms_per_event",
        "webhook_usd_per_million_events",
    ):
        lines.append(f"{key:<34} {result[key]:>12.4f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sending", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_MESSAGES} messages instead of {MESSAGES}"
    )
    args = parser.parse_args(argv)
    result = measure(QUICK_MESSAGES if args.quick else MESSAGES)
    print(render(result))
    within = result["aws_requests_per_message"] <= 0.25 and result["ddb_write_units_per_message"] <= 2
    return 0 if within else 1


if __name__ == "__main__":
    sys.exit(main())
