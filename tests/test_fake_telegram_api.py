"""The fake Bot API rejects what Telegram would reject; otherwise the sink tests prove nothing."""

from __future__ import annotations

import json
import threading
import time
import zlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from telegram import Bot

from tests.fakes.telegram_api import (
    DEFAULT_MIGRATE_TO,
    NOT_MODIFIED,
    TEST_CHAT_ID,
    TEST_TOKEN,
    EntityParseError,
    FakeTelegramAPI,
    parse_html,
    utf16_len,
)


@pytest.fixture
def client(telegram_api: FakeTelegramAPI) -> Iterator[httpx.Client]:
    """A plain HTTP client for the fake, so requests are exactly what the test writes."""
    with httpx.Client(base_url=telegram_api.url, timeout=5) as c:
        yield c


def call(
    client: httpx.Client, method: str, token: str = TEST_TOKEN, **kwargs: Any
) -> httpx.Response:
    return client.post(f"/bot{token}/{method}", **kwargs)


def send(client: httpx.Client, text: str, **extra: Any) -> httpx.Response:
    data = {"chat_id": str(TEST_CHAT_ID), "text": text, **extra}
    return call(client, "sendMessage", data=data)


def wait_for(predicate: Any, what: str) -> None:
    deadline = time.monotonic() + 5
    while not predicate():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.01)


# ── routing, token, spec validation ──


def test_unknown_method_is_404(client: httpx.Client) -> None:
    """A method the spec does not know answers Telegram's 404 envelope."""
    response = call(client, "sendTelepathy", data={"chat_id": "1"})
    assert response.status_code == 404
    assert response.json() == {
        "ok": False,
        "error_code": 404,
        "description": "Not Found: method not found",
    }


def test_wrong_token_is_401(client: httpx.Client, telegram_api: FakeTelegramAPI) -> None:
    """A token other than the configured one is refused like Telegram does."""
    response = call(client, "getMe", token="654321:SOME-other_token_abcdefghijklmnopq")
    assert response.status_code == 401
    assert response.json()["description"] == "Unauthorized"
    assert telegram_api.calls == []


def test_method_names_are_case_insensitive(client: httpx.Client) -> None:
    """`SENDMESSAGE` and `getme` reach the same methods (Telegram lowercases names)."""
    assert call(client, "getme").json()["result"]["is_bot"] is True
    assert send(client, "hello").status_code == 200
    assert call(client, "SENDMESSAGE", data={"chat_id": str(TEST_CHAT_ID), "text": "x"}).is_success


def test_missing_required_field_is_a_violation(
    client: httpx.Client,
    telegram_api: FakeTelegramAPI,
) -> None:
    """sendMessage without chat_id is a 400 and is recorded as a violation."""
    response = call(client, "sendMessage", data={"text": "hello"})
    assert response.status_code == 400
    assert response.json()["description"].startswith("Bad Request: ")
    assert "chat_id" in response.json()["description"]
    assert [v.method for v in telegram_api.violations] == ["sendMessage"]
    assert telegram_api.sent == []


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"colour": "red"}, "colour"),
        ({"disable_notification": "perhaps"}, "disable_notification"),
        ({"message_thread_id": "twelve"}, "message_thread_id"),
        ({"link_preview_options": "{not json"}, "link_preview_options"),
        ({"link_preview_options": '{"is_disabled": true, "blink": 1}'}, "blink"),
        ({"link_preview_options": '{"is_disabled": "sometimes"}'}, "is_disabled"),
        ({"entities": '{"type": "bold"}'}, "entities"),
    ],
)
def test_bad_fields_are_violations(
    client: httpx.Client,
    telegram_api: FakeTelegramAPI,
    extra: dict[str, str],
    field: str,
) -> None:
    """Unknown fields, uncoercible values and malformed nested objects are rejected."""
    response = send(client, "hello", **extra)
    assert response.status_code == 400
    assert field in response.json()["description"]
    assert len(telegram_api.violations) == 1
    assert telegram_api.sent == []


def test_method_without_parameters_rejects_any(
    client: httpx.Client,
    telegram_api: FakeTelegramAPI,
) -> None:
    """getMe has no fields in the spec, so a parameter is a violation."""
    assert call(client, "getMe", data={"verbose": "1"}).status_code == 400
    assert len(telegram_api.violations) == 1


