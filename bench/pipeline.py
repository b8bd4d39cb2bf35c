"""The whole send pipeline, timed: its throughput against the bare send rate of the same endpoint,
Lambda time per message, and how closely the fleet rate limit holds a configured rate.

Processes, as in production where AWS is not Herald's memory or CPU:
- two moto servers (`bench.moto_server`), as AWS's services are separate: one standing in for
  the providers, SES and SNS, the other for Herald's own DynamoDB and SQS (boto3 reaches each
  through its service's endpoint variable, `AWS_ENDPOINT_URL_SESV2` and `AWS_ENDPOINT_URL_SNS`);
- `WORKERS` worker processes, each one Lambda execution environment: it polls the plan, send
  and events queues the way the event source mappings do (the batch sizes app.py declares) and
  runs the real handlers (`chalicelib.workers.plan|send|events`), timing every invocation. Each
  send invocation has up to `SEND_CONCURRENCY` provider calls in flight, as in production, so the
  fleet has `CONCURRENCY` (their product) calls in flight at most. Lambda's
  pollers long-poll, so an idle queue costs nothing; a worker here polls three queues in turn, so
  when all three are empty it waits longer between polls (20 ms, doubling up to 320 ms) rather
  than take moto's CPU from the workers that are busy;
- this process: creates the accounts and the communications through Herald's own services.

`ROUNDS` rounds alternate. In each, a communication of a third of the messages (email and SMS,
two languages) is sent and timed from the send request to `COMPLETED` (the end of the send
invocation that marked it so, by the workers' clocks; this process only polls its counters twice
a second, as an admin's page would, not ten times), planning included. Just before and just
after it, while the workers stand aside, `WORKERS` fresh processes of `SEND_CONCURRENCY` threads
each send half as many messages (same mix, same size) straight to the same provider endpoint with
SES SendEmail / SNS Publish: the bare send rate at the same number of calls in flight is the two
halves' messages over their summed time. Bracketing the pipeline run that way, a machine that
speeds up or slows down during the round weighs on both sides alike, and each round's ratio
compares the two under the same machine and moto state; the figures are the medians of the
rounds. A warm-up communication goes through the workers first and
each bare sender warms up too: only warm processes are timed. Rate limits are set far above what
moto can take, so they do not bind. Then SES's events for every email of the first round
(bench/ses_events.py) go on the events delivery stream as SES puts them, which writes them to the
events bucket in files, until each has its delivery outcome: the event files worker's time per
event.

The operator's `rate_limits` are set to `RATE_LIMIT_PER_S` for email (through the settings
service, as `PUT /settings` does) before those events go out, so the workers' settings caches
expire while they are applied; then an email-only communication long enough to last
`RATE_SECONDS` is sent: the achieved rate is the mean number of emails handed to SES per whole
second, between its first and its last second.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parents[1]
REGION = "us-east-1"
ACCOUNT = "123456789012"
FUNCTIONS = ("plan_worker", "send_worker", "event_files_worker", "events_worker")
# The functions that take delivery events: files of SES's, and what they hand back (early events).
EVENT_FUNCTIONS = ("event_files_worker", "events_worker")
WORKERS = 2
SEND_CONCURRENCY = 8  # HERALD_SEND_CONCURRENCY's default
CONCURRENCY = WORKERS * SEND_CONCURRENCY  # provider calls in flight, in the pipeline and the bare loop
ROUNDS = 3  # pipeline and bare rounds, alternating: the figures are the medians
MOTO_ROLES = ("herald", "provider")
# boto3's per-service endpoints: the provider calls go to the provider's moto server.
PROVIDER_ENDPOINTS = ("AWS_ENDPOINT_URL_SESV2", "AWS_ENDPOINT_URL_SES", "AWS_ENDPOINT_URL_SNS")
MESSAGES, SMOKE_MESSAGES = 15_000, 100  # over ROUNDS rounds
WARMUP_ACCOUNTS = 100
# Below what the pipeline reaches on this machine (pipeline_messages_per_second), so the limit binds.
RATE_LIMIT_PER_S = 20
RATE_SECONDS, SMOKE_RATE_SECONDS = 12, 3
UNLIMITED = "100000"  # messages per second (the most the settings allow): far above what moto can take
CONFIGURATION_SET = "herald-dev"
PUBLIC_URL = "https://herald.example.com"
BOUNCE_EVERY = 100
EVENT_WAVE = 1_000  # events put on the delivery stream at a time
IDLE_SLEEP_S = (0.02, 0.32)  # an idle worker's pause between polls: from 20 ms, doubling up to 320 ms
# How often this process looks at a communication's counters while waiting. A round's end is taken
# from the workers' own clocks (the end of its last send invocation), not from when a poll noticed.
POLL_S = 0.5
# How long a worker keeps the operator settings (30 s in production): short, so the rate-limit run
# starts soon after the limit is set, but not a read per worker every second while timing.
SETTINGS_CACHE_S = 5
WAIT_S, SMOKE_WAIT_S = 1800, 300  # the longest wait for a communication's sends or events


def _environment(moto_url: str, resources: dict[str, str]) -> dict[str, str]:
    return {
        **resources,
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "HERALD_STAGE": "dev",
        "HERALD_EMAIL_RATE_PER_S": UNLIMITED,
        "HERALD_SMS_RATE_PER_S": UNLIMITED,
        "HERALD_SES_CONFIGURATION_SET": CONFIGURATION_SET,
        "HERALD_SEND_CONCURRENCY": str(SEND_CONCURRENCY),
        "HERALD_SETTINGS_CACHE_S": str(SETTINGS_CACHE_S),
        # The bench times the pipeline, not a wait for the accounts' contact window to open.
        "HERALD_CONTACT_HOURS_START": "00:00",
        "HERALD_CONTACT_HOURS_END": "24:00",
        "HERALD_CONTACT_DAYS": "mon,tue,wed,thu,fri,sat,sun",
        # Non-transactional emails carry their signed unsubscribe link, as in production.
        "HERALD_PUBLIC_URL": PUBLIC_URL,
        "PYTHONPATH": str(PROJECT_DIR),
    }


def base_environment() -> dict[str, str]:
    """This process's environment without AWS's and Herald's settings: what a child starts from."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "HERALD_"))}


