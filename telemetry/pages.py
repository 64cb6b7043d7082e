"""What the race dashboard and the comparison page show: one dict per page, read by the template
(tables) and, as JSON in the page, by static/telemetry/*.js (charts and "Ask AI about this chart").

Each chart carries its `context` (chart type, race, session, drivers, laps, compounds and the key
numbers on screen): what "Ask AI about this chart" sends. The server treats it as ids only.
"""

from __future__ import annotations

from statistics import median

from telemetry import formatting as fmt
from telemetry import selectors
from telemetry.selectors import RaceRef

DEFAULT_DRIVERS = 3  # the podium, until the visitor picks others
COMPOUND_COLORS = {
    "SOFT": "#DA291C",
    "MEDIUM": "#FFD12E",
    "HARD": "#F0F0EC",
    "INTERMEDIATE": "#43B02A",
    "WET": "#0067AD",
    "UNKNOWN": "#999999",
}


def chosen_codes(requested: list[str], drivers: list[dict], *, default: int) -> list[str]:
    """The drivers the visitor asked for (known codes, in finishing order), else the first few."""
    wanted = {c.strip().upper() for c in requested}
    codes = [d["code"] for d in drivers if d["code"] in wanted]
    return codes or [d["code"] for d in drivers[:default]]


def race_header(race: RaceRef) -> dict:
    fastest = selectors.fastest_lap(session=race.session)
    results = selectors.classification(session=race.session)
    return {
        "key": race.event.key,
        "name": f"{race.event.season} {race.event.name}",
        "official_name": race.event.official_name,
        "location": race.event.location,
        "country": race.event.country,
        "date": race.event.date,
        "session": race.session.name,
        "laps": selectors.lap_count(session=race.session),
        "winner": results[0] if results else None,
        "fastest": {
            "code": fastest.driver.code,
            "lap": fastest.number,
            "time": fmt.lap_time(fastest.lap_time_s),
        }
        if fastest
        else None,
    }


def _context(race: RaceRef, chart_type: str, **fields) -> dict:
    return {
        "chart_type": chart_type,
        "race": race.event.key,
        "session": race.session.name,
        **fields,
    }


# --- The race dashboard ----------------------------------------------------------------------


def dashboard(race: RaceRef, *, requested: list[str]) -> dict:
    session = race.session
    drivers = selectors.race_drivers(session=session)
    chosen = chosen_codes(requested, drivers, default=DEFAULT_DRIVERS)
    laps = selectors.laps_by_driver(session=session, codes=chosen)
    stints = selectors.stints(session=session)
    header = race_header(race)
    return {
        "race": header,
        "drivers": drivers,
        "chosen": chosen,
        "classification": _classification_rows(session),
        "charts": {
            "lap_times": _lap_times_chart(race, chosen, laps, stints, header["laps"]),
            "positions": _positions_chart(race, chosen, laps, header["laps"]),
            "strategy": _strategy_chart(race, drivers, stints),
            "pit_stops": _pit_stops_chart(race),
            "weather": _weather_chart(race),
        },
    }


def _classification_rows(session) -> list[dict]:
    rows = selectors.classification(session=session)
    for row in rows:
        if row["position"] == 1:
            row["time_text"] = fmt.race_time(row["time_or_gap_s"])
        elif row["time_or_gap_s"] is not None:
            row["time_text"] = fmt.gap(row["time_or_gap_s"])
        else:
            row["time_text"] = row["status"]
        row["best_lap_text"] = fmt.lap_time(row["best_lap_s"])
        row["points_text"] = f"{row['points']:g}"
    return rows


def _lap_times_chart(race, chosen, laps, stints, total_laps) -> dict:
    series, numbers, compounds = [], {}, set()
    for code in chosen:
        own = laps.get(code, [])
        points = [[lap.number, lap.lap_time_s] for lap in own]
        times = [lap.lap_time_s for lap in own if lap.lap_time_s and not _pit_lap(lap)]
        best = min(
            (lap for lap in own if lap.lap_time_s), key=lambda lap: lap.lap_time_s, default=None
        )
        series.append({"code": code, "points": points})
        if best:
            numbers[f"{code} best lap"] = f"{fmt.lap_time(best.lap_time_s)} (lap {best.number})"
        if times:
            numbers[f"{code} median lap"] = fmt.lap_time(median(times))
        compounds.update(s["compound"] for s in stints.get(code, []))
    table = [
        {"lap": n, "times": [_lap_cell(laps.get(code, []), n) for code in chosen]}
        for n in range(1, total_laps + 1)
    ]
    return {
        "chart_type": "lap_times",
        "title": "Lap times",
        "series": series,
        "table": table,
        "context": _context(
            race,
            "lap_times",
            drivers=chosen,
            lap_range=[1, total_laps],
            compounds=sorted(compounds),
            numbers=numbers,
        ),  # fmt: skip
    }


def _pit_lap(lap) -> bool:
    return lap.pit_in_session_s is not None or lap.pit_out_session_s is not None or lap.number == 1


