"""`vedette test-rule` over 30 days of history: 1,000 feeds, about 100,000 stored items.

    python -m tests.bench test_rule [--runs 3] [--feeds 1000] [--items 100] [--db PATH]

The database is a real vedette database (`Store.open`: the shipped schema and indexes),
filled with a bulk `executemany` into `seen_items`, the rows `Store.record_success` writes
(title, link, the text the rules read, publication and first-seen dates): `--items` per feed
spread over 30 days, inserted in the order they were first seen, as the bot inserts them.
The texts are the benchmark corpus's (`tests/bench/corpus.py`: titles and 500-800 byte
summaries as plain text, a third in Ukrainian or Russian, with the named entities the rules
look for), drawn from a pool so building stays quick.

Timed: the whole command in this process, `vedette test-rule --query Q --config rules.toml
--db PATH` (reading the configuration, opening the database read-only, reading every item
of the last 30 days, matching, printing the report), for each keyword rule of the shipped
rules.toml with its query as `Q` (so every stored item is read, whatever its source id), and
once more with `--near` for the slowest. Wall time `time.perf_counter()`; medians.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.cli import main as vedette
from bot.config.validate import load_config
from bot.store import Store
from bot.timeutil import from_iso, iso
from tests.bench.corpus import TextMaker, feed_language, language
from tests.bench.report import Row, median, spread, table
from watchers.feed_text import html_to_text

ROOT = Path(__file__).resolve().parents[2]
DAYS = 30
POOL = {"en": 4000, "uk": 1000, "ru": 1000}  # distinct titles and summaries per language
TARGET = 2.0  # seconds


def pools(seed: int = 5) -> dict[str, tuple[list[str], list[str]]]:
    """Titles and plain-text summaries per language."""
    out = {}
    for code, size in POOL.items():
        maker = TextMaker(language(code), random.Random(f"{seed}-{code}"))
        titles = [maker.title() for _ in range(size)]
        summaries = [html_to_text(maker.summary_html(), 5000) for _ in range(size)]
        out[code] = (titles, summaries)
    return out


def build(path: Path, feeds: int, per_feed: int, now: datetime) -> int:
    """Create the database at `path`; return how many items it holds."""
    texts = pools()
    rng = random.Random(9)
    span = DAYS * 86400 - 3600
    rows = []
    for feed in range(feeds):
        code = feed_language(feed)
        titles, summaries = texts[code]
        for n in range(per_feed):
            title = titles[rng.randrange(len(titles))]
            text = f"{title}\n{summaries[rng.randrange(len(summaries))]}\n"
            seen = iso(now - timedelta(seconds=rng.randrange(span)))
            published = iso(from_iso(seen) - timedelta(minutes=rng.randrange(120)))
            link = f"https://{feed}.news.example/{code}/{n}.html"
            rows.append((f"feed-{feed:04d}", link, seen, seen, title, link, text, published))
    rows.sort(key=lambda row: row[2])  # as the bot inserts them: in the order first seen
    store = Store.open(path)
    conn = store.db.conn
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO seen_items (source_id, item_key, first_seen_at, last_seen_at, title, "
        "link, text, published_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    count = len(rows)
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return count


def timed(argv: list[str]) -> tuple[float, str]:
    """Run `vedette ARGV` here; the wall time and what it printed."""
    out = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = vedette(argv)
    elapsed = time.perf_counter() - started
    if code != 0:
        raise RuntimeError(f"vedette {' '.join(argv)} exited {code}")
    return elapsed, out.getvalue()


def _line(report: str, start: str) -> str:
    return next(line for line in report.splitlines() if line.startswith(start))


def run(runs: int = 3, feeds: int = 1000, per_feed: int = 100, db: Path | None = None) -> list[Row]:
    """Run the benchmark, print its table, return its rows."""
    now = datetime.now(UTC)
    config = ROOT / "rules.toml"
    rules = load_config(config).keyword_rules
    with tempfile.TemporaryDirectory(prefix="vedette-bench-") as tmp:
        path = db or Path(tmp) / "history.db"
        if path.exists():
            print(f"test-rule: reusing {path}", flush=True)
            items = feeds * per_feed
        else:
            started = time.perf_counter()
            items = build(path, feeds, per_feed, now)
            built = time.perf_counter() - started
            print(f"test-rule: built {items:,} items in {built:.1f} s", flush=True)
        base = ["test-rule", "--config", str(config), "--db", str(path), "--since", f"{DAYS}d"]
        times: dict[str, list[float]] = {}
        reports: dict[str, str] = {}
        for rule in rules:
            argv = [*base, "--query", rule.query_text]
            times[rule.id] = []
            for _ in range(runs):
                elapsed, reports[rule.id] = timed(argv)
                times[rule.id].append(elapsed)
        slowest = max(times, key=lambda rule_id: median(times[rule_id]))
        query = next(rule.query_text for rule in rules if rule.id == slowest)
        near = [timed([*base, "--query", query, "--near"])[0] for _ in range(runs)]
    notes = [
        f"{items:,} stored items from {feeds:,} feeds over {DAYS} days "
        f"(corpus texts, a third Ukrainian or Russian)",
        f"the {len(rules)} keyword rules of rules.toml, each as --query: "
        + "; ".join(
            f"{rule_id}: {_line(report, 'items matched').split(': ')[1]} matched"
            for rule_id, report in reports.items()
        ),
        f"median of {runs} runs (min-max in brackets); wall time of the whole command",
    ]
    rows = [
        Row(
            f"test-rule, rule {rule_id}",
            f"{median(values):.2f} s ({spread(values, '{:.2f}')})",
            f"≤ {TARGET:g} s",
            median(values) <= TARGET,
        )
        for rule_id, values in times.items()
    ]
    rows.append(
        Row(
            f"test-rule --near, rule {slowest}",
            f"{median(near):.2f} s ({spread(near, '{:.2f}')})",
        )
    )
    print(table("test-rule (python -m tests.bench test_rule)", notes, rows), flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench test_rule")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--items", type=int, default=100, help="items per feed")
    parser.add_argument("--db", type=Path, default=None, help="keep the database here")
    options = parser.parse_args(argv)
    run(options.runs, options.feeds, options.items, options.db)


if __name__ == "__main__":
    main()
