"""Reading feed documents into raw entries: JSON Feed with `json`, RSS and Atom with feedparser.

Raw entries keep the feed's own strings (HTML, relative links, date candidates); turning them
into `NewsItem`s is `watchers.feeds`' job. Every failure is a `FeedFormatError` whose cause
is the underlying exception, including any exception feedparser raises despite its "bozo"
contract. feedparser only ever gets `io.BytesIO(body)`: given bytes it would try them as a
file path first. It gets the Content-Type but not the URL (see `read_xml_feed`). Its HTML
sanitizer and relative-URI rewriting are off: every HTML field is reduced to plain text by
`watchers.feed_text`, which drops what the sanitizer would (tags, comments, script, style and
applet contents), so they would be two more HTML parses of every title, summary and content,
nearly half of feedparser's time, for nothing.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from xml.sax import SAXParseException

import feedparser
from feedparser.encodings import convert_to_utf8
from feedparser.util import FeedParserDict

from watchers.feed_dtd import EntityError, screen_entities

_BOM_AND_SPACE = b"\xef\xbb\xbf \t\r\n"
_JSON_FEED_VERSIONS = ("https://jsonfeed.org/version/", "http://jsonfeed.org/version/")
_HTML = re.compile(rb"<!doctype\s+html|<html[\s>]", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class RawEntry:
    """One entry as the document gives it.

    `dates` are the candidate publication dates in order of preference (published, then
    updated), None where absent or impossible; `date_text` is the feed's own date string.
    """

    guid: str | None
    link: str
    title: str
    summary: str
    content: str
    dates: tuple[datetime | None, ...]
    date_text: str | None


class FeedFormatError(ValueError):
    """The document is not a readable feed."""


def is_json(body: bytes, content_type: str) -> bool:
    """True when the body is JSON: it starts with `{`/`[`, or is labelled JSON and is not XML."""
    head = body.lstrip(_BOM_AND_SPACE)[:1]
    if head in (b"{", b"["):
        return True
    return head != b"<" and "json" in content_type.lower()


def read_json_feed(body: bytes) -> list[RawEntry]:
    """Entries of a JSON Feed 1.0/1.1 document."""
    try:
        document = json.loads(body.lstrip(_BOM_AND_SPACE))
    except RecursionError as exc:
        raise FeedFormatError("invalid JSON: nested too deeply") from exc
    except ValueError as exc:
        raise FeedFormatError("invalid JSON") from exc
    version = document.get("version") if isinstance(document, dict) else None
    if not isinstance(version, str) or not version.startswith(_JSON_FEED_VERSIONS):
        raise FeedFormatError("not a feed: JSON, but not a JSON Feed")
    items = document.get("items", [])
    if not isinstance(items, list):
        raise FeedFormatError("not a feed: JSON Feed without an items list")
    return [_json_entry(item) for item in items if isinstance(item, dict)]


def read_xml_feed(body: bytes, content_type: str) -> list[RawEntry]:
    """Entries of an RSS 0.9x/1.0/2.0 or Atom document, after screening its entities."""
    # No Content-Location: feedparser would resolve relative guids against it, and keys would
    # change when a feed moves. `watchers.feeds` resolves links against the final URL.
    headers = {"content-type": content_type} if content_type else {}
    try:
        # The screen must see the document exactly as feedparser will decode it.
        decoded = convert_to_utf8(dict(headers), body, FeedParserDict())
        screen_entities(decoded)
        parsed = feedparser.parse(
            io.BytesIO(body),
            response_headers=headers,
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except EntityError as exc:
        raise FeedFormatError(str(exc)) from None
    except Exception as exc:
        raise FeedFormatError("feedparser failed on this document") from exc
    found = dict.get(parsed, "entries") or []
    entries = [_xml_entry(e) for e in found if isinstance(e, dict)]
    cause = dict.get(parsed, "bozo_exception")
    if not entries and not dict.get(parsed, "version"):
        raise FeedFormatError(_not_a_feed(body, content_type)) from cause
    if not entries and isinstance(cause, SAXParseException):
        # Broken XML with no item in it (e.g. cut off before the first one) is not an
        # empty feed: with entries, a bozo document is accepted (truncated feeds).
        message = f"malformed XML and no items: {cause.getMessage()}"
        raise FeedFormatError(message) from cause
    return entries


def struct_to_datetime(value: Any) -> datetime | None:
    """A UTC datetime from feedparser's `*_parsed` struct_time, or None if impossible."""
    try:
        year, month, day, hour, minute, second = value[:6]
        return datetime(year, month, day, hour, minute, min(second, 59), tzinfo=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def iso_to_datetime(value: Any) -> datetime | None:
    """A UTC datetime from an RFC 3339 string (naive means UTC), or None if impossible."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _json_entry(item: dict[str, Any]) -> RawEntry:
    """A raw entry from a JSON Feed item (title, summary and content_text are plain text)."""
    guid = item.get("id")
    content = _text(item.get("content_html")) or _plain(item.get("content_text"))
    published = item.get("date_published")
    return RawEntry(
        guid=str(guid) if isinstance(guid, str | int) and not isinstance(guid, bool) else None,
        link=_text(item.get("url")) or _text(item.get("external_url")),
        title=_plain(item.get("title")),
        summary=_plain(item.get("summary")),
        content=content,
        dates=(iso_to_datetime(published), iso_to_datetime(item.get("date_modified"))),
        date_text=_text(published) or _text(item.get("date_modified")) or None,
    )


def _xml_entry(entry: dict[str, Any]) -> RawEntry:
    """A raw entry from a feedparser entry.

    Fields are read with `dict.get`: FeedParserDict's own lookup maps a missing `updated` to
    `published` with a DeprecationWarning, and we want each field as the feed gave it.
    """
    parts = dict.get(entry, "content") or []
    content = "\n".join(_as_html(p, "value", p) for p in parts if isinstance(p, dict))
    published = _text(dict.get(entry, "published"))
    updated = _text(dict.get(entry, "updated"))
    return RawEntry(
        guid=_text(dict.get(entry, "id")) or None,
        link=_text(dict.get(entry, "link")),
        title=_as_html(entry, "title", dict.get(entry, "title_detail")),
        summary=_as_html(entry, "summary", dict.get(entry, "summary_detail")),
        content=content,
        dates=(
            struct_to_datetime(dict.get(entry, "published_parsed")),
            struct_to_datetime(dict.get(entry, "updated_parsed")),
        ),
        date_text=published or updated or None,
    )


def _as_html(container: dict[str, Any], key: str, detail: Any) -> str:
    """A feedparser text construct as HTML: escaped when feedparser says it is plain text.

    feedparser types an RSS title "text/plain" unless it holds only harmless HTML, so a
    title such as `Why <script> tags break` stays text; Atom says so with `type="text"`.
    """
    value = _text(dict.get(container, key))
    kind = dict.get(detail, "type") if isinstance(detail, dict) else None
    return _escape(value) if kind == "text/plain" else value


def _not_a_feed(body: bytes, content_type: str) -> str:
    """Why a document with no entries and no feed version is refused."""
    if "html" in content_type.lower() or _HTML.search(body[:4096]):
        return "not a feed: the server sent an HTML page"
    return "not a feed: no RSS, Atom or JSON Feed document found"


def _text(value: Any) -> str:
    """A string field, or "" for anything else."""
    return value if isinstance(value, str) else ""


def _plain(value: Any) -> str:
    """A plain-text field escaped as HTML, so the HTML-to-text step leaves it as it was."""
    return _escape(_text(value))


def _escape(text: str) -> str:
    """Escape `&` and `<` (enough for the tag stripper and entity decoder)."""
    return text.replace("&", "&amp;").replace("<", "&lt;")
