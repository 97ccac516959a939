"""Stories, edits and digests delivered: a real store, the dispatcher, and the real Telegram
sink (python-telegram-bot) against the fake Bot API, or a scripted sink.

What issue 12 asks: one story, one message. An item that joins a story is never a second
message: it is named in the first message (when that is not sent yet) or added to it by an
edit, at most one edit per message per minute; a message that cannot be edited is shown as a
failed edit, never sent again; a backlog goes out as digests; and nothing is lost on the way
(Telegram down, a message that failed, a kill between a send and its recording).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from bot.config.types import Channel
from bot.config.validate import parse_config
from bot.dispatcher import Dispatcher, Limits
from bot.news import NewsPoller, grouping_for
from bot.render import TELEGRAM_MESSAGE_LIMIT, visible_length
from bot.sinks import Edit, Message, SendOutcome, Sink
from bot.store import Store
from bot.store.records import NewAlert
from bot.store.stories import EDIT_GAP
from bot.stories import StoryGrouping, StoryKeys, canonical_link, language, text_key, title_numbers
from bot.telegram.sink import TelegramSink
from bot.timeutil import from_iso
from tests.fakes.feed_server import Entry, FeedServer, rss
from tests.fakes.scripted_sink import ScriptedSink
from tests.fakes.telegram_api import TEST_CHAT_ID, FakeTelegramAPI, utf16_len
from tests.helpers import Clock, config_text, new_alert, outbox_rows
from watchers.http import Validators
from watchers.rss import FeedReader

GROUPING = StoryGrouping(timedelta(hours=48))
UNKNOWN_CHAT = -1009999  # a chat the fake Bot API does not know: "chat not found"


@pytest.fixture(autouse=True)
def _ptb_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    """PTB_TIMEDELTA=1, as the bot runs (RetryAfter.retry_after is a timedelta)."""
    monkeypatch.setenv("PTB_TIMEDELTA", "1")


@pytest.fixture
def sink(telegram_sink: TelegramSink) -> TelegramSink:
    """The real sink over a real PTB Bot (conftest `telegram_sink`)."""
    return telegram_sink


def sender(
    store: Store, sink: Sink, clock: Clock, digest_after: int | None = None, per_chat: int = 1000
) -> Dispatcher:
    """A dispatcher without pacing gaps (edits and sends follow each other at once)."""
    return Dispatcher(
        store,
        sink,
        clock=clock,
        limits=Limits(per_chat=per_chat, per_chat_gap=0.0, overall_per_second=1000),
        rng=random.Random(1),
        digest_after=None if digest_after is None else (lambda: digest_after),
    )


def news(
    key: str,
    title: str,
    *,
    source: str,
    link: str,
    entities: Sequence[str] = ("haftar", "minsk"),
    chat: int | str = TEST_CHAT_ID,
    rules: Sequence[str] = ("r1",),
) -> NewAlert:
    """A news alert for item `key` of `source`, with its story keys (as `bot.news.story_keys`
    computes them; `entities` are the entity lists its text names)."""
    base = new_alert(key, *rules, source=source, chat=chat, plain=f"{title}\n{link}", link=link)
    return dataclasses.replace(
        base,
        html=f"<b>{title}</b>\n{link}",
        title=title,
        story=StoryKeys(
            link=canonical_link(link),
            lang=language(title),
            text=text_key(title, ""),
            numbers=title_numbers(title),
            entities=frozenset(entities),
            rules=frozenset(rules),
        ),
    )


def record(store: Store, clock: Clock, *alerts: NewAlert) -> int:
    """A poll of each alert's source bringing it, with stories grouped: alerts reported."""
    return sum(
        store.record_success(
            alert.source_id,
            "rss",
            clock(),
            validators=Validators(),
            alerts=[alert],
            grouping=GROUPING,
        )
        for alert in alerts
    )