def _lap_cell(laps, number) -> str:
    for lap in laps:
        if lap.number == number:
            return fmt.lap_time(lap.lap_time_s)
    return "–"


def _positions_chart(race, chosen, laps, total_laps) -> dict:
    series, numbers = [], {}
    for code in chosen:
        own = [lap for lap in laps.get(code, []) if lap.position]
        series.append({"code": code, "points": [[lap.number, lap.position] for lap in own]})
        if own:
            numbers[f"{code}"] = f"P{own[0].position} after lap 1, P{own[-1].position} at the end"
    table = [
        {"lap": n, "positions": [_position_cell(laps.get(code, []), n) for code in chosen]}
        for n in range(1, total_laps + 1)
    ]
    return {
        "chart_type": "positions",
        "title": "Positions lap by lap",
        "series": series,
        "table": table,
        "context": _context(
            race, "positions", drivers=chosen, lap_range=[1, total_laps], numbers=numbers
        ),
    }


def _position_cell(laps, number) -> str:
    for lap in laps:
        if lap.number == number and lap.position:
            return f"P{lap.position}"
    return "–"


def _strategy_chart(race, drivers, stints) -> dict:
    rows = []
    for d in drivers:
        own = stints.get(d["code"], [])
        rows.append({"code": d["code"], "stints": own})
    compounds = sorted({s["compound"] for r in rows for s in r["stints"]})
    numbers = {
        r["code"]: " / ".join(f"{s['compound'][0]} {s['laps']}" for s in r["stints"])
        for r in rows[:10]
    }
    return {
        "chart_type": "strategy",
        "title": "Tyre strategy",
        "rows": rows,
        "compound_colors": {c: COMPOUND_COLORS.get(c, "#999999") for c in compounds},
        "context": _context(
            race,
            "strategy",
            drivers=[d["code"] for d in drivers],
            compounds=compounds,
            numbers=numbers,
        ),  # fmt: skip
    }


def _pit_stops_chart(race) -> dict:
    stops = selectors.pit_stops(session=race.session)
    for stop in stops:
        stop["duration_text"] = fmt.seconds(stop["duration_s"])
    timed = [s for s in stops if s["duration_s"]]
    fastest = min(timed, key=lambda s: s["duration_s"], default=None)
    numbers = {"stops": str(len(stops))}
    if fastest:
        numbers["shortest pit lane time"] = (
            f"{fastest['code']} {fmt.seconds(fastest['duration_s'])} (lap {fastest['lap']})"
        )
    return {
        "chart_type": "pit_stops",
        "title": "Pit stops",
        "stops": stops,
        "context": _context(
            race,
            "pit_stops",
            drivers=sorted({s["code"] for s in stops}),
            laps=sorted({s["lap"] for s in stops}),
            numbers=numbers,
        ),  # fmt: skip
    }


def _weather_chart(race) -> dict:
    samples = selectors.race_weather_window(session=race.session)
    air = [w["air_temp_c"] for w in samples if w["air_temp_c"] is not None]
    track = [w["track_temp_c"] for w in samples if w["track_temp_c"] is not None]
    numbers = {}
    if air and track:
        numbers = {
            "air temperature": f"{min(air):g} to {max(air):g} °C",
            "track temperature": f"{min(track):g} to {max(track):g} °C",
            "rain": "yes" if any(w["rainfall"] for w in samples) else "none",
        }
    return {
        "chart_type": "weather",
        "title": "Weather during the race",
        "samples": samples,
        "track_status": selectors.track_status(session=race.session),
        "context": _context(race, "weather", numbers=numbers),
    }


# --- The two-driver comparison ---------------------------------------------------------------


def comparison(race: RaceRef, *, a: str, b: str) -> dict:
    session = race.session
    available = selectors.drivers_with_telemetry(session=session)
    drivers = {d["code"]: d for d in selectors.race_drivers(session=session)}
    a, b = _pair(a, b, available)
    header = race_header(race)
    page = {"race": header, "available": [drivers[c] for c in available], "a": a, "b": b}
    if not a or not b:
        return {**page, "charts": {}}
    laps = {c: selectors.telemetry_lap(session=session, code=c) for c in (a, b)}
    traces = {c: selectors.lap_trace(lap=laps[c]) for c in (a, b)}
    summaries = {c: selectors.trace_summary(traces[c]) for c in (a, b)}
    pair = {
        "codes": [a, b],
        "drivers": [drivers[a], drivers[b]],
        "laps": [
            {**_lap_info(laps[c]), "team": drivers[c]["team"], "color": drivers[c]["color"]}
            for c in (a, b)
        ],
    }
    return {
        **page,
        "pair": pair,
        "charts": {
            "speed": _trace_chart(race, pair, traces, summaries, "speed_kph", "speed_trace"),
            "throttle": _trace_chart(race, pair, traces, summaries, "throttle_pct", "comparison"),
            "brake": _trace_chart(race, pair, traces, summaries, "brake", "comparison"),
            "delta": _delta_chart(race, pair, traces, laps),
            "sectors": _sectors_chart(race, pair, laps),
        },
    }


