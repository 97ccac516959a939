"""The optional aircraft database (`[aircraft] database`): icao24 → registration, type, owner.

OpenSky's flight lists carry no aircraft details; a database file the user downloads fills
them by icao24 (DESIGN §6 "Route evidence"). Two formats are read, told apart by their first
line:

- **OpenSky's aircraft database** (`aircraftDatabase.csv`, `aircraft-database-complete-
  YYYY-MM.csv`): comma-separated with a header naming its columns (`icao24`,
  `registration`, `typecode`, `operator`, `owner`, …), fields quoted with `"` (the older
  file) or `'` (the monthly ones); column names are compared case-insensitively.
- **tar1090-db's `aircraft.csv`** (gzip-compressed as `aircraft.csv.gz`, read as it is):
  no header, `icao;reg;type;flags;desc;year;ownop;` separated by semicolons, `\\` escaping;
  the first character of `flags` is 1 for military.

Only what vedette shows is kept, compactly (about 500,000 aircraft): the 24-bit addresses
sorted in an `array`, and each aircraft's fields in one byte string, found by bisection.
The file is read once at start (`read_database`): a missing, unreadable or malformed file is
one warning naming the path and the problem, and an empty database, never a failure.
"""

from __future__ import annotations

import csv
import gzip
import logging
import re
import zlib
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from bot.words import plural
from watchers.flights import Aircraft, Flight, with_aircraft

log = logging.getLogger(__name__)

_GZIP = b"\x1f\x8b"
_HEX = re.compile(r"^[0-9a-fA-F]{6}$")
_SEP = "\x1f"  # between an aircraft's fields in the byte string (never in a CSV field)
MAX_FIELD = 200  # longer names are cut: the database is a lookup, not an archive


class AircraftDatabaseError(Exception):
    """The database file cannot be used; the message names the file and the problem."""


@dataclass(frozen=True, slots=True)
class _Columns:
    """Where an OpenSky file keeps the fields vedette reads (None: no such column)."""

    icao24: int
    registration: int | None
    typecode: int | None
    operator: int | None
    owner: int | None


class AircraftDatabase:
    """icao24 → `Aircraft`, read from a database file (`load_database`); immutable."""

    def __init__(self, keys: array[int], starts: array[int], data: bytes, kind: str) -> None:
        self._keys = keys  # sorted 24-bit addresses
        self._starts = starts  # where each aircraft's fields start in `data` (one more: end)
        self._data = data
        self.kind = kind  # "opensky", "tar1090" or "" (empty)

    @classmethod
    def empty(cls) -> AircraftDatabase:
        """A database that knows no aircraft."""
        return cls(array("I"), array("I", [0]), b"", "")

    def __len__(self) -> int:
        return len(self._keys)

    def get(self, icao24: str) -> Aircraft | None:
        """What the file says of this aircraft (lower- or upper-case hex), or None."""
        if not _HEX.match(icao24):
            return None  # a non-ICAO address ("~…") is in no database
        key = int(icao24, 16)
        at = bisect_left(self._keys, key)
        if at == len(self._keys) or self._keys[at] != key:
            return None
        text = self._data[self._starts[at] : self._starts[at + 1]].decode("utf-8")
        registration, aircraft_type, owner, military = text.split(_SEP)
        return Aircraft(
            registration or None,
            aircraft_type or None,
            owner or None,
            None if not military else military == "1",
        )

    def fill(self, flights: Iterable[Flight]) -> list[Flight]:
        """The flights with their unknown aircraft fields filled from this database."""
        return [with_aircraft(flight, self.get(flight.icao24)) for flight in flights]


def read_database(path: str | None) -> AircraftDatabase:
    """The database at `path`, or an empty one (no path; or one warning logged naming the
    path and the problem)."""
    if not path:
        return AircraftDatabase.empty()
    try:
        database = load_database(path)
    except AircraftDatabaseError as exc:
        log.warning("aircraft database: %s; flights show no aircraft details from it", exc)
        return AircraftDatabase.empty()
    log.info(
        "aircraft database %s: %s (%s format)",
        path,
        plural(len(database), "aircraft", "aircraft"),
        database.kind,
    )
    return database


def load_database(path: str | Path) -> AircraftDatabase:
    """Read an OpenSky or tar1090 aircraft database; `AircraftDatabaseError` when the file
    is missing, unreadable, or neither format (a few bad rows are skipped and noted in the
    log)."""
    name = str(path)
    try:
        with _open_text(Path(path)) as text:
            first = text.readline()
            if _is_tar1090(first):
                kind = "tar1090"
                rows = _tar1090_rows(_chain(first, text))
            else:
                kind = "opensky"
                rows = _opensky_rows(name, first, text)
            database, skipped = _build(rows, kind)
    except FileNotFoundError as exc:
        raise AircraftDatabaseError(f"{name}: not found") from exc
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise AircraftDatabaseError(f"{name}: cannot read: {reason}") from exc
    except csv.Error as exc:
        raise AircraftDatabaseError(f"{name}: not a CSV file: {exc}") from exc
    if not len(database):
        raise AircraftDatabaseError(f"{name}: no aircraft rows ({kind} format)")
    if skipped:
        log.warning(
            "aircraft database %s: skipped %s (no 6-digit hex address, or too few fields)",
            name,
            plural(skipped, "malformed row"),
        )
    return database


