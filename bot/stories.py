"""Stories: when a newly matched news item is the same story as an alert already queued or
sent to its channel (pure; DESIGN §6 "Stories").

An item joins a story (the alert first sent about it, and the items joined since) when, with
one of the story's items:

- **same link**: their canonical links are equal (`canonical_link`: no `utm_*`, `fbclid` or
  `amp` parameters, no fragment, no `www.`/`m.`/`amp.` host prefix, no `/amp` path suffix or
  trailing slash, http = https), e.g. the same article in two feeds of one outlet;
- **near copy**: same language, and the normalised title + summary are at least
  `NEAR_COPY` similar (`rapidfuzz.fuzz.token_set_ratio`, of 100; and `WHOLE_TEXT` on the
  whole texts, so a short title is no copy of a long text that holds its words);
- **same entities**: in another language, a rule of the story matched it too, and it names
  the same entities, at least `MIN_SHARED` of them (the `[stories] entities` term lists:
  Haftar, Benghazi, Minsk, Belavia, …), none that the other does not (`conflicts`);

and never when the numbers in the two titles differ (a daily report, "120 attempts to cross
the border" then "85 attempts", is a new event). Precision comes before recall: two different
events merged is a lost alert, an outlet left as its own message is only noise. The
thresholds were calibrated on tests/data/headlines (README, "Stories"): at these settings no
two different events there are merged.

Among several stories the item could join, the strongest reason wins (link, then copy, then
entities), then the newest story. `StoryIndex` finds it without comparing the item with every
open story.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

from rapidfuzz import fuzz, process
from w3lib.url import canonicalize_url, url_query_cleaner

from bot.query.textnorm import normalise, words

NEAR_COPY = 60.0  # calibrated on tests/data/headlines (README, "Stories")
WHOLE_TEXT = 52.0  # and the whole texts this similar: a few words inside a long text are no copy
MIN_SHARED = 2

_TRACKING = re.compile(  # at_medium, at_campaign: BBC's feeds (AT Internet)
    r"^(utm_.*|fbclid|gclid|yclid|mc_cid|mc_eid|at_medium|at_campaign|amp|outputtype|output)$"
)
_HOST_PREFIXES = ("www.", "m.", "amp.", "mobile.")
_AMP_PATH = re.compile(r"/amp/?$|\.amp$")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_UKRAINIAN = frozenset("їєґ")  # only Ukrainian has these
_BELARUSIAN = frozenset("ў")  # only Belarusian has this
_RUSSIAN = frozenset("ыэъё")  # Russian (and Belarusian) letters Ukrainian lacks

REASONS = ("link", "copy", "entities")


@dataclass(frozen=True, slots=True)
class StoryGrouping:
    """How items are grouped (`[stories]`): a story is open for `window` after its alert
    was queued; `near_copy` is the similarity (of 100) of a near copy."""

    window: timedelta
    near_copy: float = NEAR_COPY


@dataclass(frozen=True, slots=True)
class StoryKeys:
    """What grouping compares of one matched item (and of each item of a story).

    `text` is the words of the title + summary, normalised as the keyword engine normalises
    and sorted (`text_key`); `numbers` are the numbers of the title; `entities` the names of
    the entity lists it names; `rules` the rules it matched.
    """

    link: str
    lang: str
    text: str
    numbers: frozenset[str]
    entities: frozenset[str]
    rules: frozenset[str]


@dataclass(frozen=True, slots=True)
class Join:
    """The item joins story `story_id`, for `reason` ("link", "copy" or "entities")."""

    story_id: int
    reason: str


def canonical_link(url: str) -> str:
    """`url` with what varies between copies of one page removed (see the module doc)."""
    url = url.strip()
    if not url:
        return ""
    try:
        cleaned = url_query_cleaner(url, parameterlist=(), remove=True, keep_fragments=False)
        parts = urlsplit(canonicalize_url(cleaned, keep_fragments=False))
    except ValueError:
        return url
    query = "&".join(
        pair for pair in parts.query.split("&") if pair and not _TRACKING.match(pair.split("=")[0])
    )
    host = parts.netloc.lower()
    for prefix in _HOST_PREFIXES:
        if host.startswith(prefix) and host.count(".") >= 2:
            host = host[len(prefix) :]
            break
    path = _AMP_PATH.sub("", parts.path).rstrip("/")
    scheme = "https" if parts.scheme in ("http", "https") else parts.scheme
    return urlunsplit((scheme, host, path, query, ""))


def language(text: str) -> str:
    """A guess from the script: "uk", "be" or "ru" for Cyrillic (by their own letters),
    "en" for Latin; "" when there are no letters."""
    cyrillic = latin = 0
    letters: set[str] = set()
    for char in text.lower():
        if "а" <= char <= "я" or char in "ёіїєґў":
            cyrillic += 1
            letters.add(char)
        elif "a" <= char <= "z":
            latin += 1
    if not cyrillic and not latin:
        return ""
    if latin >= cyrillic:
        return "en"
    if letters & _UKRAINIAN:
        return "uk"
    if letters & _BELARUSIAN:
        return "be"
    if "і" in letters:  # Ukrainian and Belarusian; Belarusian also has ы, э and ё
        return "be" if letters & _RUSSIAN else "uk"
    return "ru"


def text_key(title: str, summary: str) -> str:
    """The words of title + summary, normalised and sorted: what near copies compare
    (comparing sorted words is rapidfuzz's `token_sort_ratio`, done once per item)."""
    return " ".join(sorted(words(normalise(f"{title}\n{summary}"))))


def title_numbers(title: str) -> frozenset[str]:
    """The numbers written in a title ("1,200" and "1.200" are the same)."""
    return frozenset(n.replace(",", ".") for n in _NUMBER.findall(title))


def same_numbers(a: StoryKeys, b: StoryKeys) -> bool:
    """False when both titles have numbers and they differ."""
    return not (a.numbers and b.numbers) or a.numbers == b.numbers


def near_copy(a: StoryKeys, b: StoryKeys, threshold: float = NEAR_COPY) -> bool:
    """Same language and similar text: the shared words weigh ≥ `threshold` of 100
    (`token_set_ratio`), and the whole texts ≥ `WHOLE_TEXT` (`token_sort_ratio`, on the
    sorted words), so "Haftar lands in Minsk" is not a copy of "Minsk court jails Haftar
    critic over posts" (72 and 51)."""
    if not a.lang or a.lang != b.lang or not a.text or not b.text:
        return False
    if fuzz.ratio(a.text, b.text, score_cutoff=WHOLE_TEXT) < WHOLE_TEXT:
        return False
    return fuzz.token_set_ratio(a.text, b.text, score_cutoff=threshold) >= threshold


def conflicts(item: frozenset[str], story: frozenset[str]) -> bool:
    """True when one names an entity the other does not (Minsk and Moscow, Latvia and
    Lithuania, or Haftar with the EU's Commissioner against Haftar alone): across languages
    only the wording can tell events apart, and it cannot be compared, so the entities must
    be the same. On the labelled set a looser rule (one set inside the other) merged two
    different Haftar stories two days apart."""
    return item != story


def shares_entities(a: StoryKeys, b: StoryKeys, min_shared: int = MIN_SHARED) -> bool:
    """In different languages, a rule matched both, they name ≥ `min_shared` of the same
    entities and none that conflicts (see `conflicts`)."""
    if not a.lang or a.lang == b.lang or not a.rules & b.rules:
        return False
    return len(a.entities & b.entities) >= min_shared and not conflicts(a.entities, b.entities)


def reason_to_join(
    item: StoryKeys, other: StoryKeys, *, threshold: float = NEAR_COPY
) -> str | None:
    """Why `item` is the same story as `other`, an item of an open story ("link", "copy",
    "entities"), or None."""
    if item.link and item.link == other.link:
        return "link"
    if not same_numbers(item, other):
        return None
    if near_copy(item, other, threshold):
        return "copy"
    if shares_entities(item, other):
        return "entities"
    return None


def _entities_join(item: StoryKeys, other: StoryKeys) -> bool:
    """`reason_to_join(item, other) == "entities"`, without its near-copy test: shared
    entities join across languages, a near copy within one, so they never both hold."""
    if (item.link and item.link == other.link) or not same_numbers(item, other):
        return False
    return shares_entities(item, other)


def group(
    items: Sequence[tuple[str, datetime, StoryKeys]],
    *,
    window: timedelta,
    threshold: float = NEAR_COPY,
) -> dict[str, str]:
    """Group items in time order as the bot does (`StoryIndex`, one channel): item id → the
    id of its story's first item. For measuring grouping on a labelled set."""
    index = StoryIndex(window, threshold)
    first: dict[int, str] = {}
    found: dict[str, str] = {}
    for number, (item_id, at, keys) in enumerate(sorted(items, key=lambda entry: entry[1])):
        join = index.find("", keys, at)
        if join is None:
            index.open("", number, at, keys)
            first[number] = item_id
            found[item_id] = item_id
        else:
            index.add("", join.story_id, keys)
            found[item_id] = first[join.story_id]
    return found


BLOCKING_WORDS = 8  # a near copy shares one of the item's 8 rarest words already indexed
COPY_BATCH = 64  # candidate stories compared per rapidfuzz call, newest first
# A word in more open stories than this is not indexed any more: the rarest words of an item
# narrow its candidates down, a word that common never is among them (but for an item made
# of such words only, which then has no near copy found).
COMMON_WORD = 256


@dataclass
class _Channel:
    """The open stories of one channel, indexed for `StoryIndex.find`."""

    opened: dict[int, datetime] = field(default_factory=dict)  # story id → opened, in order
    items: dict[int, list[StoryKeys]] = field(default_factory=dict)
    links: dict[str, int] = field(default_factory=dict)
    by_entities: dict[frozenset[str], list[int]] = field(default_factory=dict)
    words: dict[str, list[int]] = field(default_factory=dict)
    common: set[str] = field(default_factory=set)  # words no longer indexed (`COMMON_WORD`)
    stale: int = 0


class StoryIndex:
    """The stories open for joining (opened within `window`), per channel, in memory.

    `find` applies `reason_to_join` to the items of the open stories without comparing the
    item with each: equal links and equal entity sets through dicts, near copies only with
    stories sharing one of the item's `BLOCKING_WORDS` rarest words.
    The store fills it from `story_items` and keeps it in step with its writes.
    """

    def __init__(self, window: timedelta, threshold: float = NEAR_COPY) -> None:
        self.window = window
        self.threshold = threshold
        self._channels: dict[str, _Channel] = {}
        self._sets: dict[frozenset[str], frozenset[str]] = {}  # see `_shared`

    def __len__(self) -> int:
        return sum(len(channel.opened) for channel in self._channels.values())

    def open(self, channel: str, story_id: int, at: datetime, keys: StoryKeys) -> None:
        """Index a new story (its first item)."""
        index = self._channels.setdefault(channel, _Channel())
        index.opened[story_id] = at
        index.items[story_id] = []
        self.add(channel, story_id, keys)

    def add(self, channel: str, story_id: int, keys: StoryKeys) -> None:
        """Index one more item of an open story (ignored when the story is closed)."""
        index = self._channels.get(channel)
        if index is None or story_id not in index.items:
            return
        keys = self._shared(keys)
        index.items[story_id].append(keys)
        if keys.link:
            index.links.setdefault(keys.link, story_id)
        if len(keys.entities) >= MIN_SHARED:
            bucket = index.by_entities.setdefault(keys.entities, [])
            if not bucket or bucket[-1] != story_id:
                bucket.append(story_id)
        self._index_words(index, story_id, keys)

    @staticmethod
    def _index_words(index: _Channel, story_id: int, keys: StoryKeys) -> None:
        for word in set(keys.text.split()):
            if word in index.common:
                continue
            posting = index.words.setdefault(word, [])
            if posting and posting[-1] == story_id:
                continue
            posting.append(story_id)
            if len(posting) > COMMON_WORD:
                del index.words[word]  # in too many stories to narrow anything down
                index.common.add(word)

    def find(self, channel: str, item: StoryKeys, now: datetime) -> Join | None:
        """The open story of `channel` that `item` joins, or None: the strongest reason
        (link, copy, entities), then the newest story."""
        index = self._channels.get(channel)
        if index is None:
            return None
        self._expire(index, now)
        story_id = index.links.get(item.link) if item.link else None
        if story_id is not None and story_id in index.items:
            return Join(story_id, "link")
        story_id = self._copy_of(index, item)
        if story_id is not None:
            return Join(story_id, "copy")
        for story_id in sorted(self._entity_candidates(index, item), reverse=True):
            if any(_entities_join(item, other) for other in index.items[story_id]):
                return Join(story_id, "entities")
        return None

    def _copy_of(self, index: _Channel, item: StoryKeys) -> int | None:
        """The newest candidate story with a near copy of `item` (`near_copy`). Candidates
        go newest first, `COPY_BATCH` stories at a time: their whole texts are compared in one
        `rapidfuzz.process.extract` call (C, with the `WHOLE_TEXT` cut-off), the shared words
        of those that pass one by one; the first batch with a copy holds the newest."""
        if not item.lang or not item.text:
            return None
        candidates = sorted(self._copy_candidates(index, item), reverse=True)
        for start in range(0, len(candidates), COPY_BATCH):
            owners: list[int] = []
            others: list[StoryKeys] = []
            for story_id in candidates[start : start + COPY_BATCH]:
                for other in index.items[story_id]:
                    if other.lang == item.lang and other.text and same_numbers(item, other):
                        owners.append(story_id)
                        others.append(other)
            close = process.extract(
                item.text,
                [other.text for other in others],
                scorer=fuzz.ratio,
                processor=None,
                score_cutoff=WHOLE_TEXT,
                limit=None,
            )
            found = [
                owners[position]
                for _, _, position in close
                if near_copy(item, others[position], self.threshold)
            ]
            if found:
                return max(found)
        return None

    def _shared(self, keys: StoryKeys) -> StoryKeys:
        """`keys` with its sets of rules, entities and numbers shared with the items indexed
        before: thousands of items name the same few, and a set costs 216 bytes or more."""
        sets = self._sets
        return replace(
            keys,
            numbers=sets.setdefault(keys.numbers, keys.numbers),
            entities=sets.setdefault(keys.entities, keys.entities),
            rules=sets.setdefault(keys.rules, keys.rules),
        )

    def _copy_candidates(self, index: _Channel, item: StoryKeys) -> set[int]:
        postings = [index.words[word] for word in set(item.text.split()) if word in index.words]
        postings.sort(key=len)
        found: set[int] = set()
        for posting in postings[:BLOCKING_WORDS]:
            found.update(story_id for story_id in posting if story_id in index.items)
        return found

    def _entity_candidates(self, index: _Channel, item: StoryKeys) -> list[int]:
        """The stories with an item naming exactly the item's entities (`conflicts` allows
        no other: a dict lookup, not a scan)."""
        if len(item.entities) < MIN_SHARED:
            return []
        return [i for i in index.by_entities.get(item.entities, ()) if i in index.items]

    def _expire(self, index: _Channel, now: datetime) -> None:
        """Close the stories opened before the window; compact the indexes now and then."""
        while index.opened:
            story_id, opened = next(iter(index.opened.items()))
            if now - opened <= self.window:
                break
            del index.opened[story_id]
            for item in index.items.pop(story_id):
                if index.links.get(item.link) == story_id:
                    del index.links[item.link]
            index.stale += 1
        if index.stale > max(64, len(index.opened)):
            index.words, index.common = {}, set()  # built again: a common word may not be now
            for story_id, items in index.items.items():
                for item in items:
                    self._index_words(index, story_id, item)
            index.by_entities = {
                key: kept
                for key, ids in index.by_entities.items()
                if (kept := [story_id for story_id in ids if story_id in index.items])
            }
            index.stale = 0
            self._sets.clear()  # the numbers of closed stories' titles go too
