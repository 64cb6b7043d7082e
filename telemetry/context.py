"""The assistant's race knowledge: the `race` universe and the `telemetry.facts` context source.

Registered from TelemetryConfig.ready() through chat's registries (chat.reply.universes); chat
never imports this module, so the assistant works with `telemetry` out of INSTALLED_APPS.

- The universe's loader gives every race question the same short summary: what is loaded (and
  that nothing else is), the podium, the fastest lap, pole, retirements.
- The context source reads the question (and the chart the visitor asks about, if any), finds the
  drivers, laps, sectors, compounds and stints it names, and returns the matching facts as a
  compact table, cut to what the universe's token budget leaves after the summary. The chart's
  context is read for its ids only (race, drivers, laps); every number comes from the database.
- A question about data that is not loaded (another race, season, practice, live timing) gets a
  note saying so, for an honest answer ("I have the 2023 Bahrain race only").
"""

from __future__ import annotations

from chat.providers.base import estimate_tokens
from chat.reply.universes import (
    ContextPart,
    ContextRequest,
    Universe,
    context_source_register,
    universe_register,
)
from telemetry import formatting as fmt
from telemetry import selectors
from telemetry.book import DriverFacts, Headline, RaceBook, book_get, headlines_get
from telemetry.exceptions import UnknownRace
from telemetry.question import Query, fold, query_parse

UNIVERSE = "race"
SOURCE = "telemetry.facts"
TOKEN_BUDGET = 900
SUMMARY_PRIORITY = 40
FACTS_PRIORITY = 70
MAX_DRIVER_ROWS = 8
SOURCE_DEADLINE = 2.0  # seconds
CHART_KINDS = {
    "lap_times": {"lap_times"},
    "positions": {"general", "lap_times"},
    "strategy": {"strategy"},
    "pit_stops": {"strategy"},
    "weather": {"weather"},
    "speed_trace": {"technical", "comparison"},
    "comparison": {"technical", "comparison"},
    "delta": {"comparison", "sectors"},
    "sectors": {"sectors", "comparison"},
}

# Labelled questions the intent router learns the race universe by (`intent: question`), by
# the query types the facts source answers.
EXAMPLES = tuple(
    f"{intent}: {question}"
    for intent, questions in {
        "race_general": (
            "Who won the Bahrain Grand Prix?",
            "Who finished on the podium?",
            "How many points did Aston Martin score?",
            "Who gained the most positions from the grid?",
            "Why did Charles Leclerc retire?",
        ),
        "lap_times": (
            "Who set the fastest lap of the race?",
            "What was Leclerc's lap time on lap 20?",
            "How consistent were Ferrari's lap times?",
            "How much slower was Pérez than Verstappen on average?",
        ),
        "sectors": (
            "Who was fastest in the first sector?",
            "Why was Verstappen faster than Pérez in sector 2?",
            "Compare the sector times of Hamilton and Russell",
        ),
        "comparison": (
            "Compare Sainz and Alonso's fastest laps",
            "Where on the lap does Verstappen gain time on Perez?",
            "What is the delta time between the two drivers?",
            "How did Alonso get past Hamilton?",
        ),
        "strategy": (
            "How many pit stops did Alonso make?",
            "What tyres did Hamilton start on?",
            "What was Verstappen's strategy?",
            "Which drivers used the medium tyre?",
            "When did Red Bull pit their drivers?",
            "How long was Norris's pit stop?",
        ),
        "current_session": (
            "What is happening in the race right now?",
            "Which session is this data from?",
            "Was there a safety car in the race?",
        ),
        "technical": (
            "Which driver had the highest top speed?",
            "Did Zhou use DRS on his fastest lap?",
            "Explain this speed trace",
            "Where does Sainz brake for turn 1?",
            "What was the track temperature during the race?",
        ),
        "historical": (
            "Has Verstappen won in Bahrain before?",
            "Who won the Formula 1 championship last year?",
            "How does this race compare with the 2022 Bahrain Grand Prix?",
        ),
    }.items()
    for question in questions
)


