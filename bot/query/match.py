"""Matching keyword queries: many rules compiled together, matched against one text at once.

The language and `parse_query` are in `bot.query.parse`; normalisation in `bot.query.textnorm`.
Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from itertools import chain, filterfalse

from bot.query.parse import MIN_STEM, And, Node, Not, Or, Query, Term, matches_without_terms
from bot.query.textnorm import joins_words, normalise, word_spans, words

__all__ = ["Matcher", "RuleMatch", "TermHit"]


@dataclass(frozen=True, slots=True)
class TermHit:
    """A positive term that matched: as written in the query, and the word forms it matched."""

    term: str
    forms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RuleMatch:
    """A rule that matched a text, with its positive terms that matched, in query order."""

    rule_id: str
    hits: tuple[TermHit, ...]


_TOKEN_CACHE_SIZE = 200_000  # distinct tokens remembered; the memo starts over beyond this

_Predicate = Callable[[AbstractSet[int]], bool]


@dataclass(frozen=True, slots=True, eq=False)
class _List:
    """A term list (`Or` with a name) in the matcher: compiled once, shared by its rules."""

    index: int
    written: dict[int, str]  # term id -> the form as written, in list order
    order: dict[int, int]  # term id -> its position in the list
    members: frozenset[int]
    predicate: _Predicate


@dataclass(frozen=True, slots=True)
class _Rule:
    rule_id: str
    predicate: _Predicate
    # Positive terms in query order: (term id, term as written), or a whole term list.
    positive: tuple[tuple[int, str] | _List, ...]
    plain: tuple[tuple[int, str], ...] | None  # `positive` when it holds no term list


class Matcher:
    """Every rule of a configuration, compiled once, matched against one text at a time.

    Each distinct term is evaluated once per text (words by set lookup, prefixes through an
    index of their first three letters, phrases by token position once their words are all
    present); a rule is evaluated only if one of its anchor terms (`Query.anchor_terms`) is
    present. Not thread-safe: it keeps a memo of the tokens it has seen."""

    __slots__ = (
        "_atom_terms",
        "_heads",
        "_lists_by_term",
        "_rules",
        "_rules_by_list",
        "_rules_by_term",
        "_term_atoms",
        "_term_words",
        "_token_atoms",
        "_words",
    )

    def __init__(self) -> None:
        self._rules: list[_Rule] = []
        self._term_words: list[tuple[str, ...]] = []  # term id -> its normalised words
        self._term_atoms: list[tuple[int, ...]] = []  # term id -> atom ids of its words
        self._words: dict[str, int] = {}  # whole word -> atom id
        self._heads: dict[str, list[tuple[str, int]]] = {}  # first 3 letters -> (stem, atom id)
        self._atom_terms: list[list[int]] = []  # atom id -> term ids using it
        self._rules_by_term: list[list[int]] = []  # term id -> rules it anchors
        # Term lists that anchor rules: term id -> such lists holding it; list -> its rules.
        self._lists_by_term: dict[int, list[int]] = {}
        self._rules_by_list: list[list[int]] = []
        # Memo: token -> atoms it matches. News vocabulary repeats, so after a few hundred items
        # almost every token is known and the lookup of a whole text runs at C speed.
        self._token_atoms: dict[str, tuple[int, ...]] = {}

    @classmethod
    def compile(cls, rules: Sequence[tuple[str, Query]]) -> Matcher:
        """Build a matcher for (rule id, query) pairs; rule ids must be unique.

        A term list's node (`Or` with a name, the same object in every query that uses the
        list) is compiled once: its terms, its predicate and the rules it anchors."""
        matcher = cls()
        compiler = _Compiler(matcher)
        seen: set[str] = set()
        for rule_id, query in rules:
            if rule_id in seen:
                raise ValueError(f"duplicate rule id {rule_id!r}")
            seen.add(rule_id)
            index = len(matcher._rules)
            positive: dict[tuple[bool, int], tuple[int, str] | _List] = {}
            for unit, is_positive in _units(query.root):
                entry = compiler.add(unit)
                key = (True, entry.index) if isinstance(entry, _List) else (False, entry[0])
                if is_positive:
                    positive.setdefault(key, entry)
            for unit in _anchor_units(query.root):
                entry = compiler.add(unit)
                if isinstance(entry, _List):
                    rules_of_list = matcher._rules_by_list[entry.index]
                    if not rules_of_list:
                        for term_id in entry.written:
                            matcher._lists_by_term.setdefault(term_id, []).append(entry.index)
                    rules_of_list.append(index)
                else:
                    matcher._rules_by_term[entry[0]].append(index)
            predicate = _compile(query.root, compiler)
            entries = tuple(positive.values())
            plain = tuple(e for e in entries if not isinstance(e, _List))
            matcher._rules.append(
                _Rule(rule_id, predicate, entries, plain if len(plain) == len(entries) else None)
            )
        return matcher

    def _add_atom(self, word: str, atom_ids: dict[str, int]) -> int:
        """Register a word or prefix (once); return its atom id."""
        if word not in atom_ids:
            atom = atom_ids[word] = len(self._atom_terms)
            self._atom_terms.append([])
            if word.endswith("*"):
                self._heads.setdefault(word[:MIN_STEM], []).append((word[:-1], atom))
            else:
                self._words[word] = atom
        return atom_ids[word]

    def match(self, text: str, rule_ids: Collection[str] | None = None) -> list[RuleMatch]:
        """The rules (all, or those in `rule_ids`) that match `text`, in configuration order."""
        normalised = normalise(text)
        tokens = words(normalised)
        distinct = dict.fromkeys(tokens)
        known = self._token_atoms
        unseen = list(filterfalse(known.__contains__, distinct))
        if len(known) + len(unseen) > _TOKEN_CACHE_SIZE:
            known.clear()
            unseen = list(distinct)
        for token in unseen:
            known[token] = self._atoms_of(token)
        atoms = set(chain.from_iterable(map(known.__getitem__, distinct)))
        if not atoms:
            return []
        present: set[int] = set()
        for term_id in {t for atom in atoms for t in self._atom_terms[atom]}:
            pattern = self._term_words[term_id]
            if len(pattern) == 1 or (
                atoms.issuperset(self._term_atoms[term_id])
                and next(_phrase_starts(tokens, pattern), None) is not None
            ):
                present.add(term_id)
        candidates_set = {r for t in present for r in self._rules_by_term[t]}
        if self._lists_by_term:
            by_list = self._rules_by_list
            lists = {k for t in present for k in self._lists_by_term.get(t, ())}
            candidates_set.update(r for k in lists for r in by_list[k])
        candidates = sorted(candidates_set)
        if isinstance(rule_ids, str):
            raise TypeError("rule_ids must be a collection of rule ids, not one string")
        if rule_ids is not None and not isinstance(rule_ids, AbstractSet):
            rule_ids = frozenset(rule_ids)
        found: list[RuleMatch] = []
        forms: dict[int, tuple[str, ...]] = {}  # a term's forms, shared by the rules using it
        hit_tokens: list[str] | None = None  # the distinct tokens some word or prefix matched
        spans: list[tuple[int, int]] | None = None  # where each token is, for phrase forms
        for index in candidates:
            rule = self._rules[index]
            if (rule_ids is None or rule.rule_id in rule_ids) and rule.predicate(present):
                if hit_tokens is None:
                    hit_tokens = [token for token in distinct if known[token]]
                hits = []
                if rule.plain is None:
                    entries = _present_terms(rule.positive, present)
                else:
                    entries = [e for e in rule.plain if e[0] in present]
                for term_id, written in entries:
                    term_forms = forms.get(term_id)
                    if term_forms is None:
                        pattern = self._term_words[term_id]
                        if len(pattern) > 1 and spans is None:
                            spans = word_spans(normalised)
                        term_forms = forms[term_id] = self._forms(
                            tokens, hit_tokens, pattern, normalised, spans or []
                        )
                    hits.append(TermHit(written, term_forms))
                found.append(RuleMatch(rule.rule_id, tuple(hits)))
        return found

    def _atoms_of(self, token: str) -> tuple[int, ...]:
        """The words and prefixes of the configuration that `token` matches."""
        found = [
            atom for stem, atom in self._heads.get(token[:MIN_STEM], ()) if token.startswith(stem)
        ]
        atom = self._words.get(token)
        if atom is not None:
            found.append(atom)
        return tuple(found)

    @staticmethod
    def _forms(
        tokens: list[str],
        hit_tokens: list[str],
        pattern: tuple[str, ...],
        normalised: str,
        spans: list[tuple[int, int]],
    ) -> tuple[str, ...]:
        """The distinct forms of the text that a present term matched, in order of appearance.

        `hit_tokens` are the distinct tokens that matched a word or prefix of the rules, in
        order of appearance (every form of a prefix is among them). A phrase's form keeps an
        apostrophe or hyphen between its words (`libya's east`); other gaps become a space.
        `spans` are the tokens' positions in `normalised` (needed for phrases only)."""
        if len(pattern) > 1:
            found = (
                _phrase_form(tokens, normalised, spans, i, len(pattern))
                for i in _phrase_starts(tokens, pattern)
            )
            return tuple(dict.fromkeys(found))
        word = pattern[0]
        if not word.endswith("*"):
            return (word,)
        stem = word[:-1]
        return tuple(token for token in hit_tokens if token.startswith(stem))


