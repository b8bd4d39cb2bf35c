"""The one place where AWS clients, adapters and services are built: lazily, once per container."""

from __future__ import annotations

from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any

from chalicelib.settings import Settings, get_settings

if TYPE_CHECKING:
    from chalicelib.adapters.webhooks import DeliveryWebhooks
    from chalicelib.domain.accounts import AccountService
    from chalicelib.domain.communications import CommunicationService
    from chalicelib.domain.delivery import DeliveryTracker
    from chalicelib.domain.followup import FollowUpService
    from chalicelib.domain.ports import EmailSender, SmsSender
    from chalicelib.domain.sending import Planner, Sender


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
        s = self.settings
        if s.email_provider == "sendgrid":
            from chalicelib.adapters.email.sendgrid import SendGridEmailSender

            key = self.credential("sendgrid_api_key")
            return SendGridEmailSender(self.http, s.sendgrid_base_url, key, s.from_email, s.from_name)
        if s.email_provider == "mailgun":
            from chalicelib.adapters.email.mailgun import MailgunEmailSender

            key = self.credential("mailgun_api_key")
            return MailgunEmailSender(
                self.http, s.mailgun_base_url, s.mailgun_domain, key, s.from_email, s.from_name
            )
        if s.email_provider != "ses":
            raise ValueError(
                f"HERALD_EMAIL_PROVIDER must be ses, sendgrid or mailgun, not {s.email_provider!r}"
            )
        from chalicelib.adapters.email.ses import SesEmailSender

        return SesEmailSender(self._client("sesv2"), s.from_email, s.from_name, s.ses_configuration_set)

    @cached_property
    def sms_sender(self) -> SmsSender:
        s = self.settings
        if s.sms_provider == "twilio":
            from chalicelib.adapters.sms.twilio import TwilioSmsSender

            return TwilioSmsSender(
                self.http,
                s.twilio_base_url,
                s.twilio_account_sid,
                self.credential("twilio_auth_token"),
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

        return SnsSmsSender(self._client("sns"), s.sms_sender_id)

    # -- delivery tracking -----------------------------------------------------------------------

    @cached_property
    def http(self) -> Any:
        """One pooled HTTP client for every provider's REST API."""
        from chalicelib.adapters.http import pool

        return pool(self.settings.http_timeout_s)

    def credential(self, name: str) -> str:
        """A provider credential: HERALD_<NAME> from the environment, else the provider secret."""
        return self.settings.credentials.get(name) or str(self._provider_secret.get(name, ""))

    @cached_property
    def _provider_secret(self) -> dict[str, Any]:
        if not self.settings.provider_secret_id:
            return {}
        import json

        response = self._client("secretsmanager").get_secret_value(SecretId=self.settings.provider_secret_id)
        secret = json.loads(response["SecretString"])
        return secret if isinstance(secret, dict) else {}

    @cached_property
    def suppression_list(self) -> Any:
        from chalicelib.adapters.dynamodb.deliveries import DynamoSuppressionList

        return DynamoSuppressionList(self.dynamodb, self.settings.suppressions_table)

    @cached_property
    def delivery_tracker(self) -> DeliveryTracker:
        from chalicelib.adapters.dynamodb.deliveries import DynamoDeliveryStore, DynamoEventLog
        from chalicelib.adapters.events_queue import SqsEarlyEventQueue
        from chalicelib.domain.delivery import DeliveryTracker

        s = self.settings
        return DeliveryTracker(
            store=DynamoDeliveryStore(
                self.dynamodb,
                s.messages_table,
                s.communications_table,
                s.delivery_events_table,
                s.event_retention_days,
            ),
            log=DynamoEventLog(self.dynamodb, s.delivery_events_table, s.event_retention_days),
            suppressions=self.suppression_list,
            early=SqsEarlyEventQueue(self.sqs, s.events_queue, s.early_event_delay_s),
            max_attempts=s.early_event_attempts,
            provider_ids=self.provider_id_index if s.index_provider_ids else None,
        )

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
            tracker=self.delivery_tracker,
            credential=self.credential,
            replay_guard=DynamoReplayGuard(self.dynamodb, s.delivery_events_table),
            sns_verifier=SnsMessageVerifier(s.events_topic_arns, self._fetch_from_sns),
            sns_confirm=self._fetch_from_sns,
            public_url=s.public_url,
            mailgun_max_age_s=s.mailgun_max_age_s,
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
            messages=self._recorded_messages(),
            ledger=self.ledger,
            email_sender=lambda: self.email_sender,
            sms_sender=lambda: self.sms_sender,
            suppressions=self.suppression_list,
        )


@lru_cache(maxsize=1)
def services() -> Services:
    return Services(get_settings())