FIRST = news("en-1", "Haftar lands in Minsk", source="bbc", link="https://bbc.example/haftar")
RU = news("ru-1", "Хафтар прилетел в Минск", source="zerkalo", link="https://zerkalo.example/1")
UK = news("uk-1", "Хафтар прилетів до Мінська", source="pravda", link="https://pravda.example/2")
BE = news("be-1", "Хафтар прыляцеў у Мінск", source="nn", link="https://nn.example/3")
OTHER = news(
    "en-2",
    "Belavia cancels flights to Istanbul",
    source="bbc",
    link="https://bbc.example/belavia",
    entities=("belavia", "istanbul"),
)
OTHER_RU = news(
    "ru-2",
    "Белавиа отменила рейсы в Стамбул",
    source="zerkalo",
    link="https://zerkalo.example/belavia",
    entities=("belavia", "istanbul"),
)


def links_in(message: object) -> list[str]:
    """The URLs a sent or edited message links to (its text_link entities)."""
    entities = getattr(message, "entities", ())
    return [e["url"] for e in entities if e.get("type") == "text_link"]


def edit_rows(store: Store) -> list[dict[str, object]]:
    return [row for row in outbox_rows(store) if row["kind"] == "edit"]


# ── joining a story ──


async def test_a_join_before_the_send_is_named_in_the_first_message(
    store: Store, telegram_api: FakeTelegramAPI, sink: TelegramSink
) -> None:
    """The story's message is not sent yet: the joined outlet is in it, no edit is queued,
    no second message is sent."""
    clock = Clock()
    assert record(store, clock, FIRST, RU) == 2
    assert [row["kind"] for row in outbox_rows(store)] == ["alert"]
    assert store.outbox_counts().joined == 1
    assert await sender(store, sink, clock).drain() == 0
    (message,) = telegram_api.messages_to(TEST_CHAT_ID)
    assert message.visible_text.startswith("Haftar lands in Minsk")
    assert "+ zerkalo (ru) — last 08:00 UTC" in message.visible_text
    assert "https://zerkalo.example/1" in links_in(message)
    assert telegram_api.edits == []
    assert edit_rows(store) == []


async def test_a_join_after_the_send_edits_the_message(
    store: Store, telegram_api: FakeTelegramAPI, sink: TelegramSink
) -> None:
    """The story's message was sent: one edit row, sent with editMessageText; the message
    now names the outlet, linked, with its language; no second sendMessage."""
    clock = Clock()
    record(store, clock, FIRST)
    dispatcher = sender(store, sink, clock)
    await dispatcher.drain()
    (sent,) = telegram_api.messages_to(TEST_CHAT_ID)
    clock.advance(300)
    record(store, clock, RU)
    (edit,) = edit_rows(store)
    (alert,) = [row for row in outbox_rows(store) if row["kind"] == "alert"]
    assert (edit["target_id"], edit["state"]) == (alert["id"], "pending")
    assert await dispatcher.drain() == 0
    (edited,) = telegram_api.edits
    assert edited.message_id == sent.message_id
    now = telegram_api.current_message(TEST_CHAT_ID, sent.message_id)
    assert now == edited
    assert edited.visible_text.startswith(sent.visible_text)
    assert edited.visible_text.endswith("+ zerkalo (ru) — last 08:05 UTC")
    assert "https://zerkalo.example/1" in links_in(edited)
    assert len(telegram_api.messages_to(TEST_CHAT_ID)) == 1
    assert [row["state"] for row in outbox_rows(store)] == ["sent", "sent"]


async def test_three_joins_within_a_minute_make_one_edit(
    store: Store, telegram_api: FakeTelegramAPI, sink: TelegramSink
) -> None:
    """Joins that arrive while an edit is pending ride on it: one edit names them all."""
    clock = Clock()
    record(store, clock, FIRST)
    dispatcher = sender(store, sink, clock)
    await dispatcher.drain()
    for alert in (RU, UK, BE):
        clock.advance(10)
        record(store, clock, alert)
    assert len(edit_rows(store)) == 1
    await dispatcher.drain()
    (edited,) = telegram_api.edits
    assert "+ zerkalo (ru) · pravda (uk) · nn (be) — last 08:00 UTC" in edited.visible_text
    assert store.outbox_counts().joined == 3


