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
        self._attributes: dict[str, Any] = {
            "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}
        }
        if sender_id:
            self._attributes["AWS.SNS.SMS.SenderID"] = {"DataType": "String", "StringValue": sender_id}

    def send(self, sms: OutgoingSms) -> SendResult:
        try:
            response = self._client.publish(
                PhoneNumber=sms.to, Message=sms.body, MessageAttributes=self._attributes
            )
        except (ClientError, BotoCoreError) as error:
            raise classify("SNS", error) from error
        return SendResult(provider=self.name, provider_message_id=response["MessageId"])
