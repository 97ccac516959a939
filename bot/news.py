"""The news path: poll one feed, find new items, match them, enqueue alerts.

`alerts_for` is pure (items and rules in, outbox rows out). `NewsPoller.poll` is the
imperative shell around it: fetch (watchers.rss), ask the store which items are new,
match, render, and record the poll and its alerts in one transaction.

First poll: the first successful poll of a source only records what is there (unless the
source sets `alert_existing = true`); items that appear after that alert.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import httpx

from bot.config import Channel, KeywordRule, RssSource
from bot.query import Matcher, RuleMatch, TermHit
from bot.render import render_news
from bot.store import NewAlert, Store
from bot.timeutil import Clock
from watchers.errors import RateLimited, WatcherError
from watchers.http import FetchLimits
from watchers.items import NewsItem
from watchers.rss import poll_feed

log = logging.getLogger(__name__)


def describe(hit: TermHit) -> str:
    """A matched term for the alert: `хафтар* → хафтаром`, or just the term."""
    forms = [f for f in hit.forms if f != hit.term.strip('"')]
    return f"{hit.term} → {', '.join(forms)}" if forms else hit.term


def item_text(item: NewsItem) -> str:
    """What keyword rules are matched against: title, summary and content."""
    return f"{item.title}\n{item.summary}\n{item.content}"


def alerts_for(
    items: Sequence[NewsItem],
    rule_ids: Collection[str],
    matcher: Matcher,
    rules: Mapping[str, KeywordRule],
    channels: Mapping[str, Channel],
) -> list[NewAlert]:
    """The outbox rows for `items` under the rules `rule_ids` (pure).

    An item matched by several rules that post to the same channel becomes one message
    naming every rule, not one message per rule.
    """
    alerts: list[NewAlert] = []
    if not rule_ids:
        return alerts
    for item in items:
        by_channel: dict[str, list[RuleMatch]] = {}
        for found in matcher.match(item_text(item), rule_ids):
            by_channel.setdefault(rules[found.rule_id].channel, []).append(found)
        for channel, found_list in by_channel.items():
            alerts.append(_alert(item, found_list, channels[channel]))
    return alerts


def _alert(item: NewsItem, found: Sequence[RuleMatch], channel: Channel) -> NewAlert:
    rule_ids = tuple(match.rule_id for match in found)
    terms = list(dict.fromkeys(describe(hit) for match in found for hit in match.hits))
    rendered = render_news(
        rule_id=", ".join(rule_ids),
        source_id=item.source_id,
        title=item.title,
        summary=item.summary,
        link=item.link,
        published=item.published,
        terms=terms,
    )
    return NewAlert(
        dedup_key=f"news|{channel.id}|{item.key}",
        rule_ids=rule_ids,
        source_id=item.source_id,
        item_key=item.key,
        channel=channel.id,
        chat_id=channel.chat_id,
        html=rendered.html,
        plain=rendered.plain,
        link=rendered.link,
    )


@dataclass(frozen=True, slots=True)
class PollOutcome:
    """What one poll did: alerts enqueued (or new flights), or the error and any Retry-After."""

    alerts: int = 0
    error: str | None = None
    retry_after: float | None = None
    failures: int = 0
    flights: int = 0


class NewsPoller:
    """Polls news sources and records what they bring."""

    def __init__(
        self,
        store: Store,
        client: httpx.AsyncClient,
        rules: Sequence[KeywordRule],
        channels: Mapping[str, Channel],
        *,
        clock: Clock,
        limits: FetchLimits | None = None,
    ) -> None:
        self.store = store
        self.client = client
        self.rules = {rule.id: rule for rule in rules}
        self.channels = channels
        self.clock = clock
        self.limits = limits or FetchLimits()
        self.matcher = Matcher.compile([(rule.id, rule.query) for rule in rules])
        watching: dict[str, list[str]] = {}
        for rule in rules:
            for source_id in rule.sources:
                watching.setdefault(source_id, []).append(rule.id)
        self._watching = {source_id: frozenset(ids) for source_id, ids in watching.items()}

    def rule_ids(self, source_id: str) -> frozenset[str]:
        """The rules that watch `source_id` (a lookup: a rule's `sources` lists every news
        source by default, so searching them at each poll costs rules × sources)."""
        return self._watching.get(source_id, frozenset())

    async def poll(self, source: RssSource) -> PollOutcome:
        """Fetch `source` once and record the result; never raises for a source's fault."""
        state = self.store.source_state(source.id)
        try:
            result = await poll_feed(
                self.client,
                source.id,
                source.url,
                state.validators,
                now=self.clock(),
                limits=self.limits,
            )
        except WatcherError as exc:
            message = str(exc)
            failures = self.store.record_failure(source.id, source.kind, self.clock(), message)
            if message != state.last_error or state.consecutive_failures == 0:
                log.warning("source %s failed: %s", source.id, message)
            retry_after = exc.retry_after if isinstance(exc, RateLimited) else None
            return PollOutcome(error=message, retry_after=retry_after, failures=failures)
        if state.consecutive_failures:
            log.info("source %s recovered after %d failures", source.id, state.consecutive_failures)
        items = result.items or ()
        new_keys = self.store.unseen_keys(source.id, (item.key for item in items))
        new_items = [item for item in items if item.key in new_keys]
        alerts: list[NewAlert] = []
        if state.seeded or source.alert_existing:
            alerts = alerts_for(
                new_items, self.rule_ids(source.id), self.matcher, self.rules, self.channels
            )
        elif new_items:
            log.info("source %s: first poll, %d items recorded silently", source.id, len(items))
        added = self.store.record_success(
            source.id,
            source.kind,
            self.clock(),
            validators=result.validators,
            items=new_items,
            alerts=alerts,
            present=[item.key for item in items],
        )
        if added:
            log.info("source %s: %d new alerts queued", source.id, added)
        return PollOutcome(alerts=added)