@contextmanager
def _patched_environ(values: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run(smoke: bool = False) -> dict[str, float]:
    from bench import moto_server
    from bench.audience_import import _stop, _wait_for_file
    from chalicelib.local.stack import free_port

    work = Path(tempfile.mkdtemp(prefix="herald-pipeline-"))
    messages = SMOKE_MESSAGES if smoke else MESSAGES
    rate_seconds = SMOKE_RATE_SECONDS if smoke else RATE_SECONDS
    base_env = base_environment()
    ports = {role: free_port() for role in MOTO_ROLES}
    motos = {
        role: moto_server.spawn(ports[role], work / f"moto-{role}", work / f"moto-{role}.log", base_env)
        for role in MOTO_ROLES
    }
    workers: list[subprocess.Popen[bytes]] = []
    try:
        # Both hold Herald's resources (SES checks its identity and configuration set).
        ready = {
            role: _wait_for_file(work / f"moto-{role}", motos[role], timeout_s=300) for role in MOTO_ROLES
        }
        provider_url = f"http://127.0.0.1:{ports['provider']}"
        env = {
            **base_env,
            **_environment(f"http://127.0.0.1:{ports['herald']}", ready["herald"]["environment"]),
            **{variable: provider_url for variable in PROVIDER_ENDPOINTS},
        }
        for index in range(WORKERS):
            workers.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "bench.pipeline",
                        "worker",
                        "--dir",
                        str(work),
                        "--index",
                        str(index),
                    ],
                    cwd=PROJECT_DIR,
                    env=env,
                    stderr=(work / f"worker{index}.log").open("w"),
                )
            )
        with _patched_environ(env):
            driver = _Driver(work, messages, rate_seconds, env, SMOKE_WAIT_S if smoke else WAIT_S)
            for index in range(WORKERS):
                _wait_for_file(work / f"worker{index}.ready", workers[index], timeout_s=300)
            measured = driver.run()
        (work / "stop").touch()
        for process in workers:
            process.wait(120)
        stats = [json.loads((work / f"worker{i}.json").read_text()) for i in range(WORKERS)]
    finally:
        (work / "stop").touch()
        for process in [*workers, *motos.values()]:
            _stop(process)
    return _figures(measured, stats)


