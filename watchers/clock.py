"""The clock type every time-dependent part takes, and the real clock (the default).

Code that needs the time is given a `Clock` instead of reading the system clock, so tests can
pass a fixed or stepped one. `bot.timeutil` re-exports both names.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The current time, aware, in UTC: the default `Clock`."""
    return datetime.now(UTC)
