"""The adaptive schedule of a run's news sources (`watchers.adaptive`), fed from the store.

`scheduler_for` builds the scheduler for the configured feeds and loads what each one
published (its stored items) and its last refresh hint; after each poll, `observe` tells it
what the poll found (and records a changed hint).
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
            hint = store.feed_hint(source.id)
        except (StoreError, sqlite3.Error) as exc:
            log.error("source %s: reading its history for adaptive polling: %s", source.id, exc)
            continue
        scheduler.load(source.id, sightings, now.timestamp())
        scheduler.set_hint(source.id, hint)
    return scheduler


def observe(
    scheduler: Scheduler, store: Store, source: tuple[str, str], at: datetime, outcome: PollOutcome
) -> None:
    """Tell the scheduler what a successful poll of a feed (`source`: id and kind) at `at`
    found; a refresh hint that changed is also recorded in the store."""
    if outcome.error is not None:
        return
    source_id, kind = source
    if outcome.read and outcome.hint != scheduler.hint(source_id):
        scheduler.set_hint(source_id, outcome.hint)
        try:
            store.record_hint(source_id, kind, outcome.hint)
        except StoreError as exc:  # kept in memory all the same; recorded at its next change
            log.error("source %s: database: %s", source_id, exc)
    published = [p.timestamp() if p is not None else None for p in outcome.published]
    scheduler.observe(source_id, at.timestamp(), published, seed=outcome.seed)
