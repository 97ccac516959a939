"""The values a validated `rules.toml` becomes, and the configuration errors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.query.parse import Query, TermLists
from watchers.opensky import OPENSKY_API_URL
from watchers.opensky_auth import OPENSKY_AUTH_URL

TELEGRAM_API_URL = "https://api.telegram.org"

# Every key the file may hold, by table and kind; the README documents each (a test checks).
TABLE_KEYS: dict[str, frozenset[str]] = {
    "": frozenset(
        {
            "telegram",
            "channels",
            "storage",
            "sources",
            "rules",
            "terms",
            "stories",
            "delivery",
            "aircraft",
            "defaults",
        }
    ),
    "defaults": frozenset({"adaptive"}),
    "telegram": frozenset({"api_url", "admins"}),
    "storage": frozenset({"retention", "prune_every"}),
    "stories": frozenset({"window", "group", "entities"}),
    "delivery": frozenset({"digest_after"}),
    "aircraft": frozenset({"database"}),
    "channels": frozenset({"chat_id"}),
}
SOURCE_KEYS: dict[str, frozenset[str]] = {
    "rss": frozenset(
        {"id", "kind", "url", "every", "alert_existing", "adaptive", "min_every", "max_every"}
    ),
    "opensky": frozenset({"id", "kind", "airports", "every", "lookback", "api_url", "auth_url"}),
    "adsb": frozenset({"id", "kind", "api_url", "callsigns", "hexes", "every"}),
}
RULE_KEYS: dict[str, frozenset[str]] = {
    "keywords": frozenset({"id", "kind", "query", "channel", "sources"}),
    "route": frozenset(
        {
            "id",
            "kind",
            "from",
            "to",
            "operator",
            "window",
            "at_least",
            "spike",
            "min_count",
            "each",
            "icao24",
            "chart",
            "channel",
        }
    ),
}


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the configuration, at a line of a file (0: the whole file)."""

    file: str
    line: int
    where: str
    what: str

    def __str__(self) -> str:
        at = f"{self.file}:{self.line}" if self.line else self.file
        return f"{at}: {self.where}: {self.what}"


