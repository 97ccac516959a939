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

Character encodings (`decode_xml`, `decode_json`): a document that decodes in the charset it
declares is handed on untouched, so feedparser decodes it as it always has. feedparser reads
the charset from (RFC 3023) the HTTP Content-Type `charset` for `application/xml`,
`application/*+xml` and `text/*` types, else the XML declaration, else the byte-order mark,
else UTF-8; when that charset fails on a single byte, it decodes the WHOLE document in
another one (windows-1252, then iso-8859-2), so one bad byte turns every Cyrillic title
into mojibake. Here, when no declared charset (HTTP, XML declaration, BOM) nor UTF-8 can
decode the document, it is decoded in the first declared one (UTF-8 if none) with each bad
byte repaired, and feedparser gets that text as UTF-8: one character is lost, not the
document. In UTF-8, a lone bad byte is read as windows-1252 (what a Latin-1 word pasted into
a UTF-8 page usually is: "café" stays "café"), a cut multi-byte sequence becomes U+FFFD;
in any other charset a bad sequence becomes U+FFFD. The number of bad bytes is reported.
JSON is UTF-8, UTF-16 or UTF-32 (RFC 8259, detected as `json` does); the HTTP charset is
used only when the body is not valid in the detected one.
"""

from __future__ import annotations

import codecs
import io
import json
import re
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from xml.sax import SAXParseException

import feedparser
from feedparser.encodings import convert_to_utf8, parse_content_type
from feedparser.util import FeedParserDict

from watchers.feed_dtd import EntityError, screen_entities
from watchers.feed_hints import refresh_hint

_BOM_AND_SPACE = b"\xef\xbb\xbf \t\r\n"
_JSON_FEED_VERSIONS = ("https://jsonfeed.org/version/", "http://jsonfeed.org/version/")
_HTML = re.compile(rb"<!doctype\s+html|<html[\s>]", re.IGNORECASE)
# What feedparser reads the declared encoding with (feedparser.encodings), and the
# declaration it writes into a document it re-encodes.
_XML_ENCODING = re.compile(rb"""^<\?.*encoding=['"](.*?)['"].*\?>""")
_XML_DECLARATION = re.compile(r"^<\?xml[^>]*?>")
_UTF8_DECLARATION = "<?xml version='1.0' encoding='utf-8'?>"
_BOMS = (
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
)
_APPLICATION_XML = (
    "application/xml",
    "application/xml-dtd",
    "application/xml-external-parsed-entity",
)
# Where feedparser puts a channel's refresh hints (`watchers.feed_hints`).
_HINT_KEYS = ("ttl", "sy_updateperiod", "sy_updatefrequency")
_REPAIR = "vedette.feed-repair"
_repaired: ContextVar[list[int]] = ContextVar("_repaired")


def _repair_error(exc: UnicodeError) -> tuple[str, int]:
    """Codec error handler: a lone bad UTF-8 byte as windows-1252, anything else U+FFFD.

    Counts the bad bytes into the list set in `_repaired` by `_decode_repaired`.
    """
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    bad = exc.object[exc.start : exc.end]
    counter = _repaired.get(None)
    if counter is not None:
        counter[0] += len(bad)
    text = "\ufffd"
    if len(bad) == 1 and exc.encoding.replace("_", "-").lower() in ("utf-8", "utf8"):
        before = exc.object[exc.start - 1] if exc.start else 0
        # A lead byte right after a multi-byte character is one cut in two (a CMS that
        # truncates Cyrillic text by bytes); any other lone byte is most likely Latin-1.
        if not (0xC2 <= bad[0] <= 0xF4 and 0x80 <= before <= 0xBF):
            text = bytes(bad).decode("windows-1252", "replace")
    return text, exc.end


codecs.register_error(_REPAIR, _repair_error)


@dataclass(frozen=True, slots=True)
class Decoded:
    """A document ready for its parser: `body` (unchanged, or re-encoded as UTF-8 after a
    repair), the Content-Type to give with it, and how many bad bytes were repaired."""

    body: bytes
    content_type: str
    bad_bytes: int = 0


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


@dataclass(frozen=True, slots=True)
class RawFeed:
    """The entries of a document, the number of bad bytes repaired to read them, and the
    feed's own refresh hint in seconds (`watchers.feed_hints`; None: none)."""

    entries: list[RawEntry]
    bad_bytes: int = 0
    refresh_hint: float | None = None


class FeedFormatError(ValueError):
    """The document is not a readable feed."""


def is_json(body: bytes, content_type: str) -> bool:
    """True when the body is JSON: it starts with `{`/`[`, or is labelled JSON and is not XML."""
    head = body.lstrip(_BOM_AND_SPACE)[:1]
    if head in (b"{", b"["):
        return True
    return head != b"<" and "json" in content_type.lower()


