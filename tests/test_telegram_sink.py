"""The Telegram sink, end to end: the real python-telegram-bot against the fake Bot API."""

from __future__ import annotations

import datetime as dt
import warnings

import pytest
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from bot.redact import redact, redact_secret
from bot.render import render_news
from bot.sinks import (
    BadMarkup,
    Edit,
    Message,
    Migrated,
    Permanent,
    RetryLater,
    SendOutcome,
    Sent,
    Transient,
)
from bot.telegram.sink import TelegramSink, classify, classify_edit
from tests.fakes.telegram_api import (
    DEFAULT_MIGRATE_TO,
    TEST_CHAT_ID,
    TEST_TOKEN,
    FakeTelegramAPI,
)
from tests.helpers import fake_bot

TOKEN_SECRET = TEST_TOKEN.split(":", 1)[1]


@pytest.fixture(autouse=True)
def _ptb_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    """PTB_TIMEDELTA=1, as the bot runs: RetryAfter.retry_after is a timedelta, no warning."""
    monkeypatch.setenv("PTB_TIMEDELTA", "1")


@pytest.fixture
def sink(telegram_sink: TelegramSink) -> TelegramSink:
    """A sink over an initialised real PTB Bot (conftest `telegram_sink`)."""
    return telegram_sink


def news_message(
    *,
    title: str = "Haftar meets Belavia delegation",
    link: str = "https://example.com/news/1",
    chat_id: int | str = TEST_CHAT_ID,
    as_plain: bool = False,
) -> Message:
    rendered = render_news(
        rule_id="libya-belarus",
        source_id="ukr-pravda-en",
        title=title,
        summary="A delegation flew from Benghazi to Minsk.",
        link=link,
        published=dt.datetime(2026, 5, 2, 14, 5, tzinfo=dt.UTC),
        terms=["haftar", "belavia"],
    )
    return Message(1, chat_id, rendered.html, rendered.plain, rendered.link, as_plain)


def assert_no_token(outcome: SendOutcome) -> None:
    text = repr(outcome)
    assert TEST_TOKEN not in text
    assert TOKEN_SECRET not in text


# ── end to end ──


async def test_send_delivers_html_with_link_preview(
    sink: TelegramSink, telegram_api: FakeTelegramAPI
) -> None:
    """A normal send is one HTML sendMessage with a small link preview; Sent has its id."""
    message = news_message()
    outcome = await sink.send(message)
    (sent,) = telegram_api.sent
    assert outcome == Sent(sent.message_id)
    assert sent.chat_id == TEST_CHAT_ID
    assert sent.parse_mode == "HTML"
    assert sent.text == message.html
    assert sent.visible_text == message.plain
    assert sent.link_preview_options == {
        "url": "https://example.com/news/1",
        "prefer_small_media": True,
    }


async def test_markup_in_a_title_arrives_literally(
    sink: TelegramSink, telegram_api: FakeTelegramAPI
) -> None:
    """A feed title with <script> and & is shown as text, not parsed."""
    outcome = await sink.send(news_message(title="<script>alert(1)</script> & <b>co</b>"))
    assert isinstance(outcome, Sent)
    visible = telegram_api.sent[0].visible_text
    assert visible.startswith("<script>alert(1)</script> & <b>co</b>\n")


async def test_no_link_disables_the_preview(
    sink: TelegramSink, telegram_api: FakeTelegramAPI
) -> None:
    """Without a link the preview is disabled explicitly."""
    assert isinstance(await sink.send(news_message(link="")), Sent)
    assert telegram_api.sent[0].link_preview_options == {"is_disabled": True}


async def test_flood_control_is_retry_later(
    sink: TelegramSink, telegram_api: FakeTelegramAPI
) -> None:
    """A 429 becomes RetryLater with Telegram's retry_after."""
    telegram_api.fail_next("sendMessage", "429", retry_after=17)
    outcome = await sink.send(news_message())
    assert isinstance(outcome, RetryLater)
    assert outcome.seconds == 17.0
    assert telegram_api.sent == []


