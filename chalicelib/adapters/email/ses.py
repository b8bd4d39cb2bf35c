"""Amazon SES (v2 API) email sender."""

from __future__ import annotations

from email.utils import formataddr
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters.aws_errors import classify
from chalicelib.domain.models import OutgoingEmail, SendResult


class SesEmailSender:
    name = "ses"

    def __init__(self, client: Any, from_email: str, from_name: str, configuration_set: str = "") -> None:
        self._client = client
        self._from = formataddr((from_name, from_email)) if from_name else from_email
        self._configuration_set = configuration_set

    def send(self, email: OutgoingEmail) -> SendResult:
        request: dict[str, Any] = {
            "FromEmailAddress": self._from,
            "Destination": {"ToAddresses": [email.to]},
            "Content": {
                "Simple": {
                    "Subject": {"Data": email.subject, "Charset": "UTF-8"},
                    "Body": {
                        "Html": {"Data": email.html, "Charset": "UTF-8"},
                        "Text": {"Data": email.text, "Charset": "UTF-8"},
                    },
                }
            },
            # SES events carry these tags, so each event maps back to its message by key.
            "EmailTags": [{"Name": f"herald_{k}", "Value": v} for k, v in email.tags.items()],
        }
        if self._configuration_set:
            request["ConfigurationSetName"] = self._configuration_set
        try:
            response = self._client.send_email(**request)
        except (ClientError, BotoCoreError) as error:
            raise classify("SES", error) from error
        return SendResult(provider=self.name, provider_message_id=response["MessageId"])
