"""A fake Telegram Bot API server on loopback, for driving the real python-telegram-bot.

`FakeTelegramAPI` is a real HTTP server (`tests.fakes.loopback.LoopbackHTTPServer`, served in a
background thread) answering `/bot{token}/{method}` the way api.telegram.org does: the same JSON envelope, the
same error strings, HTML parse mode parsed like tdlib does it, message length counted in UTF-16
units after parsing. Every call is checked against the Bot API spec in
`tests/data/telegram-bot-api-spec/api.json` (including "Required if X is not specified" in a
parameter's description); a call Telegram would reject is answered with a 400 and recorded in
`violations`, which tests assert stays empty.

`sendMessage` and `editMessageText` are served for real: the fake keeps what each message the
bot sent reads now, and an edit changes it, with Telegram's answers for an edit that changes
nothing ("message is not modified: …"), of a message unknown or deleted ("message to edit not
found", see `delete_message`) or that the bot may no longer edit ("message can't be edited",
see `make_uneditable`); the per-chat rate limit counts sends and edits alike. Edits of inline
messages are not supported.

`sendPhoto` is served too: a photo uploaded with multipart/form-data (parsed with the standard
library's `email` parser; a file part is an `InputFile`) or a file_id this fake gave out; the
caption parsed like a text (at most 1024 characters after parsing: "message caption is too
long"). The fake reads PNG only (what vedette sends; anything else is "IMAGE_PROCESS_FAILED")
and checks Telegram's dimension limits. Accepted photos, with their bytes, are in `photos`;
the per-chat rate limit counts them too. `editMessageCaption` changes a photo's caption
(`caption_edits`; `current_caption` is how it reads now), with the same answers as
editMessageText; editMessageText of a photo is "there is no text in the message to edit",
editMessageCaption of a text message "there is no caption in the message to edit".

Point PTB at it with `telegram.Bot(TEST_TOKEN, base_url=server.base_url)`.

Where this fake is stricter than Telegram, on purpose: a bare `&` or `>` in HTML text and named
entities other than `&lt; &gt; &amp; &quot;` are rejected (Telegram's documentation requires
them escaped; tdlib happens to tolerate them), and parameters unknown to the spec are rejected
(Telegram ignores them). Both catch our own bugs early.

Fault injection (`fail_next`, `down`) is thread-safe and may be called while PTB is mid-call.
"""

from __future__ import annotations

import contextlib
import email.policy
import functools
import json
import math
import re
import threading
import time
import zlib
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from email.parser import BytesParser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.fakes.loopback import LoopbackHTTPServer, started

SPEC_PATH = Path(__file__).resolve().parents[1] / "data" / "telegram-bot-api-spec" / "api.json"
TEST_TOKEN = "123456:TEST-token_abcdefghijklmnopqrstuvwxyz0"
TEST_CHAT_ID = -1001234567890
MAX_MESSAGE_LENGTH = 4096  # UTF-16 code units, after entity parsing
MAX_CAPTION_LENGTH = 1024  # UTF-16 code units, after entity parsing
MAX_PHOTO_BYTES = 10 * 1024 * 1024
PHOTO_SIDES = (90, 320, 800, 1280, 2560)  # the sizes Telegram answers a photo with
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DEFAULT_MIGRATE_TO = -1009876543210

FAULT_KINDS = frozenset(
    {
        "429",
        "500",
        "502",
        "chat_not_found",
        "forbidden",
        "parse_entities",
        "migrate",
        "hang",
        "drop",
        "slow",
        "ok_result",
    }
)

ChatId = int | str


# ───────────────────────────── the spec ─────────────────────────────


@functools.cache
def load_spec(path: Path = SPEC_PATH) -> dict[str, Any]:
    """The parsed api.json (methods and types), read once per process."""
    spec: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return spec


class SpecViolation(ValueError):
    """A parameter Telegram would reject; `str()` is the description after "Bad Request: "."""


@dataclass(frozen=True, slots=True)
class Upload:
    """A file part of a multipart/form-data request (an `InputFile` in the spec)."""

    filename: str
    content_type: str
    data: bytes


class MultipartError(ValueError):
    """A multipart/form-data body that cannot be read."""