@pytest.mark.parametrize("kind", ["500", "502", "drop"])
async def test_server_errors_are_transient(
    sink: TelegramSink, telegram_api: FakeTelegramAPI, kind: str
) -> None:
    """5xx answers and dropped connections are Transient (outcome unknown, retry)."""
    telegram_api.fail_next("sendMessage", kind)
    outcome = await sink.send(news_message())
    assert isinstance(outcome, Transient)
    assert_no_token(outcome)
    assert isinstance(await sink.send(news_message()), Sent)


async def test_a_hanging_request_times_out_as_transient(telegram_api: FakeTelegramAPI) -> None:
    """A request Telegram never answers is a Transient "timed out" after the read timeout."""
    telegram_api.fail_next("sendMessage", "hang", seconds=3)
    async with fake_bot(telegram_api, read_timeout=0.3) as bot:
        outcome = await TelegramSink(bot).send(news_message())
    assert isinstance(outcome, Transient)
    assert outcome.error.startswith("timed out")
    assert_no_token(outcome)


async def test_an_outage_is_transient_until_it_ends(
    sink: TelegramSink, telegram_api: FakeTelegramAPI
) -> None:
    """While the API is down every send is Transient; after up() it is delivered."""
    telegram_api.down(60)
    outcome = await sink.send(news_message())
    assert isinstance(outcome, Transient)
    assert_no_token(outcome)
    telegram_api.up()
    assert isinstance(await sink.send(news_message()), Sent)


async def test_unknown_chat_is_permanent(sink: TelegramSink, telegram_api: FakeTelegramAPI) -> None:
    """A chat the bot is not in is Permanent ("chat not found")."""
    outcome = await sink.send(news_message(chat_id=-100555))
    assert isinstance(outcome, Permanent)
    assert "chat not found" in outcome.error.lower()
    telegram_api.fail_next("sendMessage", "chat_not_found")
    assert isinstance(await sink.send(news_message()), Permanent)


async def test_kicked_bot_is_permanent(sink: TelegramSink, telegram_api: FakeTelegramAPI) -> None:
    """403 "bot is not a member of the channel chat" is Permanent."""
    telegram_api.fail_next("sendMessage", "forbidden")
    outcome = await sink.send(news_message())
    assert isinstance(outcome, Permanent)
    assert "not a member" in outcome.error


async def test_unparsable_html_is_bad_markup_and_plain_resend_works(
    sink: TelegramSink, telegram_api: FakeTelegramAPI
) -> None:
    """HTML Telegram cannot parse is BadMarkup; the same row resent as plain is delivered."""
    broken = Message(7, TEST_CHAT_ID, "<b>unclosed & <x>", "unclosed & <x>", "")
    outcome = await sink.send(broken)
    assert isinstance(outcome, BadMarkup)
    assert "can't parse entities" in outcome.error.lower()
    resent = await sink.send(Message(7, TEST_CHAT_ID, broken.html, broken.plain, "", True))
    assert isinstance(resent, Sent)
    (sent,) = telegram_api.sent
    assert sent.parse_mode is None
    assert sent.text == sent.visible_text == "unclosed & <x>"


async def test_injected_parse_error_is_bad_markup(
    sink: TelegramSink, telegram_api: FakeTelegramAPI
) -> None:
    """The "parse_entities" fault classifies as BadMarkup too."""
    telegram_api.fail_next("sendMessage", "parse_entities")
    assert isinstance(await sink.send(news_message()), BadMarkup)


async def test_migrated_group_gives_the_new_id(
    sink: TelegramSink, telegram_api: FakeTelegramAPI
) -> None:
    """A group upgraded to a supergroup is Migrated with the new id, which then works."""
    telegram_api.fail_next("sendMessage", "migrate")
    outcome = await sink.send(news_message())
    assert isinstance(outcome, Migrated)
    assert outcome.new_chat_id == DEFAULT_MIGRATE_TO
    assert isinstance(await sink.send(news_message(chat_id=outcome.new_chat_id)), Sent)
    assert telegram_api.messages_to(DEFAULT_MIGRATE_TO) != []


