"""Amazon SNS SMS sender (Publish to a phone number). AWS reports no delivery events for these."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters.aws_errors import classify
from chalicelib.domain.models import OutgoingSms, SendResult


class SnsSmsSender:
    name = "sns"

    def __init__(self, client: Any, sender_id: str = "") -> None:
        self._client = client
        self._default_sender = sender_id

    def send(self, sms: OutgoingSms) -> SendResult:
        try:
            response = self._client.publish(
                PhoneNumber=sms.to,
                Message=sms.body,
                MessageAttributes=_attributes(sms.sender_id or self._default_sender),
            )
        except (ClientError, BotoCoreError) as error:
            raise classify("SNS", error) from error
        return SendResult(provider=self.name, provider_message_id=response["MessageId"])


def _attributes(sender: str) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}
    }
    if sender.startswith("+"):
        # A phone number the account owns (a long code or toll-free number) sends as itself.
        attributes["AWS.MM.SMS.OriginationNumber"] = {"DataType": "String", "StringValue": sender}
    elif sender:
        attributes["AWS.SNS.SMS.SenderID"] = {"DataType": "String", "StringValue": sender}
    return attributes
