"""What the admin commands beyond `/status` answer: `/recent`, `/mute`, `/unmute`, `/test`.

Each function takes what it needs (the store, the arguments, the current rule ids or
channels, `now`) and returns the reply as plain text; `bot.commands` wires them to
python-telegram-bot. Replies are sent without a parse mode, so nothing needs escaping.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from telegram import Bot
from telegram.error import TelegramError

from bot.config import parse_duration
from bot.configtypes import Channel
from bot.redact import redact_secret
from bot.store import Store, StoreError
from bot.store_admin import RecentAlert

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
USAGE_MUTE = "Usage: /mute RULE DURATION, e.g. /mute {example} 6h (s, m, h or d; at most 365d)"
USAGE_UNMUTE = "Usage: /unmute RULE, e.g. /unmute {example}"


def when(moment: datetime) -> str:
    """A UTC time as "2026-07-05 14:02"."""
    return f"{moment:%Y-%m-%d %H:%M}"


def _short(text: str, limit: int = MAX_TITLE) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _alert_line(alert: RecentAlert) -> str:
    parts = [when(alert.at), ",".join(alert.rule_ids), _short(alert.title) or "(untitled)"]
    if alert.link:
        parts.append(alert.link)
    return " · ".join(parts)


def _fit(lines: Sequence[str]) -> str:
    text = ""
    for index, line in enumerate(lines):
        if len(text) + len(line) + 40 > MAX_REPLY:
            return text + f"\n… and {len(lines) - index} more lines"
        text += ("\n" if text else "") + line
    return text


def _example(rule_ids: Sequence[str]) -> str:
    return rule_ids[0] if rule_ids else "RULE"


def _rule_list(rule_ids: Sequence[str]) -> str:
    return ", ".join(rule_ids) if rule_ids else "(none configured)"


def recent_reply(store: Store, args: Sequence[str]) -> str:
    """`/recent [N]`: the last sent alerts, newest first, then the last few held by mutes."""
    if len(args) > 1 or (args and not (args[0].isdigit() and 1 <= int(args[0]) <= RECENT_MAX)):
        return USAGE_RECENT
    limit = int(args[0]) if args else RECENT_DEFAULT
    sent = store.recent_alerts(limit)
    lines = ["sent alerts, newest first (UTC):"] if sent else ["no alert was sent yet"]
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
