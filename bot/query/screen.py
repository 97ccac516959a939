"""Screening texts for a keyword query: a cheap test that rules out most texts the query
cannot match, before the matcher tokenises them (`vedette test-rule` over a month of items).

Substring tests on the normalised text cost about a tenth of tokenising it; see `Screen` for
why no text the matcher would match is ruled out. Pure: imports only bot.query.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from bot.query.near import and_groups
from bot.query.parse import And, Node, Not, Query, Term, matches_without_terms

__all__ = ["Screen"]

# The scripts a stem needs and a text has: a stem with a Latin (Cyrillic) letter cannot be in
# a text without one, so it is not searched for there.
_LATIN = re.compile("[a-z]")
_CYRILLIC = re.compile("[\u0400-\u04ff]")
# More stems than this in one group (a term list, an OR's terms, the anchors): not screened.
PREFILTER_MAX = 400

_Plan = tuple[str, int] | tuple[str, tuple["_Plan", ...]]
# A stem: a word of a term, or the stem of a prefix (then `whole` is False).
_Stem = tuple[str, bool]
# Per text: the first stems found in it, and whether each group was found so far.
_State = tuple[frozenset[_Stem] | set[_Stem], dict[int, bool]]


class Screen:
    """A cheap test that a normalised text may be matched by a query: substring tests,
    about a tenth of the cost of tokenising the text.

    A term counts as present when its longest word is in the text where a word starts (a
    prefix's stem) or as a whole word (between characters that are not letters or digits,
    as the matcher splits words), and a NOT as maybe true; the query is evaluated over that.
    The words the matcher finds are pieces of the same normalised text, so every text it can
    match passes. Under an OR at the top, one of the query's anchor terms
    (`Query.anchor_terms`) must be there first. The stems of a term list, or of the terms an
    OR lists, are tested in one loop (`in`, then where the word starts); a stem that a prefix
    in the group already covers is left out, and a stem with a Latin or Cyrillic letter is
    only searched for in texts that have one.
    With `near`, a text also passes when, in one of the ANDs near misses are counted in
    (`bot.query.near`), every branch but one may hold, one of them needing a term."""

    def __init__(self, query: Query, *, near: bool = False) -> None:
        self._stems: list[frozenset[_Stem]] = []  # each group's stems
        self._ids: dict[frozenset[_Stem], int] = {}
        # Under an AND at the top the plan itself tests one operand first (the one with the
        # fewest stems, stopping at the first found): anchors would add a full search.
        first = None
        if near or not isinstance(query.root, And):
            first = self._group(query.positive_terms() if near else query.anchor_terms())
        self._plan = self._compile(query.root)
        # With `near`: each AND of `bot.query.near.and_groups`, as (plan, needs a term) for
        # each of its branches.
        self._near = [
            [(self._compile(node), not matches_without_terms(node)) for node in group.operands]
            for group in (and_groups(query) if near else ())
        ]
        # The first stems are all searched for in every text, so each group is then split
        # into those (looked up in what was found) and the others (searched for), each by the
        # scripts a text has (`_scripts`).
        anchors = self._stems[first] if first is not None else frozenset()
        self._first = _by_scripts(anchors) if first is not None else None
        self._groups = [
            (
                _by_scripts(stems & anchors),
                _by_scripts(stems - anchors),
            )
            for stems in self._stems
        ]

    def __call__(self, text: str) -> bool:
        scripts = _scripts(text)
        found: frozenset[_Stem] | set[_Stem] = frozenset()
        if self._first is not None:
            found = {
                stem for stem in self._first[scripts] if stem[0] in text and _at_word(text, *stem)
            }
            if not found:
                return False
        seen: dict[int, bool] = {}
        if self._plan is None or self._holds(self._plan, text, scripts, (found, seen)):
            return True
        return any(self._near_miss(group, text, scripts, (found, seen)) for group in self._near)

    def _near_miss(
        self, group: list[tuple[_Plan | None, bool]], text: str, scripts: int, state: _State
    ) -> bool:
        """Whether all but one branch of an AND may hold, one of them needing a term."""
        missing, needy = 0, False
        for plan, needs in group:
            if plan is None or self._holds(plan, text, scripts, state):
                needy = needy or needs
            else:
                missing += 1
                if missing > 1:
                    return False
        return needy

    def _present(self, group: int, text: str, scripts: int, state: _State) -> bool:
        found, seen = state
        present = seen.get(group)
        if present is None:
            known, others = self._groups[group]
            present = not found.isdisjoint(known[scripts])
            if not present:
                for stem, whole in others[scripts]:
                    if stem in text and _at_word(text, stem, whole):
                        present = True
                        break
            seen[group] = present
        return present

    def _holds(self, plan: _Plan, text: str, scripts: int, state: _State) -> bool:
        # Loops, not all() and any() over generators: this runs for every branch of every
        # text that holds an anchor, and the generators cost more than the tests.
        kind, arg = plan
        if isinstance(arg, int):
            return self._present(arg, text, scripts, state)
        seen = state[1]
        wanted = kind == "or"  # the value that decides: any part true (OR), false (AND)
        for part in arg:
            value = part[1]
            if isinstance(value, int):
                holds = seen.get(value)
                if holds is None:
                    holds = self._present(value, text, scripts, state)
            else:
                holds = self._holds(part, text, scripts, state)
            if holds is wanted:
                return wanted
        return not wanted

    def _group(self, terms: Iterable[Term]) -> int | None:
        """The id of the group of stems of `terms`; None if there are too many to test."""
        words = {max(term.words, key=len) for term in terms}
        stems = {(word.removesuffix("*"), not word.endswith("*")) for word in words}
        prefixes = [stem for stem, whole in stems if not whole]
        needed = frozenset(
            (stem, whole)
            for stem, whole in stems
            if not any(stem.startswith(p) and (whole or p != stem) for p in prefixes)
        )
        if len(needed) > PREFILTER_MAX:
            return None
        if needed not in self._ids:
            self._ids[needed] = len(self._stems)
            self._stems.append(needed)
        return self._ids[needed]

    def _compile(self, node: Node) -> _Plan | None:
        """The plan that tests `node`; None when it may hold in any text."""
        if isinstance(node, Term):
            group = self._group([node])
            return None if group is None else ("group", group)
        if isinstance(node, Not):
            return None
        if isinstance(node, And):
            parts = [plan for plan in map(self._compile, node.operands) if plan is not None]
            parts.sort(key=self._cost)
            return None if not parts else parts[0] if len(parts) == 1 else ("and", tuple(parts))
        # Each term list is a group of its own, so a list used by several branches is
        # searched once per text; the terms written in the query form one more.
        terms = [child for child in node.operands if isinstance(child, Term)]
        plans = [self._compile(c) for c in node.operands if not isinstance(c, Term)]
        if terms:
            group = self._group(terms)
            plans.append(None if group is None else ("group", group))
        if any(plan is None for plan in plans):
            return None
        kept = sorted((plan for plan in plans if plan is not None), key=self._cost)
        return kept[0] if len(kept) == 1 else ("or", tuple(kept))

    def _cost(self, plan: _Plan) -> int:
        _, arg = plan
        if isinstance(arg, int):
            return len(self._stems[arg])
        return sum(map(self._cost, arg))


def _by_scripts(stems: frozenset[_Stem]) -> tuple[tuple[_Stem, ...], ...]:
    """`stems` to search for in a text, by the scripts it has: 0 to 3 (`_scripts`)."""
    ordered = sorted(stems, key=lambda stem: (len(stem[0]), stem))
    return tuple(
        tuple(s for s in ordered if _scripts(s[0]) | scripts == scripts) for scripts in range(4)
    )


def _at_word(text: str, stem: str, whole: bool) -> bool:
    """Whether `stem` starts a word of `text` (and ends it, if `whole`); words are runs of
    letters and digits (`str.isalnum`, as the matcher's pattern `[^\\W_]+` has them)."""
    at = text.find(stem)
    while at >= 0:
        if at == 0 or not text[at - 1].isalnum():
            end = at + len(stem)
            if not whole or end == len(text) or not text[end].isalnum():
                return True
        at = text.find(stem, at + 1)
    return False


def _scripts(text: str) -> int:
    """1 if `text` has a Latin letter, plus 2 if it has a Cyrillic one."""
    if text.isascii():
        return 1 if _LATIN.search(text) else 0
    return (_LATIN.search(text) is not None) + 2 * (_CYRILLIC.search(text) is not None)
