"""Named term lists: `[terms]` in rules.toml, `@name` in queries (DESIGN §5, §6 "Term lists"),
and the bad input of issue 11 (deep nesting, a 1 MB query, a 10,000-form list)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bot.cli import main
from bot.config.types import ConfigError
from bot.config.validate import load_config, parse_config
from bot.news import describe
from bot.query.match import Matcher
from bot.query.parse import (
    MAX_DEPTH,
    MAX_INLINED_TERMS,
    MAX_QUERY_LENGTH,
    And,
    Or,
    QueryError,
    Term,
    TermLists,
    parse_query,
)
from tests.fakes.feed_server import Entry, FeedServer, rss
from tests.fakes.telegram_api import TEST_TOKEN, FakeTelegramAPI
from tests.helpers import config_text, eventually, fast_options, start

LISTS = {
    "haftar": ["haftar", "хафтар*", '"khalifa haftar"'],
    "benghazi": ["benghazi", "бенгаз*", "benina"],
    "east": ["@haftar", "@benghazi", '"eastern libya"', "haftar"],
}
HEAD = '[channels.main]\nchat_id = -1\n\n[[sources]]\nid = "s"\nkind = "rss"\nurl = "https://example.org/rss"\n'


def rule(query: str, rule_id: str = "r") -> str:
    """A keyword rule with `query` (a TOML literal string)."""
    return (
        f'\n[[rules]]\nid = "{rule_id}"\nkind = "keywords"\nquery = \'{query}\'\nchannel = "main"\n'
    )


def problems(text: str, name: str = "rules.toml") -> list[str]:
    """The error lines of a configuration text."""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, name)
    return [str(p) for p in caught.value.problems]


def described(query: str, text: str, lists: dict[str, list[str]] = LISTS) -> list[list[str]]:
    """The alert's terms (`bot.news.describe`) of each rule matching `text`."""
    matcher = Matcher.compile([("r", parse_query(query, TermLists(lists)))])
    return [[describe(hit) for hit in match.hits] for match in matcher.match(text)]


# --- @name in queries ----------------------------------------------------------------------


def test_a_list_stands_for_its_forms_ored() -> None:
    """`@haftar` is (haftar OR хафтар* OR "khalifa haftar"): every form matches."""
    for text in ("Haftar in Minsk", "Хафтаром у Мінську", "Khalifa Haftar, Minsk"):
        assert described("@haftar AND (minsk OR мінськ*)", text), text
    assert described("@haftar AND minsk", "Haftarov in Minsk") == []


def test_hits_from_a_list_show_the_form_found() -> None:
    """The alert names the list's form as written and the word it matched."""
    assert described("@haftar AND minsk", "Хафтаром і Minsk") == [["хафтар* → хафтаром", "minsk"]]
    assert described("@east", "Khalifa Haftar in eastern Libya") == [
        ["haftar", '"khalifa haftar"', '"eastern libya"']
    ]


def test_nested_lists_are_inlined_once_in_list_order() -> None:
    """`@east` holds haftar's and benghazi's terms, then its own; a repeated term once."""
    node = TermLists(LISTS).node("east")
    assert isinstance(node, Or)
    assert node.name == "east"
    assert [t.text for t in node.operands if isinstance(t, Term)] == [
        "haftar",
        "хафтар*",
        '"khalifa haftar"',
        "benghazi",
        "бенгаз*",
        "benina",
        '"eastern libya"',
    ]


def test_a_list_node_is_shared_by_every_query_using_it() -> None:
    """Parsed once: two queries hold the same node, so the matcher compiles it once."""
    lists = TermLists(LISTS)
    first = parse_query("@haftar minsk", lists)
    second = parse_query("belavia OR @haftar", lists)
    assert first.lists() == second.lists() == ("haftar",)
    assert isinstance(first.root, And)
    assert isinstance(second.root, Or)
    assert first.root.operands[0] is second.root.operands[1] is lists.node("haftar")


