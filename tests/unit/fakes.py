"""In-memory stand-ins for the ports the domain's unit tests need."""

from __future__ import annotations

from collections import Counter

from chalicelib.domain.ports import FleetRate


class InMemoryRateLimitStore:
    """The shared token bucket of RateLimitStore, in a dict (what DynamoDB holds for the fleet)."""

    def __init__(self) -> None:
        self.used: Counter[tuple[str, int]] = Counter()
        self.rates: dict[str, FleetRate] = {}
        self.takes = 0

    def take(self, provider: str, slot: int, wanted: int, capacity: int) -> int:
        self.takes += 1
        granted = max(0, min(wanted, capacity - self.used[(provider, slot)]))
        self.used[(provider, slot)] += granted
        return granted

    def fleet_rate(self, provider: str) -> FleetRate:
        return self.rates.get(provider, FleetRate(None, 0.0, 0.0))

    def lower_rate(self, provider: str, rate: float, now: float, cooldown_s: float) -> bool:
        current = self.fleet_rate(provider)
        if current.throttled_at and current.throttled_at >= now - cooldown_s:
            return False
        self.rates[provider] = FleetRate(rate, now, current.urgent_until)
        return True

    def raise_rate(self, provider: str, expected: float | None, rate: float | None) -> bool:
        current = self.fleet_rate(provider)
        if current.rate != expected:
            return False
        self.rates[provider] = FleetRate(rate, current.throttled_at, current.urgent_until)
        return True

    def mark_urgent(self, provider: str, until: float) -> None:
        current = self.fleet_rate(provider)
        self.rates[provider] = FleetRate(current.rate, current.throttled_at, max(until, current.urgent_until))