async def test_edits_of_one_message_are_a_minute_apart(
    store: Store, telegram_api: FakeTelegramAPI, sink: TelegramSink
) -> None:
    """After an edit, the next one waits until a minute has passed; the joins meanwhile are
    coalesced into it."""
    clock = Clock()
    record(store, clock, FIRST)
    dispatcher = sender(store, sink, clock)
    await dispatcher.drain()
    clock.advance(1)
    record(store, clock, RU)
    await dispatcher.drain(grace=0)
    assert len(telegram_api.edits) == 1
    for alert in (UK, BE):
        clock.advance(20)
        record(store, clock, alert)
        await dispatcher.drain(grace=0)
        assert len(telegram_api.edits) == 1  # not yet: the first edit was < 60 s ago
    assert len(edit_rows(store)) == 2
    clock.advance(20.5)
    await dispatcher.drain(grace=0)
    _, second = telegram_api.edits
    assert "zerkalo (ru) · pravda (uk) · nn (be)" in second.visible_text
    one, two = (from_iso(str(row["sent_at"])) for row in edit_rows(store))
    assert two - one >= EDIT_GAP


async def test_an_edit_that_changes_nothing_counts_as_sent(
    store: Store, telegram_api: FakeTelegramAPI, sink: TelegramSink
) -> None:
    """A join while the message was in flight queues an edit; the send failed for a while and
    went again with the join in it, so Telegram says "message is not modified": sent."""
    clock = Clock()
    record(store, clock, FIRST)
    (alert,) = outbox_rows(store)
    assert store.claim(alert["id"]) is not None  # in flight
    record(store, clock, RU)
    assert len(edit_rows(store)) == 1
    store.release(alert["id"], clock(), error="timed out")  # the send did not go through
    assert await sender(store, sink, clock).drain() == 0
    (message,) = telegram_api.messages_to(TEST_CHAT_ID)
    assert "zerkalo (ru)" in message.visible_text
    assert len(telegram_api.calls_to("editMessageText")) == 1
    assert telegram_api.edits == []
    assert [row["state"] for row in outbox_rows(store)] == ["sent", "sent"]


@pytest.mark.parametrize(
    ("fault", "error"),
    [("delete_message", "message to edit not found"), ("make_uneditable", "can't be edited")],
)
async def test_an_edit_of_a_deleted_message_fails_and_nothing_is_sent_again(
    store: Store, telegram_api: FakeTelegramAPI, sink: TelegramSink, fault: str, error: str
) -> None:
    """An admin deleted the message (or it can no longer be edited): the edit fails, /status
    shows it, the alert stays sent and is not sent a second time."""
    clock = Clock()
    record(store, clock, FIRST)
    dispatcher = sender(store, sink, clock)
    await dispatcher.drain()
    (sent,) = telegram_api.messages_to(TEST_CHAT_ID)
    getattr(telegram_api, fault)(TEST_CHAT_ID, sent.message_id)
    record(store, clock, RU)
    assert await dispatcher.drain() == 0
    counts = store.outbox_counts()
    assert (counts.sent, counts.failed, counts.edits_failed) == (1, 1, 1)
    (failure,) = counts.recent_failures
    alert_id = outbox_rows(store)[0]["id"]
    assert failure.startswith(f"edit of alert #{alert_id} (r1→main): ")
    assert error in failure.lower()
    assert len(telegram_api.calls_to("sendMessage")) == 1
    assert [row["state"] for row in outbox_rows(store)] == ["sent", "failed"]
    record(store, clock, UK)  # later joins are recorded; the failed edit stands for them
    assert await dispatcher.drain() == 0
    assert [row["state"] for row in outbox_rows(store)] == ["sent", "failed"]
    assert store.outbox_counts().joined == 2
    assert len(telegram_api.calls_to("sendMessage")) == 1


