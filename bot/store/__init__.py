"""The vedette database: the only package that writes SQLite, one module per concern.

`Store` composes them; open it with `Store.open(path)`, close it with `close()`.

- `bot.store.base`: the connection and `BEGIN IMMEDIATE` transactions, opening, read-only
  and in-memory copies, the one-`run` lock, refusing files that are not vedette's.
- `bot.store.records`: the rows and intents that cross layers (`NewAlert`, `OutboxRow`, …).
- `bot.store.sources`: sources, their seen items and matches, health, paused sources.
- `bot.store.outbox`: enqueueing (and holding muted alerts), claiming, sending, retrying.
- `bot.store.stories`: stories (an item joining an alert's story) and edits of messages.
- `bot.store.mutes`: rule mutes and the alerts they held.
- `bot.store.flights`: flights, the coverage ledger, sightings, route rule state.
- `bot.store.each`: `each` route rules: the flights new to them, their state and alerts.
- `bot.store.retention`: pruning old history, sizes on disk.
- `bot.store.migrations`: the schema.
"""

from __future__ import annotations

from bot.store.base import StoreBase
from bot.store.each import EachRecords
from bot.store.flights import FlightRecords
from bot.store.mutes import Mutes
from bot.store.outbox import Outbox
from bot.store.retention import Retention
from bot.store.sources import SourceRecords
from bot.store.stories import StoryRecords


class Store(
    SourceRecords, StoryRecords, Outbox, Mutes, FlightRecords, EachRecords, Retention, StoreBase
):
    """The vedette database. Open with `Store.open(path)`; close with `close()`."""
