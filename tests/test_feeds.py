"""Feed parsing: golden files named by their quirk (tests/data/feeds/), keys, text, limits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.fakes.feed_server import Entry, atom, json_feed, rss
from watchers.errors import ParseError
from watchers.feed_formats import RawEntry
from watchers.feed_hints import refresh_hint
from watchers.feed_text import html_to_text
from watchers.feeds import _items, item_key, normalise_link, parse_feed, read_feed
from watchers.items import NewsItem

FEEDS = Path(__file__).parent / "data" / "feeds"
URL = "https://feeds.example.net/feed"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
RSS = "application/rss+xml"
JSON = "application/feed+json"


def parse(body: bytes, content_type: str = RSS) -> list[NewsItem]:
    """parse_feed with the test source id, URL and clock."""
    return parse_feed("src", body, content_type=content_type, url=URL, now=NOW)


@dataclass(frozen=True)
class Golden:
    """A golden file, how it is served, and the (title, key, link) of each item expected."""

    name: str
    content_type: str
    items: list[tuple[str, str, str]]


GOLDEN = [
    Golden(
        "rss2_basic.xml",
        RSS,
        [
            (
                "Haftar meets Belavia delegation in Benghazi",
                "https://news.example.com/2025/07/haftar-belavia",
                "https://news.example.com/2025/07/haftar-belavia",
            ),
            (
                "Second flight from Minsk lands at Benina airport",
                "src:article-12345",
                "https://news.example.com/2025/06/second-flight",
            ),
            (
                "Weather: sandstorm expected",
                "src:12346",
                "https://news.example.com/2025/06/weather",
            ),
        ],
    ),
    Golden(
        "rss091.xml",
        RSS,
        [
            (
                "Minsk airport expands cargo terminal",
                "http://oldwire.example.net/stories/minsk-cargo.html",
                "http://oldwire.example.net/stories/minsk-cargo.html",
            ),
            (
                "Café owners protest in Benghazi",
                "http://oldwire.example.net/stories/cafe.html",
                "http://oldwire.example.net/stories/cafe.html",
            ),
        ],
    ),
    Golden(
        "rss10_rdf.xml",
        RSS,
        [
            (
                "EU notes more flights between Libya and Belarus",
                "https://rdf.example.org/a/1",
                "https://rdf.example.org/a/1",
            ),
            (
                "Migration routes shift east",
                "https://rdf.example.org/a/2",
                "https://rdf.example.org/a/2",
            ),
        ],
    ),
    Golden(
        "atom_basic.xml",
        "application/atom+xml",
        [
            (
                "Belavia adds charter flights",
                "src:urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a",
                "https://atom.example.org/blog/posts/belavia-charter",
            ),
            (
                "Only updated, no published",
                "src:tag:atom.example.org,2025:updated-only",
                "https://atom.example.org/blog/posts/updated-only",
            ),
        ],
    ),
    Golden(
        "jsonfeed_11.json",
        JSON,
        [
            (
                "Haftar & Minsk: what we know",
                "https://json.example.org/2025/07/haftar",
                "https://json.example.org/2025/07/haftar?utm_source=feed",
            ),
            (
                "Relative link, numeric id",
                "src:42",
                "https://feeds.example.net/2025/07/relative",
            ),
            ("Only an external URL", "src:ext-1", "https://elsewhere.example.com/story"),
            ("No date, absurd date", "src:no-date", ""),
        ],
    ),
    Golden(
        "jsonfeed_10.json",
        "application/json",
        [("Version 1 item", "src:1", "https://old-json.example.org/1")],
    ),
    Golden(
        "no_guid_link_only.xml",
        RSS,
        [
            (
                "Link only",
                "https://links.example.com/story/1?id=7",
                "https://Links.Example.com:443/story/1?utm_source=rss&id=7#comments",
            ),
            (
                # Keys must never change between versions: a new key re-alerts old items.
                "Neither guid nor link",
                "src:sha256:18ea303f5c6c6a130ae36d38f0db202cc34cf23d0d9f57db42e02e00c413243d",
                "",
            ),
        ],
    ),
    Golden(
        "utm_links.xml",
        RSS,
        [
            (
                "Belavia resumes flights (first copy)",
                "https://track.example.com/a/belavia?page=2",
                "https://track.example.com/a/belavia?utm_source=rss&utm_medium=feed&page=2#top",
            ),
            (
                "Permalink guid with tracking",
                "https://track.example.com/a/other",
                "https://track.example.com/a/other?UTM_Term=x",
            ),
        ],
    ),
    Golden(
        "html_entities_and_script_title.xml",
        RSS,
        [
            (
                "Fish & Chips now in Benghazi’s port",
                "https://messy.example.com/1",
                "https://messy.example.com/1",
            ),
            (
                'Haftar <script>alert("x")</script> & Minsk <b>talks</b>',
                "https://messy.example.com/2",
                "https://messy.example.com/2",
            ),
            ("Lots of whitespace", "https://messy.example.com/3", "https://messy.example.com/3"),
        ],
    ),
    Golden(
        "atom_text_and_html_titles.xml",
        "application/atom+xml",
        [
            (
                "Why <b> tags &amp; entities stay",
                "src:urn:t:text",
                "https://types.example.org/text",
            ),
            ("Bold & decoded", "src:urn:t:html", "https://types.example.org/html"),
            ("An XHTML title", "src:urn:t:xhtml", "https://types.example.org/xhtml"),
        ],
    ),
    Golden(
        "windows1251_encoding.xml",
        RSS,
        [("Хафтар прилетел в Минск рейсом «Белавиа»", "src:ru-1", "https://ru.example.com/news/1")],
    ),
    Golden(
        "windows1251_encoding.xml",
        "text/xml",
        [("Хафтар прилетел в Минск рейсом «Белавиа»", "src:ru-1", "https://ru.example.com/news/1")],
    ),
    Golden(
        "truncated.xml",
        RSS,
        [
            ("Item one", "src:cut-1", "https://cut.example.com/1"),
            ("Item two", "src:cut-2", "https://cut.example.com/2"),
            ("Item three", "src:cut-3", "https://cut.example.com/3"),
            ("Item four", "src:cut-4", "https://cut.example.com/4"),
        ],
    ),
    Golden(
        "undefined_html_entity.xml",
        RSS,
        [
            ("Café near Benghazi port", "https://undef.example/1", "https://undef.example/1"),
            ("Second item", "https://undef.example/2", "https://undef.example/2"),
        ],
    ),
    Golden(
        "small_internal_entity.xml",
        RSS,
        [("Reported by Libya Review", "https://entity.example/1", "https://entity.example/1")],
    ),
    Golden(
        "relative_links.xml",
        RSS,
        [
            ("Relative path", "src:rel-1", "https://feeds.example.net/news/1"),
            ("Protocol-relative", "src:rel-2", "https://cdn.example.org/news/2"),
            ("Javascript", "src:rel-3", ""),
            ("Mailto", "src:rel-4", ""),
            ("Space inside", "src:rel-5", "https://rel.example.com/a%20b"),
        ],
    ),
    Golden(
        "duplicate_guids.xml",
        RSS,
        [("First version", "src:same", ""), ("Other", "src:other", "")],
    ),
    Golden("empty_channel.xml", RSS, []),
    Golden(
        "rss2_basic.xml",
        "text/html; charset=utf-8",
        [
            (
                "Haftar meets Belavia delegation in Benghazi",
                "https://news.example.com/2025/07/haftar-belavia",
                "https://news.example.com/2025/07/haftar-belavia",
            ),
            (
                "Second flight from Minsk lands at Benina airport",
                "src:article-12345",
                "https://news.example.com/2025/06/second-flight",
            ),
            (
                "Weather: sandstorm expected",
                "src:12346",
                "https://news.example.com/2025/06/weather",
            ),
        ],
    ),
]


@pytest.mark.parametrize("golden", GOLDEN, ids=[f"{g.name}[{g.content_type}]" for g in GOLDEN])
def test_golden_feed(golden: Golden) -> None:
    """Each golden feed gives exactly the expected titles, keys and links, in order."""
    items = parse((FEEDS / golden.name).read_bytes(), golden.content_type)
    assert [(i.title, i.key, i.link) for i in items] == golden.items
    assert all(i.source_id == "src" for i in items)


REJECTED = [
    ("html_page.html", "text/html", "not a feed: the server sent an HTML page"),
    ("html_page.html", RSS, "not a feed: the server sent an HTML page"),
    ("not_a_feed_note.xml", "application/xml", "not a feed: no RSS, Atom or JSON Feed"),
    ("billion_laughs.xml", RSS, "feed declares XML entities that would expand to more than 1 MiB"),
    (
        "billion_laughs_oneline.xml",
        RSS,
        "feed declares XML entities that would expand to more than 1 MiB",
    ),
    ("xxe_file.xml", RSS, "feed declares an external XML entity 'xxe'"),
    ("xxe_remote_parameter_entity.xml", RSS, "feed declares a parameter entity 'remote'"),
    ("entity_hidden_in_comment.xml", RSS, "feed declares an external XML entity 'hidden'"),
    ("crash_char_ref_out_of_range.xml", RSS, "feedparser failed on this document"),
    ("crash_stray_height_end_tag.xml", RSS, "feedparser failed on this document"),
    ("crash_textinput_in_item.xml", RSS, "feedparser failed on this document"),
    ("crash_surrogate_char_ref.xml", RSS, "feedparser failed on this document"),
]


@pytest.mark.parametrize(("name", "content_type", "message"), REJECTED)
def test_rejected_document(name: str, content_type: str, message: str) -> None:
    """Hostile or non-feed documents raise a ParseError naming the source, URL and reason."""
    with pytest.raises(ParseError) as caught:
        parse((FEEDS / name).read_bytes(), content_type)
    assert str(caught.value).startswith(f"src: {message}")
    assert f"({URL})" in str(caught.value)


@pytest.mark.parametrize(
    "name",
    [
        "crash_char_ref_out_of_range.xml",
        "crash_stray_height_end_tag.xml",
        "crash_textinput_in_item.xml",
        "crash_surrogate_char_ref.xml",
    ],
)
def test_feedparser_crash_keeps_its_cause(name: str) -> None:
    """An exception raised inside feedparser is the ParseError's cause."""
    with pytest.raises(ParseError) as caught:
        parse((FEEDS / name).read_bytes())
    assert isinstance(caught.value.__cause__, ValueError | TypeError | KeyError)