class _Driver:
    """This process's side: accounts, communications, sends, events, settings."""

    def __init__(
        self, work: Path, messages: int, rate_seconds: int, env: dict[str, str], wait_s: float
    ) -> None:
        from chalicelib.domain.models import Admin
        from chalicelib.settings import Settings
        from chalicelib.wiring import Services

        self.work = work
        self.env = env
        self.messages = messages
        self.rate_seconds = rate_seconds
        self.wait_s = wait_s
        self.svc = Services(Settings())
        self.admin = Admin("bench", "Bench", "Runner", can_write=True)

    def run(self) -> dict[str, float]:
        from bench.sending import accounts_and_content

        per_round = self.messages // ROUNDS // 2  # accounts: each gets an email and an SMS
        accounts, content = accounts_and_content(per_round * ROUNDS + WARMUP_ACCOUNTS, prefix="5")
        self.svc.directory.put_many(accounts)
        warmup, measured = accounts[:WARMUP_ACCOUNTS], accounts[WARMUP_ACCOUNTS:]
        self._send_and_wait(self._draft("Warm-up", warmup, content))
        rounds: list[dict[str, float]] = []
        comm_ids = []
        for number in range(ROUNDS):
            # A round of the pipeline between two bare halves while the workers stand aside:
            # machine noise and moto's growing state weigh on both sides of each round's ratio alike.
            comm_id = self._draft(f"Throughput {number + 1}", measured[number::ROUNDS], content)
            sent_before, seconds_before = self._bare_half(f"bare-round{number}-before", per_round)
            started = time.time()
            self._send_and_wait(comm_id)
            completed = time.time()
            comm_ids.append(comm_id)
            sent_after, seconds_after = self._bare_half(f"bare-round{number}-after", per_round)
            bare = (sent_before + sent_after) / (seconds_before + seconds_after)
            rounds.append(
                {"started": started, "completed": completed, "messages": 2 * per_round, "bare": bare}
            )
        from chalicelib.adapters.dynamodb.communications import channel_counts
        from chalicelib.domain.models import Channel
        from chalicelib.domain.operator_settings import RateLimits

        def reported(counters: dict[str, Any]) -> int:
            emails = channel_counts(counters, [Channel.EMAIL])[Channel.EMAIL]
            return emails.delivered + emails.delivery_failed

        rate_accounts, _ = accounts_and_content(RATE_LIMIT_PER_S * self.rate_seconds, prefix="6")
        for account in rate_accounts:
            account.channels = [Channel.EMAIL]
        self.svc.directory.put_many(rate_accounts)
        # Set now: the workers' settings caches expire while the events are applied (delivery
        # events send nothing, so the limit does not touch them).
        self.svc.operator_settings.update(
            {"rate_limits": RateLimits(email_per_s=RATE_LIMIT_PER_S, sms_per_s=RATE_LIMIT_PER_S)},
            by=self.admin,
        )
        limit_applies = time.monotonic() + SETTINGS_CACHE_S + 1.5

        events_started = time.time()
        # The first round's: enough to time the events worker per event, without a long wait.
        emails = {comm_id: self._publish_events(comm_id) for comm_id in comm_ids[:1]}
        for comm_id, count in emails.items():
            self._wait(
                lambda c, n=count: c.counts.delivered + c.counts.delivery_failed >= n,
                comm_id,
                likely=lambda counters, n=count: reported(counters) >= n,
            )
        events_done = time.time()

        time.sleep(max(0.0, limit_applies - time.monotonic()))  # every worker's cache has expired
        rate_comm = self._draft("Rate limit", rate_accounts, content, channels=[Channel.EMAIL])
        rate_started = time.time()
        self._send_and_wait(rate_comm)
        rate_done = time.time()
        return {
            "rounds": rounds,
            "events_started": events_started,
            "events_done": events_done,
            "emails": float(sum(emails.values())),
            # The messages (email and SMS) of the communications whose events were applied.
            "event_messages": float(rounds[0]["messages"]),
            "rate_started": rate_started,
            "rate_done": rate_done,
        }

    def _bare_half(self, name: str, messages: int) -> tuple[int, float]:
        """`_bare_run`, while the workers stand aside."""
        with self._workers_paused():
            return _bare_run(self.work / name, self.env, messages)

    @contextmanager
    def _workers_paused(self) -> Iterator[None]:
        pause = self.work / "pause"
        markers = [self.work / f"worker{index}.paused" for index in range(WORKERS)]
        for marker in markers:
            marker.unlink(missing_ok=True)
        pause.touch()
        for marker in markers:
            _wait_for(marker)
        try:
            yield
        finally:
            pause.unlink()

    def _draft(self, name: str, accounts: list[Any], content: Any, channels: list[Any] | None = None) -> str:
        from chalicelib.domain.communications import DraftFields
        from chalicelib.domain.models import Channel

        draft = self.svc.communications.create(
            DraftFields(
                name=name,
                channels=channels or [Channel.EMAIL, Channel.SMS],
                default_language="en",
                content=content,
            ),
            by=self.admin,
        )
        csv = "account_id\n" + "\n".join(a.account_id for a in accounts) + "\n"
        self.svc.audience.set_from_csv(draft.comm_id, csv, by=self.admin)
        return draft.comm_id

    def _send_and_wait(self, comm_id: str) -> None:
        self.svc.communications.send(comm_id, by=self.admin)
        communication = self._wait(
            lambda c: str(c.status) in ("COMPLETED", "FAILED"),
            comm_id,
            likely=lambda counters: counters.get("tasks_done", 0) >= counters.get("tasks_planned", 1),
        )
        counts = communication.counts
        if str(communication.status) != "COMPLETED" or counts.sent != counts.total:
            raise RuntimeError(f"{communication.name} ended {communication.status} with {counts}")

    def _wait(
        self, done: Callable[[Any], bool], comm_id: str, likely: Callable[[dict[str, Any]], bool]
    ) -> Any:
        """Polls the communication's counters item until `likely` holds, then reads the whole
        communication to check `done`: one small read per poll, as an admin's page refresh
        would not take a consistent read of the content ten times a second."""
        deadline = time.monotonic() + self.wait_s
        while True:
            if likely(self._counters(comm_id)):
                communication = self.svc.communication_store.get(comm_id)
                if done(communication):
                    return communication
            if time.monotonic() > deadline:
                communication = self.svc.communication_store.get(comm_id)
                raise RuntimeError(
                    f"{communication.name} not done within {self.wait_s} s: "
                    f"{communication.status} with {communication.counts}; {self._stuck(comm_id)}"
                )
            time.sleep(POLL_S)

    def _counters(self, comm_id: str) -> dict[str, Any]:
        from chalicelib.adapters.dynamodb.common import from_item
        from chalicelib.adapters.dynamodb.communications import counts_key

        table = self.svc.settings.audiences_table
        item = self.svc.dynamodb.get_item(TableName=table, Key=counts_key(comm_id), ConsistentRead=True)
        return from_item(item.get("Item") or {})

    def _stuck(self, comm_id: str) -> str:
        """What a stalled run leaves behind: the queues' depths and the emails still without news."""
        import boto3

        from chalicelib.domain.models import Channel, MessageStatus

        sqs = boto3.client("sqs", region_name=REGION)
        depths = {}
        queues = (self.svc.settings.event_files_queue, self.svc.settings.events_queue)
        for queue in [name for source in queues for name in (source, f"{source}-dlq")]:
            url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
            depths[queue] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        waiting = [
            (m.message_id, str(m.status), m.provider_message_id)
            for m in self.svc.message_store.all_of(comm_id)
            if m.channel is Channel.EMAIL
            and m.status in (MessageStatus.QUEUED, MessageStatus.SENDING, MessageStatus.SENT)
        ]
        return f"queues {json.dumps(depths)}; {len(waiting)} messages without news, first {waiting[:12]}"

    def _publish_events(self, comm_id: str) -> int:
        """SES's events for the communication's emails, built from their records (SES's side)."""
        from datetime import UTC, datetime

        import boto3

        from bench import ses_events
        from chalicelib.domain.models import Channel

        sqs = boto3.client("sqs", region_name=REGION)
        url = sqs.get_queue_url(QueueName=self.svc.settings.event_files_queue)["QueueUrl"]
        firehose = boto3.client("firehose", region_name=REGION)  # SES's side
        events: list[dict[str, Any]] = []
        emails = 0
        for message in self.svc.message_store.all_of(comm_id):
            if message.channel is not Channel.EMAIL or not message.provider_message_id:
                continue
            tags = {
                "herald_comm_id": comm_id,
                "herald_message_id": message.message_id,
                "herald_account_id": message.account_id,
                "herald_channel": "email",
            }
            events += ses_events.for_email(
                message.provider_message_id,
                message.address or "",
                "Maintenance",
                tags,
                message.sent_at or datetime.now(UTC),
                CONFIGURATION_SET,
                bounce=emails % BOUNCE_EVERY == BOUNCE_EVERY - 1,
            )
            emails += 1
        # In waves, as SES reports over time, a few files ahead of the workers at most.
        for start in range(0, len(events), EVENT_WAVE):
            while (
                int(
                    sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])[
                        "Attributes"
                    ]["ApproximateNumberOfMessages"]
                )
                > 2
            ):
                time.sleep(0.1)
            ses_events.put_on_stream(
                firehose, self.svc.settings.events_stream, events[start : start + EVENT_WAVE]
            )
        return emails