async def test_joins_to_a_failed_message_are_delivered_by_retry(
    store: Store, telegram_api: FakeTelegramAPI, sink: TelegramSink
) -> None:
    """The story's message failed for good (chat not found): its joins are one failed edit
    (shown in /status); once the chat is fixed, retry sends the message with every joined
    outlet, and the edit ends sent."""
    clock = Clock()
    first = dataclasses.replace(FIRST, chat_id=UNKNOWN_CHAT)
    record(store, clock, first)
    dispatcher = sender(store, sink, clock)
    await dispatcher.drain()
    assert [row["state"] for row in outbox_rows(store)] == ["failed"]
    record(store, clock, dataclasses.replace(RU, chat_id=UNKNOWN_CHAT))
    record(store, clock, dataclasses.replace(UK, chat_id=UNKNOWN_CHAT))
    (edit,) = edit_rows(store)
    assert edit["state"] == "failed"
    assert "was not delivered" in str(edit["last_error"])
    assert store.outbox_counts().edits_failed == 1
    telegram_api.chats.add(UNKNOWN_CHAT)
    assert store.retry_failed(clock()) == 2
    assert await dispatcher.drain() == 0
    (message,) = telegram_api.messages_to(UNKNOWN_CHAT)
    assert "+ zerkalo (ru) · pravda (uk)" in message.visible_text
    assert [row["state"] for row in outbox_rows(store)] == ["sent", "sent"]
    assert store.outbox_counts().edits_failed == 0


async def test_telegram_down_while_edits_are_due_then_up(
    store: Store, telegram_api: FakeTelegramAPI, sink: TelegramSink
) -> None:
    """Telegram is unreachable when edits of two messages are due, and more joins come
    meanwhile: once it is back, each message gets one edit naming every join."""
    clock = Clock()
    record(store, clock, FIRST, OTHER)
    dispatcher = sender(store, sink, clock)
    await dispatcher.drain()
    first, other = telegram_api.messages_to(TEST_CHAT_ID)
    telegram_api.down(600)
    record(store, clock, RU, OTHER_RU)
    assert await dispatcher.drain(grace=0) == 2
    assert dispatcher.transient_streak == 1
    clock.advance(30)
    record(store, clock, UK)
    assert len(edit_rows(store)) == 2
    telegram_api.up()
    clock.advance(300)  # past the backoff
    assert await dispatcher.drain() == 0
    assert sorted(e.message_id for e in telegram_api.edits) == sorted(
        [first.message_id, other.message_id]
    )
    story = telegram_api.current_message(TEST_CHAT_ID, first.message_id)
    assert story is not None
    assert "+ zerkalo (ru) · pravda (uk)" in story.visible_text
    belavia = telegram_api.current_message(TEST_CHAT_ID, other.message_id)
    assert belavia is not None
    assert "+ zerkalo (ru)" in belavia.visible_text
    assert len(telegram_api.messages_to(TEST_CHAT_ID)) == 2
    assert store.outbox_counts().pending == 0


async def test_one_article_in_two_feeds_of_an_outlet_is_one_story(store: Store) -> None:
    """The same link with other tracking parameters, or its AMP copy, in another feed of the
    outlet joins the story by its link, whatever its title."""
    clock = Clock()
    world = news(
        "w-1",
        "Haftar lands in Minsk",
        source="bbc-world",
        link="https://www.bbc.example/news/world-1?at_medium=RSS&utm_source=world",
        entities=(),
    )
    africa = news(
        "a-1",
        "Libyan commander in Belarus",
        source="bbc-africa",
        link="https://bbc.example/news/world-1?utm_source=africa",
        entities=(),
    )
    amp = news(
        "amp-1",
        "Libya: commander flies north",
        source="bbc-amp",
        link="https://amp.bbc.example/news/world-1/amp",
        entities=(),
    )
    record(store, clock, world, africa, amp)
    rows = outbox_rows(store)
    assert [row["source_id"] for row in rows] == ["bbc-world"]
    members = store.story_members(rows[0]["id"])
    assert [(m.source_id, m.reason) for m in members] == [
        ("bbc-africa", "link"),
        ("bbc-amp", "link"),
    ]


# ── digests ──


