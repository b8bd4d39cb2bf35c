"""A fleet-wide messages-per-second ceiling per provider, adapting when the provider throttles.

Every worker takes tokens from the same one-second slots in DynamoDB (`RateLimitStore.take`),
a block at a time, and uses them only within their second, so the fleet never hands a provider
more than the ceiling in any second, however many workers run. A block is at most a quarter of
the second's tokens, so several workers share each second and one that stops leaves the rest of
it to the others, instead of their sleeping through seconds while waiting for a turn; and it is
about what the worker used of that provider in the second before, so tokens taken are used. A
throttle from the provider halves the shared ceiling (once per cooldown, fleet-wide); it climbs
back by a tenth of the configured ceiling at a time once the provider has been quiet for a
while. While urgent messages are going out, bulk sends leave them a share of every second.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from chalicelib.domain.ports import Clock, FleetRate, RateLimitStore

URGENT_MARK_S = 15.0  # how long one urgent send keeps bulk lanes yielding
URGENT_REMARK_S = 5.0
MAX_SKIPPED_SLOTS = 8
SHARES_PER_SECOND = 4  # a take is at most this fraction of a second's tokens
# The largest block before a worker knows what it uses of a provider in a second.
FIRST_BLOCK = 25
# Tries at the shared bucket when DynamoDB itself is throttling us.
STORE_ATTEMPTS = 5


@dataclass
class _Held:
    slot: int
    left: int


@dataclass
class _Use:
    """Tokens a worker used of one provider in `slot`, and in the second just before it (None: none)."""

    slot: int
    count: int
    previous: int | None


@dataclass
class RateLimiter:
    """One per worker container; `acquire` before each provider call."""

    store: RateLimitStore
    ceilings: Mapping[str, float]
    clock: Clock
    block: int = 200
    urgent_reserve: float = 0.3
    refresh_s: float = 10.0
    recover_after_s: float = 30.0
    cooldown_s: float = 2.0
    # Provider calls this worker makes at once: what it can use in a second is that many times
    # one call's pace.
    parallel_calls: int = 1
    rng: random.Random = field(default_factory=random.Random)
    # A worker's concurrent calls take their tokens one at a time.
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _held: dict[str, _Held] = field(default_factory=dict)
    _fleet: dict[str, tuple[float, FleetRate]] = field(default_factory=dict)
    _urgent_marked: dict[str, float] = field(default_factory=dict)
    _pace: dict[str, float] = field(default_factory=dict)
    _use: dict[str, _Use] = field(default_factory=dict)

    def acquire(self, provider: str, urgent: bool = False) -> None:
        """Wait until this worker may hand one more message to `provider`."""
        with self._lock:
            ceiling = self.ceilings.get(provider)
            if ceiling is not None:
                self._take_token(provider, ceiling, urgent)

    def _take_token(self, provider: str, ceiling: float, urgent: bool) -> None:
        misses = failures = 0
        while True:
            now = self.clock.now()
            slot = int(now)
            held = self._held.get(provider)
            if held is not None and held.slot == slot and held.left > 0:
                held.left -= 1
                self._count_use(provider, slot)
                return
            capacity = self._capacity(provider, ceiling, urgent, now)
            try:
                granted = self.store.take(provider, slot, self._block_size(provider, capacity, now), capacity)
            except Exception:
                # DynamoDB is throttling the bucket itself: wait a little, never send untracked.
                failures += 1
                if failures >= STORE_ATTEMPTS:
                    raise
                self.clock.sleep(self.rng.uniform(0.05, 0.1) * 2**failures)
                continue
            if int(self.clock.now()) != slot:
                continue  # the second ended while we asked: its tokens are no use now
            if granted > 0:
                self._held[provider] = _Held(slot, granted - 1)
                self._count_use(provider, slot)
                return
            # This second is spent: wait for a later one, spreading the fleet's next attempts.
            misses += 1
            skipped = self.rng.randrange(min(2 ** (misses - 1), MAX_SKIPPED_SLOTS))
            self.clock.sleep(slot + 1 + skipped - now + self.rng.uniform(0, 0.02))

    def observe(self, provider: str, seconds: float) -> None:
        """How long a provider call took: blocks are sized to what this worker can use in a second."""
        pace = self.parallel_calls / max(seconds, 0.001)
        previous = self._pace.get(provider)
        self._pace[provider] = pace if previous is None else 0.8 * previous + 0.2 * pace

    def throttled(self, provider: str) -> None:
        """The provider said slow down: halve the fleet's ceiling and give up this worker's tokens."""
        ceiling = self.ceilings.get(provider)
        self._held.pop(provider, None)
        if ceiling is None:
            return
        now = self.clock.now()
        current = self._fleet_rate(provider, now, fresh=True).rate or ceiling
        self.store.lower_rate(provider, max(1.0, min(current, ceiling) / 2), now, self.cooldown_s)
        self._fleet.pop(provider, None)

    def current_ceiling(self, provider: str) -> float | None:
        """The ceiling the fleet works to right now (the configured one unless lowered)."""
        ceiling = self.ceilings.get(provider)
        if ceiling is None:
            return None
        rate = self._fleet_rate(provider, self.clock.now()).rate
        return min(ceiling, rate) if rate else ceiling

    def _capacity(self, provider: str, ceiling: float, urgent: bool, now: float) -> int:
        fleet = self._fleet_rate(provider, now)
        capacity = max(1, int(min(ceiling, fleet.rate) if fleet.rate else ceiling))
        if urgent:
            if now >= self._urgent_marked.get(provider, 0.0):
                self.store.mark_urgent(provider, now + URGENT_MARK_S)
                self._urgent_marked[provider] = now + URGENT_REMARK_S
            return capacity
        if fleet.urgent_until > now:
            return max(1, int(capacity * (1 - self.urgent_reserve)))
        return capacity

    def _count_use(self, provider: str, slot: int) -> None:
        use = self._use.get(provider)
        if use is not None and use.slot == slot:
            use.count += 1
            return
        previous = use.count if use is not None and use.slot == slot - 1 else None
        self._use[provider] = _Use(slot, 1, previous)

    def _last_second_use(self, provider: str, slot: int) -> int | None:
        use = self._use.get(provider)
        if use is None:
            return None
        if use.slot == slot:
            return use.previous
        return use.count if use.slot == slot - 1 else None

    def _block_size(self, provider: str, capacity: int, now: float) -> int:
        # What this worker will likely use of the provider in the rest of the second: at last
        # second's rate when it had one (not its calls' pace: a worker calling two providers gives
        # each part of its calls), else small blocks until it knows. Tokens taken and not used are
        # lost to the fleet for that second, so no more is taken than that: a worker that needs
        # more takes again.
        left_of_second = int(now) + 1 - now
        used = self._last_second_use(provider, int(now))
        if used is not None:
            usable = math.ceil(used * left_of_second)
        else:
            pace = self._pace.get(provider)
            usable = FIRST_BLOCK if pace is None else min(FIRST_BLOCK, math.ceil(pace * left_of_second))
        # A take leaves most of the second to the others: several workers share every second, so
        # none waits out seconds for its turn and the second goes on when one of them stops.
        share = math.ceil(capacity / SHARES_PER_SECOND)
        return max(1, min(self.block, share, usable))

    def _fleet_rate(self, provider: str, now: float, fresh: bool = False) -> FleetRate:
        cached = self._fleet.get(provider)
        if cached is not None and not fresh and now - cached[0] < self.refresh_s:
            return cached[1]
        fleet = self.store.fleet_rate(provider)
        ceiling = self.ceilings[provider]
        if fleet.rate is not None and now - fleet.throttled_at > self.recover_after_s:
            raised = fleet.rate + ceiling / 10
            target = None if raised >= ceiling else raised
            if self.store.raise_rate(provider, fleet.rate, target):
                fleet = FleetRate(target, fleet.throttled_at, fleet.urgent_until)
            else:
                fleet = self.store.fleet_rate(provider)
        self._fleet[provider] = (now, fleet)
        return fleet
