"""The send pipeline end to end with fakes: planner, send tasks, sender, provider, records, counters."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from chalicelib.domain.communications import CommunicationService
from chalicelib.domain.errors import PermanentFailure, Throttled, TransientFailure
from chalicelib.domain.models import (
    SKIP_REASON_TEXT,
    Account,
    Admin,
    Channel,
    Communication,
    CommunicationStatus,
    Content,
    Counts,
    MessageStatus,
    SkipReason,
    SmsContent,
    message_id_for,
)
from chalicelib.domain.ports import PlannedAccount, SendTask, TaskOutcome
from tests.unit.conftest import (
    AUDIENCE_CHUNK_SIZE,
    PLANNER_CHUNKS_PER_RUN,
    SEND_TASK_SIZE,
    DraftMaker,
    Pipeline,
)
from tests.unit.fakes import (
    FakeAccountDirectory,
    FakeCommunicationStore,
    FakeEmailSender,
    FakeMessageStore,
    FakeSendLedger,
    FakeSmsSender,
    FakeWorkQueue,
    new_uuid,
    tally,
)

pytestmark = pytest.mark.unit

EMAIL, SMS = Channel.EMAIL, Channel.SMS
S = CommunicationStatus
M = MessageStatus


@dataclass
class Launch:
    """Creates a draft, uploads its audience and sends it, as the admin would."""

    make_draft: DraftMaker
    service: CommunicationService
    admin: Admin

    def __call__(self, accounts: list[Account], **draft_options: object) -> str:
        draft = self.make_draft(**draft_options)
        body = "account_id\n" + "\n".join(a.account_id for a in accounts) + "\n"
        self.service.set_audience_csv(draft.comm_id, body, by=self.admin)
        self.service.send(draft.comm_id, by=self.admin)
        return draft.comm_id


@pytest.fixture
def launch(make_draft: DraftMaker, service: CommunicationService, admin: Admin) -> Launch:
    return Launch(make_draft, service, admin)


def communication(store: FakeCommunicationStore, comm_id: str) -> Communication:
    found = store.get(comm_id)
    assert found is not None
    return found


def assert_counts_match_records(
    store: FakeCommunicationStore, messages: FakeMessageStore, comm_id: str
) -> None:
    """The communication's counters are exactly the tally of its message records, channel by channel."""
    comm = communication(store, comm_id)
    recomputed = tally(messages.of(comm_id))
    for channel in comm.channels:
        assert comm.counts_by_channel[channel] == recomputed.get(channel, Counts()), channel
    counts = comm.counts
    assert (
        counts.total == counts.sent + counts.send_failed + counts.skipped + counts.cancelled + counts.pending
    )
    assert counts.total == len(messages.of(comm_id))


# --- the whole flow -------------------------------------------------------------------------


@pytest.fixture
def mixed_audience(directory: FakeAccountDirectory) -> dict[str, Account]:
    """Nine accounts (three audience chunks) covering every way a message can go."""
    accounts = {
        "en_both": directory.add(first_name="Ada", email="ada@example.com", phone="+15145550101"),
        "fr_ca_both": directory.add(
            first_name="Marie", language="fr-CA", email="marie@example.com", phone="+15145550102"
        ),
        "fr_email_only": directory.add(
            first_name="Paul", language="fr", channels=[EMAIL], email="paul@ex.com"
        ),
        "de_sms_only": directory.add(
            first_name="Hans", language="de", channels=[SMS], phone="+4915112345678"
        ),
        "sms_no_phone": directory.add(first_name="Nora", channels=[SMS], phone=None, email="nora@ex.com"),
        "bad_email": directory.add(first_name="Bob", email="bob(at)example.com", phone="+15145550105"),
        "inactive": directory.add(
            first_name="Ina", status="inactive", email="ina@example.com", phone="+15145550106"
        ),
        "no_channel": directory.add(first_name="Zed", channels=[], email="zed@ex.com", phone="+15145550107"),
        "deleted_later": directory.add(first_name="Gone", email="gone@ex.com", phone="+15145550108"),
    }
    assert len(accounts) == AUDIENCE_CHUNK_SIZE * 3
    return accounts