def numbered(n: int, *, title_words: int = 1) -> NewAlert:
    """News alert n, a story of its own (its title's number differs from every other's)."""
    title = f"Haftar story {n} " + "word " * title_words
    return news(
        f"d-{n}",
        title.strip(),
        source=f"src{n % 3}",
        link=f"https://news.example/d/{n}",
        entities=(f"e{n}",),
    )


async def test_a_backlog_goes_out_as_digests(
    store: Store, telegram_api: FakeTelegramAPI, sink: TelegramSink
) -> None:
    """More than digest_after news alerts due at once: digest messages, each within 4096,
    every alert in exactly one of them (by title and link), rows sent with a shared
    digest_id; a route alert due at the same time is sent on its own."""
    clock = Clock()
    record(store, clock, *(numbered(n, title_words=35) for n in range(1, 31)))
    route = new_alert("route-1", "route-rule", source="routes", chat=TEST_CHAT_ID)
    store.record_success("routes", "routes", clock(), validators=Validators(), alerts=[route])
    assert await sender(store, sink, clock, digest_after=10).drain() == 0
    messages = telegram_api.messages_to(TEST_CHAT_ID)
    digests = [m for m in messages if m.visible_text.startswith("Digest: ")]
    assert len(digests) >= 2
    assert [m.visible_text for m in messages if m not in digests] == ["route-1"]
    for message in digests:
        assert utf16_len(message.visible_text) <= TELEGRAM_MESSAGE_LIMIT
    for n in range(1, 31):
        holding = [m for m in digests if f"Haftar story {n} word" in m.visible_text]
        assert len(holding) == 1, n
        assert links_in(holding[0]).count(f"https://news.example/d/{n}") == 1
    rows = [row for row in outbox_rows(store) if row["source_id"] != "routes"]
    assert {row["state"] for row in outbox_rows(store)} == {"sent"}
    by_digest: dict[object, list[dict[str, object]]] = {}
    for row in rows:
        by_digest.setdefault(row["digest_id"], []).append(row)
    assert len(by_digest) == len(digests)
    for digest_id, members in by_digest.items():
        assert digest_id == min(row["id"] for row in members)  # type: ignore[type-var]
        assert len({row["message_id"] for row in members}) == 1
        count = f"Digest: {len(members)} alerts"
        (message,) = [m for m in digests if m.message_id == members[0]["message_id"]]
        assert message.visible_text.startswith(count)
    (route_row,) = [row for row in outbox_rows(store) if row["source_id"] == "routes"]
    assert route_row["digest_id"] is None


async def test_at_most_digest_after_alerts_go_out_one_by_one(store: Store) -> None:
    """digest_after alerts due at once are still separate messages."""
    clock = Clock()
    record(store, clock, *(numbered(n) for n in range(1, 11)))
    sink = ScriptedSink(clock)
    assert await sender(store, sink, clock, digest_after=10).drain() == 0
    assert len(sink.messages) == 10
    assert not any(m.plain.startswith("Digest") for m in sink.messages)
    assert all(row["digest_id"] is None for row in outbox_rows(store))


async def test_a_join_to_an_alert_in_a_digest_edits_the_digest(store: Store) -> None:
    """An outlet joining a story sent in a digest: the digest is edited, its line counting
    the story's sources."""
    clock = Clock()
    record(store, clock, *(numbered(n) for n in range(1, 13)))
    sink = ScriptedSink(clock)
    dispatcher = sender(store, sink, clock, digest_after=10)
    await dispatcher.drain()
    (digest,) = sink.messages
    joined = news(
        "d-5-copy", "Haftar story 5 word", source="other", link="https://news.example/d/5"
    )
    record(store, clock, joined)
    await dispatcher.drain()
    (edit,) = sink.edits
    assert edit.message_id == 1
    assert "Haftar story 5 word · r1 · +1 source" in edit.plain
    assert edit.plain.startswith("Digest: 12 alerts")
    assert digest.plain.count("\n") == 12


# ── end to end ──


def stories_config(api_url: str, feeds: dict[str, str]) -> str:
    """rules.toml: the feeds, one keyword rule, stories grouped by Haftar and Minsk."""
    return config_text(api_url, feeds, alert_existing=True) + (
        '\n[terms]\nhaftar = ["haftar*", "хафтар*"]\nminsk = ["minsk", "минск*", "мінськ*"]\n'
        '\n[stories]\nentities = ["haftar", "minsk"]\n'
    )


