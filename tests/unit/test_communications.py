"""Communications as the admin handles them: drafts, audience, send."""

from __future__ import annotations

import pytest

from chalicelib.domain.communications import CommunicationService, DraftFields
from chalicelib.domain.errors import BadRequest, Conflict, NotFound, ValidationError
from chalicelib.domain.models import (
    Admin,
    Channel,
    Communication,
    CommunicationStatus,
    Content,
    EmailContent,
    Message,
    MessageStatus,
    SmsContent,
)
from tests.unit.conftest import AUDIENCE_CHUNK_SIZE, DraftMaker
from tests.unit.fakes import (
    FakeAccountDirectory,
    FakeAudienceStore,
    FakeCommunicationStore,
    FakeMessageStore,
    FakeWorkQueue,
    new_uuid,
)

pytestmark = pytest.mark.unit

S = CommunicationStatus


def csv_of(*account_ids: str, header: str = "account_id") -> str:
    return "\n".join([header, *account_ids]) + "\n"


# --- drafts ---------------------------------------------------------------------------------


def test_a_new_communication_is_a_draft_by_its_creator(make_draft: DraftMaker, admin: Admin) -> None:
    # GIVEN an admin
    # WHEN they create a communication
    draft = make_draft(name="Planned outage")
    # THEN it is a draft with an id, their name on it, nothing sent and an empty audience
    assert draft.status is S.DRAFT
    assert draft.comm_id
    assert draft.created_by == admin
    body = draft.to_api()
    assert body["sent_by"] is None and body["started_at"] is None
    assert body["counts"]["messages_total"] == 0 and body["sent_pct"] is None
    assert body["audience"]["state"] == "empty"


def test_a_draft_with_a_broken_template_is_refused(
    make_draft: DraftMaker, store: FakeCommunicationStore
) -> None:
    # GIVEN content whose SMS does not compile
    content = Content(sms={"en": SmsContent("Hello {{ account.first_name ")})
    # WHEN the admin creates the communication
    # THEN it is refused with the field path, and nothing is stored
    with pytest.raises(ValidationError) as raised:
        make_draft(channels=[Channel.SMS], content=content)
    assert [d["field"] for d in raised.value.details] == ["content.sms.en.body"]
    assert store.items == {}


def test_autosave_changes_only_the_fields_sent(
    make_draft: DraftMaker, service: CommunicationService, admin: Admin
) -> None:
    # GIVEN a draft
    draft = make_draft(name="Outage")
    # WHEN the wizard autosaves a new name and the step reached
    updated = service.update_draft(
        draft.comm_id, DraftFields(name="Outage tonight", wizard_step="audience"), by=admin
    )
    # THEN those change, and the rest (channels, content) is kept
    stored = service.get(draft.comm_id)
    assert (stored.name, stored.wizard_step) == ("Outage tonight", "audience")
    assert stored.channels == draft.channels and stored.content == draft.content
    assert updated.updated_at >= draft.updated_at


def test_autosave_with_a_broken_template_changes_nothing(
    make_draft: DraftMaker, service: CommunicationService, admin: Admin
) -> None:
    # GIVEN a draft
    draft = make_draft()
    broken = Content(email={"en": EmailContent(subject="{% for %}", html="", text="")})
    # WHEN content with a syntax error is autosaved
    with pytest.raises(ValidationError):
        service.update_draft(draft.comm_id, DraftFields(name="New name", content=broken), by=admin)
    # THEN the stored draft is unchanged
    assert service.get(draft.comm_id).name == draft.name