async def test_revoked_token_keeps_the_row(
    sink: TelegramSink, telegram_api: FakeTelegramAPI
) -> None:
    """A 401 (token revoked after start) is Transient (the row waits for a fixed token)."""
    telegram_api.token = "123456:another-token_abcdefghijklmnopqrstuvw"
    outcome = await sink.send(news_message())
    assert isinstance(outcome, Transient)
    assert "token was rejected" in outcome.error
    assert_no_token(outcome)


async def test_no_outcome_ever_contains_the_token(
    sink: TelegramSink, telegram_api: FakeTelegramAPI
) -> None:
    """Across every failure kind, no outcome's error string contains the bot token."""
    kinds = ["429", "500", "502", "chat_not_found", "forbidden", "parse_entities", "migrate"]
    outcomes = []
    for kind in kinds:
        telegram_api.fail_next("sendMessage", kind)
        outcomes.append(await sink.send(news_message()))
    telegram_api.fail_next("sendMessage", "drop")
    outcomes.append(await sink.send(news_message()))
    assert not any(isinstance(o, Sent) for o in outcomes)
    for outcome in outcomes:
        assert_no_token(outcome)


# ── edits ──

NEW_HTML = '<b>Haftar meets Belavia delegation</b>\n+ <a href="https://bbc.com/ru/1">BBC</a> (ru)'
NEW_PLAIN = "Haftar meets Belavia delegation\n+ BBC (ru)"


def story_edit(
    message_id: int | None,
    *,
    html: str = NEW_HTML,
    plain: str = NEW_PLAIN,
    link: str = "https://example.com/news/1",
    as_plain: bool = False,
) -> Edit:
    return Edit(2, TEST_CHAT_ID, message_id, html, plain, "same story as #1", link, as_plain)


async def sent_id(sink: TelegramSink) -> int:
    """Send the usual news message; its Telegram message id."""
    outcome = await sink.send(news_message())
    assert isinstance(outcome, Sent)
    assert outcome.message_id is not None
    return outcome.message_id


async def test_an_edit_changes_the_message(
    sink: TelegramSink, telegram_api: FakeTelegramAPI
) -> None:
    """An edit is one HTML editMessageText of the message, previewing the link as a send
    does; the message then reads the new text."""
    message_id = await sent_id(sink)
    assert await sink.edit(story_edit(message_id)) == Sent(message_id)
    (edited,) = telegram_api.edits
    assert (edited.chat_id, edited.message_id) == (TEST_CHAT_ID, message_id)
    assert (edited.text, edited.parse_mode) == (NEW_HTML, "HTML")
    assert edited.link_preview_options == telegram_api.sent[0].link_preview_options
    assert telegram_api.current_message(TEST_CHAT_ID, message_id) == edited
    assert edited.visible_text == NEW_PLAIN


async def test_an_edit_that_changes_nothing_counts_as_sent(
    sink: TelegramSink, telegram_api: FakeTelegramAPI
) -> None:
    """Telegram's "message is not modified" (the text is already the message's, e.g. an edit
    resent after a timeout) is Sent with the message's id."""
    message_id = await sent_id(sink)
    assert await sink.edit(story_edit(message_id)) == Sent(message_id)
    assert await sink.edit(story_edit(message_id)) == Sent(message_id)
    assert len(telegram_api.calls_to("editMessageText")) == 2
    assert len(telegram_api.edits) == 1


async def test_an_edit_of_a_deleted_or_unknown_message_is_permanent(
    sink: TelegramSink, telegram_api: FakeTelegramAPI
) -> None:
    """ "message to edit not found" (deleted, or never there) is Permanent, with its text."""
    message_id = await sent_id(sink)
    telegram_api.delete_message(TEST_CHAT_ID, message_id)
    for target in (message_id, message_id + 100):
        outcome = await sink.edit(story_edit(target))
        assert isinstance(outcome, Permanent)
        assert "message to edit not found" in outcome.error.lower()
    assert telegram_api.edits == []


async def test_an_edit_of_an_uneditable_message_is_permanent(
    sink: TelegramSink, telegram_api: FakeTelegramAPI
) -> None:
    """ "message can't be edited" is Permanent, with its text."""
    message_id = await sent_id(sink)
    telegram_api.make_uneditable(TEST_CHAT_ID, message_id)
    outcome = await sink.edit(story_edit(message_id))
    assert isinstance(outcome, Permanent)
    assert "message can't be edited" in outcome.error.lower()