def parse_multipart(content_type: str, body: bytes) -> dict[str, str | Upload]:
    """The fields of a multipart/form-data `body` sent with this Content-Type header: a part
    with a filename is an `Upload`, any other part is a string (UTF-8). Uses the standard
    library's MIME parser (`email`), which is what the format is."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart() or message.defects:
        raise MultipartError(f"malformed multipart/form-data body: {message.defects or 'no parts'}")
    fields: dict[str, str | Upload] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or not name:
            raise MultipartError("a multipart part has no name")
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes):
            raise MultipartError(f'the multipart part "{name}" has no content')
        filename = part.get_filename()
        if filename is not None:
            fields[name] = Upload(filename, part.get_content_type(), data)
        else:
            fields[name] = data.decode("utf-8", "replace")
    return fields


_INT_RE = re.compile(r"-?\d+")
_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})


def _coerce(value: Any, type_name: str, spec: dict[str, Any], where: str) -> Any:
    """Coerce one value (form strings or JSON values) to `type_name`, or raise SpecViolation."""
    if type_name.startswith("Array of "):
        inner = type_name.removeprefix("Array of ")
        if isinstance(value, str):
            value = _json_field(value, where)
        if not isinstance(value, list):
            raise SpecViolation(f'field "{where}" must be an Array')
        return [_coerce(item, inner, spec, f"{where}[{n}]") for n, item in enumerate(value)]
    if type_name == "Integer":
        if isinstance(value, str) and _INT_RE.fullmatch(value.strip()):
            return int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise SpecViolation(f'field "{where}" must be an Integer')
    if type_name == "Float":
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                raise SpecViolation(f'field "{where}" must be a Float') from None
            if math.isfinite(number):
                return number
        elif isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise SpecViolation(f'field "{where}" must be a Float')
    if type_name == "Boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise SpecViolation(f'field "{where}" must be a Boolean')
    if type_name == "String":
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)  # Telegram converts JSON numbers to strings
        raise SpecViolation(f'field "{where}" must be a String')
    if type_name == "InputFile":
        if isinstance(value, Upload):
            return value  # a file part of a multipart/form-data body
        raise SpecViolation(f'field "{where}" must be a file uploaded with multipart/form-data')
    type_spec = spec["types"].get(type_name)
    if type_spec is None:
        raise SpecViolation(f'field "{where}" has a type unknown to the spec: {type_name}')
    if isinstance(value, str):
        value = _json_field(value, where)
    if not isinstance(value, dict):
        raise SpecViolation(f'field "{where}" must be a JSON object ({type_name})')
    if "subtypes" in type_spec:
        errors = []
        for sub in type_spec["subtypes"]:
            try:
                return _coerce(value, sub, spec, where)
            except SpecViolation as exc:
                errors.append(str(exc))
        raise SpecViolation(f'field "{where}" matches no kind of {type_name}: {errors[0]}')
    return _coerce_fields(value, type_spec.get("fields", []), spec, prefix=f"{where}.")


def _json_field(value: str, where: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        raise SpecViolation(f'can\'t parse JSON in field "{where}"') from None


def _coerce_union(value: Any, types: list[str], spec: dict[str, Any], where: str) -> Any:
    first_error: SpecViolation | None = None
    for type_name in types:
        try:
            return _coerce(value, type_name, spec, where)
        except SpecViolation as exc:
            first_error = first_error or exc
    if len(types) == 1 and first_error is not None:
        raise first_error
    raise SpecViolation(f'field "{where}" must be one of {" | ".join(types)}')


def _coerce_fields(
    raw: dict[str, Any], fields: list[dict[str, Any]], spec: dict[str, Any], *, prefix: str = ""
) -> dict[str, Any]:
    by_name = {f["name"]: f for f in fields}
    for name in raw:
        if name not in by_name:
            raise SpecViolation(f'unknown parameter "{prefix}{name}"')
    out: dict[str, Any] = {}
    for f in fields:
        name = f["name"]
        if name not in raw:
            if f["required"]:
                raise SpecViolation(f'required parameter "{prefix}{name}" is missing')
            continue
        out[name] = _coerce_union(raw[name], f["types"], spec, prefix + name)
    return out


_REQUIRED_UNLESS_RE = re.compile(
    r"required if (\w+)(?: and (\w+))? (?:is not|are not|isn't|aren't) specified", re.IGNORECASE
)


def _required_unless(field: dict[str, Any]) -> tuple[str, ...]:
    """The parameters whose absence makes an optional `field` required, as its description
    says ("Required if inline_message_id is not specified", "required if text isn't
    specified"); () when it says no such thing."""
    m = _REQUIRED_UNLESS_RE.search(field.get("description", ""))
    return tuple(name for name in m.groups() if name) if m else ()


def validate_call(method: str, raw: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """Check `raw` parameters of a (canonically named) method against the spec; coerced params.

    Besides the spec's required flags, a parameter whose description says "Required if X is
    not specified" is required when X is absent (editMessageText's chat_id, message_id, text).
    """
    fields = spec["methods"][method].get("fields", [])
    params = _coerce_fields(raw, fields, spec)
    for f in fields:
        unless = _required_unless(f)
        if unless and f["name"] not in params and not any(n in params for n in unless):
            others = " or ".join(f'"{n}"' for n in unless)
            raise SpecViolation(f'required parameter "{f["name"]}" is missing (no {others} either)')
    return params


# ───────────────────────────── HTML parse mode ─────────────────────────────


class EntityParseError(ValueError):
    """HTML Telegram cannot parse; `str()` is what follows "can't parse entities: "."""


@dataclass(frozen=True, slots=True)
class ParsedText:
    """Text as Telegram shows it (tags removed, entities decoded) and its formatting entities."""

    text: str
    entities: tuple[dict[str, Any], ...] = ()


SUPPORTED_TAGS = frozenset(
    {
        "a", "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler",
        "code", "pre", "blockquote", "tg-emoji", "tg-time",
    }
)  # fmt: skip
_ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
    "tg-time": "date_time",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY_RE = re.compile(r"&(?:#(\d{1,8})|#[xX]([0-9a-fA-F]{1,8})|([A-Za-z][A-Za-z0-9]*));")
_SPACE = " \t\r\n\f\v"


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, as Telegram counts it (astral characters count 2)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _decode_entity(text: str, pos: int) -> tuple[str, int] | None:
    """The character an `&…;` at `pos` stands for and the index after it, or None."""
    m = _ENTITY_RE.match(text, pos)
    if not m:
        return None
    dec, hexa, name = m.groups()
    if name is not None:
        char = _NAMED_ENTITIES.get(name)
        return (char, m.end()) if char is not None else None
    code = int(dec) if dec is not None else int(hexa, 16)
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code), m.end()


@dataclass
class _Open:
    tag: str
    argument: str
    offset: int  # UTF-16 offset in the visible text


def parse_html(text: str) -> ParsedText:
    """Parse Telegram HTML (parse_mode="HTML") like tdlib's parse_html does.

    Raises EntityParseError with tdlib's wording ("Unsupported start tag "script" at byte offset
    0", "Can't find end tag corresponding to start tag "b"", …). Stricter than tdlib for bare
    `&`/`>` and unknown named entities, which Telegram's documentation forbids.
    """
    out: list[str] = []
    utf16 = 0
    stack: list[_Open] = []
    entities: list[dict[str, Any]] = []
    n = len(text)

    def byte_offset(index: int) -> int:
        return len(text[:index].encode("utf-8", "surrogatepass"))

    i = 0
    while i < n:
        c = text[i]
        if c == "&":
            decoded = _decode_entity(text, i)
            if decoded is None:
                raise EntityParseError(
                    f'Character "&" at byte offset {byte_offset(i)} must be escaped as "&amp;"'
                )
            char, i = decoded
            out.append(char)
            utf16 += utf16_len(char)
            continue
        if c == ">":
            raise EntityParseError(
                f'Character ">" at byte offset {byte_offset(i)} must be escaped as "&gt;"'
            )
        if c != "<":
            out.append(c)
            utf16 += 2 if ord(c) > 0xFFFF else 1
            i += 1
            continue

        begin = i
        i += 1
        if i < n and text[i] == "/":  # an end tag
            if not stack:
                raise EntityParseError(f"Unexpected end tag at byte offset {byte_offset(begin)}")
            i += 1
            name_start = i
            while i < n and text[i] not in _SPACE and text[i] != ">":
                i += 1
            end_name = text[name_start:i].lower()
            while i < n and text[i] in _SPACE:
                i += 1
            if i >= n or text[i] != ">":
                raise EntityParseError(f"Unclosed end tag at byte offset {byte_offset(begin)}")
            i += 1
            opened = stack.pop()
            if end_name and end_name != opened.tag:
                raise EntityParseError(
                    f"Unmatched end tag at byte offset {byte_offset(begin)}, "
                    f'expected "</{opened.tag}>", found "</{end_name}>"'
                )
            length = utf16 - opened.offset
            if length > 0:
                entities.append(_entity(opened, length))
            continue

        # a start tag
        name_start = i
        while i < n and text[i] not in _SPACE and text[i] != ">":
            i += 1
        if i >= n:
            raise EntityParseError(f"Unclosed start tag at byte offset {byte_offset(begin)}")
        tag = text[name_start:i].lower()
        if tag not in SUPPORTED_TAGS:
            raise EntityParseError(
                f'Unsupported start tag "{tag}" at byte offset {byte_offset(begin)}'
            )
        argument = ""
        while True:
            while i < n and text[i] in _SPACE:
                i += 1
            if i >= n:
                raise EntityParseError(
                    f'Unclosed start tag "{tag}" at byte offset {byte_offset(begin)}'
                )
            if text[i] == ">":
                i += 1
                break
            attr_start = i
            while i < n and text[i] not in _SPACE and text[i] not in "=>":
                i += 1
            attr = text[attr_start:i].lower()
            if not attr:
                raise EntityParseError(
                    f'Empty attribute name in the tag "{tag}" at byte offset {byte_offset(begin)}'
                )
            while i < n and text[i] in _SPACE:
                i += 1
            if i >= n or text[i] != "=":
                if tag == "blockquote" and attr == "expandable":
                    argument = "expandable"
                    continue
                raise EntityParseError(
                    "Expected equal sign in declaration of an attribute of the tag "
                    f'"{tag}" at byte offset {byte_offset(begin)}'
                )
            i += 1
            while i < n and text[i] in _SPACE:
                i += 1
            if i >= n:
                raise EntityParseError(
                    f'Unclosed start tag "{tag}" at byte offset {byte_offset(begin)}'
                )
            if text[i] in "'\"":
                quote = text[i]
                i += 1
                value_chars: list[str] = []
                while i < n and text[i] != quote:
                    if text[i] == "&" and (decoded := _decode_entity(text, i)) is not None:
                        value_chars.append(decoded[0])
                        i = decoded[1]
                        continue
                    value_chars.append(text[i])
                    i += 1
                if i >= n:
                    raise EntityParseError(
                        f"Unclosed start tag at byte offset {byte_offset(begin)}"
                    )
                i += 1
                value = "".join(value_chars)
            else:
                token_start = i
                while i < n and (text[i].isascii() and (text[i].isalnum() or text[i] in ".-")):
                    i += 1
                value = text[token_start:i].lower()
                if i >= n or (text[i] not in _SPACE and text[i] != ">"):
                    raise EntityParseError(
                        f"Unexpected end of name token at byte offset {byte_offset(token_start)}"
                    )
            if tag == "a" and attr == "href":
                argument = value
            elif tag == "code" and attr == "class" and value.startswith("language-"):
                argument = value.removeprefix("language-")
            elif tag == "span" and attr == "class" and value.startswith("tg-"):
                argument = value.removeprefix("tg-")
            elif (tag == "tg-emoji" and attr == "emoji-id") or (
                tag == "tg-time" and attr == "unix"
            ):
                argument = value
        if tag == "span" and argument != "spoiler":
            raise EntityParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {byte_offset(begin)}'
            )
        if tag == "blockquote" and any(o.tag == "blockquote" for o in stack):
            raise EntityParseError(
                f"Nested blockquotes are not supported at byte offset {byte_offset(begin)}"
            )
        stack.append(_Open(tag, argument, utf16))

    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].tag}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return ParsedText("".join(out), tuple(entities))


