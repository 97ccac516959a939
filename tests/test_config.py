"""Configuration loading: the schema of DESIGN §5 and its error messages."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bot.config.types import ConfigError
from bot.config.validate import load_config, parse_config, parse_duration
from tests.helpers import rss_source

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
            "rules.toml:8: sources.s.surprise: unknown key (allowed here: adaptive, "
            "alert_existing, every, id, kind, max_every, min_every, url)",
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


def feed(
    every: str, *, url: str = "https://example.org/rss", extra: str = "", defaults: str = ""
) -> str:
    """A rules.toml with one feed (its `every`, `url` and `extra` lines at line 9 on) after
    the lines `defaults` (a `[defaults]` table, say), and one rule."""
    return (
        f'{defaults}[channels.main]\nchat_id = -1\n\n[[sources]]\nid = "s"\nkind = "rss"\n'
        f'url = "{url}"\nevery = "{every}"\n{extra}\n'
        '[[rules]]\nid = "r"\nkind = "keywords"\nquery = "x"\nchannel = "main"\n'
    )


@pytest.mark.parametrize(
    ("every", "url", "bounds"),
    [
        ("10m", "https://example.org/rss", (120.0, 2400.0)),
        ("2m", "https://example.org/rss", (60.0, 480.0)),
        ("30s", "https://example.org/rss", (30.0, 120.0)),
        ("10s", "http://127.0.0.1:9/feed", (2.0, 40.0)),
        ("10s", "http://localhost:9/feed", (2.0, 40.0)),
        ("10m", "http://127.0.0.1:9/feed", (120.0, 2400.0)),
        ("365000d", "https://example.org/rss", (73000 * 86400.0, 365000 * 86400.0)),
    ],
)
def test_adaptive_bounds_default(every: str, url: str, bounds: tuple[float, float]) -> None:
    """min_every is every / 5, at least a minute (or every) on a remote host; max_every is
    4 × every, at most the longest duration; a feed is adaptive unless told otherwise."""
    (source,) = parse_config(feed(every, url=url)).news_sources
    assert (source.adaptive, source.min_every, source.max_every) == (True, *bounds)
    assert source == rss_source("s", url, source.every)


def test_adaptive_bounds_as_written() -> None:
    """Explicit bounds are kept; a loopback host may go below a minute."""
    text = feed("10m", extra='min_every = "1m"\nmax_every = "2h"')
    (source,) = parse_config(text).news_sources
    assert (source.min_every, source.max_every) == (60.0, 7200.0)
    text = feed("10s", url="http://127.0.0.1:9/", extra='min_every = "1s"\nmax_every = "10s"')
    (source,) = parse_config(text).news_sources
    assert (source.min_every, source.max_every) == (1.0, 10.0)
    (source,) = parse_config(feed("30s", extra='min_every = "30s"')).news_sources
    assert source.min_every == 30.0  # every itself, under a minute, is allowed (warned)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            'min_every = "30s"',
            [
                "rules.toml:9: sources.s.min_every: below 1 minute is allowed only for a loopback host"
            ],
        ),
        (
            'min_every = "11m"',
            ["rules.toml:9: sources.s.min_every: must be at most every (10m)"],
        ),
        (
            'max_every = "9m"',
            ["rules.toml:9: sources.s.max_every: must be at least every (10m)"],
        ),
        (
            'min_every = "59s"\nmax_every = "5m"',
            [
                "rules.toml:9: sources.s.min_every: below 1 minute is allowed only for a loopback host",
                "rules.toml:10: sources.s.max_every: must be at least every (10m)",
            ],
        ),
        (
            'min_every = 60\nmax_every = "later"',
            [
                'rules.toml:9: sources.s.min_every: durations are strings like "5m", not an integer',
                'rules.toml:10: sources.s.max_every: bad duration "later": use a number and s, m, h or d, like "5m"',
            ],
        ),
        ('adaptive = "yes"', ["rules.toml:9: sources.s.adaptive: must be true or false"]),
    ],
)
def test_adaptive_problems(extra: str, expected: list[str]) -> None:
    """Each mistake in a feed's adaptive keys is named at its line."""
    assert problems(feed("10m", extra=extra)) == expected


def test_bounds_without_adaptive_warn() -> None:
    """min_every or max_every with adaptive = false load, with a warning that they do nothing."""
    text = feed("10m", extra='adaptive = false\nmax_every = "1h"')
    config = parse_config(text)
    (source,) = config.news_sources
    assert (source.adaptive, source.max_every) == (False, 3600.0)
    assert config.warnings == (
        "rules.toml:10: sources.s.max_every: max_every does nothing with adaptive = false:"
        " the feed is polled every 10m",
    )
    text = feed("10m", extra='min_every = "5m"\nmax_every = "1h"', defaults=NOT_ADAPTIVE)
    assert parse_config(text).warnings == (
        "rules.toml:12: sources.s.min_every: min_every and max_every do nothing with"
        " adaptive = false: the feed is polled every 10m",
    )
    assert parse_config(feed("10m", extra="adaptive = false")).warnings == ()


NOT_ADAPTIVE = "[defaults]\nadaptive = false\n\n"


def test_defaults_table_sets_adaptive_for_feeds_without_their_own() -> None:
    """`[defaults] adaptive = false` applies to every feed that does not set adaptive; a
    feed's own key wins."""
    text = feed("10m", defaults=NOT_ADAPTIVE).replace(
        "[[rules]]",
        '[[sources]]\nid = "t"\nkind = "rss"\nurl = "https://example.org/t"\n'
        "adaptive = true\n\n[[rules]]",
    )
    config = parse_config(text)
    assert [(s.id, s.adaptive) for s in config.news_sources] == [("s", False), ("t", True)]
    (source,) = parse_config(feed("10m", defaults="[defaults]\nadaptive = true\n")).news_sources
    assert source.adaptive is True


@pytest.mark.parametrize(
    ("defaults", "expected"),
    [
        (
            '[defaults]\nadaptive = true\nevery = "5m"\n\n',
            "rules.toml:3: defaults.every: unknown key (allowed here: adaptive)",
        ),
        ("[defaults]\nadaptive = 1\n\n", "rules.toml:2: defaults.adaptive: must be true or false"),
        ('defaults = "adaptive"\n', "rules.toml:1: defaults: must be a table, not a string"),
    ],
)
def test_defaults_problems(defaults: str, expected: str) -> None:
    """`[defaults]` holds adaptive only, a boolean."""
    assert problems(feed("10m", defaults=defaults)) == [expected]


@pytest.mark.parametrize("key", ["adaptive = true", 'min_every = "1m"', 'max_every = "1h"'])
def test_flight_sources_have_no_adaptive_keys(key: str) -> None:
    """Flight sources poll at a fixed interval: the adaptive keys are unknown there, and the
    message says why."""
    found = problems(FLIGHTS.replace('lookback = "35d"', f'lookback = "35d"\n{key}'))
    name = key.split(" ")[0]
    assert found == [
        f"rules.toml:9: sources.sky.{name}: unknown key (allowed here: airports, api_url,"
        " auth_url, every, id, kind, lookback); flight sources poll at their fixed every"
    ]
