"""Reads: races, classifications, laps, stints, pit stops, weather and fastest-lap telemetry.

Every function takes model instances or ids and returns plain values (dicts, lists, floats), so
that the pages, their JSON and the assistant's facts are built from the same numbers.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import QuerySet

from telemetry.exceptions import UnknownRace
from telemetry.models import (
    Driver,
    Event,
    Lap,
    PitStop,
    QualifyingResult,
    Result,
    Session,
    TelemetrySample,
    TrackStatus,
    WeatherSample,
)

RACE = "Race"
DELTA_POINTS = 400


@dataclass(frozen=True)
class RaceRef:
    """An event and its race session, found by the event's key."""

    event: Event
    session: Session


def event_list() -> QuerySet[Event]:
    """Imported events that have a race with laps, newest first."""
    return Event.objects.filter(sessions__name=RACE, sessions__laps__isnull=False).distinct()


def race_get(*, key: str) -> RaceRef:
    """The race of event `key`; UnknownRace if there is none with laps."""
    session = (
        Session.objects.select_related("event")
        .filter(event__key=key, name=RACE, laps__isnull=False)
        .first()
    )
    if session is None:
        raise UnknownRace(f"No race {key!r} is loaded.")
    return RaceRef(event=session.event, session=session)


def race_latest() -> RaceRef | None:
    event = event_list().first()
    return race_get(key=event.key) if event else None


def race_drivers(*, session: Session) -> list[dict]:
    """The race's drivers in finishing order: code, names, number, team and colour."""
    results = Result.objects.filter(session=session).select_related("driver", "team")
    return [
        {
            "code": r.driver.code,
            "name": r.driver.full_name,
            "first_name": r.driver.first_name,
            "last_name": r.driver.last_name,
            "number": r.number,
            "team": r.team.name,
            "color": r.team.color or "#777777",
        }
        for r in results.order_by("position")
    ]


def classification(*, session: Session) -> list[dict]:
    """The result table: position, driver, team, grid, status, time or gap, points, best lap."""
    best = _best_laps(session)
    rows = []
    for r in Result.objects.filter(session=session).select_related("driver", "team"):
        lap = best.get(r.driver_id)
        rows.append(
            {
                "position": r.position,
                "classified": r.classified,
                "code": r.driver.code,
                "name": r.driver.full_name,
                "team": r.team.name,
                "color": r.team.color or "#777777",
                "grid": r.grid,
                "status": r.status,
                "time_or_gap_s": r.time_or_gap_s,
                "points": r.points,
                "best_lap_s": lap.lap_time_s if lap else None,
                "best_lap_number": lap.number if lap else None,
            }
        )
    return rows


def _best_laps(session: Session) -> dict[int, Lap]:
    best: dict[int, Lap] = {}
    for lap in Lap.objects.filter(session=session, lap_time_s__isnull=False, deleted=False):
        if lap.driver_id not in best or lap.lap_time_s < best[lap.driver_id].lap_time_s:
            best[lap.driver_id] = lap
    return best


def fastest_lap(*, session: Session) -> Lap | None:
    """The race's fastest lap (not deleted)."""
    return (
        Lap.objects.filter(session=session, lap_time_s__isnull=False, deleted=False)
        .select_related("driver")
        .order_by("lap_time_s")
        .first()
    )


def lap_count(*, session: Session) -> int:
    last = Lap.objects.filter(session=session).order_by("-number").first()
    return last.number if last else 0


def laps_by_driver(*, session: Session, codes: list[str] | None = None) -> dict[str, list[Lap]]:
    """Each driver's laps in order (all drivers when `codes` is None)."""
    laps = Lap.objects.filter(session=session).select_related("driver").order_by("number")
    if codes is not None:
        laps = laps.filter(driver__code__in=codes)
    grouped: dict[str, list[Lap]] = defaultdict(list)
    for lap in laps:
        grouped[lap.driver.code].append(lap)
    return dict(grouped)


def stints(*, session: Session) -> dict[str, list[dict]]:
    """Each driver's stints: number, compound, first and last lap, laps, tyre age at the start."""
    return {code: stints_of(laps) for code, laps in laps_by_driver(session=session).items()}