async def test_an_edit_without_a_message_id_is_permanent_without_a_request(
    sink: TelegramSink, telegram_api: FakeTelegramAPI
) -> None:
    """No message id recorded: nothing to edit; Permanent, and Telegram is not asked."""
    outcome = await sink.edit(story_edit(None))
    assert isinstance(outcome, Permanent)
    assert "no message id was recorded for it" in outcome.error
    assert telegram_api.calls_to("editMessageText") == []


async def test_an_edit_with_unparsable_html_is_bad_markup_then_plain_works(
    sink: TelegramSink, telegram_api: FakeTelegramAPI
) -> None:
    """HTML Telegram cannot parse is BadMarkup; the edit resent as plain text is applied."""
    message_id = await sent_id(sink)
    broken = story_edit(message_id, html="<b>unclosed & <x>", plain="unclosed & <x>")
    outcome = await sink.edit(broken)
    assert isinstance(outcome, BadMarkup)
    assert "can't parse entities" in outcome.error.lower()
    plain = story_edit(message_id, html=broken.html, plain=broken.plain, as_plain=True)
    assert await sink.edit(plain) == Sent(message_id)
    (edited,) = telegram_api.edits
    assert edited.parse_mode is None
    assert edited.text == edited.visible_text == "unclosed & <x>"


async def test_an_edit_under_flood_control_is_retry_later(
    sink: TelegramSink, telegram_api: FakeTelegramAPI
) -> None:
    """A 429 to an edit becomes RetryLater with Telegram's retry_after."""
    message_id = await sent_id(sink)
    telegram_api.fail_next("editMessageText", "429", retry_after=17)
    outcome = await sink.edit(story_edit(message_id))
    assert isinstance(outcome, RetryLater)
    assert outcome.seconds == 17.0
    assert telegram_api.edits == []


async def test_edits_and_sends_share_the_growing_read_timeout(
    telegram_api: FakeTelegramAPI,
) -> None:
    """A timed-out edit is Transient (it may have been applied) and the next request waits
    twice as long; a timed-out send makes the next edit wait longer too; an answer resets."""
    async with fake_bot(telegram_api, read_timeout=0.3) as bot:
        sink = TelegramSink(bot, secret=TEST_TOKEN)
        message_id = await sent_id(sink)
        telegram_api.fail_next("editMessageText", "hang", seconds=3)
        outcome = await sink.edit(story_edit(message_id))
        assert isinstance(outcome, Transient)
        assert outcome.error.startswith("timed out, the edit may or may not have been applied")
        assert outcome.error.endswith("no answer within 0.3s, the next attempt waits 0.6s")
        assert_no_token(outcome)
        telegram_api.fail_next("sendMessage", "hang", seconds=3)
        assert isinstance(await sink.send(news_message()), Transient)
        telegram_api.fail_next("editMessageText", "hang", seconds=3)
        outcome = await sink.edit(story_edit(message_id))
        assert isinstance(outcome, Transient)
        assert outcome.error.endswith("no answer within 1.2s, the next attempt waits 1.2s")
        assert await sink.edit(story_edit(message_id)) == Sent(message_id)
        assert sink.read_timeout == 0.3
    assert telegram_api.violations == []


@pytest.mark.parametrize("result", [True, "yes", {}])
async def test_an_ok_edit_answer_that_is_not_a_message_is_sent(
    sink: TelegramSink, telegram_api: FakeTelegramAPI, result: object
) -> None:
    """Telegram said ok (True, as for inline messages, or anything else): Sent with the
    edited message's id."""
    message_id = await sent_id(sink)
    telegram_api.fail_next("editMessageText", "ok_result", result=result)
    assert await sink.edit(story_edit(message_id)) == Sent(message_id)
    assert len(telegram_api.edits) == 1