def _pair(a: str, b: str, available: list[str]) -> tuple[str, str]:
    a, b = (a or "").upper(), (b or "").upper()
    a = a if a in available else (available[0] if available else "")
    rest = [c for c in available if c != a]
    b = b if b in rest else (rest[0] if rest else "")
    return a, b


def _lap_info(lap) -> dict:
    return {
        "code": lap.driver.code,
        "lap": lap.number,
        "time_s": lap.lap_time_s,
        "time": fmt.lap_time(lap.lap_time_s),
        "compound": lap.compound,
        "tyre_life": lap.tyre_life,
    }


TRACE_LABELS = {
    "speed_kph": ("Speed", "km/h"),
    "throttle_pct": ("Throttle", "%"),
    "brake": ("Brake", "on/off"),
}


def _trace_chart(race, pair, traces, summaries, channel, chart_type) -> dict:
    label, unit = TRACE_LABELS[channel]
    a, b = pair["codes"]
    numbers = {}
    for code in (a, b):
        s = summaries[code]
        if channel == "speed_kph":
            numbers[code] = f"top {s['top_speed_kph']} km/h, lowest {s['min_speed_kph']} km/h"
        elif channel == "throttle_pct":
            numbers[code] = f"full throttle {s['full_throttle_pct']}% of the lap"
        else:
            numbers[code] = f"braking {s['braking_pct']}% of the lap"
    return {
        "chart_type": chart_type,
        "title": f"{label} over the lap",
        "channel": channel,
        "unit": unit,
        "series": [
            {"code": c, "distance": traces[c]["distance_m"], "values": traces[c][channel]}
            for c in (a, b)
        ],
        "table": _trace_table(traces, (a, b), channel),
        "context": _context(
            race,
            chart_type,
            channel=label.lower(),
            drivers=[a, b],
            laps=[lap["lap"] for lap in pair["laps"]],
            compounds=[lap["compound"] for lap in pair["laps"]],
            numbers=numbers,
        ),  # fmt: skip
    }


def _trace_table(traces, codes, channel, step: float = 250.0) -> list[dict]:
    """The trace every `step` metres (a screen-reader table of 360 rows helps nobody)."""
    rows = []
    length = min(traces[c]["distance_m"][-1] for c in codes)
    mark = 0.0
    while mark <= length:
        values = []
        for c in codes:
            t = traces[c]
            values.append(_value_at(t["distance_m"], t[channel], mark))
        rows.append({"distance": int(mark), "values": values})
        mark += step
    return rows


def _value_at(distances, values, mark):
    for d, v in zip(distances, values, strict=True):
        if d >= mark:
            return v
    return values[-1]


def _delta_chart(race, pair, traces, laps) -> dict:
    a, b = pair["codes"]
    points = selectors.delta_time(
        reference=traces[a], other=traces[b], lap_times=(laps[a].lap_time_s, laps[b].lap_time_s)
    )
    final = laps[b].lap_time_s - laps[a].lap_time_s
    largest = max(points, key=lambda p: abs(p[1]), default=(0, 0))
    numbers = {
        "lap time difference": f"{b} {fmt.signed(final)} against {a}",
        "largest gap on the lap": f"{fmt.signed(largest[1])} at {largest[0]:.0f} m",
    }
    table = [
        {"distance": int(d), "delta": fmt.signed(v)} for d, v in points[:: len(points) // 20 or 1]
    ]
    return {
        "chart_type": "delta",
        "title": f"Delta time: {b} against {a}",
        "points": points,
        "table": table,
        "context": _context(
            race,
            "delta",
            drivers=[a, b],
            laps=[lap["lap"] for lap in pair["laps"]],
            compounds=[lap["compound"] for lap in pair["laps"]],
            numbers=numbers,
        ),  # fmt: skip
    }


def _sectors_chart(race, pair, laps) -> dict:
    a, b = pair["codes"]
    table = selectors.sector_table(laps=[laps[a], laps[b]])
    rows = []
    numbers = {}
    for row in table["rows"]:
        cells = [
            {"text": fmt.lap_time(row[c]), "seconds": row[c], "fastest": c in row["fastest"]}
            for c in ("sector1_s", "sector2_s", "sector3_s", "lap_time_s")
        ]
        rows.append({**row, "cells": cells})
        numbers[row["code"]] = " / ".join(c["text"] for c in cells)
    return {
        "chart_type": "sectors",
        "title": "Sectors on the fastest laps",
        "rows": rows,
        "context": _context(
            race,
            "sectors",
            drivers=[a, b],
            laps=[lap["lap"] for lap in pair["laps"]],
            compounds=[lap["compound"] for lap in pair["laps"]],
            numbers=numbers,
        ),  # fmt: skip
    }
