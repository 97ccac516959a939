"""`vedette test-rule`: a keyword rule (or a query) run over stored history and feeds, and
over a file of expectations, before it is deployed. Nothing is written anywhere.

- Items: the seen items of the database first seen within `--since` (read-only; for a rule,
  from the sources it watches), and each `--feed` URL (fetched once, as the bot fetches) or
  file, parsed by `watchers.feeds`. The text matched is what the bot matches
  (`watchers.items.item_text`: title, summary and content; the store keeps it for each item).
- The report: each match with its date (published, else first seen), source, title, link and
  matched terms (`хафтар* → хафтаром`); then items read, items matched, alerts that would be
  sent (one per distinct item key: the same article in several feeds alerts once, as the bot
  dedups; for a rule, how many of them it already alerted), how many messages they make once
  grouped into stories (`messages_after_grouping`, as `[stories]` says) and matches per day.
  `--near` adds near misses (`bot.query.near`).
- `--expect FILE`: JSON lines `{"title", "summary", "expect": "match" | "no"}` (other keys
  are ignored); each failed expectation is printed with FILE:LINE, and the exit code is 1.

`evaluate`, `expectations`, `render` and `report_data` are pure; `test_rule_command` is the
shell that reads the database, the feeds and the file.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bot.config.types import Config, KeywordRule
from bot.halves import in_halves
from bot.news import Grouping, describe, grouping_for
from bot.query.match import Matcher
from bot.query.near import NearMisses
from bot.query.parse import Query, QueryError, parse_query
from bot.query.screen import Screen
from bot.query.textnorm import normalise
from bot.store import Store
from bot.store.base import StoreError, database_error
from bot.store.records import StoredItem
from bot.stories import StoryKeys, canonical_link, group, language, text_key, title_numbers
from bot.timeutil import from_iso
from bot.words import plural
from watchers.errors import WatcherError
from watchers.feeds import read_feed
from watchers.http import Validators, fetch, make_client
from watchers.items import item_text

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A mistake on the command line or in a file it names (exit 2); the message says where."""


@dataclass(frozen=True, slots=True)
class Item:
    """An item to test: `source` is its source id, or the feed URL or file it came from;
    `key` its dedup key; `text` what the rules read in it."""

    source: str
    key: str
    title: str
    link: str
    text: str
    published: datetime | None = None
    first_seen: datetime | None = None

    @property
    def date(self) -> datetime | None:
        """When it was published, else when the bot first saw it."""
        return self.published or self.first_seen


# What `Checker.examine` says of a text: (matched terms, None) for a match, ((), the branch
# it missed) for a near miss.
Verdict = tuple[tuple[str, ...], str | None]


@dataclass(frozen=True, slots=True)
class Hit:
    """A matched item and its matched terms, described (`хафтар* → хафтаром`)."""

    item: Item
    terms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NearMiss:
    """An item that missed by one branch, and the branch, written as a query."""

    item: Item
    missed: str


@dataclass(frozen=True, slots=True)
class Case:
    """One expectation of an `--expect` file."""

    where: str  # FILE:LINE
    title: str
    summary: str
    expect_match: bool


@dataclass(frozen=True, slots=True)
class Outcome:
    """A case and whether the query matched it (`terms`: what matched)."""

    case: Case
    terms: tuple[str, ...] | None

    @property
    def matched(self) -> bool:
        return self.terms is not None

    @property
    def failed(self) -> bool:
        return self.matched != self.case.expect_match


@dataclass(frozen=True, slots=True)
class Report:
    """What `vedette test-rule` prints. `already_alerted` is None without a rule and a
    database; `outcomes` is empty without `--expect`."""

    rule_id: str | None  # None for a --query
    query: str
    read_from: tuple[str, ...]
    items_read: int
    hits: tuple[Hit, ...]
    near: tuple[NearMiss, ...] | None = None
    already_alerted: int | None = None
    expect_file: str | None = None
    outcomes: tuple[Outcome, ...] = field(default=())
    messages: int | None = None  # after story grouping (None: `[stories] group = false`)

    @property
    def alerts(self) -> int:
        """Alerts that would be sent: one per distinct item key among the matches."""
        return len({hit.item.key for hit in self.hits})

    def per_day(self) -> list[tuple[str, int]]:
        """Matches per UTC day of their date ("undated" last), oldest first."""
        days = Counter(
            hit.item.date.date().isoformat() if hit.item.date else "undated" for hit in self.hits
        )
        return sorted(days.items(), key=lambda pair: (pair[0] == "undated", pair[0]))

    def failures(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.failed]

    def tally(self) -> tuple[int, int, int]:
        """Of the `--expect` cases: (expected matches, those matched, unexpected matches)."""
        expected = [o for o in self.outcomes if o.case.expect_match]
        unexpected = sum(1 for o in self.outcomes if o.matched and not o.case.expect_match)
        return len(expected), sum(1 for o in expected if o.matched), unexpected


# --- the functional core ---------------------------------------------------------------


def messages_after_grouping(hits: Sequence[Hit], grouping: Grouping, now: datetime) -> int:
    """How many messages the distinct matched items make once grouped into stories, as the
    bot groups them (`bot.stories.group`, in date order, undated ones at `now`): the text
    compared is what the rules read (title, summary and content), the bot's own is title
    and summary, so this is an estimate."""
    seen: dict[str, Item] = {}
    for hit in hits:
        seen.setdefault(hit.item.key, hit.item)
    entries = [
        (
            key,
            item.date or now,
            StoryKeys(
                link=canonical_link(item.link),
                lang=language(item.text),
                text=text_key("", item.text),
                numbers=title_numbers(item.title),
                entities=frozenset(m.rule_id for m in grouping.entities.match(item.text)),
                rules=frozenset({"rule"}),
            ),
        )
        for key, item in seen.items()
    ]
    firsts = group(entries, window=grouping.settings.window)
    return len(set(firsts.values()))


class Checker:
    """One query, compiled once, applied to item texts: matches and, with `near`, near
    misses. `might_match` rules most texts out before the matcher tokenises them
    (`bot.query.screen`)."""

    def __init__(self, query: Query, *, near: bool = False) -> None:
        self.query = query
        self.matcher = Matcher.compile([("query", query)])
        self.near = NearMisses(query) if near else None
        self.screen = Screen(query, near=near)

    def might_match(self, text: str) -> bool:
        """False only for a text that can be neither a match nor a near miss."""
        return self.screen(normalise(text))

    def terms(self, text: str) -> tuple[str, ...] | None:
        """The matched terms, described, or None when the query does not match `text`."""
        found = self.matcher.match(text)
        if not found:
            return None
        return tuple(dict.fromkeys(describe(hit) for hit in found[0].hits))

    def missed(self, text: str) -> str | None:
        """The branch a non-matching text missed, if it is a near miss."""
        return self.near.failed(text) if self.near is not None else None

    def examine(self, text: str) -> Verdict | None:
        """`text`'s matched terms, or the branch it missed, or None (neither)."""
        if not self.might_match(text):
            return None
        terms = self.terms(text)
        if terms is not None:
            return terms, None
        missed = self.missed(text)
        return None if missed is None else ((), missed)

    def examine_rows(self, rows: Sequence[tuple[int, str]]) -> list[tuple[int, Verdict]]:
        """`examine` of each (row id, text), for the rows that match or nearly match."""
        found = []
        for rowid, text in rows:
            verdict = self.examine(text)
            if verdict is not None:
                found.append((rowid, verdict))
        return found


def evaluate(checker: Checker, items: Iterable[Item]) -> tuple[int, list[Hit], list[NearMiss]]:
    """Items read, the matches and the near misses (pure)."""
    read = 0
    judged: list[tuple[Item, Verdict]] = []
    for item in items:
        read += 1
        verdict = checker.examine(item.text)
        if verdict is not None:
            judged.append((item, verdict))
    return (read, *sort_out(judged))


def sort_out(judged: Iterable[tuple[Item, Verdict]]) -> tuple[list[Hit], list[NearMiss]]:
    """The matches and the near misses among items with their verdicts (pure)."""
    hits: list[Hit] = []
    near: list[NearMiss] = []
    for item, (terms, missed) in judged:
        if missed is None:
            hits.append(Hit(item, terms))
        else:
            near.append(NearMiss(item, missed))
    return hits, near


def expectations(checker: Checker, cases: Iterable[Case]) -> list[Outcome]:
    """Each case with what the query matched in it (title and summary, as an item with no
    content)."""
    return [Outcome(case, checker.terms(f"{case.title}\n{case.summary}\n")) for case in cases]


def parse_cases(name: str, text: str) -> list[Case]:
    """The cases of an `--expect` file; `UsageError` naming FILE:LINE for a bad line."""
    cases: list[Case] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{name}:{number}"
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{where}: not JSON: {exc.msg} (column {exc.colno})") from exc
        if not isinstance(value, dict):
            raise UsageError(f'{where}: expected an object {{"title", "summary", "expect"}}')
        title, summary, expect = value.get("title"), value.get("summary", ""), value.get("expect")
        if not isinstance(title, str) or not isinstance(summary, str):
            raise UsageError(f'{where}: "title" (and "summary", if given) must be strings')
        if expect not in ("match", "no"):
            raise UsageError(f'{where}: "expect" must be "match" or "no", not {expect!r}')
        cases.append(Case(where, title, summary, expect == "match"))
    return cases


def stored(row: StoredItem) -> Item:
    """A stored seen item as an `Item`."""
    published = from_iso(row.published_at) if row.published_at else None
    return Item(
        row.source_id,
        row.item_key,
        row.title,
        row.link,
        row.text,
        published,
        from_iso(row.first_seen_at),
    )


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "undated"


def _count(matched: int, expected: int, unexpected: int) -> str:
    return (
        f"{matched} of {plural(expected, 'expected match', 'expected matches')} matched, "
        f"{plural(unexpected, 'unexpected match', 'unexpected matches')}"
    )


def _item_lines(item: Item) -> list[str]:
    """An item's date, source and title, then its link when it has one."""
    head = f"{_when(item.date)}  {item.source}  {item.title}"
    return [head, f"  {item.link}"] if item.link else [head]


def render(report: Report) -> str:
    """The report as text: the matches, the near misses, the summary, the expectations."""
    lines: list[str] = []
    for hit in report.hits:
        lines += _item_lines(hit.item)
        lines.append(f"  terms: {', '.join(hit.terms)}")
    if report.near is not None:
        lines.append("")
        lines.append(f"near misses (items missing one branch of an AND): {len(report.near)}")
        for miss in report.near:
            lines += _item_lines(miss.item)
            lines.append(f"  missed: {miss.missed}")
    if lines:
        lines.append("")
    label = f"rule {report.rule_id}" if report.rule_id is not None else "query"
    lines.append(f"{label}: {report.query}")
    lines.append(f"items read: {report.items_read} ({'; '.join(report.read_from) or 'none'})")
    lines.append(f"items matched: {len(report.hits)}")
    lines.append(
        f"alerts that would be sent: {report.alerts} (one per distinct item: an article in "
        "several feeds alerts once)"
    )
    if report.messages is not None:
        lines.append(
            f"  as messages, once grouped into stories ([stories]): {report.messages} "
            "(an item reporting an earlier one's story is added to its message)"
        )
    if report.already_alerted is not None:
        lines.append(f"  of which already alerted by this rule: {report.already_alerted}")
    if report.near is not None:
        lines.append(f"near misses: {len(report.near)}")
    lines.append("matches per day:" + ("" if report.hits else " none"))
    lines.extend(f"  {day}  {count}" for day, count in report.per_day())
    if report.expect_file is not None:
        expected, matched, unexpected = report.tally()
        lines.append(
            f"expectations ({report.expect_file}, "
            f"{plural(len(report.outcomes), 'case')}): {_count(matched, expected, unexpected)}"
        )
        for outcome in report.failures():
            if outcome.case.expect_match:
                lines.append(f"  FAILED {outcome.case.where}: no match: {outcome.case.title}")
            else:
                terms = ", ".join(outcome.terms or ())
                lines.append(
                    f"  FAILED {outcome.case.where}: unexpected match ({terms}): "
                    f"{outcome.case.title}"
                )
    return "\n".join(lines)


