"""Which language and which channels each account's messages use."""

from __future__ import annotations

import pytest

from chalicelib.domain.models import Channel, SkipReason
from chalicelib.domain.planning import LanguageChoice, PlannedMessage, pick_language, plan_channels
from tests.unit.fakes import make_account

pytestmark = pytest.mark.unit

EMAIL, SMS = Channel.EMAIL, Channel.SMS


# --- language -------------------------------------------------------------------------------


def test_account_language_available_exactly_is_used_without_fallback() -> None:
    # GIVEN content in English and French-Canadian
    # WHEN a fr-CA account's language is picked
    choice = pick_language("fr-CA", ["en", "fr-CA"], default="en")
    # THEN it gets fr-CA, and the dry run does not count it as a fallback
    assert choice == LanguageChoice("fr-CA", fell_back=False)


def test_language_tags_match_whatever_their_case() -> None:
    # GIVEN content keyed "fr-CA" and an account whose tag was typed in another case
    # WHEN its language is picked
    choice = pick_language("FR-ca", ["en", "fr-CA"], default="en")
    # THEN the content's own tag is returned, as an exact match
    assert choice == LanguageChoice("fr-CA", fell_back=False)


def test_regional_account_gets_the_base_language() -> None:
    # GIVEN content in English and French
    # WHEN a fr-CA account's language is picked
    choice = pick_language("fr-CA", ["en", "fr"], default="en")
    # THEN it gets French rather than the English default
    assert choice.language == "fr"


def test_base_language_account_gets_a_regional_sibling() -> None:
    # GIVEN content in English and French-Canadian only
    # WHEN a plain "fr" account's language is picked
    choice = pick_language("fr", ["en", "fr-CA"], default="en")
    # THEN it gets fr-CA, flagged as a fallback
    assert choice == LanguageChoice("fr-CA", fell_back=True)


def test_sibling_region_is_preferred_over_the_default() -> None:
    # GIVEN content in English and French-Canadian
    # WHEN a fr-FR account's language is picked
    choice = pick_language("fr-FR", ["en", "fr-CA"], default="en")
    # THEN French-Canadian wins over the English default
    assert choice == LanguageChoice("fr-CA", fell_back=True)


@pytest.mark.parametrize("wanted", ["de", "", None])
def test_unknown_or_missing_language_falls_back_to_the_default(wanted: str | None) -> None:
    # GIVEN content in English and French, English being the default
    # WHEN an account with no usable language is served
    choice = pick_language(wanted, ["fr", "en"], default="en")
    # THEN it gets the default language, counted as a fallback
    assert choice == LanguageChoice("en", fell_back=True)


def test_default_language_is_matched_whatever_its_case() -> None:
    # GIVEN content keyed "en-US" and a default typed "EN-us"
    # WHEN a German account is served
    choice = pick_language("de", ["fr", "en-US"], default="EN-us")
    # THEN the default's content is used
    assert choice == LanguageChoice("en-US", fell_back=True)


# --- channels -------------------------------------------------------------------------------


def test_account_preferring_both_channels_gets_two_messages() -> None:
    # GIVEN an account that prefers email and SMS
    account = make_account(channels=[EMAIL, SMS])
    # WHEN a two-channel communication is planned for it
    planned = plan_channels(account, [EMAIL, SMS])
    # THEN one email and one SMS are to be sent
    assert planned == [PlannedMessage(EMAIL), PlannedMessage(SMS)]


def test_only_channels_both_sides_want_are_planned() -> None:
    # GIVEN an account that prefers SMS only
    account = make_account(channels=[SMS])
    # WHEN a two-channel communication is planned for it
    planned = plan_channels(account, [EMAIL, SMS])
    # THEN it gets the SMS only
    assert planned == [PlannedMessage(SMS)]


def test_no_common_channel_gives_one_skipped_message_on_the_first_channel() -> None:
    # GIVEN an account that prefers email only
    account = make_account(channels=[EMAIL])
    # WHEN an SMS-only communication is planned for it
    planned = plan_channels(account, [SMS])
    # THEN exactly one message is planned, skipped on the communication's first channel
    assert planned == [PlannedMessage(SMS, SkipReason.NO_PREFERRED_CHANNEL)]


def test_account_with_no_channel_preference_is_skipped_once() -> None:
    # GIVEN an account that prefers no channel at all
    account = make_account(channels=[])
    # WHEN a two-channel communication is planned for it
    planned = plan_channels(account, [SMS, EMAIL])
    # THEN one skipped message on the first channel (SMS) stands for it
    assert planned == [PlannedMessage(SMS, SkipReason.NO_PREFERRED_CHANNEL)]


@pytest.mark.parametrize(
    ("overrides", "channel", "reason"),
    [
        ({"email": None}, EMAIL, SkipReason.NO_EMAIL),
        ({"email": ""}, EMAIL, SkipReason.NO_EMAIL),
        ({"email": "not an address"}, EMAIL, SkipReason.INVALID_EMAIL),
        ({"phone": None}, SMS, SkipReason.NO_PHONE),
        ({"phone": "514-555-0100"}, SMS, SkipReason.INVALID_PHONE),
        ({"phone": "+0123456789"}, SMS, SkipReason.INVALID_PHONE),
    ],
)
def test_missing_or_invalid_address_skips_that_channel_only(
    overrides: dict[str, str | None], channel: Channel, reason: SkipReason
) -> None:
    # GIVEN an account preferring both channels whose address on one channel is missing or invalid
    account = make_account(**overrides)
    # WHEN a two-channel communication is planned for it
    planned = {p.channel: p.skip_reason for p in plan_channels(account, [EMAIL, SMS])}
    # THEN that channel's message is skipped with the reason, and the other one is sent
    other = SMS if channel is EMAIL else EMAIL
    assert planned == {channel: reason, other: None}


def test_inactive_account_is_skipped_on_each_channel_it_would_get() -> None:
    # GIVEN an inactive account preferring both channels
    account = make_account(status="inactive")
    # WHEN a two-channel communication is planned for it
    planned = plan_channels(account, [EMAIL, SMS])
    # THEN both messages are skipped as account_inactive
    assert planned == [
        PlannedMessage(EMAIL, SkipReason.ACCOUNT_INACTIVE),
        PlannedMessage(SMS, SkipReason.ACCOUNT_INACTIVE),
    ]


def test_missing_account_is_one_skipped_message_on_the_first_channel() -> None:
    # GIVEN an account that no longer exists
    # WHEN a two-channel communication is planned for it
    planned = plan_channels(None, [EMAIL, SMS])
    # THEN one message, skipped as account_missing, stands for it
    assert planned == [PlannedMessage(EMAIL, SkipReason.ACCOUNT_MISSING)]
