"""UTC timestamps as the store writes them, and durations as people read them.

The clock (`Clock`, `utcnow`) is `watchers.clock`'s: one definition for the whole program.
"""

from __future__ import annotations

from datetime import UTC, datetime


def iso(moment: datetime) -> str:
    """A fixed-width UTC ISO string, so stored times sort as text."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def from_iso(text: str) -> datetime:
    """Parse a time written by `iso`."""
    return datetime.fromisoformat(text).astimezone(UTC)


def ago(seconds: float) -> str:
    """A short human duration: "45s", "12m", "3h", "2d"."""
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def duration(seconds: float) -> str:
    """An interval to the second, in its two largest units: "3m 20s", "1h 5m", "10m", "45s";
    under a second, to a tenth ("0.5s"). `ago`'s units, for a poll interval that `ago`
    would round down to a misleading "3m"."""
    seconds = max(0.0, seconds)
    if seconds < 1:
        return f"{seconds:.1f}s"
    rest = round(seconds)
    parts: list[tuple[int, str]] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, rest = divmod(rest, size)
        if count or parts:
            parts.append((count, unit))
    return " ".join(f"{count}{unit}" for count, unit in parts[:2] if count)


def since(stamp: str | None, now: datetime) -> str:
    """How long ago an `iso` time was, for people: "3m ago", or "never" for None."""
    if stamp is None:
        return "never"
    return f"{ago((now - from_iso(stamp)).total_seconds())} ago"