async def test_news_to_telegram_end_to_end(
    store: Store, feed_server: FeedServer, telegram_api: FakeTelegramAPI, sink: TelegramSink
) -> None:
    """Real feeds polled by the NewsPoller, sent by the dispatcher through PTB: an English
    article, then the same article in another feed of the outlet (AMP link) and a Russian
    report of the same event: one message, edited once to name both."""
    feed_server.route(
        "/world",
        body=rss([Entry("Haftar lands in Minsk", link="https://bbc.example/1?utm_source=rss")]),
    )
    feed_server.route("/europe", body=rss([]))
    feed_server.route("/ru", body=rss([]))
    feeds = {name: feed_server.url(f"/{name}") for name in ("world", "europe", "ru")}
    config = parse_config(stories_config(telegram_api.url, feeds), "rules.toml")
    clock = Clock()
    dispatcher = sender(store, sink, clock, digest_after=config.delivery.digest_after)
    sources = {source.id: source for source in config.news_sources}
    async with httpx.AsyncClient() as client:
        reader = FeedReader(client)
        try:
            poller = NewsPoller(
                store,
                reader,
                config.keyword_rules,
                config.channels,
                clock=clock,
                grouping=grouping_for(config),
            )
            for name in ("world", "europe", "ru"):
                await poller.poll(sources[name])
            await dispatcher.drain()
            (sent,) = telegram_api.messages_to(TEST_CHAT_ID)
            assert sent.visible_text.startswith("Haftar lands in Minsk")
            clock.advance(120)
            feed_server.route(
                "/europe",
                body=rss(
                    [
                        Entry(
                            "Libyan commander Haftar visits Belarus",
                            link="https://bbc.example/1/amp",
                        )
                    ]
                ),
            )
            feed_server.route(
                "/ru",
                body=rss([Entry("Хафтар прилетел в Минск", link="https://ru.example/haftar")]),
            )
            assert (await poller.poll(sources["europe"])).alerts == 1
            assert (await poller.poll(sources["ru"])).alerts == 1
            assert await dispatcher.drain() == 0
        finally:
            reader.close()
    assert len(telegram_api.messages_to(TEST_CHAT_ID)) == 1
    (edited,) = telegram_api.edits
    assert edited.message_id == sent.message_id
    assert edited.visible_text.endswith("+ europe (en) · ru (ru) — last 08:02 UTC")
    assert {"https://bbc.example/1/amp", "https://ru.example/haftar"} <= set(links_in(edited))
    members = store.story_members(outbox_rows(store)[0]["id"])
    assert [(m.source_id, m.reason) for m in members] == [("europe", "link"), ("ru", "entities")]


# ── a kill between a send and its recording ──


class Killed(BaseException):
    """The process died (SIGKILL): nothing after this point runs, nothing is cleaned up."""


class KilledAfterSend:
    """The real sink, then death before the dispatcher records what Telegram answered."""

    name = "telegram"

    def __init__(self, sink: TelegramSink) -> None:
        self.sink = sink

    async def send(self, message: Message) -> SendOutcome:
        await self.sink.send(message)
        raise Killed

    async def edit(self, edit: Edit) -> SendOutcome:
        await self.sink.edit(edit)
        raise Killed


