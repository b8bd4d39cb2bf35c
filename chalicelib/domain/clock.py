"""Time for the send pipeline: leases, windows, backoff and rate limits all read it from here."""

from __future__ import annotations

import time


class SystemClock:
    """Wall-clock time (what every deployed worker shares, within NTP's skew)."""

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)
