"""The adaptive schedule of a run's news sources (`watchers.adaptive`), fed from the store.

`scheduler_for` builds the scheduler for the configured feeds and loads what each one
published (its stored items); after each poll, `observe` tells it what the poll found.
Flight sources are not in it: they poll at their fixed `every`.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from datetime import datetime

from bot.config.types import RssSource
from bot.store import Store
from bot.store.base import StoreError
from bot.store.records import PollOutcome
from watchers.adaptive import Polled, Scheduler

log = logging.getLogger(__name__)


def polled(source: RssSource) -> Polled:
    """A feed as the scheduler sees it."""
    return Polled(source.id, source.every, source.min_every, source.max_every, source.adaptive)


def scheduler_for(sources: Sequence[RssSource], store: Store, now: datetime) -> Scheduler:
    """The scheduler of these feeds, with their stored history (a feed whose history cannot
    be read starts without one: polled at its `every` until it has a day of history)."""
    scheduler = Scheduler([polled(source) for source in sources])
    for source in sources:
        if not source.adaptive:
            continue
        try:
            sightings = store.sightings(source.id)
        except (StoreError, sqlite3.Error) as exc:
            log.error("source %s: reading its history for adaptive polling: %s", source.id, exc)
            continue
        scheduler.load(source.id, sightings, now.timestamp())
    return scheduler


def observe(scheduler: Scheduler, source_id: str, at: datetime, outcome: PollOutcome) -> None:
    """Tell the scheduler what a successful poll of a feed at `at` found."""
    if outcome.error is not None:
        return
    if outcome.read:
        scheduler.set_hint(source_id, outcome.hint)
    published = [p.timestamp() if p is not None else None for p in outcome.published]
    scheduler.observe(source_id, at.timestamp(), published, seed=outcome.seed)
