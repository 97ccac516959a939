"""Rendering news alerts: layout, escaping, and the 4096-unit budget (pure)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

import pytest

from bot.render import ELLIPSIS, UNTITLED, Rendered, render_news, shorten, visible_length
from tests.fakes.telegram_api import parse_html

BROKEN_ENTITY = re.compile(r"&(?!(?:amp|lt|gt|quot|#x27);)")
WHEN = dt.datetime(2026, 5, 2, 14, 5, 33, tzinfo=dt.UTC)


def render(
    *,
    title: str = "Haftar meets Belavia",
    summary: str = "A delegation flew from Benghazi to Minsk.",
    link: str = "https://example.com/news/1",
    published: dt.datetime | None = WHEN,
    terms: Sequence[str] = ("haftar", "belavia"),
    rule_id: str = "libya-belarus",
    source_id: str = "ukr-pravda-en",
    limit: int = 4096,
) -> Rendered:
    rendered = render_news(
        rule_id=rule_id,
        source_id=source_id,
        title=title,
        summary=summary,
        link=link,
        published=published,
        terms=terms,
        limit=limit,
    )
    assert_telegram_accepts(rendered, limit)
    return rendered


def assert_telegram_accepts(rendered: Rendered, limit: int = 4096) -> None:
    """Telegram (the fake's tdlib-like parser) accepts the HTML, shows `plain`, within limit."""
    assert parse_html(rendered.html).text == rendered.plain
    assert visible_length(rendered.plain) <= limit
    rendered.plain.encode("utf-8")  # no lone surrogate


def test_layout() -> None:
    """Bold title, source and UTC time, summary, link, matched terms and rule in <code>."""
    rendered = render(terms=["haftar", "хафтар* → хафтаром"])
    assert rendered.html == (
        "<b>Haftar meets Belavia</b>\n"
        "ukr-pravda-en · 2026-05-02 14:05 UTC\n"
        "\n"
        "A delegation flew from Benghazi to Minsk.\n"
        "\n"
        '<a href="https://example.com/news/1">https://example.com/news/1</a>\n'
        "Matched: <code>haftar</code>, <code>хафтар* → хафтаром</code>"
        " · rule <code>libya-belarus</code>"
    )
    assert rendered.plain == (
        "Haftar meets Belavia\n"
        "ukr-pravda-en · 2026-05-02 14:05 UTC\n"
        "\n"
        "A delegation flew from Benghazi to Minsk.\n"
        "\n"
        "https://example.com/news/1\n"
        "Matched: haftar, хафтар* → хафтаром · rule libya-belarus"
    )
    assert rendered.link == "https://example.com/news/1"


def test_every_dynamic_string_is_escaped() -> None:
    """<script>, & and quotes in any field show literally; nothing becomes markup."""
    rendered = render(
        title="<script>alert(1)</script> & co",
        summary='He said "<b>no</b>" & left',
        link='https://example.com/?q="x"&a=<1>',
        terms=["<i>", "a&b"],
        source_id="src&<>",
        rule_id="r<1>",
    )
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in rendered.html
    assert 'href="https://example.com/?q=&quot;x&quot;&amp;a=&lt;1&gt;"' in rendered.html
    assert rendered.plain.startswith("<script>alert(1)</script> & co\nsrc&<>")
    assert 'He said "<b>no</b>" & left' in rendered.plain
    assert rendered.plain.endswith("Matched: <i>, a&b · rule r<1>")
    entities = parse_html(rendered.html).entities
    assert [e["type"] for e in entities].count("bold") == 1


def test_published_time_is_utc_and_optional() -> None:
    """Aware times convert to UTC, naive ones are taken as UTC, None leaves the time out."""
    kyiv = dt.timezone(dt.timedelta(hours=3))
    aware = render(published=dt.datetime(2026, 5, 2, 17, 5, tzinfo=kyiv))
    assert "ukr-pravda-en · 2026-05-02 14:05 UTC" in aware.plain
    naive = render(published=dt.datetime(2026, 5, 2, 14, 5))  # noqa: DTZ001 - the point
    assert "· 2026-05-02 14:05 UTC" in naive.plain
    assert render(published=None).plain.split("\n")[1] == "ukr-pravda-en"


@pytest.mark.parametrize(
    "link",
    ["javascript:alert(1)", "ftp://example.com/x", "/relative/path", "", "https://", "http://a b"],
)
def test_only_http_links_are_shown(link: str) -> None:
    """Non-http(s) or malformed links give no <a> and no preview link."""
    rendered = render(link=link)
    assert "<a " not in rendered.html
    assert rendered.link == ""
    assert rendered.plain.split("\n\n")[-1].startswith("Matched:")


def test_empty_title_and_summary() -> None:
    """An empty title renders as (untitled); an empty summary leaves no empty paragraph."""
    rendered = render(title="  \n ", summary="")
    assert rendered.html.startswith(f"<b>{UNTITLED}</b>\n")
    assert "\n\n\n" not in rendered.plain
    assert len(rendered.plain.split("\n\n")) == 2


def test_no_terms() -> None:
    """Without terms the last line still names the rule."""
    assert render(terms=[]).html.endswith("Matched by rule <code>libya-belarus</code>")


def test_whitespace_and_control_characters_are_tidied() -> None:
    """Titles become one line; summary blank-line runs collapse; control chars vanish."""
    rendered = render(title="Line one\r\nline\ttwo\x00", summary="a\n\n\n\n\nb\x07 \ud800c")
    assert rendered.plain.startswith("Line one line two\n")
    assert "\na\n\nb c\n" in rendered.plain


def test_long_summary_is_cut_at_a_word_with_ellipsis() -> None:
    """A huge summary is cut first, at a word boundary; title and terms stay whole."""
    rendered = render(summary="Benghazi Minsk " * 2000)
    paragraphs = rendered.plain.split("\n\n")
    summary = paragraphs[1]
    assert summary.endswith(("Benghazi" + ELLIPSIS, "Minsk" + ELLIPSIS))
    assert paragraphs[0].startswith("Haftar meets Belavia\n")
    assert rendered.plain.endswith("Matched: haftar, belavia · rule libya-belarus")
    assert 4096 - 20 <= visible_length(rendered.plain) <= 4096


def test_long_title_is_cut_after_the_summary() -> None:
    """When the title alone is too long, the summary goes and the title is cut."""
    rendered = render(title="Haftar " * 1000, summary="dropped entirely " * 10)
    assert "dropped" not in rendered.plain
    assert rendered.plain.split("\n")[0].endswith("Haftar" + ELLIPSIS)
    assert rendered.plain.endswith("· rule libya-belarus")


def test_many_terms_are_cut_last() -> None:
    """With a tiny limit, terms are dropped from the end with "…"."""
    terms = [f"term{n}" for n in range(40)]
    rendered = render(title="T", summary="s " * 100, terms=terms, limit=200)
    assert "s …" not in rendered.plain  # the summary went first
    last_line = rendered.plain.split("\n")[-1]
    assert last_line.startswith("Matched: term0")
    assert last_line.endswith(f", {ELLIPSIS} · rule libya-belarus")


def test_astral_characters_count_two_units() -> None:
    """Emoji count 2 UTF-16 units; a cut never splits a surrogate pair or a ZWJ sequence."""
    assert visible_length("😀") == 2
    assert visible_length("é€a") == 3
    rendered = render(summary="😀 " * 3000)
    assert visible_length(rendered.plain) <= 4096
    assert len(rendered.plain) < 4096 - 1000  # code points: the budget is in UTF-16 units
    family = "👨\u200d👩\u200d👧"
    assert shorten("ab " + family * 3, 12) == "ab " + family + ELLIPSIS  # 8 units each
    assert shorten("ab " + family * 3, 9) == "ab" + ELLIPSIS  # not "ab 👨\u200d👩…"
    assert shorten("😀" * 10, 6) == "😀😀" + ELLIPSIS  # 5 units would split a pair


def test_no_cut_inside_an_entity() -> None:
    """A summary full of & and < is trimmed before escaping, so no &amp; is ever cut."""
    for summary in ("& " * 5000, "&" * 9000, "<>" * 4000, "&amp;" * 2000):
        rendered = render(summary=summary)
        assert visible_length(rendered.plain) <= 4096
        assert BROKEN_ENTITY.search(rendered.html) is None


@pytest.mark.parametrize("limit", [1, 5, 30, 60, 100, 300, 1000, 4096])
@pytest.mark.parametrize(
    ("title", "summary", "terms"),
    [
        ("Short", "Short summary.", ["a"]),
        ("&<>\"' " * 300, "&<>\"' " * 3000, ["&<>"] * 30),
        ("😀" * 3000, "👨\u200d👩\u200d👧 " * 2000, ["😀" * 10] * 5),
        ("x" * 5000, "y" * 9000, ["z" * 5000]),
    ],
)
def test_any_input_fits_any_limit(limit: int, title: str, summary: str, terms: list[str]) -> None:
    """Whatever the input and limit, html parses, shows exactly `plain`, within the limit."""
    render(title=title, summary=summary, terms=terms, limit=limit)


def test_limit_must_be_positive() -> None:
    """A zero limit is a programming error."""
    with pytest.raises(ValueError, match="limit"):
        render_news(
            rule_id="r",
            source_id="s",
            title="t",
            summary="",
            link="",
            published=None,
            terms=[],
            limit=0,
        )


def test_shorten() -> None:
    """shorten keeps short text, cuts long text at a space, hard-cuts one long word."""
    assert shorten("short", 10) == "short"
    assert shorten("one two three four", 12) == "one two" + ELLIPSIS
    assert shorten("abcdefghij", 5) == "abcd" + ELLIPSIS
    assert shorten("abc", 0) == ""
    assert shorten("abc def", 2, min_keep=2) == ""
