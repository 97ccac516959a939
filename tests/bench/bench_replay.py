"""Publication to fetch: fixed against adaptive polling, replayed on a fake clock.

    python -m tests.bench replay [--runs 3]

Publication timestamps (tests/bench/replay_model.py: a documented synthetic model of 60 feeds
plus two pathological ones, and the real feeds' dates in tests/data/publications/) are
replayed through fixed polling and through the real adaptive scheduler
(`watchers.adaptive.Scheduler`) by the event-driven simulator of tests/bench/replay_sim.py:
7 days of warm-up (the scheduler learns; nothing measured), then 14 days measured. Both
policies replay the same publications with the same seeds; each run draws a new synthetic
model and new jitter (seed = run number).

Detection delay: from an item's publication to the first poll at or after it. Goals (issue 14):
the same requests as fixed polling (±2 %), median delay ≤ 0.55 × and p90 ≤ 0.85 × fixed
polling's, and no feed's worst delay above its `max_every` plus the jitter (×1.1).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from tests.bench.replay_model import DAY, Feed, max_every, min_every, real_feeds, synthetic_feeds
from tests.bench.replay_sim import Fixed, percentile, simulate
from tests.bench.report import Row, median, spread, table
from watchers.adaptive import Polled, Scheduler
from watchers.schedule import SUCCESS_JITTER

START = datetime(2026, 1, 5, tzinfo=UTC).timestamp()  # a Monday
WARMUP_DAYS, MEASURED_DAYS = 7, 14
BUDGET_TOLERANCE = 0.02
MEDIAN_GOAL, P90_GOAL = 0.55, 0.85


class Adaptive:
    """The real scheduler, told what each poll found, asked when to poll next."""

    def __init__(self, feeds: Sequence[Feed]) -> None:
        self.scheduler = Scheduler(
            [Polled(f.id, f.every, min_every(f.every), max_every(f.every)) for f in feeds]
        )

    def interval(
        self, feed: Feed, at: float, found: Sequence[float | None], *, first: bool
    ) -> float:
        self.scheduler.observe(feed.id, at, found, seed=first)
        return self.scheduler.interval(feed.id, at)


@dataclass(frozen=True, slots=True)
class Figures:
    """One run's comparison of the two policies on one set of feeds."""

    items: int
    requests: tuple[int, int]  # fixed, adaptive
    medians: tuple[float, float]  # seconds
    p90s: tuple[float, float]
    means: tuple[float, float]
    worst: float  # the largest worst-delay / bound over the feeds (adaptive)
    over: tuple[str, ...]  # feeds whose worst delay exceeds the bound
    sooner: tuple[int, int]  # feeds whose median delay is shorter adaptive, feeds with items

    @property
    def request_ratio(self) -> float:
        return self.requests[1] / self.requests[0]

    @property
    def median_ratio(self) -> float:
        return self.medians[1] / self.medians[0]

    @property
    def p90_ratio(self) -> float:
        return self.p90s[1] / self.p90s[0]


def bound(feed: Feed) -> float:
    """The longest a feed's item may wait: its `max_every` with the jitter on top."""
    return max_every(feed.every) * (1 + SUCCESS_JITTER)


def compare(feeds: Sequence[Feed], seed: int) -> Figures:
    """Replay `feeds` through both policies with the same seed."""
    measure_from = START + WARMUP_DAYS * DAY
    end = measure_from + MEASURED_DAYS * DAY
    runs = [
        simulate(feeds, policy, start=START, measure_from=measure_from, end=end, seed=seed)
        for policy in (Fixed(), Adaptive(feeds))
    ]
    fixed, adaptive = (outcome.all_delays() for outcome in runs)
    worst = {f.id: max(runs[1].delays[f.id], default=0.0) / bound(f) for f in feeds}
    pairs = [(runs[0].delays[f.id], runs[1].delays[f.id]) for f in feeds if runs[0].delays[f.id]]
    sooner = sum(1 for a, b in pairs if percentile(b, 0.5) < percentile(a, 0.5))
    return Figures(
        items=len(fixed),
        requests=(runs[0].requests, runs[1].requests),
        medians=(percentile(fixed, 0.5), percentile(adaptive, 0.5)),
        p90s=(percentile(fixed, 0.9), percentile(adaptive, 0.9)),
        means=(statistics.fmean(fixed), statistics.fmean(adaptive)),
        worst=max(worst.values()),
        over=tuple(ident for ident, ratio in worst.items() if ratio > 1),
        sooner=(sooner, len(pairs)),
    )


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.2f} min"