def register() -> None:
    """Add the `race` universe and the facts source to chat (TelemetryConfig.ready())."""
    universe_register(
        Universe(
            key=UNIVERSE,
            label="Formula 1 race",
            intro="Ask about the Formula 1 races loaded here: results, lap times, sectors, "
            "tyre strategies, pit stops and car telemetry.",
            token_budget=TOKEN_BUDGET,
            loader=race_summary,
            examples=EXAMPLES,
            category="",
            order=60,
            # The chart's ids only: its numbers are rebuilt from the database (telemetry.facts).
            context_keys=("chart_type", "race", "session", "drivers", "laps", "compounds"),
        )
    )
    # The first question after a start or an import builds the race in memory (about 0.3 s);
    # later ones take a few milliseconds.
    context_source_register(SOURCE, race_facts, universes=(UNIVERSE,), deadline=SOURCE_DEADLINE)


# --- The universe's summary ------------------------------------------------------------------


def race_summary(request: ContextRequest | None = None) -> ContextPart:
    """What is loaded and the race's headline facts (the same for every question)."""
    return ContextPart(
        source="telemetry.summary",
        title="Formula 1 data",
        text=summary_text(headlines_get()),
        priority=SUMMARY_PRIORITY,
    )


def summary_text(headlines: list[Headline]) -> str:
    if not headlines:
        return (
            "No Formula 1 race data is loaded on this site, so there are no race facts. Say so "
            "plainly and do not answer race questions from memory."
        )
    latest = headlines[0]
    loaded = ", ".join(h.label for h in headlines)
    lines = [
        f"Loaded: {loaded}. Nothing else is loaded (no other race, season, practice "
        "or live session). Times are m:ss.sss, gaps are to the winner.",
        f"{latest.label}: round {latest.round_number}, {latest.location}, {latest.country}, "
        f"{latest.date}, {latest.total_laps} laps.",
        "Podium: " + " | ".join(_podium_cell(row) for row in latest.podium),
    ]
    if latest.fastest:
        f = latest.fastest
        lines.append(
            f"Fastest lap: {f['code']} {f['name']} {fmt.lap_time(f['seconds'])} on lap {f['lap']}."
        )
    if latest.pole:
        lines.append(f"Pole: {latest.pole['code']} {fmt.lap_time(latest.pole['seconds'])}.")
    if latest.retired:
        lines.append(
            "Retired: "
            + ", ".join(
                f"{r['code']} ({r['status']}, after {r['laps']} laps)" for r in latest.retired
            )
            + "."
        )
    return "\n".join(lines)


def _podium_cell(row: dict) -> str:
    if row["position"] == 1:
        time = fmt.race_time(row["time_or_gap_s"])
    elif row["time_or_gap_s"] is not None:
        time = fmt.gap(row["time_or_gap_s"])
    else:
        time = row["status"]
    return f"P{row['position']} {row['code']} {row['name']} ({row['team']}) {time}"


def _books() -> list[RaceBook]:
    books = []
    for event in selectors.event_list():
        try:
            books.append(book_get(event.key))
        except UnknownRace:
            continue
    return books


def _result_cell(d: DriverFacts) -> str:
    if d.position == 1:
        time = fmt.race_time(d.time_or_gap_s)
    elif d.time_or_gap_s is not None:
        time = fmt.gap(d.time_or_gap_s)
    else:
        time = d.status
    return f"P{d.position} {d.code} {d.name} ({d.team}) {time}"


# --- The per-question facts ------------------------------------------------------------------


