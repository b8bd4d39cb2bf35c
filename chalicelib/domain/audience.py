"""Reading audience CSVs: find the account id column, check each line, count duplicates."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain.errors import BadRequest

ID_HEADERS = frozenset({"accountid", "accountuuid", "uuid", "id"})
EXISTENCE_BATCH = 100
MAX_LISTED_ERRORS = 1000


@dataclass
class AudienceImport:
    """The outcome of reading one audience: accepted ids in file order, and what was turned away."""

    account_ids: list[str] = field(default_factory=list)
    duplicates: int = 0
    rejected: int = 0
    errors: list[dict[str, object]] = field(default_factory=list)

    def reject(self, line: int, value: str, error: str) -> None:
        self.rejected += 1
        if len(self.errors) < MAX_LISTED_ERRORS:
            self.errors.append({"line": line, "value": value, "error": error})

    def to_api(self) -> dict[str, object]:
        return {
            "accepted": len(self.account_ids),
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "errors": self.errors,
        }


def decode_csv(body: bytes | str) -> str:
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8-sig")
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


def read_id_lines(text: str) -> Iterator[tuple[int, str]]:
    """Yield (line number, raw id value) for each non-blank data line of the CSV."""
    sample = text[:4096]
    delimiter = ";" if sample.count(";") > sample.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
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


def import_audience(text: str, existing: Callable[[Sequence[str]], set[str]]) -> AudienceImport:
    """Check every line of an audience CSV; `existing` answers which of a batch of ids are accounts."""
    result = AudienceImport()
    accepted: set[str] = set()
    # Lines wait here for one existence check per batch; malformed ones too, so errors stay in line order.
    batch: list[tuple[int, str, str | None]] = []

    def flush() -> None:
        ids = list(dict.fromkeys(account_id for _, _, account_id in batch if account_id is not None))
        found = existing(ids) if ids else set()
        for line, value, account_id in batch:
            if account_id is None:
                result.reject(line, value, "not a UUID" if value else "empty value")
            elif account_id not in found:
                result.reject(line, value, "unknown account")
            elif account_id in accepted:
                result.duplicates += 1
            else:
                accepted.add(account_id)
                result.account_ids.append(account_id)
        batch.clear()

    for line, value in read_id_lines(text):
        account_id = canonical_uuid(value)
        if account_id is not None and account_id in accepted:
            result.duplicates += 1
            continue
        # A repeat of an id still awaiting its check waits with it: every line of an unknown
        # account is then rejected, wherever the repeats fall, and a known one's are duplicates.
        batch.append((line, value, account_id))
        if len(batch) >= EXISTENCE_BATCH:
            flush()
    if batch:
        flush()
    return result


def chunked(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
