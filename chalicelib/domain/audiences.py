"""Setting a draft's audience: from a CSV body, from an uploaded file (by a worker), or from a filter.

Whatever the source, the audience is frozen as account ids in chunks of `chunk_size` (the
planner reads them back one chunk at a time), and the communication's `audience` summary says
where it stands: `importing` while chunks are written (sending is refused meanwhile), then
`ready`, or `failed` with the reason. Bad input changes nothing: every line is checked before
the first chunk is written.
"""

from __future__ import annotations

import csv
import logging
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from chalicelib.domain.audience import AudienceImport, AudienceReader, chunked, spreadsheet_safe
from chalicelib.domain.errors import Conflict, NotFound, ValidationError
from chalicelib.domain.models import (
    AUDIENCE_IMPORTER,
    Admin,
    AudienceSummary,
    AuditAction,
    AuditEntry,
    Communication,
    CommunicationStatus,
    iso,
    new_id,
)
from chalicelib.domain.ports import (
    AccountDirectory,
    AccountFilter,
    AudienceStore,
    AuditLog,
    CommunicationStore,
    FileStore,
)

logger = logging.getLogger(__name__)

UPLOAD_PREFIX = "audience-uploads/"
ERRORS_PREFIX = "audience-errors/"
ERRORS_HEADER = ["line", "value", "error"]