def race_facts(request: ContextRequest) -> ContextPart:
    """The facts the question (and the chart it is about) needs, within the budget."""
    books = _books()
    if not books:
        return ContextPart(SOURCE, "Race facts", summary_text([]), FACTS_PRIORITY)
    book = _book_for(request, books)
    seasons = {b.season for b in books}
    query = query_parse(request.question, book, seasons=seasons)
    query.unloaded = [u for u in query.unloaded if not _names_loaded(u, books)]
    chart = _chart_merge(request.context, book, query)
    budget = TOKEN_BUDGET - estimate_tokens(summary_text(headlines_get())) - 8
    lines = facts_lines(book, query, chart=chart, books=books)
    return ContextPart(
        source=SOURCE,
        title=f"Facts: {book.label}",
        text=fit(lines, budget),
        priority=FACTS_PRIORITY,
    )


def fit(lines: list[str], budget: int) -> str:
    """Whole lines, in order, while they fit in `budget` tokens."""
    kept, used = [], 0
    for line in lines:
        cost = estimate_tokens(line) + 1
        if used + cost > budget:
            continue  # a later, shorter line may still fit
        kept.append(line)
        used += cost
    return "\n".join(kept)


def _book_for(request: ContextRequest, books: list[RaceBook]) -> RaceBook:
    """The race the chart shows, else the one the question names, else the latest."""
    wanted = request.context.get("race") if isinstance(request.context, dict) else None
    for book in books:
        if isinstance(wanted, str) and book.key == wanted:
            return book
    text = fold(request.question)
    for book in books:
        names = (book.location, book.country, book.name.removeprefix(f"{book.season} "))
        if any(n and fold(n) in text for n in names) and (
            str(book.season) in text or len(books) == 1
        ):
            return book
    return books[0]


def _names_loaded(term: str, books: list[RaceBook]) -> bool:
    return any(
        term in fold(f"{b.name} {b.location} {b.country}") or term == str(b.season) for b in books
    )


def _chart_merge(context, book: RaceBook, query: Query) -> dict | None:
    """Read the chart's ids (never its numbers), check them against the book, add them to the
    query. Returns what was kept, or None when the question comes with no chart."""
    if not isinstance(context, dict) or not context.get("chart_type"):
        return None
    chart_type = str(context.get("chart_type"))[:40]
    codes = [c.upper() for c in _list(context.get("drivers"), str) if c.upper() in book.drivers]
    laps = [n for n in _list(context.get("laps"), int) if 1 <= n <= book.total_laps]
    for code in codes:
        if code not in query.drivers:
            query.drivers.append(code)
    query.laps = sorted(set(query.laps) | set(laps)) if chart_type == "lap_times" else query.laps
    query.kinds |= CHART_KINDS.get(chart_type, set())
    if len(query.drivers) >= 2 and chart_type in ("delta", "sectors", "speed_trace", "comparison"):
        query.kinds.add("comparison")
    return {"chart_type": chart_type, "drivers": codes, "laps": laps}


def _list(value, kind) -> list:
    items = value if isinstance(value, list) else []
    return [v for v in items[:30] if isinstance(v, kind) and not isinstance(v, bool)]


def facts_lines(book: RaceBook, query: Query, *, chart: dict | None, books) -> list[str]:
    """Every fact line the query calls for, most needed first."""
    lines = _note_lines(book, query, books)
    if chart:
        lines.append(_chart_line(book, chart))
    named = query.drivers[:MAX_DRIVER_ROWS]
    if named:
        lines.append("Driver | team | result | grid | race time | best lap | pit stops")
        lines += [_driver_row(book.drivers[c]) for c in named]
    for kind, build in SECTIONS:
        if kind in query.kinds:
            lines += build(book, query)
    if not named and not (query.kinds - {"current", "historical"}):
        lines += _general(book, query)
    return lines


