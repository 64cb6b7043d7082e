"""Read a race folder (FastF1 / Ergast CSV exports) into typed rows, without touching the database.

A folder holds `event.csv` (key,value metadata), `teams.csv`, `drivers.csv`, `results.csv` and
`laps.csv` (required), and `qualifying.csv`, `pit_stops.csv`, `weather.csv`, `track_status.csv`,
`telemetry.csv` (optional). Nothing here knows which race it is: the event's name, season and
sessions come from `event.csv`.

A row that cannot be read becomes a `RowProblem` (file, line, what is wrong) and is skipped; a
missing folder, required file or column raises ImportSourceError.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from django.utils.text import slugify

from telemetry.exceptions import ImportSourceError, RowError

REQUIRED_FILES = ("event.csv", "teams.csv", "drivers.csv", "results.csv", "laps.csv")
Row = dict[str, Any]


@dataclass(frozen=True)
class RowProblem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file} line {self.line}: {self.message}"


@dataclass
class EventMeta:
    key: str
    season: int
    round_number: int
    name: str
    official_name: str
    country: str
    location: str
    date: date
    format: str
    sessions: list[Row]  # {number, name, starts_at}


@dataclass
class RaceFolder:
    """Everything read from one folder; `problems` lists the rows left out."""

    path: Path
    event: EventMeta
    teams: list[Row] = field(default_factory=list)
    drivers: list[Row] = field(default_factory=list)
    results: list[Row] = field(default_factory=list)
    qualifying: list[Row] = field(default_factory=list)
    laps: list[Row] = field(default_factory=list)
    pit_stops: list[Row] = field(default_factory=list)
    weather: list[Row] = field(default_factory=list)
    track_status: list[Row] = field(default_factory=list)
    telemetry: list[Row] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    files_with_problems: set[str] = field(default_factory=set)


def folder_read(path: Path) -> RaceFolder:
    """Read and check every file of a race folder."""
    path = Path(path)
    if not path.is_dir():
        raise ImportSourceError(f"{path} is not a folder of race CSV files.")
    missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
    if missing:
        raise ImportSourceError(f"{path} has no {', '.join(missing)}: it is not a race folder.")
    folder = RaceFolder(path=path, event=_event_meta(path / "event.csv"))
    for name, parse in PARSERS.items():
        if (path / f"{name}.csv").is_file():
            setattr(folder, name, _parsed(folder, f"{name}.csv", parse))
    return folder


def _parsed(folder: RaceFolder, filename: str, parse: Callable[[Row], Row]) -> list[Row]:
    rows = []
    seen: dict[tuple, int] = {}  # key -> line: a key twice in one file is a problem
    for line, raw in _csv_rows(folder.path / filename, COLUMNS[filename]):
        try:
            row = parse(raw)
            for key in KEYS[filename]:
                _unique(seen, (key, *(row[k] for k in key)), line)
        except RowError as exc:
            folder.problems.append(RowProblem(filename, line, str(exc)))
            folder.files_with_problems.add(filename)
            continue
        rows.append({**row, "_line": line})
    return rows


def _unique(seen: dict[tuple, int], key: tuple, line: int) -> None:
    if key in seen:
        raise RowError(f"the same {', '.join(key[0])} as line {seen[key]}.")
    seen[key] = line


def _csv_rows(path: Path, columns: tuple[str, ...]) -> Iterator[tuple[int, Row]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        absent = [c for c in columns if c not in (reader.fieldnames or [])]
        if absent:
            raise ImportSourceError(f"{path.name} has no column {', '.join(absent)}.")
        for raw in reader:
            yield reader.line_num, raw


# --- event.csv -------------------------------------------------------------------------------


def _event_meta(path: Path) -> EventMeta:
    values = {}
    for _line, row in _csv_rows(path, ("key", "value")):
        values[row["key"].strip()] = (row["value"] or "").strip()
    try:
        event_date = datetime.fromisoformat(values["EventDate"]).date()
        name = values["EventName"]
        round_number = int(values.get("RoundNumber") or 0)
    except (KeyError, ValueError) as exc:
        raise ImportSourceError(
            f"{path.name} needs EventName, EventDate (ISO date) and RoundNumber: {exc}"
        ) from None
    if not name:
        raise ImportSourceError(f"{path.name}: EventName is empty.")
    return EventMeta(
        key=f"{event_date.year}-{slugify(name)}",
        season=event_date.year,
        round_number=round_number,
        name=name,
        official_name=values.get("OfficialEventName", ""),
        country=values.get("Country", ""),
        location=values.get("Location", ""),
        date=event_date,
        format=values.get("EventFormat", ""),
        sessions=_event_sessions(values),
    )


def _event_sessions(values: dict[str, str]) -> list[Row]:
    sessions = []
    for number in range(1, 10):
        name = values.get(f"Session{number}")
        if not name:
            continue
        starts = values.get(f"Session{number}DateUtc") or ""
        try:
            starts_at = datetime.fromisoformat(starts).replace(tzinfo=UTC)
        except ValueError:
            starts_at = None
        sessions.append({"number": number, "name": name, "starts_at": starts_at})
    return sessions


# --- typed values ----------------------------------------------------------------------------


def _text(row: Row, column: str, *, required: bool = False, max_length: int = 200) -> str:
    value = (row.get(column) or "").strip()
    if required and not value:
        raise RowError(f"`{column}` is empty.")
    if len(value) > max_length:
        raise RowError(f"`{column}` is longer than {max_length} characters.")
    return value


def _float(row: Row, column: str, *, required: bool = False) -> float | None:
    value = (row.get(column) or "").strip()
    if not value:
        if required:
            raise RowError(f"`{column}` is empty.")
        return None
    try:
        number = float(value)
    except ValueError:
        raise RowError(f"`{column}` is {value!r}, not a number.") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise RowError(f"`{column}` is {value!r}, not a finite number.")
    return number


def _int(row: Row, column: str, *, required: bool = False, minimum: int = 0) -> int | None:
    number = _float(row, column, required=required)
    if number is None:
        return None
    if number != int(number):
        raise RowError(f"`{column}` is {row[column]!r}, not a whole number.")
    if number < minimum:
        raise RowError(f"`{column}` is {row[column]!r}, below {minimum}.")
    return int(number)


def _bool(row: Row, column: str) -> bool:
    value = (row.get(column) or "").strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no", ""):
        return False
    raise RowError(f"`{column}` is {value!r}, not true or false.")


def _code(row: Row, column: str = "driver") -> str:
    code = _text(row, column, required=True).upper()
    if len(code) != 3 or not code.isalpha():
        raise RowError(f"`{column}` is {code!r}, not a three-letter driver code.")
    return code


# --- one parser per file ---------------------------------------------------------------------


def _team(row: Row) -> Row:
    color = _text(row, "team_color", max_length=7)
    if color and not (color.startswith("#") and len(color) == 7):
        raise RowError(f"`team_color` is {color!r}, not a #RRGGBB colour.")
    return {
        "ref": slugify(_text(row, "team_id", required=True, max_length=40)),
        "name": _text(row, "team", required=True, max_length=80),
        "color": color,
    }


def _driver(row: Row) -> Row:
    return {
        "code": _code(row),
        "number": _int(row, "driver_number", required=True),
        "ref": slugify(_text(row, "driver_id", required=True, max_length=60)),
        "first_name": _text(row, "first_name", max_length=60),
        "last_name": _text(row, "last_name", required=True, max_length=60),
        "full_name": _text(row, "full_name", required=True, max_length=120),
        "country_code": _text(row, "country_code", max_length=3),
        "team_ref": slugify(_text(row, "team_id", required=True, max_length=40)),
    }


def _result(row: Row) -> Row:
    return {
        "code": _code(row),
        "number": _int(row, "driver_number", required=True),
        "position": _int(row, "position", required=True, minimum=1),
        "classified": _text(row, "classified_position", required=True, max_length=4),
        "grid": _int(row, "grid_position"),
        "status": _text(row, "status", required=True, max_length=40),
        "time_or_gap_s": _float(row, "time_or_gap_s"),
        "points": _float(row, "points") or 0.0,
        "team_name": _text(row, "team", max_length=80),
    }


def _qualifying(row: Row) -> Row:
    return {
        "code": _code(row),
        "position": _int(row, "position", required=True, minimum=1),
        "q1_s": _float(row, "q1_s"),
        "q2_s": _float(row, "q2_s"),
        "q3_s": _float(row, "q3_s"),
    }


def _lap(row: Row) -> Row:
    return {
        "code": _code(row),
        "number": _int(row, "lap_number", required=True, minimum=1),
        "lap_time_s": _float(row, "lap_time_s"),
        "sector1_s": _float(row, "sector1_s"),
        "sector2_s": _float(row, "sector2_s"),
        "sector3_s": _float(row, "sector3_s"),
        "compound": _text(row, "compound", max_length=16).upper(),
        "tyre_life": _int(row, "tyre_life_laps"),
        "fresh_tyre": _bool(row, "fresh_tyre"),
        "stint": _int(row, "stint"),
        "pit_in_session_s": _float(row, "pit_in_session_s"),
        "pit_out_session_s": _float(row, "pit_out_session_s"),
        "start_session_s": _float(row, "lap_start_session_s"),
        "end_session_s": _float(row, "lap_end_session_s"),
        "position": _int(row, "position", minimum=1),
        "track_status": _text(row, "track_status", max_length=12),
        "personal_best": _bool(row, "is_personal_best"),
        "accurate": _bool(row, "is_accurate"),
        "deleted": _bool(row, "deleted"),
        "deleted_reason": _text(row, "deleted_reason"),
        "speed_i1_kph": _int(row, "speed_i1_kph"),
        "speed_i2_kph": _int(row, "speed_i2_kph"),
        "speed_fl_kph": _int(row, "speed_fl_kph"),
        "speed_st_kph": _int(row, "speed_st_kph"),
    }


def _pit_stop(row: Row) -> Row:
    return {
        "code": _code(row),
        "stop": _int(row, "stop", required=True, minimum=1),
        "lap": _int(row, "lap", required=True, minimum=1),
        "time_of_day": _text(row, "time_of_day_local", max_length=12),
        "duration_s": _float(row, "duration_s"),
    }


def _weather(row: Row) -> Row:
    return {
        "session_time_s": _float(row, "session_time_s", required=True),
        "air_temp_c": _float(row, "air_temp_c"),
        "track_temp_c": _float(row, "track_temp_c"),
        "humidity_pct": _float(row, "humidity_pct"),
        "pressure_mbar": _float(row, "pressure_mbar"),
        "rainfall": _bool(row, "rainfall"),
        "wind_direction_deg": _int(row, "wind_direction_deg"),
        "wind_speed_ms": _float(row, "wind_speed_ms"),
    }


def _track_status(row: Row) -> Row:
    return {
        "session_time_s": _float(row, "session_time_s", required=True),
        "status": _text(row, "status", required=True, max_length=4),
        "message": _text(row, "message", max_length=40),
    }


def _sample(row: Row) -> Row:
    return {
        "code": _code(row),
        "lap_number": _int(row, "lap_number", required=True, minimum=1),
        "index": _int(row, "sample", required=True),
        "session_time_s": _float(row, "session_time_s", required=True),
        "time_in_lap_s": _float(row, "time_in_lap_s", required=True),
        "distance_m": _float(row, "distance_m", required=True),
        "speed_kph": _int(row, "speed_kph", required=True),
        "rpm": _int(row, "rpm", required=True),
        "gear": _int(row, "gear", required=True),
        "throttle_pct": _int(row, "throttle_pct", required=True),
        "brake": _bool(row, "brake"),
        "drs": _int(row, "drs") or 0,
    }


PARSERS: dict[str, Callable[[Row], Row]] = {
    "teams": _team,
    "drivers": _driver,
    "results": _result,
    "qualifying": _qualifying,
    "laps": _lap,
    "pit_stops": _pit_stop,
    "weather": _weather,
    "track_status": _track_status,
    "telemetry": _sample,
}
# What identifies a row within its file (each tuple must be unique).
KEYS: dict[str, tuple[tuple[str, ...], ...]] = {
    "teams.csv": (("ref",),),
    "drivers.csv": (("code",), ("ref",)),
    "results.csv": (("code",),),
    "qualifying.csv": (("code",),),
    "laps.csv": (("code", "number"),),
    "pit_stops.csv": (("code", "stop"),),
    "weather.csv": (("session_time_s",),),
    "track_status.csv": (("session_time_s", "status"),),
    "telemetry.csv": (("code", "lap_number", "index"),),
}
COLUMNS: dict[str, tuple[str, ...]] = {
    "teams.csv": ("team_id", "team"),
    "drivers.csv": ("driver", "driver_number", "driver_id", "last_name", "full_name", "team_id"),
    "results.csv": ("driver", "driver_number", "position", "classified_position", "status"),
    "qualifying.csv": ("driver", "position", "q1_s", "q2_s", "q3_s"),
    "laps.csv": ("driver", "lap_number", "lap_time_s", "sector1_s", "sector2_s", "sector3_s"),
    "pit_stops.csv": ("driver", "stop", "lap", "duration_s"),
    "weather.csv": ("session_time_s", "air_temp_c", "track_temp_c"),
    "track_status.csv": ("session_time_s", "status"),
    "telemetry.csv": ("driver", "lap_number", "sample", "distance_m", "speed_kph"),
}
