"""Account exports as CSV: the header `/accounts/import` reads, and the `account_id` column an
audience upload finds, so an export goes back in unchanged."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

from chalicelib.domain.audience import spreadsheet_safe
from chalicelib.domain.jobs import JobOutcome, JobService
from chalicelib.domain.models import Account, Job
from chalicelib.domain.ports import AccountDirectory, AccountFilter, FileStore

EXPORT_COLUMNS = (
    "account_id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "language",
    "channels",
    "status",
    "timezone",
    "service_area",
    "network_provider",
    "segment",
)
EXPORT_JOB = "accounts_export"
PROGRESS_EVERY = 10_000


def _row(account: Account) -> list[str]:
    values = account.to_api()
    values["channels"] = "|".join(values["channels"])
    return [spreadsheet_safe(str(values[column] or "")) for column in EXPORT_COLUMNS]


def csv_lines(accounts: Iterable[Account]) -> Iterator[str]:
    """The export, line by line (CRLF line ends, as RFC 4180 has them)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    for account in accounts:
        writer.writerow(_row(account))
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.getvalue():
        yield buffer.getvalue()


@dataclass
class ExportService:
    directory: AccountDirectory
    jobs: Callable[[], JobService]
    files: Callable[[], FileStore]
    direct_max_rows: int

    def export(self, account_filter: AccountFilter) -> str | Job:
        """The CSV itself when at most `direct_max_rows` accounts match, else a started job."""
        first = list(islice(self.directory.iter_accounts(account_filter), self.direct_max_rows + 1))
        if len(first) <= self.direct_max_rows:
            return "".join(csv_lines(first))
        params: dict[str, Any] = {"filter": account_filter.to_api(), "filename": "accounts.csv"}
        return self.jobs().start(EXPORT_JOB, params)

    def run_job(self, job: Job, progress: Callable[[int, int | None], None]) -> JobOutcome:
        account_filter = AccountFilter(**job.params.get("filter", {}))
        key = f"exports/{job.job_id}/accounts.csv"
        written = [0]

        def counted(accounts: Iterable[Account]) -> Iterator[Account]:
            for account in accounts:
                written[0] += 1
                if written[0] % PROGRESS_EVERY == 0:
                    progress(written[0], None)
                yield account

        self.files().write_lines(
            key, csv_lines(counted(self.directory.iter_accounts(account_filter))), "text/csv"
        )
        progress(written[0], written[0])
        return JobOutcome(result={"rows": written[0]}, result_key=key, filename="accounts.csv")
