"""Make moto's server find the backend for a request once per host, not once per request.

moto 5.2's server dispatcher, for every request and under one lock, lists moto's package
directory and then tries a few hundred URL patterns to learn which service a host name belongs
to: about a fifth of the server's time when workers call it without pause. A host always maps to
the same backend, so the answer is remembered.
"""

from __future__ import annotations

import threading
from typing import Any

_installed = False


def install() -> None:
    """Patch moto's server dispatcher in this process (idempotent)."""
    global _installed
    if _installed:
        return
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    find = DomainDispatcherApplication.get_backend_for_host
    found: dict[str | None, Any] = {}
    lock = threading.Lock()

    def get_backend_for_host(self: Any, host: str | None) -> Any:
        if host in found:
            return found[host]
        backend = find(self, host)
        if backend is not None:
            with lock:
                found[host] = backend
        return backend

    DomainDispatcherApplication.get_backend_for_host = get_backend_for_host  # type: ignore[method-assign]
    _installed = True
