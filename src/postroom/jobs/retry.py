"""When to try again: exponential backoff with jitter, bounded by a maximum age (pure).

The defaults follow Postfix's queue manager (postconf(5): ``minimal_backoff_time`` 300 s,
``maximal_backoff_time`` 4000 s, ``maximal_queue_lifetime`` 5 days). Jitter ("equal jitter":
half the delay fixed, half random) keeps copies deferred together by one outage from all
coming back in the same second.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class Backoff:
    minimum: timedelta = timedelta(seconds=300)
    maximum: timedelta = timedelta(seconds=4000)
    max_age: timedelta = timedelta(days=5)

    def delay(self, attempts: int, rng: random.Random) -> timedelta:
        """The wait after the ``attempts``-th failed attempt (1 for the first)."""
        base = self.minimum * (2 ** min(max(attempts - 1, 0), 30))
        capped: timedelta = min(base, self.maximum)
        return capped / 2 + (capped / 2) * rng.random()

    def next_attempt(
        self, *, attempts: int, now: datetime, created_at: datetime, rng: random.Random
    ) -> datetime | None:
        """When to try again, or None when the copy has been pending too long: it fails.

        The last retry is moved up to the end of the copy's lifetime rather than skipped, so
        a copy always gets an attempt at (about) its maximum age before it fails.
        """
        deadline = created_at + self.max_age
        if now >= deadline:
            return None
        return min(now + self.delay(attempts, rng), deadline)
