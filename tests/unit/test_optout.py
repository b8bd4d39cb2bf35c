"""Opting out: signed unsubscribe tokens, the List-Unsubscribe headers, SMS keywords (in-memory fakes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from chalicelib.domain.delivery import Suppression
from chalicelib.domain.errors import BadRequest, Forbidden, NotFound
from chalicelib.domain.models import Channel, Communication, Content, Message, MessageStatus
from chalicelib.domain.optout import (
    InboundSms,
    OptOutService,
    SmsKeyword,
    UnsubscribeLinks,
    UnsubscribeSigner,
    list_unsubscribe_headers,
    parse_sms_keyword,
)
from tests.unit.fakes import FakeAccountDirectory, FakeAuditLog, FakeMessageStore, FakeSuppressionList

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
KEY = b"k" * 32


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def signer(key: bytes = KEY, clock: Clock | None = None) -> UnsubscribeSigner:
    return UnsubscribeSigner(key, ttl=timedelta(days=90), clock=clock or Clock())


def token_for(address: str = "marie@example.com", key: bytes = KEY, clock: Clock | None = None) -> str:
    return signer(key, clock).sign("acc-1", Channel.EMAIL, address, "comm-1")


# -- tokens ----------------------------------------------------------------------------------------


def test_a_token_verifies_and_says_whose_address_it_is() -> None:
    claims = signer().verify(token_for())
    assert (claims.account_id, claims.channel, claims.comm_id) == ("acc-1", Channel.EMAIL, "comm-1")
    assert claims.expires_at == int((NOW + timedelta(days=90)).timestamp())
    assert "marie" not in token_for()  # the address never travels in the link


@pytest.mark.parametrize("part", [1, 2])
def test_a_tampered_token_is_refused(part: int) -> None:
    pieces = token_for().split(".")
    # Flip one character of the payload or of the MAC.
    target = pieces[part]
    pieces[part] = target[:5] + ("A" if target[5] != "A" else "B") + target[6:]
    with pytest.raises(Forbidden, match="not valid"):
        signer().verify(".".join(pieces))


def test_a_token_for_another_account_cannot_be_made_by_editing_the_payload() -> None:
    import base64
    import json

    version, payload, mac = token_for().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["a"] = "acc-2"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(Forbidden):
        signer().verify(f"{version}.{forged}.{mac}")


def test_a_token_signed_with_another_key_is_refused() -> None:
    with pytest.raises(Forbidden, match="not valid"):
        signer(b"another key").verify(token_for())


def test_an_expired_token_is_refused() -> None:
    clock = Clock()
    token = token_for(clock=clock)
    clock.now = NOW + timedelta(days=90, seconds=1)
    with pytest.raises(Forbidden, match="expired"):
        signer(clock=clock).verify(token)
    clock.now = NOW + timedelta(days=89)
    assert signer(clock=clock).verify(token).account_id == "acc-1"


@pytest.mark.parametrize("garbage", ["v1", "v1..", "v2.abc.def", "v1.!!!.###", "v1.e30.AAAA", "x" * 500])
def test_garbage_tokens_are_refused(garbage: str) -> None:
    with pytest.raises(Forbidden):
        signer().verify(garbage)


@pytest.mark.parametrize("missing", [None, ""])
def test_no_token_is_a_bad_request(missing: str | None) -> None:
    with pytest.raises(BadRequest) as raised:
        signer().verify(missing)
    assert raised.value.status == 400


# -- headers ---------------------------------------------------------------------------------------


def communication(transactional: bool) -> Communication:
    return Communication("comm-1", "Offers", [Channel.EMAIL], "en", Content(), transactional=transactional)


def email_message(address: str | None = "Marie@Example.com") -> Message:
    message = Message("comm-1", "acc-1", Channel.EMAIL, MessageStatus.QUEUED)
    message.address = address
    return message


LINKS = UnsubscribeLinks(signer(), "https://notices.example.com/api")


def test_a_transactional_email_carries_no_unsubscribe_headers() -> None:
    assert list_unsubscribe_headers(LINKS, communication(transactional=True), email_message()) == {}


def test_a_non_essential_email_carries_one_click_unsubscribe_headers() -> None:
    headers = list_unsubscribe_headers(LINKS, communication(transactional=False), email_message())
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = headers["List-Unsubscribe"]
    assert link.startswith("<https://notices.example.com/api/unsubscribe?token=") and link.endswith(">")
    token = unquote(parse_qs(urlsplit(link[1:-1]).query)["token"][0])
    claims = signer().verify(token)
    assert (claims.account_id, claims.comm_id) == ("acc-1", "comm-1")


def test_a_mailto_is_offered_next_to_the_link_when_the_operator_has_one() -> None:
    links = UnsubscribeLinks(signer(), "https://notices.example.com/api", mailto="unsubscribe@example.com")
    headers = list_unsubscribe_headers(links, communication(transactional=False), email_message())
    https, mailto = headers["List-Unsubscribe"].split(", ")
    assert https.startswith("<https://") and mailto == "<mailto:unsubscribe@example.com?subject=unsubscribe>"


def test_without_links_nothing_is_added() -> None:
    assert list_unsubscribe_headers(None, communication(transactional=False), email_message()) == {}


# -- SMS keywords ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "keyword"),
    [
        ("STOP", SmsKeyword.STOP),
        (" stop \n", SmsKeyword.STOP),
        ("Stop.", SmsKeyword.STOP),
        ("stopall", SmsKeyword.STOP),
        ("UNSUBSCRIBE", SmsKeyword.STOP),
        ("cancel", SmsKeyword.STOP),
        ("End", SmsKeyword.STOP),
        ("quit", SmsKeyword.STOP),
        ("arrêt", SmsKeyword.STOP),
        ("ARRET", SmsKeyword.STOP),
        ("START", SmsKeyword.START),
        ("unstop", SmsKeyword.START),
        (" yes ", SmsKeyword.START),
        ("stop it please", None),
        ("Thanks!", None),
        ("", None),
        (None, None),
        ("STOPP", None),
    ],
)
def test_sms_keywords(text: str | None, keyword: SmsKeyword | None) -> None:
    assert parse_sms_keyword(text) is keyword


# -- the service -----------------------------------------------------------------------------------


@pytest.fixture
def suppressions() -> FakeSuppressionList:
    return FakeSuppressionList()


@pytest.fixture
def audit() -> FakeAuditLog:
    return FakeAuditLog()


@pytest.fixture
def messages() -> FakeMessageStore:
    store = FakeMessageStore()
    store.put_many([email_message()])
    return store


@pytest.fixture
def service(
    suppressions: FakeSuppressionList, audit: FakeAuditLog, messages: FakeMessageStore
) -> OptOutService:
    return OptOutService(
        signer=signer,
        suppressions=suppressions,
        messages=messages,
        directory=FakeAccountDirectory(),
        audit=audit,
        clock=Clock(),
    )


def test_unsubscribing_suppresses_the_address_once_and_audits_it(service, suppressions, audit) -> None:
    token = token_for("Marie@Example.com")
    first = service.unsubscribe(token)
    second = service.unsubscribe(token)
    assert (first.changed, second.changed) == (True, False)
    suppression = suppressions.entries[(Channel.EMAIL, "marie@example.com")]
    assert (suppression.reason, suppression.comm_id) == ("unsubscribed", "comm-1")
    assert audit.actions("suppressions") == ["unsubscribe"]
    assert audit.entries[0].details["address"] == "M•••@Example.com"


def test_checking_a_link_changes_nothing(service, suppressions, audit) -> None:
    assert service.check(token_for("marie@example.com")).masked_address == "M•••@Example.com"
    assert suppressions.entries == {} and audit.entries == []


def test_a_link_for_an_address_no_longer_on_file_changes_nothing(service, suppressions) -> None:
    with pytest.raises(NotFound):
        service.unsubscribe(token_for("someone.else@example.com"))
    assert suppressions.entries == {}


def test_stop_then_start(service, suppressions, audit) -> None:
    stop = service.inbound_sms(InboundSms("twilio", "+15145550100", "STOP"))
    assert stop.changed and suppressions.entries[(Channel.SMS, "+15145550100")].reason == "stop"
    start = service.inbound_sms(InboundSms("twilio", "+15145550100", "start"))
    assert start.changed and suppressions.entries == {}
    assert audit.actions("suppressions") == ["sms_stop", "sms_start"]


def test_start_never_lifts_a_bounce(service, suppressions, audit) -> None:
    bounce = Suppression(Channel.SMS, "+15145550100", "invalid_number", "twilio undelivered")
    suppressions.add_many([bounce])
    assert not service.inbound_sms(InboundSms("twilio", "+15145550100", "START")).changed
    assert not service.inbound_sms(InboundSms("twilio", "+15145550100", "STOP")).changed
    assert suppressions.entries[(Channel.SMS, "+15145550100")] == bounce
    assert audit.entries == []


def test_other_texts_are_ignored(service, suppressions, audit) -> None:
    for text in ("Thanks!", "what time?", ""):
        assert not service.inbound_sms(InboundSms("eum", "+15145550100", text)).changed
    assert suppressions.entries == {} and audit.entries == []
