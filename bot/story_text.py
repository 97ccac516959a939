"""The text of a grown story and of a digest (pure: no I/O, no clock).

A story's message is its first alert plus one line naming the outlets that reported it
since, newest last, each linked, with its language:

    + zerkalo (ru) · ukr-pravda-en (en) — 3 more sources, last 14:05 UTC

When the line would take the message past Telegram's 4096 characters, or name more than
`MAX_LISTED` outlets, the oldest collapse into the count ("3 more sources"). A digest is
one line per alert (time, source, linked title, rule, and the story's other sources), as
many lines as fit in 4096.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from bot.render import TELEGRAM_MESSAGE_LIMIT, Rendered, http_link, shorten, visible_length
from bot.store.records import OutboxRow, StoryMember
from bot.timeutil import from_iso
from bot.words import plural

MAX_LISTED = 30  # outlets linked at most (Telegram reads the first 100 entities of a message)


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _outlet(member: StoryMember) -> tuple[str, str]:
    """(plain, html) of one outlet: its source id (linked) and language."""
    name = member.source_id + (f" ({member.lang})" if member.lang else "")
    link = http_link(member.link)
    if not link:
        return name, _esc(name)
    lang = f" ({_esc(member.lang)})" if member.lang else ""
    return name, f'<a href="{_esc(link)}">{_esc(member.source_id)}</a>{lang}'


def _hhmm(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%H:%M UTC")


def sources_line(members: Sequence[StoryMember], shown: int) -> tuple[str, str]:
    """(plain, html) of the line naming the newest `shown` of `members`."""
    listed = [_outlet(member) for member in members[len(members) - shown :]] if shown else []
    hidden = len(members) - shown
    tail = []
    if hidden:
        tail.append(f"{plural(hidden, 'more source')}" if shown else plural(hidden, "source"))
    tail.append(f"last {_hhmm(members[-1].added_at)}")
    plain_tail = ", ".join(tail)
    if not listed:
        return f"+ {plain_tail}", f"+ {_esc(plain_tail)}"
    return (
        f"+ {' · '.join(p for p, _ in listed)} — {plain_tail}",
        f"+ {' · '.join(h for _, h in listed)} — {_esc(plain_tail)}",
    )


def with_sources(
    html_text: str,
    plain: str,
    members: Sequence[StoryMember],
    limit: int = TELEGRAM_MESSAGE_LIMIT,
) -> tuple[str, str]:
    """A story's message: its first alert's (html, plain) and, when other outlets joined,
    the line naming them, within `limit` visible characters (older outlets collapse)."""
    if not members:
        return html_text, plain
    room = limit - visible_length(plain) - 2
    for shown in range(min(len(members), MAX_LISTED), -1, -1):
        line_plain, line_html = sources_line(members, shown)
        if visible_length(line_plain) <= room:
            return f"{html_text}\n\n{line_html}", f"{plain}\n\n{line_plain}"
    # The alert leaves no room (it was rendered for a message on its own): shorten it.
    line_plain, line_html = sources_line(members, 0)
    keep = shorten(plain, limit - visible_length(line_plain) - 2)
    return f"{_esc(keep)}\n\n{line_html}", f"{keep}\n\n{line_plain}"


def story_note(title: str, members: Sequence[StoryMember]) -> str:
    """One line for a sink that cannot edit (the console): what joined which story."""
    last = members[-1] if members else None
    if last is None:
        return f"same story as “{title}”"
    lang = f" ({last.lang})" if last.lang else ""
    return (
        f"same story as “{title}”: + {last.source_id}{lang} {last.link} "
        f"({plural(len(members) + 1, 'source')} now)"
    ).strip()


def digest_line(row: OutboxRow, sources: int) -> tuple[str, str]:
    """(plain, html) of one alert in a digest: time, source, linked title, rule."""
    when = from_iso(row.created_at).astimezone(UTC).strftime("%d %b %H:%M")
    title = " ".join((row.title or row.plain.split("\n", 1)[0]).split()) or "(untitled)"
    title = shorten(title, 200)
    rules = ", ".join(row.rule_ids)
    more = f" · +{plural(sources - 1, 'source')}" if sources > 1 else ""
    link = http_link(row.link)
    linked = f'<a href="{_esc(link)}">{_esc(title)}</a>' if link else _esc(title)
    return (
        f"{when} · {row.source_id} · {title} · {rules}{more}",
        f"{when} · {_esc(row.source_id)} · {linked} · <code>{_esc(rules)}</code>{_esc(more)}",
    )


def digest(
    rows: Sequence[OutboxRow], sources: Mapping[int, int], limit: int = TELEGRAM_MESSAGE_LIMIT
) -> tuple[Rendered, int]:
    """A digest message of the first alerts of `rows` that fit in `limit`, and how many it
    holds (at least one). `sources` is each story's number of sources (by alert id)."""
    lines: list[tuple[str, str]] = []
    used = 0
    for row in rows:
        line = digest_line(row, sources.get(row.id, 1))
        head = f"Digest: {plural(len(lines) + 1, 'alert')} (times UTC)"
        width = visible_length(line[0]) + 1
        if lines and visible_length(head) + used + width > limit:
            break
        lines.append(line)
        used += width
    head = f"Digest: {plural(len(lines), 'alert')} (times UTC)"
    plain = "\n".join([head, *(p for p, _ in lines)])
    markup = "\n".join([f"<b>{_esc(head)}</b>", *(h for _, h in lines)])
    return Rendered(html=markup, plain=plain, link=""), len(lines)
