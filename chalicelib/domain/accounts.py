"""The operator's account directory: single writes, CSV imports, reads."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain.audience import decode_csv
from chalicelib.domain.errors import BadRequest, NotFound, ValidationError
from chalicelib.domain.models import Account, Page
from chalicelib.domain.ports import AccountDirectory, AccountFilter

IMPORT_BATCH = 25
LIST_FIELDS = ("channels",)

# Turns one account's raw fields into an Account (strict=False for CSV text); raises ValidationError.
AccountParser = Callable[[str, dict[str, Any], bool], Account]


@dataclass
class ImportResult:
    upserted: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def to_api(self) -> dict[str, Any]:
        return {"upserted": self.upserted, "errors": self.errors}


@dataclass
class AccountService:
    directory: AccountDirectory
    parse: AccountParser

    def put(self, account_id: str, fields: dict[str, Any]) -> tuple[Account, bool]:
        account = self.parse(account_id, fields, True)
        return account, self.directory.put(account)

    def get(self, account_id: str) -> Account:
        account = self.directory.get(account_id)
        if account is None:
            raise NotFound(f"account {account_id} not found")
        return account

    def list_page(self, account_filter: AccountFilter, cursor: str | None, limit: int) -> Page[Account]:
        return self.directory.list(account_filter, cursor, limit)

    def import_csv(self, body: bytes | str) -> ImportResult:
        """Upsert every valid row of an accounts CSV; invalid rows are reported with their line."""
        reader = csv.DictReader(io.StringIO(decode_csv(body), newline=""))
        result = ImportResult()
        batch: list[Account] = []
        try:
            # Reading the header can already fail (a huge first field), so it is inside the try.
            if not reader.fieldnames or "account_id" not in [f.strip() for f in reader.fieldnames]:
                raise BadRequest(
                    "the CSV needs a header row with an account_id column and the account fields"
                )
            for row in reader:
                fields = _row_fields(row)
                if not fields:
                    continue
                try:
                    batch.append(self.parse(str(fields.pop("account_id", "")), fields, False))
                except ValidationError as error:
                    result.errors.append(
                        {"line": reader.line_num, "error": error.message, "details": error.details}
                    )
                if len(batch) >= IMPORT_BATCH:
                    result.upserted += self._write(batch)
        except csv.Error as error:
            raise BadRequest(f"the file is not a valid CSV: {error}") from error
        result.upserted += self._write(batch)
        return result

    def _write(self, batch: list[Account]) -> int:
        unique = list({account.account_id: account for account in batch}.values())
        self.directory.put_many(unique)
        batch.clear()
        return len(unique)


def _row_fields(row: dict[str | None, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key, value in row.items():
        if key is None or value is None:
            continue
        value = value.strip()
        if value == "":
            continue
        key = key.strip()
        fields[key] = (
            [v.strip() for v in value.replace(";", "|").split("|") if v.strip()]
            if key in LIST_FIELDS
            else value
        )
    return fields