def test_a_plain_mapping_works_too() -> None:
    """`parse_query(text, terms=…)` takes any mapping of name to forms (as test-rule passes)."""
    query = parse_query("@haftar AND minsk", {"haftar": ("haftar",)})
    assert [m.rule_id for m in Matcher.compile([("r", query)]).match("Haftar, Minsk")] == ["r"]


def test_a_list_under_not_excludes() -> None:
    """`minsk NOT @sport`: any form of the list keeps the text out."""
    lists = {"sport": ["football", "hockey", "dinamo*"]}
    assert described("minsk NOT @sport", "Minsk talks", lists) == [["minsk"]]
    assert described("minsk NOT @sport", "Dinamo Minsk won", lists) == []


def test_not_a_list_alone_names_the_list() -> None:
    """`NOT @sport` matches every item without a sport word: refused, naming @sport (not
    each of its forms)."""
    lists = {"sport": [f"sport{i}" for i in range(1_000)]}
    with pytest.raises(QueryError) as caught:
        parse_query("NOT @sport", lists)
    assert caught.value.message.startswith("this query matches every item that lacks @sport;")


def test_a_term_in_the_query_and_in_a_list_is_one_hit() -> None:
    """The query's own `haftar` and the list's are the same term: shown once."""
    assert described("haftar AND @haftar", "Haftar said") == [["haftar"]]


@pytest.mark.parametrize(
    ("query", "terms", "column", "message"),
    [
        ("minsk AND @hafter", LISTS, 11, "unknown term list @hafter (known: @haftar, @benghazi,"),
        ("@haftar", None, 1, "unknown term list @haftar (there is no [terms] table)"),
        ("minsk @Haftar", LISTS, 7, "'@Haftar' is not a term list name"),
        ("minsk @haftar*", LISTS, 7, "'@haftar*' is not a term list name"),
        ("minsk @", LISTS, 7, "'@' is not a term list name"),
        ("minsk AND @a", {"a": ["@a"]}, 11, "the term list @a cannot be used: it refers to itself"),
        (
            "@b",
            {"a": ["x y"], "b": ["@a"]},
            1,
            "the term list @b cannot be used: it uses @a, which",
        ),
    ],
)
def test_bad_list_references_are_query_errors_with_a_column(
    query: str, terms: dict[str, list[str]] | None, column: int, message: str
) -> None:
    with pytest.raises(QueryError) as caught:
        parse_query(query, terms)
    assert caught.value.column == column
    assert caught.value.message.startswith(message)


def test_a_quoted_at_word_is_an_ordinary_term() -> None:
    """`"@haftar"` is the word haftar (the @ is punctuation), not a list."""
    assert parse_query('"@haftar"').lists() == ()
    assert described('"@haftar"', "Haftar", {}) == [['"@haftar" → haftar']]


def test_list_problems_are_collected() -> None:
    """A form that is not one term, an unknown list, an empty list and cycles, each once."""
    lists = TermLists(
        {
            "ok": ["a"],
            "two": ["a b", '"a" OR b', "(a)", "NOT", "a AND b", ""],
            "unknown": ["@nope"],
            "empty": [],
            "self": ["x", "@self"],
            "a": ["@b"],
            "b": ["@c"],
            "c": ["@a"],
        }
    )
    assert [(p.name, p.form, p.message.split(":")[0]) for p in lists.problems] == [
        ("two", 0, "form 'a b'"),
        ("two", 1, "form '\"a\" OR b'"),
        ("two", 2, "form '(a)'"),
        ("two", 3, "form 'NOT'"),
        ("two", 4, "form 'a AND b'"),
        ("two", 5, "form ''"),
        ("unknown", 0, "form '@nope'"),
        ("empty", None, "the list is empty"),
        ("self", None, "refers to itself"),
        ("a", None, "refers to itself"),
    ]
    messages = [p.message for p in lists.problems]
    assert "refers to itself: self → self" in messages
    assert "refers to itself: a → b → c → a" in messages
    assert messages[0].endswith(
        'column 3: a form is one term: a word, a stem*, a "quoted phrase"'
        " or @list; write each term as a form of its own"
    )
    assert isinstance(lists.node("ok"), Or)