def _wait_for(path: Path, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{path} did not appear within {timeout_s} s")
        time.sleep(0.02)


# -- a worker process: one Lambda execution environment ------------------------------------------


class _Context:
    """What Lambda passes as the context: the time left (send workers hand work back before it ends)."""

    def __init__(self, timeout_s: float = 300) -> None:
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _worker(work: Path, index: int) -> int:
    import boto3

    from chalicelib.local.pollers import sqs_event
    from chalicelib.wiring import services
    from chalicelib.workers import event_files, events, plan, send

    svc = services()
    s = svc.settings
    sqs = boto3.client("sqs", region_name=REGION)  # the event source mapping's
    sizes = batch_sizes()
    lanes = [
        ("plan_worker", s.plan_queue, sizes["plan_worker"], lambda event: plan.handle(event)),
        ("send_worker", s.send_queue, sizes["send_worker"], lambda event: send.handle(event, _Context())),
        (
            "event_files_worker",
            s.event_files_queue,
            sizes["event_files_worker"],
            lambda event: event_files.handle(event),
        ),
        ("events_worker", s.events_queue, sizes["events_worker"], lambda event: events.handle(event)),
    ]
    urls = {name: sqs.get_queue_url(QueueName=queue)["QueueUrl"] for name, queue, _, _ in lanes}
    email_sends: list[float] = []
    svc.email_sender._client.meta.events.register(  # type: ignore[attr-defined]
        "before-call.sesv2.SendEmail", lambda **_: email_sends.append(time.time())
    )
    svc.sms_sender  # noqa: B018  (clients built before the clock starts, as in a warm container)
    invocations: list[tuple[str, float, float, float]] = []
    (work / f"worker{index}.ready").write_text("{}")
    stop, pause, paused = work / "stop", work / "pause", work / f"worker{index}.paused"
    idle_s = IDLE_SLEEP_S[0]
    while not stop.exists():
        if pause.exists():  # a bare round is running: no polling, as if the fleet were idle
            paused.touch()
            time.sleep(0.05)
            continue
        worked = False
        for name, queue, batch_size, handler in lanes:
            batch = receive_batch(sqs, urls[name], batch_size)
            if not batch:
                continue
            worked = True
            event = sqs_event(batch, f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}", REGION)
            started, clock, cpu = time.time(), time.perf_counter(), time.process_time()
            response = handler(event)
            invocations.append((name, started, time.perf_counter() - clock, time.process_time() - cpu))
            failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
            done = [m for m in batch if m["MessageId"] not in failed]
            delete_batch(sqs, urls[name], done)
        # Lambda's pollers long-poll, which costs an idle queue nothing; polling three queues at
        # once cannot, so an idle worker backs off instead of taking moto's CPU from busy ones.
        idle_s = IDLE_SLEEP_S[0] if worked else min(2 * idle_s, IDLE_SLEEP_S[1])
        if not worked:
            time.sleep(idle_s)
    (work / f"worker{index}.json").write_text(
        json.dumps({"invocations": invocations, "email_sends": email_sends})
    )
    return 0


def batch_sizes() -> dict[str, int]:
    """The batch size of each SQS consumer, as app.py declares it for Lambda's event source mappings."""
    import app

    return {
        source.name: source.batch_size for source in app.app.event_sources if hasattr(source, "batch_size")
    }


def receive_batch(sqs: Any, url: str, batch_size: int) -> list[dict[str, Any]]:
    """Up to `batch_size` messages, ten per ReceiveMessage, as Lambda's poller gathers a batch."""
    batch: list[dict[str, Any]] = []
    while len(batch) < batch_size:
        received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=min(10, batch_size - len(batch)))
        messages = received.get("Messages", [])
        batch.extend(messages)
        if len(messages) < 10:
            break
    return batch


