"""Reading audience CSVs: hostile files, every rejected line reported, duplicates counted once."""

from __future__ import annotations

import codecs
import csv
import io
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.audience import AudienceReader, read_id_lines, spreadsheet_safe
from chalicelib.domain.errors import BadRequest
from chalicelib.domain.idset import CompactIdSet

pytestmark = pytest.mark.unit


class Directory:
    """Which ids are accounts, and their status; counts the batched look-ups."""

    def __init__(self, active: list[str], inactive: list[str] | None = None) -> None:
        self.known = {a: "active" for a in active} | {a: "inactive" for a in inactive or []}
        self.lookups: list[int] = []

    def statuses(self, ids):
        self.lookups.append(len(ids))
        assert len(ids) <= 100
        return {i: self.known[i] for i in ids if i in self.known}


def ids(n: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(n)]


def read(body, directory):
    return AudienceReader(directory.statuses).read([body])


def test_good_lines_are_taken_and_every_bad_line_is_reported_with_its_reason():
    known, inactive, unknown = ids(3), ids(1), ids(1)
    body = (
        "account_id\n"
        f"{known[0]}\nnot-a-uuid\n{known[1]}\n\n{known[0]}\n{unknown[0]}\n{inactive[0]}\n,\n{known[2].upper()}\n"
    )
    result = read(body, Directory(known, inactive))
    assert (result.accepted, result.duplicates, result.rejected) == (3, 1, 3)
    assert result.errors == [
        {"line": 3, "value": "not-a-uuid", "error": "not a UUID"},
        {"line": 7, "value": unknown[0], "error": "unknown account"},
        {"line": 8, "value": inactive[0], "error": "inactive account"},
    ]
    assert sorted(result.accepted_ids()) == sorted(known)


def test_bom_semicolons_crlf_quotes_and_other_columns_are_read():
    known = ids(3)
    body = (
        "\ufeffName;Account UUID;Note\r\n"
        f'"Tremblay; Marie";{known[0]};"says ""hi"""\r\n'
        f"Hopper;{known[1]};\r\n"
        f'"multi\r\nline";"  {known[2]}  ";x\r\n'
    ).encode()
    result = read(body, Directory(known))
    assert result.accepted == 3 and result.rejected == 0


def test_a_headerless_single_column_and_a_header_named_id_in_any_case():
    known = ids(2)
    assert read(f"{known[0]}\n{known[1]}\n", Directory(known)).accepted == 2
    assert read(f" ID \n{known[0]}\n", Directory(known)).accepted == 1
    assert read(f"email,account_uuid\nx@y.z,{known[1]}\n", Directory(known)).accepted == 1


def test_formula_looking_cells_are_rejected_as_values_and_never_evaluated():
    known = ids(1)
    body = f'account_id\n"=HYPERLINK(""http://evil.example"",""click"")"\n{known[0]}\n+1+2\n@SUM(A1)\n'
    result = read(body, Directory(known))
    assert result.accepted == 1
    assert [e["value"] for e in result.errors] == [
        '=HYPERLINK("http://evil.example","click")',
        "+1+2",
        "@SUM(A1)",
    ]
    # The downloadable list of rejected lines neutralises them for spreadsheets.
    assert spreadsheet_safe('=HYPERLINK("x")') == '\'=HYPERLINK("x")'
    assert spreadsheet_safe("+15145550100") == "+15145550100"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty"),
        (b"\n\n  \n", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "UTF-8"),
        (b"account_id\n\x00\x01\x02\x03\n", "binary"),
        (bytes(range(256)) * 4, "UTF-8"),
        (b"\xff\xfe" + "account_id\n".encode("utf-16-le"), "UTF-8"),
        (b"name,email\nMarie,marie@example.com\n", "no account id column"),
    ],
)
def test_files_that_are_not_audience_csvs_are_refused_whole(body, message):
    with pytest.raises(BadRequest, match=message):
        read(body, Directory([]))


def test_existence_is_checked_in_batches_of_100_not_per_line():
    known = ids(250)
    directory = Directory(known)
    result = read("\n".join(known) + "\n", directory)
    assert result.accepted == 250
    assert directory.lookups == [100, 100, 50]


def test_a_stream_of_small_chunks_reads_like_the_whole_body():
    known = ids(50)
    body = ("account_id\r\n" + "\r\n".join(known) + "\r\n").encode("utf-8-sig")
    whole = read(body, Directory(known))
    pieces = AudienceReader(Directory(known).statuses).read(body[i : i + 7] for i in range(0, len(body), 7))
    assert (pieces.accepted, pieces.rejected) == (whole.accepted, whole.rejected) == (50, 0)


def test_the_compact_set_stores_marks_and_grows():
    seen = CompactIdSet(capacity=4)
    keys = [uuid.uuid4().bytes for _ in range(1000)]
    for key in keys:
        assert seen.put(key, 1) == 0
    assert seen.put(keys[0], 2) == 1
    assert len(seen) == 1000
    assert seen.mark(keys[0]) == 2 and seen.mark(uuid.uuid4().bytes) == 0
    assert sorted(seen.ids_marked(1)) == sorted(str(uuid.UUID(bytes=k)) for k in keys[1:])
    assert seen.bytes_used < 1000 * 40


# -- properties ------------------------------------------------------------------------------

cell_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12
)


@st.composite
def audience_files(draw):
    """A CSV with an id column among other columns, any delimiter, line ending, BOM and quoting."""
    pool = [str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1)))) for _ in range(draw(st.integers(1, 8)))]
    rows = draw(
        st.lists(
            st.one_of(st.sampled_from(pool), st.just(""), cell_text, st.sampled_from(["=1+1", "null"])),
            max_size=40,
        )
    )
    delimiter = draw(st.sampled_from([",", ";"]))
    other = draw(st.lists(cell_text, min_size=len(rows), max_size=len(rows)))
    buffer = io.StringIO()
    writer = csv.writer(
        buffer,
        delimiter=delimiter,
        lineterminator=draw(st.sampled_from(["\n", "\r\n"])),
        quoting=csv.QUOTE_ALL,
    )
    writer.writerow(["note", "account_id"])
    for value, note in zip(rows, other, strict=True):
        writer.writerow([note, value])
    prefix = codecs.BOM_UTF8 if draw(st.booleans()) else b""
    return prefix + buffer.getvalue().encode(), rows, pool


@settings(max_examples=150, deadline=None)
@given(audience_files(), st.data())
def test_every_line_is_accepted_duplicate_or_rejected_exactly_once(case, data):
    body, rows, pool = case
    existing = data.draw(st.lists(st.sampled_from(pool), unique=True))
    result = read(body, Directory(existing))
    valid_rows = [r for r in rows if r.strip()]
    # Blank id cells on otherwise non-blank lines are rejected as empty; fully blank lines are skipped.
    counted = result.accepted + result.duplicates + result.rejected
    assert counted == sum(1 for line, _ in read_id_lines(body.decode("utf-8-sig")))
    assert result.accepted == len(
        {r.strip().lower() for r in valid_rows if r.strip().lower() in set(existing)}
    )
    assert set(result.accepted_ids()) <= set(existing)
    lines = [e["line"] for e in result.errors]
    assert lines == sorted(lines) and len(set(lines)) == len(lines)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_are_read_or_refused_with_a_400_never_a_crash(body):
    try:
        result = read(body, Directory([]))
    except BadRequest:
        return
    assert result.accepted == 0
