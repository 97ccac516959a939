"""Feed HTML to plain text, in linear time.

The input is always HTML: callers escape fields that the feed declares plain text (an Atom
`type="text"` title, an RSS title feedparser types text/plain, JSON Feed's `content_text`),
so those come out exactly as written.

Tags are removed with regular expressions that cannot backtrack across the document (the
stdlib `HTMLParser` is quadratic on input such as `"<a " * 5000`); `<script>`, `<style>` and
`<applet>` elements are dropped with their contents; entities are decoded once; lone
surrogates and control characters are replaced; whitespace is collapsed to single spaces.
"""

from __future__ import annotations

import html
import re

# An element whose contents are not text, up to its end tag (or the end of the input).
_HIDDEN = re.compile(r"<(script|style|applet)\b.*?(?:</\1\s*>|\Z)", re.IGNORECASE | re.DOTALL)
_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)
# A CDATA section inside HTML (a feed that wrapped its HTML twice): its contents are kept.
_CDATA = re.compile(r"<!\[CDATA\[(.*?)(?:\]\]>|\Z)", re.DOTALL)
# A tag stops at the next "<", so a run of unclosed tags costs linear time; a quoted
# attribute value may hold ">" (`<img alt="a > b">`). Processing instructions, DOCTYPEs and
# marked sections (`<![if !IE]>`) go too; other declarations (`<!ENTITY …>`) in HTML are
# shown as text, as feedparser's sanitizer did.
_TAG = re.compile(
    r"""</?([A-Za-z][A-Za-z0-9:-]*)(?:(?:[^<>"']|"[^<"]*"|'[^<']*')*>|[^<>]*>)"""
    r"""|<\?[^<>]*>|<!(?:(?i:doctype)|\[)[^<>]*>"""
)
_INLINE = frozenset(
    {
        *("a", "abbr", "b", "bdi", "bdo", "cite", "code", "data", "dfn", "em", "font", "i"),
        *("kbd", "mark", "q", "s", "samp", "small", "span", "strike", "strong", "sub", "sup"),
        *("time", "tt", "u", "var", "wbr"),
    }
)
_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def html_to_text(markup: str, limit: int) -> str:
    """Plain text of an HTML fragment, at most `limit` characters (cut with "…")."""
    if not markup:
        return ""
    text = _HIDDEN.sub(" ", markup)
    text = _COMMENT.sub(" ", text)
    if "<![" in text:
        text = _CDATA.sub(r"\1", text)
    text = _TAG.sub(_tag_gap, text)
    return clip(clean_text(html.unescape(text)), limit)


def clean_text(text: str) -> str:
    """Replace lone surrogates, turn control characters into spaces, collapse whitespace."""
    text = _SURROGATE.sub("\ufffd", text)
    text = _CONTROL.sub(" ", text)
    return " ".join(text.split())


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, ending in "…" when cut."""
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)].rstrip() + "…"


def _tag_gap(match: re.Match[str]) -> str:
    """Nothing for an inline tag (`Hel<b>lo</b>` stays one word), a space for the rest."""
    name = match.group(1)
    return "" if name is not None and name.lower() in _INLINE else " "