async def test_no_edit_outcome_ever_contains_the_token(
    sink: TelegramSink, telegram_api: FakeTelegramAPI
) -> None:
    """Across every failure kind, no edit outcome's error string contains the bot token."""
    message_id = await sent_id(sink)
    kinds = ["429", "500", "502", "chat_not_found", "forbidden", "parse_entities", "migrate"]
    outcomes = []
    for kind in [*kinds, "drop"]:
        telegram_api.fail_next("editMessageText", kind)
        outcomes.append(await sink.edit(story_edit(message_id)))
    telegram_api.down(60)
    outcomes.append(await sink.edit(story_edit(message_id)))
    telegram_api.up()
    telegram_api.make_uneditable(TEST_CHAT_ID, message_id)
    outcomes.append(await sink.edit(story_edit(message_id)))
    outcomes.append(await sink.edit(story_edit(message_id + 1)))
    assert not any(isinstance(o, Sent) for o in outcomes)
    for outcome in outcomes:
        assert_no_token(outcome)


# ── classify, pure ──

URL = f"https://api.telegram.org/bot{TEST_TOKEN}/sendMessage"


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (ChatMigrated(-1002), Migrated),
        (BadRequest("Can't parse entities: unsupported start tag"), BadMarkup),
        (BadRequest("Bad Request: can't parse entities: x"), BadMarkup),
        (BadRequest("Chat not found"), Permanent),
        (BadRequest("Message is too long"), Permanent),
        (Forbidden("Forbidden: bot was blocked by the user"), Permanent),
        (InvalidToken("Unauthorized"), Transient),
        (TimedOut(), Transient),
        (NetworkError(f"httpx.ConnectError: cannot connect to {URL}"), Transient),
        (NetworkError("Bad Gateway (502)"), Transient),
        (Conflict("terminated by other getUpdates request"), Transient),
        (TelegramError("Invalid server response"), Transient),
        (RuntimeError(f"boom at {URL}"), Transient),
    ],
)
def test_classify(exc: Exception, expected: type) -> None:
    """Each PTB exception maps to its outcome; BadRequest is not treated as a NetworkError."""
    outcome = classify(exc)
    assert type(outcome) is expected
    assert_no_token(outcome)


def test_classify_retry_after_int_or_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    """retry_after works as a timedelta (PTB_TIMEDELTA=1) and as a deprecated int."""
    assert classify(RetryAfter(dt.timedelta(seconds=12))) == RetryLater(
        12.0, "RetryAfter: Flood control exceeded. Retry in 0:00:12"
    )
    monkeypatch.delenv("PTB_TIMEDELTA")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exc = RetryAfter(30)
    outcome = classify(exc)
    assert isinstance(outcome, RetryLater)
    assert outcome.seconds == 30.0


@pytest.mark.parametrize(
    ("description", "expected"),
    [
        (
            "Bad Request: message is not modified: specified new message content and reply "
            "markup are exactly the same as a current content and reply markup of the message",
            Sent(42),
        ),
        ("Bad Request: message to edit not found", Permanent),
        ("Bad Request: message can't be edited", Permanent),
        ("Bad Request: can't parse entities: Unexpected end tag at byte offset 1", BadMarkup),
    ],
)
def test_classify_edit(description: str, expected: object) -> None:
    """PTB drops "Bad Request: " and capitalises; "not modified" is Sent, the rest as send."""
    outcome = classify_edit(BadRequest(description), 42)
    if isinstance(expected, type):
        assert isinstance(outcome, expected)
    else:
        assert outcome == expected
    assert classify_edit(RetryAfter(dt.timedelta(seconds=3)), 42) == classify(
        RetryAfter(dt.timedelta(seconds=3))
    )


def test_classify_redacts_a_literal_secret() -> None:
    """`secret=` also removes a token that does not look like one."""
    outcome = classify(NetworkError("failed: s3cr3t-value"), secret="s3cr3t-value")
    assert outcome == Transient("NetworkError: failed: <redacted>")


def test_redact() -> None:
    """Token-shaped text is redacted in URLs and bare; other digits and colons are kept."""
    assert redact(URL) == "https://api.telegram.org/bot<redacted>/sendMessage"
    assert redact(f"token {TEST_TOKEN}!") == "token <redacted>!"
    assert redact("at 12:30, chat -1001234567890: ok") == "at 12:30, chat -1001234567890: ok"
    assert redact_secret("a hunter2 b", "hunter2") == "a <redacted> b"
    assert redact_secret("nothing", "") == "nothing"
