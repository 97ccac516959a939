"""When to poll a source next, and the backoff formula (pure: the random generator is passed in).

- After a success: `every`, with ±10% jitter so sources drift apart.
- After `failures` consecutive failures: `backoff`, `every` doubled per failure after the
  first (`every`, 2×, 4×, …), capped at max(`every`, 1 hour), with ±20% jitter.
- A server's Retry-After (in seconds) is a floor on the delay, itself capped at 24 hours
  (`capped_retry_after`).
- The first poll of each source starts at a random offset below min(`every`, 10 s), so
  sources configured together do not all fire at once.

`backoff` is the one exponential backoff of the project: the dispatcher's pause after network
failures (`bot.dispatcher`) and the runner's getMe retries use it too.
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
        cap = max(every, BACKOFF_CAP)
        delay = backoff(failures, every, cap, jitter=FAILURE_JITTER, rng=rng)
    if retry_after is not None:
        delay = max(delay, capped_retry_after(retry_after))
    return delay


def backoff(
    attempt: int,
    base: float,
    cap: float,
    *,
    jitter: float = 0.0,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait after the `attempt`-th failure in a row (1 = the first).

    `base` doubled per failure after the first (`base`, 2×, 4×, …), at most `cap`, then
    multiplied by a random factor in [1 - `jitter`, 1 + `jitter`] drawn from `rng`.
    """
    if attempt < 1:
        raise ValueError(f"attempt must be at least 1, got {attempt!r}")
    delay = min(base * 2.0 ** min(attempt - 1, _MAX_DOUBLINGS), cap)
    if jitter:
        if rng is None:
            raise ValueError("a jittered backoff needs a random generator (rng)")
        delay *= rng.uniform(1 - jitter, 1 + jitter)
    return delay


def capped_retry_after(seconds: float) -> float:
    """A server's Retry-After as a wait: at least 0, at most 24 hours."""
    return min(max(seconds, 0.0), RETRY_AFTER_CAP)


def first_delay(every: float, rng: random.Random) -> float:
    """A random start offset in [0, min(`every`, 10 s))."""
    return rng.random() * min(max(every, 0.0), FIRST_DELAY_MAX)