def read_json_feed(body: bytes, content_type: str = "") -> RawFeed:
    """Entries of a JSON Feed 1.0/1.1 document."""
    text, bad_bytes = decode_json(body, content_type)
    try:
        document = json.loads(text.lstrip(" \t\r\n\ufeff"))
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
    entries = [_json_entry(item) for item in items if isinstance(item, dict)]
    return RawFeed(entries, bad_bytes)


def read_xml_feed(body: bytes, content_type: str) -> RawFeed:
    """Entries of an RSS 0.9x/1.0/2.0 or Atom document, after screening its entities."""
    decoded = decode_xml(body, content_type)
    body, content_type = decoded.body, decoded.content_type
    # No Content-Location: feedparser would resolve relative guids against it, and keys would
    # change when a feed moves. `watchers.feeds` resolves links against the final URL.
    headers = {"content-type": content_type} if content_type else {}
    try:
        # The screen must see the document exactly as feedparser will decode it.
        screen_entities(convert_to_utf8(dict(headers), body, FeedParserDict()))
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
    return RawFeed(entries, decoded.bad_bytes, _refresh_hint(dict.get(parsed, "feed")))


def _refresh_hint(channel: Any) -> float | None:
    """The refresh hint of feedparser's `feed` dictionary (its ttl and sy_* strings)."""
    if not isinstance(channel, dict):
        return None
    ttl, period, frequency = (
        value if isinstance(value, str) else None
        for value in (dict.get(channel, key) for key in _HINT_KEYS)
    )
    return refresh_hint(ttl, period, frequency)


def decode_xml(body: bytes, content_type: str) -> Decoded:
    """`body` as feedparser should get it: unchanged when a declared charset or UTF-8 reads
    it, else decoded in the declared charset with its bad bytes repaired (module docstring)."""
    data, bom = body, ""
    for mark, codec in _BOMS:
        if body.startswith(mark):
            data, bom = body[len(mark) :], codec
            break
    if data.isascii() and not bom:
        return Decoded(body, content_type)
    declared = _declared(data, bom, content_type)
    for codec in (*declared, "utf-8"):
        try:
            data.decode(codec)
        except UnicodeDecodeError:
            continue
        return Decoded(body, content_type)
    codec = declared[0] if declared else "utf-8"
    text, bad_bytes = _decode_repaired(data, codec)
    if _XML_DECLARATION.match(text):
        text = _XML_DECLARATION.sub(_UTF8_DECLARATION, text, count=1)
    mime = parse_content_type(content_type)[0] if content_type else ""
    return Decoded(text.encode("utf-8"), f"{mime}; charset=utf-8" if mime else "", bad_bytes)


def decode_json(body: bytes, content_type: str) -> tuple[str, int]:
    """The text of a JSON document and the number of bad bytes repaired to read it.

    The encoding is detected as `json.loads` does (UTF-8, or UTF-16/32 by BOM or by the
    pattern of zero bytes); a body invalid in it is read in the HTTP charset when that
    reads it, else in the detected encoding with its bad bytes repaired.
    """
    codec = json.detect_encoding(body)
    try:
        return body.decode(codec, "surrogatepass"), 0
    except UnicodeDecodeError:
        pass
    charset = _known_codec(parse_content_type(content_type)[1]) if content_type else None
    if charset is not None:
        try:
            return body.decode(charset), 0
        except UnicodeDecodeError:
            pass
    return _decode_repaired(body, codec)


def _declared(data: bytes, bom: str, content_type: str) -> list[str]:
    """The charsets a document declares, most authoritative first (feedparser's order):
    the HTTP charset (for XML and text types), the XML declaration, the byte-order mark."""
    head = data[:1024]
    if bom and bom != "utf-8":
        try:
            head = head.decode(bom, "ignore").encode("utf-8")
        except LookupError:
            head = b""
    found = _XML_ENCODING.match(head)
    mime, http_charset = parse_content_type(content_type) if content_type else ("", "")
    xml_charset = found.group(1).decode("ascii", "replace") if found else ""
    xml_type = mime in _APPLICATION_XML or (
        mime.startswith("application/") and mime.endswith("+xml")
    )
    if not (xml_type or mime.startswith("text/")):
        http_charset = ""  # feedparser ignores it too
    named = (_known_codec(name) for name in (http_charset, xml_charset, bom))
    return list(dict.fromkeys(codec for codec in named if codec is not None))


def _known_codec(name: str) -> str | None:
    """The codec's canonical name, or None when `name` is no text encoding Python knows
    (`base64` is a codec, but not one that bytes can be decoded with)."""
    if not name:
        return None
    try:
        info = codecs.lookup(name)
    except LookupError:
        return None
    # The flag bytes.decode checks before it refuses "base64", "rot13" and the like.
    return info.name if getattr(info, "_is_text_encoding", True) else None


def _decode_repaired(data: bytes, codec: str) -> tuple[str, int]:
    """`data` decoded in `codec` with every bad sequence repaired, and how many bytes were."""
    counter = [0]
    token = _repaired.set(counter)
    try:
        return data.decode(codec, _REPAIR), counter[0]
    finally:
        _repaired.reset(token)


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
