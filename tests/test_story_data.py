"""The story labels of the labelled headlines: the ground truth for grouping items into stories.

Every relevant item of `tests/data/headlines/` names the story it reports (`story`): items
about the same news, from several outlets and languages, share the id; a different
development about the same people is another story. Near misses have `"story": null`. A
storied item has a `date` (and may have a `time`, "HH:MM" UTC), so grouping by time can be
tested; the few whose date could not be established are listed here and may only shrink.
These tests keep the set from shrinking silently: enough multi-outlet and cross-language
stories, and different stories about the same people close in time.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "headlines"
PARTS = ("tuning", "holdout")

# One outlet under two names (its pages in two languages).
SAME_OUTLET = {"unn.ua": "УНН", "news.liga.net": "LIGA.net", "Charter 97": "charter97.org"}

# Stories whose single item shows no date the page (or another copy of it) could establish.
UNDATED = frozenset(
    {
        "belarus-hybrid-migration-war-analysis",
        "civilmrcc-libya-crete-route",
        "cnn-migrants-hypothermia-forests",
        "den-hybrid-war-in-action",
        "dzermant-belarus-not-involved",
        "eu-eyes-sanctions-airlines-tourism",
        "figaro-readers-west-to-blame",
        "iraq-flights-minsk-lithuania-emergency",
        "kasciunas-300-migrants-weekly",
        "libya-belarus-fm-talks-direct-flights",
        "linkodrom-lukashenko-crisis-putin-wins",
        "lithuania-guards-more-migrants",
        "lithuania-mfa-regime-terrorist",
        "lithuania-new-pushing-tactic",
        "lithuania-turns-back-30-migrants-7-may",
        "lukashenko-seeks-influence-threatens-migrants",
        "lukashenko-threatens-new-hybrid-war",
        "morawiecki-hybrid-warfare-travel-agencies",
        "newsmir-trapped-on-polish-border",
        "newsweek-polska-migrants-polish-border",
        "poland-accuses-belarus-humanitarian-crisis",
        "poland-asks-emergency-belarus-border",
        "poland-asylum-suspension-takes-effect",
        "poland-barbed-wire-border",
        "politiken-libya-europe-nightmare",
        "rferl-lithuania-lukashenka-flooding",
        "s4p-russia-migrant-surge-hybrid-war",
        "svru-lukashenko-transit-again",
        "texty-migrants-as-weapon",
        "times-fears-russia-weaponise-migrants-libya",
        "tvp-migrants-minsk-airport",
        "ukrnews-putin-haftar-plan-column",
        "welt-belarus-airline-doubles-flights",
    }
)

# Different stories about the same people or places, at most two days apart: a grouper
# that joins by names and time alone would wrongly merge them.
CLOSE_PAIRS = (
    ("gerapetritis-meets-haftar-benghazi-2025-07", "benghazi-expels-brunner-eu-delegation-2025-07"),
    (
        "benghazi-expels-brunner-eu-delegation-2025-07",
        "greece-suspends-asylum-north-africa-2025-07",
    ),
    ("borrell-sanctions-widened-monday-2021-11", "eu-broadens-belarus-sanctions-criteria-2021-11"),
    ("belarus-border-soldier-stabbed-2024-05", "tusk-fortify-border-after-stabbing-2024-05"),
    ("tusk-fortify-border-after-stabbing-2024-05", "poland-310-migrants-two-soldiers-hurt-2024-05"),
    ("migrants-break-through-polish-border-2021-11", "ukraine-reinforces-belarus-border-2021-11"),
    ("merkel-asks-putin-restrain-lukashenko-2021-11", "eu-hybrid-war-sanctions-next-week-2021-11"),
    ("migrants-leave-kuznica-camp-2021-11", "bruzgi-centre-two-thousand-migrants-2021-11"),
    ("first-iraq-repatriation-flight-minsk-2021-11", "migrants-leave-kuznica-camp-2021-11"),
    ("euronews-haftar-power-analysis-2025-07", "telegraph-inside-crete-migration-crisis-2025-07"),
    ("gavdos-753-migrants-rescued-2025-07", "gerapetritis-meets-haftar-benghazi-2025-07"),
    ("floridis-accuses-libya-directing-migrants-2025-07", "euronews-haftar-power-analysis-2025-07"),
    (
        "brunner-politico-keep-talking-to-haftar-2025-07",
        "telegraph-inside-crete-migration-crisis-2025-07",
    ),
)
# The same, a few days apart.
FEW_DAYS_PAIRS = (
    ("euractiv-minsk-benghazi-flights-2025-08", "telegraph-putin-haftar-migration-2025-08"),
    ("telegraph-putin-haftar-migration-2025-08", "lansing-libya-belarus-flights-analysis-2025-08"),
    (
        "belavia-turkey-bars-iraqis-syrians-yemenis-2021-11",
        "eu-broadens-belarus-sanctions-criteria-2021-11",
    ),
    (
        "itamilradar-an124-latakia-al-khadim-2024-12",
        "cnn-russian-flights-syria-libya-spike-2024-12",
    ),
    ("sun-russia-libya-refugees-threat-2018-10", "mail-putin-libya-migrants-weapon-2018-10"),
    ("gavdos-753-migrants-rescued-2025-07", "greece-suspends-asylum-north-africa-2025-07"),
)


@dataclass(frozen=True)
class Storied:
    where: str
    story: str | None
    relevant: bool
    lang: str
    outlet: str
    day: date | None


def read() -> list[Storied]:
    items = []
    for part in PARTS:
        path = DATA / f"{part}.jsonl"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            row = json.loads(line)
            where = f"{path.name}:{number}"
            assert "story" in row, where
            day = row.get("date")
            assert day is None or re.fullmatch(r"\d{4}-\d{2}-\d{2}", day), where
            time = row.get("time")
            assert time is None or (day and re.fullmatch(r"[0-2]\d:[0-5]\d", time)), where
            assert row.get("date_basis") in {None, "event"}, where
            assert day or "date_basis" not in row, where
            items.append(
                Storied(
                    where,
                    row["story"],
                    row["expect"] == "match",
                    row["lang"],
                    SAME_OUTLET.get(row["outlet"], row["outlet"]),
                    date.fromisoformat(day) if day else None,
                )
            )
    return items


def stories() -> dict[str, list[Storied]]:
    grouped: dict[str, list[Storied]] = defaultdict(list)
    for item in read():
        if item.story is not None:
            grouped[item.story].append(item)
    return grouped


def test_every_relevant_item_names_its_story_and_near_misses_none() -> None:
    for item in read():
        if item.relevant:
            assert item.story, item.where
            assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", item.story), item.where
        else:
            assert item.story is None, item.where


def test_storied_items_are_dated_but_the_listed_few() -> None:
    """A story's items are dated, within two days of each other; the stories left undated
    are single items, exactly those listed (date one: take it off the list)."""
    undated = set()
    for story, items in stories().items():
        days = [item.day for item in items if item.day is not None]
        if len(days) < len(items):
            assert len(items) == 1, story
            undated.add(story)
        elif len(days) > 1:
            assert (max(days) - min(days)).days <= 2, story
    assert undated == UNDATED


def test_enough_stories_span_outlets_and_languages() -> None:
    multi_outlet = {
        s: items for s, items in stories().items() if len({i.outlet for i in items}) >= 2
    }
    languages = [s for s, items in multi_outlet.items() if len({i.lang for i in items}) >= 2]
    assert len(multi_outlet) >= 6, sorted(multi_outlet)
    assert len(languages) >= 4, languages


def test_different_stories_about_the_same_people_close_in_time() -> None:
    grouped = stories()

    def apart(first: str, second: str) -> int:
        assert first != second
        days = [item.day for s in (first, second) for item in grouped[s]]
        assert None not in days, (first, second)
        one = min(item.day for item in grouped[first] if item.day)
        two = min(item.day for item in grouped[second] if item.day)
        return abs((two - one).days)

    assert len(CLOSE_PAIRS) >= 3
    for first, second in CLOSE_PAIRS:
        assert apart(first, second) <= 2, (first, second)
    for first, second in FEW_DAYS_PAIRS:
        assert 2 < apart(first, second) <= 7, (first, second)
