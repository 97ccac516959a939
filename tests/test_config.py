"""Configuration loading: the schema of DESIGN §5 and its error messages."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bot.config.types import ConfigError
from bot.config.validate import load_config, parse_config, parse_duration

GOOD = """\
[telegram]
api_url = "http://127.0.0.1:8081/"
admins = [123456789]

[channels.main]
chat_id = -1009876543210

[channels.public]
chat_id = "@vedette_alerts"

[[sources]]
id = "feed-a"
kind = "rss"
url = "https://example.org/rss"
every = "5m"

[[sources]]
id = "feed-b"
kind = "rss"
url = "http://127.0.0.1:9/feed"
every = "1s"
alert_existing = true

[[rules]]
id = "libya-belarus"
kind = "keywords"
query = 'haftar AND (minsk* OR belavia)'
channel = "main"

[[rules]]
id = "only-b"
kind = "keywords"
query = '"eastern libya"'
sources = ["feed-b"]
channel = "public"
"""


def problems(text: str) -> list[str]:
    """The error lines for a configuration text."""
    with pytest.raises(ConfigError) as caught:
        parse_config(textwrap.dedent(text), "rules.toml")
    return [str(p) for p in caught.value.problems]


def test_good_config_loads_into_frozen_values() -> None:
    """A valid file gives resolved sources, channels and durations in seconds."""
    config = parse_config(GOOD)
    assert config.telegram.api_url == "http://127.0.0.1:8081"
    assert config.telegram.admins == (123456789,)
    assert config.channels["public"].chat_id == "@vedette_alerts"
    assert [(s.id, s.every, s.alert_existing) for s in config.sources] == [
        ("feed-a", 300.0, False),
        ("feed-b", 1.0, True),
    ]
    assert config.rules[0].sources == ("feed-a", "feed-b")
    assert config.rules[1].sources == ("feed-b",)
    assert config.warnings == ()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("45s", 45), ("5m", 300), ("6h", 21600), ("30d", 2592000), ("0.5s", 0.5)],
)
def test_durations(text: str, seconds: float) -> None:
    """Durations are a number and a unit."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["5", "5 minutes", "-1m", "0s", "m", "1h30m"])
def test_bad_durations(text: str) -> None:
    """Anything else is a ValueError that quotes the input."""
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_every_problem_is_reported_with_file_line_and_key() -> None:
    """All problems are listed, each as FILE:LINE: where: what."""
    found = problems(
        """\
        [telegram]
        admins = ["me"]
        colour = "blue"

        [channels.main]
        chat_id = -100

        [[sources]]
        id = "a"
        kind = "rss"
        url = "ftp://example.org/feed"
        every = 300

        [[sources]]
        id = "a"
        kind = "rss"
        url = "https://example.org/b"
        every = "soon"

        [[rules]]
        id = "r1"
        kind = "keywords"
        query = "haftar AND ("
        channel = "nowhere"
        sources = ["a", "zzz"]
        """
    )
    assert found == [
        "rules.toml:2: telegram.admins: user ids are integers, not a string 'me'",
        "rules.toml:3: telegram.colour: unknown key (allowed here: admins, api_url)",
        "rules.toml:11: sources.a.url: must be an http(s) URL",
        'rules.toml:12: sources.a.every: durations are strings like "5m", not an integer',
        'rules.toml:15: sources.a.id: duplicate id "a"',
        'rules.toml:18: sources.a.every: bad duration "soon": use a number and s, m, h or d, like "5m"',
        found[6],
        'rules.toml:24: rules.r1.channel: unknown channel "nowhere" (known: main)',
        'rules.toml:25: rules.r1.sources: unknown news source "zzz" (known: a)',
    ]
    assert found[6].startswith("rules.toml:23: rules.r1.query: column ")


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        (
            '[[rules]]\nid = "Bad Id"\nkind = "keywords"\nquery = "x"\nchannel = "main"',
            "rules.toml:9: rules[0].id: ids use only a-z, 0-9, _ and -",
        ),
        (
            '[[rules]]\nid = "r"\nkind = "keywords"\nquery = "abc"\nchannel = "main"\nlimit = 3',
            "rules.toml:13: rules.r.limit: unknown key (allowed here: channel, id, kind, query, sources)",
        ),
        (
            '[[rules]]\nid = "r"\nkind = "regex"\nquery = "x"\nchannel = "main"',
            'rules.toml:10: rules.r.kind: unknown kind "regex" (supported: keywords, route)',
        ),
        (
            '[[rules]]\nid = "r"\nkind = "keywords"\nchannel = "main"',
            "rules.toml:8: rules.r.query: query is missing",
        ),
        (
            '[[sources]]\nid = "s2"\nurl = "https://example.org"',
            "rules.toml:8: sources.s2.kind: kind is missing (supported: rss, opensky, adsb)",
        ),
        (
            '[[sources]]\nid = "s2"\nkind = ["rss"]\nurl = "https://example.org"',
            "rules.toml:10: sources.s2.kind: unknown kind \"['rss']\" (supported: rss, opensky, "
            "adsb)",
        ),
        (
            "[channels.other]\nchat_id = 12.5",
            "rules.toml:9: channels.other.chat_id: must be an integer or @name",
        ),
        (
            '[channels.other]\nchat_id = "my channel"',
            'rules.toml:9: channels.other.chat_id: "my channel" is neither a numeric chat id '
            "nor a @channel_name",
        ),
        (
            "surprise = 1",
            "rules.toml:8: sources.s.surprise: unknown key (allowed here: alert_existing, "
            "every, id, kind, url)",
        ),
    ],
)
def test_single_problems(snippet: str, expected: str) -> None:
    """Each kind of mistake has its documented message, on the right line."""
    base = (
        '[channels.main]\nchat_id = -1\n\n[[sources]]\nid = "s"\nkind = "rss"\n'
        'url = "https://example.org/rss"\n'
    )
    assert problems(base + snippet + "\n") == [expected]