def _compile(node: Node, compiler: _Compiler) -> _Predicate:
    """A predicate over the set of term ids present in a text.

    Terms directly under AND or OR are tested together with one C-level set operation; a
    term list is one too, compiled once for all the rules that use it."""
    if isinstance(node, Term):
        term_id = compiler.term(node)
        return lambda present: term_id in present
    if isinstance(node, Or) and node.name:
        return compiler.term_list(node).predicate
    if isinstance(node, Not):
        operand = _compile(node.operand, compiler)
        return lambda present: not operand(present)
    ids = frozenset(compiler.term(c) for c in node.operands if isinstance(c, Term))
    rest = tuple(_compile(c, compiler) for c in node.operands if not isinstance(c, Term))
    # One or two sub-expressions (the usual shapes) are called directly, not through a generator.
    if isinstance(node, And):
        if not rest:
            return ids.issubset
        if len(rest) == 1:
            (only,) = rest
            return lambda present: ids.issubset(present) and only(present)
        if len(rest) == 2:
            first, second = rest
            return lambda present: ids.issubset(present) and first(present) and second(present)
        return lambda present: ids.issubset(present) and all(f(present) for f in rest)
    if not rest:
        return lambda present: not ids.isdisjoint(present)
    if len(rest) == 1:
        (only,) = rest
        return lambda present: not ids.isdisjoint(present) or only(present)
    if len(rest) == 2:
        first, second = rest
        return lambda present: not ids.isdisjoint(present) or first(present) or second(present)
    return lambda present: not ids.isdisjoint(present) or any(f(present) for f in rest)