class RejectedLines:
    """Every rejected line, kept on local disk (not in memory) until it is stored as a CSV file."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile("w+", encoding="utf-8", newline="")  # noqa: SIM115 (closed by close())
        self._writer = csv.writer(self._file)
        self._writer.writerow(ERRORS_HEADER)

    def add(self, line: int, value: str, error: str) -> None:
        self._writer.writerow([line, spreadsheet_safe(value), error])

    def lines(self) -> Iterator[str]:
        self._file.flush()
        self._file.seek(0)
        yield from self._file

    def close(self) -> None:
        self._file.close()


def comm_id_from_upload_key(key: str) -> str | None:
    """The communication an uploaded file is for: audience-uploads/<comm_id>/<upload_id>.csv."""
    if not key.startswith(UPLOAD_PREFIX):
        return None
    parts = key[len(UPLOAD_PREFIX) :].split("/")
    return parts[0] if len(parts) == 2 and parts[0] else None


@dataclass
class AudienceService:
    communications: CommunicationStore
    audiences: AudienceStore
    directory: AccountDirectory
    files: Callable[[], FileStore]
    audit: AuditLog
    chunk_size: int
    max_upload_bytes: int
    upload_expires_s: int = 900
    progress_every: int = 50_000

    # -- a CSV in the request body ------------------------------------------------------------

    def set_from_csv(self, comm_id: str, body: bytes | str, *, by: Admin) -> dict[str, Any]:
        """Replace a draft's audience with the accounts of a CSV; bad lines are reported, not taken."""
        draft = self._draft(comm_id)
        rejected = RejectedLines()
        try:
            result = AudienceReader(self.directory.statuses, on_rejection=rejected.add).read([body])
            if not result.accepted:
                raise ValidationError(
                    "the CSV names no existing active account, so the audience was left unchanged",
                    result.errors,
                )
            errors_key = self._store_rejections(comm_id, rejected) if result.errors_truncated else None
        finally:
            rejected.close()
        summary = _summary("csv", result, errors_key)
        self._write(draft, summary, result.accepted_ids())
        self._record(comm_id, by, summary)
        body_out = result.to_api()
        if errors_key:
            # More lines were rejected than the response lists: all of them are in this file.
            body_out["errors_url"] = summary.to_api(comm_id)["errors_url"]
        return body_out

    # -- a filter on account attributes -------------------------------------------------------

    def set_from_filter(self, comm_id: str, account_filter: AccountFilter, *, by: Admin) -> dict[str, Any]:
        """Replace a draft's audience with the accounts matching a filter (read from the indexes).

        Inactive accounts that match are kept: they are skipped at send time as
        `account_inactive` (an account may be reactivated before then), and a dry run counts them.
        """
        draft = self._draft(comm_id)
        if account_filter.is_empty():
            raise ValidationError(
                "the filter selects nothing: give service_area, network_provider or segment values",
                [{"field": "filter", "error": "empty"}],
            )
        matching = self.directory.ids_matching(account_filter)
        first = next(matching, None)
        if first is None:
            raise ValidationError(
                "no account matches the filter, so the audience was left unchanged",
                [{"field": "filter", "error": "no match"}],
            )
        counter = _Counter()
        summary = AudienceSummary(source="filter", filter=account_filter.to_api())
        self._write(draft, summary, counter.count(_prepend(first, matching)), counter)
        self._record(comm_id, by, replace(summary, accepted=counter.value))
        return {
            "accepted": counter.value,
            "duplicates": 0,
            "rejected": 0,
            "errors": [],
            "filter": account_filter.to_api(),
        }

    # -- a large CSV through S3 ----------------------------------------------------------------

    def upload_url(self, comm_id: str, *, by: Admin) -> dict[str, Any]:
        """A presigned form upload for a large CSV; the import worker picks the file up when it lands."""
        self._draft(comm_id)
        key = f"{UPLOAD_PREFIX}{comm_id}/{new_id()}.csv"
        ticket = self.files().upload_ticket(key, self.max_upload_bytes, self.upload_expires_s)
        # Who uploads: the import that follows is recorded by the worker, which knows no admin.
        self.audit.record(
            AuditEntry.for_communication(comm_id, by, AuditAction.AUDIENCE, source="upload", upload_key=key)
        )
        return {
            "url": ticket.url,
            "fields": ticket.fields,
            "expires_at": iso(ticket.expires_at),
            "max_bytes": self.max_upload_bytes,
        }

    def import_upload(self, key: str) -> None:
        """Import an uploaded CSV (called by the worker when S3 reports the file)."""
        comm_id = comm_id_from_upload_key(key)
        communication = self.communications.get(comm_id) if comm_id else None
        if communication is None or communication.status is not CommunicationStatus.DRAFT:
            logger.warning("upload for no draft communication: ignored", extra={"key": key})
            return
        if communication.audience.upload_key == key and communication.audience.state in ("ready", "failed"):
            logger.info("upload already imported: a repeated notification", extra={"key": key})
            return
        previous_chunks = communication.audience.chunks
        importing = AudienceSummary(
            source="upload", state="importing", chunks=previous_chunks, upload_key=key
        )
        try:
            self.communications.set_audience(communication.comm_id, importing)
            self._import_upload(communication, key, importing)
        except Conflict:
            logger.warning("communication stopped being a draft during an import", extra={"key": key})

    def _import_upload(self, communication: Communication, key: str, importing: AudienceSummary) -> None:
        comm_id = communication.comm_id
        rejected = RejectedLines()

        def progress(result: AudienceImport) -> None:
            self.communications.set_audience(comm_id, _summary("upload", result, None, base=importing))

        reader = AudienceReader(
            self.directory.statuses,
            on_rejection=rejected.add,
            on_progress=progress,
            progress_every=self.progress_every,
        )
        try:
            result = reader.read(self.files().read_chunks(key))
            errors_key = self._store_rejections(comm_id, rejected) if result.rejected else None
        except ValidationError as error:
            self._fail(comm_id, importing, error.message)
            return
        except FileNotFoundError:
            self._fail(comm_id, importing, "the uploaded file is gone; upload it again")
            return
        except Exception:
            self._fail(comm_id, importing, "the import failed on our side; it will be retried")
            raise
        finally:
            rejected.close()
        summary = _summary("upload", result, errors_key, base=importing)
        if not result.accepted:
            self.communications.set_audience(
                comm_id,
                replace(summary, state="failed", error="the file names no existing active account"),
            )
            return
        self._write(communication, summary, result.accepted_ids())
        # The worker acts for whoever uploaded the file; the trail names the import itself.
        self._record(comm_id, AUDIENCE_IMPORTER, summary)

    def _fail(self, comm_id: str, importing: AudienceSummary, reason: str) -> None:
        self.communications.set_audience(comm_id, replace(importing, state="failed", error=reason))

    # -- the rejected lines, as a file ---------------------------------------------------------

    def errors_download_url(self, comm_id: str) -> str:
        communication = self._get(comm_id)
        if not communication.audience.errors_key:
            raise NotFound("this audience has no list of rejected lines")
        return self.files().download_url(
            communication.audience.errors_key, self.upload_expires_s, "audience-rejected-lines.csv"
        )

    def _store_rejections(self, comm_id: str, rejected: RejectedLines) -> str:
        key = f"{ERRORS_PREFIX}{comm_id}/{new_id()}.csv"
        self.files().write_lines(key, rejected.lines(), "text/csv")
        return key

    # -- writing the chunks --------------------------------------------------------------------

    def _write(
        self,
        communication: Communication,
        summary: AudienceSummary,
        ids: Iterable[str],
        counter: _Counter | None = None,
    ) -> None:
        """Freeze the ids as the audience: `importing` while chunks are written, then `summary`, ready.

        With a `counter`, the accepted count is the number of ids written.
        """
        comm_id = communication.comm_id
        previous_chunks = communication.audience.chunks
        importing = replace(summary, state="importing", chunks=previous_chunks)
        self.communications.set_audience(comm_id, importing)
        try:
            written = self.audiences.replace(comm_id, chunked(ids, self.chunk_size), previous_chunks)
        except Exception:
            failed = replace(importing, state="failed", error="storing the audience failed")
            self.communications.set_audience(comm_id, failed)
            raise
        ready = replace(summary, state="ready", chunks=written, error=None)
        if counter is not None:
            ready.accepted = counter.value
        self.communications.set_audience(comm_id, ready)

    def _record(self, comm_id: str, actor: Admin, summary: AudienceSummary) -> None:
        details: dict[str, Any] = {
            "source": summary.source,
            "accepted": summary.accepted,
            "duplicates": summary.duplicates,
            "rejected": summary.rejected,
        }
        if summary.filter is not None:
            details["filter"] = summary.filter
        self.audit.record(AuditEntry.for_communication(comm_id, actor, AuditAction.AUDIENCE, **details))

    def _get(self, comm_id: str) -> Communication:
        communication = self.communications.get(comm_id)
        if communication is None:
            raise NotFound(f"communication {comm_id} not found")
        return communication

    def _draft(self, comm_id: str) -> Communication:
        communication = self._get(comm_id)
        if communication.status is CommunicationStatus.SCHEDULED:
            raise Conflict("a scheduled communication is frozen; unschedule it first to change it")
        if communication.status is CommunicationStatus.PENDING_APPROVAL:
            raise Conflict("this communication is waiting for approval; withdraw it first to change it")
        if communication.status is not CommunicationStatus.DRAFT:
            raise Conflict(f"only drafts can be changed; this communication is {communication.status}")
        return communication


def _summary(
    source: str, result: AudienceImport, errors_key: str | None, base: AudienceSummary | None = None
) -> AudienceSummary:
    return replace(
        base or AudienceSummary(),
        source=source,
        accepted=result.accepted,
        duplicates=result.duplicates,
        rejected=result.rejected,
        errors_key=errors_key,
    )


class _Counter:
    def __init__(self) -> None:
        self.value = 0

    def count(self, items: Iterable[str]) -> Iterator[str]:
        for item in items:
            self.value += 1
            yield item


def _prepend(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest
