"""Parsing a fetched feed document into `NewsItem`s (pure: no I/O, no clock).

- JSON Feed 1.0/1.1 is read with `json` (detected by a leading `{` or a JSON content type);
  RSS 0.9x/1.0/2.0 and Atom with feedparser, after the DOCTYPE entity screen
  (`watchers.feed_dtd`: a feed declaring external, recursive or oversized entities is refused).
- "bozo" does not mean reject: a truncated feed yields its complete entries. A document with
  no entries and no recognised feed version (an HTML page, other XML, empty) is "not a feed".
- Any exception from feedparser becomes a `ParseError` that keeps it as its cause.
- A document whose bytes are invalid in its declared charset is repaired, not re-decoded in
  another charset (`watchers.feed_formats`); the count of bad bytes is reported.
- Each entry becomes plain text (title ≤ 1,000 characters, summary ≤ 5,000, content ≤
  20,000), an absolute http(s) link of at most `LINK_MAX` characters or "", and a publication
  date only when it lies between 1990-01-01 and `now` + 1 day.
- At most `MAX_ITEMS` items, the newest: when every entry has a date, the newest by date;
  otherwise the end of the document the feed adds to: its last entries when the dated
  entries (or, without dates, the numbers at the end of the guids or links) rise down the
  document, else its first (most feeds list newest first). Kept items stay in document
  order; an entry whose key repeats keeps its first occurrence; an entry that cannot be
  converted is skipped.
- A guid given to entries with different links and titles in one document (a site URL used
  as every item's guid) identifies nothing: those entries are keyed as if they had none.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from urllib.parse import urljoin, urlsplit, urlunsplit

from watchers.discover import with_feed_hint
from watchers.errors import ParseError
from watchers.feed_formats import (
    FeedFormatError,
    RawEntry,
    RawFeed,
    is_json,
    read_json_feed,
    read_xml_feed,
)
from watchers.feed_text import clean_text, html_to_text
from watchers.items import NewsItem

MAX_ITEMS = 500
TITLE_MAX = 1_000
SUMMARY_MAX = 5_000
CONTENT_MAX = 20_000
LINK_MAX = 4_096
# Links longer than this never were keys (the cap was 2,048 before 0.2): an item without a
# guid whose link is longer keeps its hash key, so upgrading does not re-alert it.
KEY_LINK_MAX = 2_048
KEY_MAX = 1_024
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
_WEB = ("http", "https")
_LAST_NUMBER = re.compile(r"(\d{1,18})\D*$")

logger = logging.getLogger(__name__)

# How the items were chosen when a feed has more than MAX_ITEMS entries.
NEWEST_BY_DATE = "the newest {n} by date"
LAST_IN_DOCUMENT = "the last {n} (the feed lists oldest first)"
FIRST_IN_DOCUMENT = "the first {n} (no dates to compare)"


@dataclass(frozen=True, slots=True)
class SharedGuid:
    """A guid that several different stories of one document carry."""

    guid: str
    items: int


@dataclass(frozen=True, slots=True)
class FeedDocument:
    """A parsed feed: its items and what reading it took.

    `entries` is how many entries the document has (more than `len(items)` when capped;
    `kept` then says which were read); `bad_bytes` how many bytes were repaired to decode
    it; `shared_guids` the guids that were ignored because different stories share them;
    `refresh_hint` the seconds the feed says it can be cached (its RSS `<ttl>` or
    `sy:updatePeriod` / `sy:updateFrequency`, see `watchers.feed_hints`), None if it does
    not say (or says garbage).
    """

    items: tuple[NewsItem, ...]
    entries: int = 0
    kept: str = ""
    bad_bytes: int = 0
    shared_guids: tuple[SharedGuid, ...] = ()
    refresh_hint: float | None = None


def parse_feed(
    source_id: str, body: bytes, *, content_type: str, url: str, now: datetime
) -> list[NewsItem]:
    """The items of a feed document; `url` is the final URL (base for relative links).

    Raises ParseError (naming the source and URL) when the document is not a usable feed.
    """
    return list(read_feed(source_id, body, content_type=content_type, url=url, now=now).items)


def read_feed(
    source_id: str, body: bytes, *, content_type: str, url: str, now: datetime
) -> FeedDocument:
    """`parse_feed`, with what reading the document took (see `FeedDocument`)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if not body.strip():
        raise ParseError(source_id, "not a feed: empty document", url=url)
    try:
        feed: RawFeed
        if is_json(body, content_type):
            feed = read_json_feed(body, content_type)
        else:
            feed = read_xml_feed(body, content_type)
    except FeedFormatError as exc:
        message = with_feed_hint(str(exc), body, url)
        raise ParseError(source_id, message, url=url) from exc.__cause__
    raws, kept = newest(feed.entries, now)
    shared = shared_guids(raws)
    items = _items(source_id, raws, url, now, frozenset(s.guid for s in shared))
    return FeedDocument(
        tuple(items), len(feed.entries), kept, feed.bad_bytes, shared, feed.refresh_hint
    )


