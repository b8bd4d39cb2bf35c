"""The one place where AWS clients, adapters and services are built: lazily, once per container."""

from __future__ import annotations

import logging
import time
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any

from chalicelib.settings import Settings, get_settings

logger = logging.getLogger(__name__)
# Signs unsubscribe links locally (HERALD_AUTH_MODE=dev) when no key is set; deployed stages use a secret.
DEV_UNSUBSCRIBE_KEY = "herald-dev-unsubscribe-key"

if TYPE_CHECKING:
    from chalicelib.adapters.event_files import S3EventFiles
    from chalicelib.adapters.events_queue import SqsDeliveryEventQueue
    from chalicelib.adapters.webhooks import DeliveryWebhooks
    from chalicelib.domain.accounts import AccountService
    from chalicelib.domain.audiences import AudienceService
    from chalicelib.domain.communications import CommunicationService
    from chalicelib.domain.control import SendControl
    from chalicelib.domain.delivery import DeliveryTracker
    from chalicelib.domain.erasure import ErasureService
    from chalicelib.domain.exports import ExportService
    from chalicelib.domain.followup import FollowUpService
    from chalicelib.domain.jobs import JobService
    from chalicelib.domain.operator_settings import OperatorSettings, SettingsService
    from chalicelib.domain.optout import OptOutService, UnsubscribeLinks, UnsubscribeSigner
    from chalicelib.domain.ports import Clock, EmailSender, FileStore, Metrics, SmsSender
    from chalicelib.domain.ratelimit import RateLimiter
    from chalicelib.domain.reconciliation import Reconciler
    from chalicelib.domain.review import ReviewService
    from chalicelib.domain.scheduling import Scheduler
    from chalicelib.domain.sending import Planner, Sender
    from chalicelib.domain.sweep import Sweeper
    from chalicelib.domain.templates import TemplateService