def _note_lines(book: RaceBook, query: Query, books) -> list[str]:
    short = book.name.replace(" Grand Prix", "")
    loaded = ", ".join(b.label for b in books)
    notes = []
    if query.unloaded:
        asked = ", ".join(dict.fromkeys(query.unloaded))
        notes.append(
            f"NOT LOADED: the question asks about {asked}, which is not in the data here. Say "
            f'so plainly ("I have the {short} race only") and do not answer from memory. '
            f"Loaded: {loaded}."
        )
    elif "historical" in query.kinds:
        notes.append(
            f"Only {loaded} is loaded: nothing about other races, seasons or history. For that "
            f'part, say "I have the {short} race only" rather than answer from memory.'
        )
    if "current" in query.kinds:
        notes.append(
            f"Nothing is live: the loaded session is the {book.label} of {book.date}, "
            "imported after it ended."
        )
    return notes


def _chart_line(book: RaceBook, chart: dict) -> str:
    drivers = ", ".join(chart["drivers"]) or "all drivers"
    laps = f", laps {', '.join(map(str, chart['laps']))}" if chart["laps"] else ""
    return (
        f"The visitor asks about the {chart['chart_type'].replace('_', ' ')} chart of the "
        f"{book.label} ({drivers}{laps}); the facts below are from the database."
    )


def _driver_row(d: DriverFacts) -> str:
    result = (
        f"P{d.position}"
        if d.classified != "R"
        else f"retired ({d.status}) after {d.laps_done} laps"
    )
    time = _result_cell(d).rsplit(")", 1)[-1].strip() if d.classified != "R" else "–"
    best = f"{fmt.lap_time(d.best_lap.lap_time_s)} (lap {d.best_lap.number})" if d.best_lap else "–"
    stops = f"{len(d.stops)} (laps {', '.join(str(s['lap']) for s in d.stops)})" if d.stops else "0"
    return (
        f"{d.code} {d.name} | {d.team} | {result}, {d.points:g} pts | "
        f"grid {d.grid or 'pit lane'} | {time} | {best} | {stops}"
    )


# --- Sections by kind of question ------------------------------------------------------------


def _general(book: RaceBook, query: Query) -> list[str]:
    rows = [_result_cell(d) + f", {d.points:g} pts" for d in book.drivers.values() if d.points]
    lines = ["Points finishers: " + " | ".join(rows)]
    others = [d for d in book.drivers.values() if not d.points]
    lines.append(
        "Others: "
        + ", ".join(
            f"P{d.position} {d.code} ({'retired, ' if d.classified == 'R' else ''}{d.status})"
            for d in others
        )
    )
    gained = sorted(
        (d for d in book.drivers.values() if d.grid and d.classified != "R"),
        key=lambda d: d.position - d.grid,
    )
    if gained:
        g = gained[0]
        lines.append(f"Most places gained: {g.code} from grid {g.grid} to P{g.position}.")
    return lines


def _lap_times(book: RaceBook, query: Query) -> list[str]:
    lines = []
    codes = query.drivers or []
    for n in query.laps[:4]:
        lines.append(_lap_line(book, n, codes))
    if query.lap_range and codes:
        first, last = query.lap_range
        for code in codes[:4]:
            times = [
                lap.lap_time_s for n, lap in book.drivers[code].laps.items()
                if first <= n <= last and lap.lap_time_s
            ]  # fmt: skip
            if times:
                lines.append(
                    f"{code} laps {first}-{last}: best {fmt.lap_time(min(times))}, average "
                    f"{fmt.lap_time(sum(times) / len(times))} over {len(times)} laps."
                )
    for code in codes[:4]:
        lines.append(_pace_line(book.drivers[code]))
    top = book.fastest_laps[:5]
    lines.append(
        "Fastest laps of the race: "
        + ", ".join(
            f"{i} {lap.driver.code} {fmt.lap_time(lap.lap_time_s)} (lap {lap.number}, "
            f"{lap.compound.lower()})"
            for i, lap in enumerate(top, 1)
        )
    )
    return lines