def test_a_list_of_10000_forms_matches_its_last_form_in_every_rule() -> None:
    """1,000 rules share one 10,000-form list: it is one node, and its last form matches."""
    lists = TermLists({"big": [f"w{i}x" for i in range(9_999)] + ["хафтар*"]})
    rules = [(f"r{n}", parse_query(f"@big AND (x{n} OR common)", lists)) for n in range(1_000)]
    assert all(
        isinstance(q.root, And) and q.root.operands[0] is lists.node("big") for _, q in rules
    )
    matcher = Matcher.compile(rules)
    found = matcher.match("Хафтаром, common")
    assert len(found) == 1_000
    assert [describe(hit) for hit in found[-1].hits] == ["хафтар* → хафтаром", "common"]
    assert [m.rule_id for m in matcher.match("w0x x7")] == ["r7"]


# --- [terms] in rules.toml -----------------------------------------------------------------


TERMS = """
[terms]
haftar = ["haftar", "хафтар*", '"khalifa haftar"']
east = [
  "@haftar",
  "benghazi",
  '"eastern libya"',
]
"""


def test_terms_load_into_the_config_and_rules_use_them() -> None:
    config = parse_config(HEAD + TERMS + rule("@east AND minsk*"))
    assert dict(config.terms) == {
        "haftar": ("haftar", "хафтар*", '"khalifa haftar"'),
        "east": ("@haftar", "benghazi", '"eastern libya"'),
    }
    assert config.keyword_rules[0].query.lists() == ("east",)
    matcher = Matcher.compile([(r.id, r.query) for r in config.keyword_rules])
    assert [describe(h) for m in matcher.match("Хафтаром і Мінськ? Minsk's") for h in m.hits] == [
        "хафтар* → хафтаром",
        "minsk* → minsk",
    ]


def test_a_config_without_terms_has_none() -> None:
    assert dict(parse_config(HEAD + rule("minsk")).terms) == {}


def test_every_list_problem_has_its_line() -> None:
    """Lines: HEAD is 7 lines; each problem at its list's line, or its form's."""
    text = HEAD + textwrap.dedent(
        """
        [terms]
        haftar = ["haftar", "хафтар*"]
        unused = ["minsk"]
        loop = ["@loop"]
        ping = ["@pong"]
        pong = ["x", "@ping"]
        empty = []
        wrong = [
          "ok",
          "haftar AND minsk",
          3,
          "@nowhere",
        ]
        Bad = ["x"]
        notalist = "x"
        """
    )
    text += rule("@haftar AND @loop AND @ping AND @empty AND @wrong")
    assert problems(text) == [
        "rules.toml:11: terms.unused: unused: no query uses @unused; use it in a rule's query"
        " or remove it",
        "rules.toml:12: terms.loop: refers to itself: loop → loop",
        "rules.toml:13: terms.ping: refers to itself: ping → pong → ping",
        "rules.toml:15: terms.empty: the list is empty: give it at least one form",
        "rules.toml:16: terms.wrong: forms are strings, not an integer 3",
        "rules.toml:18: terms.wrong: form 'haftar AND minsk': column 8: a form is one term: a"
        ' word, a stem*, a "quoted phrase" or @list; write each term as a form of its own',
        "rules.toml:20: terms.wrong: form '@nowhere': unknown term list @nowhere (known:"
        " @haftar, @unused, @loop, @ping, @pong, @empty, @wrong)",
        "rules.toml:22: terms.Bad: list names use only a-z, 0-9, _ and -",
        "rules.toml:23: terms.notalist: must be a list of strings, not a string",
        # the query's first problem (a query reports one): a list that cannot be used
        "rules.toml:28: rules.r.query: column 13: the term list @loop cannot be used: it"
        " refers to itself: loop → loop",
    ]


def test_an_unknown_list_in_a_query_has_its_line_and_column() -> None:
    text = HEAD + TERMS + rule("@east AND minsk") + rule("belavia AND @haftr", "r2")
    assert problems(text) == [
        "rules.toml:26: rules.r2.query: column 13: unknown term list @haftr (known: @haftar, @east)"
    ]


