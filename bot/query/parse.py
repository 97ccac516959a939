"""The keyword query language of rules.toml: syntax tree and parser.

Terms are words (`minsk`), prefixes (`minsk*`, at least 3 letters before the star) and
"quoted phrases" (`"eastern libya"`, `"belavia flight*"`), joined by `AND`, `OR`, `NOT` (upper
case only) and parentheses; adjacent terms mean AND; NOT binds tighter than AND, AND tighter
than OR. Term words are normalised like the text they match (`bot.query.textnorm`). Every
query needs at least one term that must be present: `NOT x` alone is rejected. Parentheses and
NOT nest at most `MAX_DEPTH` levels. Punctuation in a term other than an apostrophe or hyphen
inside a word is dropped (`c++` is `c`); `Query.punctuation_notes` says which terms have some.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.query.textnorm import joins_words, normalise, words

MIN_STEM = 3
# Parentheses and NOT nested deeper than this are rejected: parsing, compiling and matching
# recurse once per level, and a few hundred levels would exhaust Python's stack. With this
# limit every accepted query is at most about 2 × MAX_DEPTH levels deep, far below it.
MAX_DEPTH = 50
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
    """Any operand (two or more)."""

    operands: tuple[Node, ...]


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
        for term, _ in _occurrences(self.root):
            if term.text not in notes and _ignores_punctuation(term.text):
                shown = " ".join(term.words)
                notes[term.text] = (
                    term.column,
                    f"term '{term.text}' is matched as '{shown}': punctuation is ignored",
                )
        return tuple(notes.values())

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
        needy = (c for c in node.operands if not _matches_without_terms(c))
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
    kind: str  # "(", ")", "AND", "OR", "NOT" or "TERM"
    column: int
    term: Term | None = None


def parse_query(text: str) -> Query:
    """Parse a query; raise `QueryError` naming the column of the first problem."""
    tokens = _lex(text)
    if not tokens:
        raise QueryError("the query is empty", 1)
    parser = _Parser(tokens)
    root = parser.parse_or(after=None)
    if parser.pos != len(tokens):  # pragma: no cover - balanced parentheses make this unreachable
        raise QueryError("unexpected text", tokens[parser.pos].column)
    if _matches_without_terms(root):
        culprit = _find_culprit(root)
        lacking = ", ".join(t.text for t, _ in _occurrences(culprit))
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
            tokens.append(_bare(text[i:end], column))
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

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
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
        out.extend(part.operands if isinstance(part, kind) else (part,))
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


def _matches_without_terms(node: Node) -> bool:
    """The query's value for a text that contains none of its terms."""
    if isinstance(node, Term):
        return False
    if isinstance(node, Not):
        return not _matches_without_terms(node.operand)
    if isinstance(node, And):
        return all(_matches_without_terms(child) for child in node.operands)
    return any(_matches_without_terms(child) for child in node.operands)


def _find_culprit(node: Node) -> Not:
    """The NOT that makes a query match a text without any of its terms."""
    while not isinstance(node, Not):
        assert not isinstance(node, Term)  # noqa: S101 - a bare term is never true without terms
        node = next(c for c in node.operands if _matches_without_terms(c))
    return node