def test_quadratic_entity_blowup_is_rejected() -> None:
    """One 100 KB entity referenced 2,000 times is refused before feedparser expands it."""
    body = (
        '<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY big "' + "x" * 100_000 + '">\n]>\n'
        '<rss version="2.0"><channel><title>q</title><item><title>'
        + "&big;" * 2_000
        + "</title></item></channel></rss>"
    ).encode()
    with pytest.raises(ParseError, match="would expand to more than 1 MiB"):
        parse(body)


def test_entity_declared_in_utf16_document_is_screened() -> None:
    """The entity screen sees the document as feedparser decodes it (UTF-16 here)."""
    body = (
        '<?xml version="1.0" encoding="utf-16"?>\n<!DOCTYPE rss [\n<!ENTITY big "'
        + "x" * 100_000
        + '">\n]>\n<rss version="2.0"><channel><item><title>'
        + "&big;" * 2_000
        + "</title></item></channel></rss>"
    ).encode("utf-16")
    with pytest.raises(ParseError, match="would expand to more than 1 MiB"):
        parse(body, "application/xml")


def entity_feed(subset: str, title: str) -> bytes:
    """An RSS document whose DOCTYPE has the given internal subset."""
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE rss [\n{subset}\n]>\n<rss version="2.0"><channel>'
        f"<title>t</title><item><title>{title}</title><guid>e</guid></item></channel></rss>"
    ).encode()