def delete_batch(sqs: Any, url: str, messages: list[dict[str, Any]]) -> None:
    for start in range(0, len(messages), 10):
        chunk = messages[start : start + 10]
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
        )


# -- the bare send loop -----------------------------------------------------------------------------


def _bare_run(work: Path, env: dict[str, str], messages: int) -> tuple[int, float]:
    """The messages sent, and the seconds taken, by `WORKERS` fresh, warmed-up processes of
    `SEND_CONCURRENCY` threads sending `messages` (split evenly) straight to the provider."""
    from bench.audience_import import _wait_for_file

    work.mkdir()
    senders = [
        subprocess.Popen(
            [
                *(sys.executable, "-m", "bench.pipeline", "bare", "--dir", str(work)),
                *("--index", str(index), "--count", str(messages // WORKERS)),
            ],
            cwd=PROJECT_DIR,
            env=env,
            stderr=(work / f"bare{index}.log").open("w"),
        )
        for index in range(WORKERS)
    ]
    for index, sender in enumerate(senders):
        _wait_for_file(work / f"bare{index}.ready", sender, timeout_s=300)
    (work / "go").touch()
    for sender in senders:
        if sender.wait(1800) != 0:
            raise RuntimeError(f"a bare sender exited with {sender.returncode}: see {work}")
    spans = [json.loads((work / f"bare{i}.json").read_text()) for i in range(WORKERS)]
    sent = sum(span["sent"] for span in spans)
    return sent, max(span["end"] for span in spans) - min(span["start"] for span in spans)


def _bare(work: Path, index: int, count: int) -> int:
    """Send `count` messages, half emails half SMS, as fast as one process's `SEND_CONCURRENCY`
    threads can, once told to go."""
    import boto3
    from botocore.config import Config

    from bench.sending import HTML

    config = Config(
        retries={"total_max_attempts": 1},
        connect_timeout=5,
        read_timeout=20,
        max_pool_connections=SEND_CONCURRENCY,
    )
    ses = boto3.client("sesv2", region_name=REGION, config=config)
    sns = boto3.client("sns", region_name=REGION, config=config)

    def send(number: int) -> None:
        if number % 2:
            sns.publish(PhoneNumber=f"+1514{3_000_000 + number:07d}", Message="Maintenance tonight 1-3 am.")
            return
        html = HTML.replace("{{ account.first_name }}", f"First{number}")
        ses.send_email(
            FromEmailAddress="Herald <notices@herald.example>",
            Destination={"ToAddresses": [f"bare{index}-{number}@example.com"]},
            Content={
                "Simple": {
                    "Subject": {"Data": f"Maintenance, First{number}"},
                    "Body": {"Html": {"Data": html}, "Text": {"Data": "Tonight 1-3 am."}},
                }
            },
            EmailTags=[{"Name": "herald_message_id", "Value": f"bare-{index}-{number}"}],
            ConfigurationSetName=CONFIGURATION_SET,
        )

    for number in range(20):  # warm-up: connections, models, moto's code paths
        send(-1 - number)
    (work / f"bare{index}.ready").write_text("{}")
    while not (work / "go").exists():
        time.sleep(0.005)
    start = time.time()
    with ThreadPoolExecutor(SEND_CONCURRENCY) as pool:
        for _ in pool.map(send, range(index * count, (index + 1) * count)):
            pass
    end = time.time()
    (work / f"bare{index}.json").write_text(json.dumps({"start": start, "end": end, "sent": count}))
    return 0


# -- figures ------------------------------------------------------------------------------------------


def _finished(round_: dict[str, Any], stats: list[dict[str, Any]]) -> float:
    """When a round's last plan or send invocation returned: the one that marked it COMPLETED."""
    ends = [
        started + duration
        for worker in stats
        for name, started, duration, _ in worker["invocations"]
        if name not in EVENT_FUNCTIONS and round_["started"] <= started <= round_["completed"]
    ]
    return max(ends, default=round_["completed"])


def _figures(measured: dict[str, Any], stats: list[dict[str, Any]]) -> dict[str, float]:
    rounds = measured["rounds"]
    finished = [_finished(r, stats) for r in rounds]
    pipeline_rates = [r["messages"] / (end - r["started"]) for r, end in zip(rounds, finished, strict=True)]
    ratios = [rate / r["bare"] for rate, r in zip(pipeline_rates, rounds, strict=True)]
    sending_windows = [(r["started"], r["completed"]) for r in rounds]
    busy: Counter[str] = Counter()
    cpu: Counter[str] = Counter()
    durations: dict[str, list[float]] = {name: [] for name in FUNCTIONS}
    for worker in stats:
        for name, started, duration, cpu_seconds in worker["invocations"]:
            windows = (
                [(measured["events_started"], measured["events_done"])]
                if name in EVENT_FUNCTIONS
                else sending_windows
            )
            if any(start <= started <= end for start, end in windows):
                # Lambda bills each invocation's duration rounded up to the millisecond.
                busy[name] += max(0.001, round(duration + 0.0005, 3))
                cpu[name] += cpu_seconds
                durations[name].append(duration)
    sends = sorted(t for worker in stats for t in worker["email_sends"])
    in_rate_run = [t for t in sends if measured["rate_started"] <= t <= measured["rate_done"]]
    per_second = Counter(int(t) for t in in_rate_run)
    whole = range(int(in_rate_run[0]) + 1, int(in_rate_run[-1]))  # the first and last seconds are partial
    achieved = statistics.mean(per_second[s] for s in whole) if len(whole) else 0.0
    peak = max((per_second[s] for s in whole), default=0)
    sent = sum(r["messages"] for r in rounds)
    figures = {
        "pipeline_messages": float(sent),
        "pipeline_rounds": float(len(rounds)),
        "pipeline_seconds": round(sum(finished) - sum(r["started"] for r in rounds), 2),
        "pipeline_messages_per_second": round(statistics.median(pipeline_rates), 1),
        "bare_sends_per_second": round(statistics.median(r["bare"] for r in rounds), 1),
        # The median of the rounds' ratios; the lowest and highest say how noisy the machine was.
        "throughput_ratio": round(statistics.median(ratios), 3),
        "throughput_ratio_lowest_round": round(min(ratios), 3),
        "throughput_ratio_highest_round": round(max(ratios), 3),
        "pipeline_concurrency": float(CONCURRENCY),
        # One event per email: its Delivery or Bounce.
        "events_per_second": round(
            measured["emails"] / (measured["events_done"] - measured["events_started"]), 1
        ),
        "rate_limit_configured_per_second": float(RATE_LIMIT_PER_S),
        "rate_limit_achieved_per_second": round(achieved, 2),
        "rate_limit_seconds": float(len(whole)),
        "rate_limit_accuracy": round(achieved / RATE_LIMIT_PER_S, 3),
        "rate_limit_peak_second_ratio": round(peak / RATE_LIMIT_PER_S, 3),
    }
    for name in FUNCTIONS:
        per = measured["event_messages"] if name in EVENT_FUNCTIONS else sent
        figures[f"lambda_{name}_seconds_per_message"] = busy[name] / per
        # How much of that the function computes rather than waits on AWS: what its memory buys.
        figures[f"lambda_{name}_cpu_seconds_per_message"] = round(cpu[name] / per, 6)
        figures[f"lambda_{name}_median_invocation_ms"] = (
            round(statistics.median(durations[name]) * 1000, 1) if durations[name] else 0.0
        )
    return figures


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["worker", "bare"])
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--index", type=int, required=True)
    parser.add_argument("--count", type=int, default=0)
    args = parser.parse_args()
    if args.role == "worker":
        return _worker(args.dir, args.index)
    return _bare(args.dir, args.index, args.count)


if __name__ == "__main__":
    sys.exit(main())