def _lap_line(book: RaceBook, number: int, codes: list[str]) -> str:
    rows = []
    drivers = [book.drivers[c] for c in codes] or sorted(
        (d for d in book.drivers.values() if number in d.laps),
        key=lambda d: d.laps[number].position or 99,
    )[:10]
    for d in drivers:
        lap = d.laps.get(number)
        if lap is None:
            rows.append(f"{d.code} did not run it")
            continue
        extra = " pit in" if lap.pit_in_session_s else " pit out" if lap.pit_out_session_s else ""
        rows.append(
            f"{d.code} {fmt.lap_time(lap.lap_time_s)} P{lap.position or '?'} "
            f"{lap.compound.lower()} ({lap.tyre_life} laps old){extra}"
        )
    return f"Lap {number}: " + "; ".join(rows)


def _pace_line(d: DriverFacts) -> str:
    parts = []
    for stint in d.stints:
        times = [
            lap.lap_time_s for lap in d.green_laps()
            if stint["first_lap"] <= lap.number <= stint["last_lap"]
        ]  # fmt: skip
        if times:
            times.sort()
            parts.append(
                f"stint {stint['stint']} {stint['compound'].lower()}: median "
                f"{fmt.lap_time(times[len(times) // 2])}"
            )
    pace = d.median_pace()
    return (
        f"{d.code} race pace (green laps, no pit laps): median {fmt.lap_time(pace)}; "
        + "; ".join(parts)
    )


def _sectors(book: RaceBook, query: Query) -> list[str]:
    lines = [
        "Fastest sectors of the race: "
        + ", ".join(
            f"S{n} {code} {fmt.lap_time(seconds)} (lap {lap})"
            for n, (code, seconds, lap) in sorted(book.sector_bests.items())
        )
    ]
    for code in query.drivers[:4]:
        d = book.drivers[code]
        best = ", ".join(
            f"S{n} {fmt.lap_time(s)} (lap {lap})" for n, (s, lap) in sorted(d.best_sectors.items())
        )
        lines.append(f"{code} best sectors: {best}.")
        if d.best_lap:
            lap = d.best_lap
            lines.append(
                f"{code} sectors on fastest lap {lap.number}: S1 {fmt.lap_time(lap.sector1_s)}, "
                f"S2 {fmt.lap_time(lap.sector2_s)}, S3 {fmt.lap_time(lap.sector3_s)}."
            )
    return lines


def _comparison(book: RaceBook, query: Query) -> list[str]:
    if len(query.drivers) < 2:
        return []
    a, b = (book.drivers[c] for c in query.drivers[:2])
    lines = [f"{a.code} against {b.code}:"]
    if a.best_lap and b.best_lap:
        diff = b.best_lap.lap_time_s - a.best_lap.lap_time_s
        lines.append(
            f"best laps {fmt.lap_time(a.best_lap.lap_time_s)} vs "
            f"{fmt.lap_time(b.best_lap.lap_time_s)}: {_quicker(a.code, b.code, diff)}."
        )
    for n in (1, 2, 3):
        if n in a.best_sectors and n in b.best_sectors:
            diff = b.best_sectors[n][0] - a.best_sectors[n][0]
            lines.append(
                f"best S{n} {fmt.lap_time(a.best_sectors[n][0])} vs "
                f"{fmt.lap_time(b.best_sectors[n][0])}: {_quicker(a.code, b.code, diff)}."
            )
    pa, pb = a.median_pace(), b.median_pace()
    if pa and pb:
        lines.append(
            f"median race pace {fmt.lap_time(pa)} vs {fmt.lap_time(pb)}: "
            f"{_quicker(a.code, b.code, pb - pa)} a lap."
        )
    lines.append(f"result P{a.position} vs P{b.position}; grid {a.grid} vs {b.grid}.")
    if a.telemetry and b.telemetry:
        lines += _telemetry_pair(a, b)
    return lines


