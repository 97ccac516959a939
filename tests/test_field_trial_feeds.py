"""Field trial (issue 9), the feed side: decoding, item caps, item identity, first polls.

Each finding is reproduced through the real path where practical: a loopback feed server,
the real `NewsPoller` (httpx, feedparser, the rule engine) and a real SQLite file; the pure
parts (decoding, choosing items, keys) are tested on golden files named by their quirk.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from bot.config.validate import parse_config
from bot.news import NewsPoller
from bot.status import gather, render_status
from bot.store import Store
from bot.store.records import PollOutcome
from tests.fakes.feed_server import Entry, FeedServer, json_feed, rss
from watchers.feeds import parse_feed
from watchers.rss import FeedReader

FEEDS = Path(__file__).parent / "data" / "feeds"
URL = "https://feeds.example.net/feed"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
RSS = "application/rss+xml"

CONFIG = """
[telegram]
api_url = "http://127.0.0.1:9"

[channels.main]
chat_id = -100123

[[sources]]
id = "s"
kind = "rss"
url = "{url}"
alert_existing = {alert_existing}

[[rules]]
id = "haftar"
kind = "keywords"
query = "haftar OR хафтар*"
channel = "main"

[[rules]]
id = "belavia"
kind = "keywords"
query = "belavia"
channel = "main"
"""


def parse(body: bytes, content_type: str = RSS) -> list[tuple[str, str, str]]:
    """(title, summary + content, key) of each item."""
    items = parse_feed("src", body, content_type=content_type, url=URL, now=NOW)
    return [(i.title, f"{i.summary}{i.content}", i.key) for i in items]


async def poll(db: Path, url: str, *, alert_existing: bool = False) -> PollOutcome:
    """One poll of source "s" at `url` by a fresh NewsPoller on the database `db`."""
    text = CONFIG.format(url=url, alert_existing="true" if alert_existing else "false")
    config = parse_config(text, "rules.toml")
    store = Store.open(db)
    try:
        async with httpx.AsyncClient() as client:
            poller = NewsPoller(
                store, FeedReader(client), config.keyword_rules, config.channels, clock=lambda: NOW
            )
            return await poller.poll(config.news_sources[0])
    finally:
        store.close()


def outbox(db: Path) -> list[tuple[str, str]]:
    """(dedup key, plain text) of every outbox row, oldest first."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return conn.execute("SELECT dedup_key, plain FROM outbox ORDER BY id").fetchall()


def status(db: Path) -> str:
    store = Store.open(db)
    try:
        return render_status(gather(store), NOW)
    finally:
        store.close()


def news_log(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "bot.news"]


# ───────────── 1. one bad byte costs one character, not the document's encoding ─────────────


@pytest.mark.parametrize(
    "content_type", [RSS, "text/xml", "", "text/html; charset=utf-8", "application/xml"]
)
def test_one_invalid_byte_keeps_the_declared_encoding(content_type: str) -> None:
    """The trial's feed: UTF-8 with one \\xff. Before: decoded whole as iso-8859-2."""
    items = parse((FEEDS / "utf8_one_invalid_byte.xml").read_bytes(), content_type)
    assert items[0][0] == "Встреча с Хафтаром"
    assert items[1][:2] == ("Other", "cafÿ")  # the bad byte, read as windows-1252


def test_latin1_word_and_a_cut_character_in_a_utf8_feed() -> None:
    """A Latin-1 word pasted into UTF-8 stays readable; a character cut in two is U+FFFD."""
    [(title, text, _)] = parse((FEEDS / "utf8_latin1_word_and_cut_character.xml").read_bytes())
    assert title == "Мінськ: café"
    assert text == "Хафтар прибув до Мінськ\ufffd"


def test_json_feed_with_an_invalid_byte_is_read() -> None:
    """Before: "invalid JSON" and the whole feed failed."""
    body = (FEEDS / "jsonfeed_invalid_byte.json").read_bytes()
    items = parse(body, "application/feed+json")
    assert [(title, key) for title, _, key in items] == [
        ("Хафтар в Минске", "src:j1"),
        ("Second", "src:j2"),
    ]
    assert items[0][1] == "café"