def _item_data(item: Item) -> dict[str, Any]:
    return {
        "date": item.date.isoformat() if item.date else None,
        "published": item.published.isoformat() if item.published else None,
        "first_seen": item.first_seen.isoformat() if item.first_seen else None,
        "source": item.source,
        "key": item.key,
        "title": item.title,
        "link": item.link,
    }


def report_data(report: Report) -> dict[str, Any]:
    """The report as JSON-ready data (`--json`)."""
    data: dict[str, Any] = {
        "rule": report.rule_id,
        "query": report.query,
        "read_from": list(report.read_from),
        "matches": [{**_item_data(hit.item), "terms": list(hit.terms)} for hit in report.hits],
        "near_misses": None
        if report.near is None
        else [{**_item_data(miss.item), "missed": miss.missed} for miss in report.near],
        "summary": {
            "items_read": report.items_read,
            "items_matched": len(report.hits),
            "alerts_would_send": report.alerts,
            "messages_after_grouping": report.messages,
            "already_alerted": report.already_alerted,
            "near_misses": None if report.near is None else len(report.near),
            "matches_per_day": dict(report.per_day()),
        },
        "expectations": None,
    }
    if report.expect_file is not None:
        expected, matched, unexpected = report.tally()
        data["expectations"] = {
            "file": report.expect_file,
            "cases": len(report.outcomes),
            "expected_matches": expected,
            "matched": matched,
            "unexpected_matches": unexpected,
            "failed": [
                {
                    "where": o.case.where,
                    "title": o.case.title,
                    "expect": "match" if o.case.expect_match else "no",
                    "terms": list(o.terms or ()),
                }
                for o in report.failures()
            ],
        }
    return data


# --- the shell -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Request:
    """What `vedette test-rule` was asked (the parsed command line)."""

    rule_id: str | None
    query: str | None
    db: str
    since: float  # seconds
    since_text: str
    feeds: tuple[str, ...] = ()
    near: bool = False
    expect: str | None = None
    as_json: bool = False