def _entity(opened: _Open, length: int) -> dict[str, Any]:
    kind = _ENTITY_TYPES[opened.tag]
    entity: dict[str, Any] = {"type": kind, "offset": opened.offset, "length": length}
    if kind == "text_link":
        entity["url"] = opened.argument
    elif kind == "blockquote" and opened.argument == "expandable":
        entity["type"] = "expandable_blockquote"
    elif kind == "code" and opened.argument:
        entity.update(type="pre", language=opened.argument)
    elif kind == "custom_emoji":
        entity["custom_emoji_id"] = opened.argument
    elif kind == "date_time" and opened.argument.isdigit():
        entity["unix_time"] = int(opened.argument)
    return entity


# ───────────────────────────── the server ─────────────────────────────


@dataclass(frozen=True, slots=True)
class SentMessage:
    """One accepted sendMessage. `time` is `time.monotonic()` when it was accepted."""

    chat_id: ChatId
    text: str  # as sent (HTML source when parse_mode is HTML)
    visible_text: str  # what Telegram shows: tags removed, entities decoded
    parse_mode: str | None
    link_preview_options: dict[str, Any] | None
    message_id: int
    time: float
    entities: tuple[dict[str, Any], ...] = ()
    disable_notification: bool = False


@dataclass(frozen=True, slots=True)
class EditedMessage:
    """One accepted editMessageText of a message the bot sent. `time` is `time.monotonic()`
    when it was accepted."""

    chat_id: ChatId
    message_id: int
    text: str  # as sent (HTML source when parse_mode is HTML)
    visible_text: str  # what Telegram shows now: tags removed, entities decoded
    parse_mode: str | None
    link_preview_options: dict[str, Any] | None
    time: float
    entities: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class SentPhoto:
    """One accepted sendPhoto. `data` is the image (the upload, or the one a reused file_id
    names); `time` is `time.monotonic()` when it was accepted."""

    chat_id: ChatId
    caption: str  # as sent ("" without one; HTML source when parse_mode is HTML)
    visible_caption: str  # what Telegram shows: tags removed, entities decoded
    parse_mode: str | None
    data: bytes
    message_id: int
    time: float
    width: int
    height: int
    caption_entities: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class EditedCaption:
    """One accepted editMessageCaption of a photo the bot sent."""

    chat_id: ChatId
    message_id: int
    caption: str  # as sent (HTML source when parse_mode is HTML)
    visible_caption: str  # what Telegram shows now: tags removed, entities decoded
    parse_mode: str | None
    time: float
    caption_entities: tuple[dict[str, Any], ...] = ()


@dataclass
class _StoredPhoto:
    """A photo the bot sent, with its caption as it reads now; `date` as in `_Stored`."""

    current: SentPhoto | EditedCaption
    date: int
    width: int
    height: int
    size: int


