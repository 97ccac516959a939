"""Load and validate `rules.toml` into a frozen `Config`.

Validation is complete before any network I/O: every problem is collected and reported as
`FILE:LINE: where: what is wrong` (see `ConfigError`), not just the first. The schema is in
DESIGN §5 and the README.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bot.query import Query, QueryError, parse_query
from bot.tomllines import Path as KeyPath
from bot.tomllines import line_of, locate_keys

ID_PATTERN = re.compile(r"^[a-z0-9_-]+$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
NEWS_KINDS = frozenset({"rss"})
SHORT_REMOTE_INTERVAL = 60.0
DEFAULT_API_URL = "https://api.telegram.org"

# Every key the file may hold, by table; the README documents each (a test checks).
KEYS: dict[str, frozenset[str]] = {
    "": frozenset({"telegram", "channels", "sources", "rules"}),
    "telegram": frozenset({"api_url", "admins"}),
    "channels": frozenset({"chat_id"}),
    "sources": frozenset({"id", "kind", "url", "every", "alert_existing"}),
    "rules": frozenset({"id", "kind", "query", "channel", "sources"}),
}


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the configuration, at a line of a file."""

    file: str
    line: int
    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.where}: {self.what}"


class ConfigError(Exception):
    """The configuration cannot be used; `problems` lists every reason."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True, slots=True)
class TelegramSettings:
    """The `[telegram]` table."""

    api_url: str = DEFAULT_API_URL
    admins: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Channel:
    """A `[channels.NAME]` table: where alerts are posted."""

    id: str
    chat_id: int | str


@dataclass(frozen=True, slots=True)
class RssSource:
    """A `[[sources]]` entry of kind "rss" (RSS, Atom or JSON Feed)."""

    id: str
    url: str
    every: float
    alert_existing: bool = False
    kind: str = "rss"


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
class Config:
    """A validated configuration. `warnings` are worth showing but not fatal."""

    path: str
    telegram: TelegramSettings
    channels: Mapping[str, Channel]
    sources: tuple[RssSource, ...]
    rules: tuple[KeywordRule, ...]
    warnings: tuple[str, ...] = field(default=())


def parse_duration(text: str) -> float:
    """Seconds in a duration such as "45s", "5m", "6h", "30d"; ValueError if bad."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f'bad duration "{text}": use a number and s, m, h or d, like "5m"')
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f'duration "{text}" must be positive')
    return seconds


def load_config(path: str | Path) -> Config:
    """Read and validate a configuration file; raises `ConfigError` listing every problem."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError([Problem(name, 1, "file", "not found")]) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(name, 1, "file", f"cannot read: {exc}")]) from exc
    return parse_config(text, name)


def parse_config(text: str, name: str = "rules.toml") -> Config:
    """Validate configuration text; `name` is used in error messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"at line (\d+)", str(exc))
        line = int(found.group(1)) if found else 1
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise ConfigError([Problem(name, line, "toml", message)]) from exc
    return _Validator(name, text).config(data)


