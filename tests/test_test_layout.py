"""The tests' own layout: test modules share helpers through plain modules, never each other."""

from __future__ import annotations

from pathlib import Path

from tests.imports import imported_modules

TESTS = Path(__file__).resolve().parent


def imported_test_modules(path: Path) -> list[str]:
    """The `tests.test_*` modules that `path` imports, in any form of import."""
    return sorted(
        name
        for name in imported_modules(path, with_names=True)
        if name.startswith(("tests.test_", ".test_"))
    )


def test_no_test_module_imports_another() -> None:
    """No tests/test_*.py imports from another tests.test_* module: what two test modules
    share lives in tests/helpers.py or another plainly named module (tests/process.py …)."""
    files = sorted(TESTS.glob("test_*.py"))
    assert TESTS / "test_test_layout.py" in files
    offenders = {path.name: imported_test_modules(path) for path in files}
    assert {name: found for name, found in offenders.items() if found} == {}


def test_every_form_of_importing_a_test_module_is_seen(tmp_path: Path) -> None:
    """`import tests.test_x`, `from tests.test_x import y`, `from tests import test_x` and
    `from . import test_x` are caught; shared helper modules are not."""
    source = tmp_path / "test_example.py"
    source.write_text(
        "import tests.test_a\n"
        "from tests.test_b import helper\n"
        "from tests import test_c, helpers\n"
        "from . import test_d\n"
        "from tests.helpers import eventually\n"
        "from tests.fakes.feed_server import rss\n",
        encoding="utf-8",
    )
    assert imported_test_modules(source) == [
        ".test_d",
        "tests.test_a",
        "tests.test_b",
        "tests.test_b.helper",
        "tests.test_c",
    ]
