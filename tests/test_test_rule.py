"""`vedette test-rule`: a rule or query over a database made by a real `vedette run --once`
against the loopback feed server, over feeds given on the command line, and over a file of
expectations; near misses (`bot.query.near`); the item text the store keeps for it."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.config.validate import load_config
from bot.query.near import NearMisses
from bot.query.parse import parse_query
from bot.query.screen import PREFILTER_MAX
from bot.rulecheck import Checker, Item, evaluate
from bot.store import Store
from bot.timeutil import iso
from tests.fakes.feed_server import Entry, FeedServer, rss
from tests.fakes.loopback import started
from tests.helpers import config_text, stored_items
from tests.process import vedette
from watchers.http import Validators
from watchers.items import NewsItem, item_text

ROOT = Path(__file__).parent.parent
QUERY = "(haftar OR хафтар*) AND (migra* OR мигра* OR мігра*) NOT football"
NOW = datetime.now(UTC).replace(microsecond=0)
TWO_DAYS_AGO = NOW - timedelta(days=2)
YESTERDAY = NOW - timedelta(days=1)

NEWS = [
    Entry(
        "Haftar uses migration as a weapon",
        link="https://n.example/1",
        summary="<p>Brussels worries about the route to Crete.</p>",
        published=TWO_DAYS_AGO,
    ),
    Entry(
        "Хафтаром недовольны в Брюсселе",
        link="https://n.example/2",
        summary="Мигранты прибывают на Крит из восточной Ливии.",
        published=YESTERDAY,
    ),
    Entry("Haftar meets officials in Minsk", link="https://n.example/3", published=YESTERDAY),
    Entry("Migrants cross the Channel", link="https://n.example/4", published=YESTERDAY),
    Entry("Football: Haftar cup for migrants", link="https://n.example/5", published=YESTERDAY),
]
# The wire carries the first article again (same link, so the same item key) and one more.
WIRE = [NEWS[0], Entry("Weather in Benghazi", link="https://w.example/9")]


@dataclass(frozen=True)
class History:
    """A database written by `vedette run --once` and the configuration it ran with."""

    config: Path
    db: Path
    server: FeedServer


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    """Two feeds polled once by a real `vedette run --once` (items alert: alert_existing)."""
    root = tmp_path_factory.mktemp("history")
    for server in started(FeedServer()):
        server.route("/news", body=rss(NEWS))
        server.route("/wire", body=rss(WIRE))
        feeds = {"news": server.url("/news"), "wire": server.url("/wire")}
        text = config_text("http://127.0.0.1:9", feeds, query=QUERY, alert_existing=True)
        config = root / "rules.toml"
        config.write_text(text, encoding="utf-8")
        run = vedette(root, "run", "--once", "--config", str(config), "--db", "v.db", token=None)
        out, err = run.communicate(timeout=60)
        assert run.returncode == 0, err
        assert out.count("── alert for") == 2
        yield History(config, root / "v.db", server)


def on_history(history: History, *args: str) -> list[str]:
    """The argv of `vedette test-rule ARGS` on the history's configuration and database."""
    return ["test-rule", "--config", str(history.config), "--db", str(history.db), *args]


