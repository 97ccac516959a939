"""Pure-Python work over many items on two cores: the second half in a forked child.

`vedette test-rule` screens and matches a month of stored items (100,000 for 1,000 feeds),
which is pure Python and so one core's work. `in_halves` runs `work` over the second half
of the items in a child process made with `os.fork` (it shares the parent's memory: nothing
is copied or imported again) while this process does the first half, then joins the two
results, the child's pickled through a pipe. With few items, one CPU, or no `fork` (not
POSIX), `work` runs over everything here. A child that fails (an exception, a kill) costs
only time: this process does its half again, so an error is raised here, as without a child.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

AT_LEAST = 20_000  # items below which a child costs more than it saves


def in_halves(
    work: Callable[[Sequence[T]], list[R]], items: Sequence[T], *, at_least: int = AT_LEAST
) -> list[R]:
    """`work(items)`, computed as `work(first half) + work(second half)`, the second half
    in a forked child when `items` has at least `at_least` items and there are two CPUs.
    `work` must be pure: the child's side effects are lost."""
    if len(items) < max(at_least, 2) or not hasattr(os, "fork") or (os.cpu_count() or 1) < 2:
        return work(items)
    half = len(items) // 2
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the caller's code
        code = 1
        try:
            os.close(reader)
            with os.fdopen(writer, "wb") as out:
                pickle.dump(work(items[half:]), out, protocol=pickle.HIGHEST_PROTOCOL)
            code = 0
        finally:
            os._exit(code)
    os.close(writer)
    try:
        first = work(items[:half])
    finally:
        with os.fdopen(reader, "rb") as pipe:
            data = pipe.read()
        _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) == 0:
        # Our own child's output, written just now: not data from outside.
        second: list[R] = pickle.loads(data)  # noqa: S301
    else:
        second = work(items[half:])
    return first + second
