"""Grouping news into stories, and a story's text (pure: bot.stories, bot.story_text)."""

from __future__ import annotations

import html
import re
from collections.abc import Collection
from datetime import UTC, datetime, timedelta

import pytest
from rapidfuzz import fuzz

from bot.render import TELEGRAM_MESSAGE_LIMIT, visible_length
from bot.store.records import OutboxRow, StoryMember
from bot.stories import (
    NEAR_COPY,
    StoryIndex,
    StoryKeys,
    canonical_link,
    language,
    near_copy,
    reason_to_join,
    text_key,
    title_numbers,
)
from bot.story_text import MAX_LISTED, digest, with_sources

NOW = datetime(2026, 6, 5, 8, 0, tzinfo=UTC)
WINDOW = timedelta(hours=48)


def keys(
    title: str,
    *,
    link: str = "",
    lang: str | None = None,
    summary: str = "",
    entities: Collection[str] = (),
    rules: Collection[str] = ("r1",),
) -> StoryKeys:
    """The keys of an item, as `bot.news.story_keys` computes them."""
    return StoryKeys(
        link=canonical_link(link),
        lang=language(f"{title} {summary}") if lang is None else lang,
        text=text_key(title, summary),
        numbers=title_numbers(title),
        entities=frozenset(entities),
        rules=frozenset(rules),
    )


# ── canonical_link ──

ARTICLE = "https://example.com/news/haftar-minsk"


@pytest.mark.parametrize(
    "variant",
    [
        "https://example.com/news/haftar-minsk?utm_source=rss&utm_medium=feed",
        "https://example.com/news/haftar-minsk?utm_campaign=x",
        "https://example.com/news/haftar-minsk?fbclid=IwAR0abc",
        "https://example.com/news/haftar-minsk?amp",
        "https://example.com/news/haftar-minsk?amp=1",
        "https://www.example.com/news/haftar-minsk",
        "https://m.example.com/news/haftar-minsk",
        "https://amp.example.com/news/haftar-minsk",
        "https://example.com/news/haftar-minsk/amp",
        "https://example.com/news/haftar-minsk/amp/",
        "https://example.com/news/haftar-minsk/",
        "http://example.com/news/haftar-minsk",
        "https://example.com/news/haftar-minsk#comments",
        "https://EXAMPLE.com/news/haftar-minsk",
        "  https://www.example.com/news/haftar-minsk/?utm_source=tg#top  ",
    ],
)
def test_copies_of_one_page_have_one_canonical_link(variant: str) -> None:
    """Tracking parameters, AMP and mobile variants, www., a trailing slash, http and the
    fragment all vary between copies of one article: its canonical link ignores them."""
    assert canonical_link(variant) == canonical_link(ARTICLE) == ARTICLE


def test_an_ordinary_query_parameter_is_kept() -> None:
    """An article named by its query (`?id=5`) keeps it: id=5 and id=6 are two articles;
    the tracking parameters beside it still go, and the order of the others does not count."""
    five = canonical_link("https://example.com/news?id=5&utm_source=rss")
    assert five == "https://example.com/news?id=5"
    assert five != canonical_link("https://example.com/news?id=6")
    assert canonical_link("https://example.com/a?x=1&y=2") == canonical_link(
        "https://example.com/a?y=2&x=1"
    )


def test_a_short_host_keeps_its_prefix_and_paths_keep_their_case() -> None:
    """`m.co` is a domain, not a mobile prefix; paths differ by case."""
    assert canonical_link("https://m.co/x") == "https://m.co/x"
    assert canonical_link("https://example.com/News") != canonical_link("https://example.com/news")
    assert canonical_link("") == ""