def test_json_and_query_string_parameters(
    client: httpx.Client,
    telegram_api: FakeTelegramAPI,
) -> None:
    """Parameters may come as JSON (typed) or in the query string, like the real API."""
    body = {
        "chat_id": TEST_CHAT_ID,
        "text": "<i>json</i>",
        "parse_mode": "HTML",
        "link_preview_options": {"is_disabled": True},
    }
    assert call(client, "sendMessage", json=body).is_success
    query = {"chat_id": str(TEST_CHAT_ID), "text": "query"}
    assert client.get(f"/bot{TEST_TOKEN}/sendMessage", params=query).is_success
    assert [m.visible_text for m in telegram_api.sent] == ["json", "query"]
    assert telegram_api.sent[0].link_preview_options == {"is_disabled": True}
    assert telegram_api.violations == []


def test_other_spec_methods_answer_true(client: httpx.Client) -> None:
    """Known methods without a model (e.g. close, logOut, setMyDescription) answer true."""
    for method in ("close", "logOut"):
        assert call(client, method).json() == {"ok": True, "result": True}
    assert call(client, "setMyDescription", data={"description": "x"}).json()["result"] is True


def test_commands_round_trip_and_are_validated(
    client: httpx.Client,
    telegram_api: FakeTelegramAPI,
) -> None:
    """setMyCommands stores valid commands; a command without description is a violation."""
    commands = [{"command": "status", "description": "Show status"}]
    assert call(client, "setMyCommands", data={"commands": json.dumps(commands)}).is_success
    assert call(client, "getMyCommands").json()["result"] == commands
    bad = [{"command": "help"}]
    assert call(client, "setMyCommands", data={"commands": json.dumps(bad)}).status_code == 400
    assert len(telegram_api.violations) == 1


# ── sendMessage content checks ──


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<script>alert(1)</script>", 'Unsupported start tag "script" at byte offset 0'),
        ("é<p>x</p>", 'Unsupported start tag "p" at byte offset 2'),
        ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("a < b", 'Unsupported start tag "" at byte offset 2'),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler"'),
        ('<a href="https://e.com>x</a>', "Unclosed start tag"),
        ("<b", "Unclosed start tag at byte offset 0"),
        ("<br/>", 'Unsupported start tag "br/"'),
        ("fish & chips", 'Character "&" at byte offset 5'),
        ("&nbsp;", 'Character "&" at byte offset 0'),
        ("1 > 0", 'Character ">" at byte offset 2'),
    ],
)
def test_bad_html_is_rejected(
    client: httpx.Client,
    telegram_api: FakeTelegramAPI,
    text: str,
    fragment: str,
) -> None:
    """HTML Telegram cannot parse is a 400 "can't parse entities" with tdlib's wording."""
    response = send(client, text, parse_mode="HTML")
    assert response.status_code == 400
    description = response.json()["description"]
    assert description.startswith("Bad Request: can't parse entities: ")
    assert fragment in description
    assert telegram_api.sent == []
    assert telegram_api.violations == []  # a content error, not a malformed call


def test_the_same_text_passes_without_parse_mode(
    client: httpx.Client,
    telegram_api: FakeTelegramAPI,
) -> None:
    """Without parse_mode the text is sent as is, markup characters included."""
    assert send(client, "<b>bold & 1 > 0").is_success
    assert telegram_api.sent[0].visible_text == "<b>bold & 1 > 0"
    assert telegram_api.sent[0].parse_mode is None


def test_good_html_gives_visible_text_and_entities(
    client: httpx.Client,
    telegram_api: FakeTelegramAPI,
) -> None:
    """Tags vanish, entities decode, entity offsets count UTF-16 units."""
    text = (
        '<b>bold</b> <a href="https://e.com/?a=1&amp;b=2">link</a> &lt;&#x27;&#39;&quot;&gt; '
        "😀<code>x</code>\n<blockquote expandable>q</blockquote><tg-spoiler>s</tg-spoiler>"
        '<span class="tg-spoiler">t</span>'
    )
    response = send(client, text, parse_mode="HTML")
    assert response.is_success, response.text
    sent = telegram_api.sent[0]
    assert sent.visible_text == "bold link <''\"> 😀x\nqst"
    assert response.json()["result"]["text"] == sent.visible_text
    by_type = {e["type"]: e for e in sent.entities}
    assert by_type["text_link"] == {
        "type": "text_link",
        "offset": 5,
        "length": 4,
        "url": "https://e.com/?a=1&b=2",
    }
    assert by_type["code"]["offset"] == 18  # "😀" counts 2
    assert by_type["expandable_blockquote"]["length"] == 1


