"""Rule engine: 1,000 keyword rules over 10,000 news items, on one core.

    python -m tests.bench rules [--runs 5] [--rules 1000] [--items 10000]

The items are what the bot matches: 200 generated feeds (tests/bench/corpus.py; a third in
Ukrainian or Russian) parsed by `watchers.feeds.parse_feed`, title + summary + content as
`watchers.items.item_text` joins them. The rules are the three shipped keyword rules plus
generated ones in the same style: entities in English, Ukrainian and Russian, prefixes,
phrases, AND / OR / NOT.

- matcher: `bot.query.match.Matcher` (all rules compiled together), a fresh one per run, so its
  token memo starts empty; every item through every rule, hits included.
- with a big term list: the same rules, 100 of the generated ones widened to
  `(QUERY) OR @big`, where `big` is a `[terms]` list of 10,000 forms (9,998 words that no
  item holds, then `haftar*` and `"eastern libya"`): the list compiles once for all of them.
- one query at a time: the baseline, each rule's syntax tree evaluated on its own for each
  item (the item normalised and tokenised once, words looked up in a set, prefixes and
  phrases scanned), on the first `--baseline-items` items; both must find the same matches.

CPU is `time.process_time()` of this single-threaded process; figures are medians.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from bot.config.validate import load_config
from bot.query.match import Matcher
from bot.query.parse import And, Node, Not, Or, Query, Term, TermLists, parse_query
from bot.query.textnorm import normalise, words
from tests.bench.corpus import keyword_queries, rss_feed
from tests.bench.report import Row, median, spread, table
from watchers.feeds import parse_feed
from watchers.items import item_text

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 7, 2, tzinfo=UTC)


def news_texts(count: int) -> list[str]:
    """`count` item texts from generated feeds, parsed as the bot parses them."""
    texts: list[str] = []
    feed = 0
    while len(texts) < count:
        items = parse_feed(
            f"feed-{feed}",
            rss_feed(feed),
            content_type="application/rss+xml",
            url=f"https://feeds.example/{feed}",
            now=NOW,
        )
        texts.extend(item_text(item) for item in items)
        feed += 1
    return texts[:count]


def rule_set(count: int) -> list[tuple[str, Query]]:
    """The shipped keyword rules and generated ones, `count` in all."""
    shipped = [(r.id, r.query) for r in load_config(ROOT / "rules.toml").keyword_rules]
    generated = keyword_queries(count - len(shipped))
    return shipped + [(f"rule-{n:04d}", parse_query(q)) for n, q in enumerate(generated)]


def with_big_list(
    rules: Sequence[tuple[str, Query]], using: int = 100, forms: int = 10_000
) -> list[tuple[str, Query]]:
    """`rules` with `using` of the generated ones widened by a `forms`-form term list."""
    big = [f"zzq{n:05d}" for n in range(forms - 2)] + ["haftar*", '"eastern libya"']
    lists = TermLists({"big": big})
    widened = list(rules)
    for n in range(3, min(3 + using, len(widened))):
        rule_id, query = widened[n]
        widened[n] = (rule_id, parse_query(f"({query.text}) OR @big", terms=lists))
    return widened


# --- the baseline: one query at a time -----------------------------------------------------


def _fits(token: str, word: str) -> bool:
    return token.startswith(word[:-1]) if word.endswith("*") else token == word


def _present(term: Term, tokens: list[str], distinct: set[str]) -> bool:
    pattern = term.words
    if len(pattern) == 1:
        word = pattern[0]
        if word.endswith("*"):
            stem = word[:-1]
            return any(token.startswith(stem) for token in distinct)
        return word in distinct
    size = len(pattern)
    return any(
        all(_fits(tokens[i + k], pattern[k]) for k in range(size))
        for i in range(len(tokens) - size + 1)
    )


def _holds(node: Node, tokens: list[str], distinct: set[str]) -> bool:
    if isinstance(node, Term):
        return _present(node, tokens, distinct)
    if isinstance(node, Not):
        return not _holds(node.operand, tokens, distinct)
    if isinstance(node, And):
        return all(_holds(child, tokens, distinct) for child in node.operands)
    assert isinstance(node, Or)
    return any(_holds(child, tokens, distinct) for child in node.operands)


def one_at_a_time(rules: Sequence[tuple[str, Query]], text: str) -> list[str]:
    """The ids of the rules matching `text`, each rule's query evaluated on its own."""
    tokens = words(normalise(text))
    distinct = set(tokens)
    return [rule_id for rule_id, query in rules if _holds(query.root, tokens, distinct)]


