"""Make moto's SQS send and receive without recounting the queue at every message.

moto 5.2 builds a queue's whole attribute set, which includes the approximate message counts
(three passes over every message in the queue), on every SendMessage only to read
`ContentBasedDeduplication`, and on every message a ReceiveMessage looks at only to read
`MessageRetentionPeriod`. With ten thousand send tasks queued (a million recipients planned),
or a few hundred delivery events, that was most of moto's time. So: while a message is being
sent, a queue's attributes are just that one flag, and GetQueueAttributes for plain attributes
reads only those asked for (a receive asks for the retention period this way).

moto also deletes a message by building a new list of the queue's other messages and putting it
in place of the old one, without the lock that guards appending a new message: a message sent
while another is being deleted can land on the old list and vanish with it, and two deletes at
once can bring each other's message back. Deletes here hold that lock, as a send does.
"""

from __future__ import annotations

import threading
from typing import Any

_SENDING = threading.local()
_installed = False


def install() -> None:
    """Patch moto's SQS in this process (idempotent)."""
    global _installed
    if _installed:
        return
    from moto.core.utils import camelcase_to_underscores
    from moto.sqs.models import Queue, SQSBackend

    full_attributes = Queue.__dict__["attributes"].fget
    send = SQSBackend.send_message
    delete = Queue.delete_message
    get_all_attributes = SQSBackend.get_queue_attributes
    plain = frozenset(Queue.BASE_ATTRIBUTES) - {"Policy", "RedrivePolicy"}

    def attributes(self: Any) -> dict[str, Any]:
        if getattr(_SENDING, "active", False):
            if not self.fifo_queue:
                return {}
            return {"ContentBasedDeduplication": str(self.content_based_deduplication).lower()}
        return full_attributes(self)

    def send_message(self: Any, *args: Any, **kwargs: Any) -> Any:
        _SENDING.active = True
        try:
            return send(self, *args, **kwargs)
        finally:
            _SENDING.active = False

    def get_queue_attributes(self: Any, queue_name: str, attribute_names: list[str]) -> dict[str, Any]:
        if not attribute_names or not plain.issuperset(attribute_names):
            return get_all_attributes(self, queue_name, attribute_names)
        queue = self.get_queue(queue_name)
        found = {}
        for name in attribute_names:
            value = getattr(queue, camelcase_to_underscores(name))
            if value is not None:
                found[name] = str(value).lower() if isinstance(value, bool) else value
        return found

    def delete_message(self: Any, receipt_handle: str) -> None:
        with self._messages_lock:
            delete(self, receipt_handle)

    Queue.attributes = property(attributes)  # type: ignore[method-assign, assignment]
    SQSBackend.send_message = send_message  # type: ignore[method-assign]
    Queue.delete_message = delete_message  # type: ignore[method-assign]
    SQSBackend.get_queue_attributes = get_queue_attributes  # type: ignore[method-assign]
    _installed = True