@pytest.mark.parametrize(
    ("text", "parse_mode", "accepted"),
    [
        ("a" * 4096, None, True),
        ("a" * 4097, None, False),
        ("😀" * 2048, None, True),
        ("😀" * 2049, None, False),
        ("<b>" + "a" * 4096 + "</b>", "HTML", True),
        ("&amp;" * 4096, "HTML", True),
        ("&amp;" * 4097, "HTML", False),
    ],
)
def test_length_is_counted_after_parsing_in_utf16(
    client: httpx.Client,
    text: str,
    parse_mode: str | None,
    accepted: bool,
) -> None:
    """4096 UTF-16 units of visible text pass; one more is "message is too long"."""
    extra = {"parse_mode": parse_mode} if parse_mode else {}
    response = send(client, text, **extra)
    if accepted:
        assert response.is_success, response.text
    else:
        assert response.status_code == 400
        assert response.json()["description"] == "Bad Request: message is too long"


@pytest.mark.parametrize(("text", "parse_mode"), [("", None), ("  \n", None), ("<b></b>", "HTML")])
def test_empty_text_is_rejected(client: httpx.Client, text: str, parse_mode: str | None) -> None:
    """Text that is empty after parsing is "message text is empty"."""
    extra = {"parse_mode": parse_mode} if parse_mode else {}
    response = send(client, text, **extra)
    assert response.status_code == 400
    assert response.json()["description"] == "Bad Request: message text is empty"


def test_unsupported_parse_mode(client: httpx.Client) -> None:
    """An unknown parse_mode is refused."""
    response = send(client, "x", parse_mode="BBCode")
    assert response.json()["description"] == "Bad Request: unsupported parse_mode"


def test_unknown_chat_is_not_found(
    client: httpx.Client,
    telegram_api: FakeTelegramAPI,
) -> None:
    """Only chats in `chats` (and private chats of users who wrote) can be messaged."""
    response = call(client, "sendMessage", data={"chat_id": "-100999", "text": "x"})
    assert response.status_code == 400
    assert response.json()["description"] == "Bad Request: chat not found"
    telegram_api.chats.add("@Vedette_Alerts")
    assert call(client, "sendMessage", data={"chat_id": "@vedette_alerts", "text": "x"}).is_success
    telegram_api.push_message(777, 777, "hi")
    assert call(client, "sendMessage", data={"chat_id": "777", "text": "x"}).is_success
    assert [m.message_id for m in telegram_api.messages_to(777)] == [3]  # 1 sent, 2 pushed


# ── editMessageText ──


def edit(client: httpx.Client, message_id: int, text: str, **extra: Any) -> httpx.Response:
    data = {"chat_id": str(TEST_CHAT_ID), "message_id": str(message_id), "text": text, **extra}
    return call(client, "editMessageText", data=data)


def sent_id(client: httpx.Client, text: str = "<b>first</b>") -> int:
    response = send(client, text, parse_mode="HTML")
    assert response.is_success, response.text
    message_id: int = response.json()["result"]["message_id"]
    return message_id


def description(response: httpx.Response) -> str:
    assert response.status_code == 400, response.text
    text: str = response.json()["description"]
    return text


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"chat_id": "1", "message_id": "1", "text": "x", "colour": "red"}, "colour"),
        ({"chat_id": "1", "message_id": "one", "text": "x"}, "message_id"),
        ({"chat_id": "1", "text": "x"}, "message_id"),
        ({"message_id": "1", "text": "x"}, "chat_id"),
        ({"chat_id": "1", "message_id": "1"}, "text"),
        ({"text": "x"}, "chat_id"),
        ({"chat_id": "1", "message_id": "1", "text": "x", "link_preview_options": "{}x"}, "link"),
    ],
)
def test_bad_edit_calls_are_violations(
    client: httpx.Client,
    telegram_api: FakeTelegramAPI,
    data: dict[str, str],
    field: str,
) -> None:
    """editMessageText is checked against the spec as sendMessage is: unknown and ill-typed
    fields, and the parameters its spec says are "Required if inline_message_id is not
    specified" (chat_id, message_id) or "required if rich_message isn't specified" (text)."""
    response = call(client, "editMessageText", data=data)
    assert field in description(response)
    assert [v.method for v in telegram_api.violations] == ["editMessageText"]
    assert telegram_api.edits == []


