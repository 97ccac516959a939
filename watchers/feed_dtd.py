"""Screening a feed's DOCTYPE entity declarations before feedparser sees them.

feedparser neutralises external and nested entities, but re-inserts "safe" internal ones (a
literal value) and its loose fallback parser expands those without limit: one 100 KB entity
referenced 2,000 times becomes a 200 MB title. Real feeds almost never declare entities, so
the policy is to refuse, not to repair. `screen_entities` raises `EntityError` when the
prolog (everything before the root element, comments included) declares:

- an external entity (SYSTEM or PUBLIC) or a parameter entity (`<!ENTITY % ...>`);
- entities whose expansion, nesting included (billion laughs), times their references in
  the document would exceed `ENTITY_BUDGET` characters (1 MiB);
- an entity that refers to itself, or a declaration it cannot read.

It works on the document as feedparser decodes it (UTF-8), in time linear in its size.
"""

from __future__ import annotations

import re
from collections import Counter

ENTITY_BUDGET = 1024 * 1024
_MAX_NESTING = 16
_PREDEFINED = frozenset({"lt", "gt", "amp", "quot", "apos"})
_ROOT = re.compile(rb"<\w")  # the first element, as feedparser finds it
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
# Inside a DOCTYPE: quoted strings, comments, the subset's brackets and everything else.
_DOCTYPE_TOKEN = re.compile(
    rb"\"[^\"]*(?:\"|\Z)|'[^']*(?:'|\Z)|<!--.*?(?:-->|\Z)|[\[\]>]|[^\"'\[\]<>]+|<", re.DOTALL
)
_DECL_START = re.compile(rb"<!ENTITY", re.IGNORECASE)
_DECL = re.compile(
    rb"<!ENTITY\s+(?P<pe>%\s+)?(?P<name>[^\s%\"'<>]+)\s+"
    rb"(?:\"(?P<dq>[^\"]*)\"|'(?P<sq>[^']*)'|(?P<ext>(?:SYSTEM|PUBLIC)\b[^<>]*))\s*>",
    re.IGNORECASE,
)
# A reference the loose parser might expand (a trailing ";" is optional in SGML).
_REF = re.compile(rb"&([A-Za-z_:][\w.:-]*)")


class EntityError(ValueError):
    """The feed declares XML entities that are unsafe to expand."""


def screen_entities(document: bytes) -> None:
    """Raise EntityError if the prolog's entity declarations are unsafe (see module doc)."""
    end = _prolog_end(document)
    prolog = document[:end]
    if _DECL_START.search(prolog) is None:
        return
    values = _declarations(prolog)
    references = Counter(m.group(1) for m in _REF.finditer(document, end))
    sizes: dict[bytes, int] = {}
    total = 0
    for name, count in references.items():
        if name in values:
            total += count * _expanded_size(name, values, sizes, ())
            if total > ENTITY_BUDGET:
                raise EntityError(
                    f"feed declares XML entities that would expand to more than "
                    f"{ENTITY_BUDGET // (1024 * 1024)} MiB"
                )


def _prolog_end(document: bytes) -> int:
    """Offset of the end of the prolog: after the DOCTYPE or at the first element."""
    root = _ROOT.search(document)
    root_at = root.start() + 1 if root else len(document)
    doctype = _DOCTYPE.search(document, 0, root_at)
    if doctype is None:
        return root_at
    depth = 0
    for token in _DOCTYPE_TOKEN.finditer(document, doctype.end()):
        text = token.group()
        if text == b"[":
            depth += 1
        elif text == b"]":
            depth = max(depth - 1, 0)
        elif text == b">" and depth == 0:
            return max(token.end(), root_at)
    return len(document)  # an unterminated DOCTYPE: screen everything


def _declarations(prolog: bytes) -> dict[bytes, bytes]:
    """Internal general entities by name; raise EntityError for anything else."""
    values: dict[bytes, bytes] = {}
    for start in _DECL_START.finditer(prolog):
        decl = _DECL.match(prolog, start.start())
        if decl is None:
            raise EntityError("feed has an XML entity declaration that cannot be read")
        name = decl.group("name")
        if decl.group("pe") is not None:
            raise EntityError(f"feed declares a parameter entity {_show(name)}")
        if decl.group("ext") is not None:
            raise EntityError(f"feed declares an external XML entity {_show(name)}")
        value = decl.group("dq") if decl.group("dq") is not None else decl.group("sq")
        values.setdefault(name, value or b"")
    return values


def _expanded_size(
    name: bytes, values: dict[bytes, bytes], sizes: dict[bytes, int], path: tuple[bytes, ...]
) -> int:
    """Characters `&name;` expands to, nested references included (memoised)."""
    if name in sizes:
        return sizes[name]
    if name in path:
        raise EntityError(f"feed declares a recursive XML entity {_show(name)}")
    if len(path) > _MAX_NESTING:
        raise EntityError("feed declares XML entities nested too deeply")
    value = values[name]
    size = len(value)
    for ref in _REF.finditer(value):
        inner = ref.group(1)
        if inner in values and inner not in _PREDEFINED:
            size += _expanded_size(inner, values, sizes, (*path, name))
            if size > ENTITY_BUDGET:
                break
    sizes[name] = size
    return size


def _show(name: bytes) -> str:
    """An entity name for an error message."""
    return repr(name[:40].decode("utf-8", "replace"))