def run_cli(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --- what the store keeps ----------------------------------------------------------------


def test_a_poll_stores_what_the_rules_read_and_the_publication_date(history: History) -> None:
    """Each seen item keeps the text the matcher read (title, summary, content) and its date."""
    with sqlite3.connect(history.db) as conn:
        rows = {
            link: (text, published)
            for link, text, published in conn.execute(
                "SELECT link, text, published_at FROM seen_items WHERE source_id = 'news'"
            )
        }
    text, published = rows["https://n.example/2"]
    assert (
        text == "Хафтаром недовольны в Брюсселе\nМигранты прибывают на Крит из восточной Ливии.\n"
    )
    assert published == iso(YESTERDAY)
    with sqlite3.connect(history.db) as conn:
        (undated,) = conn.execute(
            "SELECT published_at FROM seen_items WHERE link = 'https://w.example/9'"
        ).fetchone()
    assert undated is None


def test_an_edited_item_keeps_its_new_text(store: Store) -> None:
    """When a known item is edited, the stored text and date follow it (what test-rule reads
    is what the bot would match now); a new item is stored as `watchers.items.item_text` joins it."""
    first = NewsItem("src", "k1", "Haftar", "https://x/1", "old summary", "", None)
    store.record_success("src", "rss", NOW, validators=Validators(), items=[first])
    edited = NewsItem("src", "k1", "Haftar", "https://x/1", "migrants now", "body", YESTERDAY)
    store.record_success(
        "src", "rss", NOW, validators=Validators(), present=["k1"], edited=[edited]
    )
    (row,) = stored_items(store, NOW - timedelta(days=1))
    assert row.text == item_text(edited)
    assert row.published_at == iso(YESTERDAY)
    assert stored_items(store, NOW + timedelta(seconds=1)) == []


# --- the report over stored history ------------------------------------------------------


def test_matches_are_printed_with_their_forms_and_a_plain_summary(
    history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each match: date, source, title, link, terms with the forms found; then the numbers."""
    code, out, _ = run_cli(capsys, on_history(history, "watch"))
    assert code == 0
    assert f"{YESTERDAY:%Y-%m-%d %H:%M}  news  Хафтаром недовольны в Брюсселе" in out
    assert "  https://n.example/2" in out
    assert "  terms: хафтар* → хафтаром, мигра* → мигранты" in out
    assert "  terms: haftar, migra* → migration" in out
    assert "Haftar meets officials in Minsk" not in out
    assert "Football" not in out
    assert "rule watch: " + QUERY in out
    assert "items read: 7 (" in out
    assert "items matched: 3" in out
    # The first article came through both feeds: one alert, already sent by the run.
    assert "alerts that would be sent: 2 (one per distinct item" in out
    assert "\n  of which already alerted by this rule: 2\n" in out
    assert f"  {TWO_DAYS_AGO:%Y-%m-%d}  2\n  {YESTERDAY:%Y-%m-%d}  1" in out
    assert "near misses" not in out


def test_since_limits_the_items_by_when_they_were_first_seen(
    history: History, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An item first seen 40 days ago is outside the default 30 days, inside `--since 60d`."""
    db = tmp_path / "old.db"
    shutil.copy(history.db, db)
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE seen_items SET first_seen_at = ? WHERE link = 'https://n.example/2'",
            (iso(NOW - timedelta(days=40)),),
        )
    argv = ["test-rule", "watch", "--config", str(history.config), "--db", str(db)]
    code, out, _ = run_cli(capsys, argv)
    assert (code, "items read: 6 (" in out, "items matched: 2" in out) == (0, True, True)
    assert "first seen in the last 30d" in out
    code, out, _ = run_cli(capsys, [*argv, "--since", "60d"])
    assert (code, "items read: 7 (" in out, "items matched: 3" in out) == (0, True, True)
    code, _, err = run_cli(capsys, [*argv, "--since", "soon"])
    assert code == 2
    assert "--since: bad duration" in err


def test_a_query_runs_over_every_stored_item(
    history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--query` instead of a rule: no rule, so nothing is said about alerts already sent."""
    code, out, _ = run_cli(capsys, on_history(history, "--query", "minsk OR benghazi"))
    assert code == 0
    assert "Haftar meets officials in Minsk" in out
    assert "Weather in Benghazi" in out
    assert "items matched: 2" in out
    assert "already alerted" not in out
    assert "query: minsk OR benghazi" in out


def test_near_lists_items_that_miss_one_branch(
    history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--near`: what one more synonym would catch, with the branch that failed."""
    code, out, _ = run_cli(capsys, on_history(history, "watch", "--near"))
    assert code == 0
    near = out[out.index("near misses (") : out.index(f"rule watch: {QUERY}")]
    assert "Haftar meets officials in Minsk\n  https://n.example/3\n" in near
    assert "  missed: (migra* OR мигра* OR мігра*)" in near
    assert "Migrants cross the Channel" in near
    assert "  missed: (haftar OR хафтар*)" in near
    assert "Football: Haftar cup for migrants" in near
    assert "  missed: NOT football" in near
    assert "Weather in Benghazi" not in near
    assert "near misses: 3" in out


def test_json_reports_the_same(history: History, capsys: pytest.CaptureFixture[str]) -> None:
    """`--json`: matches, near misses and the summary, for scripts."""
    code, out, _ = run_cli(capsys, on_history(history, "watch", "--near", "--json"))
    assert code == 0
    data = json.loads(out)
    assert data["rule"] == "watch"
    assert data["query"] == QUERY
    assert [m["link"] for m in data["matches"]].count("https://n.example/1") == 2
    russian = next(m for m in data["matches"] if m["link"] == "https://n.example/2")
    assert russian["terms"] == ["хафтар* → хафтаром", "мигра* → мигранты"]
    assert russian["source"] == "news"
    assert russian["published"] == YESTERDAY.isoformat()
    summary = data["summary"]
    assert (summary["items_read"], summary["items_matched"]) == (7, 3)
    assert (summary["alerts_would_send"], summary["already_alerted"]) == (2, 2)
    assert summary["matches_per_day"] == {f"{TWO_DAYS_AGO:%Y-%m-%d}": 2, f"{YESTERDAY:%Y-%m-%d}": 1}
    assert {m["missed"] for m in data["near_misses"]} == {
        "(migra* OR мигра* OR мігра*)",
        "(haftar OR хафтар*)",
        "NOT football",
    }
    assert data["expectations"] is None


# --- feeds given on the command line -----------------------------------------------------


def test_a_feed_url_is_fetched_once_and_nothing_is_written(
    history: History, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--feed URL` without a database: the feed's items, fetched once; no file is made."""
    url = history.server.url("/news")
    before = history.server.polls("/news")
    db = tmp_path / "none.db"
    argv = ["test-rule", "watch", "--config", str(history.config), "--db", str(db)]
    code, out, _ = run_cli(capsys, [*argv, "--feed", url])
    assert code == 0
    assert history.server.polls("/news") == before + 1
    assert f"{YESTERDAY:%Y-%m-%d %H:%M}  {url}  Хафтаром недовольны в Брюсселе" in out
    assert f"items read: 5 ({url}: 5 items)" in out
    assert "items matched: 2" in out
    assert "already alerted" not in out
    assert list(tmp_path.iterdir()) == []


def test_a_feed_file_is_read_beside_the_database(
    history: History, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--feed FILE` with the database: both are read; an article in both alerts once."""
    feed = tmp_path / "saved.xml"
    feed.write_bytes(rss([NEWS[0], Entry("Мігранти та Хафтар", link="https://f.example/1")]))
    code, out, _ = run_cli(capsys, on_history(history, "watch", "--feed", str(feed)))
    assert code == 0
    assert f"undated  {feed}  Мігранти та Хафтар" in out
    assert "terms: хафтар* → хафтар, мігра* → мігранти" in out
    assert "items read: 9 (" in out
    assert f"; {feed}: 2 items)" in out
    assert "items matched: 5" in out
    assert "alerts that would be sent: 3" in out


def test_alerts_are_also_counted_as_messages_once_grouped_into_stories(
    history: History, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two outlets with the same story (a near copy, another link) make one message; the
    JSON says the same. With `[stories] group = false` the line is not printed."""
    feed = tmp_path / "wire.xml"
    story = "Haftar uses migration as a weapon against Europe, officials in Brussels say"
    feed.write_bytes(
        rss(
            [
                Entry(story, link="https://a.example/1", published=YESTERDAY),
                Entry(f"{story} again", link="https://b.example/2", published=YESTERDAY),
                Entry("Haftar and migrants: a new route", link="https://c.example/3"),
            ]
        )
    )
    argv = ["test-rule", "watch", "--config", str(history.config), "--db", str(tmp_path / "x")]
    code, out, _ = run_cli(capsys, [*argv, "--feed", str(feed)])
    assert code == 0
    assert "alerts that would be sent: 3" in out
    assert "as messages, once grouped into stories ([stories]): 2" in out
    code, out, _ = run_cli(capsys, [*argv, "--feed", str(feed), "--json"])
    assert json.loads(out)["summary"]["messages_after_grouping"] == 2
    ungrouped = tmp_path / "ungrouped.toml"
    ungrouped.write_text(
        history.config.read_text(encoding="utf-8") + "\n[stories]\ngroup = false\n",
        encoding="utf-8",
    )
    argv[3] = str(ungrouped)
    code, out, _ = run_cli(capsys, [*argv, "--feed", str(feed)])
    assert code == 0
    assert "grouped into stories" not in out


def test_a_missing_feed_file_or_database_is_a_clear_error(
    history: History, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing --feed file, or one that is not a feed, is a bad argument (2); a feed URL
    that fails, or no database and no feed: 1, as `status`."""
    argv = ["test-rule", "watch", "--config", str(history.config), "--db", str(tmp_path / "x.db")]
    code, _, err = run_cli(capsys, [*argv, "--feed", str(tmp_path / "gone.xml")])
    assert code == 2
    assert f"--feed {tmp_path / 'gone.xml'}: cannot read" in err
    code, _, err = run_cli(capsys, argv)
    assert code == 1
    assert f"no database at {tmp_path / 'x.db'}" in err
    page = tmp_path / "page.html"
    page.write_text("<html><body>not a feed</body></html>", encoding="utf-8")
    code, _, err = run_cli(capsys, [*argv, "--feed", str(page)])
    assert code == 2
    assert f"--feed {page}: not a feed" in err
    code, _, err = run_cli(capsys, [*argv, "--feed", history.server.url("/gone")])
    assert code == 1
    assert f"vedette: {history.server.url('/gone')}: HTTP 404" in err
    assert "Traceback" not in err


# --- expectations ------------------------------------------------------------------------


def cases_file(path: Path, *cases: dict[str, str]) -> str:
    path.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases), "utf-8")
    return str(path)


def test_expectations_that_hold_exit_0_with_the_counts(
    history: History, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--expect`: every case as expected; the counts say how many matched."""
    cases = cases_file(
        tmp_path / "cases.jsonl",
        {"title": "Хафтар и мигранты", "summary": "", "expect": "match", "lang": "ru"},
        {"title": "Haftar", "summary": "Migration talks in Brussels", "expect": "match"},
        {"title": "Minsk agreements", "summary": "Ukraine talks", "expect": "no"},
    )
    code, out, _ = run_cli(capsys, on_history(history, "watch", "--expect", cases))
    assert code == 0
    assert f"expectations ({cases}, 3 cases): 2 of 2 expected matches matched, 0 unexpected" in out
    assert "FAILED" not in out


def test_a_failed_expectation_is_named_and_exits_1(
    history: History, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A case the rule misses, and one it matches unexpectedly: each named with FILE:LINE."""
    cases = cases_file(
        tmp_path / "cases.jsonl",
        {"title": "Haftar and migrants", "summary": "", "expect": "match"},
        {"title": "Libyan general sends migrants to Crete", "summary": "", "expect": "match"},
        {"title": "Haftar's migration deal", "summary": "", "expect": "no"},
    )
    db = str(tmp_path / "none.db")
    argv = ["test-rule", "watch", "--config", str(history.config), "--db", db]
    code, out, _ = run_cli(capsys, [*argv, "--expect", cases])
    assert code == 1
    assert "1 of 2 expected matches matched, 1 unexpected match" in out
    assert f"FAILED {cases}:2: no match: Libyan general sends migrants to Crete" in out
    assert f"FAILED {cases}:3: unexpected match (haftar, migra* → migration)" in out
    code, out, _ = run_cli(capsys, [*argv, "--expect", cases, "--json"])
    assert code == 1
    expected = json.loads(out)["expectations"]
    assert (expected["expected_matches"], expected["matched"]) == (2, 1)
    assert [f["where"] for f in expected["failed"]] == [f"{cases}:2", f"{cases}:3"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not JSON"),
        ('["a list"]', "expected an object"),
        ('{"title": "x", "expect": "yes"}', '"expect" must be "match" or "no", not \'yes\''),
        ('{"title": 3, "expect": "no"}', '"title" (and "summary", if given) must be strings'),
    ],
)
def test_a_bad_expectation_line_exits_2_naming_file_and_line(
    history: History, tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, message: str
) -> None:
    """A bad line of the --expect file: exit 2 with FILE:LINE, no traceback."""
    path = tmp_path / "cases.jsonl"
    path.write_text('{"title": "fine", "expect": "no"}\n\n' + line + "\n", encoding="utf-8")
    code, out, err = run_cli(capsys, on_history(history, "watch", "--expect", str(path)))
    assert code == 2
    assert f"{path}:3: {message}" in err
    assert "Traceback" not in err
    assert out == ""


# --- bad input ---------------------------------------------------------------------------


def test_an_unknown_rule_exits_2_listing_the_rules(
    history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unknown rule id is named, with the keyword rules there are."""
    code, _, err = run_cli(capsys, on_history(history, "wacth"))
    assert code == 2
    assert f"wacth is not a rule of {history.config}; its keyword rules: watch" in err


def test_a_bad_query_exits_2_with_its_column(
    history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad `--query`: exit 2 with the column of the problem; neither or both: exit 2."""
    code, _, err = run_cli(capsys, on_history(history, "--query", "haftar AND (minsk"))
    assert code == 2
    assert "--query: column 12: this '(' is never closed" in err
    code, _, err = run_cli(capsys, on_history(history))
    assert code == 2
    assert "give a RULE_ID or --query Q" in err
    code, _, err = run_cli(capsys, on_history(history, "watch", "--query", "minsk"))
    assert code == 2


def test_a_bad_config_exits_2_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rule with a bad query in rules.toml: FILE:LINE, as `vedette check` says it."""
    config = tmp_path / "rules.toml"
    config.write_text(
        config_text("http://127.0.0.1:9", {"news": "https://n.example/feed"}, query="a AND"),
        encoding="utf-8",
    )
    code, out, err = run_cli(capsys, ["test-rule", "watch", "--config", str(config)])
    assert code == 2
    assert f"{config}:18: rules.watch.query: column 3: 'AND' needs a term after it" in err
    assert "Traceback" not in err
    assert out == ""


# --- the functional core -----------------------------------------------------------------


def item(title: str, summary: str = "") -> Item:
    return Item("src", title, title, "", f"{title}\n{summary}\n")


def test_the_prefilter_never_drops_a_match_hidden_by_markup_or_soft_hyphens() -> None:
    """Items are skipped by substring tests on their normalised text, which sees through
    entities, tags, soft hyphens and case: every match the matcher finds is still found."""
    checker = Checker(parse_query(QUERY))
    texts = [
        item("Haf\u00adtar and MIGRANTS"),
        item("&#72;aftar", "<b>migration</b>"),
        item("ХАФТА\u0301РОМ", "мигрaнты"),  # a Latin "a" in the last word: no match
        item("ХАФТА\u0301РОМ", "МИГРАНТЫ"),
    ]
    read, hits, near = evaluate(checker, texts)
    assert read == 4
    assert [hit.item for hit in hits] == [texts[0], texts[1], texts[3]]
    assert near == []


def test_near_misses_of_an_or_of_ands_and_what_does_not_count() -> None:
    """Each AND under a top-level OR is tried; a text satisfying only `NOT x` branches (by
    lacking x) is no near miss; a single term has no branches to miss."""
    near = NearMisses(parse_query("(haftar AND minsk) OR (belavia AND benghazi NOT strike*)"))
    assert near.failed("haftar in vienna") == "minsk"
    assert near.failed("belavia in vienna") == "benghazi"
    assert near.failed("belavia to benghazi, strikes") == "NOT strike*"
    assert near.failed("vienna") is None
    assert near.failed("benghazi strikes") is None  # two branches of that AND fail
    assert NearMisses(parse_query("minsk NOT football")).failed("nothing here") is None
    assert NearMisses(parse_query("minsk")).failed("vienna") is None


def test_the_screen_passes_every_headline_the_shipped_rules_match() -> None:
    """Over the labelled headlines (real wording, en/uk/ru) and every shipped keyword rule,
    with and without `--near`: no text the matcher matches (or, with `--near`, that is a
    near miss) is screened out, and some texts are."""
    config = load_config(ROOT / "rules.toml")
    texts = [
        f"{case['title']}\n{case.get('summary', '')}\n"
        for name in ("tuning.jsonl", "holdout.jsonl")
        for line in (ROOT / "tests/data/headlines" / name).read_text("utf-8").splitlines()
        if line.strip()
        for case in [json.loads(line)]
    ]
    assert len(texts) > 200
    for rule in config.keyword_rules:
        for near in (False, True):
            checker = Checker(rule.query, near=near)
            matched = [text for text in texts if checker.terms(text) is not None]
            assert matched, rule.id
            if near:  # and every near miss
                matched += [t for t in texts if t not in matched and checker.missed(t)]
            assert [text for text in matched if not checker.might_match(text)] == [], rule.id
            screened = sum(1 for text in texts if checker.might_match(text))
            assert screened < len(texts), rule.id  # it does rule texts out


def test_a_query_uses_the_term_lists_and_a_near_miss_names_the_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--query` with `@list`: the configuration's `[terms]`; the missed branch is `@list`."""
    config = tmp_path / "rules.toml"
    feeds = {"news": "https://n.example/feed"}
    text = config_text("http://127.0.0.1:9", feeds, query="@haftar AND @migration")
    text += '\n[terms]\nhaftar = ["haftar", "хафтар*"]\nmigration = ["migra*", "мигра*"]\n'
    config.write_text(text, encoding="utf-8")
    feed = tmp_path / "feed.xml"
    feed.write_bytes(rss(NEWS))
    argv = ["test-rule", "--config", str(config), "--db", str(tmp_path / "none.db")]
    query = "@haftar AND @migration"
    code, out, _ = run_cli(capsys, [*argv, "--query", query, "--feed", str(feed), "--near"])
    assert code == 0
    assert "terms: хафтар* → хафтаром, мигра* → мигранты" in out
    assert "items matched: 3" in out  # the football item too: this query has no NOT
    assert "  missed: @migration" in out
    assert "  missed: @haftar" in out
    code, _, err = run_cli(capsys, [*argv, "--query", "@hafter AND minsk", "--feed", str(feed)])
    assert code == 2
    assert "--query: column 1:" in err


def test_an_or_of_too_many_forms_is_not_screened_but_still_matched() -> None:
    """Beyond `PREFILTER_MAX` stems in one OR, the screen lets every text through and the
    matcher alone decides."""
    forms = " OR ".join(f"form{n:04d}" for n in range(PREFILTER_MAX + 1))
    checker = Checker(parse_query(forms))
    assert checker.might_match("nothing of it")
    read, hits, _ = evaluate(checker, [item("form0400 in minsk"), item("form in vienna")])
    assert (read, [hit.terms for hit in hits]) == (2, [("form0400",)])
    # Under an AND, the other branch still screens.
    checker = Checker(parse_query(f"({forms}) AND minsk"))
    assert not checker.might_match("form0400 in vienna")
    assert checker.might_match("form in minsk")


@pytest.mark.parametrize(
    ("text", "passes"),
    [
        ("in the east of libyan waters", True),
        ("at least libyan", False),  # "east" is a whole word of the query
        ("east_libya", True),  # "_" separates words, for the matcher too
        ("northeast libya", False),
        ("east-libyans", True),
        ("east of lib", False),
    ],
)
def test_the_screen_finds_words_where_the_matcher_does(text: str, passes: bool) -> None:
    """A word must start a word of the text (and end one, unless it is a prefix), as the
    matcher splits words; the screen agrees with the matcher on these."""
    checker = Checker(parse_query("east AND libya*"))
    assert checker.might_match(text) is passes
    assert (checker.terms(text) is not None) is passes
