"""Feed autodiscovery: the feeds an HTML page links to (pure).

A source whose `url` is a site's page instead of its feed fails with "not a feed: the server
sent an HTML page"; when the page declares its feeds, as most do with
`<link rel="alternate" type="application/rss+xml" href="…">`, the error names the feed to
use instead. Nothing is fetched: the hint comes from the page already downloaded.
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

FEED_TYPES = frozenset(
    {"application/rss+xml", "application/atom+xml", "application/feed+json", "application/rdf+xml"}
)
HTML_PAGE = "not a feed: the server sent an HTML page"
SCAN_BYTES = 512 * 1024  # feed links live in <head>


class _LinkFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.base: str | None = None
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "base" and self.base is None and values.get("href"):
            self.base = values["href"].strip()
        if tag != "link":
            return
        rel = values.get("rel", "").lower().split()
        kind = values.get("type", "").split(";")[0].strip().lower()
        href = values.get("href", "").strip()
        if "alternate" in rel and kind in FEED_TYPES and href:
            self.hrefs.append(href)


def feed_links(body: bytes, page_url: str) -> list[str]:
    """The absolute http(s) URLs of the feeds an HTML page declares, in page order."""
    finder = _LinkFinder()
    try:
        finder.feed(body[:SCAN_BYTES].decode("utf-8", "replace"))
        finder.close()
    except (AssertionError, ValueError):  # a parser error: use what was found before it
        pass
    base = urljoin(page_url, finder.base) if finder.base else page_url
    found: list[str] = []
    for href in finder.hrefs:
        url = urljoin(base, href)
        if urlsplit(url).scheme in ("http", "https") and url != page_url and url not in found:
            found.append(url)
    return found


def with_feed_hint(message: str, body: bytes, page_url: str) -> str:
    """`message`, and when it says the server sent an HTML page that links to a feed, which:
    `…; it links to a feed: https://…/rss — use that as url`."""
    if not message.startswith(HTML_PAGE):
        return message
    links = feed_links(body, page_url)
    if not links:
        return message
    more = f" (and {len(links) - 1} more)" if len(links) > 1 else ""
    return f"{message}; it links to a feed: {links[0]}{more} — use that as url"
