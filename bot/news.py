"""The news path: poll one feed, find new items, match them, enqueue alerts.

`alerts_for` is pure (items and rules in, outbox rows out). `NewsPoller.poll` is the
imperative shell around it: fetch (watchers.rss), ask the store which items are new,
match, render, and record the poll and its alerts in one transaction.

First poll: the first successful poll that lists items (an empty feed does not count) only
records what is there, unless the source sets `alert_existing = true`; items that appear
after that alert. A source whose URL changed (same id) gets such a silent first poll again.
The silent poll also records which rules each item matched, so editing it later cannot
alert for them.

Edits: each item's fingerprint (`watchers.items.fingerprint`) is stored; when a known item's
fingerprint changes, it is matched again and alerts only for the rules that never matched
it, under a dedup key of its own (`news-edit|channel|rules|item`), so a (rule, item) pair
alerts at most once and an item's first alert keeps its key (`news|channel|item`).

Stories: with `[stories] group` on (`grouping_for`), each alert carries its item's story keys
(`story_keys`: canonical link, language, normalised text, title numbers, entity lists named);
the store then joins it to a story of its channel instead of queueing it when `bot.stories`
finds it is the same story (`bot.store.stories.enqueue_news`).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from bot.config.types import Channel, Config, KeywordRule, RssSource
from bot.query.match import Matcher, RuleMatch, TermHit
from bot.query.parse import parse_query
from bot.render import render_news
from bot.store import Store
from bot.store.records import NewAlert, PollOutcome, SeenItem, SourceState
from bot.stories import StoryGrouping, StoryKeys, canonical_link, language, text_key, title_numbers
from bot.words import plural
from watchers.clock import Clock
from watchers.errors import RateLimited, WatcherError
from watchers.http import FetchLimits, Validators
from watchers.items import NewsItem, fingerprint, item_text
from watchers.rss import FeedReader, PollResult

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Grouping:
    """What grouping news into stories needs (`[stories]`): the settings the store applies,
    and a matcher of the entity lists (`[stories] entities`), each under its own name."""

    settings: StoryGrouping
    entities: Matcher


def grouping_for(config: Config) -> Grouping | None:
    """The grouping `config` asks for (None: `[stories] group = false`)."""
    if not config.stories.group:
        return None
    names = config.stories.entities
    entities = Matcher.compile(
        [(name, parse_query(f"@{name}", terms=config.terms)) for name in names]
    )
    return Grouping(StoryGrouping(timedelta(seconds=config.stories.window)), entities)


def story_keys(item: NewsItem, rule_ids: Collection[str], entities: Matcher) -> StoryKeys:
    """What grouping compares of a matched item (pure; see `bot.stories`)."""
    text = item_text(item)
    return StoryKeys(
        link=canonical_link(item.link),
        lang=language(f"{item.title} {item.summary}"),
        text=text_key(item.title, item.summary),
        numbers=title_numbers(item.title),
        entities=frozenset(match.rule_id for match in entities.match(text)),
        rules=frozenset(rule_ids),
    )


def describe(hit: TermHit) -> str:
    """A matched term for the alert: `хафтар* → хафтаром`, or just the term."""
    forms = [f for f in hit.forms if f != hit.term.strip('"')]
    return f"{hit.term} → {', '.join(forms)}" if forms else hit.term


def alerts_for(
    items: Sequence[NewsItem],
    rule_ids: Collection[str],
    matcher: Matcher,
    rules: Mapping[str, KeywordRule],
    channels: Mapping[str, Channel],
    entities: Matcher | None = None,
) -> list[NewAlert]:
    """The outbox rows for `items` under the rules `rule_ids` (pure).

    An item matched by several rules that post to the same channel becomes one message
    naming every rule, not one message per rule. With `entities` (stories are grouped),
    each alert carries its item's story keys.
    """
    alerts: list[NewAlert] = []
    for item, found in matched(items, rule_ids, matcher):
        alerts.extend(_by_channel(item, found, rules, channels, edited=False, entities=entities))
    return alerts


def matched(
    items: Iterable[NewsItem], rule_ids: Collection[str], matcher: Matcher
) -> list[tuple[NewsItem, list[RuleMatch]]]:
    """Each item that at least one of `rule_ids` matches, with its matches (pure)."""
    if not rule_ids:
        return []
    found = ((item, matcher.match(item_text(item), rule_ids)) for item in items)
    return [(item, matches) for item, matches in found if matches]


def edit_alerts(
    found: Iterable[tuple[NewsItem, Sequence[RuleMatch]]],
    done: Collection[tuple[str, str]],
    rules: Mapping[str, KeywordRule],
    channels: Mapping[str, Channel],
    entities: Matcher | None = None,
) -> list[NewAlert]:
    """The outbox rows for edited items (pure): only the matches whose (rule id, item key)
    is not in `done` (they alerted, or were recorded silently, before)."""
    alerts: list[NewAlert] = []
    for item, matches in found:
        fresh = [match for match in matches if (match.rule_id, item.key) not in done]
        alerts.extend(_by_channel(item, fresh, rules, channels, edited=True, entities=entities))
    return alerts


def _by_channel(
    item: NewsItem,
    found: Sequence[RuleMatch],
    rules: Mapping[str, KeywordRule],
    channels: Mapping[str, Channel],
    *,
    edited: bool,
    entities: Matcher | None,
) -> list[NewAlert]:
    by_channel: dict[str, list[RuleMatch]] = {}
    for match in found:
        by_channel.setdefault(rules[match.rule_id].channel, []).append(match)
    return [
        _alert(item, matches, channels[channel], edited=edited, entities=entities)
        for channel, matches in by_channel.items()
    ]


def _alert(
    item: NewsItem,
    found: Sequence[RuleMatch],
    channel: Channel,
    *,
    edited: bool = False,
    entities: Matcher | None = None,
) -> NewAlert:
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
    # A first alert keeps the key it always had; an edit's alert names its (new) rules,
    # which are never in an earlier key of the item (ids cannot hold "+" or "|").
    dedup_key = f"news|{channel.id}|{item.key}"
    if edited:
        dedup_key = f"news-edit|{channel.id}|{'+'.join(sorted(rule_ids))}|{item.key}"
    return NewAlert(
        dedup_key=dedup_key,
        rule_ids=rule_ids,
        source_id=item.source_id,
        item_key=item.key,
        channel=channel.id,
        chat_id=channel.chat_id,
        html=rendered.html,
        plain=rendered.plain,
        link=rendered.link,
        title=item.title,
        story=None if entities is None else story_keys(item, rule_ids, entities),
    )


class NewsPoller:
    """Polls news sources and records what they bring; `reader` (fetching and parsing) is
    the runner's, shared by the polls of one run."""

    def __init__(
        self,
        store: Store,
        reader: FeedReader,
        rules: Sequence[KeywordRule],
        channels: Mapping[str, Channel],
        *,
        clock: Clock,
        limits: FetchLimits | None = None,
        grouping: Grouping | None = None,
    ) -> None:
        """`grouping`: how alerts are grouped into stories (None: each item is a message)."""
        self.store = store
        self.grouping = grouping
        self.reader = reader
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
        # What was logged per source in this run, so each is said once, not every poll.
        self._cuts: dict[str, str] = {}
        self._shared_warned: set[tuple[str, str]] = set()

    def rule_ids(self, source_id: str) -> frozenset[str]:
        """The rules that watch `source_id` (a lookup: a rule's `sources` lists every news
        source by default, so searching them at each poll costs rules × sources)."""
        return self._watching.get(source_id, frozenset())

    async def poll(self, source: RssSource) -> PollOutcome:
        """Fetch `source` once and record the result; never raises for a source's fault."""
        state = self.store.source_state(source.id)
        moved = state.seeded and state.url is not None and state.url != source.url
        try:
            result = await self.reader.poll(
                source.id,
                source.url,
                Validators() if moved else state.validators,
                now=self.clock(),
                limits=self.limits,
            )
        except WatcherError as exc:
            message = str(exc)
            failures = self.store.record_failure(source.id, source.kind, self.clock(), message)
            if message != state.last_error or state.consecutive_failures == 0:
                log.warning("source %s failed: %s", source.id, exc.detail)
            retry_after = exc.retry_after if isinstance(exc, RateLimited) else None
            return PollOutcome(error=message, retry_after=retry_after, failures=failures)
        if state.consecutive_failures:
            after = plural(state.consecutive_failures, "failure")
            log.info("source %s recovered after %s", source.id, after)
        self._report(source.id, result)
        items = result.items or ()
        known = self.store.known_items(source.id, (item.key for item in items))
        prints = {item.key: fingerprint(item) for item in items}
        new_items = [item for item in items if item.key not in known]
        edited = [item for item in items if _edited(known.get(item.key), prints[item.key])]
        rule_ids = self.rule_ids(source.id)
        alerts: list[NewAlert] = []
        quiet: dict[str, frozenset[str]] = {}
        if (state.seeded and not moved) or source.alert_existing:
            entities = self.grouping.entities if self.grouping else None
            alerts = alerts_for(
                new_items, rule_ids, self.matcher, self.rules, self.channels, entities
            )
            alerts += self._edit_alerts(edited, known, rule_ids)
        elif items:
            # The silent first poll: what matches now never alerts, not even once edited.
            for item, found in matched([*new_items, *edited], rule_ids, self.matcher):
                before = known.get(item.key)
                earlier = before.quiet_rules if before is not None else frozenset()
                quiet[item.key] = earlier | {match.rule_id for match in found}
            if moved:
                log.info(
                    "source %s: URL changed, first poll of the new URL records %s silently",
                    source.id,
                    plural(len(new_items), "item"),
                )
            elif new_items:
                log.info(
                    "source %s: first poll, %s recorded silently",
                    source.id,
                    plural(len(items), "item"),
                )
        added = self.store.record_success(
            source.id,
            source.kind,
            self.clock(),
            validators=result.validators,
            items=new_items,
            alerts=alerts,
            present=[item.key for item in items],
            edited=edited,
            fingerprints=prints,
            quiet=quiet,
            seed=state.seeded or bool(items),
            url=_url_to_store(state, source.url, moved, bool(items)),
            bad_bytes=result.document.bad_bytes if result.document else 0,
            grouping=self.grouping.settings if self.grouping else None,
        )
        if added:
            log.info("source %s: %s queued", source.id, plural(added, "new alert"))
        return PollOutcome(
            alerts=added,
            published=tuple(item.published for item in new_items),
            seed=not (state.seeded and not moved),
            read=result.document is not None,
            hint=result.document.refresh_hint if result.document is not None else None,
        )

    def _edit_alerts(
        self, edited: Sequence[NewsItem], known: Mapping[str, SeenItem], rule_ids: Collection[str]
    ) -> list[NewAlert]:
        """Alerts for edited items, for the rules that never matched them before."""
        found = matched(edited, rule_ids, self.matcher)
        if not found:
            return []
        done = {(rule, item.key) for item, _ in found for rule in known[item.key].quiet_rules}
        pairs = [(m.rule_id, item.key) for item, matches in found for m in matches]
        done |= self.store.matched_pairs(pair for pair in pairs if pair not in done)
        entities = self.grouping.entities if self.grouping else None
        return edit_alerts(found, done, self.rules, self.channels, entities)

    def _report(self, source_id: str, result: PollResult) -> None:
        """Log what reading the document took: repaired bytes (every poll), a cap on the
        items and guids shared by different stories (once per run and source)."""
        document = result.document
        if document is None:
            return
        if document.bad_bytes:
            log.warning(
                "source %s: %s replaced (the feed is not valid in the encoding it declares)",
                source_id,
                plural(document.bad_bytes, "bad byte"),
            )
        if document.kept and self._cuts.get(source_id) != document.kept:
            self._cuts[source_id] = document.kept
            log.info(
                "source %s: feed has %s, read %s",
                source_id,
                plural(document.entries, "item"),
                document.kept,
            )
        for shared in document.shared_guids:
            if (source_id, shared.guid) not in self._shared_warned:
                self._shared_warned.add((source_id, shared.guid))
                log.warning(
                    "source %s: %d items share guid %s; keyed by link instead",
                    source_id,
                    shared.items,
                    shared.guid[:200],
                )


def _edited(seen: SeenItem | None, now: str) -> bool:
    """True for a known item whose fingerprint changed (None: stored before fingerprints)."""
    return seen is not None and seen.fingerprint is not None and seen.fingerprint != now


def _url_to_store(state: SourceState, url: str, moved: bool, listed: bool) -> str | None:
    """The URL to record as the one the source was seeded with, or None to keep it.

    Recorded when this poll seeds the source or is the silent poll of a new URL (it lists
    items), and for a source seeded before URLs were stored; a changed URL whose poll was
    empty is not recorded, so its first poll with items is still silent.
    """
    if state.url == url:
        return None
    if listed or (state.seeded and not moved):
        return url
    return None