def test_an_edit_changes_the_message(client: httpx.Client, telegram_api: FakeTelegramAPI) -> None:
    """An edit replaces the message's text; the answer is the edited Message (same id and
    date, with edit_date); `edits` records it and `sent` keeps what was sent."""
    message_id = sent_id(client)
    first = telegram_api.sent[0]
    response = edit(client, message_id, "<i>second</i> &amp; more", parse_mode="HTML")
    assert response.is_success, response.text
    result = response.json()["result"]
    assert result["message_id"] == message_id
    assert result["text"] == "second & more"
    assert result["entities"] == [{"type": "italic", "offset": 0, "length": 6}]
    assert result["edit_date"] >= result["date"]
    (edited,) = telegram_api.edits
    assert (edited.chat_id, edited.message_id) == (TEST_CHAT_ID, message_id)
    assert (edited.text, edited.visible_text) == ("<i>second</i> &amp; more", "second & more")
    assert edited.parse_mode == "HTML"
    assert telegram_api.current_message(TEST_CHAT_ID, message_id) == edited
    assert telegram_api.sent == [first]
    assert telegram_api.violations == []


def test_an_edit_to_the_same_text_and_entities_is_not_modified(
    client: httpx.Client, telegram_api: FakeTelegramAPI
) -> None:
    """The same visible text and entities (however written) is Telegram's 400 "message is
    not modified"; the same text with other entities is an edit."""
    message_id = sent_id(client, "<b>first</b>")
    assert NOT_MODIFIED == (
        "Bad Request: message is not modified: specified new message content and reply markup "
        "are exactly the same as a current content and reply markup of the message"
    )
    assert description(edit(client, message_id, "<strong>first</strong>", parse_mode="HTML")) == (
        NOT_MODIFIED
    )
    assert edit(client, message_id, "first").is_success  # bold dropped: modified
    assert description(edit(client, message_id, "first")) == NOT_MODIFIED
    assert [e.text for e in telegram_api.edits] == ["first"]


def test_an_edit_of_an_unknown_or_deleted_message_is_not_found(
    client: httpx.Client, telegram_api: FakeTelegramAPI
) -> None:
    """A message id the bot never sent to that chat, or a deleted message: "message to edit
    not found"; another chat's message id does not count."""
    message_id = sent_id(client)
    not_found = "Bad Request: message to edit not found"
    assert description(edit(client, message_id + 1, "x")) == not_found
    telegram_api.chats.add(-100777)
    other = call(client, "sendMessage", data={"chat_id": "-100777", "text": "x"})
    assert description(edit(client, other.json()["result"]["message_id"], "y")) == not_found
    telegram_api.delete_message(TEST_CHAT_ID, message_id)
    assert description(edit(client, message_id, "x")) == not_found
    assert telegram_api.current_message(TEST_CHAT_ID, message_id) is None
    with pytest.raises(KeyError):
        telegram_api.delete_message(TEST_CHAT_ID, message_id)
    assert telegram_api.edits == []


def test_an_uneditable_message_cannot_be_edited(
    client: httpx.Client, telegram_api: FakeTelegramAPI
) -> None:
    """After `make_uneditable`: "message can't be edited"."""
    message_id = sent_id(client)
    telegram_api.make_uneditable(TEST_CHAT_ID, message_id)
    assert description(edit(client, message_id, "x")) == "Bad Request: message can't be edited"
    assert telegram_api.edits == []