@dataclass
class _Stored:
    """A message the bot sent, as it reads now (its last send or edit); `date` is its Unix
    time of sending."""

    current: SentMessage | EditedMessage
    date: int
    editable: bool = True


NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)


@dataclass(frozen=True, slots=True)
class Violation:
    """A call Telegram would have rejected as malformed."""

    method: str
    description: str
    params: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Call:
    """One spec-valid call, with its coerced parameters."""

    method: str
    params: dict[str, Any]


@dataclass
class _Fault:
    kind: str
    params: dict[str, Any]
    remaining: int


class _Drop(Exception):
    """Close the connection without answering."""


@dataclass
class _Reply:
    status: int
    body: bytes
    content_type: str = "application/json"


def _ok(result: Any) -> _Reply:
    return _Reply(200, json.dumps({"ok": True, "result": result}).encode())


def _error(code: int, description: str, parameters: dict[str, Any] | None = None) -> _Reply:
    envelope: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        envelope["parameters"] = parameters
    return _Reply(code, json.dumps(envelope).encode())


def _too_many_requests(retry_after: int) -> _Reply:
    return _error(
        429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
    )


_ADMIN_RIGHTS = (
    "can_be_edited",
    "is_anonymous",
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
)
_RESTRICTED_RIGHTS = (
    "can_send_messages",
    "can_send_audios",
    "can_send_documents",
    "can_send_photos",
    "can_send_videos",
    "can_send_video_notes",
    "can_send_voice_notes",
    "can_send_polls",
    "can_send_other_messages",
    "can_add_web_page_previews",
    "can_react_to_messages",
    "can_edit_tag",
    "can_change_info",
    "can_invite_users",
    "can_pin_messages",
    "can_manage_topics",
)

_NGINX_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


