"""The values that cross layers: the rows the store returns and the intents it is given.

Frozen dataclasses only, no I/O: the pollers, the dispatcher, `/status` and the Telegram
replies build or read these, and the store modules (`bot.store.sources`, `bot.store.outbox`,
`bot.store.mutes`, `bot.store.flights`, `bot.store.each`, `bot.store.retention`) write and
read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from bot.stories import StoryKeys
from watchers.http import Validators

# -- sources and seen items (bot.store.sources) -------------------------------------------


@dataclass(frozen=True, slots=True)
class SourceState:
    """What the store remembers about a source between polls."""

    validators: Validators
    seeded: bool
    consecutive_failures: int
    last_error: str | None
    url: str | None = None  # the URL the source was seeded with (None: before 0.2)


@dataclass(frozen=True, slots=True)
class SeenItem:
    """What the store remembers about an item a source listed: its fingerprint (None when
    recorded before fingerprints existed) and the rules it matched while its source was
    recording silently (first polls), which must not alert when the item is edited."""

    fingerprint: str | None
    quiet_rules: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class StoredItem:
    """A seen item as `vedette test-rule` reads it back: `text` is what the keyword rules
    read in it; times are `iso` strings (`published_at` None when the feed gave none)."""

    source_id: str
    item_key: str
    title: str
    link: str
    text: str
    published_at: str | None
    first_seen_at: str


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """A `sources` row, for `/status`."""

    id: str
    kind: str
    last_success_at: str | None
    last_error: str | None
    last_error_at: str | None
    consecutive_failures: int
    polls: int
    failures: int
    items_seen: int
    alerts: int
    credits_left: int | None = None
    credits_spent: int = 0
    last_day: str | None = None
    bad_bytes: int = 0
    # The schedule the runner last chose (`record_schedule`); None: not recorded yet.
    interval: float | None = None  # seconds until the next poll, before jitter
    rate: float | None = None  # new items per day lately (None: not known yet)
    adaptive: bool | None = None  # True: the interval follows the rate; False: fixed


@dataclass(frozen=True, slots=True)
class PollOutcome:
    """What one poll did: alerts enqueued (or new flights), or the error and any Retry-After.

    For the adaptive scheduler, a feed's poll also says what it found: the dates of its new
    items (`published`, None for an undated one), whether it was the source's first poll
    (`seed`: those items were there before), and, when the document was read (`read`), the
    feed's own refresh hint in seconds (`hint`: RSS `ttl`, `sy:updatePeriod`).
    """

    alerts: int = 0
    error: str | None = None
    retry_after: float | None = None
    failures: int = 0
    flights: int = 0
    published: tuple[datetime | None, ...] = ()
    seed: bool = False
    read: bool = False
    hint: float | None = None


# -- the outbox (bot.store.outbox) ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewAlert:
    """An outbox row to enqueue, for the (rule, item) matches of `rule_ids`.

    `dedup_key` is unique forever. Each (rule, item) pair is recorded once; the row is
    enqueued only if at least one of its pairs is new.

    A news alert has its item's `title` and, when stories are grouped, its `story` keys: it
    may then join a story of its channel instead of being sent (DESIGN §6 "Stories"). A
    route alert of a `chart = true` rule has a `photo` (PNG bytes): it is sent as a photo
    with its text as the caption.
    """

    dedup_key: str
    rule_ids: tuple[str, ...]
    source_id: str
    item_key: str
    channel: str
    chat_id: int | str
    html: str
    plain: str
    link: str
    title: str = ""
    story: StoryKeys | None = None
    photo: bytes | None = None


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """A claimed outbox row: an alert, or (`kind` "edit") an edit of the message of alert
    `target_id` (its `html` and `plain` are then the target's). `photo`: the PNG sent with
    the text as its caption (an edit's: its target's, whose caption it then edits)."""

    id: int
    chat_id: int | str
    html: str
    plain: str
    link: str
    as_plain: bool
    attempts: int
    channel: str = ""
    kind: str = "alert"
    target_id: int | None = None
    message_id: int | None = None  # edits: Telegram's id of the target's message
    source_id: str = ""
    rule_ids: tuple[str, ...] = ()
    title: str = ""
    created_at: str = ""
    photo: bytes | None = None


@dataclass(frozen=True, slots=True)
class StoryMember:
    """An item that joined a story after its first: shown in the story's message."""

    source_id: str
    title: str
    link: str
    lang: str
    reason: str
    added_at: datetime


@dataclass(frozen=True, slots=True)
class DueGroup:
    """Pending rows due now for one channel and stored chat id: the oldest row's id."""

    channel: str
    chat_id: int | str
    first_id: int


@dataclass(frozen=True, slots=True)
class OutboxCounts:
    """Outbox rows by state, the oldest pending row's creation time and the last failures."""

    pending: int
    sent: int
    failed: int
    oldest_pending_at: str | None
    recent_failures: tuple[str, ...]
    edits_failed: int = 0  # of `failed`, edits of a message already sent (never resent)
    joined: int = 0  # items that joined a story instead of sending a message


@dataclass(frozen=True, slots=True)
class RecentAlert:
    """A sent (or held) alert, for `/recent`: when, its rules, its first line, its link."""

    at: datetime
    rule_ids: tuple[str, ...]
    channel: str
    title: str
    link: str
    sources: int = 1  # the story's outlets: its first item and those that joined it


# -- mutes (bot.store.mutes) --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Mute:
    """A stored mute: until when, since when, and how many alerts it held since then."""

    rule_id: str
    until: datetime
    since: datetime
    held: int


# -- flights and the coverage ledger (bot.store.flights) ----------------------------------


@dataclass(frozen=True, slots=True)
class CoverageEntry:
    """One ledger row: how a (source, airport, direction, day) fetch went."""

    source_id: str
    airport: str
    direction: str
    day: date
    status: str
    fetches: int
    fetched_at: datetime


@dataclass(frozen=True, slots=True)
class StoredFlight:
    """A flight as counted by route rules, with its aircraft where known (None: unknown):
    registration, ICAO type code, owner or operator name, military flag."""

    icao24: str
    callsign: str | None
    departure_airport: str | None
    arrival_airport: str | None
    departure: datetime
    sources: tuple[str, ...]
    registration: str | None = None
    aircraft_type: str | None = None
    owner: str | None = None
    military: bool | None = None


@dataclass(frozen=True, slots=True)
class FlightProgress:
    """An OpenSky source's backfill after its last poll, and when it tries again after a
    rate limit (for `/status`; kept in the meta table)."""

    fetched: int | None = None
    total: int | None = None
    next_attempt_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RouteState:
    """What a route rule remembers between evaluations."""

    firing: bool
    episodes: int


@dataclass(frozen=True, slots=True)
class EachState:
    """What an `each` route rule remembers between evaluations (`bot.store.each`).

    `since`: its first evaluation; flights that departed before it are history, never
    alerted. `last_id`: the newest flights row at its last evaluation (rows after it are
    new). `evaluated_at`: its last evaluation (rows changed since may now match it)."""

    since: datetime
    last_id: int
    evaluated_at: datetime


@dataclass(frozen=True, slots=True)
class NewFlight:
    """A stored flight an `each` rule may alert: `id` is its flights row, which a report of
    the same flight by another source merges into (one alert per rule and row)."""

    id: int
    flight: StoredFlight
    arrival: datetime | None = None


# -- retention (bot.store.retention) ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PruneReport:
    """Rows deleted by one pruning pass, by kind."""

    seen_items: int = 0
    alerts: int = 0
    sightings: int = 0
    flights: int = 0
    coverage: int = 0
    held: int = 0
    story_items: int = 0

    def describe(self) -> str:
        """One line: "120 seen items, 40 alerts, 0 sightings, 0 flights"."""
        return (
            f"{self.seen_items} seen items, {self.alerts} alerts, {self.sightings} sightings, "
            f"{self.flights} flights"
        )


@dataclass(frozen=True, slots=True)
class StorageReport:
    """The database's size on disk and its row counts."""

    bytes_on_disk: int
    rows: tuple[tuple[str, int], ...]
