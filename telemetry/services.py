"""Writes: import a race folder (idempotent upserts by natural keys, in one transaction)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from django.db import models, transaction

from chat.reply.universes import universe_invalidate
from telemetry.book import data_changed
from telemetry.importer import RaceFolder, RowProblem, folder_read
from telemetry.models import (
    Driver,
    Event,
    Lap,
    PitStop,
    QualifyingResult,
    Result,
    Session,
    Team,
    TelemetrySample,
    TrackStatus,
    WeatherSample,
)

log = structlog.get_logger(__name__)

UNIVERSE = "race"
RACE_SESSION = "Race"
QUALIFYING_SESSION = "Qualifying"


@dataclass
class ImportReport:
    event_key: str
    counts: dict[str, int] = field(default_factory=dict)  # rows imported, per file
    pruned: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    seconds: float = 0.0


class _Import:
    """One import run: the folder, the rows written so far, the problems met."""

    def __init__(self, folder: RaceFolder) -> None:
        self.folder = folder
        self.problems = folder.problems
        self.pruned = 0
        self.counts: dict[str, int] = {}

    def problem(self, filename: str, row: dict, message: str) -> None:
        self.problems.append(RowProblem(filename, row["_line"], message))
        self.folder.files_with_problems.add(filename)

    def upsert(self, model, objects: list, *, unique: list[str], filename: str, scope=None):
        """Insert or update `objects` by `unique`; then delete the scope's rows that are no longer
        in the file (only when every row of the file could be read)."""
        fields = [
            f.name
            for f in model._meta.concrete_fields
            if not f.primary_key and f.name not in unique
        ]
        model.objects.bulk_create(
            objects, update_conflicts=True, unique_fields=unique, update_fields=fields,
            batch_size=500,
        )  # fmt: skip
        if scope is not None and filename not in self.folder.files_with_problems:
            self.pruned += _prune(scope, unique, [_key(o, unique) for o in objects])
        self.counts[filename] = len(objects)


def race_import(*, path: Path) -> ImportReport:
    """Import one race folder. Re-importing it updates rows in place and creates nothing new."""
    started = time.perf_counter()
    folder = folder_read(path)
    run = _Import(folder)
    with transaction.atomic():
        event = _event_upsert(folder)
        sessions = _sessions_upsert(event, folder)
        teams = _teams_upsert(run, event.season)
        drivers, driver_teams = _drivers_upsert(run)
        race = _session_named(sessions, RACE_SESSION, event)
        _results_upsert(run, race, drivers, driver_teams, teams)
        if folder.qualifying:
            quali = _session_named(sessions, QUALIFYING_SESSION, event)
            _qualifying_upsert(run, quali, drivers)
        laps = _laps_upsert(run, race, drivers)
        _pit_stops_upsert(run, race, drivers)
        _weather_upsert(run, race)
        _track_status_upsert(run, race)
        _samples_upsert(run, laps, drivers)
        transaction.on_commit(_data_changed)
    report = ImportReport(
        event_key=event.key,
        counts=run.counts,
        pruned=run.pruned,
        problems=run.problems,
        seconds=time.perf_counter() - started,
    )
    log.info(
        "race_imported", event_key=event.key, rows=sum(run.counts.values()), pruned=run.pruned,
        problems=len(run.problems), ms=round(report.seconds * 1000),
    )  # fmt: skip
    return report


def _data_changed() -> None:
    """Let every process rebuild its in-memory races and the assistant's race summary."""
    data_changed()
    universe_invalidate(UNIVERSE)


def _event_upsert(folder: RaceFolder) -> Event:
    meta = folder.event
    event, _ = Event.objects.update_or_create(
        key=meta.key,
        defaults={
            "season": meta.season,
            "round_number": meta.round_number,
            "name": meta.name,
            "official_name": meta.official_name,
            "country": meta.country,
            "location": meta.location,
            "date": meta.date,
            "format": meta.format,
            "source": str(folder.path.name),
        },
    )
    return event


def _sessions_upsert(event: Event, folder: RaceFolder) -> dict[str, Session]:
    sessions = {}
    for row in folder.event.sessions:
        session, _ = Session.objects.update_or_create(
            event=event,
            number=row["number"],
            defaults={"name": row["name"], "starts_at": row["starts_at"]},
        )
        sessions[session.name] = session
    return sessions


def _session_named(sessions: dict[str, Session], name: str, event: Event) -> Session:
    """The session called `name`; one is added after the listed ones if event.csv has none."""
    if name not in sessions:
        number = max((s.number for s in sessions.values()), default=0) + 1
        sessions[name], _ = Session.objects.get_or_create(
            event=event, name=name, defaults={"number": number}
        )
    return sessions[name]


def _teams_upsert(run: _Import, season: int) -> dict[str, Team]:
    objects = [Team(season=season, **_fields(r)) for r in run.folder.teams]
    run.upsert(Team, objects, unique=["season", "ref"], filename="teams.csv")
    return {t.ref: t for t in Team.objects.filter(season=season)}