def _phrase_form(
    tokens: list[str], normalised: str, spans: list[tuple[int, int]], start: int, size: int
) -> str:
    """The words tokens[start : start + size] as the text joins them, for an alert."""
    parts = [tokens[start]]
    for k in range(start + 1, start + size):
        gap = normalised[spans[k - 1][1] : spans[k][0]]
        parts.append(gap if joins_words(gap) else " ")
        parts.append(tokens[k])
    return "".join(parts)


def _fits(token: str, word: str) -> bool:
    return token.startswith(word[:-1]) if word.endswith("*") else token == word


def _phrase_starts(tokens: list[str], pattern: tuple[str, ...]) -> Iterator[int]:
    """Positions where the phrase `pattern` (normalised words, maybe prefixes) starts."""
    size, first = len(pattern), pattern[0]
    last = len(tokens) - size
    if first.endswith("*"):
        starts: Iterator[int] = iter(range(last + 1))
    else:
        starts = _positions(tokens, first, last)
    for i in starts:
        if all(_fits(tokens[i + k], pattern[k]) for k in range(size)):
            yield i


def _positions(tokens: list[str], word: str, last: int) -> Iterator[int]:
    """Positions of `word` in tokens[: last + 1], found by C-speed scans."""
    i = -1
    while True:
        try:
            i = tokens.index(word, i + 1, last + 1)
        except ValueError:
            return
        yield i