def item_key(
    source_id: str,
    guid: str | None,
    link: str,
    title: str,
    published: str | None,
    text: str = "",
) -> str:
    """The dedup key of an entry.

    An http(s) guid is normalised like a link and not scoped, so the same article in two
    feeds has one key; an opaque guid is scoped by source (`"{source_id}:{guid}"`); without a
    guid, the normalised link; without either, a per-source sha256 of title and date, and of
    `text` (summary and content) when title and date are both empty, so untitled, undated
    items stay apart (a titled or dated item keeps the key it always had).
    """
    ident = clean_text(guid or "")
    if ident:
        if _is_web_url(ident):
            return _bounded(normalise_link(ident), None)
        return _bounded(ident, source_id)
    if link.strip():
        return _bounded(normalise_link(link), None)
    hashed = f"{title}\n{published or ''}"
    if not title and not published and text:
        hashed = f"\n\n{text}"
    return f"{source_id}:sha256:{_sha256(hashed)}"


def newest(raws: Sequence[RawEntry], now: datetime) -> tuple[Sequence[RawEntry], str]:
    """At most MAX_ITEMS entries, the newest (see the module docstring), in document order,
    and how they were chosen ("" when all were kept)."""
    if len(raws) <= MAX_ITEMS:
        return raws, ""
    dates = [_safe_date(raw, now) for raw in raws]
    known = [date for date in dates if date is not None]
    if len(known) == len(raws):
        order = sorted(range(len(raws)), key=known.__getitem__, reverse=True)
        return [raws[i] for i in sorted(order[:MAX_ITEMS])], NEWEST_BY_DATE.format(n=MAX_ITEMS)
    rising = _rising(known)
    if rising is None:
        rising = _rising([n for n in map(_last_number, raws) if n is not None])
    if rising:
        return raws[-MAX_ITEMS:], LAST_IN_DOCUMENT.format(n=MAX_ITEMS)
    return raws[:MAX_ITEMS], FIRST_IN_DOCUMENT.format(n=MAX_ITEMS)


def shared_guids(raws: Iterable[RawEntry]) -> tuple[SharedGuid, ...]:
    """The guids that entries with different links and different titles share."""
    by_guid: dict[str, list[RawEntry]] = {}
    for raw in raws:
        guid = clean_text(raw.guid or "")
        if guid:
            by_guid.setdefault(guid, []).append(raw)
    return tuple(
        SharedGuid(guid, len(group))
        for guid, group in by_guid.items()
        if len(group) > 1
        and len({raw.link.strip() for raw in group}) > 1
        and len({clean_text(raw.title) for raw in group}) > 1
    )


def normalise_link(url: str) -> str:
    """`url` without `utm_*` parameters or fragment, scheme and host lower-cased.

    Default ports are dropped and an empty path becomes `/`; the rest is kept as given.
    """
    text = url.strip()
    try:
        parts = urlsplit(text)
    except ValueError:
        return text
    scheme = parts.scheme.lower()
    userinfo, at, hostport = parts.netloc.rpartition("@")
    hostport = hostport.lower()
    default_port = {"http": ":80", "https": ":443"}.get(scheme)
    if default_port and hostport.endswith(default_port):
        hostport = hostport.removesuffix(default_port)
    netloc = f"{userinfo}{at}{hostport}"
    query = "&".join(
        param
        for param in parts.query.split("&")
        if param and not param.split("=", 1)[0].lower().startswith("utm_")
    )
    path = parts.path or ("/" if netloc else "")
    return urlunsplit((scheme, netloc, path, query, ""))