def test_a_list_used_only_by_a_used_list_is_used() -> None:
    """`haftar` is used through `east`; a list used by an unused list is unused too."""
    text = HEAD + TERMS + '\nspare = ["@other"]\nother = ["x"]\n' + rule("@east")
    assert problems(text) == [
        "rules.toml:17: terms.spare: unused: no query uses @spare; use it in a rule's query or"
        " remove it",
        "rules.toml:18: terms.other: unused: no query uses @other; use it in a rule's query or"
        " remove it",
    ]


def test_a_list_used_by_a_query_with_another_error_is_not_unused() -> None:
    """The query fails for its own reason; its lists still count as used."""
    text = HEAD + TERMS + rule("@east AND (minsk")
    assert problems(text) == ["rules.toml:20: rules.r.query: column 11: this '(' is never closed"]


def test_terms_must_be_a_table() -> None:
    assert problems('terms = ["x"]\n' + HEAD + rule("minsk")) == [
        "rules.toml:1: terms: must be a table, not a list"
    ]


def test_punctuation_in_a_form_is_a_warning_at_its_line() -> None:
    text = HEAD + '[terms]\ntech = [\n  "c++",\n  "rust",\n]\n' + rule("@tech")
    assert parse_config(text).warnings == (
        "rules.toml:10: terms.tech: term 'c++' is matched as 'c': punctuation is ignored",
    )


# --- bad input -----------------------------------------------------------------------------


def write(tmp_path: Path, query: str) -> Path:
    """A rules file whose rule (line 12) has `query`."""
    path = tmp_path / "rules.toml"
    path.write_text(HEAD + TERMS.replace("east", "other") + rule(query).replace("@", ""), "utf-8")
    return path


@pytest.mark.parametrize("depth", [4_000, 5_000])
def test_thousands_of_nested_parentheses_are_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], depth: int
) -> None:
    """Not a RecursionError: `vedette check` names the file, line and column, exit 2 (5,000
    levels are also longer than MAX_QUERY_LENGTH, which is checked first)."""
    path = tmp_path / "rules.toml"
    query = "(" * depth + "haftar" + ")" * depth
    path.write_text(HEAD + rule(query), "utf-8")
    expected = (
        f"{path}:12: rules.r.query: column {MAX_DEPTH + 1}: parentheses nested too deeply"
        f" (at most {MAX_DEPTH})"
    )
    if len(query) > MAX_QUERY_LENGTH:
        expected = (
            f"{path}:12: rules.r.query: column {MAX_QUERY_LENGTH + 1}: the query is"
            f" {len(query):,} characters long, more than {MAX_QUERY_LENGTH:,}; put long lists"
            " of terms in [terms] and use them as @name"
        )
    assert_refused(path, expected, capsys)