class _Validator:
    """Collects problems while building the frozen config."""

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.text_lines = text.splitlines()
        self.lines = locate_keys(text)
        self.problems: list[Problem] = []
        self.warnings: list[str] = []
        self.declared_sources: list[str] = []  # ids seen, even of entries with other errors

    def problem(self, path: KeyPath, where: str, what: str) -> None:
        self.problems.append(Problem(self.name, line_of(self.lines, path), where, what))

    def config(self, data: dict[str, Any]) -> Config:
        self.unknown_keys(data, KEYS[""], (), "")
        telegram = self.telegram(data.get("telegram", {}))
        channels = self.channels(data.get("channels", {}))
        sources = self.sources(data.get("sources", []))
        rules = self.rules(data.get("rules", []), channels, sources)
        if self.problems:
            self.problems.sort(key=lambda p: p.line)
            raise ConfigError(self.problems)
        if not sources:
            self.warnings.append(f"{self.name}: no [[sources]]: nothing will be watched")
        elif not rules:
            self.warnings.append(f"{self.name}: no [[rules]]: nothing will ever alert")
        return Config(
            self.name, telegram, channels, tuple(sources), tuple(rules), tuple(self.warnings)
        )

    def unknown_keys(
        self, table: Mapping[str, Any], known: frozenset[str], path: KeyPath, where: str
    ) -> None:
        for key in table:
            if key not in known:
                place = f"{where}.{key}" if where else key
                allowed = ", ".join(sorted(known))
                self.problem((*path, key), place, f"unknown key (allowed here: {allowed})")

    def expect_table(self, value: Any, path: KeyPath, where: str) -> dict[str, Any] | None:
        if isinstance(value, dict):
            return value
        self.problem(path, where, f"must be a table, not {_type_name(value)}")
        return None

    def telegram(self, value: Any) -> TelegramSettings:
        table = self.expect_table(value, ("telegram",), "telegram")
        if table is None:
            return TelegramSettings()
        self.unknown_keys(table, KEYS["telegram"], ("telegram",), "telegram")
        api_url = DEFAULT_API_URL
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
            self.unknown_keys(body, KEYS["channels"], path, where)
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

    def sources(self, value: Any) -> list[RssSource]:
        sources: list[RssSource] = []
        seen: set[str] = set()
        for index, entry, where in self.entries(value, "sources"):
            path: KeyPath = ("sources", index)
            ident = self.ident(entry, path, where, seen)
            if ident is not None:
                self.declared_sources.append(ident)
            kind = entry.get("kind")
            if kind not in NEWS_KINDS:
                what = "kind is missing" if kind is None else f'unknown kind "{kind}"'
                self.problem((*path, "kind"), f"{where}.kind", f"{what} (supported: rss)")
                continue
            self.unknown_keys(entry, KEYS["sources"], path, where)
            url = entry.get("url")
            if not isinstance(url, str) or not _is_http_url(url):
                self.problem((*path, "url"), f"{where}.url", "must be an http(s) URL")
                url = None
            every = self.duration(entry.get("every", "10m"), (*path, "every"), f"{where}.every")
            existing = entry.get("alert_existing", False)
            if not isinstance(existing, bool):
                self.problem(
                    (*path, "alert_existing"), f"{where}.alert_existing", "must be true or false"
                )
                existing = False
            if ident is None or url is None or every is None:
                continue
            if every < SHORT_REMOTE_INTERVAL and not _is_local(url):
                self.warnings.append(
                    f"{self.name}:{line_of(self.lines, (*path, 'every'))}: {where}.every: "
                    f"polling a remote host every {every:g}s is impolite; consider 5m or more"
                )
            sources.append(RssSource(ident, url, every, existing))
        return sources

    def duration(self, value: Any, path: KeyPath, where: str) -> float | None:
        if not isinstance(value, str):
            self.problem(path, where, f'durations are strings like "5m", not {_type_name(value)}')
            return None
        try:
            return parse_duration(value)
        except ValueError as exc:
            self.problem(path, where, str(exc))
            return None

    def rules(
        self, value: Any, channels: Mapping[str, Channel], sources: list[RssSource]
    ) -> list[KeywordRule]:
        rules: list[KeywordRule] = []
        seen: set[str] = set()
        news = tuple(self.declared_sources)
        for index, entry, where in self.entries(value, "rules"):
            path: KeyPath = ("rules", index)
            ident = self.ident(entry, path, where, seen)
            kind = entry.get("kind")
            if kind != "keywords":
                what = "kind is missing" if kind is None else f'unknown kind "{kind}"'
                self.problem((*path, "kind"), f"{where}.kind", f"{what} (supported: keywords)")
                continue
            self.unknown_keys(entry, KEYS["rules"], path, where)
            query = self.query(entry.get("query"), (*path, "query"), f"{where}.query")
            channel = entry.get("channel")
            if not isinstance(channel, str):
                self.problem(
                    (*path, "channel"), f"{where}.channel", "must name a [channels.NAME] table"
                )
                channel = None
            elif channel not in channels:
                known = ", ".join(sorted(channels)) or "none defined"
                self.problem(
                    (*path, "channel"),
                    f"{where}.channel",
                    f'unknown channel "{channel}" (known: {known})',
                )
                channel = None
            chosen = self.rule_sources(
                entry.get("sources"), news, (*path, "sources"), f"{where}.sources"
            )
            if ident is None or query is None or channel is None or chosen is None:
                continue
            rules.append(KeywordRule(ident, entry["query"], query, channel, chosen))
        return rules

    def query(self, value: Any, path: KeyPath, where: str) -> Query | None:
        if not isinstance(value, str):
            self.problem(path, where, "query is missing" if value is None else "must be a string")
            return None
        try:
            return parse_query(value)
        except QueryError as exc:
            line, column = self.query_position(path, value, exc.column)
            self.problems.append(Problem(self.name, line, where, f"column {column}: {exc.message}"))
            return None

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
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
