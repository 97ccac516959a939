"""SIGHUP from the first instruction: queued until the runner can reload (finding 26).

SIGHUP's default action ends the process, and `vedette run` can only reload once its runner
is ready (after the imports, the database and the configuration: about half a second).
`bot.cli` imports this module before anything heavy, so a SIGHUP that arrives in between
is remembered instead; `take()` tells the runner, which then reloads once.
"""

from __future__ import annotations

import signal
from types import FrameType

_queued: list[int] = []


def _queue(signum: int, frame: FrameType | None) -> None:
    _queued.append(signum)


def take() -> bool:
    """Whether a SIGHUP arrived since the import (or the last `take`); forgets it."""
    arrived = bool(_queued)
    _queued.clear()
    return arrived


def install() -> None:
    """Queue SIGHUP (again: closing an event loop that handled it restores the default)."""
    signal.signal(signal.SIGHUP, _queue)


install()