class Services:
    """Clients are created on first use, so a cold start pays only for what its handler touches."""

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        if clock is None:
            from chalicelib.domain.clock import SystemClock

            clock = SystemClock()
        self.clock: Clock = clock
        self._secret_values: dict[str, tuple[float, str]] = {}
        self._logged_once: set[str] = set()

    def _client(self, service: str) -> Any:
        import boto3
        from botocore.config import Config

        # Parameters are built by the adapters, not taken from users; AWS validates them anyway,
        # and checking them here costs CPU on every call (a send worker's busiest work).
        config = Config(
            retries={"max_attempts": 5, "mode": "adaptive"},
            max_pool_connections=20,
            parameter_validation=False,
        )
        return boto3.session.Session().client(service, region_name=self.settings.region, config=config)

    def _provider_client(self, service: str) -> Any:
        """A provider client that never retries by itself: a retried send after a read timeout
        could deliver twice. The sender retries by error class (domain/sending.py)."""
        import boto3
        from botocore.config import Config

        config = Config(
            retries={"total_max_attempts": 1},
            connect_timeout=5,
            read_timeout=20,
            # A connection for each of a send worker's calls in flight.
            max_pool_connections=max(10, self.settings.send_concurrency),
            parameter_validation=False,
        )
        return boto3.session.Session().client(service, region_name=self.settings.region, config=config)

    @cached_property
    def sesv2(self) -> Any:
        return self._provider_client("sesv2")

    @cached_property
    def sns(self) -> Any:
        return self._provider_client("sns")

    @cached_property
    def dynamodb(self) -> Any:
        from chalicelib.adapters.dynamodb.common import wire_json_client

        return wire_json_client(self._client("dynamodb"))

    @cached_property
    def sqs(self) -> Any:
        return self._client("sqs")

    @cached_property
    def secretsmanager(self) -> Any:
        return self._client("secretsmanager")

    def provider_key(self, name: str) -> str:
        """A provider key setting (e.g. "sendgrid_webhook_public_key"): its own value when set (local,
        tests), else the Secrets Manager secret named by its `<name>_secret` setting (deployed).

        Secret values are reused for `secret_max_age_s`, so a rotated key is picked up within that
        time without a redeploy. A secret the stack created but nobody filled in yet reads as "".
        """
        value: str = getattr(self.settings, name)
        secret_id: str = getattr(self.settings, f"{name}_secret")
        if value or not secret_id:
            return value
        now = time.monotonic()
        cached = self._secret_values.get(secret_id)
        if cached is not None and now - cached[0] < self.settings.secret_max_age_s:
            return cached[1]
        from botocore.exceptions import ClientError

        try:
            value = str(self.secretsmanager.get_secret_value(SecretId=secret_id).get("SecretString", ""))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
            value = ""
        self._secret_values[secret_id] = (now, value)
        return value

    @cached_property
    def metrics(self) -> Metrics:
        from chalicelib.adapters.metrics import EmfMetrics

        s = self.settings
        return EmfMetrics(
            s.metrics_namespace, s.service_name, write=print if s.metrics_sink == "emf" else None
        )

    @cached_property
    def directory(self) -> Any:
        from chalicelib.adapters.dynamodb.accounts import DynamoAccountDirectory

        return DynamoAccountDirectory(self.dynamodb, self.settings.accounts_table)

    @cached_property
    def communication_store(self) -> Any:
        from chalicelib.adapters.dynamodb.communications import DynamoCommunicationStore

        s = self.settings
        return DynamoCommunicationStore(self.dynamodb, s.communications_table, s.audiences_table)

    @cached_property
    def audience_store(self) -> Any:
        from chalicelib.adapters.dynamodb.audiences import DynamoAudienceStore

        return DynamoAudienceStore(self.dynamodb, self.settings.audiences_table)

    @cached_property
    def ledger(self) -> Any:
        from chalicelib.adapters.dynamodb.ledger import DynamoSendLedger

        s = self.settings
        return DynamoSendLedger(self.dynamodb, s.audiences_table, s.communications_table, s.messages_table)

    @cached_property
    def rate_limiter(self) -> RateLimiter:
        from chalicelib.adapters.dynamodb.ratelimit import DynamoRateLimitStore
        from chalicelib.domain.operator_settings import ProviderCeilings
        from chalicelib.domain.ratelimit import RateLimiter

        s = self.settings
        return RateLimiter(
            DynamoRateLimitStore(self.dynamodb, s.audiences_table),
            ProviderCeilings(self.operator_settings.current),
            self.clock,
            block=s.rate_block,
            urgent_reserve=s.urgent_reserve,
            parallel_calls=s.send_concurrency,
        )

    @cached_property
    def message_store(self) -> Any:
        from chalicelib.adapters.dynamodb.messages import DynamoMessageStore

        return DynamoMessageStore(
            self.dynamodb,
            self.settings.messages_table,
            retention_seconds=lambda: self.operator_settings.current().retention_seconds,
        )

    @cached_property
    def audit_log(self) -> Any:
        from chalicelib.adapters.dynamodb.audit import DynamoAuditLog

        return DynamoAuditLog(self.dynamodb, self.settings.audit_table)

    @cached_property
    def settings_store(self) -> Any:
        from chalicelib.adapters.dynamodb.settings import DynamoSettingsStore

        return DynamoSettingsStore(self.dynamodb, self.settings.settings_table)

    @cached_property
    def operator_settings(self) -> SettingsService:
        from chalicelib.domain.operator_settings import SettingsService

        return SettingsService(
            store=self.settings_store,
            defaults=lambda: self.operator_defaults,
            audit=self.audit_log,
            cache_ttl_s=self.settings.settings_cache_s,
        )

    @cached_property
    def operator_defaults(self) -> OperatorSettings:
        # Validated with the API's own rules; only built while no admin has saved settings yet.
        from chalicelib.api.schemas import operator_defaults

        return operator_defaults(self.settings)

    @cached_property
    def work_queue(self) -> Any:
        from chalicelib.adapters.queue import SqsWorkQueue

        s = self.settings
        return SqsWorkQueue(self.sqs, s.plan_queue, s.send_queue, s.urgent_send_queue)

    @cached_property
    def email_sender(self) -> EmailSender:
        s = self.settings
        if s.email_provider == "sendgrid":
            from chalicelib.adapters.email.sendgrid import SendGridEmailSender

            key = self.provider_key("sendgrid_api_key")
            return SendGridEmailSender(self.http, s.sendgrid_base_url, key, s.from_email, s.from_name)
        if s.email_provider == "mailgun":
            from chalicelib.adapters.email.mailgun import MailgunEmailSender

            key = self.provider_key("mailgun_api_key")
            return MailgunEmailSender(
                self.http, s.mailgun_base_url, s.mailgun_domain, key, s.from_email, s.from_name
            )
        if s.email_provider != "ses":
            raise ValueError(
                f"HERALD_EMAIL_PROVIDER must be ses, sendgrid or mailgun, not {s.email_provider!r}"
            )
        from chalicelib.adapters.email.ses import SesEmailSender

        return SesEmailSender(
            self.sesv2, s.from_email, s.from_name, s.ses_configuration_set, reply_to=s.reply_to
        )

    @cached_property
    def sms_sender(self) -> SmsSender:
        s = self.settings
        if s.sms_provider == "twilio":
            from chalicelib.adapters.sms.twilio import TwilioSmsSender

            return TwilioSmsSender(
                self.http,
                s.twilio_base_url,
                s.twilio_account_sid,
                self.provider_key("twilio_auth_token"),
                s.twilio_from,
                s.twilio_messaging_service_sid,
                s.public_url,
            )
        if s.sms_provider == "eum":
            from chalicelib.adapters.sms.eum import EumSmsSender

            return EumSmsSender(
                self._client("pinpoint-sms-voice-v2"), s.eum_origination_identity, s.eum_configuration_set
            )
        if s.sms_provider != "sns":
            raise ValueError(f"HERALD_SMS_PROVIDER must be sns, eum or twilio, not {s.sms_provider!r}")
        from chalicelib.adapters.sms.sns import SnsSmsSender

        # The provider client: it never retries a Publish by itself (a retry could send twice).
        return SnsSmsSender(self.sns, s.sms_sender_id)

    # -- delivery tracking -----------------------------------------------------------------------

    @cached_property
    def http(self) -> Any:
        """One pooled HTTP client for every provider's REST API."""
        from chalicelib.adapters.http import pool

        return pool(self.settings.http_timeout_s)

    @cached_property
    def suppression_list(self) -> Any:
        from chalicelib.adapters.dynamodb.deliveries import DynamoSuppressionList

        return DynamoSuppressionList(self.dynamodb, self.settings.suppressions_table)

    @cached_property
    def delivery_store(self) -> Any:
        from chalicelib.adapters.dynamodb.deliveries import DynamoDeliveryStore

        s = self.settings
        return DynamoDeliveryStore(
            self.dynamodb,
            s.messages_table,
            s.communications_table,
            s.audiences_table,
            s.delivery_events_table,
            s.event_retention_days,
            clock=self.clock,
        )

    @cached_property
    def delivery_tracker(self) -> DeliveryTracker:
        from chalicelib.adapters.dynamodb.deliveries import DynamoEventLog
        from chalicelib.domain.delivery import DeliveryTracker

        s = self.settings
        return DeliveryTracker(
            store=self.delivery_store,
            log=DynamoEventLog(self.dynamodb, s.delivery_events_table, s.event_retention_days),
            suppressions=self.suppression_list,
            early=self.delivery_event_queue,
            max_attempts=s.early_event_attempts,
            provider_ids=self.provider_id_index if s.index_provider_ids else None,
            proofs=self.reconciler,
        )

    @cached_property
    def delivery_event_queue(self) -> SqsDeliveryEventQueue:
        from chalicelib.adapters.events_queue import SqsDeliveryEventQueue

        s = self.settings
        return SqsDeliveryEventQueue(self.sqs, s.events_queue, s.early_event_delay_s)

    @cached_property
    def provider_id_index(self) -> Any:
        from chalicelib.adapters.dynamodb.deliveries import DynamoProviderIdIndex

        s = self.settings
        return DynamoProviderIdIndex(self.dynamodb, s.delivery_events_table, s.event_retention_days)

    def _recorded_messages(self) -> Any:
        """Where the sender records messages: also indexed by provider id for the providers that need it."""
        from chalicelib.adapters.dynamodb.deliveries import IndexedMessageStore

        providers = set(self.settings.index_provider_ids)
        if {self.settings.email_provider, self.settings.sms_provider} & providers:
            return IndexedMessageStore(self.message_store, self.provider_id_index, providers)
        return self.message_store

    def _fetch_from_sns(self, url: str) -> bytes:
        """GET a URL that the caller has already checked is on sns.<region>.amazonaws.com."""
        response = self.http.request("GET", url)
        if response.status != 200:
            raise ValueError(f"SNS answered {response.status} for {url}")
        return bytes(response.data)

    @cached_property
    def webhooks(self) -> DeliveryWebhooks:
        from chalicelib.adapters.dynamodb.deliveries import DynamoReplayGuard
        from chalicelib.adapters.sns_events import SnsMessageVerifier
        from chalicelib.adapters.webhooks import DeliveryWebhooks

        s = self.settings
        return DeliveryWebhooks(
            inbox=self.delivery_event_queue,
            credential=self.provider_key,
            replay_guard=DynamoReplayGuard(self.dynamodb, s.delivery_events_table),
            sns_verifier=SnsMessageVerifier(s.events_topic_arns, self._fetch_from_sns),
            sns_confirm=self._fetch_from_sns,
            public_url=s.public_url,
            mailgun_max_age_s=s.mailgun_max_age_s,
            inbound_sms=lambda sms: self.opt_out.inbound_sms(sms),
        )

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
            ledger=self.ledger,
            clock=self.clock,
            watch_interval_s=self.settings.watch_interval_s,
            audit=self.audit_log,
            operator_settings=self.operator_settings.get,
            templates=self.template_store,
        )

    @cached_property
    def followup(self) -> FollowUpService:
        from chalicelib.domain.followup import FollowUpService

        return FollowUpService(
            communications=self.communications,
            store=self.communication_store,
            audiences=self.audience_store,
            messages=self.message_store,
            audience_chunk_size=self.settings.audience_chunk_size,
        )

    @cached_property
    def scheduler(self) -> Scheduler:
        from chalicelib.domain.scheduling import Scheduler

        return Scheduler(communications=self.communication_store, service=self.communications)

    @cached_property
    def planner(self) -> Planner:
        from chalicelib.domain.sending import Planner

        return Planner(
            communications=self.communication_store,
            audiences=self.audience_store,
            directory=self.directory,
            ledger=self.ledger,
            queue=self.work_queue,
            clock=self.clock,
            task_size=self.settings.send_task_size,
            chunks_per_run=self.settings.planner_chunks_per_run,
            window_tasks=self.settings.planner_window_tasks,
        )

    @cached_property
    def sender(self) -> Sender:
        from chalicelib.domain.sending import CommunicationCache, Sender, SendPolicy

        s = self.settings
        return Sender(
            communications=self.communication_store,
            directory=self.directory,
            messages=self._recorded_messages(),
            ledger=self.ledger,
            queue=self.work_queue,
            email_sender=lambda: self.email_sender,
            sms_sender=lambda: self.sms_sender,
            suppressions=self.suppression_list,
            limiter=self.rate_limiter,
            clock=self.clock,
            policy=SendPolicy(
                window=s.send_window,
                concurrency=s.send_concurrency,
                lease_s=s.send_lease_s,
                reconcile_window_s=s.reconcile_window_s,
                handback_margin_s=s.handback_margin_s,
                attempts=s.send_attempts,
                base_delay_s=s.retry_base_delay_s,
                max_delay_s=s.retry_max_delay_s,
                planning_low_water=s.planner_window_tasks // 2,
            ),
            cache=CommunicationCache(self.communication_store, self.clock, s.status_cache_s),
            identity=lambda: self.operator_settings.current().identity,
            metrics=self.metrics,
            contact=lambda: self.operator_settings.current().contact_defaults,
            unsubscribe_links=self.unsubscribe_links,
        )

    # -- opting out and erasure ------------------------------------------------------------------

    def unsubscribe_signer(self) -> UnsubscribeSigner:
        """The signer of unsubscribe links, with the key re-read from its secret as provider keys are."""
        from datetime import timedelta

        from chalicelib.domain.optout import UnsubscribeSigner

        key = self.provider_key("unsubscribe_key")
        if not key and self.settings.auth_mode == "dev":
            key = DEV_UNSUBSCRIBE_KEY
        if not key:
            raise RuntimeError("no unsubscribe key (HERALD_UNSUBSCRIBE_KEY or HERALD_UNSUBSCRIBE_KEY_SECRET)")
        return UnsubscribeSigner(key.encode(), ttl=timedelta(days=self.settings.unsubscribe_link_days))

    def _error_once(self, message: str) -> None:
        """A misconfiguration, logged once per container rather than once per message."""
        if message not in self._logged_once:
            self._logged_once.add(message)
            logger.error(message)

    def unsubscribe_links(self) -> UnsubscribeLinks | None:
        """Where unsubscribe links point; None (no links, logged) without a public URL or a key."""
        from chalicelib.domain.optout import UnsubscribeLinks

        s = self.settings
        try:
            signer = self.unsubscribe_signer()
        except RuntimeError:
            self._error_once("emails go out without unsubscribe links: no unsubscribe key is configured")
            return None
        if not s.public_url:
            self._error_once("emails go out without unsubscribe links: HERALD_PUBLIC_URL is not set")
            return None
        return UnsubscribeLinks(signer, s.public_url, s.unsubscribe_mailto or None)

    @cached_property
    def opt_out(self) -> OptOutService:
        from chalicelib.domain.optout import OptOutService

        return OptOutService(
            signer=self.unsubscribe_signer,
            suppressions=self.suppression_list,
            messages=self.message_store,
            directory=self.directory,
            audit=self.audit_log,
        )

    @cached_property
    def erasure(self) -> ErasureService:
        from chalicelib.adapters.dynamodb.erasure import DynamoPersonalRecords
        from chalicelib.domain.erasure import ErasureService

        s = self.settings
        return ErasureService(
            directory=self.directory,
            records=DynamoPersonalRecords(
                self.dynamodb, s.messages_table, s.delivery_events_table, s.communications_table
            ),
            audit=self.audit_log,
        )

    @cached_property
    def files(self) -> FileStore:
        from chalicelib.adapters.files import S3FileStore

        return S3FileStore(self._client("s3"), self.settings.files_bucket)

    @cached_property
    def event_files(self) -> S3EventFiles:
        from chalicelib.adapters.event_files import S3EventFiles

        return S3EventFiles(self._client("s3"), self.settings.events_bucket)

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
            audit=self.audit_log,
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

    @cached_property
    def reconciler(self) -> Reconciler:
        """`services().reconciler.reconcile_from_event(comm_id, message_id, provider_message_id)`."""
        from chalicelib.domain.reconciliation import Reconciler

        return Reconciler(self.ledger, self.message_store, self.communication_store)

    @cached_property
    def control(self) -> SendControl:
        from chalicelib.domain.control import SendControl

        return SendControl(self.communication_store, self.ledger, self.work_queue, self.clock, self.audit_log)

    @cached_property
    def sweeper(self) -> Sweeper:
        from chalicelib.domain.sweep import Sweeper, SweepPolicy

        s = self.settings
        return Sweeper(
            ledger=self.ledger,
            reconciler=self.reconciler,
            communications=self.communication_store,
            audiences=self.audience_store,
            queue=self.work_queue,
            clock=self.clock,
            tallies=self.delivery_store,
            policy=SweepPolicy(
                lease_s=s.send_lease_s,
                plan_stall_s=s.plan_stall_s,
                watch_interval_s=s.watch_interval_s,
                planning_low_water=s.planner_window_tasks // 2,
            ),
        )


@lru_cache(maxsize=1)
def services() -> Services:
    return Services(get_settings())