# ── language ──


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Haftar visits Minsk", "en"),
        ("Хафтар прилетів до Мінська", "uk"),
        ("Їжа і ґанок", "uk"),
        ("Хафтар прилетел в Минск", "ru"),
        ("Съезд объявил ёлку", "ru"),
        ("Хафтар сустрэўся з Лукашэнкам у Мінску", "be"),
        ("Лукашэнка і Хафтар", "be"),
        ("", ""),
        ("2026 — 12:00 !!", ""),
    ],
)
def test_language_is_guessed_from_the_letters(text: str, expected: str) -> None:
    """Latin is "en"; Cyrillic is told apart by the letters only one language has."""
    assert language(text) == expected


def test_title_numbers() -> None:
    """The numbers of a title; "1,200" and "1.200" are one number."""
    assert title_numbers("120 attempts to cross the border") == {"120"}
    assert title_numbers("1,200 people") == title_numbers("1.200 people")
    assert title_numbers("Haftar visits Minsk") == frozenset()


# ── reason_to_join ──


def test_the_same_link_joins_whatever_the_text() -> None:
    """Two feeds of one outlet carry one article: one story, even with other titles."""
    a = keys("Haftar in Minsk", link="https://www.example.com/a?utm_source=rss")
    b = keys("Хафтар у Мінську", link="https://example.com/a/amp")
    assert reason_to_join(a, b) == "link"


def test_a_near_copy_in_the_same_language_joins() -> None:
    """Two outlets rewording one wire story, in one language."""
    a = keys("Haftar visits Minsk for talks with Lukashenko")
    b = keys("Haftar arrives in Minsk for talks with Lukashenko")
    assert reason_to_join(a, b) == "copy"


def test_different_stories_in_one_language_do_not_join() -> None:
    """Sharing a name is not being a copy."""
    a = keys("Haftar visits Minsk for talks with Lukashenko")
    b = keys("Belavia cancels flights to Istanbul after engine failure")
    assert reason_to_join(a, b) is None


def test_entities_join_across_languages() -> None:
    """Another language, a shared rule and two shared entities: the same story."""
    en = keys("Haftar lands in Minsk", entities=("haftar", "minsk"))
    ru = keys("Хафтар прилетел в Минск", entities=("haftar", "minsk"))
    uk = keys("Хафтар прилетів до Мінська", entities=("haftar", "minsk"))
    assert (en.lang, ru.lang, uk.lang) == ("en", "ru", "uk")
    assert reason_to_join(ru, en) == "entities"
    assert reason_to_join(uk, ru) == "entities"


def test_entities_alone_never_join_in_the_same_language() -> None:
    """In one language the text must be a near copy: shared names are not enough."""
    a = keys("Haftar lands in Minsk for talks on flights", entities=("haftar", "minsk"))
    b = keys(
        "Court jails blogger who mocked Haftar's visit, a year after his trial began in Minsk",
        entities=("haftar", "minsk"),
    )
    assert reason_to_join(a, b) is None


def test_entities_need_a_shared_rule_two_names_and_no_conflict() -> None:
    """One shared name, no shared rule, or a name each leaves out (Minsk vs Moscow) is
    not the same story."""
    en = keys("Haftar lands in Minsk", entities=("haftar", "minsk"))
    assert reason_to_join(keys("Хафтар", entities=("haftar",)), en) is None
    other_rule = keys("Хафтар прилетел в Минск", entities=("haftar", "minsk"), rules=("r2",))
    assert reason_to_join(other_rule, en) is None
    moscow = keys("Хафтар прилетел в Москву", entities=("haftar", "moscow", "belavia"))
    three = keys("Haftar flies Belavia to Minsk", entities=("haftar", "minsk", "belavia"))
    assert reason_to_join(moscow, three) is None
    superset = keys("Хафтар прилетел в Минск рейсом Белавиа", entities=three.entities)
    assert reason_to_join(superset, en) is None  # one names Belavia, the other does not
    assert reason_to_join(superset, three) == "entities"