def test_json_feed_in_the_charset_its_server_declares() -> None:
    """JSON is UTF-8; a body that is not, labelled windows-1251, is read as windows-1251."""
    body = json_feed([Entry("Хафтар", guid="c1")]).decode().encode("cp1251")
    items = parse(body, "application/feed+json; charset=windows-1251")
    assert [title for title, _, _ in items] == ["Хафтар"]


def test_valid_documents_are_handed_on_untouched() -> None:
    """A document valid in what it declares is not re-encoded (feedparser decodes it)."""
    from watchers.feed_formats import decode_xml

    for name, content_type in [
        ("windows1251_encoding.xml", RSS),
        ("windows1251_encoding.xml", "text/xml"),
        ("rss2_basic.xml", "text/html; charset=utf-8"),
        ("truncated.xml", RSS),
    ]:
        body = (FEEDS / name).read_bytes()
        decoded = decode_xml(body, content_type)
        assert (decoded.body, decoded.content_type, decoded.bad_bytes) == (body, content_type, 0)
    utf16 = "\ufeff" + rss([Entry("Мінськ", guid="u")]).decode().replace("utf-8", "utf-16")
    assert parse(utf16.encode("utf-16-le"))[0][0] == "Мінськ"


@pytest.mark.parametrize("declared", ["base64", "no-such-charset", "UTF8"])
def test_a_declaration_that_names_no_text_encoding_falls_back_to_utf8(declared: str) -> None:
    body = rss([Entry("Хафтар", guid="d")]).replace(b"utf-8", declared.encode()) + b"\xff"
    assert [title for title, _, _ in parse(body)] == ["Хафтар"]