def rows_for(name: str, figures: Sequence[Figures]) -> list[Row]:
    """The table rows of one set of feeds: medians over the runs, min-max in brackets."""

    def ratio(values: list[float]) -> str:
        return f"{median(values):.3f} ({spread(values, '{:.3f}')})"

    requests = [f.request_ratio for f in figures]
    medians = [f.median_ratio for f in figures]
    p90s = [f.p90_ratio for f in figures]
    means = [f.means[1] / f.means[0] for f in figures]
    over = sorted({ident for f in figures for ident in f.over})
    return [
        Row(f"{name}: items measured", f"{median([f.items for f in figures]):.0f}"),
        Row(
            f"{name}: requests fixed / adaptive",
            f"{median([f.requests[0] for f in figures]):.0f} / "
            f"{median([f.requests[1] for f in figures]):.0f}",
        ),
        Row(
            f"{name}: requests adaptive ÷ fixed",
            ratio(requests),
            f"{1 - BUDGET_TOLERANCE:.2f}-{1 + BUDGET_TOLERANCE:.2f}",
            all(abs(r - 1) <= BUDGET_TOLERANCE for r in requests),
        ),
        Row(
            f"{name}: median delay fixed / adaptive",
            f"{minutes(median([f.medians[0] for f in figures]))} / "
            f"{minutes(median([f.medians[1] for f in figures]))}",
        ),
        Row(
            f"{name}: median delay adaptive ÷ fixed",
            ratio(medians),
            f"≤ {MEDIAN_GOAL}",
            all(r <= MEDIAN_GOAL for r in medians),
        ),
        Row(
            f"{name}: p90 delay fixed / adaptive",
            f"{minutes(median([f.p90s[0] for f in figures]))} / "
            f"{minutes(median([f.p90s[1] for f in figures]))}",
        ),
        Row(
            f"{name}: p90 delay adaptive ÷ fixed",
            ratio(p90s),
            f"≤ {P90_GOAL}",
            all(r <= P90_GOAL for r in p90s),
        ),
        Row(f"{name}: mean delay adaptive ÷ fixed", ratio(means)),
        Row(
            f"{name}: feeds with a shorter median delay",
            " / ".join(f"{f.sooner[0]} of {f.sooner[1]}" for f in figures),
        ),
        Row(
            f"{name}: worst delay ÷ (max_every × 1.1)",
            f"{max(f.worst for f in figures):.2f}" + (f" ({', '.join(over)})" if over else ""),
            "≤ 1 for every feed",
            not over,
        ),
    ]


def run(runs: int = 3) -> list[Row]:
    """Run the replay benchmark, print its table, return its rows."""
    started = time.perf_counter()
    days = WARMUP_DAYS + MEASURED_DAYS
    real = real_feeds(START, days)
    synthetic: list[Figures] = []
    replayed: list[Figures] = []
    for seed in range(1, runs + 1):
        synthetic.append(compare(synthetic_feeds(seed, START, days), seed))
        replayed.append(compare(real, seed))
        print(
            f"  run {seed}/{runs}: synthetic median × {synthetic[-1].median_ratio:.3f}, "
            f"real median × {replayed[-1].median_ratio:.3f} "
            f"({time.perf_counter() - started:.1f} s)",
            flush=True,
        )
    elapsed = time.perf_counter() - started
    notes = [
        f"{WARMUP_DAYS} days of warm-up (not measured), then {MEASURED_DAYS} days measured; "
        f"fake clock, event-driven; {runs} runs (seeds 1-{runs}), median (min-max)",
        "synthetic: 60 feeds at 0.3-300 items a day (log-uniform), day/night profile, "
        "4 bursts ×10 a week, plus a feed silent 20 days then 50 items, and an undated one",
        f"real: {len(real)} real feeds' publication dates (tests/data/publications/), "
        "tiled over the period; figures weigh each item alike, so the busiest feeds lead",
        "every 10m/15m/20m; adaptive bounds min_every = every/5 (≥ 1 min), "
        "max_every = 4 × every; ±10 % jitter on both",
    ]
    rows = [
        *rows_for("synthetic", synthetic),
        *rows_for("real", replayed),
        Row("time taken", f"{elapsed:.1f} s", "< 120 s", elapsed < 120),
    ]
    print(table("Publication to fetch (python -m tests.bench replay)", notes, rows), flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench replay")
    parser.add_argument("--runs", type=int, default=3)
    run(parser.parse_args(argv).runs)


if __name__ == "__main__":
    main()
