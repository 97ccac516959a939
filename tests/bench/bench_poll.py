"""Poll cycle: 1,000 RSS feeds of 50 items, served from loopback, polled by the real NewsPoller.

    python -m tests.bench poll [--runs 5] [--feeds 1000]

The feeds (tests/bench/corpus.py: about 50 KB each, a third in Ukrainian or Russian) are
served by the test suite's FeedServer in a separate process (with TCP_NODELAY, as real
servers have it), so the bot process is measured alone. Each cycle runs in a fresh bot
process: the shipped keyword rules, a real SQLite file, the runner's httpx client
(`make_client`), and every source polled at once by its own asyncio task, as `vedette run
--once` does (`vedette run` spreads the first polls over 10 s). The poller itself lets 5
polls at a time fetch and parse (`watchers.rss.MAX_IN_FLIGHT`); it parses these 50 KB feeds
on the event loop (`watchers.rss.parses_quickly`), bigger ones in one worker thread.

- cold: the first poll of every feed (`alert_existing = true`, so every item is also matched
  and the matches are rendered and queued). After it, the same process parses the same
  1,000 bodies with bare `feedparser.parse(io.BytesIO(body))`, one after the other.
- warm, 304: the second cycle; every feed answers 304 to its ETag.
- warm, unchanged: a third cycle with the validators switched off on the server; every feed
  sends its whole body again, which vedette recognises by its SHA-256 and does not parse.

CPU is `time.process_time()` (all threads of the bot process), wall time
`time.perf_counter()`, peak memory the bot process's VmHWM (its whole resident set at its
highest, interpreter and libraries included). Figures are medians over the runs.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import io
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bot.config.validate import load_config, parse_config
from bot.news import NewsPoller
from bot.store import Store
from tests.bench.child import JsonLinesChild
from tests.bench.corpus import rss_feed, summary_line
from tests.bench.report import Row, median, spread, table
from watchers.clock import utcnow
from watchers.http import FetchLimits, make_client
from watchers.rss import FeedReader

ROOT = Path(__file__).resolve().parents[2]
MB = 1e6


# --- the feed server (child process) -------------------------------------------------------


def serve(feeds: int) -> None:
    """Serve `feeds` feeds on loopback; obey commands on stdin (one JSON answer per line).

    `validators on|off`: send ETag and Last-Modified (and answer 304), or neither.
    `stats`: requests since the last `stats`, and how many were answered 304.
    """
    from tests.fakes.feed_server import FeedServer, Route

    server = FeedServer(backlog=1024, nodelay=True)
    routes: list[tuple[Route, str, str]] = []
    sizes = []
    for index in range(feeds):
        body = rss_feed(index)
        sizes.append(len(body))
        etag = f'"{hashlib.sha256(body).hexdigest()[:20]}"'
        modified = "Wed, 01 Jul 2026 10:00:00 GMT"
        route = server.route(f"/feed/{index}", body, etag=etag, last_modified=modified)
        routes.append((route, etag, modified))
    server.start()
    print(json.dumps({"port": server.port, "sizes": sizes}), flush=True)
    try:
        for line in sys.stdin:
            command = line.split()
            answer: dict[str, Any] = {"ok": True}
            if command == ["validators", "on"] or command == ["validators", "off"]:
                on = command[1] == "on"
                for route, etag, modified in routes:
                    route.etag = etag if on else None
                    route.last_modified = modified if on else None
            elif command == ["stats"]:
                requests, server.requests = server.requests, []
                answer["requests"] = len(requests)
                answer["not_modified"] = sum(
                    1
                    for path, headers in requests
                    if headers.get("if-none-match") == server.routes[path].etag
                )
            print(json.dumps(answer), flush=True)
    finally:
        server.stop()


class FeedHost(JsonLinesChild):
    """The feed server process, seen from the benchmark."""

    def __init__(self, feeds: int) -> None:
        args = ["-m", "tests.bench.bench_poll", "serve", str(feeds)]
        super().__init__(args, name="the feed server process")
        ready = self.read()
        self.port: int = ready["port"]
        self.sizes: list[int] = ready["sizes"]


# --- the bot (child process) ---------------------------------------------------------------


def config_text(port: int, feeds: int) -> str:
    """rules.toml for the benchmark: `feeds` loopback sources and the shipped keyword rules
    (with the term lists they use)."""
    shipped = load_config(ROOT / "rules.toml")
    sources = "".join(
        f'[[sources]]\nid = "feed-{n}"\nkind = "rss"\n'
        f'url = "http://127.0.0.1:{port}/feed/{n}"\nevery = "10m"\nalert_existing = true\n\n'
        for n in range(feeds)
    )
    rules = "".join(
        f'[[rules]]\nid = "{rule.id}"\nkind = "keywords"\nchannel = "main"\n'
        f"query = '''{rule.query_text}'''\n\n"
        for rule in shipped.keyword_rules
    )
    terms = "[terms]\n" + "".join(
        f"{name} = [{', '.join(json.dumps(form, ensure_ascii=False) for form in forms)}]\n"
        for name, forms in shipped.terms.items()
    )
    return f"[channels.main]\nchat_id = -1001234567890\n\n{sources}{rules}{terms}"


def peak_rss() -> float:
    """This process's peak resident set so far, in bytes: VmHWM, the high-water mark of its
    own memory. (`ru_maxrss` would do on a process started alone, but on Linux a child
    inherits its parent's resident set at fork as a floor for it.)"""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) * 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024.0


async def one_cycle(db: Path, rules: Path) -> dict[str, Any]:
    """Poll every feed once, all at once; return CPU, wall time, peak memory and outcomes."""
    config = parse_config(rules.read_text(encoding="utf-8"), str(rules))
    store = Store.open(db)
    limits = FetchLimits()
    try:
        async with make_client(limits) as client:
            poller = NewsPoller(
                store,
                FeedReader(client),
                config.keyword_rules,
                config.channels,
                clock=utcnow,
                limits=limits,
            )
            gc.collect()
            before = peak_rss()
            cpu, wall = time.process_time(), time.perf_counter()
            outcomes = await asyncio.gather(*(poller.poll(s) for s in config.news_sources))
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        peak = peak_rss()
        (items,) = store.db.conn.execute("SELECT COUNT(*) FROM seen_items").fetchone()
        hashes = dict(store.db.conn.execute("SELECT id, body_hash FROM sources").fetchall())
    finally:
        store.close()
    errors = sorted({o.error for o in outcomes if o.error})
    return {
        "cpu": cpu,
        "wall": wall,
        "peak": peak,
        "rss_before": before,
        "errors": sum(1 for o in outcomes if o.error),
        "error_kinds": errors[:3],
        "alerts": sum(o.alerts for o in outcomes),
        "items": items,
        "hashes": hashes,
    }


def bare_parse(port: int, feeds: int, hashes: dict[str, str]) -> float:
    """CPU seconds of bare feedparser on the same bodies (checked against the stored hashes)."""
    import feedparser
    import httpx

    with httpx.Client() as client:
        bodies = [client.get(f"http://127.0.0.1:{port}/feed/{n}").content for n in range(feeds)]
    for n, body in enumerate(bodies):
        if hashlib.sha256(body).hexdigest() != hashes.get(f"feed-{n}"):
            raise RuntimeError(f"feed {n}: the body differs from the one the bot parsed")
    gc.collect()
    cpu = time.process_time()
    for body in bodies:
        feedparser.parse(io.BytesIO(body))
    return time.process_time() - cpu


def worker(phase: str, db: Path, rules: Path, port: int, feeds: int) -> None:
    """One cycle in this (fresh) process; prints its figures as one JSON line."""
    result = asyncio.run(one_cycle(db, rules))
    if phase == "cold":
        result["bare"] = bare_parse(port, feeds, result["hashes"])
    del result["hashes"]
    print(json.dumps(result), flush=True)


def run_worker(phase: str, db: Path, port: int, feeds: int) -> dict[str, Any]:
    """Run one cycle in a fresh process (rules in `bench.toml` beside `db`)."""
    rules = db.with_name("bench.toml")
    command = [sys.executable, "-m", "tests.bench.bench_poll", "worker", phase, str(db), str(rules)]
    done = subprocess.run(
        [*command, str(port), str(feeds)], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{phase} worker failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --- the benchmark -------------------------------------------------------------------------


def run(runs: int = 5, feeds: int = 1000) -> list[Row]:
    """Run the poll benchmark, print its table, return its rows."""
    print(f"poll cycle: generating {feeds:,} feeds in the feed server process…", flush=True)
    host = FeedHost(feeds)
    results: dict[str, list[dict[str, Any]]] = {"cold": [], "304": [], "same": []}
    served: dict[str, list[int]] = {"304": [], "same": []}
    try:
        for number in range(runs):
            with tempfile.TemporaryDirectory(prefix="vedette-bench-") as tmp:
                db = Path(tmp) / "poll.db"
                # Written here: reading the shipped rules loads the airport table (its route
                # rules), which the benchmark's bot, with keyword rules only, never does.
                db.with_name("bench.toml").write_text(config_text(host.port, feeds), "utf-8")
                host.command("validators on")
                results["cold"].append(run_worker("cold", db, host.port, feeds))
                host.command("stats")
                results["304"].append(run_worker("warm", db, host.port, feeds))
                served["304"].append(host.command("stats")["not_modified"])
                host.command("validators off")
                results["same"].append(run_worker("warm", db, host.port, feeds))
                served["same"].append(host.command("stats")["not_modified"])
                host.command("validators on")
            cold = results["cold"][-1]
            print(
                f"  run {number + 1}/{runs}: cold {cold['cpu']:.1f} s CPU (bare parse "
                f"{cold['bare']:.1f} s), warm {results['304'][-1]['cpu']:.2f} s / "
                f"{results['same'][-1]['cpu']:.2f} s CPU",
                flush=True,
            )
    finally:
        host.close()
    rows = _rows(results, feeds)
    errors = sum(r["errors"] for rs in results.values() for r in rs)
    kinds = sorted({k for rs in results.values() for r in rs for k in r["error_kinds"]})
    items = {r["items"] for r in results["cold"]}
    notes = [
        f"{summary_line(host.sizes)}, 50 items each; a third in Ukrainian or Russian",
        "feed server in its own process; each cycle in a fresh bot process; all feeds at once",
        f"median of {runs} runs (min-max in brackets); CPU = process_time of the bot process",
        f"peak memory = VmHWM of the bot process (MB = 10^6 bytes); items stored: "
        f"{'/'.join(str(i) for i in sorted(items))}; alerts queued on the cold cycle: "
        f"{median([r['alerts'] for r in results['cold']]):.0f}",
        f"304 answers: {'/'.join(map(str, served['304']))} of {feeds} (warm, 304); "
        f"{'/'.join(map(str, served['same']))} (warm, unchanged: validators off)",
        f"poll errors in all runs: {errors}" + (f" ({'; '.join(kinds)})" if kinds else ""),
    ]
    rows.append(Row("poll errors (all cycles, all runs)", f"{errors}", "0", errors == 0))
    print(table("Poll cycle (python -m tests.bench poll)", notes, rows), flush=True)
    return rows


def _rows(results: dict[str, list[dict[str, Any]]], feeds: int) -> list[Row]:
    cold = results["cold"]
    ratios = [r["cpu"] / r["bare"] for r in cold]
    rows = [
        Row(
            "cold: CPU",
            f"{median([r['cpu'] for r in cold]):.2f} s ({spread([r['cpu'] for r in cold], '{:.2f}')})",
        ),
        Row(
            "bare feedparser.parse, same bodies: CPU",
            f"{median([r['bare'] for r in cold]):.2f} s ({spread([r['bare'] for r in cold], '{:.2f}')})",
        ),
        Row(
            "cold: CPU / bare parse",
            f"{median(ratios):.2f} × ({spread(ratios, '{:.2f}')})",
            "≤ 1.2 × (RSStT 1.4 ×)",
            median(ratios) <= 1.2,
        ),
        Row("cold: wall", f"{median([r['wall'] for r in cold]):.1f} s"),
        Row(
            "cold: peak memory",
            f"{median([r['peak'] for r in cold]) / MB:.0f} MB",
            "≤ 100 MB (RSStT 321 MB)",
            median([r["peak"] for r in cold]) <= 100 * MB,
        ),
    ]
    for key, label in (("304", "warm, 304"), ("same", "warm, unchanged body")):
        per_feed = [r["cpu"] / feeds * 1000 for r in results[key]]
        walls = [r["wall"] for r in results[key]]
        peaks = [r["peak"] for r in results[key]]
        rows += [
            Row(
                f"{label}: CPU per feed",
                f"{median(per_feed):.2f} ms ({spread(per_feed, '{:.2f}')})",
                "≤ 1 ms (RSStT 2.0 ms)",
                median(per_feed) <= 1.0,
            ),
            Row(
                f"{label}: wall, {feeds:,} feeds",
                f"{median(walls):.2f} s ({spread(walls, '{:.2f}')})",
                "≤ 5 s",
                median(walls) <= 5.0,
            ),
            Row(
                f"{label}: peak memory",
                f"{median(peaks) / MB:.0f} MB",
                "≤ 100 MB (RSStT 136 MB)",
                median(peaks) <= 100 * MB,
            ),
        ]
    return rows


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["serve"]:
        serve(int(args[1]))
    elif args[:1] == ["worker"]:
        worker(args[1], Path(args[2]), Path(args[3]), int(args[4]), int(args[5]))
    else:
        parser = argparse.ArgumentParser(prog="python -m tests.bench poll")
        parser.add_argument("--runs", type=int, default=5)
        parser.add_argument("--feeds", type=int, default=1000)
        options = parser.parse_args(args)
        run(options.runs, options.feeds)


if __name__ == "__main__":
    main()
