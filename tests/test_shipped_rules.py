"""The shipped rules.toml: it loads, its rules and sources are the ones the README describes,
and an alert names the term lists' forms it found.

Whether the keyword rules catch the story and stay quiet on near misses is judged on real
headlines, in tests/test_labelled_headlines.py.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from bot.config.validate import load_config
from bot.query.match import Matcher

RULES_TOML = Path(__file__).resolve().parent.parent / "rules.toml"

A = "libya-air-link"
B = "libya-migration"
C = "belarus-border"


@pytest.fixture(scope="module")
def config() -> dict[str, object]:
    """The parsed rules.toml."""
    with RULES_TOML.open("rb") as f:
        return tomllib.load(f)


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    """Every keyword rule of rules.toml, loaded (term lists expanded) and compiled."""
    rules = load_config(RULES_TOML).keyword_rules
    return Matcher.compile([(rule.id, rule.query) for rule in rules])


def item_text(title: str, summary: str = "") -> str:
    """The text the bot matches: title, summary and content joined by newlines."""
    return f"{title}\n{summary}\n"


def test_rules_toml_has_the_expected_rules(config: dict[str, object]) -> None:
    """rules.toml ships the three keyword rules and the BEN↔MSQ route rules, on main."""
    rules = config["rules"]
    assert isinstance(rules, list)
    keywords = [rule["id"] for rule in rules if rule["kind"] == "keywords"]
    routes = [(rule["id"], rule["from"], rule["to"]) for rule in rules if rule["kind"] == "route"]
    assert keywords == [A, B, C]
    assert routes == [
        ("ben-msq", "BEN", "MSQ"),
        ("msq-ben", "MSQ", "BEN"),
        ("ben-msq-surge", "BEN", "MSQ"),
    ]
    assert {rule["channel"] for rule in rules} == {"main"}


def test_sources_are_news_feeds_with_unique_ids(config: dict[str, object]) -> None:
    """Every news source is an https feed polled every 10 to 30 minutes, with a unique id;
    the flight sources watch Benghazi and Minsk."""
    sources = config["sources"]
    assert isinstance(sources, list)
    ids = [source["id"] for source in sources]
    assert len(ids) == len(set(ids))
    flights = {source["kind"]: source for source in sources if source["kind"] != "rss"}
    assert flights["opensky"]["airports"] == ["HLLB", "UMMS"]
    assert flights["adsb"]["callsigns"] == ["BRU8801", "BRU8802"]
    for source in sources:
        if source["kind"] != "rss":
            continue
        assert source["url"].startswith("https://")
        assert source["every"] in {"10m", "15m", "20m", "30m"}


def test_every_term_list_is_used_and_names_the_story(config: dict[str, object]) -> None:
    """The shipped term lists include the names the README promises (Haftar in three
    scripts, Benghazi, Minsk, Belavia), and every rule uses lists rather than copies."""
    terms = config["terms"]
    assert isinstance(terms, dict)
    assert {"хафтар*", "haftar*"} <= set(terms["haftar"])
    assert {"benghazi", "бенгаз*"} <= set(terms["benghazi"])
    assert {"minsk", "минск*", "мінськ*"} <= set(terms["minsk"])
    assert "belavia" in terms["belavia"]
    rules = config["rules"]
    assert isinstance(rules, list)
    for rule in rules:
        if rule["kind"] == "keywords":
            assert "@" in rule["query"], rule["id"]


def test_an_alert_shows_the_forms_found(matcher: Matcher) -> None:
    """A real Ukrainian headline (labelled c) alerts on the Belarus rule, naming each term
    of the lists with the word form the text used."""
    text = item_text(
        "Проти мігрантів, що прориваються до Польщі з Білорусі, застосували водомети",
        "Проти мігрантів, що намагаються прорватись через кордон Польщі на КПП Брузги-Кузниця,"
        " застосували водомети.",
    )
    (found,) = matcher.match(text, {C})
    shown = {hit.term: hit.forms for hit in found.hits}
    assert shown["білорус*"] == ("білорусі",)
    assert shown["мігра*"] == ("мігрантів",)