def test_different_title_numbers_block_a_copy_and_entities() -> None:
    """A daily report ("120 attempts", then "85 attempts") is a new event each day."""
    a = keys("Border guards report 120 attempts to cross from Belarus")
    b = keys("Border guards report 85 attempts to cross from Belarus")
    assert reason_to_join(a, b) is None
    assert reason_to_join(a, keys("Border guards report 120 attempts to cross Belarus")) == "copy"
    en = keys("3 Belavia planes land in Benghazi", entities=("belavia", "benghazi"))
    ru = keys("4 самолета Белавиа сели в Бенгази", entities=("belavia", "benghazi"))
    assert reason_to_join(ru, en) is None


# ── StoryIndex ──


def test_the_index_finds_the_newest_story() -> None:
    """Two open stories the item could join for the same reason: the newer one."""
    index = StoryIndex(WINDOW)
    first = keys("Haftar visits Minsk for talks with Lukashenko")
    index.open("main", 1, NOW, first)
    index.open("main", 2, NOW + timedelta(hours=1), first)
    join = index.find("main", keys("Haftar arrives in Minsk for talks with Lukashenko"), NOW)
    assert join is not None
    assert (join.story_id, join.reason) == (2, "copy")
    assert index.find("other", first, NOW) is None  # stories are per channel


def test_a_story_closes_after_the_window() -> None:
    """An item joins a story opened within the window, not one opened before it."""
    index = StoryIndex(WINDOW)
    first = keys("Haftar in Minsk", link="https://example.com/a")
    index.open("main", 1, NOW, first)
    same = keys("Haftar in Minsk", link="https://example.com/a?utm_source=x")
    assert index.find("main", same, NOW + WINDOW) is not None
    assert index.find("main", same, NOW + WINDOW + timedelta(seconds=1)) is None
    assert len(index) == 0


def test_a_link_joins_through_an_item_added_later() -> None:
    """Every item of a story is compared, not only its first: the link of the third item
    brings in a copy of it, after other items joined."""
    index = StoryIndex(WINDOW)
    index.open("main", 1, NOW, keys("Haftar in Minsk", link="https://a.example/1"))
    index.add("main", 1, keys("Haftar in Minsk again", link="https://b.example/2"))
    index.open("main", 2, NOW, keys("Belavia news", link="https://c.example/3"))
    index.add("main", 1, keys("Хафтар у Мінську", link="https://d.example/4"))
    join = index.find("main", keys("Other words", link="https://m.d.example/4/"), NOW)
    assert join is not None
    assert (join.story_id, join.reason) == (1, "link")
    later = keys("Other words", link="https://www.b.example/2?utm_source=rss")
    assert index.find("main", later, NOW) == join


# ── bot.story_text ──


def member(n: int, *, source: str | None = None, link: str | None = None) -> StoryMember:
    return StoryMember(
        source or f"outlet-{n:03d}-" + "x" * 40,
        f"title {n}",
        f"https://news{n}.example/" + "p" * 60 if link is None else link,
        "ru",
        "copy",
        NOW + timedelta(minutes=n),
    )


def test_with_sources_names_the_outlets_linked_with_their_language() -> None:
    """The story's message: the alert, then `+ outlet (lang) · …`, linked, escaped."""
    members = [
        member(1, source="zerkalo", link="https://zerkalo.example/1?a=1&b=2"),
        member(2, source="r<b>&co", link=""),
    ]
    html_text, plain = with_sources("<b>Haftar</b> in Minsk", "Haftar in Minsk", members)
    assert plain == "Haftar in Minsk\n\n+ zerkalo (ru) · r<b>&co (ru) — last 08:02 UTC"
    assert html_text.startswith("<b>Haftar</b> in Minsk\n\n+ ")
    assert '<a href="https://zerkalo.example/1?a=1&amp;b=2">zerkalo</a> (ru)' in html_text
    assert "r&lt;b&gt;&amp;co (ru)" in html_text
    assert with_sources("<b>x</b>", "x", []) == ("<b>x</b>", "x")