def _open_text(path: Path) -> IO[str]:
    """The file as text (UTF-8, undecodable bytes replaced), gunzipped when it is gzip."""
    with path.open("rb") as raw:
        gzipped = raw.read(2) == _GZIP
    if gzipped:
        return gzip.open(path, "rt", encoding="utf-8-sig", errors="replace", newline="")
    return path.open(encoding="utf-8-sig", errors="replace", newline="")


def _chain(first: str, rest: Iterable[str]) -> Iterator[str]:
    yield first
    yield from rest


def _is_tar1090(line: str) -> bool:
    """A tar1090-db row: a 6-digit hex address, then `;`."""
    head, sep, _ = line.partition(";")
    return bool(sep) and bool(_HEX.match(head))


def _tar1090_rows(lines: Iterable[str]) -> Iterator[tuple[str, str, str, str, str] | None]:
    """(icao24, registration, type, owner, military "1"/"0"/"") per row; None: a bad row."""
    reader = csv.reader(lines, delimiter=";", quoting=csv.QUOTE_NONE, escapechar="\\")
    for row in reader:
        if not row or row == [""]:
            continue
        if len(row) < 3 or not _HEX.match(row[0]):
            yield None
            continue
        flags = row[3] if len(row) > 3 else ""
        owner = row[6] if len(row) > 6 else ""
        military = "" if not flags else "1" if flags[0] == "1" else "0"
        yield row[0], row[1], row[2], owner, military


def _opensky_rows(
    name: str, header: str, lines: Iterable[str]
) -> Iterator[tuple[str, str, str, str, str] | None]:
    """(icao24, registration, type, operator or owner, "") per row; None: a bad row."""
    quote = "'" if header.lstrip().startswith("'") else '"'
    columns = _columns(name, next(csv.reader([header], quotechar=quote), []))
    for row in csv.reader(lines, quotechar=quote):
        if not row or row == [""]:
            continue
        if len(row) <= columns.icao24 or not _HEX.match(row[columns.icao24].strip()):
            yield None
            continue
        operator = _cell(row, columns.operator) or _cell(row, columns.owner)
        yield (
            row[columns.icao24].strip(),
            _cell(row, columns.registration),
            _cell(row, columns.typecode),
            operator,
            "",
        )


def _columns(name: str, header: list[str]) -> _Columns:
    names = [column.strip().strip("'\"").lower() for column in header]
    if "icao24" not in names:
        raise AircraftDatabaseError(
            f"{name}: neither OpenSky's aircraft database (a header naming icao24, "
            "registration, typecode, …) nor tar1090's aircraft.csv (icao;reg;type;…)"
        )

    def at(column: str) -> int | None:
        return names.index(column) if column in names else None

    found = _Columns(
        names.index("icao24"), at("registration"), at("typecode"), at("operator"), at("owner")
    )
    if found.registration is None and found.typecode is None:
        raise AircraftDatabaseError(f"{name}: the header names neither registration nor typecode")
    return found


def _cell(row: list[str], index: int | None) -> str:
    return row[index].strip() if index is not None and index < len(row) else ""


def _build(
    rows: Iterable[tuple[str, str, str, str, str] | None], kind: str
) -> tuple[AircraftDatabase, int]:
    """The database from parsed rows (the first row of an address wins), and how many rows
    were skipped as malformed."""
    keys: array[int] = array("I")
    starts: array[int] = array("I")
    data = bytearray()
    skipped = 0
    ordered = True
    last = -1
    for row in rows:
        if row is None:
            skipped += 1
            continue
        icao24, registration, aircraft_type, owner, military = row
        key = int(icao24, 16)
        if key < last:
            ordered = False
        last = key
        keys.append(key)
        starts.append(len(data))
        fields = (registration, aircraft_type, owner)
        text = _SEP.join(field.replace(_SEP, " ")[:MAX_FIELD] for field in fields)
        data += f"{text}{_SEP}{military}".encode()
    starts.append(len(data))
    if not ordered:
        keys, starts, data = _sorted(keys, starts, data)
    keys, starts, data = _first_of_each(keys, starts, data)
    return AircraftDatabase(keys, starts, bytes(data), kind), skipped


def _sorted(
    keys: array[int], starts: array[int], data: bytearray
) -> tuple[array[int], array[int], bytearray]:
    """The entries in address order (stable: rows of one address keep the file's order)."""
    order = sorted(range(len(keys)), key=keys.__getitem__)
    new_keys: array[int] = array("I")
    new_starts: array[int] = array("I")
    new_data = bytearray()
    for i in order:
        new_keys.append(keys[i])
        new_starts.append(len(new_data))
        new_data += data[starts[i] : starts[i + 1]]
    new_starts.append(len(new_data))
    return new_keys, new_starts, new_data


def _first_of_each(
    keys: array[int], starts: array[int], data: bytearray
) -> tuple[array[int], array[int], bytearray]:
    """Sorted entries with repeated addresses dropped but the first (rare: returned as they
    are when there is none)."""
    if all(keys[i] != keys[i - 1] for i in range(1, len(keys))):
        return keys, starts, data
    new_keys: array[int] = array("I")
    new_starts: array[int] = array("I")
    new_data = bytearray()
    for i, key in enumerate(keys):
        if new_keys and new_keys[-1] == key:
            continue
        new_keys.append(key)
        new_starts.append(len(new_data))
        new_data += data[starts[i] : starts[i + 1]]
    new_starts.append(len(new_data))
    return new_keys, new_starts, new_data
