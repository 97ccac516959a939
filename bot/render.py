"""Rendering a news alert as Telegram HTML and as plain text (pure: no I/O, no clock).

Telegram's HTML parse mode knows a handful of tags (no `<br>` or `<p>`: lines are `\\n`) and
four named entities; every dynamic string is escaped with `html.escape(s, quote=True)`, so a
feed title containing `<script>` or `&` shows literally. A message may hold at most 4096
characters *after* parsing, counted in UTF-16 code units (an emoji counts 2): `render_news`
trims the plain pieces (before escaping, so no tag or `&…;` entity is ever cut) until the
visible text fits.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

TELEGRAM_MESSAGE_LIMIT = 4096
MESSAGE_BUDGET = 4000  # per reply of a command split in several (`/status`, `/sources`)
ELLIPSIS = "…"
UNTITLED = "(untitled)"
MAX_TERMS = 50  # Telegram shows at most 100 entities; each term is one <code>

_ZWJ = "\u200d"
_WHITESPACE_RUN = re.compile(r"\s+")
_BLANK_LINES = re.compile(r"\n{3,}")
_LAST_SPACE = re.compile(r"\s(?=\S*$)")


@dataclass(frozen=True, slots=True)
class Rendered:
    """An alert ready for the outbox: Telegram HTML, the same text without markup, the link
    to preview ("" for none)."""

    html: str
    plain: str
    link: str


def visible_length(text: str) -> int:
    """Length in UTF-16 code units, as Telegram counts it (astral characters count 2)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def render_news(
    *,
    rule_id: str,
    source_id: str,
    title: str,
    summary: str,
    link: str,
    published: datetime | None,
    terms: Sequence[str],
    limit: int = TELEGRAM_MESSAGE_LIMIT,
) -> Rendered:
    """Render one news match; the visible length of `html` and of `plain` is <= `limit`.

    Layout: bold title; source id and published time (UTC); the summary; the link (http and
    https only); "Matched: " with each term and the rule id in `<code>`. Over the budget, the
    summary is cut at a word boundary with "…" first, then the title, then the list of terms.
    """
    if limit < 1:
        raise ValueError(f"limit must be positive, got {limit}")
    parts = _Parts(
        title=_one_line(title) or UNTITLED,
        meta=_one_line(source_id) + (f" · {_utc(published)}" if published is not None else ""),
        summary=_paragraphs(summary),
        link=http_link(link),
        show_link=True,
        terms=[t for t in (_one_line(t) for t in terms) if t],
        terms_cut=False,
        rule_id=_one_line(rule_id),
    )
    if len(parts.terms) > MAX_TERMS:
        parts.terms, parts.terms_cut = parts.terms[:MAX_TERMS], True

    plain, markup = parts.compose()
    over = visible_length(plain) - limit
    if over > 0 and parts.summary:
        parts.summary = shorten(parts.summary, visible_length(parts.summary) - over, min_keep=1)
        plain, markup = parts.compose()
        over = visible_length(plain) - limit
    if over > 0:
        parts.title = shorten(parts.title, visible_length(parts.title) - over) or ELLIPSIS
        plain, markup = parts.compose()
        over = visible_length(plain) - limit
    while over > 0 and parts.terms:
        parts.terms.pop()
        parts.terms_cut = True
        plain, markup = parts.compose()
        over = visible_length(plain) - limit
    if over > 0 and parts.show_link and parts.link:
        parts.show_link = False  # still previewed through link_preview_options
        plain, markup = parts.compose()
        over = visible_length(plain) - limit
    if over > 0:  # only with absurd ids or a tiny limit: plain text, hard cut
        plain = shorten(plain, limit)
        markup = html.escape(plain, quote=True)
    return Rendered(html=markup, plain=plain, link=parts.link)


