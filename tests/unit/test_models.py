"""Statuses, counters and the ids and shapes the admin sees."""

from __future__ import annotations

import pytest

from chalicelib.domain.errors import Conflict
from chalicelib.domain.models import (
    Channel,
    Communication,
    CommunicationStatus,
    Content,
    Counts,
    check_transition,
    message_id_for,
)
from tests.unit.fakes import bilingual_content

pytestmark = pytest.mark.unit

S = CommunicationStatus


# --- status transitions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.DRAFT, S.IN_PROGRESS),
        (S.DRAFT, S.SCHEDULED),
        (S.DRAFT, S.PENDING_APPROVAL),
        (S.PENDING_APPROVAL, S.IN_PROGRESS),
        (S.PENDING_APPROVAL, S.DRAFT),  # withdrawn
        (S.SCHEDULED, S.PENDING_APPROVAL),  # a due schedule above the approval threshold
        (S.SCHEDULED, S.DRAFT),
        (S.SCHEDULED, S.IN_PROGRESS),
        (S.SCHEDULED, S.CANCELLED),
        (S.IN_PROGRESS, S.PAUSED),
        (S.PAUSED, S.IN_PROGRESS),
        (S.IN_PROGRESS, S.COMPLETED),
        (S.IN_PROGRESS, S.FAILED),
        (S.IN_PROGRESS, S.CANCELLED),
        (S.PAUSED, S.CANCELLED),
    ],
)
def test_legal_status_moves_are_allowed(current: CommunicationStatus, target: CommunicationStatus) -> None:
    # GIVEN a communication in `current`
    # WHEN it is moved to `target` along the documented lifecycle
    # THEN nothing objects
    check_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.DRAFT, S.COMPLETED),
        (S.DRAFT, S.CANCELLED),  # a draft is deleted, not cancelled
        (S.IN_PROGRESS, S.DRAFT),
        (S.PAUSED, S.COMPLETED),
        (S.COMPLETED, S.IN_PROGRESS),
        (S.FAILED, S.IN_PROGRESS),
        (S.CANCELLED, S.IN_PROGRESS),
        (S.CANCELLED, S.DRAFT),
        (S.COMPLETED, S.CANCELLED),
    ],
)
def test_illegal_status_moves_are_conflicts(
    current: CommunicationStatus, target: CommunicationStatus
) -> None:
    # GIVEN a communication in `current`
    # WHEN something tries to move it to `target`
    # THEN it is refused as a conflict naming both statuses
    with pytest.raises(Conflict) as raised:
        check_transition(current, target)
    assert raised.value.status == 409
    assert str(current) in raised.value.message and str(target) in raised.value.message


@pytest.mark.parametrize("final", [S.COMPLETED, S.FAILED, S.CANCELLED])
def test_final_statuses_go_nowhere(final: CommunicationStatus) -> None:
    # GIVEN a finished communication
    # WHEN any move is attempted
    # THEN every one is refused
    for target in CommunicationStatus:
        with pytest.raises(Conflict):
            check_transition(final, target)


# --- counters -------------------------------------------------------------------------------


def test_pending_is_what_is_not_yet_through() -> None:
    # GIVEN 10 messages of which 4 were sent, 1 failed to send, 2 were skipped and 1 cancelled
    counts = Counts(total=10, sent=4, send_failed=1, skipped=2, cancelled=1, delivered=3, deferred=1)
    # WHEN the admin reads the counters
    # THEN 2 are pending (deferred ones are part of pending, delivered ones part of sent)
    assert counts.pending == 2
    assert counts.to_api() == {
        "messages_total": 10,
        "pending": 2,
        "sent": 4,
        "send_failed": 1,
        "skipped": 2,
        "cancelled": 1,
        "delivered": 3,
        "delivery_failed": 0,
        "deferred": 1,
    }


def test_sent_percentage_ignores_skipped_and_cancelled_messages() -> None:
    # GIVEN 10 messages, 2 skipped and 2 cancelled, 3 of the other 6 sent
    counts = Counts(total=10, sent=3, skipped=2, cancelled=2)
    # WHEN the progress is shown
    # THEN it is 3 of 6, i.e. 50%
    assert counts.sent_pct == 50.0


def test_sent_percentage_is_rounded_to_one_decimal() -> None:
    # GIVEN 1 of 3 sendable messages sent
    # THEN the progress reads 33.3%
    assert Counts(total=3, sent=1).sent_pct == 33.3


@pytest.mark.parametrize("counts", [Counts(), Counts(total=3, skipped=2, cancelled=1)])
def test_sent_percentage_is_none_when_nothing_is_sendable(counts: Counts) -> None:
    # GIVEN no message that could be sent
    # THEN there is no percentage rather than a division by zero
    assert counts.sent_pct is None


def test_counts_add_field_by_field() -> None:
    # GIVEN the counters of the email and SMS channels
    email = Counts(total=5, sent=3, send_failed=1, skipped=1, delivered=2)
    sms = Counts(total=4, sent=2, cancelled=2, delivery_failed=1, deferred=0)
    # WHEN they are added into the communication's totals
    total = email + sms
    # THEN each counter is the sum of both
    assert total == Counts(
        total=9, sent=5, send_failed=1, skipped=1, cancelled=2, delivered=2, delivery_failed=1
    )
    assert total.pending == 0


def test_communication_counts_and_percentage_sum_its_channels() -> None:
    # GIVEN a two-channel communication with counters on each channel
    communication = Communication(
        comm_id="c-1",
        name="Outage",
        channels=[Channel.EMAIL, Channel.SMS],
        default_language="en",
        content=bilingual_content(),
        counts_by_channel={
            Channel.EMAIL: Counts(total=2, sent=2),
            Channel.SMS: Counts(total=2, sent=1, skipped=1),
        },
    )
    # WHEN it is serialized for the API
    body = communication.to_api(detail=True)
    # THEN the totals are the sum, the percentage covers sendable messages, and each channel is listed
    assert body["counts"]["messages_total"] == 4
    assert body["counts"]["sent"] == 3
    assert body["sent_pct"] == 100.0
    assert body["counts_by_channel"]["sms"]["skipped"] == 1
    assert body["content"] == bilingual_content().to_api()


# --- ids and content ------------------------------------------------------------------------


def test_a_message_id_is_the_same_on_every_retry_and_differs_per_channel() -> None:
    # GIVEN one communication and one account
    # WHEN the message id is computed again, and for the other channel
    first = message_id_for("c-1", "a-1", Channel.EMAIL)
    # THEN the same message always has the same id, and each channel has its own
    assert first == message_id_for("c-1", "a-1", Channel.EMAIL)
    assert first != message_id_for("c-1", "a-1", Channel.SMS)
    assert first != message_id_for("c-2", "a-1", Channel.EMAIL)


def test_content_round_trips_through_the_api_shape() -> None:
    # GIVEN content in two languages on both channels
    content = bilingual_content()
    # WHEN it is written as JSON and read back
    # THEN nothing is lost
    assert Content.from_api(content.to_api()) == content
    assert content.languages(Channel.SMS) == ["en", "fr"]


def test_email_content_without_html_or_text_reads_as_empty() -> None:
    # GIVEN email content with a subject only
    # WHEN it is read from the API
    content = Content.from_api({"email": {"en": {"subject": "Hi"}}})
    # THEN html and text are empty rather than missing, and there is no SMS content
    assert content.email["en"].html == "" and content.email["en"].text == ""
    assert content.sms == {}