def test_toml_syntax_error_names_the_line() -> None:
    """A TOML syntax error is one problem at its line."""
    assert problems('[telegram]\nadmins = [1,\n\nfoo = "bar"\n')[0].startswith(
        "rules.toml:4: toml: "
    )


def test_missing_file(tmp_path: Path) -> None:
    """A missing file is reported, not a traceback."""
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")


def test_short_interval_on_remote_host_warns() -> None:
    """Polling a remote host every few seconds is allowed but warned about."""
    config = parse_config(GOOD.replace('every = "5m"', 'every = "10s"'))
    assert len(config.warnings) == 1
    assert "sources.feed-a.every" in config.warnings[0]


def test_shipped_rules_toml_is_valid() -> None:
    """The example configuration at the top level loads."""
    config = load_config(Path(__file__).parent.parent / "rules.toml")
    assert config.sources
    assert config.rules


def test_error_in_a_multiline_query_points_at_its_line() -> None:
    """A query error inside a multi-line query names the file line and the column there."""
    found = problems(
        """\
        [channels.main]
        chat_id = -1

        [[rules]]
        id = "r"
        kind = "keywords"
        channel = "main"
        query = '''
        (haftar OR benghazi)
        AND (minsk OR "belavia)
        '''
        """
    )
    assert len(found) == 1
    assert found[0].startswith("rules.toml:10: rules.r.query: column 15: ")


FLIGHTS = """\
[channels.main]
chat_id = -1

[[sources]]
id = "sky"
kind = "opensky"
airports = ["HLLB", "msq"]
lookback = "35d"

[[sources]]
id = "live"
kind = "adsb"
api_url = "http://127.0.0.1:9/"
callsigns = ["bru8801"]
hexes = ["510ABC"]
every = "30s"

[[rules]]
id = "ben-msq"
kind = "route"
from = "BEN"
to = ["UMMS", "UMLI"]
operator = "bru"
window = "30d"
at_least = 3
channel = "main"

[[rules]]
id = "surge"
kind = "route"
from = "HLLB"
to = "MSQ"
window = "30d"
spike = 2
min_count = 3
channel = "main"
"""


