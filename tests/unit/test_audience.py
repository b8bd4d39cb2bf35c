"""Reading audience CSVs: finding the id column, checking every line, reporting what was turned away."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence

import pytest

from chalicelib.domain.audience import (
    EXISTENCE_BATCH,
    chunked,
    decode_csv,
    import_audience,
    read_id_lines,
)
from chalicelib.domain.errors import BadRequest

pytestmark = pytest.mark.unit

A = "6f1c2a4e-0b1d-4c5e-9f00-000000000001"
B = "6f1c2a4e-0b1d-4c5e-9f00-000000000002"
C = "6f1c2a4e-0b1d-4c5e-9f00-000000000003"
UNKNOWN = "6f1c2a4e-0b1d-4c5e-9f00-0000000000ff"


def existing(*account_ids: str) -> Callable[[Sequence[str]], set[str]]:
    """An existence check answering from a fixed set of accounts, recording each batch it got."""
    known = set(account_ids)
    calls: list[list[str]] = []

    def check(batch: Sequence[str]) -> set[str]:
        calls.append(list(batch))
        return known & set(batch)

    check.calls = calls  # type: ignore[attr-defined]
    return check


def ids_of(text: str) -> list[tuple[int, str]]:
    return list(read_id_lines(text))


# --- decoding -------------------------------------------------------------------------------


def test_utf8_bytes_with_a_byte_order_mark_decode_to_plain_text() -> None:
    # GIVEN a CSV saved by Excel as "CSV UTF-8" (with a BOM)
    body = "\ufeffaccount_id\n".encode() + A.encode()
    # WHEN it is decoded
    # THEN the BOM is gone, so the header is recognised
    assert decode_csv(body) == f"account_id\n{A}"
    assert ids_of(decode_csv(body)) == [(2, A)]


def test_a_text_body_loses_its_byte_order_mark_too() -> None:
    assert decode_csv(f"\ufeff{A}\n") == f"{A}\n"


@pytest.mark.parametrize("body", [b"", "", b"  \r\n\n", "\n\n"])
def test_an_empty_file_is_a_bad_request(body: bytes | str) -> None:
    # GIVEN an upload with nothing but whitespace
    # WHEN it is decoded
    # THEN the admin is told the file is empty
    with pytest.raises(BadRequest, match="empty"):
        decode_csv(body)


@pytest.mark.parametrize(
    "body",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",  # an image
        "account_id\nabc".encode("utf-16"),  # UTF-16, from an old spreadsheet
        "id\néric".encode("latin-1"),  # Latin-1 accents
    ],
)
def test_non_utf8_bytes_are_a_bad_request(body: bytes) -> None:
    # GIVEN bytes that are not UTF-8 text
    # WHEN they are decoded
    # THEN the admin is asked for a UTF-8 CSV and nothing is parsed
    with pytest.raises(BadRequest, match="UTF-8") as raised:
        decode_csv(body)
    assert raised.value.status == 400


def test_binary_that_happens_to_be_valid_utf8_is_a_bad_request() -> None:
    # GIVEN a file with NUL bytes (a binary file that decodes as UTF-8)
    # WHEN it is decoded
    # THEN it is refused as not a CSV
    with pytest.raises(BadRequest, match="binary"):
        decode_csv(b"id\x00\x01\x02" + A.encode())


# --- finding the id column ------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    ["account_id", "Account UUID", "uuid", "id", "ID", "Account_Id", " account id ", "ACCOUNT-UUID"],
)
def test_the_id_column_is_found_by_any_of_its_header_names(header: str) -> None:
    # GIVEN a CSV whose id column is headed in one of the accepted ways, among other columns
    text = f"name,{header},email\nAda,{A},ada@example.com\n"
    # WHEN it is read
    # THEN the ids come from that column, and the header line is not taken as data
    assert ids_of(text) == [(2, A)]


def test_the_first_matching_header_wins_when_several_could_match() -> None:
    # GIVEN an accounts export with both account_id and a separate "id" column
    text = f"account_id,first_name,id\n{A},Ada,42\n"
    # THEN the leftmost one is used
    assert ids_of(text) == [(2, A)]


def test_a_headerless_single_column_file_is_all_data() -> None:
    # GIVEN a plain list of UUIDs, one per line, without a header
    text = f"{A}\n{B}\n"
    # WHEN it is read
    # THEN every line is an id, numbered from 1
    assert ids_of(text) == [(1, A), (2, B)]


def test_several_columns_without_an_id_header_is_a_bad_request() -> None:
    # GIVEN a CSV with several columns, none of them named like an account id
    text = f"name,email\nAda,{A}\n"
    # WHEN it is read
    # THEN the admin is told how to name the column
    with pytest.raises(BadRequest, match="account_id"):
        ids_of(text)


def test_crlf_semicolons_blank_lines_quotes_and_extra_columns_are_all_understood() -> None:
    # GIVEN a European Excel export: semicolons, CRLF, quoted fields, blank lines, more columns
    text = (
        'first_name;"Account UUID";note\r\n'
        "\r\n"
        f'Ada;"{A}";"likes; semicolons"\r\n'
        f"Grace;{B}\r\n"
        "\r\n"
        f'"Lovelace, Ada";"  {C}  ";x\r\n'
    )
    # WHEN it is read
    # THEN each id comes with the physical line it is on, whitespace trimmed
    assert ids_of(text) == [(3, A), (4, B), (6, C)]


def test_quoted_field_over_two_lines_keeps_the_following_line_numbers_right() -> None:
    # GIVEN a note column with a line break inside quotes
    text = f'id,note\n{A},"two\nlines"\n{B},x\n'
    # WHEN it is read
    # THEN the next record is reported on its own physical line
    assert [value for _, value in ids_of(text)] == [A, B]
    assert ids_of(text)[1] == (4, B)


def test_a_short_row_gives_an_empty_value() -> None:
    # GIVEN a row that stops before the id column
    text = f"name,account_id\nAda\nGrace,{A}\n"
    # THEN its value is empty, to be rejected with its line
    assert ids_of(text) == [(2, ""), (3, A)]


def test_a_huge_field_is_a_bad_request_not_a_crash() -> None:
    # GIVEN a file whose one line is larger than any CSV field should be
    text = "x" * 200_000 + "\n"
    # WHEN it is read
    # THEN the admin gets a 400, not a server error
    with pytest.raises(BadRequest, match="not a valid CSV"):
        ids_of(text)


# --- checking lines -------------------------------------------------------------------------


def test_good_lines_are_taken_and_bad_lines_rejected_with_line_numbers() -> None:
    # GIVEN an export with known accounts, a typo, an unknown account and an empty value
    text = f"account_id,name\n{A},Ada\nnot-a-uuid,Typo\n{UNKNOWN},Ghost\n,Nobody\n{B},Grace\n"
    # WHEN the audience is imported
    result = import_audience(text, existing(A, B))
    # THEN the known accounts are accepted in file order, and each bad line is listed, in order, with why
    assert result.account_ids == [A, B]
    assert result.to_api() == {
        "accepted": 2,
        "duplicates": 0,
        "rejected": 3,
        "errors": [
            {"line": 3, "value": "not-a-uuid", "error": "not a UUID"},
            {"line": 4, "value": UNKNOWN, "error": "unknown account"},
            {"line": 5, "value": "", "error": "empty value"},
        ],
    }


def test_uuids_are_accepted_in_any_spelling_and_stored_canonically() -> None:
    # GIVEN the same account written in upper case, in braces and without dashes
    text = f"{A.upper()}\n{{{A}}}\n{A.replace('-', '')}\n"
    # WHEN the audience is imported
    result = import_audience(text, existing(A))
    # THEN it is one accepted account, the other spellings counted as duplicates
    assert result.account_ids == [A]
    assert result.duplicates == 2
    assert result.errors == []


def test_duplicates_are_counted_but_not_listed() -> None:
    # GIVEN a file naming the same known account three times
    text = f"id\n{A}\n{B}\n{A}\n{A}\n"
    # WHEN the audience is imported
    result = import_audience(text, existing(A, B))
    # THEN it is taken once, with two duplicates and no error lines
    assert result.to_api() == {"accepted": 2, "duplicates": 2, "rejected": 0, "errors": []}


def test_every_line_of_an_unknown_account_is_rejected_wherever_it_repeats() -> None:
    # GIVEN an unknown account on two nearby lines, and on a line far below (in a later existence batch)
    filler = [str(uuid.uuid4()) for _ in range(EXISTENCE_BATCH + 5)]
    lines = [UNKNOWN, A, UNKNOWN, *filler, UNKNOWN]
    text = "\n".join(lines) + "\n"
    # WHEN the audience is imported
    result = import_audience(text, existing(A, *filler))
    # THEN all three of its lines are rejected and listed, and none counts as a duplicate
    unknown_lines = [e["line"] for e in result.errors if e["value"] == UNKNOWN]
    assert unknown_lines == [1, 3, len(lines)]
    assert result.rejected == 3
    assert result.duplicates == 0
    assert len(result.account_ids) == 1 + len(filler)


def test_a_known_account_repeated_in_one_batch_is_accepted_once() -> None:
    # GIVEN a known account twice within the same existence batch
    text = f"{A}\n{A}\n"
    check = existing(A)
    # WHEN the audience is imported
    result = import_audience(text, check)
    # THEN it is accepted once and counted once as a duplicate; existence is asked once per id
    assert result.account_ids == [A]
    assert result.duplicates == 1
    assert check.calls == [[A]]  # type: ignore[attr-defined]


def test_existence_is_checked_in_batches() -> None:
    # GIVEN more lines than one existence batch
    ids = [str(uuid.uuid4()) for _ in range(EXISTENCE_BATCH * 2 + 1)]
    check = existing(*ids)
    # WHEN the audience is imported
    result = import_audience("\n".join(ids), check)
    # THEN the directory is asked three times, never about more than a batch
    assert result.account_ids == ids
    assert [len(c) for c in check.calls] == [EXISTENCE_BATCH, EXISTENCE_BATCH, 1]  # type: ignore[attr-defined]


def test_accepted_plus_duplicates_plus_rejected_is_every_data_line() -> None:
    # GIVEN a messy file
    text = f"id\n{A}\n{A}\nbad\n{UNKNOWN}\n{UNKNOWN}\n{B}\n\n{B}\n"
    # WHEN the audience is imported
    result = import_audience(text, existing(A, B))
    # THEN the three numbers account for each of the 7 non-blank data lines
    assert len(result.account_ids) + result.duplicates + result.rejected == 7
    assert len(result.account_ids) == 2


def test_chunked_splits_in_order_with_a_short_last_chunk() -> None:
    assert list(chunked(["a", "b", "c", "d", "e"], 2)) == [["a", "b"], ["c", "d"], ["e"]]
    assert list(chunked([], 2)) == []
