"""Near misses of a keyword query: texts that satisfy all but one branch of an AND.

The branches are the operands of the query's top-level AND or, when the query is an OR, of
each of its alternatives that is an AND (`(a AND b) OR (c AND d)`). A text the query does
not match is a near miss when, in one of those ANDs, exactly one branch fails and at least
one of the branches it satisfies needs a term to be present: a text that satisfies only
`NOT football` (by lacking "football") is no near miss. What failed is shown as a query,
`(migra* OR мигра*)`: the branch one more synonym would have satisfied.

Every branch is compiled into one `Matcher`, so a text is tokenised once. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.query.match import Matcher
from bot.query.parse import And, Node, Not, Or, Query, Term, matches_without_terms
from watchers.feed_text import clip

__all__ = ["NearMisses", "and_groups", "written"]

SHOWN_MAX = 200  # characters of a failed branch shown (a term list can be long)


@dataclass(frozen=True, slots=True)
class _Branch:
    rule_id: str  # its rule in the matcher
    negated: bool  # the rule is NOT branch (a branch true without any term cannot anchor)
    needs_term: bool
    shown: str


class NearMisses:
    """The near misses of one query (see the module docstring)."""

    def __init__(self, query: Query) -> None:
        self._groups: list[list[_Branch]] = []
        rules: list[tuple[str, Query]] = []
        for g, group in enumerate(and_groups(query)):
            branches = []
            for k, node in enumerate(group.operands):
                needs = not matches_without_terms(node)
                branch = _Branch(f"{g}.{k}", not needs, needs, clip(written(node), SHOWN_MAX))
                rule = node if needs else Not(node)
                rules.append((branch.rule_id, Query(branch.shown, rule)))
                branches.append(branch)
            self._groups.append(branches)
        self._matcher = Matcher.compile(rules) if rules else None

    def failed(self, text: str) -> str | None:
        """The branch `text` misses, written as a query, if it is a near miss; else None.

        Call it for texts the query does not match (a match has no failed branch)."""
        if self._matcher is None:
            return None
        true = {match.rule_id for match in self._matcher.match(text)}
        for group in self._groups:
            failing = [b for b in group if (b.rule_id in true) == b.negated]
            if len(failing) != 1:
                continue
            if any(b.needs_term for b in group if b is not failing[0]):
                return failing[0].shown
        return None


def and_groups(query: Query) -> list[And]:
    """The ANDs whose branches near misses are counted in: the query's top-level AND, or
    each alternative of its top-level OR that is an AND."""
    root = query.root
    if isinstance(root, And):
        return [root]
    if isinstance(root, Or) and not root.name:
        return [alternative for alternative in root.operands if isinstance(alternative, And)]
    return []


def written(node: Node) -> str:
    """`node` as a query: terms as written, a term list as `@name`, every AND and OR in
    parentheses."""
    if isinstance(node, Term):
        return node.text
    if isinstance(node, Not):
        return f"NOT {written(node.operand)}"
    if isinstance(node, Or) and node.name:
        return f"@{node.name}"
    joiner = " AND " if isinstance(node, And) else " OR "
    return f"({joiner.join(written(child) for child in node.operands)})"
