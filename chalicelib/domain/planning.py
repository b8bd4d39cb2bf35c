"""Which messages an account gets, and in which language: the rules a dry run and a send share."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from chalicelib.domain.addresses import email_problem, phone_problem
from chalicelib.domain.models import Account, Channel, Communication, Contact, SkipReason

# An account, or what planning reads of one: both answer which channels and addresses it has.
type Reachable = Account | Contact


@dataclass(frozen=True)
class PlannedMessage:
    channel: Channel
    skip_reason: SkipReason | None = None


def plan_channels(account: Reachable | None, comm_channels: Sequence[Channel]) -> list[PlannedMessage]:
    """One message per channel in (account channels ∩ communication channels), or one skipped message.

    Skipped messages carry the reason known up front; the rest are to be sent.
    """
    first = comm_channels[0]
    if account is None:
        return [PlannedMessage(first, SkipReason.ACCOUNT_MISSING)]
    chosen = [c for c in comm_channels if c in account.channels]
    if not chosen:
        return [PlannedMessage(first, SkipReason.NO_PREFERRED_CHANNEL)]
    if not account.is_active:
        return [PlannedMessage(c, SkipReason.ACCOUNT_INACTIVE) for c in chosen]
    return [PlannedMessage(c, address_problem(account, c)) for c in chosen]


def address_problem(account: Reachable, channel: Channel) -> SkipReason | None:
    if channel is Channel.EMAIL:
        if not account.email:
            return SkipReason.NO_EMAIL
        return None if email_problem(account.email) is None else SkipReason.INVALID_EMAIL
    if not account.phone:
        return SkipReason.NO_PHONE
    return None if phone_problem(account.phone) is None else SkipReason.INVALID_PHONE


def address_for(account: Reachable, channel: Channel) -> str | None:
    return account.email if channel is Channel.EMAIL else account.phone


def normalise_address(channel: Channel, address: str) -> str:
    """The form addresses are suppressed and looked up in: emails case-folded, phones as given (E.164)."""
    address = address.strip()
    return address.lower() if channel is Channel.EMAIL else address


def apply_suppressions(
    planned: list[PlannedMessage], account: Account | None, suppressed: Collection[tuple[Channel, str]]
) -> list[PlannedMessage]:
    """Skip (reason `suppressed`) the messages whose address is in `suppressed` (channel, normalised)."""
    if account is None or not suppressed:
        return planned
    result = []
    for message in planned:
        address = address_for(account, message.channel)
        if (
            message.skip_reason is None
            and address
            and (message.channel, normalise_address(message.channel, address)) in suppressed
        ):
            message = PlannedMessage(message.channel, SkipReason.SUPPRESSED)
        result.append(message)
    return result


@dataclass(frozen=True)
class LanguageChoice:
    language: str
    fell_back: bool


def pick_language(wanted: str | None, available: Sequence[str], default: str) -> LanguageChoice:
    """The account's exact tag, else its base (fr-CA → fr), else a sibling (fr → fr-CA), else the default."""
    by_lower = {tag.lower(): tag for tag in available}
    if wanted:
        wanted_lower = wanted.lower()
        if wanted_lower in by_lower:
            return LanguageChoice(by_lower[wanted_lower], fell_back=False)
        base = wanted_lower.split("-")[0]
        if base in by_lower:
            return LanguageChoice(by_lower[base], fell_back=True)
        for tag_lower, tag in by_lower.items():
            if tag_lower.split("-")[0] == base:
                return LanguageChoice(tag, fell_back=True)
    if default.lower() in by_lower:
        return LanguageChoice(by_lower[default.lower()], fell_back=True)
    # Validation keeps the default language present; this guards content edited since.
    return LanguageChoice(available[0], fell_back=True)


def choose_language(communication: Communication, channel: Channel, account: Account) -> LanguageChoice:
    """The content language `account` gets on `channel` (the rule sender, preview and dry run share)."""
    return pick_language(
        account.language, communication.content.languages(channel), communication.default_language
    )