def test_flight_sources_and_route_rules_load_resolved() -> None:
    """Codes resolve to ICAO, callsigns and hexes normalise, history covers the rules."""
    config = parse_config(FLIGHTS)
    sky, live = config.opensky_sources[0], config.adsb_sources[0]
    assert sky.airports == ("HLLB", "UMMS")
    assert (sky.lookback_days, sky.history_days, sky.every) == (35, 60, 3600.0)
    assert (live.api_url, live.callsigns, live.hexes) == (
        "http://127.0.0.1:9",
        ("BRU8801",),
        ("510abc",),
    )
    ben_msq, surge = config.route_rules
    assert (ben_msq.origins, ben_msq.destinations, ben_msq.operator) == (
        ("HLLB",),
        ("UMMS", "UMLI"),
        "BRU",
    )
    assert (ben_msq.label, ben_msq.at_least, ben_msq.window_days) == ("BEN→UMMS/UMLI", 3, 30)
    assert (surge.spike, surge.min_count, surge.history_days) == (2.0, 3, 60)
    assert config.keyword_rules == ()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ('from = "BEN"', 'from = "XXX"'),
            'rules.toml:21: rules.ben-msq.from: unknown airport code "XXX" (use an IATA code like BEN or an ICAO code like HLLB)',
        ),
        (
            ('airports = ["HLLB", "msq"]', 'airports = ["HLLB", "ZZZZ"]'),
            'rules.toml:7: sources.sky.airports: unknown airport code "ZZZZ" (use an IATA code like BEN or an ICAO code like HLLB)',
        ),
        (
            ("at_least = 3", "at_least = 0"),
            "rules.toml:25: rules.ben-msq.at_least: must be a whole number ≥ 1",
        ),
        (
            ("at_least = 3", "at_least = 3\nspike = 2.0"),
            "rules.toml:18: rules.ben-msq: set exactly one of at_least, spike or each = true",
        ),
        (
            ("at_least = 3", "min_count = 2\nat_least = 3"),
            "rules.toml:25: rules.ben-msq.min_count: goes with spike only",
        ),
        (
            ("spike = 2", "spike = 0.5"),
            "rules.toml:34: rules.surge.spike: must be a number ≥ 1 (2.0 = doubled)",
        ),
        (
            ('operator = "bru"', 'operator = "B2"'),
            'rules.toml:23: rules.ben-msq.operator: must be a 3-letter ICAO airline designator like "BRU"',
        ),
        (
            ('window = "30d"\nat_least', "at_least"),
            'rules.toml:18: rules.ben-msq: window is missing (e.g. window = "30d")',
        ),
        (
            ('callsigns = ["bru8801"]', 'callsigns = ["BRU 8801"]'),
            'rules.toml:14: sources.live.callsigns: "BRU 8801" is not valid (like "BRU8801")',
        ),
        (('hexes = ["510ABC"]', "hexes = []"), None),
        (
            ('callsigns = ["bru8801"]\nhexes = ["510ABC"]\n', ""),
            "rules.toml:10: sources.live: needs callsigns or hexes to watch",
        ),
        (
            ('lookback = "35d"', 'lookback = "12h"'),
            "rules.toml:8: sources.sky.lookback: must be at least one day",
        ),
    ],
)
def test_flight_problems(change: tuple[str, str], expected: str | None) -> None:
    """Each flight-config mistake has its message on the line of its key."""
    old, new = change
    assert old in FLIGHTS
    text = FLIGHTS.replace(old, new, 1)
    if expected is None:
        parse_config(text)
    else:
        assert problems(text) == [expected]


def test_route_without_a_flight_source_warns() -> None:
    """A route rule nobody watches loads, with a warning that its count stays 0."""
    text = (
        '[channels.main]\nchat_id = -1\n\n[[sources]]\nid = "s"\nkind = "rss"\n'
        'url = "https://example.org/rss"\n\n[[rules]]\nid = "r"\nkind = "route"\nfrom = "BEN"\n'
        'to = "MSQ"\nwindow = "30d"\nat_least = 3\nchannel = "main"\n'
    )
    config = parse_config(text)
    assert any("rules.r: no flight source watches HLLB, UMMS" in w for w in config.warnings)