@pytest.mark.parametrize("status", [S.IN_PROGRESS, S.SCHEDULED, S.COMPLETED, S.CANCELLED])
def test_only_drafts_can_be_edited_or_deleted(
    make_draft: DraftMaker,
    service: CommunicationService,
    store: FakeCommunicationStore,
    status: S,
    admin: Admin,
) -> None:
    # GIVEN a communication that is no longer a draft
    draft = make_draft()
    store.force_status(draft.comm_id, status)
    # WHEN the admin edits it, deletes it or replaces its audience
    # THEN each is a conflict, and the communication is still there
    with pytest.raises(Conflict):
        service.update_draft(draft.comm_id, DraftFields(name="Too late"), by=admin)
    with pytest.raises(Conflict):
        service.delete_draft(draft.comm_id, by=admin)
    with pytest.raises(Conflict):
        service.set_audience_csv(draft.comm_id, csv_of(new_uuid()), by=admin)
    assert service.get(draft.comm_id).name == draft.name


def test_a_draft_can_be_deleted(make_draft: DraftMaker, service: CommunicationService, admin: Admin) -> None:
    # GIVEN a draft
    draft = make_draft()
    # WHEN it is deleted
    service.delete_draft(draft.comm_id, by=admin)
    # THEN it is gone, and deleting it again is not found
    with pytest.raises(NotFound):
        service.get(draft.comm_id)
    with pytest.raises(NotFound):
        service.delete_draft(draft.comm_id, by=admin)


def test_a_draft_that_stopped_being_one_meanwhile_is_not_overwritten(
    make_draft: DraftMaker, service: CommunicationService, store: FakeCommunicationStore, admin: Admin
) -> None:
    # GIVEN a draft that another admin sends between our read and our autosave
    draft = make_draft()
    original_save = store.save_draft

    def send_first(communication: Communication) -> None:
        store.force_status(draft.comm_id, S.IN_PROGRESS)
        original_save(communication)

    store.save_draft = send_first  # type: ignore[method-assign]
    # WHEN the autosave lands
    # THEN the store refuses it as a conflict instead of overwriting a communication in progress
    with pytest.raises(Conflict):
        service.update_draft(draft.comm_id, DraftFields(name="Late edit"), by=admin)
    assert service.get(draft.comm_id).name == draft.name


def test_listing_is_newest_first_and_filters_by_status(
    make_draft: DraftMaker, service: CommunicationService, store: FakeCommunicationStore
) -> None:
    # GIVEN three communications, the last one sent
    first, second, third = make_draft(name="1"), make_draft(name="2"), make_draft(name="3")
    store.force_status(third.comm_id, S.IN_PROGRESS)
    # WHEN they are listed
    everything = service.list_page(None, None, 50)
    drafts = service.list_page(S.DRAFT, None, 50)
    # THEN the newest comes first, and the status filter keeps the drafts only
    assert [c.name for c in everything.items] == ["3", "2", "1"]
    assert [c.comm_id for c in drafts.items] == [second.comm_id, first.comm_id]


def test_listing_pages_with_a_cursor(make_draft: DraftMaker, service: CommunicationService) -> None:
    # GIVEN five communications
    names = [make_draft(name=str(n)).name for n in range(5)]
    # WHEN they are read two at a time, following next_cursor
    first = service.list_page(None, None, 2)
    second = service.list_page(None, first.next_cursor, 2)
    third = service.list_page(None, second.next_cursor, 2)
    # THEN each one is seen once, newest first, and the last page has no cursor
    assert [c.name for c in first.items + second.items + third.items] == names[::-1]
    assert third.next_cursor is None


# --- audience -------------------------------------------------------------------------------


def test_audience_upload_reports_accepted_duplicates_and_rejected_lines(
    make_draft: DraftMaker,
    service: CommunicationService,
    directory: FakeAccountDirectory,
    audiences: FakeAudienceStore,
    admin: Admin,
) -> None:
    # GIVEN a draft and a CSV with two known accounts (one twice), a typo and an unknown account
    draft = make_draft()
    ada, grace = directory.add(), directory.add()
    unknown = new_uuid()
    body = csv_of(ada.account_id, "1234", grace.account_id, ada.account_id, unknown).encode()
    # WHEN it is uploaded as the audience
    result = service.set_audience_csv(draft.comm_id, body, by=admin)
    # THEN the admin sees what was taken and each rejected line with its reason
    assert result.to_api() == {
        "accepted": 2,
        "duplicates": 1,
        "rejected": 2,
        "errors": [
            {"line": 3, "value": "1234", "error": "not a UUID"},
            {"line": 6, "value": unknown, "error": "unknown account"},
        ],
    }
    # AND the communication's audience summary says the same, and the accounts are stored
    summary = service.get(draft.comm_id).audience
    assert (summary.source, summary.state, summary.accepted, summary.duplicates, summary.rejected) == (
        "csv",
        "ready",
        2,
        1,
        2,
    )
    assert audiences.account_ids(draft.comm_id) == [ada.account_id, grace.account_id]