def absolute_link(link: str, base_url: str) -> str:
    """`link` resolved against `base_url` if the result is an http(s) URL, else ""."""
    text = clean_text(link).replace(" ", "%20")
    if not text:
        return ""
    try:
        resolved = urljoin(base_url, text)
        parts = urlsplit(resolved)
    except ValueError:
        return ""
    if parts.scheme.lower() not in _WEB or not parts.netloc or len(resolved) > LINK_MAX:
        return ""
    return resolved


def _items(
    source_id: str,
    raws: Iterable[RawEntry],
    base_url: str,
    now: datetime,
    shared: frozenset[str] = frozenset(),
) -> list[NewsItem]:
    """Convert raw entries to items: capped, first key wins, bad entries skipped; the guids
    in `shared` are ignored."""
    items: list[NewsItem] = []
    seen: set[str] = set()
    for raw in raws:
        try:
            item = _item(source_id, raw, base_url, now, shared)
        except Exception:
            logger.debug(
                "%s: skipped an entry that could not be converted", source_id, exc_info=True
            )
            continue
        if item.key in seen:
            continue
        seen.add(item.key)
        items.append(item)
        if len(items) >= MAX_ITEMS:
            break
    return items


def _item(
    source_id: str, raw: RawEntry, base_url: str, now: datetime, shared: frozenset[str]
) -> NewsItem:
    """One NewsItem from a raw entry."""
    title = html_to_text(raw.title, TITLE_MAX)
    summary = html_to_text(raw.summary, SUMMARY_MAX)
    content = html_to_text(raw.content, CONTENT_MAX)
    content = "" if content == summary else content
    link = absolute_link(raw.link, base_url)
    guid = None if shared and clean_text(raw.guid or "") in shared else raw.guid
    key_link = link if len(link) <= KEY_LINK_MAX else ""
    text = f"{summary}\n{content}" if summary or content else ""
    return NewsItem(
        source_id=source_id,
        key=item_key(source_id, guid, key_link, title, raw.date_text, text),
        title=title,
        link=link,
        summary=summary,
        content=content,
        published=_trusted_date(raw.dates, now),
    )


def _safe_date(raw: RawEntry, now: datetime) -> datetime | None:
    """The entry's trusted date; None also when its dates cannot be compared."""
    try:
        return _trusted_date(raw.dates, now)
    except (TypeError, ValueError):
        return None


def _rising(values: Sequence[datetime] | Sequence[int]) -> bool | None:
    """True when the values mostly rise from one to the next, False when they mostly fall,
    None when no two neighbours differ."""
    up = down = 0
    for before, after in pairwise(values):
        if after > before:  # type: ignore[operator]
            up += 1
        elif after < before:  # type: ignore[operator]
            down += 1
    if not up and not down:
        return None
    return up > down


def _last_number(raw: RawEntry) -> int | None:
    """The last number in the entry's guid (else its link), e.g. 123 in `?p=123`."""
    for text in (raw.guid or "", raw.link):
        found = _LAST_NUMBER.search(text)
        if found:
            return int(found.group(1))
    return None


def _trusted_date(candidates: Iterable[datetime | None], now: datetime) -> datetime | None:
    """The first candidate between 1990-01-01 and `now` + 1 day, or None."""
    latest = now + timedelta(days=1)
    for candidate in candidates:
        if candidate is not None and EARLIEST <= candidate <= latest:
            return candidate
    return None


def _is_web_url(text: str) -> bool:
    """True for an absolute http(s) URL without spaces."""
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    return parts.scheme.lower() in _WEB and bool(parts.netloc) and " " not in text


def _bounded(key: str, scope: str | None) -> str:
    """`key` (hashed when longer than KEY_MAX), prefixed with `scope:` when scoped."""
    if len(key) > KEY_MAX:
        key = f"sha256:{_sha256(key)}"
    return f"{scope}:{key}" if scope else key


def _sha256(text: str) -> str:
    """Hex sha256 of a string (lone surrogates included)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