def assert_refused(path: Path, expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`path` is refused with exactly `expected`, by load_config and by `vedette check`
    (exit 2, the problem on stderr, no traceback)."""
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert [str(p) for p in caught.value.problems] == [expected]
    assert main(["check", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert expected in err
    assert "Traceback" not in err


def test_a_one_megabyte_query_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A query longer than MAX_QUERY_LENGTH is refused before it is parsed."""
    path = tmp_path / "rules.toml"
    query = " OR ".join(f"w{i}x" for i in range(110_000))
    assert len(query) > 1_000_000
    path.write_text(HEAD + rule(query), "utf-8")
    expected = (
        f"{path}:12: rules.r.query: column {MAX_QUERY_LENGTH + 1}: the query is"
        f" {len(query):,} characters long, more than {MAX_QUERY_LENGTH:,}; put long lists of"
        " terms in [terms] and use them as @name"
    )
    assert_refused(path, expected, capsys)


def test_a_query_of_the_longest_length_loads() -> None:
    query = ("minsk OR " * MAX_QUERY_LENGTH)[: MAX_QUERY_LENGTH - len("belavia")] + "belavia"
    query = query.replace("OR belavia", "OR  belavia")[-MAX_QUERY_LENGTH:]
    assert len(query) <= MAX_QUERY_LENGTH
    parse_query(query)
    with pytest.raises(QueryError, match="more than 10,000"):
        parse_query(query + " x")


def test_a_10000_form_list_loads_through_the_config() -> None:
    """A [terms] list of 10,000 forms (one per line) loads, and its last form matches."""
    forms = "".join(f'  "w{i}x",\n' for i in range(10_000))
    config = parse_config(HEAD + f"[terms]\nbig = [\n{forms}]\n" + rule("@big AND minsk"))
    assert len(config.terms["big"]) == 10_000
    matcher = Matcher.compile([(r.id, r.query) for r in config.keyword_rules])
    assert [m.rule_id for m in matcher.match("w9999x in Minsk")] == ["r"]


def test_a_chain_of_thousands_of_lists_is_walked_without_recursion() -> None:
    """Lists that use each other 3,000 deep: no RecursionError; what they would copy beyond
    MAX_INLINED_TERMS is reported once, and the lists after it cannot be used."""
    lists = TermLists({f"l{i}": [f"w{i}x", *([f"@l{i - 1}"] if i else [])] for i in range(3_000)})
    assert [(p.name, p.message.split(":")[0]) for p in lists.problems] == [
        ("l1414", "the term lists are too large")
    ]
    node = lists.node("l1413")
    assert isinstance(node, Or)
    assert len(node.operands) == 1_414
    assert lists.node("l1415") == (
        "it uses @l1414, which cannot be used (the term lists are too large (more than"
        f" {MAX_INLINED_TERMS:,} nested terms))"
    )
    assert lists.node("l2999") == "it uses @l2998, which cannot be used"


def test_lists_that_copy_a_big_list_too_often_are_a_config_error() -> None:
    """200 lists that each use a 10,000-form list would copy 2 million terms."""
    forms = ", ".join(f'"w{i}x"' for i in range(10_000))
    aliases = "".join(f'a{i} = ["@big"]\n' for i in range(200))
    query = " OR ".join(f"@a{i}" for i in range(100))
    text = HEAD + f"[terms]\nbig = [{forms}]\n{aliases}" + rule(query)
    assert problems(text) == [
        "rules.toml:110: terms.a100: the term lists are too large: together they include more"
        f" than {MAX_INLINED_TERMS:,} terms of other lists; use fewer nested lists",
        *(
            f"rules.toml:{line}: terms.a{line - 10}: unused: no query uses @a{line - 10}; use it"
            " in a rule's query or remove it"
            for line in range(110, 210)
        ),
    ]


async def test_reload_checks_term_lists_like_check(
    tmp_path: Path, feed_server: FeedServer, telegram_api: FakeTelegramAPI
) -> None:
    """/reload and SIGHUP load through the same validator: an unknown list keeps the old
    configuration; a good one is taken."""
    feed_server.route("/a", body=rss([Entry("Old", link="https://n.example/a")]))
    rules = tmp_path / "rules.toml"
    lists = '\n[terms]\nhaftar = ["haftar", "хафтар*"]\n'
    text = config_text(telegram_api.url, {"a": feed_server.url("/a")}, query="@haftar")
    rules.write_text(text + lists, "utf-8")
    bot = start(load_config(rules), tmp_path / "v.db", TEST_TOKEN, fast_options())
    await eventually(lambda: bool(bot.runners), what="the runner")
    runner = bot.runners[0]
    rules.write_text(text.replace("@haftar", "@hafter") + lists, "utf-8")
    answer = await runner.reload()
    assert answer.startswith(f"kept the old configuration: {rules} has ")
    assert f"{rules}:18: rules.watch.query: column 1: unknown term list @hafter" in answer
    assert f"{rules}:22: terms.haftar: unused: no query uses @haftar" in answer
    rules.write_text(
        text.replace("@haftar", "@haftar OR @belavia") + lists + 'belavia = ["белав*"]\n', "utf-8"
    )
    assert await runner.reload() == f"reloaded {rules}: 1 source, 1 rule, 1 channel"
    assert await bot.stop() == 0
