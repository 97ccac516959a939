"""Load and validate `rules.toml` into a frozen `Config`.

Validation is complete before any network I/O: every problem is collected and reported as
`FILE:LINE: where: what is wrong` (see `ConfigError`), not just the first. The schema is in
DESIGN §5 and the README.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bot.config.flights import FlightChecks, extend_history
from bot.config.tomllines import Path as KeyPath
from bot.config.tomllines import line_of, locate_keys
from bot.config.types import (
    RULE_KEYS,
    SOURCE_KEYS,
    TABLE_KEYS,
    TELEGRAM_API_URL,
    AircraftSettings,
    Channel,
    Config,
    ConfigError,
    DeliverySettings,
    KeywordRule,
    Problem,
    RouteRule,
    RssSource,
    Rule,
    Source,
    StorageSettings,
    StoriesSettings,
    TelegramSettings,
)
from bot.query.parse import LIST_NAME, ListProblem, Query, QueryError, TermLists, parse_query
from watchers.feeds import normalise_link
from watchers.pacing import loopback

__all__ = ["interval_bounds", "load_config", "parse_config", "parse_duration"]

ID_PATTERN = re.compile(r"^[a-z0-9_-]+$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_DURATION = 365_000 * 86400.0  # about 1000 years: dates stay computable (year ≤ 9999)
SHORT_REMOTE_INTERVAL = 60.0
# The keys of adaptive polling, which flight sources do not have.
ADAPTIVE_KEYS = ("adaptive", "min_every", "max_every")
FIXED_POLLING = "flight sources poll at their fixed every"
# The placeholder chat id of the README and the shipped rules.toml.
EXAMPLE_CHAT_ID = -1001234567890
# Per source kind: the longest sensible `every`, and what happens beyond it.
LONG_INTERVALS = {
    "rss": (
        86400.0,
        "a feed lists only its latest items; polled less than daily, it can miss some",
    ),
    "opensky": (
        86400.0,
        "OpenSky adds each day's flights overnight; polled less than daily, route alerts come late",
    ),
    "adsb": (
        3600.0,
        "an aircraft is seen only while it flies; polled less than hourly, flights are missed",
    ),
}
BOM = "\ufeff"
# `@name` in a query or a form, found without parsing (to tell which lists are used).
_LIST_REFERENCE = re.compile(r"(?<![^\s(])@([a-z0-9_-]+)")


def parse_duration(text: str) -> float:
    """Seconds in a duration such as "45s", "5m", "6h", "30d"; ValueError if bad."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f'bad duration "{text}": use a number and s, m, h or d, like "5m"')
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f'duration "{text}" must be positive')
    if not seconds <= MAX_DURATION:  # also catches inf, from hundreds of digits
        raise ValueError(f'duration "{text}" is too long (at most "{MAX_DURATION // 86400:.0f}d")')
    return seconds


def interval_bounds(url: str, every: float) -> tuple[float, float]:
    """The default `min_every` and `max_every` of a feed polled on average every `every`
    seconds: `every / 5`, but on a remote host at least a minute (or `every`, if shorter);
    and `4 × every`, capped at the longest duration."""
    shortest = every / 5
    if not _is_local(url):
        shortest = max(shortest, min(SHORT_REMOTE_INTERVAL, every))
    return shortest, min(4 * every, MAX_DURATION)


def load_config(path: str | Path) -> Config:
    """Read and validate a configuration file; raises `ConfigError` listing every problem."""
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError as exc:
        directory = Path(path).absolute().parent
        raise ConfigError(
            [
                Problem(
                    name,
                    0,
                    "file",
                    f"not found in {directory}; name your rules file with --config or "
                    "VEDETTE_CONFIG, or write an example one with `vedette init`",
                )
            ]
        ) from exc
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError([Problem(name, 0, "file", f"cannot read: {reason}")]) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        start = raw.rfind(b"\n", 0, exc.start) + 1
        line = raw.count(b"\n", 0, exc.start) + 1
        column = len(raw[start : exc.start].decode("utf-8")) + 1
        what = f"column {column}: byte 0x{raw[exc.start]:02x} is not UTF-8; save the file as UTF-8"
        raise ConfigError([Problem(name, line, "file", what)]) from exc
    return parse_config(text, name)


