"""The keyword query language of rules.toml: syntax tree and parser.

Terms are words (`minsk`), prefixes (`minsk*`, at least 3 letters before the star) and
"quoted phrases" (`"eastern libya"`, `"belavia flight*"`), joined by `AND`, `OR`, `NOT` (upper
case only) and parentheses; adjacent terms mean AND; NOT binds tighter than AND, AND tighter
than OR. Term words are normalised like the text they match (`bot.query.textnorm`). Every
query needs at least one term that must be present: `NOT x` alone is rejected. Parentheses and
NOT nest at most `MAX_DEPTH` levels; a query is at most `MAX_QUERY_LENGTH` characters long.
Punctuation in a term other than an apostrophe or hyphen inside a word is dropped (`c++` is
`c`); `Query.punctuation_notes` says which terms have some.

Named term lists (`[terms]`, `TermLists`): `@name` stands for `(form1 OR form2 …)`, each form
one term as written in a query or `@other`. A list is parsed once, nested lists inlined, into
one `Or` node named after it, shared by every query that uses it (so that the matcher compiles
it once).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from bot.query.textnorm import joins_words, normalise, words

MIN_STEM = 3
# Parentheses and NOT nested deeper than this are rejected: parsing, compiling and matching
# recurse once per level, and a few hundred levels would exhaust Python's stack. With this
# limit every accepted query is at most about 2 × MAX_DEPTH levels deep, far below it.
MAX_DEPTH = 50
# Longer queries (and term list forms) are rejected: put long lists of terms in `[terms]`.
MAX_QUERY_LENGTH = 10_000
LIST_NAME = re.compile(r"[a-z0-9_-]+")
# Term lists inline the lists they use: all together copy at most this many terms, or a
# short file (10,000 lists that each use one 10,000-form list) could ask for 100 million.
MAX_INLINED_TERMS = 1_000_000
_TOO_LARGE = f"the term lists are too large (more than {MAX_INLINED_TERMS:,} nested terms)"
_OPERATORS = frozenset({"AND", "OR", "NOT"})
_TYPOGRAPHIC_QUOTES = "“”„«»"


class QueryError(ValueError):
    """A query that cannot be used; `column` is 1-based into the query text."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(f"column {column}: {message}")
        self.message = message
        self.column = column


# --- syntax tree -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Term:
    """A word, prefix or phrase. `words` are normalised; a word ending in "*" is a prefix.

    `text` is the term as written in the query (with its quotes, if any)."""

    text: str
    words: tuple[str, ...]
    column: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Not:
    """`NOT operand`."""

    operand: Node
    column: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class And:
    """All operands (two or more)."""

    operands: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """Any operand (two or more); or, when `name` is set, the term list `@name`: its terms
    (one or more), nested lists inlined, the same node in every query that uses the list."""

    operands: tuple[Node, ...]
    name: str = ""


