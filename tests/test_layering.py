"""Architecture rules that are easy to break by accident."""

from __future__ import annotations

import ast
from pathlib import Path

WATCHERS = Path(__file__).resolve().parent.parent / "watchers"


def imported_modules(path: Path) -> set[str]:
    """Every module a Python file imports (absolute names; relative ones resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                names.add("." * node.level + (node.module or ""))
            elif node.module:
                names.add(node.module)
    return names


def test_watchers_never_import_bot() -> None:
    """No module under watchers/ imports bot (or reaches it through a relative import)."""
    files = sorted(WATCHERS.glob("**/*.py"))
    assert files, "watchers/ has no Python files"
    offenders = {
        str(path.relative_to(WATCHERS.parent)): sorted(
            name
            for name in imported_modules(path)
            if name == "bot" or name.startswith(("bot.", ".."))
        )
        for path in files
    }
    assert {path: names for path, names in offenders.items() if names} == {}
