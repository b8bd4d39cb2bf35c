"""Amazon SES (v2 API) email sender."""

from __future__ import annotations

from email.utils import formataddr
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters.aws_errors import classify
from chalicelib.domain.models import OutgoingEmail, SenderIdentity, SendResult


class SesEmailSender:
    name = "ses"

    def __init__(
        self,
        client: Any,
        from_email: str,
        from_name: str,
        configuration_set: str = "",
        reply_to: str = "",
    ) -> None:
        self._client = client
        self._default_sender = SenderIdentity(from_email, from_name, reply_to or None)
        self._configuration_set = configuration_set

    def send(self, email: OutgoingEmail) -> SendResult:
        sender = email.sender or self._default_sender
        request: dict[str, Any] = {
            "FromEmailAddress": _address(sender.from_email, sender.from_name),
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
        if sender.reply_to:
            request["ReplyToAddresses"] = [sender.reply_to]
        if self._configuration_set:
            request["ConfigurationSetName"] = self._configuration_set
        try:
            response = self._client.send_email(**request)
        except (ClientError, BotoCoreError) as error:
            raise classify("SES", error) from error
        return SendResult(provider=self.name, provider_message_id=response["MessageId"])


def _address(email: str, name: str) -> str:
    # formataddr encodes a non-ASCII display name (RFC 2047), which SES requires.
    return formataddr((name, email)) if name else email