Node = Term | Not | And | Or


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed query: the text it came from and its syntax tree."""

    text: str
    root: Node

    def terms(self) -> tuple[Term, ...]:
        """Every distinct term, in query order."""
        seen: dict[tuple[str, ...], Term] = {}
        for term, _ in _occurrences(self.root):
            seen.setdefault(term.words, term)
        return tuple(seen.values())

    def positive_terms(self) -> tuple[Term, ...]:
        """Distinct terms that count for a match (not under NOT), in query order."""
        seen: dict[tuple[str, ...], Term] = {}
        for term, positive in _occurrences(self.root):
            if positive:
                seen.setdefault(term.words, term)
        return tuple(seen.values())

    def punctuation_notes(self) -> tuple[tuple[int, str], ...]:
        """(column, message) for each term whose punctuation matching ignores, in query order.

        `c++` is matched as the word `c` and `.net` as `net`: the term means more than it
        says. Apostrophes and hyphens inside words (`libya's`, `al-qaeda`) are not noted:
        text is split at them too, so they match as written."""
        notes: dict[str, tuple[int, str]] = {}
        for term in _written_terms(self.root):
            if term.text not in notes and _ignores_punctuation(term.text):
                shown = " ".join(term.words)
                notes[term.text] = (
                    term.column,
                    f"term '{term.text}' is matched as '{shown}': punctuation is ignored",
                )
        return tuple(notes.values())

    def lists(self) -> tuple[str, ...]:
        """The names of the term lists the query uses (`@name`), in query order."""
        return tuple(dict.fromkeys(_list_names(self.root)))

    def anchor_terms(self) -> tuple[Term, ...]:
        """Terms of which at least one is present in every text the query matches.

        Under AND, one operand's anchors are enough (the one with the fewest); a matcher need
        only evaluate the query for texts that contain one of these."""
        return _anchors(self.root)


def _anchors(node: Node) -> tuple[Term, ...]:
    if isinstance(node, Term):
        return (node,)
    if isinstance(node, Or):  # every operand needs a term, or the query would be rejected
        return tuple({t.words: t for c in node.operands for t in _anchors(c)}.values())
    if isinstance(node, And):
        needy = (c for c in node.operands if not matches_without_terms(c))
        return min((_anchors(c) for c in needy), key=len)
    # NOT: a text with none of the terms that count positively here cannot make it true.
    return tuple({t.words: t for t, positive in _occurrences(node) if positive}.values())


def _ignores_punctuation(text: str) -> bool:
    """Whether a term as written holds punctuation that matching drops (see
    `Query.punctuation_notes`); a phrase's quotes and a prefix's final "*" are syntax."""
    if text[:1] == '"':
        text = text[1:-1]
    for piece in text.split():
        piece = normalise(piece.removesuffix("*"))
        if words(piece) == [piece]:  # the usual case: one plain word
            continue
        for k, char in enumerate(piece):
            if words(char):
                continue
            between = 0 < k < len(piece) - 1 and words(piece[k - 1]) and words(piece[k + 1])
            if not (between and joins_words(char)):
                return True
    return False


def _written_terms(node: Node) -> Iterator[Term]:
    """The terms written in the query itself (not those of its term lists), in query order."""
    if isinstance(node, Term):
        yield node
    elif isinstance(node, Not):
        yield from _written_terms(node.operand)
    elif not (isinstance(node, Or) and node.name):
        for child in node.operands:
            yield from _written_terms(child)


def _list_names(node: Node) -> Iterator[str]:
    if isinstance(node, Not):
        yield from _list_names(node.operand)
    elif isinstance(node, Or) and node.name:
        yield node.name
    elif not isinstance(node, Term):
        for child in node.operands:
            yield from _list_names(child)


def _occurrences(node: Node, positive: bool = True) -> list[tuple[Term, bool]]:
    """Every term occurrence in query order, with its polarity (False under an odd NOT count)."""
    if isinstance(node, Term):
        return [(node, positive)]
    if isinstance(node, Not):
        return _occurrences(node.operand, not positive)
    return [occ for child in node.operands for occ in _occurrences(child, positive)]


# --- parsing -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "(", ")", "AND", "OR", "NOT", "TERM" or "LIST" (`@name`)
    column: int
    term: Term | None = None
    name: str = ""  # of a LIST


def parse_query(text: str, terms: Mapping[str, Sequence[str]] | None = None) -> Query:
    """Parse a query; raise `QueryError` naming the column of the first problem.

    `terms` maps list names to their forms (`[terms]` of rules.toml): `@name` in the query
    stands for `(form1 OR form2 …)`. Pass the same `TermLists` to every call (as
    `Config.terms` is) so that each list is parsed once and shared; any other mapping is
    parsed on each call."""
    if len(text) > MAX_QUERY_LENGTH:
        raise QueryError(
            f"the query is {len(text):,} characters long, more than {MAX_QUERY_LENGTH:,};"
            " put long lists of terms in [terms] and use them as @name",
            MAX_QUERY_LENGTH + 1,
        )
    tokens = _lex(text)
    if not tokens:
        raise QueryError("the query is empty", 1)
    lists = terms if isinstance(terms, TermLists) or terms is None else TermLists(terms)
    parser = _Parser(tokens, lists)
    root = parser.parse_or(after=None)
    if parser.pos != len(tokens):  # pragma: no cover - balanced parentheses make this unreachable
        raise QueryError("unexpected text", tokens[parser.pos].column)
    if matches_without_terms(root):
        culprit = _find_culprit(root)
        written = [t.text for t in _written_terms(culprit)]
        lacking = ", ".join(dict.fromkeys([*written, *(f"@{n}" for n in _list_names(culprit))]))
        raise QueryError(
            f"this query matches every item that lacks {lacking}; a query needs a term that"
            " must be present, as in: minsk NOT football",
            culprit.column,
        )
    return Query(text, root)


def _lex(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    open_parens: list[int] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        column = i + 1
        if ch.isspace():
            i += 1
        elif ch == "(":
            open_parens.append(column)
            tokens.append(_Token("(", column))
            i += 1
        elif ch == ")":
            if not open_parens:
                raise QueryError("this ')' has no matching '('", column)
            open_parens.pop()
            tokens.append(_Token(")", column))
            i += 1
        elif ch == '"':
            end = text.find('"', i + 1)
            if end < 0:
                raise QueryError("this '\"' is never closed", column)
            pieces = _split(text, i + 1, end)
            term = _make_term(text[i : end + 1], pieces, column, phrase=True)
            tokens.append(_Token("TERM", column, term))
            i = end + 1
        else:
            end = i
            while end < n and not text[end].isspace() and text[end] not in '()"':
                end += 1
            chunk = text[i:end]
            tokens.append(_list_token(chunk, column) if ch == "@" else _bare(chunk, column))
            i = end
    if open_parens:
        raise QueryError("this '(' is never closed", open_parens[-1])
    return tokens


def _split(text: str, start: int, end: int) -> list[tuple[str, int]]:
    """Whitespace-separated pieces of text[start:end], each with its 1-based column."""
    pieces: list[tuple[str, int]] = []
    i = start
    while i < end:
        if text[i].isspace():
            i += 1
            continue
        j = i
        while j < end and not text[j].isspace():
            j += 1
        pieces.append((text[i:j], i + 1))
        i = j
    return pieces


def _list_token(chunk: str, column: int) -> _Token:
    """`@name`: a term list."""
    name = chunk[1:]
    if not LIST_NAME.fullmatch(name):
        raise QueryError(
            f"'{chunk}' is not a term list name: write @ and the name of a [terms] list"
            ' (a-z, 0-9, _ and -), or "…" around a word that starts with @',
            column,
        )
    return _Token("LIST", column, name=name)


def _bare(chunk: str, column: int) -> _Token:
    """An operator or an unquoted term."""
    if chunk in _OPERATORS:
        return _Token(chunk, column)
    if chunk.casefold() in {"and", "or", "not"}:
        raise QueryError(
            f"'{chunk}' is a word here; write {chunk.upper()} for the operator,"
            f' or "{chunk}" to match the word',
            column,
        )
    for k, ch in enumerate(chunk):
        if ch in _TYPOGRAPHIC_QUOTES:
            raise QueryError(f'write a phrase between straight quotes "…", not {ch}…', column + k)
    if chunk[0] in "'’‘":
        raise QueryError("write a phrase between double quotes \"…\", not '…'", column)
    if chunk[0] == "-" and chunk[1:2].isalnum():
        raise QueryError(f"'-' does not exclude a word; write NOT {chunk[1:]}", column)
    return _Token("TERM", column, _make_term(chunk, [(chunk, column)], column, phrase=False))


def _make_term(display: str, pieces: list[tuple[str, int]], column: int, *, phrase: bool) -> Term:
    """Normalise the pieces of a term into its words; a piece may end with '*'."""
    out: list[str] = []
    for piece, at in pieces:
        star = piece.find("*")
        if star >= 0 and star != len(piece) - 1:
            raise QueryError("'*' can only end a word, as in minsk*", at + star)
        stem = piece[:-1] if star >= 0 else piece
        found = words(normalise(stem))
        if star >= 0:
            if not found:
                raise QueryError(f"'*' needs at least {MIN_STEM} letters before it", at + star)
            if len(found[-1]) < MIN_STEM:
                raise QueryError(
                    f"the prefix '{found[-1]}*' is too short: write at least {MIN_STEM} letters"
                    " before '*'",
                    at,
                )
            found[-1] += "*"
        elif not found and not phrase:
            raise QueryError(f"'{piece}' has no letters or digits to match", at)
        out.extend(found)
    if not out:
        raise QueryError(
            'this phrase is empty: write words between the quotes, as in "a b"', column
        )
    return Term(display, tuple(out), column)


class _Parser:
    """Recursive descent: or := and (OR and)*; and := unary ([AND] unary)*; unary := NOT unary
    | '(' or ')' | TERM."""

    def __init__(self, tokens: list[_Token], lists: TermLists | None) -> None:
        self.tokens = tokens
        self.lists = lists
        self.pos = 0
        self.depth = 0  # parentheses and NOTs open around the current position

    def _peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def parse_or(self, after: _Token | None) -> Node:
        parts = [self.parse_and(after)]
        while (token := self._peek()) is not None and token.kind == "OR":
            self.pos += 1
            parts.append(self.parse_and(token))
        return parts[0] if len(parts) == 1 else Or(_flatten(Or, parts))

    def parse_and(self, after: _Token | None) -> Node:
        parts = [self.parse_unary(after)]
        while (token := self._peek()) is not None and token.kind not in {"OR", ")"}:
            if token.kind == "AND":
                self.pos += 1
                parts.append(self.parse_unary(token))
            else:  # adjacent terms: implicit AND
                parts.append(self.parse_unary(None))
        return parts[0] if len(parts) == 1 else And(_flatten(And, parts))

    def parse_unary(self, after: _Token | None) -> Node:
        token = self._peek()
        if token is None or token.kind in {")", "AND", "OR"}:
            raise _missing_term(after, token)
        self.pos += 1
        if token.kind == "TERM":
            assert token.term is not None  # noqa: S101 - TERM tokens always carry a term
            return token.term
        if token.kind == "LIST":
            return _resolve(self.lists, token.name, token.column)
        self.depth += 1
        if self.depth > MAX_DEPTH:
            if token.kind == "(":
                what = f"parentheses nested too deeply (at most {MAX_DEPTH})"
            else:
                what = f"NOT nested too deeply (at most {MAX_DEPTH} levels of NOT and parentheses)"
            raise QueryError(what, token.column)
        if token.kind == "NOT":
            node: Node = Not(self.parse_unary(token), token.column)
        else:
            node = self.parse_or(token)
            self.pos += 1  # the ")": parentheses are balanced
        self.depth -= 1
        return node


def _flatten(kind: type[And] | type[Or], parts: list[Node]) -> tuple[Node, ...]:
    out: list[Node] = []
    for part in parts:
        if isinstance(part, kind) and not (isinstance(part, Or) and part.name):
            out.extend(part.operands)
        else:
            out.append(part)
    return tuple(out)


def _missing_term(after: _Token | None, found: _Token | None) -> QueryError:
    """The error for a place where a term should be."""
    if after is not None and after.kind == "(" and found is not None and found.kind == ")":
        return QueryError("these parentheses are empty", after.column)
    if found is not None and found.kind in {"AND", "OR"} and (after is None or after.kind == "("):
        return QueryError(f"'{found.kind}' needs a term before it", found.column)
    if after is None:  # an empty query never gets here: parse_query checks it first
        return QueryError("a term is missing here", found.column if found else 1)
    if found is None or found.kind == ")":
        return QueryError(f"'{after.kind}' needs a term after it", after.column)
    return QueryError(f"'{after.kind}' needs a term after it, not '{found.kind}'", found.column)


def matches_without_terms(node: Node) -> bool:
    """The value of a query (or part of one) for a text that contains none of its terms."""
    if isinstance(node, Term) or (isinstance(node, Or) and node.name):
        return False  # a term list holds terms only
    if isinstance(node, Not):
        return not matches_without_terms(node.operand)
    if isinstance(node, And):
        return all(matches_without_terms(child) for child in node.operands)
    return any(matches_without_terms(child) for child in node.operands)


def _find_culprit(node: Node) -> Not:
    """The NOT that makes a query match a text without any of its terms."""
    while not isinstance(node, Not):
        assert not isinstance(node, Term)  # noqa: S101 - a bare term is never true without terms
        node = next(c for c in node.operands if matches_without_terms(c))
    return node


# --- term lists ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListProblem:
    """Something wrong with the term list `name`; `form` is the index of the form at fault,
    None when it is the list as a whole."""

    name: str
    form: int | None
    message: str


class TermLists(Mapping[str, tuple[str, ...]]):
    """Named term lists (`[terms]` of rules.toml): name -> its forms as written, in order.

    Every list is parsed when the mapping is built, nested lists inlined, into one `Or`
    node named after it; `parse_query` puts that node wherever a query says `@name`.
    `problems` says what is wrong: a form that is not one term, an unknown list, an empty
    list, a list that refers to itself. Using a list with a problem (or a list that uses one)
    is a `QueryError`. `notes` are the forms whose punctuation matching ignores (see
    `Query.punctuation_notes`)."""

    __slots__ = ("_forms", "_nodes", "notes", "problems")

    def __init__(self, lists: Mapping[str, Sequence[str]] | None = None) -> None:
        self._forms = {name: tuple(forms) for name, forms in (lists or {}).items()}
        nodes, problems, notes = _expand(self._forms)
        self._nodes: dict[str, Or | str] = nodes  # a list's node, or why it cannot be used
        self.problems: tuple[ListProblem, ...] = problems
        self.notes: tuple[ListProblem, ...] = notes

    def __getitem__(self, name: str) -> tuple[str, ...]:
        return self._forms[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._forms)

    def __len__(self) -> int:
        return len(self._forms)

    def __repr__(self) -> str:
        return f"TermLists({self._forms!r})"

    def node(self, name: str) -> Or | str:
        """The list's node, or why it cannot be used; KeyError for an unknown name."""
        return self._nodes[name]