def stints_of(laps: list[Lap]) -> list[dict]:
    """The stints of one driver's laps (in lap order)."""
    runs: list[dict] = []
    for lap in laps:
        if not runs or runs[-1]["stint"] != lap.stint:
            runs.append(
                {
                    "stint": lap.stint,
                    "compound": lap.compound or "UNKNOWN",
                    "first_lap": lap.number,
                    "last_lap": lap.number,
                    "tyre_life_start": lap.tyre_life,
                    "fresh": lap.fresh_tyre,
                }
            )
        runs[-1]["last_lap"] = lap.number
    for run in runs:
        run["laps"] = run["last_lap"] - run["first_lap"] + 1
    return runs


def pit_stops(*, session: Session) -> list[dict]:
    stops = PitStop.objects.filter(session=session).select_related("driver")
    return [
        {"code": p.driver.code, "stop": p.stop, "lap": p.lap, "duration_s": p.duration_s}
        for p in stops.order_by("lap", "driver__code")
    ]


def weather(*, session: Session) -> list[dict]:
    return [
        {
            "minute": round(w.session_time_s / 60, 1),
            "air_temp_c": w.air_temp_c,
            "track_temp_c": w.track_temp_c,
            "humidity_pct": w.humidity_pct,
            "wind_speed_ms": w.wind_speed_ms,
            "rainfall": w.rainfall,
        }
        for w in WeatherSample.objects.filter(session=session)
    ]


def race_weather_window(*, session: Session) -> list[dict]:
    """Weather during the race laps only (the session clock starts well before lights out)."""
    bounds = Lap.objects.filter(session=session, start_session_s__isnull=False)
    first = bounds.order_by("start_session_s").first()
    last = bounds.exclude(end_session_s__isnull=True).order_by("-end_session_s").first()
    rows = weather(session=session)
    if not first or not last:
        return rows
    start, end = first.start_session_s / 60, last.end_session_s / 60
    inside = [w for w in rows if start <= w["minute"] <= end]
    return inside or rows


def track_status(*, session: Session) -> list[dict]:
    return [
        {"minute": round(t.session_time_s / 60, 1), "status": t.status, "message": t.message}
        for t in TrackStatus.objects.filter(session=session)
    ]


def qualifying(*, event: Event) -> list[dict]:
    rows = QualifyingResult.objects.filter(session__event=event).select_related("driver")
    return [
        {"position": q.position, "code": q.driver.code, "q1_s": q.q1_s, "q2_s": q.q2_s,
         "q3_s": q.q3_s}
        for q in rows.order_by("position")
    ]  # fmt: skip


def drivers_with_telemetry(*, session: Session) -> list[str]:
    """Codes of the drivers whose fastest lap has car telemetry, in finishing order."""
    codes = set(
        TelemetrySample.objects.filter(lap__session=session)
        .values_list("lap__driver__code", flat=True)
        .distinct()
    )
    return [d["code"] for d in race_drivers(session=session) if d["code"] in codes]


def telemetry_lap(*, session: Session, code: str) -> Lap | None:
    """The lap of `code` that has telemetry (their fastest valid lap in the shipped data)."""
    return (
        Lap.objects.filter(session=session, driver__code=code, samples__isnull=False)
        .select_related("driver")
        .order_by("lap_time_s")
        .first()
    )


def lap_trace(*, lap: Lap) -> dict[str, list]:
    """A lap's samples as columns: distance, time, speed, throttle, brake, gear, rpm, drs."""
    rows = TelemetrySample.objects.filter(lap=lap).order_by("index").values_list(
        "distance_m", "time_in_lap_s", "speed_kph", "throttle_pct", "brake", "gear", "rpm", "drs"
    )  # fmt: skip
    names = ("distance_m", "time_s", "speed_kph", "throttle_pct", "brake", "gear", "rpm", "drs")
    columns: dict[str, list] = {name: [] for name in names}
    for row in rows:
        for name, value in zip(names, row, strict=True):
            columns[name].append(value)
    columns["brake"] = [1 if b else 0 for b in columns["brake"]]
    return columns