def _drivers_upsert(run: _Import) -> tuple[dict[str, Driver], dict[str, str]]:
    rows = run.folder.drivers
    objects = [Driver(**_fields(r, drop=("number", "team_ref"))) for r in rows]
    run.upsert(Driver, objects, unique=["ref"], filename="drivers.csv")
    by_ref = {d.ref: d for d in Driver.objects.filter(ref__in=[r["ref"] for r in rows])}
    drivers = {r["code"]: by_ref[r["ref"]] for r in rows}
    return drivers, {r["code"]: r["team_ref"] for r in rows}


def _results_upsert(run, race, drivers, driver_teams, teams) -> None:
    teams_by_name = {t.name: t for t in teams.values()}
    objects = []
    for row in run.folder.results:
        driver = drivers.get(row["code"])
        team = teams.get(driver_teams.get(row["code"], "")) or teams_by_name.get(row["team_name"])
        if driver is None or team is None:
            run.problem("results.csv", row, f"{row['code']} is not in drivers.csv with a team.")
            continue
        values = _fields(row, drop=("code", "team_name"))
        objects.append(Result(session=race, driver=driver, team=team, **values))
    run.upsert(
        Result, objects, unique=["session", "driver"], filename="results.csv",
        scope=Result.objects.filter(session=race),
    )  # fmt: skip


def _qualifying_upsert(run, session, drivers) -> None:
    objects = [
        QualifyingResult(session=session, driver=driver, **_fields(row, drop=("code",)))
        for row in run.folder.qualifying
        if (driver := _driver_or_problem(run, "qualifying.csv", row, drivers))
    ]
    run.upsert(
        QualifyingResult, objects, unique=["session", "driver"], filename="qualifying.csv",
        scope=QualifyingResult.objects.filter(session=session),
    )  # fmt: skip


def _laps_upsert(run, race, drivers) -> dict[tuple[str, int], int]:
    objects = [
        Lap(session=race, driver=driver, **_fields(row, drop=("code",)))
        for row in run.folder.laps
        if (driver := _driver_or_problem(run, "laps.csv", row, drivers))
    ]
    run.upsert(
        Lap, objects, unique=["session", "driver", "number"], filename="laps.csv",
        scope=Lap.objects.filter(session=race),
    )  # fmt: skip
    codes = {d.pk: code for code, d in drivers.items()}
    return {
        (codes.get(driver_id, ""), number): pk
        for pk, driver_id, number in Lap.objects.filter(session=race).values_list(
            "pk", "driver_id", "number"
        )
    }


def _pit_stops_upsert(run, race, drivers) -> None:
    objects = [
        PitStop(session=race, driver=driver, **_fields(row, drop=("code",)))
        for row in run.folder.pit_stops
        if (driver := _driver_or_problem(run, "pit_stops.csv", row, drivers))
    ]
    run.upsert(
        PitStop, objects, unique=["session", "driver", "stop"], filename="pit_stops.csv",
        scope=PitStop.objects.filter(session=race),
    )  # fmt: skip


def _weather_upsert(run, race) -> None:
    objects = [WeatherSample(session=race, **_fields(row)) for row in run.folder.weather]
    run.upsert(
        WeatherSample, objects, unique=["session", "session_time_s"], filename="weather.csv",
        scope=WeatherSample.objects.filter(session=race),
    )  # fmt: skip


def _track_status_upsert(run, race) -> None:
    objects = [TrackStatus(session=race, **_fields(row)) for row in run.folder.track_status]
    run.upsert(
        TrackStatus, objects, unique=["session", "session_time_s", "status"],
        filename="track_status.csv", scope=TrackStatus.objects.filter(session=race),
    )  # fmt: skip


def _samples_upsert(run, laps: dict[tuple[str, int], int], drivers) -> None:
    objects = []
    for row in run.folder.telemetry:
        lap_id = laps.get((row["code"], row["lap_number"]))
        if lap_id is None:
            message = f"{row['code']} has no lap {row['lap_number']} in laps.csv."
            run.problem("telemetry.csv", row, message)
            continue
        objects.append(TelemetrySample(lap_id=lap_id, **_fields(row, drop=("code", "lap_number"))))
    run.upsert(
        TelemetrySample, objects, unique=["lap", "index"], filename="telemetry.csv",
        scope=TelemetrySample.objects.filter(lap_id__in=laps.values()),
    )  # fmt: skip


def _driver_or_problem(run: _Import, filename: str, row: dict, drivers) -> Driver | None:
    driver = drivers.get(row["code"])
    if driver is None:
        run.problem(filename, row, f"driver {row['code']} is not in drivers.csv.")
    return driver


def _fields(row: dict, *, drop: tuple[str, ...] = ()) -> dict:
    return {k: v for k, v in row.items() if k != "_line" and k not in drop}


def _key(obj: models.Model, unique: list[str]) -> tuple:
    return tuple(getattr(obj, _attname(obj, name)) for name in unique)


def _attname(obj: models.Model, name: str) -> str:
    return obj._meta.get_field(name).attname


def _prune(scope: models.QuerySet, unique: list[str], keys: list[tuple]) -> int:
    """Delete the rows of `scope` whose key is not among `keys`."""
    attnames = [scope.model._meta.get_field(n).attname for n in unique]
    wanted = set(keys)
    stale = [pk for pk, *key in scope.values_list("pk", *attnames) if tuple(key) not in wanted]
    if not stale:
        return 0
    return scope.model.objects.filter(pk__in=stale).delete()[0]