@pytest.mark.parametrize(
    ("subset", "message"),
    [
        ('<!ENTITY a "&b;">\n<!ENTITY b "&a;">', "recursive XML entity 'a'"),
        ('<!ENTITY a "x" junk>', "XML entity declaration that cannot be read"),
        ("<!ENTITY a PUBLIC '-//X//EN' 'http://x.example/a.ent'>", "external XML entity 'a'"),
    ],
)
def test_entity_screen_refuses(subset: str, message: str) -> None:
    """Recursive, unreadable and external entity declarations are refused."""
    with pytest.raises(ParseError, match=message):
        parse(entity_feed(subset, "&a;"))


def test_small_nested_entities_are_allowed() -> None:
    """Entities within the budget pass the screen, nested or not."""
    [item] = parse(entity_feed('<!ENTITY a "ab">\n<!ENTITY b "&a;&a;">', "x &b; &a;"))
    assert item.key == "src:e"


def test_entity_text_inside_an_item_is_not_a_declaration() -> None:
    """`<!ENTITY` quoted in an article (CDATA) is content, not a reason to refuse the feed."""
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item>'
        b"<title>XXE explained</title><guid>x</guid><description><![CDATA[See "
        b'<!ENTITY x SYSTEM "file:///etc/passwd">]]></description></item></channel></rss>'
    )
    [item] = parse(body)
    assert item.summary == 'See <!ENTITY x SYSTEM "file:///etc/passwd">'