def test_a_new_audience_replaces_the_old_one_entirely(
    make_draft: DraftMaker,
    service: CommunicationService,
    directory: FakeAccountDirectory,
    audiences: FakeAudienceStore,
    admin: Admin,
) -> None:
    # GIVEN a draft whose audience spans several chunks
    draft = make_draft()
    many = [directory.add().account_id for _ in range(AUDIENCE_CHUNK_SIZE * 2 + 1)]
    service.set_audience_csv(draft.comm_id, csv_of(*many), by=admin)
    # WHEN a smaller audience is uploaded
    few = [directory.add().account_id for _ in range(2)]
    service.set_audience_csv(draft.comm_id, csv_of(*few), by=admin)
    # THEN only the new accounts remain, with no stale chunk of the old audience left behind
    assert audiences.account_ids(draft.comm_id) == few
    assert service.get(draft.comm_id).audience.chunks == 1


def test_a_csv_naming_no_known_account_is_refused_and_keeps_the_old_audience(
    make_draft: DraftMaker,
    service: CommunicationService,
    directory: FakeAccountDirectory,
    audiences: FakeAudienceStore,
    admin: Admin,
) -> None:
    # GIVEN a draft with an audience already
    draft = make_draft()
    ada = directory.add()
    service.set_audience_csv(draft.comm_id, csv_of(ada.account_id), by=admin)
    # WHEN a CSV is uploaded whose lines are all unknown or malformed
    unknown = new_uuid()
    with pytest.raises(ValidationError) as raised:
        service.set_audience_csv(draft.comm_id, csv_of(unknown, "nope"), by=admin)
    # THEN it is a 422 listing every bad line, and the previous audience is intact
    assert raised.value.status == 422
    assert [d["line"] for d in raised.value.details] == [2, 3]
    assert audiences.account_ids(draft.comm_id) == [ada.account_id]
    assert service.get(draft.comm_id).audience.accepted == 1


@pytest.mark.parametrize("body", [b"", b"\xff\xfe\x00\x00binary", "name,email\nAda,a@example.com\n"])
def test_a_file_that_is_not_an_audience_csv_is_a_bad_request(
    make_draft: DraftMaker, service: CommunicationService, body: bytes | str, admin: Admin
) -> None:
    # GIVEN a draft
    draft = make_draft()
    # WHEN an empty, binary or id-less file is uploaded as its audience
    # THEN it is a 400 and the audience stays empty
    with pytest.raises(BadRequest):
        service.set_audience_csv(draft.comm_id, body, by=admin)
    assert service.get(draft.comm_id).audience.state == "empty"


def test_an_accounts_export_uploads_as_is(
    make_draft: DraftMaker, service: CommunicationService, directory: FakeAccountDirectory, admin: Admin
) -> None:
    # GIVEN a CSV shaped like the accounts export: many columns, account_id among them
    draft = make_draft()
    ada = directory.add()
    body = (
        "account_id,first_name,last_name,email,phone,language,channels\n"
        f'{ada.account_id},Ada,Lovelace,ada@example.com,+15145550100,en,"email|sms"\n'
    )
    # WHEN it is uploaded as the audience
    result = service.set_audience_csv(draft.comm_id, body, by=admin)
    # THEN the account is taken
    assert result.account_ids == [ada.account_id]