# --- the benchmark -------------------------------------------------------------------------


def run(
    runs: int = 5, rule_count: int = 1000, item_count: int = 10_000, baseline: int = 500
) -> list[Row]:
    """Run the rule engine benchmark, print its table, return its rows."""
    print(f"rule engine: parsing {item_count:,} items and {rule_count:,} rules…", flush=True)
    texts = news_texts(item_count)
    rules = rule_set(rule_count)
    terms = [t for _, q in rules for t in q.terms()]
    prefixes = sum(1 for t in terms if len(t.words) == 1 and t.words[0].endswith("*"))
    phrases = sum(1 for t in terms if len(t.words) > 1)
    big_rules = with_big_list(rules)
    rates: list[float] = []
    big_rates: list[float] = []
    big_compile: list[float] = []
    baseline_rates: list[float] = []
    matched = 0
    for number in range(runs):
        cpu = time.process_time()
        matcher = Matcher.compile(rules)
        compile_cpu = time.process_time() - cpu
        cpu = time.process_time()
        matched = sum(len(matcher.match(text)) for text in texts)
        rates.append(len(texts) / (time.process_time() - cpu))
        cpu = time.process_time()
        big_matcher = Matcher.compile(big_rules)
        big_compile.append(time.process_time() - cpu)
        cpu = time.process_time()
        sum(len(big_matcher.match(text)) for text in texts)
        big_rates.append(len(texts) / (time.process_time() - cpu))
        cpu = time.process_time()
        naive = [one_at_a_time(rules, text) for text in texts[:baseline]]
        baseline_rates.append(baseline / (time.process_time() - cpu))
        fresh = Matcher.compile(rules)
        found = [[m.rule_id for m in fresh.match(text)] for text in texts[:baseline]]
        if found != naive:
            raise AssertionError("the matcher and the one-query-at-a-time baseline disagree")
        print(
            f"  run {number + 1}/{runs}: {rates[-1]:,.0f} items/s (compiled in "
            f"{compile_cpu * 1000:.0f} ms); with the big list {big_rates[-1]:,.0f} items/s "
            f"(compiled in {big_compile[-1] * 1000:.0f} ms); one query at a time "
            f"{baseline_rates[-1]:,.0f} items/s",
            flush=True,
        )
    speedups = [r / b for r, b in zip(rates, baseline_rates, strict=True)]
    compile_ms = [seconds * 1000 for seconds in big_compile]
    notes = [
        f"{len(rules):,} rules ({len(rules) - rule_count + 3} shipped + generated): "
        f"{len(terms):,} terms, {prefixes:,} prefixes, {phrases:,} phrases",
        f"{len(texts):,} items from {len(texts) // 50} generated feeds, "
        f"{sum(map(len, texts)) / len(texts):,.0f} characters each on average",
        f"{matched / len(texts):.2f} rule matches per item; baseline on the first "
        f"{baseline:,} items, same matches as the matcher",
        f"median of {runs} runs (min-max in brackets); CPU = process_time, one thread",
    ]
    rows = [
        Row(
            f"matcher: items/s through all {len(rules):,} rules",
            f"{median(rates):,.0f} ({spread(rates, '{:,.0f}')})",
            "≥ 5,000",
            median(rates) >= 5000,
        ),
        Row(
            "matcher, 100 rules using a 10,000-form list: items/s",
            f"{median(big_rates):,.0f} ({spread(big_rates, '{:,.0f}')})",
            "≥ 5,000",
            median(big_rates) >= 5000,
        ),
        Row(
            "compiling those 1,000 rules: CPU",
            f"{median(compile_ms):,.0f} ms ({spread(compile_ms, '{:,.0f}')})",
        ),
        Row(
            "one query at a time: items/s",
            f"{median(baseline_rates):,.1f} ({spread(baseline_rates, '{:,.1f}')})",
        ),
        Row(
            "matcher speed-up over one query at a time",
            f"{median(speedups):,.0f} × ({spread(speedups, '{:,.0f}')})",
            "≥ 10 ×",
            median(speedups) >= 10,
        ),
    ]
    print(table("Rule engine (python -m tests.bench rules)", notes, rows), flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench rules")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--baseline-items", type=int, default=500)
    options = parser.parse_args(argv)
    run(options.runs, options.rules, options.items, options.baseline_items)


if __name__ == "__main__":
    main()