@pytest.mark.parametrize("body", [b"/dev/zero", b"/etc/passwd"])
def test_path_like_body_is_data_not_a_file(body: bytes) -> None:
    """A body that looks like a file path is parsed as (invalid) data, never opened."""
    with pytest.raises(ParseError, match="not a feed"):
        parse(body)


@pytest.mark.parametrize("body", [b"", b"  \r\n\t "])
def test_empty_document_is_not_a_feed(body: bytes) -> None:
    """An empty or blank body is "not a feed", not a feed with zero items."""
    with pytest.raises(ParseError, match="not a feed: empty document"):
        parse(body)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": [', "invalid JSON"),
        (b'{"error": "rate limited"}', "not a feed: JSON, but not a JSON Feed"),
        (b"[1, 2, 3]", "not a feed: JSON, but not a JSON Feed"),
        (b"[" * 100_000 + b"]" * 100_000, "invalid JSON: nested too deeply"),
        (b'{"version": "https://jsonfeed.org/version/1", "items": {}}', "without an items list"),
        (b"\xff\xfe not utf-8 {", "invalid JSON"),
    ],
)
def test_bad_json(body: bytes, message: str) -> None:
    """Invalid JSON, JSON that is not a JSON Feed and hostile JSON are clear ParseErrors."""
    with pytest.raises(ParseError, match=message):
        parse(body, "application/json")


def test_json_feed_served_as_text_plain_is_sniffed() -> None:
    """A JSON Feed labelled text/plain is recognised by its leading `{` (after a BOM)."""
    body = b"\xef\xbb\xbf\n" + json_feed([Entry("Sniffed", link="https://j.example/1")])
    assert [i.title for i in parse(body, "text/plain")] == ["Sniffed"]


def test_xml_labelled_json_is_parsed_as_xml() -> None:
    """An RSS body served as application/json is still parsed as RSS."""
    body = rss([Entry("Mislabelled", guid="m-1")])
    assert [i.key for i in parse(body, "application/json")] == ["src:m-1"]


def test_json_lone_surrogate_is_replaced() -> None:
    """A lone surrogate escaped in JSON never reaches the item (it could not be stored)."""
    body = b'{"version": "https://jsonfeed.org/version/1.1", "items": [{"id": "a\\ud800", '
    body += b'"title": "bad \\udfff char", "content_text": "x"}]}'
    [item] = parse(body, JSON)
    assert item.title == "bad \ufffd char"
    assert item.key == "src:a\ufffd"


