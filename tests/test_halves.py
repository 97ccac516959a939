"""bot.halves.in_halves: the same result as one pass, the second half from a forked child."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from bot.halves import in_halves

PARENT = os.getpid()


def squares_and_pids(items: Sequence[int]) -> list[tuple[int, int]]:
    return [(n * n, os.getpid()) for n in items]


def test_few_items_are_worked_here_in_one_pass() -> None:
    calls: list[int] = []

    def work(items: Sequence[int]) -> list[int]:
        calls.append(len(items))
        return [n + 1 for n in items]

    assert in_halves(work, range(10), at_least=11) == list(range(1, 11))
    assert calls == [10]


def test_many_items_give_the_same_result_in_order_half_from_a_child() -> None:
    found = in_halves(squares_and_pids, list(range(1001)), at_least=100)
    assert [square for square, _ in found] == [n * n for n in range(1001)]
    pids = [pid for _, pid in found]
    assert set(pids[:500]) == {PARENT}
    if (os.cpu_count() or 1) >= 2:
        assert PARENT not in set(pids[500:])  # computed by the child
    else:
        assert set(pids[500:]) == {PARENT}  # one CPU: no child


def test_a_child_that_fails_costs_only_time() -> None:
    """Work that raises only in the child: this process does the second half again."""

    def work(items: Sequence[int]) -> list[int]:
        if os.getpid() != PARENT:
            raise RuntimeError("child only")
        return [n * 2 for n in items]

    assert in_halves(work, list(range(100)), at_least=10) == [n * 2 for n in range(100)]


def children() -> set[str]:
    """The pids of this process's children (Linux: /proc), zombies included."""
    return {
        pid
        for task in Path("/proc/self/task").iterdir()
        for pid in (task / "children").read_text().split()
    }


def test_an_error_in_the_work_is_raised_here_and_no_child_is_left() -> None:
    def work(items: Sequence[int]) -> list[int]:
        raise ValueError("bad item")

    before = children()
    with pytest.raises(ValueError, match="bad item"):
        in_halves(work, list(range(100)), at_least=10)
    assert children() <= before
