"""The fault-injection suite: several communications through the real handlers on moto while the
world misbehaves, then proof that no message went out twice and none was lost.

Everything runs in one process and one thread on simulated time, so a seed replays a run
exactly (unless `--concurrency` gives the send workers concurrent provider calls). Several
"containers" (each its own `Services`, as separate Lambda containers are) share moto's DynamoDB,
SQS, SES and SNS. The harness plays Lambda's event source mappings: it receives batches, invokes
the handlers, deletes what succeeded, and lets the rest come back once its (simulated) visibility
timeout passes; SQS (moto) moves a record to its DLQ after five
receives. Faults are injected with botocore hooks on each container's clients:

- SQS: duplicate deliveries; a batch's visibility expiring mid-batch (delivered again, to a
  second worker, while the first is still at it); an owner stalling past its lease while
  another worker takes its task over; a poison message.
- Workers: a crash before a provider call, and after the provider accepted a message but
  before it was recorded (the process just stops).
- Providers: throttling (429), 5xx, refused connections, read timeouts before and after the
  provider took the message, permanent refusals.
- DynamoDB: writes throttled beyond the SDK's retries.
- Admins: pause, resume and cancel at random moments (some mid-task).

SES events are simulated for most emails whose outcome a worker never learned (the delivery
events code calls `reconcile_from_event` the same way); SNS SMS has none.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from contextlib import suppress
from dataclasses import dataclass, field, replace
from typing import Any

import boto3
from moto import mock_aws

from chalicelib.domain.communications import DraftFields
from chalicelib.domain.models import (
    TERMINAL_STATUSES,
    Account,
    Admin,
    Channel,
    CommunicationStatus,
    Content,
    EmailContent,
    FailureCode,
    MessageStatus,
    SmsContent,
)
from chalicelib.domain.planning import plan_channels
from chalicelib.domain.reconciliation import check_counts
from chalicelib.local.pollers import sqs_event
from chalicelib.local.resources import create_resources_with_clients
from chalicelib.ops import dlq
from chalicelib.settings import Settings
from chalicelib.wiring import Services
from chalicelib.workers import plan as plan_worker
from chalicelib.workers import send as send_worker
from tests.support import (
    ACCOUNT,
    REGION,
    CallHooks,
    SimulatedClock,
    SimulatedContext,
    WorkerCrash,
    connection_refused,
    error_response,
    quicker_moto,
    read_timeout,
    sent_emails,
    sent_sms,
)

ADMIN = Admin("fault-admin", "Grace", "Hopper", can_write=True)
POISON = "{this is not a send task"
VISIBILITY_S = 1800.0  # the send queue's VisibilityTimeout
SWEEP_EVERY_S = 60.0
RECEIVE_VISIBILITY_S = 43200  # real seconds: the harness makes records visible again itself
WRITE_OPERATIONS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
MAX_SIMULATED_S = 12 * 3600
# The run starts on a Friday at 08:00 UTC, when the contact window below opens; accounts in this
# zone (UTC-1) wait an hour for theirs, so their messages are deferred and sent mid-run.
LATE_ZONE = "Atlantic/Cape_Verde"
LATE_ZONE_OPENS_S = 3600.0


@dataclass(frozen=True)
class FaultRates:
    duplicate_delivery: float = 0.3  # per batch: one of its records is delivered again
    visibility_expiry: float = 0.003  # per provider call
    stalled_owner: float = 0.002  # per provider call
    crash_before_send: float = 0.0015
    crash_after_accept: float = 0.0015
    throttle: float = 0.02
    server_error: float = 0.008
    connection_refused: float = 0.004
    timeout_after_accept: float = 0.003
    timeout_before_accept: float = 0.002
    permanent: float = 0.004
    ddb_write_throttle: float = 0.004  # per DynamoDB write of a worker
    pause: float = 0.01  # per batch
    mid_task_pause: float = 0.0005  # per provider call
    event_proof: float = 0.75  # emails in doubt whose SES event arrives


@dataclass(frozen=True)
class Scenario:
    seed: int
    accounts: int
    # (name, audience size, urgent)
    communications: tuple[tuple[str, int, bool], ...]
    # This one is cancelled at a random moment.
    cancelled: str | None
    ceilings: dict[str, float] = field(default_factory=lambda: {"ses": 25.0, "sns": 15.0})
    containers: int = 3
    rates: FaultRates = field(default_factory=FaultRates)
    # Provider calls a worker makes at once. One keeps the run in one thread, so a seed replays it
    # exactly; more runs the same faults against concurrent calls (no exact replay then).
    send_concurrency: int = 1

    @staticmethod
    def full(seed: int) -> Scenario:
        return Scenario(
            seed=seed,
            accounts=7_200,
            communications=(
                ("Outage north", 4_000, False),
                ("Billing change", 2_500, False),
                ("Boil-water notice", 700, True),
                ("Survey", 1_300, False),
            ),
            cancelled="Survey",
        )

    @staticmethod
    def smoke(seed: int) -> Scenario:
        return Scenario(
            seed=seed,
            accounts=700,
            communications=(
                ("Outage north", 400, False),
                ("Boil-water notice", 120, True),
                ("Survey", 180, False),
            ),
            cancelled="Survey",
            rates=FaultRates(
                visibility_expiry=0.01,
                stalled_owner=0.004,
                crash_before_send=0.003,
                crash_after_accept=0.003,
                timeout_after_accept=0.008,
                pause=0.05,
                mid_task_pause=0.003,
            ),
        )


@dataclass
class Check:
    name: str
    value: str
    ok: bool


@dataclass
class Report:
    seed: int
    messages: int
    simulated_s: float
    wall_s: float
    faults: Counter[str]
    checks: list[Check]
    communications: list[dict[str, Any]]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def render(self) -> str:
        lines = [
            f"fault-injection run: seed {self.seed}, {self.messages} messages, "
            f"{self.simulated_s / 60:.0f} simulated minutes, {self.wall_s:.1f} s",
            "",
            f"{'fault injected':<44} {'times':>7}",
        ]
        lines += [f"{name:<44} {count:>7}" for name, count in sorted(self.faults.items())]
        lines += ["", f"{'communication':<20} {'status':<10} {'total':>6} {'sent':>6} {'failed':>6} "
                  f"{'unknown':>7} {'skipped':>7} {'cancel':>6}"]  # fmt: skip
        for c in self.communications:
            lines.append(
                f"{c['name']:<20} {c['status']:<10} {c['total']:>6} {c['sent']:>6} {c['send_failed']:>6} "
                f"{c['outcome_unknown']:>7} {c['skipped']:>7} {c['cancelled']:>6}"
            )
        lines += ["", f"{'check':<58} {'value':<24} result"]
        lines += [f"{c.name:<58} {c.value:<24} {'ok' if c.ok else 'FAILED'}" for c in self.checks]
        lines += [
            "",
            "ALL CHECKS PASSED" if self.ok else "SOME CHECKS FAILED",
            f"replay: make faults SEED={self.seed}",
        ]
        return "\n".join(lines)


class FaultRun:
    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.rng = random.Random(scenario.seed)
        self.clock = SimulatedClock()
        self.faults: Counter[str] = Counter()
        self.settings = Settings(
            email_rate_per_s=str(scenario.ceilings["ses"]),
            sms_rate_per_s=str(scenario.ceilings["sns"]),
            send_task_size=50,
            send_concurrency=scenario.send_concurrency,
            audience_chunk_size=500,
            planner_window_tasks=8,
            planner_chunks_per_run=4,
            default_timezone="UTC",
            contact_hours_start="08:00",
            contact_hours_end="21:00",
            contact_days="mon,tue,wed,thu,fri,sat",
        )
        self.nesting = 0
        self.inflight: dict[str, tuple[str, str, float]] = {}  # message id -> (url, receipt, visible at)
        self.accepted: list[dict[str, Any]] = []  # what the providers took, when
        self.events_due: list[tuple[float, dict[str, Any]]] = []
        self.comm_ids: dict[str, str] = {}
        self.markers: dict[str, str] = {}
        self.accounts: dict[str, Account] = {}
        self.audiences: dict[str, list[str]] = {}
        self.paused_at: dict[str, float] = {}
        self.cancel_when_sent = 0.0  # cancel once this share of its messages went out
        self.queued_at_cancel = 0
        self.pause_after_batches: dict[str, int] = {}
        self.batches = 0

    # -- setup ---------------------------------------------------------------------------------

    def run(self) -> Report:
        started = time.monotonic()
        with mock_aws(), quicker_moto():
            create_resources_with_clients(boto3.client("cloudformation"), boto3.client("ses"))
            self.api = Services(self.settings, self.clock)
            self.started_at = self.clock.now()
            self.containers = [self._container(i) for i in range(self.scenario.containers)]
            self.sqs = boto3.client("sqs", region_name=REGION)
            # Not the event files queue: S3 reports files of SES's events there, and this run has
            # none (its SES events are simulated through reconcile_from_event), only the
            # s3:TestEvent S3 sends when the bucket's notifications are set up.
            self.urls = {
                name: self.sqs.get_queue_url(QueueName=queue)["QueueUrl"]
                for name, queue in dlq.source_queues(self.settings).items()
                if name != "event-files"
            }
            self._load()
            self._start()
            self._loop()
            report = self._check(time.monotonic() - started)
        return report

    def _container(self, index: int) -> Services:
        svc = Services(self.settings, self.clock)
        svc.sender.rng = random.Random(self.rng.random())
        svc.rate_limiter.rng = random.Random(self.rng.random())
        ses, sns, ddb = CallHooks(svc.sesv2), CallHooks(svc.sns), CallHooks(svc.dynamodb)
        for hooks in (ses, sns):
            hooks.before = lambda op, params, index=index: self._provider_before(index, op, params)
            hooks.after = lambda op, params, parsed, index=index: self._provider_after(
                index, op, params, parsed
            )
        ddb.before = self._dynamodb_before
        # Hand-back delays are not simulated: such tasks come back at once.
        svc.sqs.meta.events.register("before-parameter-build.sqs.SendMessageBatch", _no_delay)
        return svc

    def _load(self) -> None:
        accounts = []
        for i in range(self.scenario.accounts):
            account_id = f"{i:08d}-0000-4000-8000-{self.scenario.seed % 10**12:012d}"
            channels = [[Channel.EMAIL], [Channel.EMAIL], [Channel.SMS], [Channel.EMAIL, Channel.SMS]][i % 4]
            if i % 5 == 4:
                channels = [Channel.EMAIL, Channel.SMS]
            accounts.append(
                Account(
                    account_id=account_id,
                    first_name=f"First{i}",
                    last_name=f"Last{i}",
                    language=["en", "fr", "fr-CA"][i % 3],
                    channels=channels,
                    status="active",
                    email=f"person{i}@example.com",
                    phone=None if i % 23 == 22 else f"+1514{2_000_000 + i:07d}",  # valid NANP numbers
                    timezone=LATE_ZONE if i % 6 == 5 else None,
                )
            )
        self.api.directory.put_many(accounts)
        self.accounts = {a.account_id: a for a in accounts}
        self.by_phone = {a.phone: a.account_id for a in accounts if a.phone}
        # An audience CSV naming an inactive account is refused line by line: audiences name active ones.
        ids = [a.account_id for a in accounts if a.is_active]
        for number, (name, size, urgent) in enumerate(self.scenario.communications):
            marker = f"[C{number}]"
            first_name = "{{ account.first_name }}"
            content = Content(
                email={
                    "en": EmailContent(f"{marker} {name} for {first_name}", "<p>Hello</p>", "Hello"),
                    "fr": EmailContent(f"{marker} {name} pour {first_name}", "<p>Bonjour</p>", "Bonjour"),
                },
                sms={"en": SmsContent(f"{marker} Hello {first_name}"), "fr": SmsContent(f"{marker} Bonjour")},
            )
            fields = DraftFields(
                name=name,
                channels=[Channel.EMAIL, Channel.SMS],
                default_language="en",
                content=content,
                urgent=urgent,
            )
            draft = self.api.communications.create(fields, by=ADMIN)
            audience = self.rng.sample(ids, size)
            self.api.audience.set_from_csv(
                draft.comm_id, "account_id\n" + "\n".join(audience) + "\n", by=ADMIN
            )
            self.comm_ids[name] = draft.comm_id
            self.markers[marker] = draft.comm_id
            self.audiences[draft.comm_id] = audience
        # Some accounts become inactive after the audiences were set (an upload turns inactive
        # ones away): their messages are skipped at send time.
        went_inactive = [replace(a, status="inactive") for i, a in enumerate(accounts) if i % 97 == 96]
        self.api.directory.put_many(went_inactive)
        self.accounts.update({a.account_id: a for a in went_inactive})

    def _start(self) -> None:
        for name in self.comm_ids:
            self.api.communications.send(self.comm_ids[name], by=ADMIN)
            self.api.communications.send(self.comm_ids[name], by=ADMIN)  # a double click
        self.faults["double click on send"] += len(self.comm_ids)
        self.sqs.send_message(QueueUrl=self.urls["send"], MessageBody=POISON)
        self.faults["poison message"] += 1
        self.cancel_when_sent = self.rng.uniform(0.05, 0.5)
        for name, comm_id in self.comm_ids.items():
            if name != self.scenario.cancelled and self.rng.random() < 0.8:
                self.pause_after_batches[comm_id] = self.rng.randrange(1, 25)

    # -- the event source mappings ---------------------------------------------------------------

    def _loop(self) -> None:
        last_sweep = self.clock.now()
        deadline = self.clock.now() + MAX_SIMULATED_S
        while self.clock.now() < deadline:
            worked = False
            for lane in self.rng.sample(["urgent-send", "send", "plan"], 3):
                if self._deliver(lane, self.rng.choice(self.containers)):
                    worked = True
            self._release_due()
            self._fire_events()
            self._admin_moves()
            if self.clock.now() - last_sweep >= SWEEP_EVERY_S:
                self._sweep()
                last_sweep = self.clock.now()
            if worked:
                continue
            if self._finished():
                return
            self._wait()
        raise AssertionError("the run did not settle within 12 simulated hours")

    def _deliver(self, lane: str, svc: Services, batch: list[dict[str, Any]] | None = None) -> bool:
        url = self.urls[lane]
        if batch is None:
            size = 1 if lane == "plan" else 10
            batch = self.sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=size,
                VisibilityTimeout=RECEIVE_VISIBILITY_S,
                AttributeNames=["All"],
            ).get("Messages", [])
        if not batch:
            return False
        self.batches += 1
        for message in batch:
            self.inflight[message["MessageId"]] = (
                url,
                message["ReceiptHandle"],
                self.clock.now() + VISIBILITY_S,
            )
        event = sqs_event(batch, f"arn:aws:sqs:{REGION}:{ACCOUNT}:{lane}", REGION)
        previous = getattr(self, "current", None)
        self.current = (lane, batch)
        try:
            if lane == "plan":
                response = plan_worker.handle(event, svc)
            else:
                response = send_worker.handle(event, SimulatedContext(self.clock), svc)
        except WorkerCrash:
            self.faults["worker crashed (batch left to its visibility timeout)"] += 1
            return True
        finally:
            self.current = previous
        failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
        done = [m for m in batch if m["MessageId"] not in failed]
        for message in done:
            self._delete(url, message)
        if (
            lane != "plan"
            and self.nesting == 0
            and self.rng.random() < self.scenario.rates.duplicate_delivery
        ):
            self.faults["SQS delivered a record twice"] += 1
            twin = self.rng.choice(batch)
            self._deliver(lane, self.rng.choice(self.containers), [twin])
        return True

    def _delete(self, url: str, message: dict[str, Any]) -> None:
        entry = self.inflight.get(message["MessageId"])
        if entry is not None and entry[1] == message["ReceiptHandle"]:
            del self.inflight[message["MessageId"]]
        # An older receipt of a record delivered again since may be refused.
        with suppress(Exception):
            self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    def _release_due(self) -> None:
        now = self.clock.now()
        for message_id, (url, receipt, visible_at) in list(self.inflight.items()):
            if visible_at <= now:
                del self.inflight[message_id]
                with suppress(Exception):  # deleted meanwhile
                    self.sqs.change_message_visibility(
                        QueueUrl=url, ReceiptHandle=receipt, VisibilityTimeout=0
                    )

    def _wait(self) -> None:
        """Nothing to receive: let simulated time pass to the next thing that will happen."""
        upcoming = [v for _, _, v in self.inflight.values()] + [at for at, _ in self.events_due]
        upcoming.append(self.clock.now() + SWEEP_EVERY_S)
        self.clock.advance(max(1.0, min(upcoming) - self.clock.now()))
        self._release_due()
        self._sweep()

    def _sweep(self) -> None:
        try:
            self.rng.choice(self.containers).sweeper.sweep()
        except WorkerCrash:
            pass
        except Exception:
            self.faults["sweep run failed (retried next minute)"] += 1

    # -- provider faults -------------------------------------------------------------------------

    def _provider_before(self, index: int, operation: str, params: dict[str, Any]) -> Any:
        if operation not in ("SendEmail", "Publish"):
            return None
        # The limiter hands out tokens for the second in which a worker makes its call; the
        # request then spends a few milliseconds on the network before the provider has it.
        self.calling_at = self.clock.now()
        self.clock.advance(self.rng.uniform(0.005, 0.02))
        rates = self.scenario.rates
        roll = self.rng.random()
        email = operation == "SendEmail"
        for name, rate in (
            ("crash_before_send", rates.crash_before_send),
            ("throttle", rates.throttle),
            ("server_error", rates.server_error),
            ("connection_refused", rates.connection_refused),
            ("timeout_before_accept", rates.timeout_before_accept),
            ("permanent", rates.permanent),
            ("visibility_expiry", rates.visibility_expiry),
            ("stalled_owner", rates.stalled_owner),
            ("mid_task_pause", rates.mid_task_pause),
        ):
            if roll < rate:
                return self._provider_fault(name, email)
            roll -= rate
        self.sending_at = self.clock.now()
        return None

    def _provider_fault(self, name: str, email: bool) -> Any:
        if name == "crash_before_send":
            self.faults["worker crashed before a provider call"] += 1
            raise WorkerCrash()
        if name == "throttle":
            self.faults["provider throttled (429)"] += 1
            return error_response("TooManyRequestsException" if email else "Throttling", "Rate exceeded", 429)
        if name == "server_error":
            self.faults["provider 503"] += 1
            return error_response("ServiceUnavailable", "Service unavailable", 503)
        if name == "connection_refused":
            self.faults["provider connection refused"] += 1
            raise connection_refused()
        if name == "timeout_before_accept":
            self.faults["read timeout, provider never got it"] += 1
            raise read_timeout()
        if name == "permanent":
            self.faults["provider refused for good (400)"] += 1
            if email:
                return error_response(
                    "MessageRejected", "Email address is on the account-level suppression list", 400
                )
            return error_response("InvalidParameter", "Invalid parameter: PhoneNumber", 400)
        if self.nesting == 0 and getattr(self, "current", None) is not None:
            lane, batch = self.current
            called_at = self.calling_at  # the other worker's calls below move it
            if name == "visibility_expiry" and lane != "plan":
                self.faults["visibility expired mid-batch (concurrent worker)"] += 1
                self._redeliver(lane, batch)
            elif name == "stalled_owner" and lane != "plan":
                self.faults["owner stalled past its lease (taken over)"] += 1
                self.clock.advance(self.settings.send_lease_s + 1)
                self._redeliver(lane, batch)
            elif name == "mid_task_pause" and lane != "plan":
                self._pause(json.loads(batch[0]["Body"]).get("comm_id", ""), mid_task=True)
            self.calling_at = called_at
        self.sending_at = self.clock.now()
        return None

    def _redeliver(self, lane: str, batch: list[dict[str, Any]]) -> None:
        """The batch becomes visible again while its worker is still at it; another takes it."""
        url = self.urls[lane]
        for message in batch:
            with suppress(Exception):
                self.sqs.change_message_visibility(
                    QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
        again = self.sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=RECEIVE_VISIBILITY_S,
            AttributeNames=["All"],
        ).get("Messages", [])
        if not again:
            return
        self.nesting += 1
        try:
            others = [c for c in self.containers if c is not self.containers[0]] or self.containers
            self._deliver(lane, self.rng.choice(others), again)
        finally:
            self.nesting -= 1

    def _provider_after(
        self, index: int, operation: str, params: dict[str, Any], parsed: dict[str, Any]
    ) -> None:
        if operation not in ("SendEmail", "Publish"):
            return
        email = operation == "SendEmail"
        tags = {t["Name"]: t["Value"] for t in params.get("EmailTags", [])} if email else {}
        if email:
            comm_id, account_id = tags.get("herald_comm_id"), tags.get("herald_account_id")
        else:
            comm_id = self.markers.get(str(params.get("Message", "")).split(" ", 1)[0])
            account_id = self.by_phone.get(str(params.get("PhoneNumber")))
        sent = {
            "provider": "ses" if email else "sns",
            "at": getattr(self, "sending_at", self.clock.now()),
            "called_at": getattr(self, "calling_at", self.clock.now()),
            "tags": tags,
            "provider_message_id": parsed.get("MessageId"),
            "comm_id": comm_id,
            "account_id": account_id,
        }
        self.accepted.append(sent)
        rates = self.scenario.rates
        roll = self.rng.random()
        if roll < rates.timeout_after_accept:
            self.faults["read timeout after the provider took it"] += 1
            self._maybe_event(sent)
            raise read_timeout()
        if roll < rates.timeout_after_accept + rates.crash_after_accept:
            self.faults["worker crashed after the provider took it"] += 1
            self._maybe_event(sent)
            raise WorkerCrash()
        if email and self.rng.random() < 0.02:
            self._maybe_event(sent)  # ordinary SES events arrive for recorded messages too

    def _maybe_event(self, sent: dict[str, Any]) -> None:
        if sent["provider"] != "ses" or self.rng.random() >= self.scenario.rates.event_proof:
            return
        self.events_due.append((self.clock.now() + self.rng.uniform(1, 90), sent))

    def _fire_events(self) -> None:
        now = self.clock.now()
        due = [e for e in self.events_due if e[0] <= now]
        self.events_due = [e for e in self.events_due if e[0] > now]
        for _, sent in due:
            tags = sent["tags"]
            changed = self.api.reconciler.reconcile_from_event(
                tags["herald_comm_id"],
                tags["herald_message_id"],
                sent["provider_message_id"],
                provider="ses",
                account_id=tags["herald_account_id"],
                channel=tags["herald_channel"],
            )
            self.faults["SES event reconciled a message" if changed else "SES event changed nothing"] += 1

    # -- DynamoDB faults -------------------------------------------------------------------------

    def _dynamodb_before(self, operation: str, params: dict[str, Any]) -> Any:
        if operation not in WRITE_OPERATIONS or self.rng.random() >= self.scenario.rates.ddb_write_throttle:
            return None
        self.faults[f"DynamoDB {operation} throttled past retries"] += 1
        if operation == "TransactWriteItems" and self.rng.random() < 0.5:
            http, parsed = error_response("TransactionCanceledException", "Transaction cancelled", 400)
            parsed["CancellationReasons"] = [
                {"Code": "ThrottlingError"} for _ in params.get("TransactItems", [])
            ]
            return http, parsed
        return error_response(
            "ProvisionedThroughputExceededException", "Rate of requests exceeds the allowed throughput", 400
        )

    # -- admins ----------------------------------------------------------------------------------

    def _admin_moves(self) -> None:
        if self.nesting:
            return
        cancelled = self.scenario.cancelled
        if cancelled and "cancelled" not in self.paused_at:
            communication = self.api.ledger.communication(self.comm_ids[cancelled])
            if communication is not None and communication.counts.sent >= self.cancel_when_sent * len(
                self.audiences[self.comm_ids[cancelled]]
            ):
                self.paused_at["cancelled"] = self.clock.now()
                self.paused_at.pop(self.comm_ids[cancelled], None)
                comm_id = self.comm_ids[cancelled]
                recorded = sum(1 for _ in self.api.message_store.all_of(comm_id))
                self.queued_at_cancel = (
                    sum(1 for key in self._expected_messages() if key[0] == comm_id) - recorded
                )
                self.api.communications.cancel(self.comm_ids[cancelled], by=ADMIN)
                self.faults["cancelled a communication mid-send"] += 1
        for comm_id, after in list(self.pause_after_batches.items()):
            if self.batches >= after:
                del self.pause_after_batches[comm_id]
                self._pause(comm_id, mid_task=False)
        if self.rng.random() < self.scenario.rates.pause:
            self._pause(self.rng.choice(list(self.comm_ids.values())), mid_task=False)
        for comm_id, since in list(self.paused_at.items()):
            if comm_id != "cancelled" and self.clock.now() - since > self.rng.uniform(5, 300):
                del self.paused_at[comm_id]
                self.api.control.resume(comm_id, by=ADMIN)
                self.faults["resumed a paused communication"] += 1

    def _pause(self, comm_id: str, mid_task: bool) -> None:
        communication = self.api.communication_store.get(comm_id)
        if communication is None or communication.status is not CommunicationStatus.IN_PROGRESS:
            return
        if comm_id in self.paused_at:
            return
        self.api.control.pause(comm_id, by=ADMIN)
        self.paused_at[comm_id] = self.clock.now()
        self.faults["paused a communication" + (" mid-task" if mid_task else "")] += 1

    def _finished(self) -> bool:
        """Idle: is everything done? If not, do what an admin or operator would."""
        if self.inflight or self.events_due:
            return False
        if self._redrive_healthy():
            return False
        for comm_id in list(self.paused_at):
            if comm_id != "cancelled":
                del self.paused_at[comm_id]
                self.api.control.resume(comm_id, by=ADMIN)
                self.faults["resumed a paused communication"] += 1
                return False
        for comm_id in self.comm_ids.values():
            communication = self.api.communications.get(comm_id)
            if communication.status in (CommunicationStatus.IN_PROGRESS, CommunicationStatus.PAUSED):
                return False
            if not communication.planning_done or communication.counts.pending:
                return False
        return all(self._queue_depth(url) == 0 for url in self.urls.values())

    def _redrive_healthy(self) -> bool:
        """What an operator does: look at the DLQs, send what is not poison back."""
        moved = 0
        for queue in dlq.dead_letter_queues(self.sqs, self.settings):
            healthy = [m for m in dlq.peek(self.sqs, queue, 100) if m["body"] != POISON]
            if healthy:
                moved += dlq.redrive(self.sqs, queue)
                self.faults[f"redriven from the {queue.source} DLQ by the operator"] += len(healthy)
        return moved > 0

    def _queue_depth(self, url: str) -> int:
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        names.append("ApproximateNumberOfMessagesDelayed")
        attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
        return sum(int(v) for v in attributes.values())

    # -- the proof -------------------------------------------------------------------------------

    def _check(self, wall_s: float) -> Report:
        received = self._provider_counts()
        expected = self._expected_messages()
        records = {}
        rows = []
        for name, comm_id in self.comm_ids.items():
            for record in self.api.message_store.all_of(comm_id):
                records[(comm_id, record.account_id, record.channel)] = record
            communication = self.api.communications.get(comm_id)
            counts = communication.counts
            unknown = sum(
                1
                for k, r in records.items()
                if k[0] == comm_id and r.error_code == FailureCode.OUTCOME_UNKNOWN
            )
            rows.append(
                {
                    "name": name,
                    "status": str(communication.status),
                    "total": counts.total,
                    "sent": counts.sent,
                    "send_failed": counts.send_failed,
                    "outcome_unknown": unknown,
                    "skipped": counts.skipped,
                    "cancelled": counts.cancelled,
                }
            )
        checks: list[Check] = []
        worst = max(received.values(), default=0)
        duplicates = sum(1 for n in received.values() if n > 1)
        checks.append(
            Check(
                "provider sends per (communication, account, channel) <= 1",
                f"max {worst}, {duplicates} twice",
                worst <= 1,
            )
        )
        missing = [k for k in expected if k not in records]
        stray = [k for k in records if k not in expected]
        checks.append(
            Check(
                "every planned message has a record (none lost, none extra)",
                f"{len(missing)} lost, {len(stray)} extra",
                not missing and not stray,
            )
        )
        urgent = {self.comm_ids[name] for name, _, is_urgent in self.scenario.communications if is_urgent}
        opens_at = self.started_at + LATE_ZONE_OPENS_S
        early = [
            s
            for s in self.accepted
            if s["comm_id"] not in urgent
            and s["account_id"] in self.accounts
            and self.accounts[s["account_id"]].timezone == LATE_ZONE
            and s["at"] < opens_at
        ]
        late_zone = sum(
            1 for k in expected if k[0] not in urgent and self.accounts[k[1]].timezone == LATE_ZONE
        )
        checks.append(
            Check(
                "nothing sent before the account's contact window opened",
                f"{late_zone} waited for it, {len(early)} early",
                not early,
            )
        )
        open_ = [k for k, r in records.items() if r.status not in TERMINAL_STATUSES]
        checks.append(
            Check("every message terminal (nothing in progress or UNKNOWN)", f"{len(open_)} open", not open_)
        )
        flagged = [k for k, r in records.items() if r.error_code == FailureCode.OUTCOME_UNKNOWN]
        resent = [k for k in flagged if received.get(k, 0) > 1]
        checks.append(
            Check(
                "outcome-unknown messages flagged, none resent",
                f"{len(flagged)} flagged, {len(resent)} resent",
                not resent,
            )
        )
        unsent_but_taken = [
            k
            for k, r in records.items()
            if received.get(k, 0)
            and r.status is not MessageStatus.SENT
            and r.error_code != FailureCode.OUTCOME_UNKNOWN
        ]
        phantom = [k for k, r in records.items() if r.status is MessageStatus.SENT and not received.get(k, 0)]
        checks.append(
            Check(
                "messages a provider took are SENT or outcome_unknown",
                f"{len(unsent_but_taken)} wrong",
                not unsent_but_taken,
            )
        )
        checks.append(
            Check("no message recorded SENT that no provider took", f"{len(phantom)} phantom", not phantom)
        )
        mismatched = [
            n
            for n, c in self.comm_ids.items()
            if not check_counts(self.api.ledger, self.api.message_store, c).matches
        ]
        checks.append(
            Check(
                "counters equal the tally of message records",
                f"{len(self.comm_ids) - len(mismatched)}/{len(self.comm_ids)} match",
                not mismatched,
            )
        )
        totals_ok = all(
            r["total"] == sum(1 for k in expected if k[0] == self.comm_ids[r["name"]]) for r in rows
        )
        checks.append(
            Check("messages_total equals the planned messages", "yes" if totals_ok else "no", totals_ok)
        )
        finals = {r["status"] for r in rows}
        final_ok = finals <= {"COMPLETED", "FAILED", "CANCELLED"}
        checks.append(
            Check(
                "every communication ended (COMPLETED/FAILED/CANCELLED)", ",".join(sorted(finals)), final_ok
            )
        )
        cancelled_ok = True
        if self.scenario.cancelled:
            cancelled_row = next(r for r in rows if r["name"] == self.scenario.cancelled)
            # Workers see a cancel within the status cache's seconds: a task or so may still go out.
            cancelled_ok = cancelled_row["status"] == "CANCELLED" and (
                cancelled_row["cancelled"] > 0 or self.queued_at_cancel <= 2 * self.settings.send_task_size
            )
            checks.append(
                Check(
                    "the cancelled communication stopped its pending messages",
                    f"{cancelled_row['cancelled']} of {self.queued_at_cancel} queued",
                    cancelled_ok,
                )
            )
        queues = {lane: self._queue_depth(url) for lane, url in self.urls.items()}
        dead = {q.source: q.depth for q in dlq.dead_letter_queues(self.sqs, self.settings)}
        send_dlq = next(q for q in dlq.dead_letter_queues(self.sqs, self.settings) if q.source == "send")
        poison_only = [m["body"] for m in dlq.peek(self.sqs, send_dlq, 20)] == [POISON]
        queues_ok = (
            not any(queues.values())
            and dead == {"plan": 0, "send": 1, "urgent-send": 0, "events": 0, "event-files": 0}
            and poison_only
        )
        checks.append(
            Check(
                "queues empty; only the poison message in a DLQ",
                f"queues {sum(queues.values())}, DLQ {sum(dead.values())}",
                queues_ok,
            )
        )
        # Counted by the second of the call: a worker frozen after its call began (an injected
        # stall) or a request still on the network at the turn of a second reaches the provider
        # later, which no limiter can foresee.
        per_second = Counter((s["provider"], int(s["called_at"])) for s in self.accepted)
        peaks = {
            p: max((n for (q, _), n in per_second.items() if q == p), default=0)
            for p in self.scenario.ceilings
        }
        rate_ok = all(peaks[p] <= self.scenario.ceilings[p] for p in peaks)
        value = ", ".join(f"{p} {peaks[p]}/{self.scenario.ceilings[p]:.0f}" for p in sorted(peaks))
        checks.append(Check("provider calls per second never above the ceiling", value, rate_ok))
        return Report(
            seed=self.scenario.seed,
            messages=len(expected),
            simulated_s=self.clock.now() - SimulatedClock().now(),
            wall_s=wall_s,
            faults=self.faults,
            checks=checks,
            communications=rows,
        )

    def _provider_counts(self) -> Counter[tuple[str, str, Channel]]:
        """What moto's SES and SNS received, attributed by address and the communication's marker."""
        by_email = {a.email: a.account_id for a in self.accounts.values()}
        by_phone = {a.phone: a.account_id for a in self.accounts.values() if a.phone}
        counts: Counter[tuple[str, str, Channel]] = Counter()
        for email in sent_emails():
            comm_id = self.markers[email.subject.split(" ", 1)[0]]
            counts[(comm_id, by_email[email.destinations["ToAddresses"][0]], Channel.EMAIL)] += 1
        for phone, body in sent_sms():
            comm_id = self.markers[body.split(" ", 1)[0]]
            counts[(comm_id, by_phone[phone], Channel.SMS)] += 1
        return counts

    def _expected_messages(self) -> set[tuple[str, str, Channel]]:
        expected = set()
        for comm_id, audience in self.audiences.items():
            for account_id in audience:
                for planned in plan_channels(self.accounts[account_id], [Channel.EMAIL, Channel.SMS]):
                    expected.add((comm_id, account_id, planned.channel))
        return expected


def _no_delay(params: dict[str, Any], **_: Any) -> None:
    for entry in params.get("Entries", []):
        entry.pop("DelaySeconds", None)


def run(scenario: Scenario) -> Report:
    return FaultRun(scenario).run()


def seed_from_time() -> int:
    return int(time.time() * 1000) % 1_000_000
