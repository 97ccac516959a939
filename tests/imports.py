"""What a Python file imports, read with `ast`, for the tests of the code's layout."""

from __future__ import annotations

import ast
from pathlib import Path


def imported_modules(path: Path, *, with_names: bool = False) -> set[str]:
    """Every module a Python file imports (absolute names; relative ones resolved).

    With `with_names`, `from a import b` also gives `a.b`, since `b` may be a module.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            if module:
                names.add(module)
            if with_names:
                joint = "" if module.endswith(".") else "."
                names.update(f"{module}{joint}{alias.name}" for alias in node.names)
    return names