class _Compiler:
    """Registers terms and term lists in a matcher being built, each once."""

    def __init__(self, matcher: Matcher) -> None:
        self.matcher = matcher
        self.term_ids: dict[tuple[str, ...], int] = {}
        self.atom_ids: dict[str, int] = {}
        self.lists: dict[int, _List] = {}  # id of a term list's node -> the list

    def term(self, term: Term) -> int:
        """The term's id, registering it (and its words) the first time."""
        term_id = self.term_ids.get(term.words)
        if term_id is None:
            matcher = self.matcher
            term_id = self.term_ids[term.words] = len(matcher._term_words)
            matcher._term_words.append(term.words)
            matcher._rules_by_term.append([])
            words = dict.fromkeys(term.words)
            atoms = tuple(matcher._add_atom(w, self.atom_ids) for w in words)
            for atom in atoms:
                matcher._atom_terms[atom].append(term_id)
            matcher._term_atoms.append(atoms)
        return term_id

    def term_list(self, node: Or) -> _List:
        """The compiled term list of a named `Or` (its operands are terms)."""
        found = self.lists.get(id(node))
        if found is None:
            written: dict[int, str] = {}
            for term in node.operands:
                assert isinstance(term, Term)  # noqa: S101 - a list's node holds terms only
                written.setdefault(self.term(term), term.text)
            members = frozenset(written)
            index = len(self.matcher._rules_by_list)
            self.matcher._rules_by_list.append([])
            found = self.lists[id(node)] = _List(
                index,
                written,
                {term_id: k for k, term_id in enumerate(written)},
                members,
                lambda present: not members.isdisjoint(present),
            )
        return found

    def add(self, unit: Term | Or) -> tuple[int, str] | _List:
        """A positive entry for a term or a term list (registered)."""
        if isinstance(unit, Term):
            return (self.term(unit), unit.text)
        return self.term_list(unit)


def _units(node: Node, positive: bool = True) -> Iterator[tuple[Term | Or, bool]]:
    """Terms and term lists (named `Or`) in query order, each with its polarity."""
    if isinstance(node, Term) or (isinstance(node, Or) and node.name):
        yield node, positive
    elif isinstance(node, Not):
        yield from _units(node.operand, not positive)
    else:
        for child in node.operands:
            yield from _units(child, positive)


def _anchor_units(node: Node) -> list[Term | Or]:
    """`Query.anchor_terms`, with a term list as one unit (the size of its terms)."""
    if isinstance(node, Term) or (isinstance(node, Or) and node.name):
        return [node]
    if isinstance(node, Or):  # every operand needs a term, or the query would be rejected
        return [unit for child in node.operands for unit in _anchor_units(child)]
    if isinstance(node, And):
        needy = (c for c in node.operands if not matches_without_terms(c))
        return min((_anchor_units(c) for c in needy), key=_size)
    # NOT: a text with none of the terms that count positively here cannot make it true.
    return [unit for unit, positive in _units(node) if positive]


def _size(units: list[Term | Or]) -> int:
    return sum(len(u.operands) if isinstance(u, Or) else 1 for u in units)


def _present_terms(
    positive: tuple[tuple[int, str] | _List, ...], present: AbstractSet[int]
) -> list[tuple[int, str]]:
    """A rule's distinct positive terms present in a text, (term id, as written), in query
    order; a term list's in list order."""
    found: dict[int, str] = {}
    for entry in positive:
        if isinstance(entry, _List):
            written = entry.written
            for term_id in sorted(entry.members.intersection(present), key=entry.order.__getitem__):
                found.setdefault(term_id, written[term_id])
        elif entry[0] in present:
            found.setdefault(*entry)
    return list(found.items())