def _resolve(lists: TermLists | None, name: str, column: int) -> Or:
    """The node of `@name` in a query."""
    if lists is None or name not in lists:
        raise QueryError(f"unknown term list @{name}{_known(lists)}", column)
    node = lists.node(name)
    if isinstance(node, str):
        raise QueryError(f"the term list @{name} cannot be used: {node}", column)
    return node


def _known(lists: Mapping[str, object] | None, shown: int = 10) -> str:
    """` (known: @a, @b)`, for an error about an unknown list."""
    if not lists:
        return " (there is no [terms] table)"
    names = [f"@{name}" for name in list(lists)[:shown]]
    more = ", …" if len(lists) > shown else ""
    return f" (known: {', '.join(names)}{more})"


def _parse_form(form: str) -> Term | str:
    """One form of a term list: a term, or the name of another list."""
    if len(form) > MAX_QUERY_LENGTH:
        raise QueryError(
            f"a form is at most {MAX_QUERY_LENGTH:,} characters long", MAX_QUERY_LENGTH + 1
        )
    tokens = _lex(form)
    if not tokens:
        raise QueryError("the form is empty", 1)
    if len(tokens) == 1 and tokens[0].term is not None:
        return tokens[0].term
    if len(tokens) == 1 and tokens[0].kind == "LIST":
        return tokens[0].name
    raise QueryError(
        'a form is one term: a word, a stem*, a "quoted phrase" or @list; write each term as'
        " a form of its own",
        tokens[min(1, len(tokens) - 1)].column,
    )