def shorten(text: str, max_units: int, *, min_keep: int = 0) -> str:
    """`text` cut to at most `max_units` UTF-16 units, ending with "…" when cut.

    Cuts at the last whitespace when that keeps at least half of what fits, never inside a
    surrogate pair, a combining sequence or a ZWJ emoji sequence. Returns "" when fewer than
    `min_keep` characters (plus the ellipsis) would remain.
    """
    if visible_length(text) <= max_units:
        return text
    budget = max_units - 1  # room for the ellipsis
    if budget < max(min_keep, 0) or budget < 0:
        return ""
    units = 0
    cut = 0
    for ch in text:
        width = 2 if ord(ch) > 0xFFFF else 1
        if units + width > budget:
            break
        units += width
        cut += 1
    while cut > 0 and (_continues(text[cut]) or text[cut - 1] == _ZWJ):
        cut -= 1
    prefix = text[:cut]
    if not text[cut].isspace():
        space = _LAST_SPACE.search(prefix)
        if space is not None and space.start() >= len(prefix) // 2:
            prefix = prefix[: space.start()]
    prefix = prefix.rstrip().rstrip(",;:")
    if len(prefix) < min_keep:
        return ""
    return prefix + ELLIPSIS


@dataclass
class _Parts:
    title: str
    meta: str
    summary: str
    link: str
    show_link: bool
    terms: list[str]
    terms_cut: bool
    rule_id: str

    def compose(self) -> tuple[str, str]:
        """(plain, html): the same lines, the html with markup and escaped text."""
        esc = _escape
        head = [(self.title, f"<b>{esc(self.title)}</b>"), (self.meta, esc(self.meta))]
        blocks = [head]
        if self.summary:
            blocks.append([(self.summary, esc(self.summary))])
        foot = []
        if self.link and self.show_link:
            foot.append((self.link, f'<a href="{esc(self.link)}">{esc(self.link)}</a>'))
        foot.append(self._matched())
        blocks.append(foot)
        plain = "\n\n".join("\n".join(p for p, _ in block) for block in blocks)
        markup = "\n\n".join("\n".join(h for _, h in block) for block in blocks)
        return plain, markup

    def _matched(self) -> tuple[str, str]:
        rule_plain, rule_html = self.rule_id, f"<code>{_escape(self.rule_id)}</code>"
        if not self.terms and not self.terms_cut:
            return f"Matched by rule {rule_plain}", f"Matched by rule {rule_html}"
        plain_terms = list(self.terms)
        html_terms = [f"<code>{_escape(t)}</code>" for t in self.terms]
        if self.terms_cut:
            plain_terms.append(ELLIPSIS)
            html_terms.append(ELLIPSIS)
        return (
            f"Matched: {', '.join(plain_terms)} · rule {rule_plain}",
            f"Matched: {', '.join(html_terms)} · rule {rule_html}",
        )


def _escape(text: str) -> str:
    return html.escape(text, quote=True)


def _continues(ch: str) -> bool:
    """True for characters that belong to the previous one (marks, ZWJ, variation selectors)."""
    return ch == _ZWJ or unicodedata.category(ch) in ("Mn", "Me") or 0xFE00 <= ord(ch) <= 0xFE0F


def _clean(text: str) -> str:
    """Drop lone surrogates and control characters other than newline and tab."""
    return "".join(
        ch for ch in text if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs")
    )


def _one_line(text: str) -> str:
    return _WHITESPACE_RUN.sub(" ", _clean(text.replace("\r", " "))).strip()


def _paragraphs(text: str) -> str:
    text = _clean(text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def http_link(link: str) -> str:
    """`link` if it is an http(s) URL Telegram can link to, else ""."""
    link = link.strip()
    if not link or any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in link):
        return ""
    try:
        parts = urlsplit(link)
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return ""
    return link


def _utc(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def split_messages(lines: Sequence[str], limit: int = MESSAGE_BUDGET) -> list[str]:
    """Join `lines` into as few texts of at most `limit` UTF-16 units (as Telegram counts
    them) as possible, on line boundaries, for Telegram's message size limit.

    An entry may hold several lines joined by newlines: a block, kept in one message when
    it fits one. Nothing is dropped; only a single line longer than `limit` is cut, with "…".
    """
    messages: list[str] = []
    current: list[str] = []
    size = 0
    for entry in lines:
        if visible_length(entry) <= limit:
            parts = [entry]
        else:
            parts = [shorten(line, limit) for line in entry.split("\n")]
        for part in parts:
            width = visible_length(part)
            if current and size + 1 + width > limit:
                messages.append("\n".join(current))
                current, size = [], 0
            size += width + (1 if current else 0)
            current.append(part)
    if current:
        messages.append("\n".join(current))
    return messages
