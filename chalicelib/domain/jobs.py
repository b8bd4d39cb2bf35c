"""Jobs: work that can outlast an HTTP request runs on a worker; the client polls GET /jobs/{id}."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.errors import HeraldError, NotFound
from chalicelib.domain.models import Job, JobState, new_id, utc_now
from chalicelib.domain.ports import FileStore, JobQueue, JobStore

logger = logging.getLogger(__name__)

RESULT_URL_EXPIRES_S = 900


@dataclass(frozen=True)
class JobOutcome:
    result: dict[str, Any] | None = None
    result_key: str | None = None
    filename: str = "result.csv"


# A job kind's work: (job, progress(done, total)) → outcome. Domain errors end the job as failed.
JobRunner = Callable[[Job, Callable[[int, int | None], None]], JobOutcome]


@dataclass
class JobService:
    store: JobStore
    queue: JobQueue
    files: Callable[[], FileStore]
    runners: dict[str, JobRunner]

    def start(self, kind: str, params: dict[str, Any]) -> Job:
        if kind not in self.runners:
            raise ValueError(f"no runner for jobs of kind {kind}")
        job = Job(job_id=new_id(), kind=kind, params=params)
        self.store.create(job)
        self.queue.enqueue_job(job.job_id)
        return job

    def get_api(self, job_id: str) -> dict[str, Any]:
        job = self.store.get(job_id)
        if job is None:
            raise NotFound(f"job {job_id} not found")
        url = None
        if job.state is JobState.DONE and job.result_key:
            filename = str(job.params.get("filename", "result.csv"))
            url = self.files().download_url(job.result_key, RESULT_URL_EXPIRES_S, filename)
        return job.to_api(result_url=url)

    def run(self, job_id: str) -> None:
        """Run a queued job; a redelivered job that already finished is left alone."""
        job = self.store.get(job_id)
        if job is None or job.state in (JobState.DONE, JobState.FAILED):
            return
        job.state, job.updated_at = JobState.RUNNING, utc_now()
        self.store.update(job)

        def progress(done: int, total: int | None) -> None:
            job.done, job.total, job.updated_at = done, total, utc_now()
            self.store.update(job)

        try:
            outcome = self.runners[job.kind](job, progress)
        except HeraldError as error:
            job.state, job.error = JobState.FAILED, error.message
        except Exception:
            job.state, job.error = JobState.FAILED, "the job failed on our side; start it again"
            job.updated_at = utc_now()
            self.store.update(job)
            raise
        else:
            job.state, job.result, job.result_key = JobState.DONE, outcome.result, outcome.result_key
            job.total = job.total if job.total is not None else job.done
        job.updated_at = utc_now()
        self.store.update(job)
