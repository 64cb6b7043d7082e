"""A race in memory, for the assistant: every number a question may need, read once per import.

The facts source answers each question under a deadline of a few hundred milliseconds, in a
worker thread; reading 1,000 laps from the database each time would spend most of it. A
`RaceBook` is built from the selectors once per process and per data version (a token in the
Django cache that every import renews, so all processes see a re-import).
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from statistics import median

import structlog
from django.core.cache import cache
from django.db.models import Max

from telemetry import selectors
from telemetry.models import Lap, Result

log = structlog.get_logger(__name__)

VERSION_KEY = "telemetry:data-version"
_lock = threading.Lock()
_books: dict[str, tuple[str, RaceBook]] = {}
_headlines: dict[str, tuple[str, list]] = {}
_last_version = ""


@dataclass
class DriverFacts:
    code: str
    name: str
    first_name: str
    last_name: str
    number: int
    team: str
    position: int
    classified: str
    grid: int | None
    status: str
    time_or_gap_s: float | None
    points: float
    laps: dict[int, Lap] = field(default_factory=dict)
    stints: list[dict] = field(default_factory=list)
    stops: list[dict] = field(default_factory=list)
    best_lap: Lap | None = None
    best_sectors: dict[int, tuple[float, int]] = field(default_factory=dict)
    telemetry_lap: Lap | None = None
    telemetry: dict | None = None  # trace_summary of the telemetry lap
    qualifying: dict | None = None

    @property
    def laps_done(self) -> int:
        return max(self.laps, default=0)

    def green_laps(self) -> list[Lap]:
        """Laps at racing speed: timed, not lap 1, not in or out of the pits, not neutralised."""
        return [
            lap
            for lap in self.laps.values()
            if lap.lap_time_s
            and lap.number > 1
            and lap.pit_in_session_s is None
            and lap.pit_out_session_s is None
            and set(lap.track_status or "1") <= {"1", "2"}
        ]

    def median_pace(self) -> float | None:
        times = [lap.lap_time_s for lap in self.green_laps()]
        return median(times) if times else None


@dataclass
class RaceBook:
    key: str
    name: str  # "2023 Bahrain Grand Prix"
    season: int
    round_number: int
    location: str
    country: str
    date: str
    session: str
    total_laps: int
    drivers: dict[str, DriverFacts]  # by code, in finishing order
    teams: dict[str, list[str]]  # team name -> codes
    fastest_laps: list[Lap]  # every driver's best, fastest first
    sector_bests: dict[int, tuple[str, float, int]]  # sector -> (code, seconds, lap)
    speed_trap: list[tuple[str, int, int]]  # (code, kph, lap), fastest first
    weather: dict
    track_status: list[dict]
    telemetry_codes: list[str]

    @property
    def label(self) -> str:
        return f"{self.name} {self.session.lower()}"


@dataclass(frozen=True)
class Headline:
    """What every race question starts from: the race, its podium, fastest lap, pole and
    retirements. Read with a few small queries, so it never waits for a RaceBook to build."""

    key: str
    label: str  # "2023 Bahrain Grand Prix race"
    round_number: int
    location: str
    country: str
    date: str
    total_laps: int
    podium: list[dict]  # {position, code, name, team, time_or_gap_s, status}
    fastest: dict | None  # {code, name, seconds, lap}
    pole: dict | None  # {code, seconds}
    retired: list[dict]  # {code, status, laps}


def headlines_get() -> list[Headline]:
    """The headline of every loaded race, newest first (cached per data version)."""
    version = data_version()
    cached = _headlines.get("all")
    if cached and cached[0] == version:
        return cached[1]
    headlines = [_headline(selectors.race_get(key=e.key)) for e in selectors.event_list()]
    _headlines["all"] = (version, headlines)
    return headlines


def _headline(race: selectors.RaceRef) -> Headline:
    session, event = race.session, race.event
    results = list(
        Result.objects.filter(session=session).select_related("driver", "team").order_by("position")
    )
    fastest = selectors.fastest_lap(session=session)
    pole = next((q for q in selectors.qualifying(event=event) if q["position"] == 1), None)
    retired = [r for r in results if r.classified == "R"]
    laps_done = dict(
        Lap.objects.filter(session=session, driver__in=[r.driver for r in retired])
        .values("driver__code")
        .annotate(last=Max("number"))
        .values_list("driver__code", "last")
    )
    return Headline(
        key=event.key,
        label=f"{event.season} {event.name} {session.name.lower()}",
        round_number=event.round_number,
        location=event.location,
        country=event.country,
        date=f"{event.date.day} {event.date:%B %Y}",
        total_laps=selectors.lap_count(session=session),
        podium=[
            {
                "position": r.position,
                "code": r.driver.code,
                "name": r.driver.full_name,
                "team": r.team.name,
                "time_or_gap_s": r.time_or_gap_s,
                "status": r.status,
            }
            for r in results[:3]
        ],  # fmt: skip
        fastest={
            "code": fastest.driver.code,
            "name": fastest.driver.full_name,
            "seconds": fastest.lap_time_s,
            "lap": fastest.number,
        }
        if fastest
        else None,  # fmt: skip
        pole={"code": pole["code"], "seconds": pole["q3_s"] or pole["q2_s"] or pole["q1_s"]}
        if pole
        else None,
        retired=[
            {"code": r.driver.code, "status": r.status, "laps": laps_done.get(r.driver.code, 0)}
            for r in retired
        ],
    )


def data_version() -> str:
    """The current data version (a token renewed by every import). With the cache (Redis)
    down, the last version this process saw: its races stay in memory meanwhile, and an
    import made by this process renews them (data_changed)."""
    global _last_version
    try:
        _last_version = cache.get_or_set(VERSION_KEY, uuid.uuid4().hex, None)
    except Exception:  # noqa: BLE001 - the cache is down: keep what this process has
        _last_version = _last_version or uuid.uuid4().hex
    return _last_version


def data_changed() -> None:
    """Tell every process that race data changed (call after an import commits)."""
    global _last_version
    _last_version = uuid.uuid4().hex
    try:
        cache.set(VERSION_KEY, _last_version, None)
    except Exception:  # noqa: BLE001 - the cache is down: at least this process rebuilds
        log.warning("race_version_unshared", reason="cache unavailable")


def book_get(key: str) -> RaceBook:
    """The race `key` in memory (UnknownRace if it is not loaded)."""
    version = data_version()
    with _lock:  # one build at a time: the loader and the source often ask together
        cached = _books.get(key)
        if cached and cached[0] == version:
            return cached[1]
        book = _book_build(selectors.race_get(key=key))
        _books[key] = (version, book)
        return book


def _book_build(race: selectors.RaceRef) -> RaceBook:
    session = race.session
    drivers = _drivers(session, race.event)
    teams: dict[str, list[str]] = {}
    for d in drivers.values():
        teams.setdefault(d.team, []).append(d.code)
    return RaceBook(
        key=race.event.key,
        name=f"{race.event.season} {race.event.name}",
        season=race.event.season,
        round_number=race.event.round_number,
        location=race.event.location,
        country=race.event.country,
        date=f"{race.event.date.day} {race.event.date:%B %Y}",
        session=session.name,
        total_laps=selectors.lap_count(session=session),
        drivers=drivers,
        teams=teams,
        fastest_laps=sorted(
            (d.best_lap for d in drivers.values() if d.best_lap), key=lambda lap: lap.lap_time_s
        ),
        sector_bests=_sector_bests(drivers),
        speed_trap=_speed_trap(drivers),
        weather=_weather(session),
        track_status=selectors.track_status(session=session),
        telemetry_codes=[c for c, d in drivers.items() if d.telemetry],
    )


def _drivers(session, event) -> dict[str, DriverFacts]:
    laps = selectors.laps_by_driver(session=session)  # the one read of the laps
    stops: dict[str, list[dict]] = {}
    for stop in selectors.pit_stops(session=session):
        stops.setdefault(stop["code"], []).append(stop)
    qualifying = {q["code"]: q for q in selectors.qualifying(event=event)}
    results = Result.objects.filter(session=session).select_related("driver", "team")
    drivers = {}
    for r in results.order_by("position"):
        own = laps.get(r.driver.code, [])
        drivers[r.driver.code] = DriverFacts(
            code=r.driver.code, name=r.driver.full_name, first_name=r.driver.first_name,
            last_name=r.driver.last_name, number=r.number, team=r.team.name,
            position=r.position, classified=r.classified, grid=r.grid, status=r.status,
            time_or_gap_s=r.time_or_gap_s, points=r.points,
            laps={lap.number: lap for lap in own}, stints=selectors.stints_of(own),
            stops=stops.get(r.driver.code, []), best_sectors=selectors.best_sectors_of(own),
            qualifying=qualifying.get(r.driver.code), best_lap=_best_lap(own),
        )  # fmt: skip
    for code in selectors.drivers_with_telemetry(session=session):
        lap = selectors.telemetry_lap(session=session, code=code)
        drivers[code].telemetry_lap = lap
        drivers[code].telemetry = selectors.trace_summary(selectors.lap_trace(lap=lap))
    return drivers


def _best_lap(laps: list[Lap]) -> Lap | None:
    timed = [lap for lap in laps if lap.lap_time_s and not lap.deleted]
    return min(timed, key=lambda lap: lap.lap_time_s, default=None)


def _sector_bests(drivers: dict[str, DriverFacts]) -> dict[int, tuple[str, float, int]]:
    bests: dict[int, tuple[str, float, int]] = {}
    for d in drivers.values():
        for n, (seconds, lap) in d.best_sectors.items():
            if n not in bests or seconds < bests[n][1]:
                bests[n] = (d.code, seconds, lap)
    return bests


def _speed_trap(drivers: dict[str, DriverFacts]) -> list[tuple[str, int, int]]:
    best = []
    for d in drivers.values():
        timed = [lap for lap in d.laps.values() if lap.speed_st_kph]
        if timed:
            lap = max(timed, key=lambda lap: lap.speed_st_kph)
            best.append((d.code, lap.speed_st_kph, lap.number))
    return sorted(best, key=lambda row: -row[1])


def _weather(session) -> dict:
    samples = selectors.race_weather_window(session=session)
    if not samples:
        return {}
    air = [w["air_temp_c"] for w in samples if w["air_temp_c"] is not None]
    track = [w["track_temp_c"] for w in samples if w["track_temp_c"] is not None]
    humidity = [w["humidity_pct"] for w in samples if w["humidity_pct"] is not None]
    wind = [w["wind_speed_ms"] for w in samples if w["wind_speed_ms"] is not None]
    return {
        "air": (min(air), max(air), air[0], air[-1]) if air else None,
        "track": (min(track), max(track), track[0], track[-1]) if track else None,
        "humidity": (min(humidity), max(humidity)) if humidity else None,
        "wind_max": max(wind) if wind else None,
        "rain": any(w["rainfall"] for w in samples),
    }