def test_a_bilingual_two_channel_send_completes_with_counts_matching_the_records(
    launch: Launch,
    pipeline: Pipeline,
    directory: FakeAccountDirectory,
    store: FakeCommunicationStore,
    messages: FakeMessageStore,
    queue: FakeWorkQueue,
    mixed_audience: dict[str, Account],
) -> None:
    # GIVEN a two-channel communication in English and French sent to a mixed audience,
    #       one of whose accounts is deleted after the upload
    comm_id = launch(list(mixed_audience.values()))
    del directory.accounts[mixed_audience["deleted_later"].account_id]
    # WHEN the queues are worked through
    pipeline.run()
    # THEN it is COMPLETED, with no message pending and the counters equal to the records
    comm = communication(store, comm_id)
    assert comm.status is S.COMPLETED
    assert comm.finished_at is not None
    assert_counts_match_records(store, messages, comm_id)
    api = comm.to_api(detail=True)
    # 2 (en) + 2 (fr-CA) + 1 + 1 + bad_email's SMS = 7 sent; skipped: Nora's SMS, Bob's email,
    # Ina's two, Zed's one, Gone's one = 6
    assert api["counts"] == {
        "messages_total": 13,
        "pending": 0,
        "sent": 7,
        "send_failed": 0,
        "skipped": 6,
        "cancelled": 0,
        "delivered": 0,
        "delivery_failed": 0,
        "deferred": 0,
    }
    assert api["sent_pct"] == 100.0
    assert api["counts_by_channel"]["email"]["sent"] == 3
    assert api["counts_by_channel"]["sms"]["sent"] == 4
    # AND the planner went through its chunks in runs, handing out tasks of bounded size
    assert queue.planning_enqueued == -(-3 // PLANNER_CHUNKS_PER_RUN)  # 3 chunks, so many per run
    assert queue.send_tasks_enqueued == 3 * -(-AUDIENCE_CHUNK_SIZE // SEND_TASK_SIZE)


def test_each_account_gets_its_messages_in_its_own_language(
    launch: Launch,
    pipeline: Pipeline,
    messages: FakeMessageStore,
    email_sender: FakeEmailSender,
    sms_sender: FakeSmsSender,
    mixed_audience: dict[str, Account],
) -> None:
    # GIVEN English and French content, English being the default
    comm_id = launch(list(mixed_audience.values()))
    # WHEN it is sent
    pipeline.run()
    # THEN the fr-CA account gets the French email and SMS, with its name filled in
    assert [e.subject for e in email_sender.to("marie@example.com")] == ["Panne pour Marie"]
    assert [e.html for e in email_sender.to("marie@example.com")] == ["<p>Bonjour Marie</p>"]
    assert [s.body for s in sms_sender.to("+15145550102")] == ["FR: panne ce soir, Marie"]
    # AND the English account gets English, and the German one falls back to the English default
    assert [e.text for e in email_sender.to("ada@example.com")] == ["Hello Ada"]
    assert [s.body for s in sms_sender.to("+4915112345678")] == ["EN: outage tonight, Hans"]
    # AND each record says which language went out
    marie = messages.for_account(comm_id, mixed_audience["fr_ca_both"].account_id)
    assert {channel: m.language for channel, m in marie.items()} == {EMAIL: "fr", SMS: "fr"}
    hans = messages.for_account(comm_id, mixed_audience["de_sms_only"].account_id)
    assert hans[SMS].language == "en"


def test_an_account_preferring_both_channels_gets_one_email_and_one_sms(
    launch: Launch,
    pipeline: Pipeline,
    directory: FakeAccountDirectory,
    messages: FakeMessageStore,
    email_sender: FakeEmailSender,
    sms_sender: FakeSmsSender,
) -> None:
    # GIVEN an account that prefers email and SMS
    account = directory.add()
    # WHEN a two-channel communication is sent to it
    comm_id = launch([account])
    pipeline.run()
    # THEN it got exactly one email and one SMS, each recorded as sent with the provider's id
    assert len(email_sender.to(account.email or "")) == 1
    assert len(sms_sender.to(account.phone or "")) == 1
    records = messages.for_account(comm_id, account.account_id)
    assert {c: m.status for c, m in records.items()} == {EMAIL: M.SENT, SMS: M.SENT}
    assert records[EMAIL].provider == "fake-email" and records[EMAIL].provider_message_id
    assert records[SMS].address == account.phone
    assert records[EMAIL].sent_at is not None


def test_outgoing_messages_carry_the_ids_their_delivery_events_map_back_to(
    launch: Launch, pipeline: Pipeline, directory: FakeAccountDirectory, email_sender: FakeEmailSender
) -> None:
    # GIVEN a communication to one account
    account = directory.add()
    comm_id = launch([account], channels=[EMAIL])
    # WHEN it is sent
    pipeline.run()
    # THEN the email is tagged with the communication and the message's stable id
    [sent] = email_sender.sent
    assert sent.tags == {"comm_id": comm_id, "message_id": message_id_for(comm_id, account.account_id, EMAIL)}


def test_skipped_messages_carry_their_reason_and_nothing_is_sent_for_them(
    launch: Launch,
    pipeline: Pipeline,
    directory: FakeAccountDirectory,
    messages: FakeMessageStore,
    email_sender: FakeEmailSender,
    sms_sender: FakeSmsSender,
    mixed_audience: dict[str, Account],
) -> None:
    # GIVEN the mixed audience, one account deleted after the upload
    comm_id = launch(list(mixed_audience.values()))
    del directory.accounts[mixed_audience["deleted_later"].account_id]
    # WHEN it is sent
    pipeline.run()
    # THEN each skipped message says why, in words an admin reads
    skipped = {
        (name, channel): (m.skip_reason, m.error)
        for name, account in mixed_audience.items()
        for channel, m in messages.for_account(comm_id, account.account_id).items()
        if m.status is M.SKIPPED
    }
    expected = {
        ("sms_no_phone", SMS): SkipReason.NO_PHONE,
        ("bad_email", EMAIL): SkipReason.INVALID_EMAIL,
        ("inactive", EMAIL): SkipReason.ACCOUNT_INACTIVE,
        ("inactive", SMS): SkipReason.ACCOUNT_INACTIVE,
        ("no_channel", EMAIL): SkipReason.NO_PREFERRED_CHANNEL,
        ("deleted_later", EMAIL): SkipReason.ACCOUNT_MISSING,
    }
    assert skipped == {key: (reason, SKIP_REASON_TEXT[reason]) for key, reason in expected.items()}
    # AND none of them reached a provider
    tried = set(email_sender.attempts) | set(sms_sender.attempts)
    assert tried.isdisjoint(
        {"bob(at)example.com", "ina@example.com", "+15145550106", "zed@ex.com", "gone@ex.com"}
    )
    assert len(email_sender.sent) == 3 and len(sms_sender.sent) == 4


def test_a_communication_whose_messages_are_all_skipped_completes_with_no_percentage(
    launch: Launch, pipeline: Pipeline, directory: FakeAccountDirectory, store: FakeCommunicationStore
) -> None:
    # GIVEN an SMS-only communication to accounts that only take email
    accounts = [directory.add(channels=[EMAIL]) for _ in range(2)]
    comm_id = launch(accounts, channels=[SMS])
    # WHEN it is sent
    pipeline.run()
    # THEN it completes, everything skipped, and the sent percentage is empty rather than 0/0
    comm = communication(store, comm_id)
    assert comm.status is S.COMPLETED
    assert comm.counts.skipped == comm.counts.total == 2
    assert comm.counts.sent_pct is None


# --- provider failures ----------------------------------------------------------------------


def test_a_permanent_failure_is_recorded_with_the_providers_text_and_fails_the_communication(
    launch: Launch,
    pipeline: Pipeline,
    directory: FakeAccountDirectory,
    store: FakeCommunicationStore,
    messages: FakeMessageStore,
    email_sender: FakeEmailSender,
) -> None:
    # GIVEN two accounts, the provider refusing one's email address
    refused = directory.add(email="bounce@example.com")
    fine = directory.add(email="fine@example.com")
    email_sender.fail(
        "bounce@example.com", PermanentFailure("SES MessageRejected: Email address is not verified")
    )
    comm_id = launch([refused, fine])
    # WHEN it is sent
    pipeline.run()
    # THEN that email is SEND_FAILED with the provider's words, its SMS and the other account still went out
    failed = messages.for_account(comm_id, refused.account_id)
    assert failed[EMAIL].status is M.SEND_FAILED
    assert failed[EMAIL].error == "SES MessageRejected: Email address is not verified"
    assert failed[SMS].status is M.SENT
    assert {m.status for m in messages.for_account(comm_id, fine.account_id).values()} == {M.SENT}
    # AND the communication ends FAILED, its counters matching the records
    comm = communication(store, comm_id)
    assert comm.status is S.FAILED
    assert comm.counts.send_failed == 1 and comm.counts.sent == 3
    assert_counts_match_records(store, messages, comm_id)


def test_a_throttled_send_is_retried_with_backoff_and_then_goes_out(
    launch: Launch,
    pipeline: Pipeline,
    directory: FakeAccountDirectory,
    store: FakeCommunicationStore,
    messages: FakeMessageStore,
    sms_sender: FakeSmsSender,
    sleeps: list[float],
) -> None:
    # GIVEN a provider that throttles the first two attempts to one phone
    account = directory.add(phone="+15145550199")
    sms_sender.fail("+15145550199", Throttled("SNS Throttling: Rate exceeded"), times=2)
    comm_id = launch([account], channels=[SMS])
    # WHEN it is sent
    pipeline.run()
    # THEN the third attempt goes out after backing off twice, and the communication completes
    assert sms_sender.attempts == ["+15145550199"] * 3
    assert len(sms_sender.sent) == 1
    assert sleeps == [0.2, 0.4]
    assert messages.for_account(comm_id, account.account_id)[SMS].status is M.SENT
    assert communication(store, comm_id).status is S.COMPLETED


def test_a_send_throttled_on_every_attempt_fails_saying_so(
    launch: Launch,
    pipeline: Pipeline,
    directory: FakeAccountDirectory,
    store: FakeCommunicationStore,
    messages: FakeMessageStore,
    sms_sender: FakeSmsSender,
) -> None:
    # GIVEN a provider that throttles every attempt
    account = directory.add()
    sms_sender.fail(account.phone or "", Throttled("SNS Throttling: Rate exceeded"))
    comm_id = launch([account], channels=[SMS])
    # WHEN it is sent
    pipeline.run()
    # THEN it gives up after the allowed attempts, and says so
    record = messages.for_account(comm_id, account.account_id)[SMS]
    assert record.status is M.SEND_FAILED
    assert record.error == "SNS Throttling: Rate exceeded (gave up after 3 attempts)"
    assert len(sms_sender.attempts) == 3
    assert communication(store, comm_id).status is S.FAILED


def test_a_transient_failure_is_not_resent_blindly(
    launch: Launch,
    pipeline: Pipeline,
    directory: FakeAccountDirectory,
    messages: FakeMessageStore,
    email_sender: FakeEmailSender,
) -> None:
    # GIVEN a provider that times out once on an address (it may or may not have taken the email)
    account = directory.add()
    email_sender.fail(account.email or "", TransientFailure("SES: Read timeout"), times=1)
    comm_id = launch([account], channels=[EMAIL])
    # WHEN it is sent
    pipeline.run()
    # THEN it is tried once only and recorded as SEND_FAILED with the provider's text
    assert email_sender.attempts == [account.email]
    record = messages.for_account(comm_id, account.account_id)[EMAIL]
    assert (record.status, record.error) == (M.SEND_FAILED, "SES: Read timeout")


def test_a_template_failing_on_one_accounts_data_fails_that_message_only(
    launch: Launch,
    pipeline: Pipeline,
    directory: FakeAccountDirectory,
    store: FakeCommunicationStore,
    messages: FakeMessageStore,
    sms_sender: FakeSmsSender,
) -> None:
    # GIVEN an SMS dividing by an attribute that is zero for one account and absent for another
    content = Content(
        sms={"en": SmsContent("Per month: {{ account.attributes.due / account.attributes.months }}")}
    )
    good = directory.add(attributes={"due": 120, "months": 12})
    zero = directory.add(attributes={"due": 120, "months": 0})
    missing = directory.add(attributes={})
    comm_id = launch([good, zero, missing], channels=[SMS], content=content)
    # WHEN it is sent
    pipeline.run()
    # THEN the good account gets its SMS, the two others are SEND_FAILED as template errors
    assert [s.body for s in sms_sender.sent] == ["Per month: 10.0"]
    for account in (zero, missing):
        record = messages.for_account(comm_id, account.account_id)[SMS]
        assert record.status is M.SEND_FAILED
        assert record.error is not None and record.error.startswith("template error: body: ")
    # AND the communication ends (FAILED) instead of hanging in progress
    assert communication(store, comm_id).status is S.FAILED
    assert_counts_match_records(store, messages, comm_id)


# --- exactly once ---------------------------------------------------------------------------


def test_redelivered_send_tasks_do_not_send_twice(
    launch: Launch,
    pipeline: Pipeline,
    store: FakeCommunicationStore,
    messages: FakeMessageStore,
    ledger: FakeSendLedger,
    queue: FakeWorkQueue,
    email_sender: FakeEmailSender,
    sms_sender: FakeSmsSender,
    mixed_audience: dict[str, Account],
) -> None:
    # GIVEN a communication whose every send task SQS delivers twice
    comm_id = launch(list(mixed_audience.values()))
    # WHEN the queues are worked through
    pipeline.run(redeliver_sends=True)
    # THEN every address got its message once, the second deliveries were turned away by their claims
    addresses = [e.to for e in email_sender.sent] + [s.to for s in sms_sender.sent]
    assert len(addresses) == len(set(addresses)) == 9  # the 7 of the mixed audience + Gone's two
    assert ledger.claims_refused == queue.send_tasks_enqueued
    # AND the counters were added once
    assert communication(store, comm_id).status is S.COMPLETED
    assert_counts_match_records(store, messages, comm_id)


def test_redelivered_planning_neither_double_counts_nor_double_sends(
    launch: Launch,
    pipeline: Pipeline,
    store: FakeCommunicationStore,
    messages: FakeMessageStore,
    email_sender: FakeEmailSender,
    mixed_audience: dict[str, Account],
) -> None:
    # GIVEN a communication whose planning messages and send tasks are all delivered twice
    comm_id = launch(list(mixed_audience.values()))
    # WHEN the queues are worked through
    pipeline.run(redeliver_planning=True, redeliver_sends=True)
    # THEN the totals count each message once and nobody got a second email
    comm = communication(store, comm_id)
    assert comm.status is S.COMPLETED
    assert comm.counts.total == 14
    assert len({e.to for e in email_sender.sent}) == len(email_sender.sent) == 4
    assert_counts_match_records(store, messages, comm_id)


def test_a_completed_task_delivered_again_changes_nothing(
    ledger: FakeSendLedger, store: FakeCommunicationStore, make_draft: DraftMaker
) -> None:
    # GIVEN a task claimed and completed once
    comm_id = make_draft().comm_id
    task = SendTask(comm_id, "000000-0000", (PlannedAccount(new_uuid(), (EMAIL,)),))
    assert ledger.claim_task(task)
    outcome = TaskOutcome({EMAIL: Counts(sent=1)})
    ledger.complete_task(task, outcome)
    # WHEN it is claimed and completed again
    claimed_again = ledger.claim_task(task)
    after = ledger.complete_task(task, outcome)
    # THEN the claim is refused and its counters were added once
    assert claimed_again is False
    assert after.counts_by_channel[EMAIL].sent == 1


def test_it_completes_whether_planning_or_sending_finishes_last(
    launch: Launch,
    pipeline: Pipeline,
    store: FakeCommunicationStore,
    messages: FakeMessageStore,
    mixed_audience: dict[str, Account],
) -> None:
    # GIVEN a communication whose send tasks run before its later planning runs
    comm_id = launch(list(mixed_audience.values()))
    # WHEN the queues are worked through sends first
    pipeline.run(sends_first=True)
    # THEN the planner's last run sees nothing pending and completes it
    assert communication(store, comm_id).status is S.COMPLETED
    assert_counts_match_records(store, messages, comm_id)


# --- changes while sending ------------------------------------------------------------------


def test_accounts_changed_between_planning_and_sending_leave_counts_consistent(
    launch: Launch,
    pipeline: Pipeline,
    directory: FakeAccountDirectory,
    store: FakeCommunicationStore,
    messages: FakeMessageStore,
    email_sender: FakeEmailSender,
    sms_sender: FakeSmsSender,
) -> None:
    # GIVEN a planned two-channel communication to six accounts preferring both channels
    accounts = [directory.add(email=f"a{n}@example.com", phone=f"+1514555010{n}") for n in range(6)]
    comm_id = launch(accounts)
    pipeline.plan_only()
    assert communication(store, comm_id).counts.total == 12
    # WHEN, before the sends, the accounts change under it
    directory.accounts[accounts[0].account_id].channels = [EMAIL]  # dropped SMS
    directory.accounts[accounts[1].account_id].channels = []  # dropped both
    directory.accounts[accounts[2].account_id].phone = None  # lost its phone
    directory.accounts[accounts[3].account_id].status = "inactive"
    del directory.accounts[accounts[4].account_id]
    directory.accounts[accounts[5].account_id].language = "fr"
    pipeline.run()
    # THEN the latest data is what counts: messages follow each account's current state...
    assert sms_sender.to("+15145550100") == []
    assert {m.skip_reason for m in messages.for_account(comm_id, accounts[1].account_id).values()} == {
        SkipReason.NO_PREFERRED_CHANNEL
    }
    assert messages.for_account(comm_id, accounts[2].account_id)[SMS].skip_reason is SkipReason.NO_PHONE
    assert [e.subject for e in email_sender.to("a5@example.com")] == ["Panne pour Ada"]
    # ...and the totals were corrected to the messages actually recorded, none left pending
    comm = communication(store, comm_id)
    assert comm.status is S.COMPLETED
    assert comm.counts.pending == 0
    assert comm.counts.total == 1 + 1 + 2 + 2 + 1 + 2
    assert_counts_match_records(store, messages, comm_id)


def test_an_account_adding_a_channel_after_planning_gets_it_and_is_counted(
    launch: Launch,
    pipeline: Pipeline,
    directory: FakeAccountDirectory,
    store: FakeCommunicationStore,
    messages: FakeMessageStore,
    sms_sender: FakeSmsSender,
) -> None:
    # GIVEN an email-only account, planned for one email
    account = directory.add(channels=[EMAIL])
    comm_id = launch([account])
    pipeline.plan_only()
    # WHEN it opts into SMS before its task runs
    directory.accounts[account.account_id].channels = [EMAIL, SMS]
    pipeline.run()
    # THEN it gets both, and the counters say two messages
    assert len(sms_sender.to(account.phone or "")) == 1
    assert communication(store, comm_id).counts.total == 2
    assert_counts_match_records(store, messages, comm_id)


# --- cancel ---------------------------------------------------------------------------------


def test_a_cancelled_communications_remaining_tasks_send_nothing(
    launch: Launch,
    pipeline: Pipeline,
    directory: FakeAccountDirectory,
    store: FakeCommunicationStore,
    messages: FakeMessageStore,
    email_sender: FakeEmailSender,
    sms_sender: FakeSmsSender,
) -> None:
    # GIVEN a planned communication to five accounts (three tasks), one of which has no phone
    accounts = [directory.add(email=f"c{n}@example.com", phone=f"+1514555020{n}") for n in range(4)]
    accounts.append(directory.add(email="c4@example.com", phone=None))
    comm_id = launch(accounts)
    pipeline.plan_only()
    # WHEN the first task has gone out and then the admin cancels
    pipeline.send_one()
    sent_before = len(email_sender.sent) + len(sms_sender.sent)
    store.force_status(comm_id, S.CANCELLED)
    pipeline.run()
    # THEN nothing more is sent; the rest is recorded CANCELLED, known skips still SKIPPED
    assert len(email_sender.sent) + len(sms_sender.sent) == sent_before == 4
    statuses = [m.status for m in messages.of(comm_id)]
    assert statuses.count(M.SENT) == 4
    assert statuses.count(M.CANCELLED) == 5
    assert messages.for_account(comm_id, accounts[4].account_id)[SMS].status is M.SKIPPED
    # AND it stays CANCELLED, with every message accounted for and none pending
    comm = communication(store, comm_id)
    assert comm.status is S.CANCELLED
    assert comm.counts.pending == 0
    assert comm.counts.cancelled == 5
    assert_counts_match_records(store, messages, comm_id)


def test_a_communication_cancelled_before_planning_plans_nothing(
    launch: Launch,
    pipeline: Pipeline,
    directory: FakeAccountDirectory,
    store: FakeCommunicationStore,
    messages: FakeMessageStore,
    queue: FakeWorkQueue,
) -> None:
    # GIVEN a communication cancelled right after send, its planning still queued
    comm_id = launch([directory.add()])
    store.force_status(comm_id, S.CANCELLED)
    # WHEN the planning runs
    pipeline.run()
    # THEN no task was made and nothing was counted or recorded
    assert queue.send_tasks_enqueued == 0
    assert communication(store, comm_id).counts.total == 0
    assert messages.of(comm_id) == []


def test_a_task_for_a_deleted_communication_is_dropped(
    pipeline: Pipeline, ledger: FakeSendLedger, email_sender: FakeEmailSender
) -> None:
    # GIVEN a send task whose communication no longer exists
    task = SendTask(new_uuid(), "000000-0000", (PlannedAccount(new_uuid(), (EMAIL,)),))
    # WHEN it is delivered
    pipeline.sender.send(task)
    # THEN it is dropped without sending or claiming
    assert email_sender.attempts == [] and ledger.tasks == {}


# --- reading back ---------------------------------------------------------------------------


def test_sent_messages_can_be_listed_and_opened_with_their_content(
    launch: Launch,
    pipeline: Pipeline,
    service: CommunicationService,
    mixed_audience: dict[str, Account],
) -> None:
    # GIVEN a sent communication
    comm_id = launch(list(mixed_audience.values()))
    pipeline.run()
    marie = mixed_audience["fr_ca_both"].account_id
    # WHEN the admin filters the messages of one account, then of one status
    page = service.list_messages(comm_id, None, None, marie, None, 50)
    skipped = service.list_messages(comm_id, None, frozenset({M.SKIPPED}), None, None, 50)
    # THEN they see that account's two messages, and opening one shows the French text it got
    assert {m.channel for m in page.items} == {EMAIL, SMS}
    sms = next(m for m in page.items if m.channel is SMS)
    assert service.get_message(comm_id, sms.message_id)["content"] == {"body": "FR: panne ce soir, Marie"}
    assert len(skipped.items) == 5 and all(m.error for m in skipped.items)
