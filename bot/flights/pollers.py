"""The flight path: poll OpenSky and ADS-B sources, store flights, evaluate route rules.

Each poller records its outcome on its source (health, credits, the coverage ledger) and
never raises for a source's fault. `RouteEvaluator.evaluate` reads counts from SQLite, so
route state survives restarts, and records each rule's state and its alert together. A rule
that keeps firing has its alert re-rendered and its message edited when what it shows changes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta

import httpx

from bot.aircraft import AircraftDatabase
from bot.config.types import AdsbSource, Channel, OpenSkySource, RouteRule
from bot.flights.charted import chart_alert, refit
from bot.flights.plan import (
    BackfillTracker,
    Coverage,
    DayQuery,
    coverage_of,
    due_queries,
    history,
    rule_days,
    watched_airports,
)
from bot.flights.routes import decide, render_flight, render_route, window_text
from bot.store import Store
from bot.store.records import EachState, NewAlert, NewFlight, PollOutcome
from bot.timeutil import ago
from bot.words import plural
from watchers.adsb import AdsbClient, RouteHint
from watchers.clock import Clock
from watchers.errors import RateLimited, WatcherError
from watchers.flights import Flight
from watchers.http import Validators
from watchers.legs import build_legs
from watchers.opensky import CREDITS_PER_DAY_QUERY, OpenSkyClient
from watchers.opensky_auth import OpenSkyCredentials
from watchers.pacing import Pacing
from watchers.schedule import capped_retry_after

log = logging.getLogger(__name__)

_NO_VALIDATORS = Validators()

FAILURES_PER_POLL = 3
BACKFILL_DAYS = 3  # a poll that starts with this many days missing is a backfill: it logs
LOG_EVERY_DAYS = 10  # progress every this many days fetched, and when it ends
SIGHTING_MEMORY = timedelta(hours=24)
LEG_GAP = timedelta(minutes=45)
# `each` rules: a flight whose row changes (a merge) this long after it departed no longer
# alerts; the clock's margin on "changed since the last evaluation"; the span of the chart.
EACH_LATE = timedelta(days=7)
EACH_MARGIN = timedelta(minutes=10)
EACH_CHART = 90 * 86400.0


class OpenSkyPoller:
    """Fetches the days an OpenSky source lacks, one UTC day and airport per call."""

    def __init__(
        self,
        store: Store,
        client: httpx.AsyncClient,
        source: OpenSkySource,
        *,
        credentials: OpenSkyCredentials | None,
        clock: Clock,
        aircraft: AircraftDatabase | None = None,
    ) -> None:
        self.store = store
        self.source = source
        self.clock = clock
        # The aircraft database fills registration, type… (OpenSky's lists carry none).
        self.aircraft = AircraftDatabase.empty() if aircraft is None else aircraft
        self.api = OpenSkyClient(
            client,
            source.id,
            source.api_url,
            credentials=credentials,
            auth_url=source.auth_url,
            clock=clock,
        )
        # The current poll's backfill: set at its start.
        self.backfill = BackfillTracker(source, (), clock())
        self.backfilling = False
        self.spent_before = 0

    async def poll(self) -> PollOutcome:
        """Fetch every due day until done, rate-limited, or failing repeatedly; log the
        progress of a backfill."""
        source, now = self.source, self.clock()
        oldest = history(now, source.history_days)[-1]
        ledger = self.store.coverage([source.id], since=oldest)
        queries = due_queries(source, ledger, now)
        self.backfill = BackfillTracker(source, ledger, now)
        self.backfilling = self.backfill.state().missing >= BACKFILL_DAYS
        self.spent_before = self.store.credits_spent(source.id)
        logged = self.backfill.state().fetched
        new_flights = spent = 0
        credits_left: int | None = None
        errors: list[WatcherError] = []
        retry_after: float | None = None
        last_day: date | None = None
        for query in queries:
            if len(errors) >= FAILURES_PER_POLL:
                break
            try:
                result = await self.api.day(query.direction, query.airport, query.day)
            except RateLimited as exc:
                self._record(query, "rate_limited", error=str(exc))
                self.backfill.mark(query, fetched=False)
                errors.append(exc)
                retry_after = exc.retry_after
                break
            except WatcherError as exc:
                self._record(query, "failed", error=str(exc))
                self.backfill.mark(query, fetched=False)
                errors.append(exc)
                continue
            spent += CREDITS_PER_DAY_QUERY
            credits_left = result.credits_left if result.credits_left is not None else credits_left
            flights = self.aircraft.fill(result.flights)
            new_flights += self.store.record_flights(flights, self.clock())
            status = "ok" if result.flights else "empty"
            self._record(query, status, flights=len(result.flights))
            self.backfill.mark(query, fetched=True)
            last_day = max(last_day or query.day, query.day)
            fetched = self.backfill.state().fetched
            if self.backfilling and fetched - logged >= LOG_EVERY_DAYS:
                logged = fetched
                self._progress(spent, None)
        return self._finish(errors, retry_after, new_flights, credits_left, spent, last_day)

    def _record(
        self, query: DayQuery, status: str, *, flights: int = 0, error: str | None = None
    ) -> None:
        self.store.record_day(
            self.source.id,
            query.airport,
            query.direction,
            query.day,
            status,
            self.clock(),
            flights=flights,
            error=error,
        )

    def _finish(
        self,
        errors: list[WatcherError],
        retry_after: float | None,
        new_flights: int,
        credits_left: int | None,
        spent: int,
        last_day: date | None,
    ) -> PollOutcome:
        source, now = self.source, self.clock()
        failures = 0
        error = None
        if errors:
            error = str(errors[-1])
            failures = self.store.record_failure(source.id, source.kind, now, error)
            log.warning("source %s: %s", source.id, errors[-1].detail)
        else:
            self.store.record_success(source.id, source.kind, now, validators=_NO_VALIDATORS)
        # Flights stored before a rate limit count too: the source line matches the store.
        self.store.update_flight_source(
            source.id,
            credits_left=credits_left,
            credits_spent=spent,
            last_day=last_day,
            new_flights=new_flights,
        )
        if new_flights:
            log.info("source %s: %s", source.id, plural(new_flights, "new flight"))
        self._progress(spent, retry_after, final=True)
        return PollOutcome(
            error=error,
            retry_after=retry_after,
            failures=failures,
            flights=new_flights,
        )

    def _progress(self, spent: int, retry_after: float | None, *, final: bool = False) -> None:
        """Store the backfill's progress (and the next attempt after a rate limit); log it
        while backfilling: `source opensky: backfill 12 of 70 days fetched, 58 to go, …`."""
        state = self.backfill.state()
        now = self.clock()
        wait = None if retry_after is None else capped_retry_after(retry_after)
        next_at = None if wait is None else now + timedelta(seconds=wait)
        self.store.record_progress(
            self.source.id, fetched=state.fetched, total=state.total, next_attempt_at=next_at
        )
        if not self.backfilling:
            return
        total_spent = self.spent_before + spent
        if final and state.complete:
            text = f"backfill complete, {state.describe()}"
        else:
            text = f"backfill {state.describe()}"
        text += f", {plural(total_spent, 'credit')} spent"
        if wait is not None:
            text += f"; rate limited, next attempt in ~{ago(wait)}"
        log.info("source %s: %s", self.source.id, text)


class AdsbPoller:
    """Polls live sightings of callsigns and hex codes and turns them into flights."""

    def __init__(
        self,
        store: Store,
        client: httpx.AsyncClient,
        source: AdsbSource,
        *,
        clock: Clock,
        min_interval: float = 1.0,
        pacing: Pacing | None = None,
        aircraft: AircraftDatabase | None = None,
    ) -> None:
        self.store = store
        self.source = source
        self.clock = clock
        # The aircraft database fills what the API's own database did not say.
        self.aircraft = AircraftDatabase.empty() if aircraft is None else aircraft
        self.api = AdsbClient(
            client,
            source.id,
            source.api_url,
            clock=clock,
            min_interval=min_interval,
            pacing=pacing,
        )
        self.hints: dict[str, RouteHint] = {}
        self.hints_day: date | None = None

    async def poll(self) -> PollOutcome:
        """One round of requests; sightings are stored, then legs rebuilt and stored."""
        source = self.source
        try:
            sightings = []
            for callsign in source.callsigns:
                sightings += await self.api.callsign(callsign)
            for hex_code in source.hexes:
                sightings += await self.api.hex(hex_code)
        except WatcherError as exc:
            failures = self.store.record_failure(source.id, source.kind, self.clock(), str(exc))
            log.warning("source %s: %s", source.id, exc.detail)
            retry = exc.retry_after if isinstance(exc, RateLimited) else None
            return PollOutcome(error=str(exc), retry_after=retry, failures=failures)
        self.store.record_sightings(sightings)
        flights = await self._legs({s.icao24 for s in sightings})
        new_flights = self.store.record_flights(self.aircraft.fill(flights), self.clock())
        self.store.record_success(
            source.id, source.kind, self.clock(), validators=_NO_VALIDATORS, new_flights=new_flights
        )
        return PollOutcome(flights=new_flights)

    async def _legs(self, aircraft: set[str]) -> list[Flight]:
        now = self.clock()
        since = now - SIGHTING_MEMORY
        recent = self.store.sightings_since(aircraft, since)
        if self.hints_day != now.date():
            self.hints, self.hints_day = {}, now.date()
        wanted: dict[str, tuple[str, float, float]] = {}
        for s in recent:
            if (
                s.callsign
                and s.callsign not in self.hints
                and s.lat is not None
                and s.lon is not None
            ):
                wanted[s.callsign] = (s.callsign, s.lat, s.lon)
        if wanted:
            asked = list(wanted.values())[:100]
            try:
                found = await self.api.routes(asked)
            except WatcherError as exc:
                log.info(
                    "source %s: route lookup failed, using positions: %s",
                    self.source.id,
                    exc.detail,
                )
            else:
                # Unknown callsigns are remembered too, so they are not asked again today.
                for callsign, _, _ in asked:
                    self.hints[callsign] = found.get(callsign, RouteHint(callsign, (), False))
        legs = build_legs(recent, routes=self.hints, gap=LEG_GAP, source=self.source.id)
        # A leg starting right at the edge of memory may be cut short: its start is unknown.
        return [leg for leg in legs if leg.departure >= since + LEG_GAP]


class RouteEvaluator:
    """Evaluates every route rule against the stored flights and coverage."""

    def __init__(
        self,
        store: Store,
        rules: Sequence[RouteRule],
        opensky: Sequence[OpenSkySource],
        channels: Mapping[str, Channel],
        *,
        clock: Clock,
    ) -> None:
        self.store = store
        self.rules = rules
        self.opensky = opensky
        self.channels = channels
        self.clock = clock
        # What each firing rule's alert was last rendered from (see `_refresh`).
        self.rendered: dict[str, tuple[object, ...]] = {}
        self.tidied = False  # the `each` state of rules that are no longer `each` rules

    def evaluate(self) -> int:
        """Evaluate each rule once; returns the number of alerts enqueued.

        Counts come from SQLite (flights and ledger rows counted in their indexes); the
        flights themselves are read only for an alert: when a rule fires, and when a rule
        still firing has a different count, previous count, coverage or flights than its
        alert was rendered with (the alert is then edited in place). An `each` rule reads
        only the flights new to it (`_evaluate_each`)."""
        now = self.clock()
        if not self.tidied:
            each = {rule.id for rule in self.rules if rule.each}
            self.store.forget_each(self.store.each_rules() - each)
            self.tidied = True
        return sum(
            self._evaluate_each(rule, now) if rule.each else self._evaluate(rule, now)
            for rule in self.rules
        )

    def _evaluate_each(self, rule: RouteRule, now: datetime) -> int:
        """One alert for each flight new to an `each` rule since its last evaluation.

        The first evaluation records where the flights table stands and alerts nothing;
        a flight that departed before it never alerts (a backfill of history is silent).
        After it: every flights row added since the last evaluation, and every row changed
        since then that departed in the last `EACH_LATE` (a merge that completed its route,
        e.g. a live flight's arrival), when it matches the rule. The alert's (rule, item)
        match and dedup key name the row, so a flight merged from a second source is never a
        second alert."""
        state = self.store.each_state(rule.id)
        newest = self.store.newest_flight_id()
        if state is None:
            start = EachState(since=now, last_id=newest, evaluated_at=now)
            self.store.record_each(
                rule.id, now, state=start, alerts=(), summary=lambda n: _each_summary(rule, n)
            )
            log.info("route rule %s: alerts each new flight from now on", rule.id)
            return 0
        flights = self.store.flights_for_each(
            origins=rule.origins,
            destinations=rule.destinations,
            operator=rule.operator,
            icao24=rule.icao24,
            state=state,
            upto_id=newest,
            changed_since=state.evaluated_at - EACH_MARGIN,
            departed_since=now - EACH_LATE,
        )
        # A flight alerted before (changed since by a merge) is not drawn or rendered again.
        matched = self.store.matched_pairs((rule.id, _each_item(rule, f)) for f in flights)
        alerts = [
            self._each_alert(rule, flight, now)
            for flight in flights
            if (rule.id, _each_item(rule, flight)) not in matched
        ]
        added = self.store.record_each(
            rule.id,
            now,
            state=replace(state, last_id=newest, evaluated_at=now),
            alerts=alerts,
            summary=lambda n: _each_summary(rule, n),
        )
        if added:
            log.info("route rule %s: %s alerted", rule.id, plural(added, "new flight"))
        return added

    def _each_alert(
        self, rule: RouteRule, new: NewFlight, now: datetime
    ) -> tuple[NewAlert, tuple[NewAlert, ...]]:
        """An `each` rule's alert for one flight (with its chart, for `chart = true`), and
        the rows to queue after it."""
        rendered = render_flight(rule, new)
        channel = self.channels[rule.channel]
        alert = NewAlert(
            dedup_key=f"route-each|{rule.id}|{new.id}",
            rule_ids=(rule.id,),
            source_id="routes",
            item_key=_each_item(rule, new),
            channel=channel.id,
            chat_id=channel.chat_id,
            html=rendered.html,
            plain=rendered.plain,
            link="",
        )
        if rule.chart:  # the route's chart over EACH_CHART (validation: from and to are set)
            return chart_alert(self.store, replace(rule, window=EACH_CHART), alert, now)
        return alert, ()

    def _coverage(self, rule: RouteRule, now: datetime) -> Coverage:
        watched = watched_airports(rule, self.opensky)
        days = rule_days(rule, now)
        counts = self.store.coverage_days(watched, days[0], days[-1]) if days and watched else {}
        failed = any(bad for _, bad in counts.values())
        retry = self.store.unretried_days(watched, days[0], days[-1]) if failed else set()
        return coverage_of(days, watched, counts, retry)

    def _evaluate(self, rule: RouteRule, now: datetime) -> int:
        coverage = self._coverage(rule, now)
        window = timedelta(seconds=rule.window)
        between = (rule.origins, rule.destinations)
        state = self.store.route_state(rule.id)
        # A firing rule also needs when its flights last changed (its alert may be edited).
        changed = ""
        if state.firing:
            count, changed = self.store.route_window(*between, now - window, now, rule.operator)
        else:
            count = self.store.count_flights_between(*between, now - window, now, rule.operator)
        previous = None
        if rule.spike is not None:
            previous = self.store.count_flights_between(
                *between, now - 2 * window, now - window, rule.operator
            )
        summary = _summary(rule, count, previous, coverage.describe())
        if not coverage.ready:
            self.store.record_route(
                rule.id,
                now,
                firing=state.firing,
                count=count,
                previous=previous,
                complete=False,
                summary=f"{summary} · not evaluated until every day was fetched once",
            )
            return 0
        decision = decide(rule, count, previous, state.firing)
        alert = None
        follow: tuple[NewAlert, ...] = ()
        if decision.fire:
            episode = state.episodes + 1
            flights = self.store.flights_between(*between, now - window, now, rule.operator)
            rendered = render_route(rule, flights, previous, coverage)
            _, changed = self.store.route_window(*between, now - window, now, rule.operator)
            self.rendered[rule.id] = (rule, count, changed, previous, coverage.describe())
            channel = self.channels[rule.channel]
            alert = NewAlert(
                dedup_key=f"route|{rule.id}|{episode}",
                rule_ids=(rule.id,),
                source_id="routes",
                item_key=f"{rule.id}#{episode}",
                channel=channel.id,
                chat_id=channel.chat_id,
                html=rendered.html,
                plain=rendered.plain,
                link="",
            )
            if rule.chart:  # a photo of the route's chart (`bot.flights.charted`)
                alert, follow = chart_alert(self.store, rule, alert, now)
            log.info("route rule %s fired: %s", rule.id, summary)
        elif state.firing and not decision.firing:
            self.rendered.pop(rule.id, None)
            log.info("route rule %s re-armed: %s", rule.id, summary)
        added = self.store.record_route(
            rule.id,
            now,
            firing=decision.firing,
            count=count,
            previous=previous,
            complete=coverage.complete,
            summary=summary,
            alert=alert,
            follow=follow,
        )
        basis = (rule, count, changed, previous, coverage.describe())
        if decision.firing and not decision.fire and self.rendered.get(rule.id) != basis:
            self.rendered[rule.id] = basis
            self._refresh(rule, state.episodes, previous, coverage, now)
        return added

    def _refresh(
        self, rule: RouteRule, episode: int, previous: int | None, coverage: Coverage, now: datetime
    ) -> None:
        """Render a firing rule's alert again and, if its text changed, store it and queue an
        edit of its message (`Store.update_alert`). Called only when the count, the flights
        (added, dropped or merged), the previous count, the coverage or the rule changed since
        it was last rendered (once per firing rule after a start); an alert held by a mute
        has no outbox row and is left alone."""
        key = f"route|{rule.id}|{episode}"
        row_id = self.store.alert_id(key)
        if row_id is None:
            return
        window = timedelta(seconds=rule.window)
        between = (rule.origins, rule.destinations)
        flights = self.store.flights_between(*between, now - window, now, rule.operator)
        rendered = render_route(rule, flights, previous, coverage)
        rendered = refit(self.store, row_id, key, rendered, now)  # a photo: its caption
        if self.store.update_alert(row_id, rendered.html, rendered.plain, now, source_id="routes"):
            log.info(
                "route rule %s: alert updated: %s in %s, %s",
                rule.id,
                plural(len(flights), "flight"),
                window_text(rule.window),
                coverage.describe(),
            )


def _each_item(rule: RouteRule, new: NewFlight) -> str:
    """The item key of an `each` rule's alert for a flight: its (rule, item) match."""
    return f"{rule.id}#flight-{new.id}"


def _each_summary(rule: RouteRule, alerted: int) -> str:
    """An `each` rule's line in `/status`: "BEN→MSQ operator BRU: each new flight, 3 flights
    alerted"."""
    operator = f" operator {rule.operator}" if rule.operator else ""
    return f"{rule.label}{operator}: each new flight, {plural(alerted, 'flight')} alerted"


def _summary(rule: RouteRule, count: int, previous: int | None, coverage: str) -> str:
    text = f"{rule.label}: {count} in {window_text(rule.window)}"
    if rule.at_least is not None:
        text += f" (alerts at {rule.at_least})"
    else:
        text += f" vs {previous} before (alerts at ×{rule.spike:g}, ≥ {rule.min_count})"
    return f"{text} · {coverage}"
