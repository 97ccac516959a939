"""When to poll a source next (pure: the random generator is passed in).

- After a success: `every`, with ±10% jitter so sources drift apart.
- After `failures` consecutive failures: `every` doubled per failure after the first
  (`every`, 2×, 4×, …), capped at max(`every`, 1 hour), with ±20% jitter.
- A server's Retry-After (in seconds) is a floor on the delay, itself capped at 24 hours.
- The first poll of each source starts at a random offset below min(`every`, 10 s), so
  sources configured together do not all fire at once.
"""

from __future__ import annotations

import random

SUCCESS_JITTER = 0.10
FAILURE_JITTER = 0.20
BACKOFF_CAP = 3600.0
RETRY_AFTER_CAP = 24 * 3600.0
FIRST_DELAY_MAX = 10.0
_MAX_DOUBLINGS = 32  # 2**32 × any interval is far beyond the cap


def next_delay(
    every: float, failures: int, *, retry_after: float | None, rng: random.Random
) -> float:
    """Seconds until the next poll of a source polled every `every` seconds."""
    if every <= 0:
        raise ValueError(f"every must be positive, got {every!r}")
    if failures <= 0:
        delay = every * rng.uniform(1 - SUCCESS_JITTER, 1 + SUCCESS_JITTER)
    else:
        doublings = min(failures - 1, _MAX_DOUBLINGS)
        base = min(every * 2.0**doublings, max(every, BACKOFF_CAP))
        delay = base * rng.uniform(1 - FAILURE_JITTER, 1 + FAILURE_JITTER)
    if retry_after is not None:
        delay = max(delay, min(max(retry_after, 0.0), RETRY_AFTER_CAP))
    return delay


def first_delay(every: float, rng: random.Random) -> float:
    """A random start offset in [0, min(`every`, 10 s))."""
    return rng.random() * min(max(every, 0.0), FIRST_DELAY_MAX)
