"""Parsing a fetched feed document into `NewsItem`s (pure: no I/O, no clock).

- JSON Feed 1.0/1.1 is read with `json` (detected by a leading `{` or a JSON content type);
  RSS 0.9x/1.0/2.0 and Atom with feedparser, after the DOCTYPE entity screen
  (`watchers.feed_dtd`: a feed declaring external, recursive or oversized entities is refused).
- "bozo" does not mean reject: a truncated feed yields its complete entries. A document with
  no entries and no recognised feed version (an HTML page, other XML, empty) is "not a feed".
- Any exception from feedparser becomes a `ParseError` that keeps it as its cause.
- Each entry becomes plain text (title ≤ 1,000 characters, summary ≤ 5,000, content ≤
  20,000), an absolute http(s) link or "", and a publication date only when it lies between
  1990-01-01 and `now` + 1 day. At most `MAX_ITEMS` items, in document order; an entry whose
  key repeats keeps its first occurrence; an entry that cannot be converted is skipped.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from urllib.parse import urljoin, urlsplit, urlunsplit

from watchers.errors import ParseError
from watchers.feed_formats import (
    FeedFormatError,
    RawEntry,
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
LINK_MAX = 2_048
KEY_MAX = 1_024
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
_WEB = ("http", "https")

logger = logging.getLogger(__name__)


def parse_feed(
    source_id: str, body: bytes, *, content_type: str, url: str, now: datetime
) -> list[NewsItem]:
    """The items of a feed document; `url` is the final URL (base for relative links).

    Raises ParseError (naming the source and URL) when the document is not a usable feed.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if not body.strip():
        raise ParseError(source_id, "not a feed: empty document", url=url)
    try:
        if is_json(body, content_type):
            raws = read_json_feed(body)
        else:
            raws = read_xml_feed(body, content_type)
    except FeedFormatError as exc:
        raise ParseError(source_id, str(exc), url=url) from exc.__cause__
    return _items(source_id, raws, url, now)


def item_key(source_id: str, guid: str | None, link: str, title: str, published: str | None) -> str:
    """The dedup key of an entry.

    An http(s) guid is normalised like a link and not scoped, so the same article in two
    feeds has one key; an opaque guid is scoped by source (`"{source_id}:{guid}"`); without a
    guid, the normalised link; without either, a per-source sha256 of title and date.
    """
    ident = clean_text(guid or "")
    if ident:
        if _is_web_url(ident):
            return _bounded(normalise_link(ident), None)
        return _bounded(ident, source_id)
    if link.strip():
        return _bounded(normalise_link(link), None)
    text = f"{title}\n{published or ''}"
    return f"{source_id}:sha256:{_sha256(text)}"


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
    source_id: str, raws: Iterable[RawEntry], base_url: str, now: datetime
) -> list[NewsItem]:
    """Convert raw entries to items: capped, first key wins, bad entries skipped."""
    items: list[NewsItem] = []
    seen: set[str] = set()
    for raw in raws:
        try:
            item = _item(source_id, raw, base_url, now)
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


def _item(source_id: str, raw: RawEntry, base_url: str, now: datetime) -> NewsItem:
    """One NewsItem from a raw entry."""
    title = html_to_text(raw.title, TITLE_MAX)
    summary = html_to_text(raw.summary, SUMMARY_MAX)
    content = html_to_text(raw.content, CONTENT_MAX)
    link = absolute_link(raw.link, base_url)
    return NewsItem(
        source_id=source_id,
        key=item_key(source_id, raw.guid, link, title, raw.date_text),
        title=title,
        link=link,
        summary=summary,
        content="" if content == summary else content,
        published=_trusted_date(raw.dates, now),
    )


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
