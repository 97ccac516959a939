"""Field trial 2026-12, configuration and query findings: 9, 14, 22, 23, 24, 28 and 37."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.cli import main
from bot.config.types import ConfigError
from bot.config.validate import load_config, parse_config
from bot.news import describe
from bot.query.match import Matcher
from bot.query.parse import MAX_DEPTH, MAX_QUERY_LENGTH, QueryError, parse_query
from tests.fakes.feed_server import Entry, FeedServer, rss
from tests.fakes.telegram_api import TEST_TOKEN, FakeTelegramAPI
from tests.helpers import config_text, eventually, fast_options, start

SOURCE = '[[sources]]\nid = "s"\nkind = "rss"\nurl = "https://example.org/rss"\n'
HEAD = f"[channels.main]\nchat_id = -1\n\n{SOURCE}\n"


def problems(text: str, name: str = "rules.toml") -> list[str]:
    """The error lines for a configuration text."""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, name)
    return [str(p) for p in caught.value.problems]


def keyword_rule(query: str, rule_id: str = "r") -> str:
    """A keyword rule with `query` (in single quotes)."""
    return f"[[rules]]\nid = \"{rule_id}\"\nkind = \"keywords\"\nquery = '''{query}'''\nchannel = \"main\"\n"


# --- 9: nesting depth -------------------------------------------------------------------


def nest400() -> str:
    """The report's repro file: a query nested 400 parentheses deep, on line 11."""
    query = "(" * 400 + "haftar" + ")" * 400
    return (
        '[channels.main]\nchat_id = 1\n[[sources]]\nid="a"\nkind="rss"\n'
        'url="http://127.0.0.1:8765/a.xml"\n[[rules]]\nid="deep"\nkind="keywords"\n'
        f'channel="main"\nquery="{query}"\n'
    )


def test_deep_parentheses_are_a_query_error_with_line_and_column() -> None:
    """400 levels give the usual FILE:LINE: where: column N message, not a RecursionError."""
    assert problems(nest400(), "nest400.toml") == [
        f"nest400.toml:11: rules.deep.query: column {MAX_DEPTH + 1}: parentheses nested too"
        f" deeply (at most {MAX_DEPTH})"
    ]


def test_deep_not_chains_are_a_query_error() -> None:
    """A chain of NOTs recurses like parentheses and is limited with them."""
    query = "haftar " + "NOT " * 1000 + "x"
    with pytest.raises(QueryError, match=r"NOT nested too deeply") as caught:
        parse_query(query)
    assert caught.value.column == len("haftar ") + 4 * MAX_DEPTH + 1


def at_depth(frames: int, work: Callable[[], None]) -> None:
    """Call `work` with `frames` more frames on the stack (as from deep inside a caller)."""
    if frames:
        at_depth(frames - 1, work)
    else:
        work()


