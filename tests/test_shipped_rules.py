"""The shipped rules.toml: it loads, its queries parse, and its rules keep the analysts' intent.

Each case is a realistic headline (and, where it matters, a summary) in English, Ukrainian or
Russian, with the exact set of rule ids that must alert on it: the story (a Belavia flight
from Benghazi, migrants pushed to the Polish border) alerts; near misses (Dinamo Minsk,
Benghazi floods, Belavia to Dubai, boats to Lampedusa) stay quiet.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from bot.query.match import Matcher
from bot.query.parse import parse_query

RULES_TOML = Path(__file__).resolve().parent.parent / "rules.toml"

A = "libya-belarus"
B = "migrants-as-weapon"
C = "belarus-border-route"


@pytest.fixture(scope="module")
def config() -> dict[str, object]:
    """The parsed rules.toml."""
    with RULES_TOML.open("rb") as f:
        return tomllib.load(f)


@pytest.fixture(scope="module")
def matcher(config: dict[str, object]) -> Matcher:
    """Every keyword rule of rules.toml, compiled."""
    rules = config["rules"]
    assert isinstance(rules, list)
    return Matcher.compile(
        [(rule["id"], parse_query(rule["query"])) for rule in rules if rule["kind"] == "keywords"]
    )


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


ALERTS = [
    pytest.param(
        "Belavia adds Benghazi–Minsk charter as EU warns of new migrant route",
        "",
        {A, C},
        id="en-belavia-benghazi-minsk-charter",
    ),
    pytest.param(
        "Літаки Белавіа з Бенгазі до Мінська: ЄС стежить за новим маршрутом мігрантів",
        "",
        {A, C},
        id="uk-belavia-planes-benghazi-minsk",
    ),
    pytest.param(
        "Хафтар встретился с Лукашенко в Минске", "", {A}, id="ru-haftar-meets-lukashenko"
    ),
    pytest.param(
        "Libyan commander's son makes surprise visit",
        "Saddam Haftar, son of Khalifa Haftar, arrived in Minsk on Tuesday for talks on direct"
        " flights.",
        {A},
        id="en-names-only-in-summary",
    ),
    pytest.param(
        "New air link worries Brussels",
        "Belavia has operated five flights between Benghazi and Minsk since May.",
        {A},
        id="en-route-only-in-summary",
    ),
    pytest.param(
        "Хафтарові подякували в Мінську за співпрацю",
        "",
        {A},
        id="uk-haftar-thanked-in-minsk",
    ),
    pytest.param(
        "Рейси з Бенгазі до Мінська: що відомо про новий маршрут",
        "",
        {A},
        id="uk-flights-benghazi-minsk",
    ),
    pytest.param(
        "Russian cargo flights to eastern Libya intensify",
        "",
        {A},
        id="en-russia-eastern-libya-flights",
    ),
    pytest.param(
        "EU weighs sanctions on Belavia over migrant flights from Libya",
        "",
        {A, B, C},
        id="en-eu-sanctions-belavia-libya",
    ),
    pytest.param(
        "Мигрантов из Ливии везут в Минск рейсами «Белавиа»",
        "",
        {A, C},
        id="ru-migrants-from-libya-on-belavia",
    ),
    pytest.param(
        "Migrants flown from Benghazi to Minsk, then pushed towards the Lithuanian border",
        "",
        {A, C},
        id="en-flown-to-minsk-pushed-to-border",
    ),
    pytest.param(
        "<p>Libya’s eastern strongman <b>Khalifa Haftar</b> lands in Minsk</p>",
        "",
        {A},
        id="en-html-title",
    ),
    pytest.param(
        "Poland says Belarus is using migrants in a hybrid attack on the EU",
        "",
        {B, C},
        id="en-hybrid-attack-poland",
    ),
    pytest.param(
        "Литва: Минск и Москва используют мигрантов как оружие против ЕС",
        "",
        {B, C},
        id="ru-migrants-as-weapon-lithuania",
    ),
    pytest.param(
        "Лукашенко інструменталізує міграцію: Єврокомісія готує відповідь",
        "",
        {B},
        id="uk-lukashenko-instrumentalises",
    ),
    pytest.param(
        "Finland accuses Russia of weaponising migration",
        "",
        {B},
        id="en-russia-weaponising-migration",
    ),
    pytest.param(
        "EU agrees new sanctions against Belarus over instrumentalisation of migrants",
        "",
        {B},
        id="en-eu-sanctions-instrumentalisation",
    ),
    pytest.param(
        "В Еврокомиссии заявили о гибридной атаке Беларуси с использованием мигрантов",
        "",
        {B},
        id="ru-commission-hybrid-attack",
    ),
    pytest.param(
        "Latvia reports surge in migrants crossing from Belarus",
        "",
        {C},
        id="en-latvia-migrants-from-belarus",
    ),
    pytest.param(
        "Польські прикордонники затримали 40 мігрантів біля кордону з Білоруссю",
        "",
        {C},
        id="uk-polish-guards-migrants-belarus-border",
    ),
    pytest.param(
        "Border guards report new attempts",
        "Groups of migrants tried to cross from Belarus into Poland overnight near Białowieża.",
        {C},
        id="en-border-story-in-summary",
    ),
    pytest.param(
        "Литва ужесточает меры на границе с Беларусью из-за мигрантов",
        "",
        {C},
        id="ru-lithuania-border-migrants",
    ),
]

NEAR_MISSES = [
    pytest.param("Dinamo Minsk beat BATE in league opener", "", id="en-minsk-football"),
    pytest.param("Минское «Динамо» обыграло БАТЭ", "", id="ru-minsk-football"),
    pytest.param("Мінськ: у місті відкрили новий парк", "", id="uk-minsk-city-news"),
    pytest.param("Minsk Agreements, ten years on", "", id="en-minsk-agreements"),
    pytest.param("Benghazi floods: death toll rises", "", id="en-benghazi-floods"),
    pytest.param("Бенгазі: після повені відновлюють мости", "", id="uk-benghazi-bridges"),
    pytest.param("Benghazi municipal council elects new mayor", "", id="en-benghazi-politics"),
    pytest.param(
        "Benghazi airport reopens for international flights", "", id="en-benghazi-airport"
    ),
    pytest.param("Хафтар провел переговоры с Эрдоганом", "", id="ru-haftar-erdogan"),
    pytest.param(
        "Italy's Meloni meets Haftar in Benghazi over migrant boats",
        "",
        id="en-haftar-italy-migrant-boats",
    ),
    pytest.param("Belavia resumes flights to Dubai", "", id="en-belavia-dubai"),
    pytest.param("Belavia leases two more Boeing 737 aircraft", "", id="en-belavia-leasing"),
    pytest.param("«Белавиа» открывает рейсы в Тбилиси", "", id="ru-belavia-tbilisi"),
    pytest.param("Hundreds of migrants reach Lampedusa", "", id="en-lampedusa"),
    pytest.param(
        "Channel crossings: 700 migrants arrive in small boats", "", id="en-channel-crossings"
    ),
    pytest.param(
        "Mediterranean: Italy and Libya sign deal to stop migrant boats",
        "",
        id="en-italy-libya-deal",
    ),
    pytest.param("Turkey accused of weaponising migrants at Greek border", "", id="en-turkey"),
    pytest.param("Мигранты штурмуют границу Греции с Турцией", "", id="ru-greece-turkey"),
    pytest.param(
        "Poland to build asylum centres under EU migration pact", "", id="en-poland-eu-pact"
    ),
    pytest.param("Біженці з України в Польщі: нові правила", "", id="uk-refugees-in-poland"),
    pytest.param("Беларусские беженцы в Литве жалуются на проверки", "", id="ru-belarusian-exiles"),
    pytest.param(
        "EU extends sanctions on Belarus over support for Russia's war",
        "",
        id="en-eu-sanctions-belarus-war",
    ),
    pytest.param(
        "Russia's hybrid attacks on Europe: sabotage, drones and arson",
        "",
        id="en-hybrid-attacks-not-migration",
    ),
    pytest.param(
        "Lukashenko says Belarus needs migrant workers from Pakistan",
        "",
        id="en-belarus-labour-migrants",
    ),
    pytest.param(
        "Lithuania closes border with Belarus over smuggling balloons",
        "",
        id="en-smuggling-balloons",
    ),
    pytest.param("Flights from Minsk to Moscow increased in summer", "", id="en-minsk-moscow"),
]


@pytest.mark.parametrize(("title", "summary", "expected"), ALERTS)
def test_story_alerts(matcher: Matcher, title: str, summary: str, expected: set[str]) -> None:
    """Headlines about the story alert on exactly the rules meant for them."""
    found = matcher.match(item_text(title, summary))
    assert {m.rule_id for m in found} == expected
    assert all(m.hits for m in found)


@pytest.mark.parametrize(("title", "summary"), NEAR_MISSES)
def test_near_misses_stay_quiet(matcher: Matcher, title: str, summary: str) -> None:
    """Other Minsk, Benghazi, Belavia and migration news alerts on no rule."""
    assert matcher.match(item_text(title, summary)) == []


def test_alert_shows_the_terms_that_matched(matcher: Matcher) -> None:
    """The libya-belarus match on a Ukrainian headline names the terms and word forms found."""
    text = item_text("Літаки Белавіа з Бенгазі до Мінська")
    (found,) = matcher.match(text, {A})
    assert [(hit.term, hit.forms) for hit in found.hits] == [
        ("бенгаз*", ("бенгазі",)),
        ("белав*", ("белавіа",)),
        ("мінськ*", ("мінська",)),
        ("літак*", ("літаки",)),
    ]