def _quicker(a: str, b: str, diff: float) -> str:
    if abs(diff) < 0.0005:
        return "level"
    return f"{a if diff > 0 else b} quicker by {abs(diff):.3f}s"


def _telemetry_pair(a: DriverFacts, b: DriverFacts) -> list[str]:
    ta, tb = a.telemetry, b.telemetry
    la, lb = a.telemetry_lap, b.telemetry_lap
    return [
        f"telemetry laps {la.number} ({la.compound.lower()}, {fmt.lap_time(la.lap_time_s)}) vs "
        f"{lb.number} ({lb.compound.lower()}, {fmt.lap_time(lb.lap_time_s)}): top speed "
        f"{ta['top_speed_kph']} vs {tb['top_speed_kph']} km/h, lowest {ta['min_speed_kph']} vs "
        f"{tb['min_speed_kph']} km/h, full throttle {ta['full_throttle_pct']}% vs "
        f"{tb['full_throttle_pct']}%, braking {ta['braking_pct']}% vs {tb['braking_pct']}%, "
        f"DRS open {ta['drs_open_pct']}% vs {tb['drs_open_pct']}% of the lap.",
    ]


def _strategy(book: RaceBook, query: Query) -> list[str]:
    codes = query.drivers[:6]
    lines = [_stint_line(book.drivers[c], detail=True) for c in codes]
    if not codes:
        lines += [_stint_line(d, detail=False) for d in book.drivers.values()]
    for compound in query.compounds:
        users = [
            f"{d.code} (laps {s['first_lap']}-{s['last_lap']})"
            for d in book.drivers.values()
            for s in d.stints
            if s["compound"] == compound
        ]
        lines.append(f"{compound.lower()} tyres used by: " + (", ".join(users) or "nobody") + ".")
    stops = [(len(d.stops), d.code) for d in book.drivers.values()]
    most = max(n for n, _ in stops) if stops else 0
    lines.append(f"Most pit stops: {most}, by {', '.join(c for n, c in stops if n == most)}.")
    timed = [
        (s["duration_s"], d.code, s["lap"])
        for d in book.drivers.values()
        for s in d.stops
        if s["duration_s"]
    ]
    if timed:
        quick = min(timed)
        lines.append(f"Shortest pit lane time: {quick[1]} {quick[0]:.3f}s on lap {quick[2]}.")
    return lines


def _stint_line(d: DriverFacts, *, detail: bool) -> str:
    if not detail:
        runs = " ".join(f"{s['compound'][0]}{s['first_lap']}-{s['last_lap']}" for s in d.stints)
        return f"{d.code}: {runs}; {len(d.stops)} stops"
    runs = "; ".join(
        f"stint {s['stint']} {s['compound'].lower()} laps {s['first_lap']}-{s['last_lap']} "
        f"({s['laps']} laps, {'new' if s['fresh'] else 'used'} tyres)"
        for s in d.stints
    )
    stops = ", ".join(
        f"lap {s['lap']} ({fmt.seconds(s['duration_s'])} in the pit lane)" for s in d.stops
    )
    return f"{d.code} strategy: {runs}. Pit stops: {len(d.stops)}{': ' + stops if stops else ''}."


def _technical(book: RaceBook, query: Query) -> list[str]:
    lines = []
    for code in query.drivers[:4]:
        d = book.drivers[code]
        if d.telemetry:
            t, lap = d.telemetry, d.telemetry_lap
            lines.append(
                f"{code} car telemetry, fastest lap {lap.number} ({fmt.lap_time(lap.lap_time_s)}): "
                f"top speed {t['top_speed_kph']} km/h, lowest {t['min_speed_kph']} km/h, full "
                f"throttle {t['full_throttle_pct']}%, braking {t['braking_pct']}%, DRS open "
                f"{t['drs_open_pct']}% of the lap, max {t['max_rpm']} rpm, "
                f"top gear {t['top_gear']}."
            )
        trap = next((row for row in book.speed_trap if row[0] == code), None)
        if trap:
            lines.append(f"{code} best speed trap: {trap[1]} km/h (lap {trap[2]}).")
    lines.append(
        "Highest speed trap: "
        + ", ".join(f"{c} {kph} km/h (lap {n})" for c, kph, n in book.speed_trap[:3])
        + "."
    )
    missing = [c for c in query.drivers if c not in book.telemetry_codes]
    lines.append(
        "Car telemetry (speed, throttle, brake, gear, rpm, DRS) is loaded for the fastest laps of "
        f"{', '.join(book.telemetry_codes) or 'no driver'} only"
        + (f"; not for {', '.join(missing)}." if missing else ".")
    )
    return lines


