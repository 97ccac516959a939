"""Dispatcher: queued alerts through the real Dispatcher, TelegramSink and PTB to the fake Bot API.

    python -m tests.bench dispatch [--runs 5] [--alerts 1000]

The fake Bot API (tests/fakes/telegram_api.py: every call checked against the Bot API spec,
HTML parsed like Telegram does) runs in its own process, so the bot process is measured alone.
The bot is built as `vedette run` builds it (`build_application`: PTB's `HTTPXRequest`), with
a real SQLite outbox holding rendered news alerts (about 1 KB of HTML each).

- throughput: 1,000 alerts over 10 channels, no rate limit in the fake and none in vedette
  (`Limits` raised out of the way); `Dispatcher.drain` sends them one after the other.
- flood limit: the fake answers 429 past 20 messages a minute per chat
  (`rate_limit_per_chat = (20, 60.0)`) and vedette runs with its default `Limits` (20 a
  minute and 1 s apart per chat, 30 a second overall): 50 alerts to 2 channels, which needs
  the per-chat window (about 70 s).
- flood limit, time scaled ×10: the fake allows 20 per 6 s and vedette's `Limits` are scaled
  the same way (20 per 6 s per chat, 0.1 s apart, 300 a second overall): 1,000 alerts to 10
  channels (about 30 s).

CPU is `time.process_time()` of the bot process; wall time `time.perf_counter()`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.dispatcher import Dispatcher, Limits
from bot.render import render_news
from bot.store import Store
from bot.store.records import NewAlert
from bot.telegram.commands import build_application
from bot.telegram.sink import TelegramSink
from tests.bench.child import JsonLinesChild
from tests.bench.corpus import rss_feed
from tests.bench.report import Row, median, spread, table
from tests.fakes.telegram_api import TEST_TOKEN
from watchers.clock import utcnow
from watchers.feeds import parse_feed
from watchers.http import Validators
from watchers.items import NewsItem

CHATS = [-1001000000000 - n for n in range(10)]
UNLIMITED = Limits(per_chat=10**9, per_chat_gap=0.0, overall_per_second=10**9)
SCALED = Limits(per_chat=20, per_chat_window=6.0, per_chat_gap=0.1, overall_per_second=300)


# --- the fake Bot API (child process) ------------------------------------------------------


def serve() -> None:
    """Run the fake Bot API; obey commands on stdin, one JSON answer per line.

    `rate off` / `rate N SECONDS`: the per-chat flood limit, its memory of earlier messages
    emptied. `stats SECONDS`: sendMessage calls
    and 429 answers since the last `stats`, and the most messages any chat got within SECONDS.
    """
    from tests.fakes import telegram_api

    api = telegram_api.FakeTelegramAPI(TEST_TOKEN, chats=CHATS, nodelay=True)
    api.start()
    print(json.dumps({"url": api.url}), flush=True)
    calls = sent = 0
    try:
        for line in sys.stdin:
            command = line.split()
            answer: dict[str, Any] = {"ok": True}
            if command[:1] == ["rate"]:
                # A new run is a new bot with a new database: Telegram's memory of the last
                # run's messages would count against it (the bot cannot know about them).
                api.set_rate_limit(
                    None if command[1] == "off" else (int(command[1]), float(command[2]))
                )
            elif command[:1] == ["stats"]:
                window = float(command[1])
                messages = api.sent[sent:]
                sends = api.calls_to("sendMessage")[calls:]
                answer["calls"] = len(sends)
                answer["sent"] = len(messages)
                answer["too_many"] = len(sends) - len(messages)
                answer["violations"] = len(api.violations)
                answer["most_in_window"] = _most_in_window(messages, window)
                calls, sent = calls + len(sends), sent + len(messages)
            print(json.dumps(answer), flush=True)
    finally:
        api.stop()


def _most_in_window(messages: list[Any], window: float) -> int:
    """The most messages one chat received within any `window` seconds."""
    most = 0
    for chat in {m.chat_id for m in messages}:
        recent: deque[float] = deque()
        for message in (m for m in messages if m.chat_id == chat):
            recent.append(message.time)
            while recent[0] <= message.time - window:
                recent.popleft()
            most = max(most, len(recent))
    return most


class FakeHost(JsonLinesChild):
    """The fake Bot API process, seen from the benchmark."""

    def __init__(self) -> None:
        args = ["-m", "tests.bench.bench_dispatch", "serve"]
        super().__init__(args, name="the fake Bot API process")
        self.url: str = self.read()["url"]


# --- the bot (this process) ----------------------------------------------------------------


def alerts(count: int, chats: list[int]) -> list[NewAlert]:
    """`count` rendered news alerts (generated feeds' items), round robin over `chats`."""
    now = datetime(2026, 7, 2, tzinfo=UTC)
    items: list[NewsItem] = []
    feed = 0
    while len(items) < count:
        items += parse_feed(
            f"feed-{feed}", rss_feed(feed), content_type="", url="https://x.example/", now=now
        )
        feed += 1
    made = []
    for n, item in enumerate(items[:count]):
        rendered = render_news(
            rule_id="libya-belarus",
            source_id=item.source_id,
            title=item.title,
            summary=item.summary,
            link=item.link,
            published=item.published,
            terms=["haftar", "minsk* → minsk"],
        )
        chat = chats[n % len(chats)]
        made.append(
            NewAlert(
                dedup_key=f"news|{chat}|{item.key}",
                rule_ids=("libya-belarus",),
                source_id=item.source_id,
                item_key=item.key,
                channel=str(chat),
                chat_id=chat,
                html=rendered.html,
                plain=rendered.plain,
                link=rendered.link,
            )
        )
    return made


async def send_all(
    db: Path, url: str, queued: list[NewAlert], limits: Limits, grace: float
) -> dict[str, Any]:
    """Queue `queued` in a fresh outbox, then drain it through PTB; CPU, wall, what is left."""
    store = Store.open(db)
    try:
        store.record_success(
            "bench", "rss", utcnow(), validators=Validators(), alerts=queued, items=()
        )
        app = build_application(TEST_TOKEN, url, [], store, clock=utcnow)
        await app.bot.initialize()
        try:
            sink = TelegramSink(app.bot, secret=TEST_TOKEN)
            dispatcher = Dispatcher(store, sink, limits=limits, rng=random.Random(7))
            cpu, wall = time.process_time(), time.perf_counter()
            left = await dispatcher.drain(grace=grace)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        finally:
            await app.bot.shutdown()
        counts = store.outbox_counts()
    finally:
        store.close()
    return {"cpu": cpu, "wall": wall, "left": left, "sent": counts.sent, "failed": counts.failed}


def run(runs: int = 5, count: int = 1000) -> list[Row]:
    """Run the dispatcher benchmark, print its table, return its rows."""
    print(f"dispatcher: rendering {count:,} alerts…", flush=True)
    many = alerts(count, CHATS)
    few = alerts(50, CHATS[:2])
    host = FakeHost()
    throughput: list[dict[str, Any]] = []
    limited: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="vedette-bench-") as tmp:
            host.command("rate off")
            for number in range(runs):
                result = asyncio.run(
                    send_all(Path(tmp) / f"t{number}.db", host.url, many, UNLIMITED, 0.0)
                )
                result.update(host.command("stats 60"))
                throughput.append(result)
                print(
                    f"  run {number + 1}/{runs}: {count / result['wall']:,.0f} messages/s, "
                    f"{result['cpu'] / count * 1000:.2f} ms CPU each",
                    flush=True,
                )
            floods = min(runs, 3)  # not timed: three runs show the limit is kept
            for number in range(floods):
                host.command("rate 20 6")
                done = asyncio.run(
                    send_all(Path(tmp) / f"s{number}.db", host.url, many, SCALED, 30.0)
                )
                limited.append(("scaled", done, host.command("stats 6")))
                print(
                    f"  flood limit ×10 run {number + 1}/{floods}: {done['wall']:.0f} s", flush=True
                )
            host.command("rate 20 60")
            done = asyncio.run(send_all(Path(tmp) / "real.db", host.url, few, Limits(), 120.0))
            limited.append(("real", done, host.command("stats 60")))
            print(f"  flood limit (real time): {done['wall']:.0f} s", flush=True)
    finally:
        host.close()
    return _report(runs, count, throughput, limited)