# --- send -----------------------------------------------------------------------------------


@pytest.fixture
def ready_draft(
    make_draft: DraftMaker, service: CommunicationService, directory: FakeAccountDirectory, admin: Admin
) -> str:
    """A draft with bilingual content and a one-account audience, ready to send."""
    draft = make_draft()
    service.set_audience_csv(draft.comm_id, csv_of(directory.add().account_id), by=admin)
    return draft.comm_id


def test_sending_starts_the_communication_and_queues_planning(
    ready_draft: str, service: CommunicationService, queue: FakeWorkQueue, admin: Admin
) -> None:
    # GIVEN a draft ready to send
    # WHEN the admin sends it
    sent = service.send(ready_draft, by=admin)
    # THEN it is in progress, with who sent it and when, and its planning is queued from chunk 0
    stored = service.get(ready_draft)
    assert sent.status is stored.status is S.IN_PROGRESS
    assert stored.sent_by is not None and stored.sent_by.to_api() == admin.to_api()
    assert stored.started_at is not None
    assert queue.planning == [(ready_draft, 0)]


def test_sending_twice_acts_once(
    ready_draft: str, service: CommunicationService, queue: FakeWorkQueue, admin: Admin
) -> None:
    # GIVEN a communication just sent
    first = service.send(ready_draft, by=admin)
    # WHEN send is clicked again (or the request retried), even by another admin
    other = Admin(id="admin-2", first_name="Alan", last_name="Turing", can_write=True)
    again = service.send(ready_draft, by=other)
    # THEN planning was queued once, and the communication still names the first sender and time
    assert queue.planning_enqueued == 1
    assert again.status is S.IN_PROGRESS
    assert again.sent_by is not None and again.sent_by.id == admin.id
    assert again.started_at == first.started_at


def test_a_send_racing_another_one_does_not_queue_planning_twice(
    ready_draft: str,
    service: CommunicationService,
    store: FakeCommunicationStore,
    queue: FakeWorkQueue,
    admin: Admin,
) -> None:
    # GIVEN two requests that both read the communication as a draft
    original_start = store.start_sending

    def lose_the_race(communication: Communication, expected: S = S.DRAFT) -> bool:
        assert original_start(communication, expected)  # the other request wins...
        return original_start(communication, expected)  # ...so ours finds it no longer a draft

    store.start_sending = lose_the_race  # type: ignore[method-assign]
    # WHEN ours arrives second
    result = service.send(ready_draft, by=admin)
    # THEN it returns the communication in progress without queuing planning itself
    assert result.status is S.IN_PROGRESS
    assert queue.planning_enqueued == 0


@pytest.mark.parametrize("status", [S.CANCELLED, S.SCHEDULED])
def test_sending_a_communication_that_cannot_start_now_is_a_conflict(
    ready_draft: str,
    service: CommunicationService,
    store: FakeCommunicationStore,
    queue: FakeWorkQueue,
    admin: Admin,
    status: S,
) -> None:
    # GIVEN a communication that was cancelled (or waits for its schedule)
    store.force_status(ready_draft, status)
    # WHEN the admin sends it
    # THEN it is a 409 and nothing is queued
    with pytest.raises(Conflict) as raised:
        service.send(ready_draft, by=admin)
    assert raised.value.status == 409
    assert queue.planning_enqueued == 0
    assert service.get(ready_draft).status is status


@pytest.mark.parametrize("status", [S.PENDING_APPROVAL, S.PAUSED, S.COMPLETED, S.FAILED])
def test_sending_one_that_already_went_out_is_not_an_error(
    ready_draft: str,
    service: CommunicationService,
    store: FakeCommunicationStore,
    queue: FakeWorkQueue,
    admin: Admin,
    status: S,
) -> None:
    # GIVEN a communication that was already sent (or is waiting for the approval it asked for)
    store.force_status(ready_draft, status)
    # WHEN a late retry of the send request arrives
    result = service.send(ready_draft, by=admin)
    # THEN it answers with the communication as it is, and nothing is queued again
    assert result.status is status
    assert queue.planning_enqueued == 0


