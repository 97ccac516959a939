"""Validation of the flight parts of `rules.toml`: OpenSky and ADS-B sources, route rules.

A mixin of the configuration validator (`bot.config.validate._Validator`): it reports problems
through the same `problem()` so every error reads `FILE:LINE: where: what`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any

from bot.config.tomllines import Path as KeyPath
from bot.config.types import (
    AdsbSource,
    OpenSkySource,
    RouteRule,
    Rule,
    Source,
)
from watchers.airports import resolve
from watchers.opensky import OPENSKY_API_URL
from watchers.opensky_auth import OPENSKY_AUTH_URL

_CALLSIGN = re.compile(r"^[A-Z0-9]{2,8}$")
_HEX = re.compile(r"^[0-9a-f]{6}$")
_ICAO24 = re.compile(r"^~?[0-9a-f]{6}$")  # a leading ~ marks a non-ICAO address (TIS-B)
_OPERATOR = re.compile(r"^[A-Z]{3}$")
DEFAULT_ADSB_URL = "https://api.adsb.lol"


class FlightChecks:
    """Checks for `kind = "opensky"`, `kind = "adsb"` and `kind = "route"` entries."""

    name: str
    warnings: list[str]

    def problem(self, path: KeyPath, where: str, what: str) -> None:
        raise NotImplementedError

    def duration(self, value: Any, path: KeyPath, where: str) -> float | None:
        raise NotImplementedError

    def url(self, value: Any, path: KeyPath, where: str) -> str | None:
        raise NotImplementedError

    def base_url(self, value: Any, path: KeyPath, where: str) -> str | None:
        raise NotImplementedError

    def warn_short_interval(self, url: str, every: float, path: KeyPath, where: str) -> None:
        raise NotImplementedError

    def strings(self, value: Any, path: KeyPath, where: str) -> list[str] | None:
        """A string or a list of strings, as a list; None (reported) otherwise."""
        if isinstance(value, str):
            return [value]
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return list(value)
        self.problem(path, where, "must be a code or a non-empty list of codes")
        return None

    def airports(self, value: Any, path: KeyPath, where: str) -> tuple[str, ...] | None:
        """IATA or ICAO codes resolved to ICAO; unknown codes are reported."""
        if value is None:
            self.problem(path, where, "is missing")
            return None
        codes = self.strings(value, path, where)
        if codes is None:
            return None
        found, unknown = resolve_airports(codes)
        for code in unknown:  # every unknown code is reported, not just the first
            self.problem(path, where, unknown_airport(code))
        return None if unknown else found

    def days(self, value: Any, path: KeyPath, where: str) -> int | None:
        seconds = self.duration(value, path, where)
        if seconds is None:
            return None
        if seconds < 86400:
            self.problem(path, where, "must be at least one day")
            return None
        return -(-int(seconds) // 86400)

    def opensky_source(
        self, ident: str | None, entry: dict[str, Any], path: KeyPath, where: str
    ) -> OpenSkySource | None:
        airports = self.airports(entry.get("airports"), (*path, "airports"), f"{where}.airports")
        every = self.duration(entry.get("every", "1h"), (*path, "every"), f"{where}.every")
        lookback = self.days(entry.get("lookback", "35d"), (*path, "lookback"), f"{where}.lookback")
        api_url = self.base_url(
            entry.get("api_url", OPENSKY_API_URL), (*path, "api_url"), f"{where}.api_url"
        )
        auth_url = self.url(
            entry.get("auth_url", OPENSKY_AUTH_URL), (*path, "auth_url"), f"{where}.auth_url"
        )
        if (
            ident is None
            or airports is None
            or every is None
            or lookback is None
            or api_url is None
            or auth_url is None
        ):
            return None
        return OpenSkySource(ident, airports, every, lookback, api_url, auth_url, lookback)

    def adsb_source(
        self, ident: str | None, entry: dict[str, Any], path: KeyPath, where: str
    ) -> AdsbSource | None:
        api_url = self.base_url(
            entry.get("api_url", DEFAULT_ADSB_URL), (*path, "api_url"), f"{where}.api_url"
        )
        every = self.duration(entry.get("every", "2m"), (*path, "every"), f"{where}.every")
        callsigns = self.codes(entry, "callsigns", _CALLSIGN, str.upper, path, where)
        hexes = self.codes(entry, "hexes", _HEX, str.lower, path, where)
        if callsigns == () and hexes == ():
            self.problem(path, where, "needs callsigns or hexes to watch")
            return None
        if ident is None or api_url is None or every is None or callsigns is None or hexes is None:
            return None
        self.warn_short_interval(api_url, every, path, where)
        return AdsbSource(ident, api_url, callsigns, hexes, every)

    def codes(
        self,
        entry: dict[str, Any],
        key: str,
        pattern: re.Pattern[str],
        case: Any,
        path: KeyPath,
        where: str,
    ) -> tuple[str, ...] | None:
        value = entry.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem((*path, key), f"{where}.{key}", "must be a list of strings")
            return None
        found = [case(v.strip()) for v in value]
        bad = [v for v in found if not pattern.match(v)]
        if bad:
            example = "BRU8801" if key == "callsigns" else "510123"
            for code in bad:
                self.problem(
                    (*path, key), f"{where}.{key}", f'"{code}" is not valid (like "{example}")'
                )
            return None
        return tuple(dict.fromkeys(found))

    def route_rule(
        self,
        ident: str | None,
        channel: str | None,
        entry: dict[str, Any],
        path: KeyPath,
        where: str,
    ) -> RouteRule | None:
        each = self.flag(entry, "each", path, where)
        icao24 = self.watch_list(entry, each, path, where)
        chart = self.flag(entry, "chart", path, where)
        # An aircraft watch list needs no route: `from` and `to` are then optional.
        watching = bool(each) and "icao24" in entry
        if each and not watching and "from" not in entry and "to" not in entry:
            self.problem(path, where, EACH_NEEDS_ROUTE)
            origins: tuple[str, ...] | None = None
            destinations: tuple[str, ...] | None = None
        else:
            origins = self.endpoint(entry, "from", watching, path, where)
            destinations = self.endpoint(entry, "to", watching, path, where)
        operator = entry.get("operator")
        if operator is not None:
            operator = operator_code(operator)
            if operator is None:
                self.problem((*path, "operator"), f"{where}.operator", BAD_OPERATOR)
                return None
        if each is None:  # reported; the window and thresholds depend on it
            return None
        window = self.window(entry, each, path, where)
        thresholds: tuple[int | None, float | None, int] | None
        if each:
            thresholds = self.each_alone(entry, path, where)
        else:
            thresholds = self.thresholds(entry, path, where)
        if chart and each and () in (origins, destinations):
            self.problem((*path, "chart"), f"{where}.chart", EACH_CHART_NEEDS_ROUTE)
            return None
        if (
            ident is None
            or channel is None
            or icao24 is None
            or chart is None
            or origins is None
            or destinations is None
            or window is None
            or thresholds is None
        ):
            return None
        at_least, spike, min_count = thresholds
        return RouteRule(
            ident,
            origins,
            destinations,
            _rule_label(entry, icao24),
            window,
            channel,
            operator,
            at_least,
            spike,
            min_count,
            each=each,
            icao24=icao24,
            chart=chart,
        )

    def flag(self, entry: dict[str, Any], key: str, path: KeyPath, where: str) -> bool | None:
        """An optional boolean (default false); None (reported) when it is not one."""
        value = entry.get(key, False)
        if not isinstance(value, bool):
            self.problem((*path, key), f"{where}.{key}", "must be true or false")
            return None
        return value

    def watch_list(
        self, entry: dict[str, Any], each: bool | None, path: KeyPath, where: str
    ) -> tuple[str, ...] | None:
        """`icao24`: the aircraft an `each` rule watches (lower-case hex), () when not set."""
        if "icao24" not in entry:
            return ()
        if each is False:
            self.problem((*path, "icao24"), f"{where}.icao24", "goes with each = true only")
            return None
        found = self.codes(entry, "icao24", _ICAO24, str.lower, path, where)
        if found == ():
            self.problem(
                (*path, "icao24"), f"{where}.icao24", 'must list aircraft, like ["510207"]'
            )
            return None
        return found

    def endpoint(
        self, entry: dict[str, Any], key: str, optional: bool, path: KeyPath, where: str
    ) -> tuple[str, ...] | None:
        """`from` or `to` resolved to ICAO codes; () (any airport) when optional and unset."""
        if optional and key not in entry:
            return ()
        return self.airports(entry.get(key), (*path, key), f"{where}.{key}")

    def window(self, entry: dict[str, Any], each: bool, path: KeyPath, where: str) -> float | None:
        """The trailing window in seconds; an `each` rule has none (one day, unused)."""
        if each:
            if "window" in entry:
                self.problem((*path, "window"), f"{where}.window", EACH_NO_WINDOW)
                return None
            return EACH_WINDOW
        if "window" not in entry:
            self.problem(path, where, 'window is missing (e.g. window = "30d")')
            return None
        return self.duration(entry["window"], (*path, "window"), f"{where}.window")

    def each_alone(
        self, entry: dict[str, Any], path: KeyPath, where: str
    ) -> tuple[None, None, int] | None:
        """`each = true` takes no threshold: every threshold key given is reported."""
        given = [key for key in ("at_least", "spike", "min_count") if key in entry]
        for key in given:
            self.problem((*path, key), f"{where}.{key}", EACH_NO_THRESHOLD)
        return None if given else (None, None, 1)

    def thresholds(
        self, entry: dict[str, Any], path: KeyPath, where: str
    ) -> tuple[int | None, float | None, int] | None:
        at_least, spike, min_count = (
            entry.get("at_least"),
            entry.get("spike"),
            entry.get("min_count"),
        )
        if (at_least is None) == (spike is None):
            self.problem(path, where, "set exactly one of at_least, spike or each = true")
            return None
        if at_least is not None and (not _positive_int(at_least)):
            self.problem((*path, "at_least"), f"{where}.at_least", "must be a whole number ≥ 1")
            return None
        if spike is not None and (
            isinstance(spike, bool) or not isinstance(spike, int | float) or spike < 1
        ):
            self.problem((*path, "spike"), f"{where}.spike", "must be a number ≥ 1 (2.0 = doubled)")
            return None
        if min_count is not None:
            if spike is None:
                self.problem((*path, "min_count"), f"{where}.min_count", "goes with spike only")
                return None
            if not _positive_int(min_count):
                self.problem(
                    (*path, "min_count"), f"{where}.min_count", "must be a whole number ≥ 1"
                )
                return None
        return at_least, None if spike is None else float(spike), min_count or 1

    def warn_uncovered_routes(self, sources: Sequence[Source], rules: Sequence[Rule]) -> None:
        """Warn about route rules whose airports no flight source watches."""
        watched = {a for s in sources if isinstance(s, OpenSkySource) for a in s.airports}
        live = any(isinstance(s, AdsbSource) for s in sources)
        for rule in rules:
            if not isinstance(rule, RouteRule):
                continue
            airports = {*rule.origins, *rule.destinations}
            if not airports:  # an aircraft watch list: any flight source may see them
                if not watched and not live:
                    self.warnings.append(
                        f"{self.name}: rules.{rule.id}: no flight source: "
                        "no flight of these aircraft will be seen"
                    )
                continue
            if not watched & airports and not live:
                self.warnings.append(
                    f"{self.name}: rules.{rule.id}: no flight source watches "
                    f"{', '.join((*rule.origins, *rule.destinations))}: its count will stay 0"
                )


def extend_history(sources: Sequence[Source], rules: Sequence[RouteRule]) -> list[Source]:
    """Give each OpenSky source enough history for the route rules on its airports."""
    extended: list[Source] = []
    for source in sources:
        if isinstance(source, OpenSkySource):
            needed = [
                rule.history_days
                for rule in rules
                if set(source.airports) & {*rule.origins, *rule.destinations}
            ]
            days = max([source.lookback_days, *needed])
            source = dataclasses.replace(source, history_days=days)
        extended.append(source)
    return extended


def resolve_airports(codes: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """IATA or ICAO codes resolved to ICAO codes (each once, in order), and the codes that
    are not known (as written): how rules and `vedette route` read airports."""
    found: list[str] = []
    unknown: list[str] = []
    for code in codes:
        airport = resolve(code)
        if airport is None:
            unknown.append(code)
        else:
            found.append(airport.icao)
    return tuple(dict.fromkeys(found)), tuple(unknown)


AIRPORT_HINT = "use an IATA code like BEN or an ICAO code like HLLB"


def unknown_airport(code: str) -> str:
    """What is wrong with a code `resolve_airports` does not know."""
    return f'unknown airport code "{code}" ({AIRPORT_HINT})'


EACH_WINDOW = 86400.0  # an `each` rule's `window`: it has none (the field is unused)
EACH_NEEDS_ROUTE = (
    "each needs from and to, or icao24 = [...] (the aircraft to follow, whatever the route)"
)
EACH_CHART_NEEDS_ROUTE = "needs from and to: the chart is the route's"
EACH_NO_WINDOW = "does not go with each = true (every new flight alerts once: there is no window)"
EACH_NO_THRESHOLD = "does not go with each = true (each alerts every new flight, no threshold)"

BAD_OPERATOR = 'must be a 3-letter ICAO airline designator like "BRU"'


def operator_code(value: Any) -> str | None:
    """An ICAO airline designator (any case) in upper case, or None if `value` is not one."""
    if isinstance(value, str) and _OPERATOR.match(value.upper()):
        return value.upper()
    return None


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _rule_label(entry: dict[str, Any], icao24: Sequence[str]) -> str:
    """How the file named the rule's flights: "BEN→MSQ", "MSQ→any", or "aircraft 510207"."""
    if "from" not in entry and "to" not in entry:
        shown = ", ".join(icao24[:3])
        return f"aircraft {shown}" + (f" +{len(icao24) - 3}" if len(icao24) > 3 else "")
    origin = _label(entry["from"]) if "from" in entry else "any"
    destination = _label(entry["to"]) if "to" in entry else "any"
    return f"{origin}→{destination}"


def _label(value: Any) -> str:
    codes = [value] if isinstance(value, str) else list(value)
    return "/".join(str(code).upper() for code in codes)