class FakeTelegramAPI:
    """A Bot API look-alike on 127.0.0.1; see the module docstring.

    Public state (read it from tests; lists only grow): `sent`, `photos`, `edits`,
    `caption_edits`, `violations`,
    `calls`, `commands`, `chats` (writable set of known chat ids and "@usernames"),
    `bot_members` (the bot's own `ChatMember` per chat, for getChatMember; see
    `set_bot_member`), `rate_limit_per_chat` (None, or (messages, seconds) per chat for
    sendMessage and editMessageText together). A message as it reads now: `current_message`.
    `nodelay` sets TCP_NODELAY on every connection, as api.telegram.org does (the
    benchmarks; without it each answer may wait 40 ms for the client's delayed ACK).
    """

    def __init__(
        self,
        token: str = TEST_TOKEN,
        *,
        chats: Iterable[ChatId] = (TEST_CHAT_ID,),
        spec_path: Path = SPEC_PATH,
        nodelay: bool = False,
    ) -> None:
        self.token = token
        self.nodelay = nodelay
        self.bot_id = int(token.split(":", 1)[0])
        self.chats: set[ChatId] = set(chats)
        self.sent: list[SentMessage] = []
        self.photos: list[SentPhoto] = []
        self.edits: list[EditedMessage] = []
        self.caption_edits: list[EditedCaption] = []
        self.violations: list[Violation] = []
        self.calls: list[Call] = []
        self.commands: list[dict[str, Any]] = []
        self.rate_limit_per_chat: tuple[int, float] | None = None
        self._spec = load_spec(spec_path)
        self._methods = {name.lower(): name for name in self._spec["methods"]}
        self._lock = threading.Condition()
        self._closing = threading.Event()
        self._faults: dict[str, deque[_Fault]] = {}
        self._down_until = 0.0
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 1
        self._next_message_id = 1
        self._chat_types: dict[ChatId, str] = {}
        self.bot_members: dict[ChatId, dict[str, Any]] = {}
        self._recent: dict[ChatId, deque[float]] = {}
        self._messages: dict[tuple[ChatId, int], _Stored] = {}
        self._photo_messages: dict[tuple[ChatId, int], _StoredPhoto] = {}
        self._files: dict[str, bytes] = {}  # file_id → the photo it names
        self._httpd: _HTTPServer | None = None

    # ── lifecycle ──

    def start(self) -> FakeTelegramAPI:
        """Bind 127.0.0.1 on a free port and serve in a background thread."""
        self._httpd = _HTTPServer(self)
        self._httpd.start()
        return self

    def stop(self) -> None:
        """Stop serving; wakes held long polls and hangs, closes every connection, joins."""
        httpd = self._httpd
        if httpd is None:
            return
        self._httpd = None
        self._closing.set()
        with self._lock:
            self._lock.notify_all()
        httpd.stop()

    def __enter__(self) -> FakeTelegramAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.port

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT`, the `api_url` of rules.toml."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT/bot`, PTB's `base_url` (the token is appended)."""
        return f"{self.url}/bot"

    # ── fault injection ──

    def fail_next(self, method: str, kind: str, times: int = 1, **params: Any) -> None:
        """Make the next `times` valid calls of `method` fail with `kind`.

        Kinds: "429" (retry_after=5), "500", "502" (an nginx HTML page), "chat_not_found",
        "forbidden", "parse_entities", "migrate" (migrate_to_chat_id=-1009876543210), "hang"
        (seconds=5: hold the request, then close without answering), "drop" (close at once),
        "slow" (seconds=5: hold the request, then handle it as usual: a client that gave up
        meanwhile still had its message accepted), "ok_result" (handle the call as usual,
        then answer `{"ok": true, "result": result}` with result="yes" or the one given: an
        accepted call whose answer is not what the spec says).
        `description=` overrides the error text of the 4xx kinds.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {sorted(FAULT_KINDS)}")
        if times < 1:
            raise ValueError("times must be >= 1")
        with self._lock:
            self._faults.setdefault(method.lower(), deque()).append(_Fault(kind, params, times))

    def down(self, seconds: float) -> None:
        """Refuse every request at the connection level for `seconds` (an outage)."""
        with self._lock:
            self._down_until = time.monotonic() + seconds
            self._lock.notify_all()

    def up(self) -> None:
        """End an outage started by `down`."""
        with self._lock:
            self._down_until = 0.0

    @property
    def is_down(self) -> bool:
        return time.monotonic() < self._down_until

    def set_rate_limit(self, limit: tuple[int, float] | None) -> None:
        """Set `rate_limit_per_chat` and forget the messages sent so far (a new bot)."""
        with self._lock:
            self.rate_limit_per_chat = limit
            self._recent.clear()

    def set_bot_member(self, chat_id: ChatId, status: str, **rights: bool) -> None:
        """The bot's status in `chat_id` as getChatMember reports it: "administrator" (with
        rights such as `can_post_messages=False`), "member", "restricted"
        (`can_send_messages=False`), "left" or "kicked" ("kicked" also makes getChat answer
        403). By default the bot is an administrator that may post in a known channel and a
        member of a known group."""
        with self._lock:
            self.bot_members[chat_id] = {"status": status, **rights}

    # ── updates and inspection ──

    def push_message(
        self, user_id: int, chat_id: ChatId, text: str, chat_type: str = "private"
    ) -> dict[str, Any]:
        """Queue an Update with a message from `user_id` in `chat_id`; returns the update.

        A leading `/command` (with an optional `@botname`) is marked as a `bot_command` entity,
        which PTB's CommandHandler needs. The chat becomes known (the bot can answer there).
        """
        user = {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"}
        chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
        if chat_type == "private":
            chat["first_name"] = user["first_name"]
        else:
            chat["title"] = f"Chat {chat_id}"
        with self._lock:
            message: dict[str, Any] = {
                "message_id": self._take_message_id(),
                "from": user,
                "chat": chat,
                "date": int(time.time()),
                "text": text,
            }
            command = re.match(r"/[A-Za-z0-9_]+(?:@[A-Za-z0-9_]+)?", text)
            if command:
                message["entities"] = [
                    {"type": "bot_command", "offset": 0, "length": utf16_len(command.group())}
                ]
            update = {"update_id": self._next_update_id, "message": message}
            self._next_update_id += 1
            self._updates.append(update)
            self.chats.add(chat_id)
            self._chat_types[chat_id] = chat_type
            if chat_type == "private":
                self.chats.add(user_id)
            self._lock.notify_all()
        return update

    def messages_to(self, chat_id: ChatId) -> list[SentMessage]:
        """Accepted messages sent to `chat_id`, oldest first."""
        with self._lock:
            return [m for m in self.sent if m.chat_id == chat_id]

    def photos_to(self, chat_id: ChatId) -> list[SentPhoto]:
        """Accepted photos sent to `chat_id`, oldest first."""
        with self._lock:
            return [p for p in self.photos if p.chat_id == chat_id]

    def current_message(
        self, chat_id: ChatId, message_id: int
    ) -> SentMessage | EditedMessage | None:
        """The bot's message `message_id` in `chat_id` as it reads now (its send, or its last
        edit), or None when the bot sent no such message or it was deleted."""
        with self._lock:
            stored = self._messages.get((self._known_chat(chat_id) or chat_id, message_id))
            return stored.current if stored is not None else None

    def current_caption(self, chat_id: ChatId, message_id: int) -> SentPhoto | EditedCaption | None:
        """The bot's photo `message_id` in `chat_id` with its caption as it reads now (its
        send, or its last caption edit), or None when the bot sent no such photo."""
        with self._lock:
            stored = self._photo_messages.get((self._known_chat(chat_id) or chat_id, message_id))
            return stored.current if stored is not None else None

    def delete_message(self, chat_id: ChatId, message_id: int) -> None:
        """Delete a message the bot sent (an admin did): editing it is then 400 "message to
        edit not found"."""
        with self._lock:
            del self._messages[self._stored_key(chat_id, message_id)]

    def make_uneditable(self, chat_id: ChatId, message_id: int) -> None:
        """Make a message the bot sent uneditable (the bot lost the right to edit it): editing
        it is then 400 "message can't be edited"."""
        with self._lock:
            self._messages[self._stored_key(chat_id, message_id)].editable = False

    def _stored_key(self, chat_id: ChatId, message_id: int) -> tuple[ChatId, int]:
        key = (self._known_chat(chat_id) or chat_id, message_id)
        if key not in self._messages:
            raise KeyError(f"the bot sent no message {message_id} to chat {chat_id}")
        return key

    def calls_to(self, method: str) -> list[Call]:
        """Spec-valid calls of `method` (any case), oldest first."""
        with self._lock:
            return [c for c in self.calls if c.method.lower() == method.lower()]

    @property
    def pending_updates(self) -> int:
        with self._lock:
            return len(self._updates)

    # ── request handling (handler threads) ──

    def _take_message_id(self) -> int:
        message_id = self._next_message_id
        self._next_message_id += 1
        return message_id

    def handle(self, path: str, raw: dict[str, Any]) -> _Reply:
        """Answer one request; raises _Drop to close the connection without answering."""
        if self.is_down:
            raise _Drop
        m = re.fullmatch(r"/bot([^/]*)/([A-Za-z0-9_]+)/?", path)
        if not m:
            return _error(404, "Not Found")
        token, method_name = m.groups()
        if token != self.token:
            return _error(401, "Unauthorized")
        method = self._methods.get(method_name.lower())
        if method is None:
            return _error(404, "Not Found: method not found")
        try:
            params = validate_call(method, raw, self._spec)
        except SpecViolation as exc:
            with self._lock:
                self.violations.append(Violation(method, str(exc), dict(raw)))
            return _error(400, f"Bad Request: {exc}")
        with self._lock:
            self.calls.append(Call(method, params))
            fault = self._take_fault(method)
        if fault is not None and fault.kind == "slow":
            self._closing.wait(float(fault.params.get("seconds", 5.0)))
        elif fault is not None and fault.kind != "ok_result":
            return self._inject(fault)
        handler = getattr(self, f"_api_{method.lower()}", None)
        if handler is None:
            return _ok(True)
        reply: _Reply = handler(params)
        if fault is not None and fault.kind == "ok_result" and reply.status == 200:
            return _ok(fault.params.get("result", "yes"))
        return reply

    def _take_fault(self, method: str) -> _Fault | None:
        queue = self._faults.get(method.lower())
        if not queue:
            return None
        fault = queue[0]
        fault.remaining -= 1
        if fault.remaining <= 0:
            queue.popleft()
        return fault

    def _inject(self, fault: _Fault) -> _Reply:
        p = fault.params
        match fault.kind:
            case "429":
                return _too_many_requests(int(p.get("retry_after", 5)))
            case "500":
                return _error(500, p.get("description", "Internal Server Error"))
            case "502":
                return _Reply(502, _NGINX_502, "text/html")
            case "chat_not_found":
                return _error(400, p.get("description", "Bad Request: chat not found"))
            case "forbidden":
                return _error(
                    403, p.get("description", "Forbidden: bot is not a member of the channel chat")
                )
            case "parse_entities":
                return _error(
                    400,
                    p.get(
                        "description",
                        "Bad Request: can't parse entities: "
                        'Unsupported start tag "foo" at byte offset 0',
                    ),
                )
            case "migrate":
                new_id = int(p.get("migrate_to_chat_id", DEFAULT_MIGRATE_TO))
                with self._lock:
                    self.chats.add(new_id)
                return _error(
                    400,
                    "Bad Request: group chat was upgraded to a supergroup chat",
                    {"migrate_to_chat_id": new_id},
                )
            case "hang":
                self._closing.wait(float(p.get("seconds", 5.0)))
                raise _Drop
            case _:  # "drop"
                raise _Drop

    # ── methods ──

    def _me(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Vedette Test",
            "username": "vedette_test_bot",
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def _api_getme(self, params: dict[str, Any]) -> _Reply:
        return _ok(self._me())

    def _api_deletewebhook(self, params: dict[str, Any]) -> _Reply:
        if params.get("drop_pending_updates"):
            with self._lock:
                self._updates.clear()
        return _ok(True)

    def _api_getupdates(self, params: dict[str, Any]) -> _Reply:
        offset = params.get("offset")
        limit = max(1, min(100, params.get("limit", 100)))
        deadline = time.monotonic() + max(0, params.get("timeout", 0))
        with self._lock:
            if offset is not None and offset > 0:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            elif offset is not None and offset < 0:
                self._updates = self._updates[offset:]
            while not self._updates and not self._closing.is_set() and not self.is_down:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._lock.wait(min(remaining, 0.5))
            if self.is_down:
                raise _Drop
            return _ok(list(self._updates[:limit]))

    def _api_setmycommands(self, params: dict[str, Any]) -> _Reply:
        with self._lock:
            self.commands = list(params["commands"])
        return _ok(True)

    def _api_getmycommands(self, params: dict[str, Any]) -> _Reply:
        with self._lock:
            return _ok(list(self.commands))

    def _api_sendmessage(self, params: dict[str, Any]) -> _Reply:
        checked = self._checked_text(params, too_long="Bad Request: message is too long")
        if isinstance(checked, _Reply):
            return checked
        known, parsed = checked
        now = time.monotonic()
        date = int(time.time())
        with self._lock:
            retry_after = self._rate_limited(known, now)
            if retry_after is not None:
                return _too_many_requests(retry_after)
            message_id = self._take_message_id()
            sent = SentMessage(
                chat_id=params["chat_id"],
                text=params["text"],
                visible_text=parsed.text,
                parse_mode=params.get("parse_mode") or None,
                link_preview_options=params.get("link_preview_options"),
                message_id=message_id,
                time=now,
                entities=parsed.entities,
                disable_notification=bool(params.get("disable_notification", False)),
            )
            self.sent.append(sent)
            self._messages[(known, message_id)] = _Stored(sent, date)
        return _ok(self._message_object(known, message_id, date, parsed))

    def _api_editmessagetext(self, params: dict[str, Any]) -> _Reply:
        if "inline_message_id" in params:
            return _error(400, "Bad Request: inline messages are not supported by the fake")
        checked = self._checked_text(params, too_long="Bad Request: MESSAGE_TOO_LONG")
        if isinstance(checked, _Reply):
            return checked
        known, parsed = checked
        message_id: int = params["message_id"]
        now = time.monotonic()
        with self._lock:
            stored = self._messages.get((known, message_id))
            if stored is None and (known, message_id) in self._photo_messages:
                return _error(400, "Bad Request: there is no text in the message to edit")
            if stored is None:
                return _error(400, "Bad Request: message to edit not found")
            if not stored.editable:
                return _error(400, "Bad Request: message can't be edited")
            current = stored.current
            if (current.visible_text, current.entities) == (parsed.text, parsed.entities):
                return _error(400, NOT_MODIFIED)
            retry_after = self._rate_limited(known, now)
            if retry_after is not None:
                return _too_many_requests(retry_after)
            edited = EditedMessage(
                chat_id=params["chat_id"],
                message_id=message_id,
                text=params["text"],
                visible_text=parsed.text,
                parse_mode=params.get("parse_mode") or None,
                link_preview_options=params.get("link_preview_options"),
                time=now,
                entities=parsed.entities,
            )
            self.edits.append(edited)
            stored.current = edited
            date = stored.date
        result = self._message_object(known, message_id, date, parsed)
        result["edit_date"] = max(date, int(time.time()))
        return _ok(result)

    def _api_sendphoto(self, params: dict[str, Any]) -> _Reply:
        checked = self._checked_caption(params)
        if isinstance(checked, _Reply):
            return checked
        known, parsed = checked
        photo = params["photo"]
        if isinstance(photo, str):
            with self._lock:
                data = self._files.get(photo)
            if data is None:
                return _error(400, "Bad Request: wrong file identifier/HTTP URL specified")
        else:
            data = photo.data
        if not data:
            return _error(400, "Bad Request: file must be non-empty")
        if len(data) > MAX_PHOTO_BYTES:
            return _error(400, "Bad Request: file is too big")  # the fake's wording
        size = png_size(data)
        if size is None:
            return _error(400, "Bad Request: IMAGE_PROCESS_FAILED")
        width, height = size
        if width + height > 10000 or max(width, height) > 20 * min(width, height):
            return _error(400, "Bad Request: PHOTO_INVALID_DIMENSIONS")
        now = time.monotonic()
        date = int(time.time())
        with self._lock:
            retry_after = self._rate_limited(known, now)
            if retry_after is not None:
                return _too_many_requests(retry_after)
            message_id = self._take_message_id()
            sizes = _photo_sizes(message_id, width, height, len(data))
            for photo_size in sizes:
                self._files[photo_size["file_id"]] = data
            sent = SentPhoto(
                chat_id=params["chat_id"],
                caption=params.get("caption", ""),
                visible_caption=parsed.text,
                parse_mode=params.get("parse_mode") or None,
                data=data,
                message_id=message_id,
                time=now,
                width=width,
                height=height,
                caption_entities=parsed.entities,
            )
            self.photos.append(sent)
            self._photo_messages[(known, message_id)] = _StoredPhoto(
                sent, date, width, height, len(data)
            )
        result = self._message_object(known, message_id, date, ParsedText(""))
        del result["text"]
        result["photo"] = sizes
        if parsed.text:
            result["caption"] = parsed.text
        if parsed.entities:
            result["caption_entities"] = list(parsed.entities)
        return _ok(result)

    def _api_editmessagecaption(self, params: dict[str, Any]) -> _Reply:
        if "inline_message_id" in params or "message_id" not in params:
            return _error(400, "Bad Request: inline messages are not supported by the fake")
        checked = self._checked_caption(params)
        if isinstance(checked, _Reply):
            return checked
        known, parsed = checked
        message_id: int = params["message_id"]
        now = time.monotonic()
        with self._lock:
            stored = self._photo_messages.get((known, message_id))
            if stored is None and (known, message_id) in self._messages:
                return _error(400, "Bad Request: there is no caption in the message to edit")
            if stored is None:
                return _error(400, "Bad Request: message to edit not found")
            current = stored.current
            if (current.visible_caption, current.caption_entities) == (
                parsed.text,
                parsed.entities,
            ):
                return _error(400, NOT_MODIFIED)
            retry_after = self._rate_limited(known, now)
            if retry_after is not None:
                return _too_many_requests(retry_after)
            edited = EditedCaption(
                chat_id=params["chat_id"],
                message_id=message_id,
                caption=params.get("caption", ""),
                visible_caption=parsed.text,
                parse_mode=params.get("parse_mode") or None,
                time=now,
                caption_entities=parsed.entities,
            )
            self.caption_edits.append(edited)
            stored.current = edited
            date = stored.date
            sizes = _photo_sizes(message_id, stored.width, stored.height, stored.size)
        result = self._message_object(known, message_id, date, ParsedText(""))
        del result["text"]
        result["photo"] = sizes
        if parsed.text:
            result["caption"] = parsed.text
        if parsed.entities:
            result["caption_entities"] = list(parsed.entities)
        result["edit_date"] = max(date, int(time.time()))
        return _ok(result)

    def _checked_text(
        self, params: dict[str, Any], *, too_long: str
    ) -> tuple[ChatId, ParsedText] | _Reply:
        """The chat (as stored) and the parsed text of a sendMessage or editMessageText, or
        Telegram's 400 for them (`too_long`: its description for a text over 4096)."""
        with self._lock:
            known = self._known_chat(params["chat_id"])
        if known is None:
            return _error(400, "Bad Request: chat not found")
        parsed = _parse_formatted(params["text"], params.get("parse_mode") or None)
        if isinstance(parsed, _Reply):
            return parsed
        if not parsed.text.strip():
            return _error(400, "Bad Request: message text is empty")
        if utf16_len(parsed.text) > MAX_MESSAGE_LENGTH:
            return _error(400, too_long)
        return known, parsed

    def _checked_caption(self, params: dict[str, Any]) -> tuple[ChatId, ParsedText] | _Reply:
        """The chat (as stored) and the parsed caption of a sendPhoto or editMessageCaption,
        or Telegram's 400 for them (a caption over 1024 after parsing is too long)."""
        with self._lock:
            known = self._known_chat(params["chat_id"])
        if known is None:
            return _error(400, "Bad Request: chat not found")
        if "caption_entities" in params:
            return _error(400, "Bad Request: caption_entities are not supported by the fake")
        parsed = _parse_formatted(params.get("caption", ""), params.get("parse_mode") or None)
        if isinstance(parsed, _Reply):
            return parsed
        if utf16_len(parsed.text) > MAX_CAPTION_LENGTH:
            return _error(400, "Bad Request: message caption is too long")
        return known, parsed

    def _message_object(
        self, known: ChatId, message_id: int, date: int, parsed: ParsedText
    ) -> dict[str, Any]:
        """The `Message` the bot's text message `message_id` in `known` is, as Telegram
        answers it."""
        chat = self._chat_object(known)
        result: dict[str, Any] = {
            "message_id": message_id,
            "date": date,
            "chat": chat,
            "text": parsed.text,
        }
        if chat["type"] == "channel":
            result["sender_chat"] = chat
        else:
            result["from"] = self._me()
        if parsed.entities:
            result["entities"] = list(parsed.entities)
        return result

    def _api_getchat(self, params: dict[str, Any]) -> _Reply:
        known, member = self._chat_and_bot_member(params["chat_id"])
        if known is None:
            return _error(400, "Bad Request: chat not found")
        chat = self._chat_object(known)
        if member is not None and member["status"] == "kicked":
            return _error(403, f"Forbidden: bot was kicked from the {chat['type']} chat")
        gifts = dict.fromkeys(
            (
                "unlimited_gifts",
                "limited_gifts",
                "unique_gifts",
                "premium_subscription",
                "gifts_from_channels",
            ),
            False,
        )
        info = {**chat, "accent_color_id": 0, "max_reaction_count": 11}
        return _ok({**info, "accepted_gift_types": gifts})

    def _api_getchatmember(self, params: dict[str, Any]) -> _Reply:
        known, member = self._chat_and_bot_member(params["chat_id"])
        if known is None:
            return _error(400, "Bad Request: chat not found")
        user_id = params["user_id"]
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"}
        if user_id == self.bot_id:
            user = {k: v for k, v in self._me().items() if k in ("id", "is_bot", "first_name")}
            user["username"] = self._me()["username"]
        chat_type = self._chat_object(known)["type"]
        if user_id != self.bot_id:
            member = {"status": "member"}
        elif member is None:
            member = {"status": "administrator" if chat_type == "channel" else "member"}
        status = member["status"]
        rights = {k: v for k, v in member.items() if k != "status"}
        result: dict[str, Any] = {"status": status, "user": user}
        if status == "administrator":
            result.update(dict.fromkeys(_ADMIN_RIGHTS, False))
            result.update(can_manage_chat=True, can_post_messages=chat_type == "channel")
            if chat_type != "channel":
                del result["can_post_messages"]
        elif status == "restricted":
            result.update(dict.fromkeys(_RESTRICTED_RIGHTS, True))
            result.update(is_member=True, until_date=0)
        elif status == "kicked":
            result["until_date"] = 0
        result.update(rights)
        return _ok(result)

    def _chat_and_bot_member(self, chat_id: ChatId) -> tuple[ChatId | None, dict[str, Any] | None]:
        """The chat as stored (None: not found) and the bot's `ChatMember` set there, if any."""
        with self._lock:
            known = self._known_chat(chat_id)
            return known, self.bot_members.get(known) if known is not None else None

    def _known_chat(self, chat_id: ChatId) -> ChatId | None:
        """The chat as stored in `chats` (usernames compare case-insensitively), or None."""
        if chat_id in self.chats:
            return chat_id
        if isinstance(chat_id, str):
            for known in self.chats:
                if isinstance(known, str) and known.lower() == chat_id.lower():
                    return known
        return None

    def _chat_object(self, chat: ChatId) -> dict[str, Any]:
        if isinstance(chat, str):  # "@username": give it a stable numeric id
            numeric = -(1_000_000_000_000 + zlib.crc32(chat.lower().encode()))
            return {"id": numeric, "type": "channel", "username": chat.lstrip("@")}
        kind = self._chat_types.get(chat)
        if kind is None:
            kind = "private" if chat > 0 else "channel" if str(chat).startswith("-100") else "group"
        obj: dict[str, Any] = {"id": chat, "type": kind}
        if kind == "private":
            obj["first_name"] = f"User {chat}"
        else:
            obj["title"] = f"Chat {chat}"
        return obj

    def _rate_limited(self, chat: ChatId, now: float) -> int | None:
        """Seconds to wait when `chat` exceeded `rate_limit_per_chat`; else counts this send
        (or edit: Telegram's flood limit counts both)."""
        if self.rate_limit_per_chat is None:
            return None
        most, window = self.rate_limit_per_chat
        recent = self._recent.setdefault(chat, deque())
        while recent and recent[0] <= now - window:
            recent.popleft()
        if len(recent) >= most:
            return max(1, math.ceil(recent[0] + window - now))
        recent.append(now)
        return None


def _parse_formatted(text: str, parse_mode: str | None) -> ParsedText | _Reply:
    """A message text or caption as Telegram shows it, or its 400 (an unknown parse mode,
    HTML it cannot parse). Markdown is not interpreted by this fake."""
    if parse_mode is not None and parse_mode.lower() not in ("html", "markdown", "markdownv2"):
        return _error(400, "Bad Request: unsupported parse_mode")
    if parse_mode is not None and parse_mode.lower() == "html":
        try:
            return parse_html(text)
        except EntityParseError as exc:
            return _error(400, f"Bad Request: can't parse entities: {exc}")
    return ParsedText(text)


def png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG image (from its IHDR chunk), or None when `data` is not one.
    The fake reads PNG only (what vedette sends); Telegram would also take JPEG and others."""
    if len(data) < 24 or not data.startswith(_PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return None
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return (width, height) if width > 0 and height > 0 else None


def _photo_sizes(message_id: int, width: int, height: int, file_size: int) -> list[dict[str, Any]]:
    """The `PhotoSize` array Telegram answers for a photo: scaled copies up to the image's own
    size (at most 2560 on the longer side), smallest first."""
    sizes: list[dict[str, Any]] = []
    longest = max(width, height)
    for n, side in enumerate(PHOTO_SIDES):
        scale = min(1.0, side / longest)
        size = {
            "file_id": f"fake-photo-{message_id}-{n}",
            "file_unique_id": f"fake-unique-{message_id}-{n}",
            "width": max(1, round(width * scale)),
            "height": max(1, round(height * scale)),
        }
        sizes.append(size)
        if scale == 1.0:
            size["file_size"] = file_size
            break
    return sizes


# ───────────────────────────── HTTP plumbing ─────────────────────────────


class _HTTPServer(LoopbackHTTPServer["FakeTelegramAPI"]):
    """The loopback server plus what the Bot API needs: an outage refuses connections, and
    `stop` lets woken long polls answer before their connections are closed."""

    def __init__(self, api: FakeTelegramAPI) -> None:
        self._answering = 0  # requests read and not yet answered
        self._answered = threading.Condition()
        super().__init__(api, _Handler, nodelay=api.nodelay)

    @contextlib.contextmanager
    def answering(self) -> Iterator[None]:
        """Count a request as in progress until its answer is written (or dropped)."""
        with self._answered:
            self._answering += 1
        try:
            yield
        finally:
            with self._answered:
                self._answering -= 1
                self._answered.notify_all()

    def verify_request(self, request: Any, client_address: Any) -> bool:
        return not self.owner.is_down  # an outage: accept and close at once

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Connections reset by clients (timeouts, shutdown) are normal here; stay quiet."""

    def stop(self) -> None:
        """Stop accepting; once every woken long poll and hang has answered (or dropped),
        at most 5 s, close the connections (else an empty answer could be cut off under load)."""
        self.shutdown()
        with self._answered:
            self._answered.wait_for(lambda: self._answering == 0, timeout=5.0)
        super().stop()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr log."""

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        with self.server.answering():
            self._answer()

    def _answer(self) -> None:
        api = self.server.owner
        try:
            parts = urlsplit(self.path)
            body = self._read_body()
            raw: dict[str, Any] = dict(parse_qsl(parts.query, keep_blank_values=True))
            content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if body and content_type == "application/json":
                try:
                    decoded = json.loads(body)
                except ValueError:
                    decoded = None
                if not isinstance(decoded, dict):
                    self._send(_error(400, "Bad Request: can't parse JSON encoded parameters"))
                    return
                raw.update(decoded)
            elif body and content_type == "multipart/form-data":
                try:
                    raw.update(parse_multipart(self.headers.get("Content-Type", ""), body))
                except MultipartError as exc:
                    with api._lock:
                        api.violations.append(Violation(parts.path, str(exc), {}))
                    self._send(_error(400, f"Bad Request: {exc}"))
                    return
            elif body:
                raw.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
            reply = api.handle(parts.path, raw)
        except _Drop:
            self.close_connection = True
            return
        self._send(reply)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, reply: _Reply) -> None:
        self.send_response(reply.status, HTTPStatus(reply.status).phrase)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)


@pytest.fixture
def telegram_api() -> Iterator[FakeTelegramAPI]:
    """A running fake Bot API: token TEST_TOKEN, one known channel TEST_CHAT_ID."""
    yield from started(FakeTelegramAPI(TEST_TOKEN, chats={TEST_CHAT_ID}))


__all__ = [
    "DEFAULT_MIGRATE_TO",
    "FAULT_KINDS",
    "MAX_CAPTION_LENGTH",
    "MAX_MESSAGE_LENGTH",
    "NOT_MODIFIED",
    "SPEC_PATH",
    "TEST_CHAT_ID",
    "TEST_TOKEN",
    "Call",
    "EditedMessage",
    "EntityParseError",
    "FakeTelegramAPI",
    "ParsedText",
    "SentMessage",
    "SentPhoto",
    "SpecViolation",
    "Upload",
    "Violation",
    "load_spec",
    "parse_html",
    "parse_multipart",
    "png_size",
    "telegram_api",
    "utf16_len",
    "validate_call",
]