async def test_a_kill_after_a_send_resends_the_story_and_edits_the_new_message(
    tmp_path: Path, telegram_api: FakeTelegramAPI, sink: TelegramSink
) -> None:
    """Telegram accepted the story's message, the process died before recording its id: the
    row is left 'sending'; after the restart it is sent again (one duplicate at most) and a
    later join edits the new message, the one whose id was recorded."""
    db = tmp_path / "vedette.db"
    clock = Clock()
    store = Store.open(db)
    record(store, clock, FIRST)
    with pytest.raises(Killed):
        await sender(store, KilledAfterSend(sink), clock).drain()
    assert [row["state"] for row in outbox_rows(store)] == ["sending"]
    record(store, clock, UK)  # a poll of the dying process: a join while the send was in flight
    assert [row["kind"] for row in outbox_rows(store)] == ["alert", "edit"]
    store.close()  # the process is gone; what it committed stays

    clock.advance(5)
    store = Store.open(db)
    try:
        assert store.recover_inflight() == 1
        dispatcher = sender(store, sink, clock)
        assert await dispatcher.drain() == 0
        lost, resent = telegram_api.messages_to(TEST_CHAT_ID)
        assert "pravda (uk)" not in lost.visible_text
        assert resent.visible_text.startswith(lost.visible_text)
        assert resent.visible_text.endswith("+ pravda (uk) — last 08:00 UTC")
        assert telegram_api.edits == []  # the edit found the resent message already so
        assert outbox_rows(store)[0]["message_id"] == resent.message_id
        clock.advance(60)
        record(store, clock, RU)  # the story index is loaded again from story_items
        assert await dispatcher.drain() == 0
    finally:
        store.close()
    (edited,) = telegram_api.edits
    assert edited.message_id == resent.message_id
    assert "+ pravda (uk) · zerkalo (ru)" in edited.visible_text
    assert telegram_api.current_message(TEST_CHAT_ID, lost.message_id) == lost
    assert len(telegram_api.messages_to(TEST_CHAT_ID)) == 2


async def test_an_edited_full_digest_still_holds_every_alert(store: Store) -> None:
    """A digest filled to the last character: a join adds "· +1 source" to one line, and
    the edited digest must still hold every alert it was sent with (else an alert vanishes
    from the chat, its row marked sent)."""
    clock = Clock()
    # 19 lines of 214 characters and the heading fill 4095 of 4096 characters
    alerts = [
        news(
            f"f-{n}",
            f"Haftar story {n:02d} ".ljust(186, "x"),
            source="src0",
            link=f"https://news.example/f/{n}",
        )
        for n in range(1, 26)
    ]
    record(store, clock, *alerts)
    sink = ScriptedSink(clock)
    dispatcher = sender(store, sink, clock, digest_after=10)
    await dispatcher.drain()
    full, rest = sink.messages
    assert full.plain.startswith("Digest: 19 alerts")
    assert len(full.plain) == TELEGRAM_MESSAGE_LIMIT - 1
    assert rest.plain.startswith("Digest: 6 alerts")
    copy = news("f-1-copy", "Haftar story 01", source="other", link="https://news.example/f/1")
    record(store, clock, copy)
    await dispatcher.drain()
    (edit,) = sink.edits
    assert edit.message_id == 1
    assert visible_length(edit.plain) <= TELEGRAM_MESSAGE_LIMIT
    for n in range(1, 20):
        assert f"Haftar story {n:02d} " in edit.plain, n


async def test_edits_count_towards_the_flood_limit(store: Store) -> None:
    """An edit is a message for Telegram's per-chat limit: with 2 a minute, an alert after
    a message and its edit waits for the window."""
    clock = Clock()
    record(store, clock, FIRST)
    sink = ScriptedSink(clock)
    dispatcher = sender(store, sink, clock, per_chat=2)
    await dispatcher.drain(grace=0)
    record(store, clock, RU, OTHER)
    assert await dispatcher.drain(grace=0) == 1
    assert (len(sink.messages), len(sink.edits)) == (1, 1)
    clock.advance(60)
    assert await dispatcher.drain(grace=0) == 0
    assert len(sink.messages) == 2


async def test_an_edit_goes_to_the_chat_its_message_is_in(store: Store) -> None:
    """The channel was moved to another chat (rules.toml) after the story's message was sent:
    the edit is of the message where it is, not of a message with that id in the new chat;
    new alerts go to the new chat."""
    clock = Clock()
    chats = {"main": Channel("main", TEST_CHAT_ID)}
    sink = ScriptedSink(clock)
    dispatcher = Dispatcher(
        store,
        sink,
        clock=clock,
        limits=Limits(per_chat_gap=0.0),
        rng=random.Random(1),
        channels=lambda: chats,
    )
    record(store, clock, FIRST)
    await dispatcher.drain()
    chats["main"] = Channel("main", -100555)
    record(store, clock, RU, OTHER)
    await dispatcher.drain()
    (edit,) = sink.edits
    assert (edit.chat_id, edit.message_id) == (TEST_CHAT_ID, 1)
    assert [m.chat_id for m in sink.messages] == [TEST_CHAT_ID, -100555]