def test_details_of_an_rss_item() -> None:
    """Summary, content and date of a full RSS item are plain text and UTC."""
    first = parse((FEEDS / "rss2_basic.xml").read_bytes())[0]
    assert first.summary == ("Khalifa Haftar received a delegation of the Belarusian airline.")
    assert first.content.endswith("Flights between Benghazi and Minsk were discussed.")
    assert first.published == datetime(2025, 7, 15, 7, 30, tzinfo=UTC)


def test_script_style_and_comments_are_dropped() -> None:
    """In HTML fields, script and style contents, comments and tags vanish; entities decode."""
    first, second, _ = parse((FEEDS / "html_entities_and_script_title.xml").read_bytes())
    assert first.summary == "Prices rose by 30 %"
    assert second.summary == "Escaped markup in a description is HTML."


def test_plain_text_title_is_kept_as_written() -> None:
    """A title that is plain text keeps its `<script>` and `&` as text (rendering escapes it)."""
    title = "Haftar <script>alert('x')</script> & Minsk <b>talks</b>"
    for body in (rss([Entry(title, guid="p")]), atom([Entry(title, guid="p")])):
        assert [i.title for i in parse(body)] == [title]


def test_dates_outside_the_plausible_window_are_unknown() -> None:
    """Year 0, 9999, epoch strings and 30 Feb give None; a bad published falls back to updated."""
    items = parse((FEEDS / "absurd_dates.xml").read_bytes(), "application/atom+xml")
    assert {i.title: i.published for i in items} == {
        "Good date": datetime(2025, 7, 1, 12, tzinfo=UTC),
        "Year zero": None,
        "Far future": None,
        "Epoch string": None,
        "February 30": None,
        "Absurd published, good updated": datetime(2025, 6, 30, 8, tzinfo=UTC),
        "No date": None,
    }


def test_json_feed_dates_and_text() -> None:
    """JSON Feed dates become UTC; content_text is plain text, kept as written."""
    items = parse((FEEDS / "jsonfeed_11.json").read_bytes(), JSON)
    assert [i.published for i in items] == [
        datetime(2025, 7, 23, 7, tzinfo=UTC),
        datetime(2025, 7, 22, 5, tzinfo=UTC),
        datetime(2025, 7, 21, 7, tzinfo=UTC),
        None,
    ]
    assert items[0].content == "Flights BEN→MSQ rose in June."
    assert items[0].summary == "An explainer on the BEN-MSQ flights."
    assert items[1].content == "Plain <text> stays as written & is not HTML."


def test_fields_are_capped() -> None:
    """Title, summary and content are cut to 1,000 / 5,000 / 20,000 characters."""
    entry = Entry("t" * 50_000, guid="big", summary="s" * 50_000, content="c" * 50_000)
    [item] = parse(rss([entry]))
    assert (len(item.title), len(item.summary), len(item.content)) == (1_000, 5_000, 20_000)
    assert item.title.endswith("…")


def test_at_most_500_items_are_kept() -> None:
    """A feed of 600 undated items numbered downwards (newest first) yields its first 500;
    numbered upwards (oldest first), its last 500."""
    entries = [Entry(f"Item {n}", guid=f"g{n}") for n in range(600)]
    items = parse(atom(entries[::-1]), "application/atom+xml")
    assert len(items) == 500
    assert (items[0].title, items[-1].title) == ("Item 599", "Item 100")
    items = parse(atom(entries), "application/atom+xml")
    assert (items[0].title, items[-1].title) == ("Item 100", "Item 599")


