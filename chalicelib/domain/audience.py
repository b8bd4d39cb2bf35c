"""Reading audience CSVs: find the account id column, check each line, count duplicates.

Everything here streams: a CSV arrives as an iterator of byte chunks (a request body, or an S3
object read piece by piece), is decoded incrementally, and only the compact set of 16-byte ids
(`CompactIdSet`) grows with the file. Account existence is checked 100 ids at a time.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain.errors import BadRequest
from chalicelib.domain.idset import CompactIdSet

ID_HEADERS = frozenset({"accountid", "accountuuid", "uuid", "id"})
EXISTENCE_BATCH = 100
MAX_LISTED_ERRORS = 1000
SNIFF_CHARS = 4096

# What became of each distinct id in the file (CompactIdSet marks).
ACCEPTED, UNKNOWN, INACTIVE, PENDING = 1, 2, 3, 4
REJECTION = {UNKNOWN: "unknown account", INACTIVE: "inactive account"}
NOT_A_UUID = "not a UUID"
EMPTY_VALUE = "empty value"

# Answers, for a batch of ids, the status ("active" / "inactive") of those that are accounts.
StatusLookup = Callable[[Sequence[str]], dict[str, str]]
# Receives every rejected line: (line, value, error).
RejectionSink = Callable[[int, str, str], None]


@dataclass
class AudienceImport:
    """The outcome of reading one audience: the accepted ids (in `ids`), and what was turned away."""

    ids: CompactIdSet = field(default_factory=CompactIdSet)
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    lines: int = 0
    errors: list[dict[str, object]] = field(default_factory=list)

    def reject(self, line: int, value: str, error: str) -> None:
        self.rejected += 1
        if len(self.errors) < MAX_LISTED_ERRORS:
            self.errors.append({"line": line, "value": value, "error": error})

    @property
    def errors_truncated(self) -> bool:
        return self.rejected > len(self.errors)

    def accepted_ids(self) -> Iterator[str]:
        return self.ids.ids_marked(ACCEPTED)

    def to_api(self) -> dict[str, object]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "errors": self.errors,
        }


class _ChunkStream(io.RawIOBase):
    """A readable binary stream over an iterator of byte chunks (so TextIOWrapper can decode it)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def text_lines(chunks: Iterable[bytes | str]) -> Iterator[str]:
    """Lines of UTF-8 text (a BOM is dropped), with their line endings, as `csv` wants them."""
    remaining = iter(chunks)
    first = next(remaining, None)
    if first is None:
        return
    if isinstance(first, str):
        text = first.removeprefix("\ufeff") + "".join(str(rest) for rest in remaining)
        yield from io.StringIO(text, newline="")
        return
    binary = _ChunkStream(
        itertools.chain([first], (c.encode() if isinstance(c, str) else c for c in remaining))
    )
    reader = io.TextIOWrapper(io.BufferedReader(binary, 1 << 16), encoding="utf-8-sig", newline="")
    try:
        yield from reader
    except UnicodeDecodeError as error:
        raise BadRequest("the file is not UTF-8 text; save the CSV as UTF-8") from error


def _checked_lines(lines: Iterator[str]) -> Iterator[str]:
    for line in lines:
        if "\x00" in line:
            raise BadRequest("the file is not a CSV (it contains binary data)")
        yield line


def decode_csv(body: bytes | str) -> str:
    """A whole (small) CSV body as text; 400 when it is not UTF-8 text or is empty."""
    if isinstance(body, bytes):
        try:
            body = codecs.decode(body, "utf-8-sig")
        except UnicodeDecodeError as error:
            raise BadRequest("the file is not UTF-8 text; save the CSV as UTF-8") from error
    text = body.removeprefix("\ufeff")
    if "\x00" in text:
        raise BadRequest("the file is not a CSV (it contains binary data)")
    if not text.strip():
        raise BadRequest("the file is empty")
    return text


def _normalise_header(cell: str) -> str:
    return "".join(ch for ch in cell.lower() if ch.isalnum())


