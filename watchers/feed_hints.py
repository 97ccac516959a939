"""A feed's own hint of how often to fetch it, in seconds (pure: strings in, a number out).

- RSS 2.0 `<ttl>`: "how long a channel can be cached", in minutes.
- The RSS 1.0 syndication module (also common in RSS 2.0, e.g. WordPress):
  `sy:updatePeriod` (hourly, daily, weekly, monthly or yearly; default daily) divided by
  `sy:updateFrequency` (a whole number, default 1); either one alone is a hint.

feedparser reads both from the channel (whatever the namespace prefix) as the strings
`feed.ttl`, `feed.sy_updateperiod` and `feed.sy_updatefrequency`. A value that is not a
number (or period), not positive, or longer than `LONGEST_HINT` is garbage and ignored; of
two hints, the larger counts. JSON Feed has no such hint. The scheduler takes a hint as a
floor for the feed's interval, not a promise.
"""

from __future__ import annotations

import re

LONGEST_HINT = 30 * 86400.0
PERIODS = {
    "hourly": 3600.0,
    "daily": 86400.0,
    "weekly": 7 * 86400.0,
    "monthly": 30 * 86400.0,
    "yearly": 365 * 86400.0,
}
_MINUTES = re.compile(r"\d{1,12}(?:\.\d{1,6})?")
_WHOLE = re.compile(r"\d{1,12}")


def refresh_hint(
    ttl: str | None, update_period: str | None, update_frequency: str | None
) -> float | None:
    """Seconds the feed says it can be cached: the larger of its ttl and its syndication
    period per update; None when it says nothing usable."""
    hints = [
        hint
        for hint in (ttl_seconds(ttl), syndication_seconds(update_period, update_frequency))
        if hint is not None and 0 < hint <= LONGEST_HINT
    ]
    return max(hints, default=None)


def ttl_seconds(ttl: str | None) -> float | None:
    """`<ttl>` (minutes) in seconds; None when absent or not a number."""
    text = (ttl or "").strip()
    return float(text) * 60 if _MINUTES.fullmatch(text) else None


def syndication_seconds(period: str | None, frequency: str | None) -> float | None:
    """`sy:updatePeriod` / `sy:updateFrequency` in seconds; None when both are absent (or
    empty) or either is garbage (an unknown period, a frequency that is not a whole number ≥ 1)."""
    period, frequency = (period or "").strip(), (frequency or "").strip()
    if not period and not frequency:
        return None
    seconds = PERIODS.get((period or "daily").lower())
    times = frequency or "1"
    if seconds is None or not _WHOLE.fullmatch(times) or int(times) < 1:
        return None
    return seconds / int(times)
