"""Airport reference data: code resolution, nearest airport, distances."""

from __future__ import annotations

import pytest

from watchers.airports import airport, distance_km, nearest, resolve


def test_resolve_iata_gives_the_icao_airport() -> None:
    """BEN resolves to Benghazi Benina, HLLB."""
    found = resolve("BEN")
    assert found is not None
    assert (found.icao, found.iata, found.city, found.country) == ("HLLB", "BEN", "Benghazi", "LY")


def test_resolve_is_case_insensitive_for_icao_and_iata() -> None:
    """Lower-case ICAO and IATA codes (with stray spaces) resolve too."""
    minsk = resolve("umms")
    assert minsk is not None
    assert minsk.iata == "MSQ"
    assert resolve(" msq ") == minsk


@pytest.mark.parametrize("code", ["ZZZZ", "QQQ", "", "MINSK", "B", "12"])
def test_resolve_unknown_codes_give_none(code: str) -> None:
    """Unknown or malformed codes resolve to None."""
    assert resolve(code) is None


def test_airport_by_icao() -> None:
    """airport() looks up ICAO codes only."""
    benina = airport("hllb")
    assert benina is not None
    assert benina.name == "Benina International Airport"
    assert airport("BEN") is None


def test_nearest_near_benina_is_hllb() -> None:
    """A point a few km from Benina finds HLLB."""
    found = nearest(32.15, 20.30, 30.0)
    assert found is not None
    assert found.icao == "HLLB"


def test_nearest_outside_the_radius_is_none() -> None:
    """Over the open Mediterranean nothing is within 30 km."""
    assert nearest(35.0, 18.0, 30.0) is None


def test_nearest_skips_airports_without_iata() -> None:
    """Qaryat Al Karmal (HL64, no IATA code) is never the answer, even when standing on it."""
    strip = airport("HL64")
    assert strip is not None
    assert strip.iata == ""
    assert nearest(strip.lat, strip.lon, 5.0) is None
    found = nearest(strip.lat, strip.lon, 40.0)
    assert found is not None
    assert found.icao == "HLLB"


def test_distance_benghazi_minsk() -> None:
    """The great circle BEN–MSQ is about 2,500 km, and a point is 0 km from itself."""
    ben, msq = resolve("BEN"), resolve("MSQ")
    assert ben is not None
    assert msq is not None
    assert distance_km(ben.lat, ben.lon, msq.lat, msq.lon) == pytest.approx(2500, abs=10)
    assert distance_km(ben.lat, ben.lon, ben.lat, ben.lon) == 0.0