@pytest.mark.parametrize(
    ("text", "parse_mode", "expected"),
    [
        ("<b>x", "HTML", "Bad Request: can't parse entities: Can't find end tag corresponding"),
        ("<b></b>", "HTML", "Bad Request: message text is empty"),
        ("  ", None, "Bad Request: message text is empty"),
        ("a" * 4097, None, "Bad Request: MESSAGE_TOO_LONG"),
        ("&amp;" * 4097, "HTML", "Bad Request: MESSAGE_TOO_LONG"),
        ("x", "BBCode", "Bad Request: unsupported parse_mode"),
    ],
)
def test_edit_text_is_checked_as_a_send(
    client: httpx.Client,
    telegram_api: FakeTelegramAPI,
    text: str,
    parse_mode: str | None,
    expected: str,
) -> None:
    """HTML, empty and too long texts are refused as for sendMessage (too long is Telegram's
    "MESSAGE_TOO_LONG" for an edit); 4096 units after parsing pass."""
    message_id = sent_id(client)
    extra = {"parse_mode": parse_mode} if parse_mode else {}
    assert description(edit(client, message_id, text, **extra)).startswith(expected)
    assert edit(client, message_id, "&amp;" * 4096, parse_mode="HTML").is_success
    assert len(telegram_api.edits) == 1
    assert telegram_api.violations == []


def test_edits_of_an_unknown_chat_and_inline_messages(client: httpx.Client) -> None:
    """An edit in a chat the bot is not in is "chat not found"; inline messages are refused."""
    response = call(
        client, "editMessageText", data={"chat_id": "-100999", "message_id": "1", "text": "x"}
    )
    assert description(response) == "Bad Request: chat not found"
    inline = call(client, "editMessageText", data={"inline_message_id": "abc", "text": "x"})
    assert "inline messages are not supported" in description(inline)


def test_edit_faults_outage_and_rate_limit(
    client: httpx.Client, telegram_api: FakeTelegramAPI
) -> None:
    """fail_next("editMessageText", …) and down() apply to edits; the per-chat rate limit
    counts sends and edits together."""
    message_id = sent_id(client)
    telegram_api.fail_next("editMessageText", "429", retry_after=9)
    assert edit(client, message_id, "a").json()["error_code"] == 429
    telegram_api.down(60)
    with pytest.raises(httpx.TransportError):
        edit(client, message_id, "a")
    telegram_api.up()
    telegram_api.set_rate_limit((2, 60.0))
    assert send(client, "1").is_success
    assert edit(client, message_id, "b").is_success
    body = edit(client, message_id, "c").json()
    assert body["error_code"] == 429
    assert body["description"].startswith("Too Many Requests: retry after ")
    assert send(client, "2").json()["error_code"] == 429
    assert [e.text for e in telegram_api.edits] == ["b"]


# ── fault injection ──


def test_fail_next_envelopes(client: httpx.Client, telegram_api: FakeTelegramAPI) -> None:
    """Injected faults answer Telegram's envelopes, once each, then normal service resumes."""
    server_faults = [
        ("429", {"retry_after": 9}, 429, "Too Many Requests: retry after 9", {"retry_after": 9}),
        ("500", {}, 500, "Internal Server Error", None),
        ("chat_not_found", {}, 400, "Bad Request: chat not found", None),
        ("forbidden", {}, 403, "Forbidden: bot is not a member of the channel chat", None),
        (
            "migrate",
            {},
            400,
            "Bad Request: group chat was upgraded to a supergroup chat",
            {"migrate_to_chat_id": DEFAULT_MIGRATE_TO},
        ),
    ]
    for kind, params, status, description, parameters in server_faults:
        telegram_api.fail_next("sendMessage", kind, **params)
        body = send(client, "x").json()
        assert body["error_code"] == status
        assert body["description"] == description
        assert body.get("parameters") == parameters
    assert send(client, "x").is_success


def test_parse_entities_and_502_faults(client: httpx.Client, telegram_api: FakeTelegramAPI) -> None:
    """ "parse_entities" is a 400 can't-parse; "502" is an HTML page from a proxy."""
    telegram_api.fail_next("sendMessage", "parse_entities")
    telegram_api.fail_next("sendMessage", "502")
    first = send(client, "x")
    assert first.json()["description"].startswith("Bad Request: can't parse entities: ")
    second = send(client, "x")
    assert second.status_code == 502
    assert "502 Bad Gateway" in second.text