@pytest.mark.parametrize("alert_length", [100, 3000, 4090])
def test_with_sources_fits_in_a_message_and_collapses_the_oldest(alert_length: int) -> None:
    """200 long outlets: the text stays within 4096 visible characters; the oldest
    collapse into "N more sources", the newest stay named."""
    members = [member(n) for n in range(200)]
    plain_alert = "A" * alert_length
    html_text, plain = with_sources(f"<b>{plain_alert}</b>", plain_alert, members)
    assert visible_length(plain) <= TELEGRAM_MESSAGE_LIMIT
    assert visible_length(_visible(html_text)) == visible_length(plain)
    shown = plain.count("(ru)")
    assert shown or alert_length > 4000  # an alert leaving room names the newest outlets
    collapsed = f"{200 - shown} more sources" if shown else "200 sources"
    assert f"{collapsed}, last 11:19 UTC" in plain
    if shown:
        assert members[-1].source_id in plain
        assert members[0].source_id not in plain


def _visible(markup: str) -> str:
    """What Telegram shows of simple HTML: tags removed, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


def row(n: int, title: str, *, link: str = "") -> OutboxRow:
    return OutboxRow(
        id=n,
        chat_id=-100,
        html="",
        plain=title,
        link=link or f"https://news.example/{n}",
        as_plain=False,
        attempts=0,
        channel="main",
        source_id="src",
        rule_ids=("r1",),
        title=title,
        created_at=NOW.isoformat(),
    )


def test_a_digest_fits_in_a_message_and_says_how_many_it_holds() -> None:
    """Long titles: the digest holds the alerts that fit in 4096 and names their count;
    the rest are for the next digest. Titles are escaped and linked."""
    rows = [row(n, f"Haftar <{n}> & " + "word " * 60) for n in range(1, 41)]
    rendered, fits = digest(rows, {1: 3})
    assert 1 <= fits < len(rows)
    assert visible_length(rendered.plain) <= TELEGRAM_MESSAGE_LIMIT
    assert visible_length(_visible(rendered.html)) <= TELEGRAM_MESSAGE_LIMIT
    assert rendered.plain.startswith(f"Digest: {fits} alerts (times UTC)\n")
    assert rendered.plain.count("\n") == fits
    assert "· +2 sources" in rendered.plain.splitlines()[1]
    assert '<a href="https://news.example/1">Haftar &lt;1&gt; &amp; word' in rendered.html
    rest, more = digest(rows[fits:], {})
    assert f"<{fits + 1}>" in rest.plain.splitlines()[1]
    assert more >= 1


def test_a_short_digest_holds_every_alert() -> None:
    rows = [row(n, f"Haftar {n}") for n in range(1, 12)]
    rendered, fits = digest(rows, {})
    assert fits == 11
    assert all(f"Haftar {n}" in rendered.plain for n in range(1, 12))


def test_a_short_title_is_no_copy_of_a_long_text_holding_its_words() -> None:
    """Every word of "Haftar lands in Minsk" is in the other title (token_set_ratio 72), but
    the whole texts differ (51 of 100): not a near copy."""
    short = keys("Haftar lands in Minsk")
    other = keys("Minsk court jails Haftar critic over posts")
    assert fuzz.token_set_ratio(short.text, other.text) >= NEAR_COPY
    assert not near_copy(short, other)
    assert near_copy(short, keys("Haftar lands in Minsk today"))


def test_at_most_thirty_outlets_are_linked() -> None:
    """Telegram reads the first 100 entities of a message: the line links 30 outlets at
    most, the older ones are counted."""
    members = [
        StoryMember(f"s{n}", "t", f"https://e.example/{n}", "en", "copy", NOW) for n in range(45)
    ]
    html_text, plain = with_sources("<b>T</b>", "T", members)
    assert html_text.count("<a href=") == MAX_LISTED == 30
    assert "15 more sources" in plain
    assert "s44 (en)" in plain
    assert "s14 (en)" not in plain