async def test_bad_bytes_are_counted_logged_and_shown(
    tmp_path: Path, feed_server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The trial's repro through a poll: the Cyrillic rule alerts; the repair is logged at
    WARNING naming the source, counted per source and shown by /status."""
    feed_server.route("/cyr.xml", body=(FEEDS / "utf8_one_invalid_byte.xml").read_bytes())
    db = tmp_path / "v.db"
    caplog.set_level(logging.INFO)
    outcome = await poll(db, feed_server.url("/cyr.xml"), alert_existing=True)
    assert outcome.alerts == 1
    assert "Встреча с Хафтаром" in outbox(db)[0][1]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        "source s: 1 bad byte replaced (the feed is not valid in the encoding it declares)"
    ]
    body = (FEEDS / "utf8_one_invalid_byte.xml").read_bytes().replace(b"\xff", b"\xff\xfe")
    feed_server.route("/cyr.xml", body=body)
    await poll(db, feed_server.url("/cyr.xml"), alert_existing=True)
    assert "s (rss): ok 0s ago, 2 items, 1 alert, 3 bad bytes replaced" in status(db)


# ───────────── 2. the newest items of a big feed, not its first 500 ─────────────


async def test_oldest_first_feed_alerts_on_an_item_added_at_its_end(
    tmp_path: Path, feed_server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The trial's repro: 600 undated items, oldest first. Before: the appended item was
    never read (first 500 in document order) and nothing said why."""
    old = [Entry(f"Old {n}", guid=str(n)) for n in range(600)]
    feed_server.route("/asc.xml", body=rss(old))
    db = tmp_path / "v.db"
    caplog.set_level(logging.INFO)
    await poll(db, feed_server.url("/asc.xml"))
    feed_server.route("/asc.xml", body=rss([*old, Entry("Haftar lands in Minsk", guid="600")]))
    outcome = await poll(db, feed_server.url("/asc.xml"))
    assert outcome.alerts == 1
    assert "Haftar lands in Minsk" in outbox(db)[0][1]
    assert "source s: feed has 600 items, read the last 500 (the feed lists oldest first)" in (
        news_log(caplog)
    )


def test_the_newest_items_by_date_are_kept() -> None:
    """Dated items: the 500 newest by date whatever the order, kept in document order."""
    start = datetime(2025, 1, 1, tzinfo=UTC)
    entries = [
        Entry(f"Item {n}", guid=f"id-{n:x}z", published=start + timedelta(hours=n))
        for n in range(700)
    ]
    for order in (entries, entries[::-1], entries[350:] + entries[:350]):
        titles = {title for title, _, _ in parse(rss(order))}
        assert titles == {f"Item {n}" for n in range(200, 700)}


def test_undated_items_without_numbers_keep_document_order() -> None:
    """No dates, no numbers to compare: the first 500 (most feeds list newest first)."""
    entries = [
        Entry(f"Item {n}", link=f"https://x.example/{chr(97 + n % 26)}/z") for n in range(26)
    ]
    body = rss(entries * 25)  # 650 entries; repeated links keep their first occurrence
    assert len(parse(body)) == 26
    many = [
        Entry(f"Item {n}", guid=f"guid-{chr(97 + n // 26)}{chr(97 + n % 26)}") for n in range(600)
    ]
    titles = [title for title, _, _ in parse(rss(many))]
    assert (len(titles), titles[0], titles[-1]) == (500, "Item 0", "Item 499")


def test_links_up_to_4096_characters_are_kept_without_changing_keys() -> None:
    """Before: a link over 2,048 characters was dropped. Keys do not change: an item without
    a guid whose link is that long keeps its title-and-date hash key."""
    link = "https://long.example/" + "a" * 3000
    too_long = "https://long.example/" + "a" * 5000
    body = rss([Entry("Long link", link=link), Entry("Too long", link=too_long)])
    items = parse_feed("src", body, content_type=RSS, url=URL, now=NOW)
    assert [item.link for item in items] == [link, ""]
    assert items[0].key == "src:sha256:" + hashlib.sha256(b"Long link\n").hexdigest()


# ───────────── 5. items with nothing but text stay apart ─────────────


def test_items_with_only_text_get_distinct_keys_and_others_keep_theirs() -> None:
    """Before: both untitled, undated items had the key of an empty title and date."""
    items = parse((FEEDS / "no_identity_text_only.xml").read_bytes())
    keys = [key for _, _, key in items]
    assert len(set(keys)) == 3
    assert keys[2] == "src:sha256:" + hashlib.sha256(b"Titled, no date\n").hexdigest()
    [(_, _, empty)] = parse(rss([Entry("")]))
    assert empty == "src:sha256:" + hashlib.sha256(b"\n").hexdigest()


async def test_untitled_items_each_alert(tmp_path: Path, feed_server: FeedServer) -> None:
    """The trial's repro: two matching items with no guid, link, title or date."""
    feed_server.route("/t.xml", body=(FEEDS / "no_identity_text_only.xml").read_bytes())
    db = tmp_path / "v.db"
    assert (await poll(db, feed_server.url("/t.xml"), alert_existing=True)).alerts == 2


# ───────────── 6. an item edited to match alerts, once per rule ─────────────


async def test_an_edited_item_alerts_for_rules_it_had_not_matched(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """The trial's repro, then more edits: each rule alerts at most once for the item; the
    first alert of an item keeps its dedup key of before."""
    db, url = tmp_path / "v.db", feed_server.url("/e.xml")
    base = Entry("Weather", guid="w")
    feed_server.route("/e.xml", body=rss([base]))
    await poll(db, url)  # the silent first poll
    feed_server.route("/e.xml", body=rss([Entry("Plane lands in Minsk", guid="e4"), base]))
    assert (await poll(db, url)).alerts == 0
    feed_server.route("/e.xml", body=rss([Entry("Plane carrying Haftar lands", guid="e4"), base]))
    assert (await poll(db, url)).alerts == 1
    feed_server.route("/e.xml", body=rss([Entry("Haftar, Belavia plane lands", guid="e4"), base]))
    assert (await poll(db, url)).alerts == 1
    feed_server.route("/e.xml", body=rss([Entry("Haftar and Belavia: update", guid="e4"), base]))
    assert (await poll(db, url)).alerts == 0
    feed_server.route("/e.xml", body=rss([Entry("Haftar again", guid="n1"), base]))
    assert (await poll(db, url)).alerts == 1
    rows = outbox(db)
    assert [key for key, _ in rows] == [
        "news-edit|main|haftar|s:e4",
        "news-edit|main|belavia|s:e4",
        "news|main|s:n1",
    ]
    assert "Haftar, Belavia plane lands" in rows[1][1]
    assert "belavia" in rows[1][1].splitlines()[-1]
    assert "haftar" not in rows[1][1].splitlines()[-1]


async def test_an_item_that_matched_at_the_silent_first_poll_does_not_alert_when_edited(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    db, url = tmp_path / "v.db", feed_server.url("/q.xml")
    feed_server.route("/q.xml", body=rss([Entry("Haftar in Minsk", guid="q")]))
    await poll(db, url)
    feed_server.route("/q.xml", body=rss([Entry("Haftar in Minsk (updated)", guid="q")]))
    assert (await poll(db, url)).alerts == 0
    feed_server.route("/q.xml", body=rss([Entry("Haftar in Minsk with Belavia", guid="q")]))
    assert (await poll(db, url)).alerts == 1  # a rule it had not matched
    assert [key for key, _ in outbox(db)] == ["news-edit|main|belavia|s:q"]


async def test_items_stored_before_fingerprints_do_not_alert_after_the_upgrade(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """A row without fingerprint (0.1) gets one at the next poll, which alerts nothing."""
    db, url = tmp_path / "v.db", feed_server.url("/u.xml")
    feed_server.route("/u.xml", body=rss([Entry("Minsk news", guid="u")]))
    await poll(db, url)
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("UPDATE seen_items SET fingerprint = NULL, quiet_rules = NULL")
    feed_server.route("/u.xml", body=rss([Entry("Minsk news: Haftar", guid="u")]))
    assert (await poll(db, url)).alerts == 0
    feed_server.route("/u.xml", body=rss([Entry("Minsk news: Haftar, Belavia", guid="u")]))
    assert (await poll(db, url)).alerts == 1  # neither rule ever alerted for it: both, once
    assert [key for key, _ in outbox(db)] == ["news-edit|main|belavia+haftar|s:u"]


# ───────────── 25. one guid for every story ─────────────


def test_a_guid_shared_by_different_stories_is_ignored() -> None:
    items = parse((FEEDS / "shared_guid_site_url.xml").read_bytes())
    assert [key for _, _, key in items] == [
        "http://example.org/news/3",
        "http://example.org/news/2",
        "http://example.org/news/1",
        "src:n0",
    ]
    duplicates = parse((FEEDS / "duplicate_guids.xml").read_bytes())  # same guid, no links
    assert [key for _, _, key in duplicates] == ["src:same", "src:other"]


async def test_new_stories_under_a_shared_guid_alert(
    tmp_path: Path, feed_server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The trial's repro: before, only the first story was kept and the rest never alerted."""
    db, url = tmp_path / "v.db", feed_server.url("/g.xml")
    body = (FEEDS / "shared_guid_site_url.xml").read_bytes()
    feed_server.route("/g.xml", body=body)
    caplog.set_level(logging.INFO)
    await poll(db, url)
    new = b"<item><title>Haftar again</title><link>http://example.org/news/4</link>"
    new += b"<guid>http://example.org/</guid></item>"
    feed_server.route("/g.xml", body=body.replace(b"<item>", new + b"<item>", 1))
    assert (await poll(db, url)).alerts == 1
    assert "5 items, 1 alert" in status(db)
    warned = [m for m in news_log(caplog) if "share guid" in m]
    assert warned == [
        "source s: 3 items share guid http://example.org/; keyed by link instead",
        "source s: 4 items share guid http://example.org/; keyed by link instead",
    ]  # once per poller (one run); this test starts a poller per poll


# ───────────── 13. a new URL gets a silent first poll ─────────────


async def test_a_changed_url_is_polled_silently_first(
    tmp_path: Path, feed_server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "v.db"
    feed_server.route("/a.xml", body=rss([Entry("Weather", guid="w")]))
    matching = [Entry(f"Haftar story {n}", guid=f"h{n}") for n in range(3)]
    feed_server.route("/b.xml", body=rss(matching), etag='"b"')
    await poll(db, feed_server.url("/a.xml"))
    caplog.set_level(logging.INFO)
    assert (await poll(db, feed_server.url("/b.xml"))).alerts == 0
    assert "source s: URL changed, first poll of the new URL records 3 items silently" in (
        news_log(caplog)
    )
    feed_server.route("/b.xml", body=rss([Entry("Haftar story 3", guid="h3"), *matching]))
    assert (await poll(db, feed_server.url("/b.xml"))).alerts == 1


async def test_a_source_seeded_before_urls_were_stored_is_not_a_new_url(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    db = tmp_path / "v.db"
    feed_server.route("/a.xml", body=rss([Entry("Weather", guid="w")]))
    feed_server.route("/b.xml", body=rss([Entry("Haftar", guid="h"), Entry("Weather", guid="w")]))
    await poll(db, feed_server.url("/a.xml"))
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("UPDATE sources SET seeded_url = NULL")
    assert (await poll(db, feed_server.url("/b.xml"))).alerts == 1
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT seeded_url FROM sources").fetchone() == (
            feed_server.url("/b.xml"),
        )


# ───────────── 20. an empty first poll does not seed ─────────────


async def test_the_first_non_empty_poll_is_the_silent_one(
    tmp_path: Path, feed_server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The trial's repro: an empty channel first; before, the 3 items then alerted."""
    db, url = tmp_path / "v.db", feed_server.url("/e0.xml")
    feed_server.route("/e0.xml", body=(FEEDS / "empty_channel.xml").read_bytes())
    await poll(db, url)
    matching = [Entry(f"Haftar story {n}", guid=f"h{n}") for n in range(3)]
    feed_server.route("/e0.xml", body=rss(matching))
    assert (await poll(db, url)).alerts == 0
    feed_server.route("/e0.xml", body=rss([Entry("Haftar story 3", guid="h3"), *matching]))
    caplog.set_level(logging.INFO)
    assert (await poll(db, url)).alerts == 1
    assert news_log(caplog) == ["source s: 1 new alert queued"]


# ───────────── 30. counted nouns in the news log lines ─────────────


async def test_log_lines_count_nouns_right(
    tmp_path: Path, feed_server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    db, url = tmp_path / "v.db", feed_server.url("/p.xml")
    caplog.set_level(logging.INFO)
    feed_server.route("/p.xml", body=rss([Entry("One", guid="1")]))
    await poll(db, url)
    feed_server.route("/p.xml", status=500)
    await poll(db, url)
    feed_server.route("/p.xml", body=rss([Entry("Haftar", guid="2"), Entry("One", guid="1")]))
    await poll(db, url)
    logged = news_log(caplog)
    assert "source s: first poll, 1 item recorded silently" in logged
    assert "source s recovered after 1 failure" in logged
    assert "source s: 1 new alert queued" in logged


# ───────────── 3. a feed URL is fetched exactly as written ─────────────


def test_a_trailing_slash_is_kept_in_the_configured_url() -> None:
    config = parse_config(CONFIG.format(url=URL + "/", alert_existing="false"), "rules.toml")
    assert config.news_sources[0].url == URL + "/"


async def test_a_server_that_answers_only_the_slashed_path_is_fetched(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """Only `/feed/` exists (a strict server): the poll must ask for exactly that."""
    feed_server.route("/feed/", rss([Entry(title="Haftar in Benghazi", guid="s1")]))
    outcome = await poll(tmp_path / "v.db", feed_server.url("/feed/"), alert_existing=True)
    assert outcome.error is None
    assert [plain.splitlines()[0] for _, plain in outbox(tmp_path / "v.db")] == [
        "Haftar in Benghazi"
    ]