def test_fail_next_times_and_methods(client: httpx.Client, telegram_api: FakeTelegramAPI) -> None:
    """`times` repeats a fault; faults are per method."""
    telegram_api.fail_next("sendMessage", "500", times=2)
    assert call(client, "getMe").is_success
    assert send(client, "a").status_code == 500
    assert send(client, "b").status_code == 500
    assert send(client, "c").is_success
    with pytest.raises(ValueError, match="unknown fault kind"):
        telegram_api.fail_next("sendMessage", "teapot")


def test_drop_and_outage_fail_at_connection_level(
    client: httpx.Client, telegram_api: FakeTelegramAPI
) -> None:
    """ "drop" and `down()` close the connection without any HTTP response."""
    telegram_api.fail_next("sendMessage", "drop")
    with pytest.raises(httpx.TransportError):
        send(client, "x")
    telegram_api.down(60)
    with pytest.raises(httpx.TransportError):
        call(client, "getMe")
    telegram_api.up()
    assert call(client, "getMe").is_success


def test_rate_limit_per_chat(client: httpx.Client, telegram_api: FakeTelegramAPI) -> None:
    """With `rate_limit_per_chat`, the message over the limit gets a 429 with retry_after."""
    telegram_api.rate_limit_per_chat = (2, 60.0)
    assert send(client, "1").is_success
    assert send(client, "2").is_success
    body = send(client, "3").json()
    assert body["error_code"] == 429
    assert 1 <= body["parameters"]["retry_after"] <= 60
    assert len(telegram_api.sent) == 2


def test_set_rate_limit_forgets_earlier_messages(
    client: httpx.Client, telegram_api: FakeTelegramAPI
) -> None:
    """`set_rate_limit` starts counting afresh (a new bot in the benchmarks); None lifts it."""
    telegram_api.set_rate_limit((1, 60.0))
    assert send(client, "1").is_success
    assert send(client, "2").json()["error_code"] == 429
    telegram_api.set_rate_limit((1, 60.0))
    assert send(client, "3").is_success
    assert send(client, "4").json()["error_code"] == 429
    telegram_api.set_rate_limit(None)
    assert send(client, "5").is_success
    assert [m.text for m in telegram_api.sent] == ["1", "3", "5"]


# ── updates and shutdown ──


def test_long_poll_returns_pushed_command(
    client: httpx.Client, telegram_api: FakeTelegramAPI
) -> None:
    """getUpdates waits for an update, marks /commands as bot_command, honours offset."""
    results: list[Any] = []
    poll = threading.Thread(
        target=lambda: results.append(call(client, "getUpdates", data={"timeout": "10"}).json())
    )
    poll.start()
    telegram_api.push_message(42, 42, "/status@vedette_test_bot now")
    poll.join(5)
    assert not poll.is_alive()
    (update,) = results[0]["result"]
    message = update["message"]
    assert message["text"] == "/status@vedette_test_bot now"
    assert message["entities"] == [{"type": "bot_command", "offset": 0, "length": 24}]
    assert message["from"]["id"] == 42
    assert message["chat"] == {"id": 42, "type": "private", "first_name": "User 42"}
    offset = str(update["update_id"] + 1)
    again = call(client, "getUpdates", data={"offset": offset, "timeout": "0"}).json()
    assert again == {"ok": True, "result": []}


def test_delete_webhook_can_drop_pending_updates(
    client: httpx.Client, telegram_api: FakeTelegramAPI
) -> None:
    """deleteWebhook(drop_pending_updates=True) forgets queued updates."""
    telegram_api.push_message(1, 1, "/help")
    assert call(client, "deleteWebhook", data={"drop_pending_updates": "true"}).is_success
    assert telegram_api.pending_updates == 0


