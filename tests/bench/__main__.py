"""Every benchmark, or the ones named: `python -m tests.bench [poll rules dispatch routes
test_rule stories memory latency replay]`.

Each prints its own table (figures are medians of several runs, with the target beside
them), then a summary of all of them. `--runs N` overrides each benchmark's number of runs.
The exit status is 1 when a target was missed. None of this runs under pytest.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from tests.bench import (
    bench_dispatch,
    bench_latency,
    bench_memory,
    bench_poll,
    bench_replay,
    bench_routes,
    bench_rules,
    bench_stories,
    bench_test_rule,
)
from tests.bench.report import Row, all_met

Bench = Callable[[int | None], list[Row]]

BENCHMARKS: dict[str, tuple[str, Bench]] = {
    "poll": ("poll cycle", lambda runs: bench_poll.run(runs or 5)),
    "rules": ("rule engine", lambda runs: bench_rules.run(runs or 5)),
    "dispatch": ("dispatcher", lambda runs: bench_dispatch.run(runs or 5)),
    "routes": ("route counting", lambda runs: bench_routes.run(runs or 5)),
    "test_rule": ("test-rule", lambda runs: bench_test_rule.run(runs or 3)),
    "stories": ("story grouping", lambda runs: bench_stories.run(runs or 3)),
    "memory": ("memory", lambda runs: bench_memory.run()),
    "latency": ("fetch to channel", lambda runs: bench_latency.run(runs or 3)),
    "replay": ("publication to fetch", lambda runs: bench_replay.run(runs or 3)),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help=", ".join(BENCHMARKS))
    parser.add_argument("--runs", type=int, default=None, help="runs per benchmark")
    options = parser.parse_args(argv)
    unknown = [name for name in options.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    names = options.names or list(BENCHMARKS)
    started = time.perf_counter()
    results: list[tuple[str, Row]] = []
    for name in names:
        title, bench = BENCHMARKS[name]
        results += [(title, row) for row in bench(options.runs)]
    shown = [(title, row) for title, row in results if row.target]
    width = [max(len(t) for t, _ in shown), max(len(r.measure) for _, r in shown)]
    figure = max(len(r.figure) for _, r in shown)
    print(f"Summary ({time.perf_counter() - started:.0f} s)")
    for title, row in shown:
        print(
            f"  {title:<{width[0]}}  {row.measure:<{width[1]}}  {row.figure:>{figure}}  "
            f"{row.target}  {row.mark}"
        )
    missed = not all_met([row for _, row in results])
    if missed:
        print("some targets were missed (✗)")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
