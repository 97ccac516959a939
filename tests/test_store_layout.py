"""The store's modules: each imports on its own (no cycle), and the ledger's states are real."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

import bot.store
from bot.store import Store
from bot.store.flights import COVERAGE_STATES

NOW = datetime(2026, 7, 10, 12, 0, tzinfo=UTC)
MODULES = sorted(
    f"bot.store.{path.stem}"
    for path in Path(bot.store.__file__).parent.glob("*.py")
    if path.stem != "__init__"
)


def test_the_store_has_one_module_per_concern() -> None:
    """The concerns the package docstring maps are the modules there are."""
    assert MODULES == [
        "bot.store.base",
        "bot.store.each",
        "bot.store.flights",
        "bot.store.migrations",
        "bot.store.mutes",
        "bot.store.outbox",
        "bot.store.records",
        "bot.store.retention",
        "bot.store.sources",
        "bot.store.stories",
    ]
    assert all(f"`{name}`" in (bot.store.__doc__ or "") for name in MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_each_store_module_imports_first_in_a_fresh_interpreter(module: str) -> None:
    """No import cycle: any store module can be the first one imported."""
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("status", COVERAGE_STATES)
def test_the_ledger_takes_each_coverage_state(store: Store, status: str) -> None:
    """Every state in COVERAGE_STATES is stored as given."""
    store.record_day("sky", "HLLB", "departure", date(2026, 7, 9), status, NOW)
    assert [e.status for e in store.coverage()] == [status]


def test_the_ledger_refuses_an_unknown_state(store: Store) -> None:
    """A status outside COVERAGE_STATES (it would count as a failed day forever) is refused,
    naming it, and nothing is written."""
    with pytest.raises(ValueError, match=r"'okay'.*not one of ok, empty, failed, rate_limited"):
        store.record_day("sky", "HLLB", "departure", date(2026, 7, 9), "okay", NOW)
    assert store.coverage() == []
