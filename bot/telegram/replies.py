"""What the admin commands beyond `/status` answer: `/recent`, `/mute`, `/unmute`, `/test`,
`/retry`, `/pause`, `/resume`, `/route`; and the channel check at start (`check_channels`).

Each function takes what it needs (the store, the arguments, the current rule ids or
channels, `now`) and returns the reply as plain text; `bot.telegram.commands` wires them to
python-telegram-bot. Replies are sent without a parse mode, so nothing needs escaping, except
`/route`'s report: a fixed-width table, sent as HTML `<pre>` blocks (`route_reply`).
`/retry` says what `vedette retry-failed` says (`bot.retry.requeued_text`).
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from telegram import Bot
from telegram.constants import ChatMemberStatus
from telegram.error import BadRequest, ChatMigrated, Forbidden, TelegramError

from bot.config.flights import operator_code, resolve_airports, unknown_airport
from bot.config.types import Channel
from bot.config.validate import parse_duration
from bot.flights.evidence import (
    BY_DAY_UP_TO,
    BY_WEEK_UP_TO,
    RouteReport,
    periods_for,
    report_text,
    total_coverage_text,
)
from bot.redact import redact_secret
from bot.render import MESSAGE_BUDGET, split_messages, visible_length
from bot.retry import requeued_text
from bot.store import Store
from bot.store.base import StoreError
from bot.store.records import RecentAlert
from bot.store.sources import PAUSED_RECHECK
from bot.timeutil import ago
from bot.words import plural
from watchers.feed_text import clip

log = logging.getLogger(__name__)

MAX_REPLY = 4000
MAX_TITLE = 120
MAX_MUTE = timedelta(days=365)
RECENT_DEFAULT = 10
RECENT_MAX = 30
HELD_SHOWN = 5
TEST_TEXT = "vedette test message for channel {name}: the bot can post here (sent by /test)."

USAGE_RECENT = (
    f"Usage: /recent [N], the last N sent alerts (default {RECENT_DEFAULT}, at most {RECENT_MAX})"
)
USAGE_RETRY = "Usage: /retry [RULE]: send failed alerts (of RULE, or all) again"
USAGE_MUTE = "Usage: /mute RULE DURATION, e.g. /mute {example} 6h (s, m, h or d; at most 365d)"
USAGE_UNMUTE = "Usage: /unmute RULE, e.g. /unmute {example}"


def when(moment: datetime) -> str:
    """A UTC time as "2026-07-05 14:02"."""
    return f"{moment:%Y-%m-%d %H:%M}"


def _short(text: str, limit: int = MAX_TITLE) -> str:
    return clip(text, limit)


def _alert_line(alert: RecentAlert) -> str:
    parts = [when(alert.at), ",".join(alert.rule_ids), _short(alert.title) or "(untitled)"]
    if alert.sources > 1:
        parts.append(plural(alert.sources, "source"))
    if alert.link:
        parts.append(alert.link)
    return " · ".join(parts)


def _fit(lines: Sequence[str]) -> str:
    text = ""
    for index, line in enumerate(lines):
        if len(text) + len(line) + 40 > MAX_REPLY:
            return text + f"\n… and {plural(len(lines) - index, 'more line')}"
        text += ("\n" if text else "") + line
    return text


def _example(rule_ids: Sequence[str]) -> str:
    return rule_ids[0] if rule_ids else "RULE"


def _rule_list(rule_ids: Sequence[str]) -> str:
    return ", ".join(rule_ids) if rule_ids else "(none configured)"


def recent_reply(store: Store, args: Sequence[str]) -> str:
    """`/recent [N]`: the last sent alerts (each a story: with its number of sources when
    other outlets joined it), newest first, then the last few held by mutes."""
    if len(args) > 1 or (args and not (args[0].isdigit() and int(args[0]) >= 1)):
        return USAGE_RECENT
    asked = int(args[0]) if args else RECENT_DEFAULT
    sent = store.recent_alerts(min(asked, RECENT_MAX))
    lines = [f"showing the last {RECENT_MAX} (at most {RECENT_MAX})"] if asked > RECENT_MAX else []
    lines.append("sent alerts, newest first (UTC):" if sent else "no alert was sent yet")
    lines.extend(_alert_line(alert) for alert in sent)
    held = store.recent_muted(HELD_SHOWN)
    if held:
        lines.append(f"held by mutes, not sent (last {len(held)} of {store.muted_count()}):")
        lines.extend(_alert_line(alert) for alert in held)
    return _fit(lines)


def mute_reply(
    store: Store, args: Sequence[str], rule_ids: Sequence[str], by: int | None, now: datetime
) -> str:
    """`/mute RULE DURATION`: mute a configured rule for a while."""
    usage = USAGE_MUTE.format(example=_example(rule_ids))
    if len(args) != 2:
        return usage
    rule_id, duration = args
    if rule_id not in rule_ids:
        return f'unknown rule "{_short(rule_id, 60)}"; rules: {_rule_list(rule_ids)}'
    try:
        seconds = parse_duration(duration)
    except ValueError as exc:
        return f"{exc}\n{usage}"
    if seconds > MAX_MUTE.total_seconds():
        return f'duration "{duration}" is too long: at most 365d\n{usage}'
    until = now + timedelta(seconds=seconds)
    try:
        store.mute(rule_id, until, by, now)
    except StoreError as exc:
        log.error("/mute: %s", exc)
        return f"could not mute {rule_id}: {exc}"
    log.info("rule %s muted until %s by %s", rule_id, until.isoformat(), by)
    return (
        f"muted {rule_id} until {when(until)} UTC: its alerts are recorded, not sent "
        f"(/unmute {rule_id} to end it)"
    )


def unmute_reply(store: Store, args: Sequence[str], rule_ids: Sequence[str], now: datetime) -> str:
    """`/unmute RULE`: end a mute (alerts held meanwhile stay unsent)."""
    if len(args) != 1:
        return USAGE_UNMUTE.format(example=_example(rule_ids))
    rule_id = args[0]
    try:
        ended = store.unmute(rule_id, now)
    except StoreError as exc:
        log.error("/unmute: %s", exc)
        return f"could not unmute {rule_id}: {exc}"
    if ended:
        log.info("rule %s unmuted", rule_id)
        return f"unmuted {rule_id}"
    if rule_id not in rule_ids:
        return f"{_short(rule_id, 60)} was not muted (unknown rule; rules: {_rule_list(rule_ids)})"
    return f"{rule_id} was not muted"


async def channel_test_reply(bot: Bot, channels: Mapping[str, Channel], secret: str | None) -> str:
    """`/test`: send a short message to every configured channel; one line per channel."""
    if not channels:
        return "no channels are configured"
    lines = ["test message, per channel:"]
    for name, channel in channels.items():
        try:
            await bot.send_message(
                chat_id=channel.chat_id,
                text=TEST_TEXT.format(name=name),
                disable_notification=True,
            )
            outcome = "ok"
        except TelegramError as exc:
            outcome = redact_secret(f"failed: {exc}", secret)
        lines.append(f"{name} ({channel.chat_id}): {outcome}")
    return _fit(lines)


def retry_reply(store: Store, args: Sequence[str], now: datetime) -> str:
    """`/retry [RULE]`: put alerts that failed for good back in the outbox."""
    if len(args) > 1:
        return USAGE_RETRY
    rule_id = args[0] if args else None
    try:
        count = store.retry_failed(now, rule_id)
    except StoreError as exc:
        log.error("/retry: %s", exc)
        return f"could not requeue: {exc}"
    return requeued_text(count, rule_id)


def _source_list(source_ids: Sequence[str]) -> str:
    return ", ".join(source_ids) if source_ids else "(none configured)"


def pause_reply(
    store: Store, args: Sequence[str], source_ids: Sequence[str], by: int | None, now: datetime
) -> str:
    """`/pause SOURCE`: stop polling a configured source until `/resume` (kept on restart)."""
    example = source_ids[0] if source_ids else "SOURCE"
    if len(args) != 1:
        return _fit([f"Usage: /pause SOURCE, e.g. /pause {example}", _sources_are(source_ids)])
    source_id = args[0]
    if source_id not in source_ids:
        return _fit([f'unknown source "{_short(source_id, 60)}"', _sources_are(source_ids)])
    try:
        paused = store.pause_source(source_id, by, now)
    except StoreError as exc:
        log.error("/pause: %s", exc)
        return f"could not pause {source_id}: {exc}"
    if not paused:
        return f"{source_id} is paused already (/resume {source_id} to poll it again)"
    log.info("source %s paused by %s", source_id, by)
    return (
        f"paused {source_id}: it is not polled until /resume {source_id} "
        "(a poll in progress finishes; the pause survives restarts)"
    )


def resume_reply(store: Store, args: Sequence[str], source_ids: Sequence[str]) -> str:
    """`/resume SOURCE`: poll a paused source again."""
    example = source_ids[0] if source_ids else "SOURCE"
    if len(args) != 1:
        return _fit([f"Usage: /resume SOURCE, e.g. /resume {example}", _sources_are(source_ids)])
    source_id = args[0]
    try:
        resumed = store.resume_source(source_id)
    except StoreError as exc:
        log.error("/resume: %s", exc)
        return f"could not resume {source_id}: {exc}"
    if resumed:
        log.info("source %s resumed", source_id)
        return f"resumed {source_id}: it is polled again within {ago(PAUSED_RECHECK)}"
    if source_id not in source_ids:
        return _fit([f'unknown source "{_short(source_id, 60)}"', _sources_are(source_ids)])
    return f"{source_id} was not paused"


ROUTE_DAYS = 180  # /route's span when none is given
ROUTE_MAX_DAYS = 730
MAX_CAPTION = 1024  # Telegram's limit for a photo caption, after entity parsing
ROUTE_MESSAGES = 8  # at most this many messages of text per /route (a flood limit would cut more)
_SPAN = re.compile(r"^(\d{1,4})d$")
USAGE_ROUTE = (
    "Usage: /route FROM TO [SPAN] [OPERATOR], e.g. /route BEN MSQ 90d BRU: flights from FROM "
    "to TO (IATA or ICAO codes; several joined by commas) that departed in the last SPAN days "
    f"up to today (UTC; default {ROUTE_DAYS}d, at most {ROUTE_MAX_DAYS}d), of OPERATOR "
    f"(an ICAO airline code) if given; per day up to {BY_DAY_UP_TO}d, per week up to "
    f"{BY_WEEK_UP_TO}d, else per month"
)


@dataclass(frozen=True, slots=True)
class RouteQuery:
    """What `/route` was asked: the airports (ICAO), the operator, the periods and the span."""

    origins: tuple[str, ...]
    destinations: tuple[str, ...]
    operator: str | None
    by: str
    start: date
    end: date


def route_query(args: Sequence[str], today: date) -> RouteQuery | str:
    """`/route FROM TO [SPAN] [OPERATOR]` read against `today` (UTC), or the reply that says
    what is wrong (with the usage). SPAN is a number of days ("90d") counted back from now,
    as `vedette route --since` counts: the days from `today - SPAN` to `today`, both included.
    The two optional arguments may come in either order."""
    if not 2 <= len(args) <= 4:
        return USAGE_ROUTE
    airports = []
    for codes in args[:2]:
        found, unknown = resolve_airports([c for c in codes.upper().split(",") if c])
        if unknown or not found:
            return f"{unknown_airport(_short(unknown[0] if unknown else codes, 20))}\n{USAGE_ROUTE}"
        airports.append(found)
    days, operator = ROUTE_DAYS, None
    spans = operators = 0
    for arg in args[2:]:
        span = _SPAN.match(arg.lower())
        if span is not None:
            days, spans = int(span.group(1)), spans + 1
            if not 1 <= days <= ROUTE_MAX_DAYS:
                return f'span "{arg}" must be 1d to {ROUTE_MAX_DAYS}d\n{USAGE_ROUTE}'
        elif (code := operator_code(arg)) is not None:
            operator, operators = code, operators + 1
        else:
            what = f'"{_short(arg, 20)}" is neither a span like 90d nor an operator like BRU'
            return f"{what}\n{USAGE_ROUTE}"
        if spans > 1 or operators > 1:
            return USAGE_ROUTE
    by = periods_for(days)
    start = today - timedelta(days=days)  # as `vedette route --since`: back from now, to today
    return RouteQuery(airports[0], airports[1], operator, by, start, today)


@dataclass(frozen=True, slots=True)
class RouteReply:
    """`/route`'s answer, in Telegram HTML: the photo's `caption` and the messages that
    `follow` it; `text` is the whole report in messages, sent when no chart can be."""

    caption: str
    follow: tuple[str, ...]
    text: tuple[str, ...]


def _pre(text: str) -> str:
    return f"<pre>{html.escape(text, quote=False)}</pre>"


def _pre_messages(blocks: Sequence[str]) -> tuple[str, ...]:
    """`blocks` of fixed-width text in as few `<pre>` messages as fit Telegram's limit, at
    most `ROUTE_MESSAGES`: the last then says how many lines were left out."""
    lines = "\n\n".join(blocks).split("\n")
    chunks = [chunk.strip("\n") for chunk in split_messages(lines, MESSAGE_BUDGET)]
    chunks = [chunk for chunk in chunks if chunk]
    if len(chunks) > ROUTE_MESSAGES:
        left_out = sum(len(chunk.splitlines()) for chunk in chunks[ROUTE_MESSAGES:])
        chunks = chunks[:ROUTE_MESSAGES]
        chunks[-1] += f"\n… and {plural(left_out, 'more line')}: `vedette route` lists them all"
    return tuple(_pre(chunk) for chunk in chunks)


def route_reply(report: RouteReport) -> RouteReply:
    """The caption holds as much of the report as fits 1024 characters, block by block (title,
    table, flights: `bot.flights.evidence.report_text`); when the table does not fit, the
    caption is the title and the total, and the table and flights follow."""
    blocks = report_text(report).split("\n\n")
    shown = 1
    while shown < len(blocks) and visible_length("\n\n".join(blocks[: shown + 1])) <= MAX_CAPTION:
        shown += 1
    caption = "\n\n".join(blocks[:shown])
    if shown == 1 and len(blocks) > 1:
        total = f"total: {plural(report.total, 'flight')}, {total_coverage_text(report)}"
        caption = f"{caption}\n{total}\n(the table follows)"
    if visible_length(caption) > MAX_CAPTION:  # a title alone that long: cut it
        caption = clip(caption, MAX_CAPTION)
    return RouteReply(_pre(caption), _pre_messages(blocks[shown:]), _pre_messages(blocks))


def _sources_are(source_ids: Sequence[str]) -> str:
    return f"sources: {_source_list(source_ids)}"


def unknown_command_reply(text: str) -> str:
    """What an admin hears for a command the bot does not have."""
    command = text.split()[0] if text.split() else text
    return f"unknown command {_short(command, 40)}, see /help"


@dataclass(frozen=True, slots=True)
class ChannelCheck:
    """The outcome of checking one channel at start: `ok`, and the line that says it."""

    name: str
    ok: bool
    line: str


async def check_channels(
    bot: Bot, channels: Mapping[str, Channel], secret: str | None = None
) -> list[ChannelCheck]:
    """Check each channel with getChat, then the bot's own rights with getChatMember; log one
    line per channel (a warning when alerts to it will fail). Never raises: a check that
    cannot run (Telegram unreachable) is logged and skipped."""
    checks = []
    for name, channel in channels.items():
        where = f"channel {name} ({channel.chat_id})"
        try:
            problem = await _channel_problem(bot, channel, secret)
        except Exception as exc:  # a check never stops the start
            why = redact_secret(f"{type(exc).__name__}: {exc}", secret)
            check = ChannelCheck(name, True, f"{where}: could not check it: {why}")
            log.warning("%s", check.line)
        else:
            if problem is None:
                check = ChannelCheck(name, True, f"{where}: ok, the bot can post there")
                log.info("%s", check.line)
            else:
                check = ChannelCheck(name, False, f"{where}: {problem}")
                log.warning("%s", check.line)
        checks.append(check)
    return checks


async def _channel_problem(bot: Bot, channel: Channel, secret: str | None) -> str | None:
    """None when the bot can post to `channel`, else what is wrong. Raises TelegramError
    when Telegram could not be asked."""
    fix = "alerts to it will fail; fix chat_id in rules.toml"
    try:
        chat = await bot.get_chat(channel.chat_id)
    except ChatMigrated as exc:
        return (
            f"the group became supergroup {exc.new_chat_id}; alerts follow it, but set "
            f"chat_id = {exc.new_chat_id} in rules.toml"
        )
    except (BadRequest, Forbidden) as exc:
        reason = redact_secret(exc.message, secret)
        if isinstance(exc, Forbidden):
            fix = "alerts to it will fail; add the bot to it again, allowed to post"
        return f"{reason[:1].lower()}{reason[1:]} — {fix}"
    if chat.type == "private":
        return None
    member = await bot.get_chat_member(channel.chat_id, bot.id)
    status = member.status
    if status in (ChatMemberStatus.LEFT, ChatMemberStatus.BANNED):
        return f"the bot is not a member of this {chat.type} — add it, or {fix}"
    if chat.type == "channel":
        if status == ChatMemberStatus.OWNER:
            return None
        if status != ChatMemberStatus.ADMINISTRATOR:
            return "the bot is not an administrator of this channel — alerts to it will fail"
        if not getattr(member, "can_post_messages", False):
            return (
                "the bot is an administrator without the right to post messages — "
                "alerts to it will fail; give it 'Post messages'"
            )
        return None
    if status == ChatMemberStatus.RESTRICTED and not getattr(member, "can_send_messages", True):
        return "the bot may not send messages in this group — alerts to it will fail"
    return None