def _weather(book: RaceBook, query: Query) -> list[str]:
    w = book.weather
    if not w:
        return ["No weather data is loaded for this race."]
    parts = []
    if w["air"]:
        parts.append(_range_text("air", w["air"]))
    if w["track"]:
        parts.append(_range_text("track", w["track"]))
    if w["humidity"]:
        parts.append(f"humidity {w['humidity'][0]:g}-{w['humidity'][1]:g}%")
    if w["wind_max"] is not None:
        parts.append(f"wind up to {w['wind_max']:g} m/s")
    parts.append("rain" if w["rain"] else "no rain")
    return ["Weather during the race: " + ", ".join(parts) + "."]


def _range_text(name: str, values: tuple) -> str:
    low, high, start, end = values
    return f"{name} {low:g}-{high:g} °C ({start:g} at the start, {end:g} at the end)"


def _incidents(book: RaceBook, query: Query) -> list[str]:
    events = [
        f"{t['message'] or t['status']} on lap {_lap_at(book, t['minute'] * 60)}"
        for t in book.track_status
        if t["status"] != "1"
    ]
    lines = ["Track status: " + (", ".join(events) if events else "green all race") + "."]
    retired = [d for d in book.drivers.values() if d.classified == "R"]
    if retired:
        lines.append(
            "Retirements: "
            + ", ".join(f"{d.code} {d.name} ({d.status}) after {d.laps_done} laps" for d in retired)
            + "."
        )
    deleted = [
        (d.code, n) for d in book.drivers.values() for n, lap in d.laps.items() if lap.deleted
    ]
    codes = sorted({c for c, _ in deleted})
    named = [f"{c} lap {n}" for c, n in deleted if c in query.drivers]
    lines.append(
        f"Laps deleted for track limits: {len(deleted)} ({', '.join(codes)})"
        + (f"; {', '.join(named)}" if named else "")
        + "."
    )
    return lines


def _lap_at(book: RaceBook, seconds: float) -> str:
    leader = next(iter(book.drivers.values()))
    for number, lap in sorted(leader.laps.items()):
        if lap.end_session_s and seconds <= lap.end_session_s:
            return (
                str(number)
                if lap.start_session_s and seconds >= lap.start_session_s
                else f"{number} (before)"
            )
    return "after the finish"


def _qualifying(book: RaceBook, query: Query) -> list[str]:
    codes = query.drivers[:6] or [
        c for c, d in book.drivers.items() if d.qualifying and d.qualifying["position"] <= 3
    ]
    rows = []
    for code in codes:
        q = book.drivers[code].qualifying
        if q:
            best = q["q3_s"] or q["q2_s"] or q["q1_s"]
            grid = book.drivers[code].grid
            rows.append(f"{code} qualified P{q['position']} ({fmt.lap_time(best)}), grid {grid}")
    return ["Qualifying: " + "; ".join(rows) + "."] if rows else []


SECTIONS = (
    ("comparison", _comparison),
    ("sectors", _sectors),
    ("lap_times", _lap_times),
    ("strategy", _strategy),
    ("technical", _technical),
    ("incidents", _incidents),
    ("weather", _weather),
    ("qualifying", _qualifying),
    ("general", _general),
)