async def test_a_kill_after_an_edit_sends_it_again_harmlessly(
    tmp_path: Path, telegram_api: FakeTelegramAPI, sink: TelegramSink
) -> None:
    """Telegram applied an edit, the process died before recording it: after the restart
    the edit goes again, Telegram says "message is not modified", and it is recorded sent."""
    db = tmp_path / "vedette.db"
    clock = Clock()
    store = Store.open(db)
    record(store, clock, FIRST)
    await sender(store, sink, clock).drain()
    record(store, clock, RU)
    with pytest.raises(Killed):
        await sender(store, KilledAfterSend(sink), clock).drain()
    store.close()
    store = Store.open(db)
    try:
        assert store.recover_inflight() == 1
        assert await sender(store, sink, clock).drain() == 0
        assert [row["state"] for row in outbox_rows(store)] == ["sent", "sent"]
    finally:
        store.close()
    (edited,) = telegram_api.edits
    assert len(telegram_api.calls_to("editMessageText")) == 2
    assert "+ zerkalo (ru)" in edited.visible_text
    assert len(telegram_api.messages_to(TEST_CHAT_ID)) == 1


@pytest.mark.parametrize("restart", [False, True])
async def test_a_story_is_open_for_its_window_only(tmp_path: Path, restart: bool) -> None:
    """An item joins a story queued within `[stories] window`; after it, the same event is
    a new alert. The same holds after a restart (the stories are loaded from the database)."""
    db = tmp_path / "vedette.db"
    clock = Clock()
    store = Store.open(db)
    try:
        record(store, clock, FIRST)
        clock.advance(GROUPING.window.total_seconds())
        if restart:
            store.close()
            store = Store.open(db)
        record(store, clock, RU)
        clock.advance(1)
        if restart:
            store.close()
            store = Store.open(db)
        record(store, clock, UK)
        assert [(row["kind"], row["source_id"]) for row in outbox_rows(store)] == [
            ("alert", "bbc"),
            ("alert", "pravda"),
        ]
        (first, second) = (row["id"] for row in outbox_rows(store))
        assert [m.source_id for m in store.story_members(first)] == ["zerkalo"]
        assert store.story_members(second) == []
    finally:
        store.close()


@pytest.mark.parametrize("restart", [False, True])
async def test_a_near_copy_joins_through_the_store(tmp_path: Path, restart: bool) -> None:
    """A near copy in the same language, from another outlet with another link, joins
    the story through the store, in the poll's transaction and after a restart (the index
    loaded from `story_items`); an item whose title differs only by its numbers is not a
    copy."""
    db = tmp_path / "vedette.db"
    clock = Clock()
    store = Store.open(db)
    title = "Telegraph: Putin and Haftar may be preparing a migration crisis in the EU"
    first = news("en-a", title, source="babel", link="https://babel.example/1")
    copy = news("en-b", f"{title} again", source="liga", link="https://liga.example/2")
    daily = news(
        "en-c", "Border guards: 120 attempts to cross", source="sg", link="https://sg.example/1"
    )
    later = news(
        "en-d", "Border guards: 85 attempts to cross", source="sg", link="https://sg.example/2"
    )
    try:
        record(store, clock, first, daily)
        if restart:
            store.close()
            store = Store.open(db)
        clock.advance(60)
        record(store, clock, copy, later)
        rows = outbox_rows(store)
        assert [row["source_id"] for row in rows] == ["babel", "sg", "sg"]
        assert [m.source_id for m in store.story_members(rows[0]["id"])] == ["liga"]
        assert store.story_members(rows[1]["id"]) == []
    finally:
        store.close()