def test_pathological_html_is_handled_in_linear_time() -> None:
    """200,000 unclosed tags (quadratic for html.parser) convert without stalling."""
    markup = "<a " * 200_000 + "end"
    assert html_to_text(markup, 100).endswith("<a <a…")  # never closed, so kept as text
    assert html_to_text("<p>ok</p>" + "<script>" * 100_000, 100) == "ok"
    assert html_to_text('<a "x" ' * 100_000 + "end", 100).startswith('<a "x" <a')
    assert html_to_text("<![CDATA[" * 100_000 + "end", 10**6).endswith("<![CDATA[end")


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        ("<p>One</p><p>Two</p>", "One Two"),
        ("Hel<b>lo</b> wor<em>ld</em>", "Hello world"),
        ("a &amp; b &lt;c&gt; &eacute;&nbsp;d &#x41;", "a & b <c> é d A"),
        ("<style>p {}</style><script>x()</script>visible", "visible"),
        ("before<!-- hidden -->after", "before after"),
        ("x < y and y > z", "x < y and y > z"),
        ("tab\tnew\nline\x00nul\x07bell", "tab new line nul bell"),
        ("<SCRIPT type='x'>alert(1)</SCRIPT >shown", "shown"),
        ("<applet code='x'>no applet</applet>after", "after"),
        ("<img alt=\"a > b\" src='x'>pic <a title='1>0'>link</a>", "pic link"),
        ("<![CDATA[<p>wrapped</p> twice]]> end", "wrapped twice end"),
        ("<!DOCTYPE html><?php x ?><![if !IE]>shown<![endif]>", "shown"),
        (
            'About <!ENTITY x SYSTEM "file:///etc/passwd">',
            'About <!ENTITY x SYSTEM "file:///etc/passwd">',
        ),
    ],
)
def test_html_to_text(markup: str, text: str) -> None:
    """Tags go, block tags separate words, entities decode, controls and whitespace collapse."""
    assert html_to_text(markup, 1_000) == text


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTPS://Example.COM/Path?utm_source=x&id=1#frag", "https://example.com/Path?id=1"),
        ("http://example.com:80/a?utm_medium=rss", "http://example.com/a"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com/?b=2&a=1&UTM_campaign=z", "https://example.com/?b=2&a=1"),
        ("https://user@Example.com:8443/x", "https://user@example.com:8443/x"),
        (" https://example.com/a ", "https://example.com/a"),
        ("https://[::1/broken", "https://[::1/broken"),
    ],
)
def test_normalise_link(url: str, expected: str) -> None:
    """Links lose utm_* and fragments; scheme and host are lower-cased; the rest is kept."""
    assert normalise_link(url) == expected


def test_url_guid_is_shared_across_sources() -> None:
    """The same article (URL guid) in two feeds gets one key; opaque guids stay per source."""
    url_guid = "https://news.example.com/a?utm_source=one"
    assert item_key("one", url_guid, "", "T", None) == item_key("two", url_guid, "", "T", None)
    assert item_key("one", "12345", "", "T", None) == "one:12345"
    assert item_key("two", "12345", "", "T", None) == "two:12345"


def test_item_key_falls_back_to_link_then_title_and_date() -> None:
    """Without guid the key is the normalised link; without link, a per-source hash."""
    assert item_key("s", None, "https://E.com/x#y", "T", None) == "https://e.com/x"
    assert item_key("s", "  ", "https://e.com/x", "T", None) == "https://e.com/x"
    hashed = item_key("s", None, "", "Title", "Mon, 30 Jun 2025 18:00:00 GMT")
    assert hashed.startswith("s:sha256:")
    assert hashed != item_key("s", None, "", "Title", "Tue, 01 Jul 2025 18:00:00 GMT")
    assert hashed != item_key("t", None, "", "Title", "Mon, 30 Jun 2025 18:00:00 GMT")


def test_very_long_guid_is_hashed() -> None:
    """A guid longer than 1,024 characters becomes a fixed-size hash, still per source."""
    key = item_key("s", "g" * 5_000, "", "T", None)
    assert key.startswith("s:sha256:")
    assert len(key) < 100


def test_naive_now_is_refused() -> None:
    """`now` must be timezone-aware (comparing dates would fail otherwise)."""
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_feed("src", rss(), content_type=RSS, url=URL, now=datetime(2026, 1, 1))  # noqa: DTZ001