def test_close_does_not_hang_on_held_requests() -> None:
    """Closing the server releases a held long poll and a "hang" at once."""
    server = FakeTelegramAPI().start()
    errors: list[BaseException] = []

    def request(method: str, data: dict[str, str]) -> None:
        try:
            with httpx.Client(base_url=server.url, timeout=30) as c:
                call(c, method, data=data)
        except httpx.TransportError as exc:
            errors.append(exc)

    server.fail_next("sendMessage", "hang", seconds=60)
    threads = [
        threading.Thread(target=request, args=("getUpdates", {"timeout": "60"})),
        threading.Thread(target=request, args=("sendMessage", {"chat_id": "1", "text": "x"})),
    ]
    for thread in threads:
        thread.start()
    wait_for(lambda: len(server.calls) == 2, "both requests to arrive")
    server.stop()
    for thread in threads:
        thread.join(5)
        assert not thread.is_alive()
    assert len(errors) == 1  # the hang is dropped; the long poll answers (empty)


# ── the parser, directly ──


def test_parse_html_reports_byte_offsets_and_utf16_lengths() -> None:
    """Error offsets are UTF-8 bytes (like tdlib); utf16_len counts astral chars twice."""
    with pytest.raises(EntityParseError, match="byte offset 6"):
        parse_html("😀é<x>")
    assert utf16_len("😀é") == 3
    assert parse_html("&#128512;&#x1F600;").text == "😀😀"


# ── sendPhoto ──


def tiny_png(width: int = 4, height: int = 3) -> bytes:
    """A valid PNG of `width` × `height` grey pixels, built with zlib (no image library)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def send_photo(client: httpx.Client, photo: bytes | None = None, **fields: str) -> httpx.Response:
    """sendPhoto as multipart/form-data: `photo` as a file part, `fields` as text parts."""
    data = {"chat_id": str(TEST_CHAT_ID), **fields}
    if photo is None:  # without a file httpx sends a form: the same fields, url-encoded
        return call(client, "sendPhoto", data=data)
    return call(client, "sendPhoto", data=data, files={"photo": ("chart.png", photo, "image/png")})


async def test_a_photo_uploaded_by_ptb_is_kept_byte_for_byte(
    telegram_api: FakeTelegramAPI,
) -> None:
    """PTB's multipart upload decodes back to the same bytes; the answer is a Message with a
    `photo` array PTB reads; its file_id sends the same photo again."""
    png = tiny_png(400, 300)
    async with Bot(TEST_TOKEN, base_url=telegram_api.base_url) as bot:
        message = await bot.send_photo(
            TEST_CHAT_ID, png, caption="<b>BEN → MSQ</b>: 2 &amp; 5", parse_mode="HTML"
        )
        again = await bot.send_photo(TEST_CHAT_ID, message.photo[-1].file_id)
    first, second = telegram_api.photos_to(TEST_CHAT_ID)
    assert first.data == png
    assert (first.width, first.height) == (400, 300)
    assert first.visible_caption == "BEN → MSQ: 2 & 5"
    assert first.caption == "<b>BEN → MSQ</b>: 2 &amp; 5"
    assert first.parse_mode == "HTML"
    assert first.caption_entities == ({"type": "bold", "offset": 0, "length": 9},)
    assert message.caption == "BEN → MSQ: 2 & 5"
    assert [(p.width, p.height) for p in message.photo] == [(90, 68), (320, 240), (400, 300)]
    assert message.photo[-1].file_size == len(png)
    assert second.data == png
    assert second.visible_caption == ""
    assert again.photo[-1].file_id != message.photo[-1].file_id
    assert telegram_api.violations == []


@pytest.mark.parametrize(
    ("fields", "photo", "described"),
    [
        ({}, None, '"photo"'),  # no photo at all
        ({"colour": "red"}, tiny_png(), '"colour"'),  # unknown to the spec
        ({"has_spoiler": "perhaps"}, tiny_png(), '"has_spoiler"'),
        ({"caption_entities": '{"type": "bold"}'}, tiny_png(), '"caption_entities"'),
    ],
)
def test_send_photo_spec_violations(
    client: httpx.Client,
    telegram_api: FakeTelegramAPI,
    fields: dict[str, str],
    photo: bytes | None,
    described: str,
) -> None:
    """sendPhoto is checked against the spec like sendMessage: each is a 400 and a violation."""
    response = send_photo(client, photo, **fields)
    assert response.status_code == 400
    assert described in response.json()["description"]
    assert len(telegram_api.violations) == 1
    assert telegram_api.photos == []


def test_a_file_where_a_string_belongs_is_a_violation(
    client: httpx.Client, telegram_api: FakeTelegramAPI
) -> None:
    """A caption sent as a file part is not a String."""
    files = {"photo": ("a.png", tiny_png(), "image/png"), "caption": ("c.txt", b"x", "text/plain")}
    response = call(client, "sendPhoto", data={"chat_id": str(TEST_CHAT_ID)}, files=files)
    assert response.status_code == 400
    assert "caption" in response.json()["description"]
    assert len(telegram_api.violations) == 1


def test_caption_length_is_counted_after_parsing(
    client: httpx.Client, telegram_api: FakeTelegramAPI
) -> None:
    """1024 visible UTF-16 units pass however long the HTML is; one more is too long."""
    fits = "<pre>" + "&lt;" * 1022 + "😀" + "</pre>"  # 1022 + 2 units
    assert send_photo(client, tiny_png(), caption=fits, parse_mode="HTML").is_success
    over = "a" * 1023 + "😀"
    response = send_photo(client, tiny_png(), caption=over)
    assert response.status_code == 400
    assert response.json()["description"] == "Bad Request: message caption is too long"
    assert [utf16_len(p.visible_caption) for p in telegram_api.photos] == [1024]
    assert telegram_api.violations == []


@pytest.mark.parametrize(
    ("photo", "fields", "description"),
    [
        (tiny_png(), {"chat_id": "-100999"}, "Bad Request: chat not found"),
        (b"GIF89a not a png", {}, "Bad Request: IMAGE_PROCESS_FAILED"),
        (b"", {}, "Bad Request: file must be non-empty"),
        (tiny_png(1, 30), {}, "Bad Request: PHOTO_INVALID_DIMENSIONS"),
        (tiny_png(6000, 4001), {}, "Bad Request: PHOTO_INVALID_DIMENSIONS"),
        (
            tiny_png(),
            {"caption": "<b>x", "parse_mode": "HTML"},
            "Bad Request: can't parse entities: "
            'Can\'t find end tag corresponding to start tag "b"',
        ),
    ],
)
def test_photos_telegram_refuses(
    client: httpx.Client,
    telegram_api: FakeTelegramAPI,
    photo: bytes,
    fields: dict[str, str],
    description: str,
) -> None:
    """An unknown chat, a file that is not an image, bad dimensions, bad caption HTML: 400s
    with Telegram's descriptions, and none is a spec violation."""
    response = send_photo(client, photo, **fields)
    assert response.status_code == 400
    assert response.json()["description"] == description
    assert telegram_api.photos == []
    assert telegram_api.violations == []