def test_sending_with_an_empty_audience_is_refused(
    make_draft: DraftMaker, service: CommunicationService, queue: FakeWorkQueue, admin: Admin
) -> None:
    # GIVEN a draft without an audience
    draft = make_draft()
    # WHEN the admin sends it
    # THEN it is a validation error naming the audience, and it stays a draft
    with pytest.raises(ValidationError) as raised:
        service.send(draft.comm_id, by=admin)
    assert [d["field"] for d in raised.value.details] == ["audience"]
    assert service.get(draft.comm_id).status is S.DRAFT
    assert queue.planning_enqueued == 0


def test_sending_without_content_in_the_default_language_is_refused(
    make_draft: DraftMaker,
    service: CommunicationService,
    directory: FakeAccountDirectory,
    admin: Admin,
) -> None:
    # GIVEN a two-channel draft whose default is French, with French email but English-only SMS
    content = Content(
        email={"fr": EmailContent(subject="Panne", html="<p>Panne</p>", text="Panne")},
        sms={"en": SmsContent("Outage")},
    )
    draft = make_draft(default_language="fr", content=content)
    service.set_audience_csv(draft.comm_id, csv_of(directory.add().account_id), by=admin)
    # WHEN the admin sends it
    # THEN the missing SMS content is named
    with pytest.raises(ValidationError) as raised:
        service.send(draft.comm_id, by=admin)
    assert [d["field"] for d in raised.value.details] == ["content.sms.fr"]


def test_sending_a_channel_without_any_content_is_refused(
    make_draft: DraftMaker,
    service: CommunicationService,
    directory: FakeAccountDirectory,
    admin: Admin,
) -> None:
    draft = make_draft(content=Content(email={"en": EmailContent("Hi", "Hi", "Hi")}))
    service.set_audience_csv(draft.comm_id, csv_of(directory.add().account_id), by=admin)
    with pytest.raises(ValidationError) as raised:
        service.send(draft.comm_id, by=admin)
    assert [d["field"] for d in raised.value.details] == ["content.sms"]


def test_sending_an_unknown_communication_is_not_found(service: CommunicationService, admin: Admin) -> None:
    with pytest.raises(NotFound):
        service.send(new_uuid(), by=admin)


# --- reading messages back ------------------------------------------------------------------


def test_a_message_is_shown_with_the_content_it_was_sent_with(
    make_draft: DraftMaker, service: CommunicationService, messages: FakeMessageStore
) -> None:
    # GIVEN a sent French SMS, rendered for an account then named Marie
    draft = make_draft()
    account_id = new_uuid()
    message = Message(
        comm_id=draft.comm_id,
        account_id=account_id,
        channel=Channel.SMS,
        status=MessageStatus.SENT,
        language="fr",
        render_context={"first_name": "Marie"},
    )
    messages.put_many([message])
    # WHEN the admin opens it
    body = service.get_message(draft.comm_id, message.message_id)
    # THEN they read the French text with Marie's name
    assert body["content"] == {"body": "FR: panne ce soir, Marie"}
    assert body["status"] == "SENT" and body["account_id"] == account_id


def test_a_skipped_message_is_shown_without_content(
    make_draft: DraftMaker, service: CommunicationService, messages: FakeMessageStore
) -> None:
    draft = make_draft()
    message = Message(draft.comm_id, new_uuid(), Channel.EMAIL, MessageStatus.SKIPPED, error="no email")
    messages.put_many([message])
    assert service.get_message(draft.comm_id, message.message_id)["content"] is None


def test_an_unknown_message_is_not_found(make_draft: DraftMaker, service: CommunicationService) -> None:
    draft = make_draft()
    with pytest.raises(NotFound):
        service.get_message(draft.comm_id, new_uuid())
    with pytest.raises(NotFound):
        service.list_messages(new_uuid(), None, None, None, None, 50)