@pytest.mark.parametrize(
    "query",
    [
        "(" * MAX_DEPTH + "haftar" + ")" * MAX_DEPTH,
        "haftar " + "NOT " * MAX_DEPTH + "x",
        "haftar AND " + "NOT (" * (MAX_DEPTH // 2) + "x" + ")" * (MAX_DEPTH // 2),
        "(a OR (b " * (MAX_DEPTH // 2) + "c" + "))" * (MAX_DEPTH // 2),
        "a OR (b NOT (" * (MAX_DEPTH // 3) + "c" + "))" * (MAX_DEPTH // 3),
    ],
    ids=["parentheses", "not-chain", "not-parentheses", "or-and", "or-and-not"],
)
def test_the_deepest_accepted_queries_are_safe_for_every_walk(query: str) -> None:
    """At the limit, parsing, compiling, matching, hits and notes all work with 400 frames
    already used by a caller (a thread, the event loop, the reload path)."""

    def work() -> None:
        parsed = parse_query(query)
        assert parsed == parse_query(query)
        assert hash(parsed) == hash(parse_query(query))
        parsed.terms()
        parsed.anchor_terms()
        parsed.punctuation_notes()
        matcher = Matcher.compile([("r", parsed)])
        for text in ("a b c haftar", "x", "b c", ""):
            for match in matcher.match(text):
                assert all(describe(hit) for hit in match.hits)

    at_depth(400, work)


def test_a_flat_query_of_the_longest_length_still_checks() -> None:
    """ORed words up to MAX_QUERY_LENGTH load and match: the depth limit is about nesting
    only (issue 11: longer queries are errors; long lists of terms go in [terms])."""
    query = " OR ".join(f"w{i}x" for i in range(1_000, 3_000))[:MAX_QUERY_LENGTH]
    query = query.rsplit(" OR ", 1)[0]
    assert len(query) > MAX_QUERY_LENGTH - 10
    config = parse_config(HEAD + keyword_rule(query))
    assert config.warnings == ()
    matcher = Matcher.compile([(r.id, r.query) for r in config.keyword_rules])
    last = query.rsplit(" ", 1)[1]
    assert [m.rule_id for m in matcher.match(f"about {last}")] == ["r"]


def test_deeply_nested_toml_values_are_a_problem_not_a_recursion_error() -> None:
    """tomllib recurses once per nested array: a deep one is reported at its line."""
    text = HEAD + "[telegram]\nadmins = " + "[" * 2000 + "]" * 2000 + "\n"
    assert problems(text) == ["rules.toml:10: toml: values nested too deeply"]


async def test_reload_reports_a_deep_query_and_keeps_the_old_configuration(
    tmp_path: Path, feed_server: FeedServer, telegram_api: FakeTelegramAPI
) -> None:
    """/reload and SIGHUP go through Runner.reload: the deep query is an ordinary problem."""
    feed_server.route("/a", body=rss([Entry("Old", link="https://n.example/a")]))
    rules = tmp_path / "rules.toml"
    rules.write_text(config_text(telegram_api.url, {"a": feed_server.url("/a")}), "utf-8")
    bot = start(load_config(rules), tmp_path / "v.db", TEST_TOKEN, fast_options())
    await eventually(lambda: bool(bot.runners), what="the runner")
    rules.write_text(nest400(), "utf-8")
    answer = await bot.runners[0].reload()
    assert await bot.stop() == 0
    assert answer.startswith(f"kept the old configuration: {rules} has ")
    assert f"{rules}:11: rules.deep.query: column {MAX_DEPTH + 1}: parentheses nested" in answer


# --- 22: every unknown airport --------------------------------------------------------------


def test_every_unknown_airport_in_a_list_is_reported() -> None:
    """Not just the first: each unknown code of `airports`, `from` and `to` has its line."""
    text = (
        '[channels.main]\nchat_id = -1\n\n[[sources]]\nid = "sky"\nkind = "opensky"\n'
        'airports = ["ZZZ", "XXXX", "HLLB"]\n\n[[rules]]\nid = "r"\nkind = "route"\n'
        'from = ["ZZZ", "YYYY"]\nto = "MSQ"\nwindow = "30d"\nat_least = 1\nchannel = "main"\n'
    )
    hint = "(use an IATA code like BEN or an ICAO code like HLLB)"
    assert problems(text) == [
        f'rules.toml:7: sources.sky.airports: unknown airport code "ZZZ" {hint}',
        f'rules.toml:7: sources.sky.airports: unknown airport code "XXXX" {hint}',
        f'rules.toml:12: rules.r.from: unknown airport code "ZZZ" {hint}',
        f'rules.toml:12: rules.r.from: unknown airport code "YYYY" {hint}',
    ]


def test_every_bad_callsign_is_reported() -> None:
    """The same for ADS-B callsigns."""
    text = (
        '[channels.main]\nchat_id = -1\n\n[[sources]]\nid = "live"\nkind = "adsb"\n'
        'callsigns = ["BRU 1", "BRU8801", "x-y"]\n'
    )
    assert problems(text) == [
        'rules.toml:7: sources.live.callsigns: "BRU 1" is not valid (like "BRU8801")',
        'rules.toml:7: sources.live.callsigns: "X-Y" is not valid (like "BRU8801")',
    ]


# --- 23: unreadable files -------------------------------------------------------------------


def test_a_byte_order_mark_is_accepted_and_lines_stay_right(tmp_path: Path) -> None:
    """A UTF-8 file saved by Windows Notepad loads; an error on line 9 is still on line 9."""
    bom = b"\xef\xbb\xbf"
    good = tmp_path / "bom.toml"
    good.write_bytes(bom + (HEAD + keyword_rule("haftar")).encode())
    assert [r.id for r in load_config(good).rules] == ["r"]
    bad = tmp_path / "bad.toml"
    bad.write_bytes(bom + (HEAD + 'every = "often"\n').encode())
    with pytest.raises(ConfigError) as caught:
        load_config(bad)
    assert [str(p) for p in caught.value.problems] == [
        f'{bad}:9: sources.s.every: bad duration "often": use a number and s, m, h or d, like "5m"'
    ]


def test_a_file_that_is_not_utf8_names_its_line_and_column(tmp_path: Path) -> None:
    """Latin-1 bytes on line 3: that line, the column, and what to do."""
    path = tmp_path / "latin1.toml"
    path.write_bytes(("[channels.main]\nchat_id = -1\n# café\n" + SOURCE).encode("latin-1"))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:3: file: column 6: byte 0xe9 is not UTF-8; save the file as UTF-8"
    ]


def test_a_missing_file_names_the_directory_and_the_ways_to_give_one(tmp_path: Path) -> None:
    """No `:1` for a file that is not there; the searched directory, --config, VEDETTE_CONFIG
    and `vedette init`."""
    path = tmp_path / "rules.toml"
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == (
        f"{path}: file: not found in {tmp_path}; name your rules file with --config or "
        "VEDETTE_CONFIG, or write an example one with `vedette init`"
    )


# --- 24: nothing to watch -------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "[channels.main]\nchat_id = -1\n"])
def test_a_configuration_without_sources_is_an_error(text: str) -> None:
    """An empty file (or the wrong one) is refused: a bot that watches nothing is a mistake."""
    assert problems(text, "empty.toml") == [
        "empty.toml: sources: no [[sources]], so there is nothing to watch; add a feed or a"
        ' flight source (see the README, "rules.toml")'
    ]


def test_check_of_dev_null_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """`vedette check --config /dev/null` fails with the reason."""
    assert main(["check", "--config", "/dev/null"]) == 2
    assert "/dev/null: sources: no [[sources]], so there is nothing to watch" in (
        capsys.readouterr().err
    )


def test_sources_without_rules_load_with_a_warning() -> None:
    """Sources alone still record items and flights, so no rules is a warning, not an error."""
    config = parse_config(HEAD, "test.toml")
    assert config.warnings == ("test.toml: no [[rules]]: nothing will ever alert",)


# --- 37: duplicate feeds, absurd intervals --------------------------------------------------


def test_a_feed_under_two_source_ids_warns() -> None:
    """The same URL (scheme and host in any case) twice: a warning at the second one."""
    text = HEAD + SOURCE.replace('"s"', '"t"').replace("https://example.org", "HTTPS://Example.ORG")
    config = parse_config(text + keyword_rule("haftar"))
    assert config.warnings == (
        "rules.toml:12: sources.t.url: the same feed as sources.s: it would be fetched twice;"
        " keep one source (a rule watches every news source unless it lists sources)",
    )


@pytest.mark.parametrize(
    ("source", "warned"),
    [
        (SOURCE + 'every = "99999d"\n', "it can miss some"),
        (SOURCE + 'every = "1d"\n', None),
        (
            '[[sources]]\nid = "s"\nkind = "adsb"\ncallsigns = ["BRU8801"]\nevery = "2h"\n',
            "flights are missed",
        ),
        (
            '[[sources]]\nid = "s"\nkind = "opensky"\nairports = ["HLLB"]\nevery = "3d"\n',
            "route alerts come late",
        ),
        ('[[sources]]\nid = "s"\nkind = "opensky"\nairports = ["HLLB"]\nevery = "1d"\n', None),
    ],
)
def test_an_absurdly_long_interval_warns(source: str, warned: str | None) -> None:
    """Polling less often than a source kind makes sense for is a warning on `every`."""
    config = parse_config("[channels.main]\nchat_id = -1\n\n" + source + keyword_rule("haftar"))
    found = [w for w in config.warnings if ": sources.s.every: " in w]
    if warned is None:
        assert found == []
    else:
        assert len(found) == 1
        assert found[0].startswith("rules.toml:8: sources.s.every: ")
        assert "is a very long interval: " in found[0]
        assert warned in found[0]


def test_a_duration_too_long_to_compute_with_is_an_error() -> None:
    """Hundreds of digits would be an infinite interval: refused, not a crash later."""
    text = HEAD + f'every = "{"9" * 400}d"\n'
    (found,) = problems(text)
    assert found.startswith("rules.toml:9: sources.s.every: duration ")
    assert found.endswith('is too long (at most "365000d")')


# --- 28: punctuation in query terms ---------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "notes"),
    [
        ("haftar AND c++", ["column 12: term 'c++' is matched as 'c'"]),
        (
            ".net OR u.s.",
            [
                "column 1: term '.net' is matched as 'net'",
                "column 9: term 'u.s.' is matched as 'u s'",
            ],
        ),
        ('"c# jobs" OR "c# jobs"', ["column 1: term '\"c# jobs\"' is matched as 'c jobs'"]),
        ("\"libya's east\" OR libya's OR libya’s OR al-qaeda OR covid-19 OR minsk*", []),
    ],
)
def test_punctuation_that_matching_ignores_is_a_warning(query: str, notes: list[str]) -> None:
    """`check` names the term and what it is matched as; apostrophes and hyphens inside words
    are the legitimate case and pass quietly."""
    config = parse_config(HEAD + keyword_rule(query))
    assert list(config.warnings) == [
        f"rules.toml:12: rules.r.query: {note}: punctuation is ignored" for note in notes
    ]


def test_punctuation_warning_in_a_multiline_query_names_its_line() -> None:
    """The warning's line and column are those of the term in the file."""
    text = HEAD + textwrap.dedent(
        """\
        [[rules]]
        id = "r"
        kind = "keywords"
        channel = "main"
        query = '''
        haftar AND
          (minsk OR c++)
        '''
        """
    )
    assert parse_config(text).warnings == (
        "rules.toml:15: rules.r.query: column 13: term 'c++' is matched as 'c': punctuation"
        " is ignored",
    )


def test_the_alert_keeps_the_apostrophe_of_a_phrase() -> None:
    """`"libya's east"` on «Libya’s east» reads as the term, not `libya s east`."""
    matcher = Matcher.compile([("r", parse_query('"libya\'s east" OR al-qaeda OR u.s.'))])
    (match,) = matcher.match("In Libya’s east, Al-Qaeda and U.S. forces")
    assert [describe(hit) for hit in match.hits] == [
        '"libya\'s east"',
        "al-qaeda",
        "u.s. → u s",
    ]
    (match,) = matcher.match("Libya s east")
    assert [describe(hit) for hit in match.hits] == ['"libya\'s east" → libya s east']


# --- 14: the README's chat id ---------------------------------------------------------------


def test_the_example_chat_id_warns() -> None:
    """A newcomer who keeps the placeholder id is told before every alert fails."""
    text = "[channels.main]\nchat_id = -1001234567890\n\n" + SOURCE + keyword_rule("haftar")
    assert parse_config(text).warnings == (
        "rules.toml:2: channels.main.chat_id: -1001234567890 is the example id from the README;"
        ' set your channel\'s id (see the README, "Telegram setup")',
    )
