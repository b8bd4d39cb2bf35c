"""The one place where AWS clients, adapters and services are built: lazily, once per container."""

from __future__ import annotations

from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any

from chalicelib.settings import Settings, get_settings

if TYPE_CHECKING:
    from chalicelib.domain.accounts import AccountService
    from chalicelib.domain.audiences import AudienceService
    from chalicelib.domain.communications import CommunicationService
    from chalicelib.domain.exports import ExportService
    from chalicelib.domain.jobs import JobService
    from chalicelib.domain.ports import EmailSender, FileStore, SmsSender
    from chalicelib.domain.review import ReviewService
    from chalicelib.domain.sending import Planner, Sender
    from chalicelib.domain.templates import TemplateService


class Services:
    """Clients are created on first use, so a cold start pays only for what its handler touches."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _client(self, service: str) -> Any:
        import boto3
        from botocore.config import Config

        config = Config(retries={"max_attempts": 5, "mode": "adaptive"}, max_pool_connections=20)
        return boto3.session.Session().client(service, region_name=self.settings.region, config=config)

    @cached_property
    def dynamodb(self) -> Any:
        return self._client("dynamodb")

    @cached_property
    def sqs(self) -> Any:
        return self._client("sqs")

    @cached_property
    def directory(self) -> Any:
        from chalicelib.adapters.dynamodb.accounts import DynamoAccountDirectory

        return DynamoAccountDirectory(self.dynamodb, self.settings.accounts_table)

    @cached_property
    def communication_store(self) -> Any:
        from chalicelib.adapters.dynamodb.communications import DynamoCommunicationStore

        return DynamoCommunicationStore(self.dynamodb, self.settings.communications_table)

    @cached_property
    def audience_store(self) -> Any:
        from chalicelib.adapters.dynamodb.audiences import DynamoAudienceStore

        return DynamoAudienceStore(self.dynamodb, self.settings.audiences_table)

    @cached_property
    def ledger(self) -> Any:
        from chalicelib.adapters.dynamodb.audiences import DynamoSendLedger

        return DynamoSendLedger(
            self.dynamodb, self.settings.audiences_table, self.settings.communications_table
        )

    @cached_property
    def message_store(self) -> Any:
        from chalicelib.adapters.dynamodb.messages import DynamoMessageStore

        return DynamoMessageStore(self.dynamodb, self.settings.messages_table)

    @cached_property
    def work_queue(self) -> Any:
        from chalicelib.adapters.queue import SqsWorkQueue

        return SqsWorkQueue(self.sqs, self.settings.plan_queue, self.settings.send_queue)

    @cached_property
    def email_sender(self) -> EmailSender:
        from chalicelib.adapters.email.ses import SesEmailSender

        s = self.settings
        return SesEmailSender(self._client("sesv2"), s.from_email, s.from_name, s.ses_configuration_set)

    @cached_property
    def sms_sender(self) -> SmsSender:
        from chalicelib.adapters.sms.sns import SnsSmsSender

        return SnsSmsSender(self._client("sns"), self.settings.sms_sender_id)

    @cached_property
    def accounts(self) -> AccountService:
        from chalicelib.api.schemas import parse_account
        from chalicelib.domain.accounts import AccountService

        return AccountService(self.directory, parse_account)

    @cached_property
    def communications(self) -> CommunicationService:
        from chalicelib.domain.communications import CommunicationService

        return CommunicationService(
            communications=self.communication_store,
            audiences=self.audience_store,
            directory=self.directory,
            messages=self.message_store,
            queue=self.work_queue,
            audience_chunk_size=self.settings.audience_chunk_size,
            templates=self.template_store,
        )

    @cached_property
    def planner(self) -> Planner:
        from chalicelib.domain.sending import Planner

        return Planner(
            communications=self.communication_store,
            audiences=self.audience_store,
            directory=self.directory,
            ledger=self.ledger,
            queue=self.work_queue,
            task_size=self.settings.send_task_size,
            chunks_per_run=self.settings.planner_chunks_per_run,
        )

    @cached_property
    def sender(self) -> Sender:
        from chalicelib.domain.sending import Sender

        return Sender(
            communications=self.communication_store,
            directory=self.directory,
            messages=self.message_store,
            ledger=self.ledger,
            email_sender=lambda: self.email_sender,
            sms_sender=lambda: self.sms_sender,
        )

    @cached_property
    def files(self) -> FileStore:
        from chalicelib.adapters.files import S3FileStore

        return S3FileStore(self._client("s3"), self.settings.files_bucket)

    @cached_property
    def template_store(self) -> Any:
        from chalicelib.adapters.dynamodb.templates import DynamoTemplateStore

        return DynamoTemplateStore(self.dynamodb, self.settings.templates_table)

    @cached_property
    def templates(self) -> TemplateService:
        from chalicelib.domain.templates import TemplateService

        return TemplateService(self.template_store)

    @cached_property
    def audience(self) -> AudienceService:
        from chalicelib.domain.audiences import AudienceService

        return AudienceService(
            communications=self.communication_store,
            audiences=self.audience_store,
            directory=self.directory,
            files=lambda: self.files,
            chunk_size=self.settings.audience_chunk_size,
            max_upload_bytes=self.settings.max_upload_bytes,
        )

    @cached_property
    def review(self) -> ReviewService:
        from chalicelib.domain.review import ReviewService

        return ReviewService(
            communications=self.communication_store,
            audiences=self.audience_store,
            directory=self.directory,
            sender=self.sender,
            email_sender=lambda: self.email_sender,
            sms_sender=lambda: self.sms_sender,
        )

    @cached_property
    def exports(self) -> ExportService:
        from chalicelib.domain.exports import ExportService

        return ExportService(
            directory=self.directory,
            jobs=lambda: self.jobs,
            files=lambda: self.files,
            direct_max_rows=self.settings.export_direct_max_rows,
        )

    @cached_property
    def jobs(self) -> JobService:
        from chalicelib.adapters.dynamodb.jobs import DynamoJobStore
        from chalicelib.adapters.queue import SqsJobQueue
        from chalicelib.domain.exports import EXPORT_JOB
        from chalicelib.domain.jobs import JobOutcome, JobService

        def dry_run(job: Any, progress: Any) -> JobOutcome:
            return JobOutcome(result=self.review.dry_run(job.params["comm_id"], progress))

        return JobService(
            store=DynamoJobStore(self.dynamodb, self.settings.jobs_table),
            queue=SqsJobQueue(self.sqs, self.settings.jobs_queue),
            files=lambda: self.files,
            runners={EXPORT_JOB: self.exports.run_job, "dry_run": dry_run},
        )


@lru_cache(maxsize=1)
def services() -> Services:
    return Services(get_settings())