def trace_summary(trace: dict[str, list]) -> dict:
    """Key numbers of a lap trace: top and lowest speed, full throttle and braking shares."""
    n = len(trace["speed_kph"]) or 1
    return {
        "top_speed_kph": max(trace["speed_kph"], default=None),
        "min_speed_kph": min(trace["speed_kph"], default=None),
        "full_throttle_pct": round(100 * sum(t >= 98 for t in trace["throttle_pct"]) / n),
        "braking_pct": round(100 * sum(trace["brake"]) / n),
        "drs_open_pct": round(100 * sum(d >= 10 for d in trace["drs"]) / n),
        "max_rpm": max(trace["rpm"], default=None),
        "top_gear": max(trace["gear"], default=None),
    }


def delta_time(
    *, reference: dict[str, list], other: dict[str, list], lap_times: tuple[float, float]
) -> list[tuple[float, float]]:
    """(distance, other's time minus reference's time) along the lap; positive: other behind.

    Samples start a little after the line and end a little before it, so each trace is
    completed to the line at both ends (from its speed there and its lap time), put on the
    fraction of its own lap covered (the integrated distances differ slightly in length), then
    shown on the reference's distance. The delta starts at 0 and ends at the lap-time difference.
    """
    ref_d, ref_t = _completed(reference, lap_times[0])
    oth_d, oth_t = _completed(other, lap_times[1])
    if len(ref_d) < 2 or len(oth_d) < 2:
        return []
    length = ref_d[-1]
    ref_f, oth_f = _fractions(ref_d), _fractions(oth_d)
    points = []
    for i in range(DELTA_POINTS + 1):
        f = i / DELTA_POINTS
        delta = _interp(f, oth_f, oth_t) - _interp(f, ref_f, ref_t)
        points.append((round(f * length, 1), round(delta, 3)))
    return points


def _completed(trace: dict[str, list], lap_time: float) -> tuple[list[float], list[float]]:
    """Distances and times from the line (0 m, 0 s) to the line (lap length, lap time)."""
    d, t, v = trace["distance_m"], trace["time_s"], trace["speed_kph"]
    if not d:
        return [], []
    lead = v[0] / 3.6 * t[0]  # metres covered before the first sample
    distances = [0.0] + [x + lead for x in d]
    times = [0.0] + list(t)
    if lap_time > t[-1]:
        distances.append(distances[-1] + v[-1] / 3.6 * (lap_time - t[-1]))
        times.append(lap_time)
    return distances, times


def _fractions(distances: list[float]) -> list[float]:
    total = distances[-1] if distances else 0
    return [d / total for d in distances] if total else []


def _interp(x: float, xs: list[float], ys: list[float]) -> float:
    i = bisect_left(xs, x)
    if i <= 0:
        return ys[0]
    if i >= len(xs):
        return ys[-1]
    x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
    return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)


def sector_table(*, laps: list[Lap]) -> dict:
    """Sector and lap times of `laps`, with the fastest in each column marked."""
    columns = ("sector1_s", "sector2_s", "sector3_s", "lap_time_s")
    best = {
        c: min((getattr(lap, c) for lap in laps if getattr(lap, c) is not None), default=None)
        for c in columns
    }
    rows = [
        {
            "code": lap.driver.code,
            "lap": lap.number,
            "compound": lap.compound,
            "tyre_life": lap.tyre_life,
            **{c: getattr(lap, c) for c in columns},
            "fastest": [
                c for c in columns if getattr(lap, c) is not None and getattr(lap, c) == best[c]
            ],
        }
        for lap in laps
    ]
    return {"rows": rows, "best": best}


def best_sectors(*, session: Session) -> dict[str, dict]:
    """Each driver's best sector times over the race (any lap not deleted), and which lap."""
    return {code: best_sectors_of(laps) for code, laps in laps_by_driver(session=session).items()}


def best_sectors_of(laps: list[Lap]) -> dict[int, tuple[float, int]]:
    """Sector number -> (best time, its lap) over one driver's laps that were not deleted."""
    best: dict[int, tuple[float, int]] = {}
    for lap in laps:
        if lap.deleted:
            continue
        for n in (1, 2, 3):
            value = getattr(lap, f"sector{n}_s")
            if value is not None and (n not in best or value < best[n][0]):
                best[n] = (value, lap.number)
    return best


def driver_find(*, code: str) -> Driver | None:
    return Driver.objects.filter(code=code.upper()).first()