class ConfigError(Exception):
    """The configuration cannot be used; `problems` lists every reason."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True, slots=True)
class TelegramSettings:
    """The `[telegram]` table."""

    api_url: str = TELEGRAM_API_URL
    admins: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class StorageSettings:
    """The `[storage]` table: how long history is kept, and how often it is pruned."""

    retention: float = 90 * 86400.0
    prune_every: float = 6 * 3600.0


@dataclass(frozen=True, slots=True)
class StoriesSettings:
    """The `[stories]` table: how matched news items are grouped into stories (DESIGN §6).

    `window`: a story is open for joining this long after its alert was queued (seconds);
    `group`: False sends every item as its own message; `entities`: the term lists that name
    people, places and organisations, compared across languages (none: items in different
    languages are grouped only by their link).
    """

    window: float = 48 * 3600.0
    group: bool = True
    entities: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    """The `[delivery]` table: more than `digest_after` news alerts due at once for one
    channel go out as digest messages."""

    digest_after: int = 10


@dataclass(frozen=True, slots=True)
class AircraftSettings:
    """The `[aircraft]` table: `database`, the path of an aircraft database file (OpenSky's
    or tar1090's CSV, read by `bot.aircraft`) that fills registration, type and operator by
    icao24; None: none. A relative path is read from the working directory."""

    database: str | None = None


@dataclass(frozen=True, slots=True)
class Channel:
    """A `[channels.NAME]` table: where alerts are posted."""

    id: str
    chat_id: int | str


@dataclass(frozen=True, slots=True)
class RssSource:
    """A `[[sources]]` entry of kind "rss" (RSS, Atom or JSON Feed).

    `every` is the average interval in seconds: the source's request budget. With
    `adaptive`, the scheduler spends it where items are published, each interval between
    `min_every` and `max_every` (seconds, always set: the validator fills their defaults,
    see `bot.config.validate.interval_bounds`); without, it polls every `every`.
    """

    id: str
    url: str
    every: float
    alert_existing: bool = False
    kind: str = "rss"
    adaptive: bool = field(default=True, kw_only=True)
    min_every: float = field(kw_only=True)
    max_every: float = field(kw_only=True)


@dataclass(frozen=True, slots=True)
class OpenSkySource:
    """A `[[sources]]` entry of kind "opensky": flights per airport and UTC day.

    `history_days` is how many days back the source keeps complete: its `lookback`, or
    more when a route rule on its airports needs a longer window (twice for `spike`).
    """

    id: str
    airports: tuple[str, ...]
    every: float
    lookback_days: int
    api_url: str = OPENSKY_API_URL
    auth_url: str = OPENSKY_AUTH_URL
    history_days: int = 0
    kind: str = "opensky"


@dataclass(frozen=True, slots=True)
class AdsbSource:
    """A `[[sources]]` entry of kind "adsb": live sightings of callsigns and hex codes."""

    id: str
    api_url: str
    callsigns: tuple[str, ...]
    hexes: tuple[str, ...]
    every: float
    kind: str = "adsb"


Source = RssSource | OpenSkySource | AdsbSource


@dataclass(frozen=True, slots=True)
class KeywordRule:
    """A `[[rules]]` entry of kind "keywords"; `sources` is resolved (never empty)."""

    id: str
    query_text: str
    query: Query
    channel: str
    sources: tuple[str, ...]
    kind: str = "keywords"


@dataclass(frozen=True, slots=True)
class RouteRule:
    """A `[[rules]]` entry of kind "route": a count of flights over a trailing window.

    `origins` and `destinations` are ICAO codes (resolved from IATA or ICAO in the file);
    `label` is how the file named the route, e.g. "BEN→MSQ". Exactly one of `at_least`,
    `spike` and `each` is set; `min_count` goes with `spike`. An `each` rule alerts every new
    flight and has no window (`window` is then one day, unused); with `icao24` its airports
    may be empty: () means any airport.
    """

    id: str
    origins: tuple[str, ...]
    destinations: tuple[str, ...]
    label: str
    window: float
    channel: str
    operator: str | None = None
    at_least: int | None = None
    spike: float | None = None
    min_count: int = 1
    kind: str = "route"
    each: bool = False  # one alert for every new flight (instead of at_least / spike)
    icao24: tuple[str, ...] = ()  # with each: these aircraft, whatever the route
    chart: bool = False  # the alert as a photo of the route's chart, its text as caption

    @property
    def window_days(self) -> int:
        """The window in whole days, rounded up."""
        return max(1, -(-int(self.window) // 86400))

    @property
    def history_days(self) -> int:
        """Days of history the rule reads: its window, twice for `spike`."""
        return self.window_days * (2 if self.spike is not None else 1)


Rule = KeywordRule | RouteRule


@dataclass(frozen=True, slots=True)
class Config:
    """A validated configuration. `warnings` are worth showing but not fatal."""

    path: str
    telegram: TelegramSettings
    channels: Mapping[str, Channel]
    sources: tuple[Source, ...]
    rules: tuple[Rule, ...]
    warnings: tuple[str, ...] = field(default=())
    storage: StorageSettings = field(default_factory=StorageSettings)
    # `[terms]`: list name -> its forms as written, in file order; `@name` in queries. A
    # `TermLists`: pass it to `parse_query(text, terms=config.terms)`, each list parsed once.
    terms: Mapping[str, tuple[str, ...]] = field(default_factory=TermLists)
    stories: StoriesSettings = field(default_factory=StoriesSettings)
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    aircraft: AircraftSettings = field(default_factory=AircraftSettings)

    @property
    def news_sources(self) -> tuple[RssSource, ...]:
        """The feeds."""
        return tuple(s for s in self.sources if isinstance(s, RssSource))

    @property
    def opensky_sources(self) -> tuple[OpenSkySource, ...]:
        """The OpenSky sources."""
        return tuple(s for s in self.sources if isinstance(s, OpenSkySource))

    @property
    def adsb_sources(self) -> tuple[AdsbSource, ...]:
        """The ADS-B sources."""
        return tuple(s for s in self.sources if isinstance(s, AdsbSource))

    @property
    def keyword_rules(self) -> tuple[KeywordRule, ...]:
        """The keyword rules."""
        return tuple(r for r in self.rules if isinstance(r, KeywordRule))

    @property
    def route_rules(self) -> tuple[RouteRule, ...]:
        """The route rules."""
        return tuple(r for r in self.rules if isinstance(r, RouteRule))