def test_rule_command(config: Config, request: Request, now: datetime) -> int:
    """`vedette test-rule`: print the report; the exit code (0; 1 an expectation failed, or
    the database or a feed cannot be read; 2 a bad rule id, query, file or option)."""
    try:
        return _command(config, request, now)
    except UsageError as exc:
        print(f"vedette: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (StoreError, WatcherError) as exc:
        print(f"vedette: {exc}", file=sys.stderr)
        return EXIT_FAILED


def _command(config: Config, request: Request, now: datetime) -> int:
    rule, query = _query(config, request)
    grouping = grouping_for(config)
    cases = _read_cases(request.expect) if request.expect is not None else None
    checker = Checker(query, near=request.near)
    read_from: list[str] = []
    items: list[Item] = []
    for feed in request.feeds:
        fetched = _feed_items(feed, now)
        read_from.append(f"{feed}: {plural(len(fetched), 'item')}")
        items.extend(fetched)
    read, hits, near = evaluate(checker, items)
    already = None
    use_db = not request.feeds and cases is None
    if Path(request.db).is_file():
        since = now - timedelta(seconds=request.since)
        db_read, db_hits, db_near, already = _from_database(request.db, since, checker, rule)
        read_from.insert(0, f"{request.db}, first seen in the last {request.since_text}")
        read += db_read
        hits = db_hits + hits
        near = db_near + near
    elif use_db:
        raise StoreError(f"no database at {request.db} (has `vedette run` used it yet?)")
    report = Report(
        rule_id=rule.id if rule is not None else None,
        query=query.text,
        read_from=tuple(read_from),
        items_read=read,
        hits=tuple(hits),
        near=tuple(near) if request.near else None,
        already_alerted=already,
        expect_file=request.expect,
        outcomes=tuple(expectations(checker, cases)) if cases is not None else (),
        messages=None if grouping is None else messages_after_grouping(hits, grouping, now),
    )
    if request.as_json:
        print(json.dumps(report_data(report), ensure_ascii=False, indent=2))
    else:
        print(render(report))
    return EXIT_FAILED if report.failures() else EXIT_OK


def _query(config: Config, request: Request) -> tuple[KeywordRule | None, Query]:
    """The rule and its query, or the `--query` parsed with the configuration's term lists."""
    if (request.rule_id is None) == (request.query is None):
        raise UsageError("give a RULE_ID or --query Q (one of them)")
    if request.query is not None:
        try:
            query = parse_query(request.query, terms=config.terms)
        except QueryError as exc:
            raise UsageError(f"--query: {exc}") from exc
        return None, query
    rules = {rule.id: rule for rule in config.keyword_rules}
    rule = rules.get(request.rule_id or "")
    if rule is None:
        known = ", ".join(rules) or "none"
        other = request.rule_id in {r.id for r in config.rules}
        what = "is not a keyword rule" if other else "is not a rule"
        raise UsageError(f"{request.rule_id} {what} of {config.path}; its keyword rules: {known}")
    return rule, rule.query


def _read_cases(path: str) -> list[Case]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--expect {path}: cannot read: {exc}") from exc
    return parse_cases(path, text)


def _from_database(
    path: str, since: datetime, checker: Checker, rule: KeywordRule | None
) -> tuple[int, list[Hit], list[NearMiss], int | None]:
    """Items read, matches, near misses and (for a rule) how many of the matched items the
    rule already alerted for, from the database opened read-only. A rule reads the items
    of the sources it watches; only the items that might match become `Item`s."""
    store = Store.open(path, read_only=True)
    try:
        sources = rule.sources if rule is not None else None
        texts = store.stored_texts(since, sources=sources)
        read = len(texts)
        verdicts = in_halves(checker.examine_rows, texts)  # two cores for a month of items
        rows = store.stored_rows([rowid for rowid, _ in verdicts])
        verdicts.sort(key=lambda found: rows[found[0]].first_seen_at)  # oldest first
        hits, near = sort_out((stored(rows[rowid]), verdict) for rowid, verdict in verdicts)
        already = None
        if rule is not None:
            pairs = {(rule.id, hit.item.key) for hit in hits}
            already = len(store.matched_pairs(pairs))
    except sqlite3.Error as exc:
        raise database_error(path, exc) from exc
    finally:
        store.close()
    return read, hits, near, already


def _feed_items(feed: str, now: datetime) -> list[Item]:
    """The items of a feed URL, fetched once (a failure raises `WatcherError`), or of a
    file (missing, unreadable or not a feed: `UsageError`)."""
    if feed.startswith(("http://", "https://")):
        body, content_type, url = asyncio.run(_fetch(feed))
        document = read_feed(feed, body, content_type=content_type, url=url, now=now)
    else:
        try:
            document = read_feed(feed, Path(feed).read_bytes(), content_type="", url=feed, now=now)
        except OSError as exc:
            raise UsageError(f"--feed {feed}: cannot read: {exc.strerror or exc}") from exc
        except WatcherError as exc:
            raise UsageError(f"--feed {exc}") from exc
    return [
        Item(feed, item.key, item.title, item.link, item_text(item), item.published, None)
        for item in document.items
    ]


async def _fetch(url: str) -> tuple[bytes, str, str]:
    async with make_client() as client:
        fetched = await fetch(client, url, url, Validators())
    return fetched.body, fetched.content_type, fetched.final_url