def parse_config(text: str, name: str = "rules.toml") -> Config:
    """Validate configuration text; `name` is used in error messages.

    A byte-order mark at the start (as Windows Notepad writes) is ignored."""
    text = text.removeprefix(BOM)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"at line (\d+)", str(exc))
        line = int(found.group(1)) if found else 1
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise ConfigError([Problem(name, line, "toml", message)]) from exc
    except RecursionError as exc:  # tomllib recurses once per level of nested arrays/tables
        line = _deepest_line(text)
        raise ConfigError([Problem(name, line, "toml", "values nested too deeply")]) from exc
    return _Validator(name, text).config(data)


def _deepest_line(text: str) -> int:
    """The line where brackets and braces are nested deepest (roughly: strings not skipped)."""
    depth, deepest, line = 0, -1, 1
    for number, content in enumerate(text.splitlines(), start=1):
        for char in content:
            depth += (char in "[{") - (char in "]}")
            if depth > deepest:
                deepest, line = depth, number
    return line


class _Validator(FlightChecks):
    """Collects problems while building the frozen config."""

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.text_lines = text.splitlines()
        self.lines = locate_keys(text)
        self.problems: list[Problem] = []
        self.warnings: list[str] = []
        # Source ids and kinds, even of entries with other errors.
        self.declared_sources: dict[str, str] = {}
        self.term_lists = TermLists()
        self.used_lists: set[str] = set()  # named by a query, even one with other errors
        self.adaptive = True  # `[defaults] adaptive`: for sources without their own

    def problem(self, path: KeyPath, where: str, what: str) -> None:
        self.problems.append(Problem(self.name, line_of(self.lines, path), where, what))

    def warning(self, path: KeyPath, where: str, what: str) -> None:
        """A warning, placed like a problem: `FILE:LINE: where: what`."""
        self.warnings.append(f"{self.name}:{line_of(self.lines, path)}: {where}: {what}")

    def config(self, data: dict[str, Any]) -> Config:
        self.unknown_keys(data, TABLE_KEYS[""], (), "")
        telegram = self.telegram(data.get("telegram", {}))
        channels = self.channels(data.get("channels", {}))
        storage = self.storage(data.get("storage", {}))
        self.adaptive = self.defaults(data.get("defaults", {}))
        sources = self.sources(data.get("sources", []))
        self.term_lists = self.terms(data.get("terms", {}))
        stories = self.stories(data.get("stories", {}), storage)
        delivery = self.delivery(data.get("delivery", {}))
        aircraft = self.aircraft(data.get("aircraft", {}))
        rules = self.rules(data.get("rules", []), channels)
        self.unused_lists()
        if not sources and not self.problems:  # an empty file, or the wrong one
            self.problems.append(
                Problem(
                    self.name,
                    0,
                    "sources",
                    "no [[sources]], so there is nothing to watch; add a feed or a flight"
                    ' source (see the README, "rules.toml")',
                )
            )
        if self.problems:
            self.problems.sort(key=lambda p: p.line)
            raise ConfigError(self.problems)
        sources = extend_history(sources, [r for r in rules if isinstance(r, RouteRule)])
        self.warn_uncovered_routes(sources, rules)
        if not rules:  # sources alone still record items and flights (for `/route`)
            self.warnings.append(f"{self.name}: no [[rules]]: nothing will ever alert")
        return Config(
            self.name,
            telegram,
            channels,
            tuple(sources),
            tuple(rules),
            tuple(self.warnings),
            storage,
            self.term_lists,
            stories,
            delivery,
            aircraft,
        )

    def terms(self, value: Any) -> TermLists:
        """`[terms]`: name = ["form", …]; every problem of a list at its line."""
        table = self.expect_table(value, ("terms",), "terms")
        lists: dict[str, list[str]] = {}
        for name, forms in (table or {}).items():
            path: KeyPath = ("terms", name)
            where = f"terms.{name}"
            if not LIST_NAME.fullmatch(name):
                self.problem(path, where, "list names use only a-z, 0-9, _ and -")
                continue
            if not isinstance(forms, list):
                self.problem(path, where, f"must be a list of strings, not {_type_name(forms)}")
                continue
            lists[name] = []
            for form in forms:
                if isinstance(form, str):
                    lists[name].append(form)
                else:
                    what = f"forms are strings, not {_type_name(form)} {form!r}"
                    self.problem(path, where, what)
        term_lists = TermLists(lists)
        for found in term_lists.problems:
            line = self.list_line(term_lists, found)
            self.problems.append(Problem(self.name, line, f"terms.{found.name}", found.message))
        for found in term_lists.notes:
            line = self.list_line(term_lists, found)
            self.warnings.append(f"{self.name}:{line}: terms.{found.name}: {found.message}")
        return term_lists

    def list_line(self, term_lists: TermLists, found: ListProblem) -> int:
        """The line of a term list's problem: its form's, else the list's."""
        line = line_of(self.lines, ("terms", found.name))
        if found.form is None:
            return line
        return self.form_line(line, term_lists[found.name][found.form])

    def form_line(self, line: int, form: str) -> int:
        """The line of a form in the array that starts on `line` (that line when unsure)."""
        for number in range(line, min(line + 10_000, len(self.text_lines) + 1)):
            text = self.text_lines[number - 1]
            if f'"{form}"' in text or f"'{form}'" in text:
                return number
            if number > line and ("=" in text.split("#", 1)[0] or text.lstrip()[:1] == "["):
                break  # the next key or table: the array has ended
        return line

    def unused_lists(self) -> None:
        """Every list no query uses, directly or through other lists, is a problem."""
        used, todo = set(), list(self.used_lists)
        while todo:
            name = todo.pop()
            if name in used or name not in self.term_lists:
                continue
            used.add(name)
            for form in self.term_lists[name]:
                todo.extend(_LIST_REFERENCE.findall(form))
        for name in self.term_lists:
            if name not in used:
                self.problem(
                    ("terms", name),
                    f"terms.{name}",
                    f"unused: no query uses @{name}; use it in a rule's query or remove it",
                )

    def stories(self, value: Any, storage: StorageSettings) -> StoriesSettings:
        """`[stories]`: window (at most the retention), group, entities (term lists)."""
        table = self.expect_table(value, ("stories",), "stories")
        if table is None:
            return StoriesSettings()
        self.unknown_keys(table, TABLE_KEYS["stories"], ("stories",), "stories")
        default = StoriesSettings()
        window = None
        if "window" in table:
            window = self.duration(table["window"], ("stories", "window"), "stories.window")
        if window is not None and not 0 < window <= storage.retention:
            self.problem(
                ("stories", "window"),
                "stories.window",
                "must be more than 0 and at most [storage] retention (a story's items are "
                "kept that long)",
            )
            window = None
        group = table.get("group", True)
        if not isinstance(group, bool):
            self.problem(("stories", "group"), "stories.group", "must be true or false")
            group = True
        entities = self.entity_names(table.get("entities", []))
        return StoriesSettings(window or default.window, group, entities)

    def entity_names(self, value: Any) -> tuple[str, ...]:
        """`[stories] entities`: names of `[terms]` lists (each counts as used)."""
        path: KeyPath = ("stories", "entities")
        if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
            self.problem(path, "stories.entities", "must be a list of [terms] list names")
            return ()
        unknown = [name for name in value if name not in self.term_lists]
        if unknown:
            known = ", ".join(self.term_lists) or "none: add a [terms] table"
            self.problem(
                path,
                "stories.entities",
                f"unknown term list {', '.join(unknown)} (lists: {known})",
            )
            return ()
        self.used_lists.update(value)
        return tuple(dict.fromkeys(value))

    def defaults(self, value: Any) -> bool:
        """`[defaults]`: adaptive, true or false (default true), for every feed that does
        not set its own."""
        table = self.expect_table(value, ("defaults",), "defaults")
        if table is None:
            return True
        self.unknown_keys(table, TABLE_KEYS["defaults"], ("defaults",), "defaults")
        adaptive = table.get("adaptive", True)
        if not isinstance(adaptive, bool):
            self.problem(("defaults", "adaptive"), "defaults.adaptive", "must be true or false")
            return True
        return adaptive

    def delivery(self, value: Any) -> DeliverySettings:
        """`[delivery]`: digest_after, a whole number ≥ 1."""
        table = self.expect_table(value, ("delivery",), "delivery")
        if table is None:
            return DeliverySettings()
        self.unknown_keys(table, TABLE_KEYS["delivery"], ("delivery",), "delivery")
        after = table.get("digest_after", DeliverySettings().digest_after)
        if isinstance(after, bool) or not isinstance(after, int) or after < 1:
            self.problem(
                ("delivery", "digest_after"),
                "delivery.digest_after",
                f"must be a whole number of at least 1, not {after!r}",
            )
            return DeliverySettings()
        return DeliverySettings(after)

    def aircraft(self, value: Any) -> AircraftSettings:
        """`[aircraft]`: database, a file path (whether it reads is checked at start and by
        `vedette check`, as a warning: the file is optional)."""
        table = self.expect_table(value, ("aircraft",), "aircraft")
        if table is None:
            return AircraftSettings()
        self.unknown_keys(table, TABLE_KEYS["aircraft"], ("aircraft",), "aircraft")
        path = table.get("database")
        if path is None:
            return AircraftSettings()
        if not isinstance(path, str) or not path.strip():
            self.problem(
                ("aircraft", "database"),
                "aircraft.database",
                f"must be the path of an aircraft database file, not {path!r}",
            )
            return AircraftSettings()
        return AircraftSettings(path)

    def storage(self, value: Any) -> StorageSettings:
        table = self.expect_table(value, ("storage",), "storage")
        if table is None:
            return StorageSettings()
        self.unknown_keys(table, TABLE_KEYS["storage"], ("storage",), "storage")
        default = StorageSettings()
        retention = self.duration(
            table.get("retention", "90d"), ("storage", "retention"), "storage.retention"
        )
        if retention is not None and retention < 86400:
            self.problem(("storage", "retention"), "storage.retention", "must be at least one day")
            retention = None
        every = self.duration(
            table.get("prune_every", "6h"), ("storage", "prune_every"), "storage.prune_every"
        )
        return StorageSettings(retention or default.retention, every or default.prune_every)

    def unknown_keys(
        self,
        table: Mapping[str, Any],
        known: frozenset[str],
        path: KeyPath,
        where: str,
        notes: Mapping[str, str] | None = None,
    ) -> None:
        """A problem for each key of `table` not in `known`; `notes` adds a sentence to the
        message of some keys (why they are not allowed here)."""
        for key in table:
            if key not in known:
                place = f"{where}.{key}" if where else key
                allowed = ", ".join(sorted(known))
                note = (notes or {}).get(key)
                what = f"unknown key (allowed here: {allowed})" + (f"; {note}" if note else "")
                self.problem((*path, key), place, what)

    def expect_table(self, value: Any, path: KeyPath, where: str) -> dict[str, Any] | None:
        if isinstance(value, dict):
            return value
        self.problem(path, where, f"must be a table, not {_type_name(value)}")
        return None

    def telegram(self, value: Any) -> TelegramSettings:
        table = self.expect_table(value, ("telegram",), "telegram")
        if table is None:
            return TelegramSettings()
        self.unknown_keys(table, TABLE_KEYS["telegram"], ("telegram",), "telegram")
        api_url = TELEGRAM_API_URL
        if "api_url" in table:
            url = table["api_url"]
            if not isinstance(url, str) or not _is_http_url(url):
                self.problem(("telegram", "api_url"), "telegram.api_url", "must be an http(s) URL")
            else:
                api_url = url.rstrip("/")
        admins: list[int] = []
        raw = table.get("admins", [])
        if not isinstance(raw, list):
            self.problem(("telegram", "admins"), "telegram.admins", "must be a list of user ids")
        else:
            for item in raw:
                if isinstance(item, bool) or not isinstance(item, int):
                    self.problem(
                        ("telegram", "admins"),
                        "telegram.admins",
                        f"user ids are integers, not {_type_name(item)} {item!r}",
                    )
                else:
                    admins.append(item)
        return TelegramSettings(api_url, tuple(admins))

    def channels(self, value: Any) -> dict[str, Channel]:
        table = self.expect_table(value, ("channels",), "channels")
        channels: dict[str, Channel] = {}
        for name, entry in (table or {}).items():
            path: KeyPath = ("channels", name)
            where = f"channels.{name}"
            if not ID_PATTERN.match(name):
                self.problem(path, where, "channel names use only a-z, 0-9, _ and -")
            body = self.expect_table(entry, path, where)
            if body is None:
                continue
            self.unknown_keys(body, TABLE_KEYS["channels"], path, where)
            chat_id = body.get("chat_id")
            if chat_id is None:
                self.problem(path, where, "chat_id is missing")
            elif isinstance(chat_id, bool) or not isinstance(chat_id, int | str):
                self.problem((*path, "chat_id"), f"{where}.chat_id", "must be an integer or @name")
            elif isinstance(chat_id, str) and not re.match(r"^@[A-Za-z0-9_]{4,}$", chat_id):
                self.problem(
                    (*path, "chat_id"),
                    f"{where}.chat_id",
                    f'"{chat_id}" is neither a numeric chat id nor a @channel_name',
                )
            else:
                channels[name] = Channel(name, chat_id)
                if chat_id == EXAMPLE_CHAT_ID:
                    self.warning(
                        (*path, "chat_id"),
                        f"{where}.chat_id",
                        f"{chat_id} is the example id from the README; set your channel's id"
                        ' (see the README, "Telegram setup")',
                    )
        return channels

    def entries(self, value: Any, section: str) -> list[tuple[int, dict[str, Any], str]]:
        """The tables of an array of tables, each with its index and display name."""
        if not isinstance(value, list):
            self.problem((section,), section, f"must be written as [[{section}]] tables")
            return []
        found = []
        for index, entry in enumerate(value):
            if not isinstance(entry, dict):
                self.problem((section, index), f"{section}[{index}]", "must be a table")
                continue
            ident = entry.get("id")
            named = isinstance(ident, str) and ID_PATTERN.match(ident)
            name = f"{section}.{ident}" if named else f"{section}[{index}]"
            found.append((index, entry, name))
        return found

    def kind(
        self, entry: dict[str, Any], kinds: Mapping[str, Any], path: KeyPath, where: str
    ) -> str | None:
        """The entry's `kind` when it is one of `kinds`; else report it and return None."""
        kind = entry.get("kind")
        if isinstance(kind, str) and kind in kinds:
            return kind
        what = "kind is missing" if kind is None else f'unknown kind "{kind}"'
        supported = ", ".join(kinds)
        self.problem((*path, "kind"), f"{where}.kind", f"{what} (supported: {supported})")
        return None

    def ident(self, entry: dict[str, Any], path: KeyPath, where: str, seen: set[str]) -> str | None:
        ident = entry.get("id")
        if ident is None:
            self.problem(path, where, "id is missing")
            return None
        if not isinstance(ident, str) or not ID_PATTERN.match(ident):
            self.problem((*path, "id"), f"{where}.id", "ids use only a-z, 0-9, _ and -")
            return None
        if ident in seen:
            self.problem((*path, "id"), f"{where}.id", f'duplicate id "{ident}"')
            return None
        seen.add(ident)
        return ident

    def sources(self, value: Any) -> list[Source]:
        sources: list[Source] = []
        seen: set[str] = set()
        urls: dict[str, str] = {}  # feed URL (as compared) -> the first source with it
        for index, entry, where in self.entries(value, "sources"):
            path: KeyPath = ("sources", index)
            ident = self.ident(entry, path, where, seen)
            kind = self.kind(entry, SOURCE_KEYS, path, where)
            if kind is None:
                continue
            if ident is not None:
                self.declared_sources[ident] = kind
            notes = {} if kind == "rss" else dict.fromkeys(ADAPTIVE_KEYS, FIXED_POLLING)
            self.unknown_keys(entry, SOURCE_KEYS[kind], path, where, notes)
            source: Source | None
            if kind == "rss":
                source = self.rss_source(ident, entry, path, where)
            elif kind == "opensky":
                source = self.opensky_source(ident, entry, path, where)
            else:
                source = self.adsb_source(ident, entry, path, where)
            if source is not None:
                sources.append(source)
                self.warn_long_interval(source, entry.get("every"), path, where)
                if isinstance(source, RssSource):
                    first = urls.setdefault(normalise_link(source.url), where)
                    if first != where:
                        self.warning(
                            (*path, "url"),
                            f"{where}.url",
                            f"the same feed as {first}: it would be fetched twice; keep one"
                            " source (a rule watches every news source unless it lists sources)",
                        )
        return sources

    def warn_long_interval(self, source: Source, written: Any, path: KeyPath, where: str) -> None:
        """Warn about an `every` so long that the source would miss what it is there for."""
        longest, why = LONG_INTERVALS[source.kind]
        if source.every > longest:
            self.warning(
                (*path, "every"), f"{where}.every", f'"{written}" is a very long interval: {why}'
            )

    def rss_source(
        self, ident: str | None, entry: dict[str, Any], path: KeyPath, where: str
    ) -> RssSource | None:
        url = self.url(entry.get("url"), (*path, "url"), f"{where}.url")
        every = self.duration(entry.get("every", "10m"), (*path, "every"), f"{where}.every")
        existing = entry.get("alert_existing", False)
        if not isinstance(existing, bool):
            self.problem(
                (*path, "alert_existing"), f"{where}.alert_existing", "must be true or false"
            )
            existing = False
        adaptive = entry.get("adaptive", self.adaptive)
        if not isinstance(adaptive, bool):
            self.problem((*path, "adaptive"), f"{where}.adaptive", "must be true or false")
            adaptive = self.adaptive
        if ident is None or url is None or every is None:
            return None
        self.warn_short_interval(url, every, path, where)
        bounds = self.interval_bounds(entry, url, every, adaptive, path, where)
        if bounds is None:
            return None
        return RssSource(
            ident,
            url,
            every,
            existing,
            adaptive=adaptive,
            min_every=bounds[0],
            max_every=bounds[1],
        )

    def interval_bounds(
        self,
        entry: dict[str, Any],
        url: str,
        every: float,
        adaptive: bool,
        path: KeyPath,
        where: str,
    ) -> tuple[float, float] | None:
        """A feed's `min_every` and `max_every`, as written or by default (`interval_bounds`);
        None after a problem. Either written with `adaptive = false` is a warning."""
        shortest, longest = interval_bounds(url, every)
        written = [key for key in ("min_every", "max_every") if key in entry]
        parsed = {key: self.duration(entry[key], (*path, key), f"{where}.{key}") for key in written}
        if None in parsed.values():
            return None
        shortest = parsed.get("min_every") or shortest
        longest = parsed.get("max_every") or longest
        ok = True
        floor = min(SHORT_REMOTE_INTERVAL, every)
        if "min_every" in entry and shortest < floor and not _is_local(url):
            what = "below 1 minute is allowed only for a loopback host"
            self.problem((*path, "min_every"), f"{where}.min_every", what)
            ok = False
        elif shortest > every:
            what = f"must be at most every ({entry.get('every', '10m')})"
            self.problem((*path, "min_every"), f"{where}.min_every", what)
            ok = False
        if longest < every:
            what = f"must be at least every ({entry.get('every', '10m')})"
            self.problem((*path, "max_every"), f"{where}.max_every", what)
            ok = False
        if written and not adaptive:
            keys = " and ".join(written)
            verb = "does" if len(written) == 1 else "do"
            self.warning(
                (*path, written[0]),
                f"{where}.{written[0]}",
                f"{keys} {verb} nothing with adaptive = false: the feed is polled every"
                f" {entry.get('every', '10m')}",
            )
        return (shortest, longest) if ok else None

    def url(self, value: Any, path: KeyPath, where: str) -> str | None:
        if not isinstance(value, str) or not _is_http_url(value):
            self.problem(path, where, "must be an http(s) URL")
            return None
        return value  # exactly as written: "/feed/" and "/feed" are different resources

    def base_url(self, value: Any, path: KeyPath, where: str) -> str | None:
        """An API's base URL, which paths are appended to: without its trailing slash."""
        url = self.url(value, path, where)
        return None if url is None else url.rstrip("/")

    def warn_short_interval(self, url: str, every: float, path: KeyPath, where: str) -> None:
        if every < SHORT_REMOTE_INTERVAL and not _is_local(url):
            self.warning(
                (*path, "every"),
                f"{where}.every",
                f"polling a remote host every {every:g}s is impolite; consider 5m or more",
            )

    def duration(self, value: Any, path: KeyPath, where: str) -> float | None:
        if not isinstance(value, str):
            self.problem(path, where, f'durations are strings like "5m", not {_type_name(value)}')
            return None
        try:
            return parse_duration(value)
        except ValueError as exc:
            self.problem(path, where, str(exc))
            return None

    def rules(self, value: Any, channels: Mapping[str, Channel]) -> list[Rule]:
        rules: list[Rule] = []
        seen: set[str] = set()
        for index, entry, where in self.entries(value, "rules"):
            path: KeyPath = ("rules", index)
            ident = self.ident(entry, path, where, seen)
            kind = self.kind(entry, RULE_KEYS, path, where)
            if kind is None:
                continue
            self.unknown_keys(entry, RULE_KEYS[kind], path, where)
            channel = self.channel(entry.get("channel"), channels, (*path, "channel"), where)
            rule: Rule | None
            if kind == "keywords":
                rule = self.keyword_rule(ident, channel, entry, path, where)
            else:
                rule = self.route_rule(ident, channel, entry, path, where)
            if rule is not None:
                rules.append(rule)
        return rules

    def channel(
        self, value: Any, channels: Mapping[str, Channel], path: KeyPath, where: str
    ) -> str | None:
        if not isinstance(value, str):
            self.problem(path, f"{where}.channel", "must name a [channels.NAME] table")
            return None
        if value not in channels:
            known = ", ".join(sorted(channels)) or "none defined"
            self.problem(path, f"{where}.channel", f'unknown channel "{value}" (known: {known})')
            return None
        return value

    def keyword_rule(
        self,
        ident: str | None,
        channel: str | None,
        entry: dict[str, Any],
        path: KeyPath,
        where: str,
    ) -> KeywordRule | None:
        query = self.query(entry.get("query"), (*path, "query"), f"{where}.query")
        news = tuple(i for i, kind in self.declared_sources.items() if kind == "rss")
        chosen = self.rule_sources(
            entry.get("sources"), news, (*path, "sources"), f"{where}.sources"
        )
        if ident is None or query is None or channel is None or chosen is None:
            return None
        return KeywordRule(ident, entry["query"], query, channel, chosen)

    def query(self, value: Any, path: KeyPath, where: str) -> Query | None:
        if not isinstance(value, str):
            self.problem(path, where, "query is missing" if value is None else "must be a string")
            return None
        self.used_lists.update(_LIST_REFERENCE.findall(value))
        try:
            query = parse_query(value, self.term_lists)
        except QueryError as exc:
            line, column = self.query_position(path, value, exc.column)
            self.problems.append(Problem(self.name, line, where, f"column {column}: {exc.message}"))
            return None
        for at, note in query.punctuation_notes():
            line, column = self.query_position(path, value, at)
            self.warnings.append(f"{self.name}:{line}: {where}: column {column}: {note}")
        return query

    def query_position(self, path: KeyPath, value: str, column: int) -> tuple[int, int]:
        """The file line and column of a position in a (possibly multi-line) query string."""
        line = line_of(self.lines, path)
        before = value[: column - 1]
        newlines = before.count("\n")
        if not newlines:
            return line, column
        raw = self.text_lines[line - 1] if line <= len(self.text_lines) else ""
        # TOML drops a newline right after the opening quotes of a multi-line string.
        trimmed = raw.rstrip().endswith(("'''", '"""'))
        return line + newlines + int(trimmed), column - before.rfind("\n") - 1

    def rule_sources(
        self, value: Any, news: tuple[str, ...], path: KeyPath, where: str
    ) -> tuple[str, ...] | None:
        if value is None:
            return news
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(path, where, "must be a list of source ids")
            return None
        unknown = [v for v in value if v not in news]
        if unknown:
            known = ", ".join(news) or "none defined"
            names = ", ".join(f'"{v}"' for v in unknown)
            self.problem(path, where, f"unknown news source {names} (known: {known})")
            return None
        if not value:
            self.problem(
                path, where, "an empty list would never match; leave it out for every source"
            )
            return None
        return tuple(value)


def _type_name(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    names |= {list: "a list", dict: "a table"}
    return names.get(type(value), type(value).__name__)


def _is_http_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _is_local(url: str) -> bool:
    return loopback(urlsplit(url).hostname or "")