def canonical_uuid(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def uuid_bytes(value: str) -> bytes | None:
    """The 16 bytes of a UUID written in any form `uuid.UUID` accepts, or None."""
    try:
        return uuid.UUID(value).bytes
    except ValueError:
        return None


def _sniff_delimiter(sample: str) -> str:
    """`;` when it outnumbers `,` outside quotes in the first lines (a European spreadsheet export)."""
    unquoted = sample.split('"')[::2]
    semicolons = sum(part.count(";") for part in unquoted)
    commas = sum(part.count(",") for part in unquoted)
    return ";" if semicolons > commas else ","


def read_id_lines(source: Iterable[bytes | str] | str) -> Iterator[tuple[int, str]]:
    """Yield (line number, raw id value) for each non-blank data line of the CSV.

    `source` is the whole text, or an iterable of byte (or text) chunks read as they come.
    Raises BadRequest when the file is empty, binary, not UTF-8, or has no account id column.
    """
    lines = _checked_lines(text_lines([source] if isinstance(source, str) else source))
    head: list[str] = []
    for line in lines:
        head.append(line)
        if sum(len(h) for h in head) >= SNIFF_CHARS:
            break
    if not "".join(head).strip():
        raise BadRequest("the file is empty")
    reader = csv.reader(itertools.chain(head, lines), delimiter=_sniff_delimiter("".join(head)))
    try:
        yield from _id_cells(reader)
    except csv.Error as error:
        raise BadRequest(f"the file is not a valid CSV: {error}") from error


def _id_cells(reader: Any) -> Iterator[tuple[int, str]]:
    column: int | None = None
    for row in reader:
        cells = [cell.strip() for cell in row]
        if not any(cells):
            continue
        if column is None:
            column = _header_column(cells)
            if column is not None:
                continue
            if len(cells) > 1:
                raise BadRequest(
                    "no account id column found: name it account_id, account_uuid, uuid or id, "
                    "or upload a single column of account UUIDs"
                )
            column = 0
        yield reader.line_num, cells[column] if column < len(cells) else ""


def _header_column(first_row: Sequence[str]) -> int | None:
    for index, cell in enumerate(first_row):
        if _normalise_header(cell) in ID_HEADERS:
            return index
    return None


@dataclass
class AudienceReader:
    """Checks every line of an audience CSV: UUID, known account, active, not seen before.

    `statuses` answers for 100 ids at a time; `on_rejection` sees every rejected line (the
    result lists only the first ones); `on_progress` is called every `progress_every` lines.
    """

    statuses: StatusLookup
    on_rejection: RejectionSink | None = None
    on_progress: Callable[[AudienceImport], None] | None = None
    progress_every: int = 50_000

    def read(self, source: Iterable[bytes | str] | str) -> AudienceImport:
        result = AudienceImport()
        pending: dict[bytes, list[tuple[int, str]]] = {}
        for line, value in read_id_lines(source):
            result.lines += 1
            if self.on_progress and result.lines % self.progress_every == 0:
                self.on_progress(result)
            key = uuid_bytes(value)
            if key is None:
                self._reject(result, line, value, NOT_A_UUID if value else EMPTY_VALUE)
                continue
            mark = result.ids.mark(key)
            if mark == PENDING:
                pending[key].append((line, value))
            elif mark == ACCEPTED:
                result.duplicates += 1
            elif mark in REJECTION:
                self._reject(result, line, value, REJECTION[mark])
            else:
                result.ids.put(key, PENDING)
                pending[key] = [(line, value)]
                if len(pending) >= EXISTENCE_BATCH:
                    self._resolve(result, pending)
        self._resolve(result, pending)
        result.errors.sort(key=lambda error: int(str(error["line"])))
        return result

    def _resolve(self, result: AudienceImport, pending: dict[bytes, list[tuple[int, str]]]) -> None:
        if not pending:
            return
        ids = {key: str(uuid.UUID(bytes=key)) for key in pending}
        found = self.statuses(list(ids.values()))
        rejections: list[tuple[int, str, str]] = []
        for key, occurrences in pending.items():
            status = found.get(ids[key])
            mark = UNKNOWN if status is None else ACCEPTED if status == "active" else INACTIVE
            result.ids.put(key, mark)
            if mark == ACCEPTED:
                result.accepted += 1
                result.duplicates += len(occurrences) - 1
            else:
                rejections.extend((line, value, REJECTION[mark]) for line, value in occurrences)
        # Rejections are reported in file order, as the admin reads the file.
        for line, value, error in sorted(rejections):
            self._reject(result, line, value, error)
        pending.clear()

    def _reject(self, result: AudienceImport, line: int, value: str, error: str) -> None:
        result.reject(line, value, error)
        if self.on_rejection:
            self.on_rejection(line, value, error)


def chunked(items: Iterable[str], size: int) -> Iterator[list[str]]:
    for batch in itertools.batched(items, size, strict=False):
        yield list(batch)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: str) -> str:
    """A cell value that a spreadsheet will not run as a formula (OWASP CSV injection advice).

    Plain numbers and E.164 phone numbers (+15145550100) are left as they are.
    """
    if value.startswith(FORMULA_STARTS) and not _is_number(value):
        return "'" + value
    return value


def _is_number(value: str) -> bool:
    body = value[1:] if value[:1] in "+-" else value
    return bool(body) and body.replace(".", "", 1).isdigit()