def _expand(
    lists: Mapping[str, tuple[str, ...]],
) -> tuple[dict[str, Or | str], tuple[ListProblem, ...], tuple[ListProblem, ...]]:
    """Each list's node (or why it cannot be used), the problems of the lists and notes on
    forms whose punctuation is ignored.

    One depth-first walk over the references between lists, without recursion: a reference
    back to a list on the current path is a cycle; a list is built once every list it
    uses is, by inlining their terms (the first of equal terms wins)."""
    problems: list[ListProblem] = []
    notes: list[ListProblem] = []
    items: dict[str, list[Term | str]] = {}  # terms and names of used lists, in order
    broken: dict[str, str] = {}  # list -> why it cannot be used
    for name, forms in lists.items():
        items[name] = []
        if not forms:
            problems.append(ListProblem(name, None, "the list is empty: give it at least one form"))
            broken[name] = "it is empty"
        for index, form in enumerate(forms):
            try:
                item = _parse_form(form)
            except QueryError as exc:
                problems.append(ListProblem(name, index, f"form {form!r}: {exc}"))
                broken.setdefault(name, f"its form {form!r} is not one term")
                continue
            if isinstance(item, Term) and _ignores_punctuation(item.text):
                shown = " ".join(item.words)
                message = f"term '{item.text}' is matched as '{shown}': punctuation is ignored"
                notes.append(ListProblem(name, index, message))
            elif isinstance(item, str) and item not in lists:
                message = f"form {form!r}: unknown term list @{item}{_known(lists)}"
                problems.append(ListProblem(name, index, message))
                broken.setdefault(name, f"it uses @{item}, which does not exist")
                continue
            items[name].append(item)
    nodes: dict[str, Or | str] = {}
    budget = [MAX_INLINED_TERMS]  # terms of used lists that may still be inlined
    too_large = False
    state: dict[str, bool] = {}  # True while on the path, False once built
    for root in lists:
        if root in state:
            continue
        path = [root]
        state[root] = True
        stack = [iter(items[root])]
        while stack:
            for item in stack[-1]:
                if isinstance(item, Term):
                    continue
                if state.get(item) is True:
                    cycle = [*path[path.index(item) :], item]
                    shown = " → ".join(cycle)
                    problems.append(ListProblem(item, None, f"refers to itself: {shown}"))
                    for member in cycle:
                        broken.setdefault(member, f"it refers to itself: {shown}")
                elif item not in state:
                    state[item] = True
                    path.append(item)
                    stack.append(iter(items[item]))
                    break
            else:
                stack.pop()
                done = path.pop()
                state[done] = False
                node = nodes[done] = _build(done, items[done], nodes, broken, budget)
                if node == _TOO_LARGE:
                    broken[done] = node
                    if not too_large:  # reported once, at the first list that does not fit
                        too_large = True
                        message = (
                            f"the term lists are too large: together they include more than"
                            f" {MAX_INLINED_TERMS:,} terms of other lists; use fewer nested lists"
                        )
                        problems.append(ListProblem(done, None, message))
    return nodes, tuple(problems), tuple(notes)


def _build(
    name: str,
    items: list[Term | str],
    nodes: dict[str, Or | str],
    broken: dict[str, str],
    budget: list[int],
) -> Or | str:
    """The node of a list whose used lists are built, or why it cannot be used; the terms it
    copies from them are taken from `budget` (`_TOO_LARGE` when they do not fit)."""
    if name in broken:
        return broken[name]
    terms: dict[tuple[str, ...], Term] = {}
    for item in items:
        if isinstance(item, Term):
            terms.setdefault(item.words, item)
            continue
        used = nodes[item]
        if isinstance(used, str):  # the cause, when that list has it itself (not nested)
            cause = f" ({broken[item]})" if item in broken else ""
            return f"it uses @{item}, which cannot be used{cause}"
        if len(used.operands) > budget[0]:
            return _TOO_LARGE
        budget[0] -= len(used.operands)
        for term in used.operands:
            assert isinstance(term, Term)  # noqa: S101 - a list's node holds terms only
            terms.setdefault(term.words, term)
    return Or(tuple(terms.values()), name)