def test_entry_that_fails_conversion_is_skipped() -> None:
    """An entry that cannot be converted is skipped; the rest of the feed is kept."""
    good = RawEntry("g", "", "Good", "", "", (datetime(2025, 1, 1, tzinfo=UTC),), None)
    bad = RawEntry("b", "", "Bad", "", "", (datetime(2025, 1, 1),), None)  # noqa: DTZ001 - naive on purpose
    assert [i.title for i in _items("src", [bad, good], URL, NOW)] == ["Good"]


def test_builders_round_trip() -> None:
    """The test feed builders produce feeds that parse back to the same titles and links."""
    entries = [
        Entry("One", link="https://b.example/1", summary="<p>s</p>", published=NOW),
        Entry("Two & more", link="https://b.example/2", guid="two"),
    ]
    for body, content_type in [
        (rss(entries), RSS),
        (atom(entries), RSS),
        (json_feed(entries), JSON),
    ]:
        items = parse(body, content_type)
        assert [(i.title, i.link) for i in items] == [
            ("One", "https://b.example/1"),
            ("Two & more", "https://b.example/2"),
        ]
        assert items[0].published == NOW


@pytest.mark.parametrize(
    ("name", "seconds"),
    [
        ("rss2_ttl.xml", 3600.0),  # <ttl>60</ttl>: minutes
        ("rss10_sy_update.xml", 1800.0),  # hourly, twice
        ("rss2_sy_update_wordpress.xml", 7 * 86400.0),  # weekly, another prefix, spaces
        ("ttl_and_sy_update.xml", 7200.0),  # ttl 2 hours beats hourly / 4
        ("ttl_garbage.xml", None),  # "soon", "fortnightly"
        ("ttl_absurd.xml", None),  # 100 days, yearly: over 30 days
        ("rss2_basic.xml", None),
        ("atom_basic.xml", None),
        ("jsonfeed_11.json", None),  # JSON Feed has no such hint
    ],
)
def test_refresh_hint_of_golden_feed(name: str, seconds: float | None) -> None:
    """A feed's own <ttl> or sy:updatePeriod / sy:updateFrequency is read as its refresh
    hint in seconds, the larger of the two; garbage or absurd values are no hint."""
    content_type = JSON if name.endswith(".json") else RSS
    body = (FEEDS / name).read_bytes()
    document = read_feed("src", body, content_type=content_type, url=URL, now=NOW)
    assert document.items
    assert document.refresh_hint == seconds


@pytest.mark.parametrize(
    ("ttl", "period", "frequency", "seconds"),
    [
        ("15", None, None, 900.0),
        (" 90 ", None, None, 5400.0),
        ("0.5", None, None, 30.0),
        ("43200", None, None, 30 * 86400.0),  # 30 days: the longest hint
        ("43201", None, None, None),
        ("0", None, None, None),
        ("-5", None, None, None),
        ("1e3", None, None, None),
        ("nan", None, None, None),
        ("", None, None, None),
        (None, "hourly", None, 3600.0),
        (None, "Daily", None, 86400.0),
        (None, None, "4", 21600.0),  # the period defaults to daily
        (None, "monthly", "1", 30 * 86400.0),
        (None, "yearly", "12", None),  # a month of 365 / 12 days: over 30 days
        (None, "hourly", "0", None),
        (None, "hourly", "1.5", None),
        (None, "hourly", "often", None),
        (None, "", "", None),
        ("60", "daily", None, 86400.0),
        ("60", "hourly", "x", 3600.0),  # the garbage one is ignored, the other counts
        (None, None, None, None),
    ],
)
def test_refresh_hint(
    ttl: str | None, period: str | None, frequency: str | None, seconds: float | None
) -> None:
    """ttl minutes, or the period divided by the frequency; the larger; None when absent,
    not a positive number, or longer than 30 days."""
    assert refresh_hint(ttl, period, frequency) == seconds