def _report(
    runs: int,
    count: int,
    throughput: list[dict[str, Any]],
    limited: list[tuple[str, dict[str, Any], dict[str, Any]]],
) -> list[Row]:
    rates = [count / r["wall"] for r in throughput]
    per_message = [r["cpu"] / count * 1000 for r in throughput]
    capacity = [1000 / ms for ms in per_message]
    scaled = [(d, s) for kind, d, s in limited if kind == "scaled"]
    real = [(d, s) for kind, d, s in limited if kind == "real"]
    too_many = sum(s["too_many"] for _, _, s in limited)
    delivered = all(d["left"] == 0 and d["failed"] == 0 for _, d, _ in limited) and all(
        r["left"] == 0 and r["sent"] == count and r["failed"] == 0 for r in throughput
    )
    violations = max(s["violations"] for _, _, s in limited)
    notes = [
        f"fake Bot API in its own process; {count:,} rendered alerts "
        f"({sum(len(a.html) for a in alerts(20, CHATS)) / 20:,.0f} characters of HTML each) "
        f"over {len(CHATS)} channels",
        f"median of {runs} runs (min-max in brackets); CPU = process_time of the bot process",
        f"flood limit ×10: {len(scaled)} runs of {count:,} alerts, fake at 20 per 6 s per chat, "
        f"vedette's Limits scaled alike; most in any 6 s to one chat: "
        f"{max(s['most_in_window'] for _, s in scaled)}",
        f"flood limit in real time: {real[0][0]['sent']} alerts to 2 channels in "
        f"{real[0][0]['wall']:.0f} s with the default Limits; most in any 60 s to one chat: "
        f"{real[0][1]['most_in_window']}",
        f"every alert delivered, none failed, none left: {'yes' if delivered else 'NO'}; "
        f"calls the spec rejects: {violations}",
    ]
    rows = [
        Row(
            "no rate limit: messages per second",
            f"{median(rates):,.0f} ({spread(rates, '{:,.0f}')})",
            "≥ 300",
            median(rates) >= 300,
        ),
        Row(
            "no rate limit: bot CPU per message",
            f"{median(per_message):.2f} ms ({spread(per_message, '{:.2f}')})",
            "≤ 3.3 ms (300/s)",
            median(per_message) <= 1000 / 300,
        ),
        Row("  = messages per second the bot's CPU allows", f"{median(capacity):,.0f}"),
        Row(
            "with the 20-a-minute limit: 429 answers",
            f"{too_many}",
            "0",
            too_many == 0 and delivered,
        ),
    ]
    print(table("Dispatcher (python -m tests.bench dispatch)", notes, rows), flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["serve"]:
        serve()
        return
    parser = argparse.ArgumentParser(prog="python -m tests.bench dispatch")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--alerts", type=int, default=1000)
    options = parser.parse_args(args)
    run(options.runs, options.alerts)


if __name__ == "__main__":
    main()