def test_a_photo_by_an_unknown_file_id(client: httpx.Client, telegram_api: FakeTelegramAPI) -> None:
    """A string photo is a file_id (or URL) the fake must know."""
    data = {"chat_id": str(TEST_CHAT_ID), "photo": "AgACAgIAAxkBAAI"}
    response = call(client, "sendPhoto", data=data)
    assert response.json()["description"] == (
        "Bad Request: wrong file identifier/HTTP URL specified"
    )
    assert telegram_api.violations == []


def test_a_malformed_multipart_body_is_a_violation(
    client: httpx.Client, telegram_api: FakeTelegramAPI
) -> None:
    """A multipart body whose boundary never appears cannot be read."""
    response = call(
        client,
        "sendPhoto",
        content=b"chat_id=1",
        headers={"Content-Type": "multipart/form-data; boundary=nowhere"},
    )
    assert response.status_code == 400
    assert "multipart" in response.json()["description"]
    assert len(telegram_api.violations) == 1


def test_photo_faults_and_outage(client: httpx.Client, telegram_api: FakeTelegramAPI) -> None:
    """`fail_next("sendPhoto", …)` and `down()` apply to sendPhoto; the rate limit counts it."""
    telegram_api.fail_next("sendPhoto", "500")
    assert send_photo(client, tiny_png()).status_code == 500
    telegram_api.down(60)
    with pytest.raises(httpx.TransportError):
        send_photo(client, tiny_png())
    telegram_api.up()
    telegram_api.set_rate_limit((1, 60.0))
    assert send_photo(client, tiny_png()).is_success
    assert send_photo(client, tiny_png()).status_code == 429
    assert len(telegram_api.photos) == 1
    assert telegram_api.violations == []
