"""The account directory service: single writes, reads and CSV imports."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.domain.accounts import IMPORT_BATCH, AccountService
from chalicelib.domain.errors import BadRequest, NotFound, ValidationError
from chalicelib.domain.models import Account, Channel
from chalicelib.domain.ports import AccountFilter
from tests.unit.fakes import FakeAccountDirectory, new_uuid

pytestmark = pytest.mark.unit


def parse(account_id: str, fields: dict[str, Any], strict: bool = True) -> Account:
    """A stand-in for the API's parser: a first name and a known language are required."""
    if not fields.get("first_name"):
        raise ValidationError("the account has invalid fields", [{"field": "first_name", "error": "missing"}])
    return Account(
        account_id=account_id,
        first_name=fields["first_name"],
        last_name=fields.get("last_name", ""),
        language=fields.get("language", "en"),
        channels=[Channel(c) for c in fields.get("channels", [])],
        email=fields.get("email"),
        phone=fields.get("phone"),
        service_area=fields.get("service_area"),
    )


@pytest.fixture
def accounts(directory: FakeAccountDirectory) -> AccountService:
    return AccountService(directory=directory, parse=parse)


def test_putting_an_account_tells_whether_it_was_new(accounts: AccountService) -> None:
    # GIVEN no account yet
    account_id = new_uuid()
    # WHEN it is put twice
    _, created = accounts.put(account_id, {"first_name": "Ada"})
    _, created_again = accounts.put(account_id, {"first_name": "Ada B."})
    # THEN the first put created it (201), the second replaced it (200)
    assert (created, created_again) == (True, False)
    assert accounts.get(account_id).first_name == "Ada B."


def test_getting_an_unknown_account_is_not_found(accounts: AccountService) -> None:
    with pytest.raises(NotFound):
        accounts.get(new_uuid())


def test_listing_filters_combine_with_and_and_values_with_or(
    accounts: AccountService, directory: FakeAccountDirectory
) -> None:
    # GIVEN accounts in several service areas and segments
    mtl_home = directory.add(service_area="mtl", segment="home")
    qc_home = directory.add(service_area="qc", segment="home")
    directory.add(service_area="mtl", segment="business")
    directory.add(service_area="ott", segment="home")
    # WHEN listing home accounts of Montreal or Quebec
    page = accounts.list_page(AccountFilter(service_area=["mtl", "qc"], segment=["home"]), None, 50)
    # THEN exactly those two are listed
    assert {a.account_id for a in page.items} == {mtl_home.account_id, qc_home.account_id}


def test_import_upserts_good_rows_and_reports_bad_ones_by_line(
    accounts: AccountService, directory: FakeAccountDirectory
) -> None:
    # GIVEN an accounts CSV with a row missing its first name
    ada, grace = new_uuid(), new_uuid()
    body = (
        "account_id,first_name,email,channels\r\n"
        f"{ada},Ada,ada@example.com,email;sms\r\n"
        f"{new_uuid()},,nobody@example.com,email\r\n"
        "\r\n"
        f"{grace},Grace,grace@example.com,sms | email\r\n"
    ).encode()
    # WHEN it is imported
    result = accounts.import_csv(body)
    # THEN the good rows are stored, list fields split, and the bad row is reported with its line
    assert result.upserted == 2
    assert [e["line"] for e in result.errors] == [3]
    assert result.errors[0]["details"] == [{"field": "first_name", "error": "missing"}]
    assert directory.accounts[ada].channels == [Channel.EMAIL, Channel.SMS]
    assert directory.accounts[grace].channels == [Channel.SMS, Channel.EMAIL]


def test_import_writes_in_batches_and_counts_each_account_once_per_batch(
    accounts: AccountService, directory: FakeAccountDirectory
) -> None:
    # GIVEN more rows than one write batch, one account appearing twice in a batch
    ids = [new_uuid() for _ in range(IMPORT_BATCH + 3)]
    rows = [f"{account_id},Name{n}" for n, account_id in enumerate(ids)]
    rows.insert(1, f"{ids[0]},Renamed")
    # WHEN it is imported
    result = accounts.import_csv("account_id,first_name\n" + "\n".join(rows) + "\n")
    # THEN every account is stored once, the later row winning
    assert len(directory.accounts) == len(ids)
    assert directory.accounts[ids[0]].first_name == "Renamed"
    assert result.upserted == len(ids)


def test_import_without_an_account_id_header_is_a_bad_request(accounts: AccountService) -> None:
    with pytest.raises(BadRequest, match="account_id"):
        accounts.import_csv(f"first_name,email\n{new_uuid()},a@example.com\n")


@pytest.mark.parametrize(
    "body",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00",
        b"",
        "x" * 200_000 + "\n",  # one huge line: larger than any CSV field may be
        "account_id,first_name\n" + "y" * 200_000 + ",Ada\n",
    ],
)
def test_an_accounts_file_that_is_not_a_csv_is_a_bad_request(
    accounts: AccountService, directory: FakeAccountDirectory, body: bytes | str
) -> None:
    # GIVEN a body that is not a usable CSV
    # WHEN it is imported
    # THEN the admin gets a 400 and nothing is written
    with pytest.raises(BadRequest):
        accounts.import_csv(body)
    assert directory.accounts == {}
