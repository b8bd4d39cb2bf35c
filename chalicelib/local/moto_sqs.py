"""Make moto's SQS send in constant time, however deep the queue.

moto 5.2 builds a queue's whole attribute set on every SendMessage only to read
`ContentBasedDeduplication`, and that set includes the approximate message counts: three
passes over every message in the queue. With ten thousand send tasks queued (a million
recipients planned) that check was most of moto's time. While a message is being sent, a
queue's attributes are just that one flag; everything else reads them in full.
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
    from moto.sqs.models import Queue, SQSBackend

    full_attributes = Queue.__dict__["attributes"].fget
    send = SQSBackend.send_message

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

    Queue.attributes = property(attributes)  # type: ignore[method-assign, assignment]
    SQSBackend.send_message = send_message  # type: ignore[method-assign]
    _installed = True
