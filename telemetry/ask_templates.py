"""The prompts of "Ask AI about this chart", one per chart type, registered with chat's
ask-about registry from TelemetryConfig.ready().

`chart_labels` resolves a chart's context (the race's key, driver codes, lap numbers, compounds)
against the database and writes them out in words; the client's numbers are never used.
"""

from __future__ import annotations

from chat.ask_about import AskAboutTemplate, ask_about_template_register
from chat.exceptions import InvalidInput
from telemetry import selectors
from telemetry.exceptions import UnknownRace

UNIVERSE = "race"
KEEP = ("race", "session", "drivers", "laps", "lap_range", "compounds", "channel")
CHANNELS = {"speed", "throttle", "brake"}
COMPOUNDS = {"SOFT", "MEDIUM", "HARD", "INTERMEDIATE", "WET"}

PROMPTS = {
    "lap_times": (
        "Look at this lap-time chart of {drivers} in the {race} ({laps}). How did their pace "
        "compare, where do tyre wear, pit stops or the safety car show, and who was quickest "
        "when it mattered?",
        "Lap times: {driver_codes}",
    ),
    "positions": (
        "This chart shows the positions of {drivers} lap by lap in the {race}. Explain how and "
        "why their positions changed: starts, overtakes and pit stops.",
        "Positions: {driver_codes}",
    ),
    "strategy": (
        "This is the tyre strategy of the {race}: every driver's stints by compound ({compounds})."
        " Which strategies worked best, and why?",
        "Tyre strategy, {race}",
    ),
    "pit_stops": (
        "This chart shows the time every driver spent in the pit lane in the {race}. Which stops "
        "were quick or slow, and what did they cost?",
        "Pit stops, {race}",
    ),
    "weather": (
        "This chart shows the air and track temperature during the {race}. How did the "
        "conditions change, and how could they have affected tyres and lap times?",
        "Weather, {race}",
    ),
    "speed_trace": (
        "Compare the speed traces of {drivers} on their fastest laps ({laps}) in the {race}. "
        "Where on the lap does each one gain or lose speed, and why?",
        "Speed trace: {driver_codes}",
    ),
    "comparison": (
        "Compare the {channel} traces of {drivers} on their fastest laps ({laps}) in the {race}. "
        "What do the differences say about their driving and their cars?",
        "{channel_title}: {driver_codes}",
    ),
    "delta": (
        "This delta-time graph shows the gap between {drivers} over their fastest laps ({laps}) "
        "in the {race}. Where on the lap is the time gained and lost?",
        "Delta time: {driver_codes}",
    ),
    "sectors": (
        "Compare the sector times of {drivers} on their fastest laps ({laps}) in the {race}. "
        "Who was fastest in each sector, by how much, and why?",
        "Sectors: {driver_codes}",
    ),
}


def chart_labels(context: dict) -> dict[str, str]:
    """The words of a prompt, from the database: race name, driver names, laps, compounds."""
    race = _race(context.get("race"))
    known = {d["code"]: d for d in selectors.race_drivers(session=race.session)}
    codes = [c for c in _strings(context.get("drivers"), upper=True) if c in known]
    total = selectors.lap_count(session=race.session)
    laps = [n for n in _numbers(context.get("laps")) if 1 <= n <= total]
    span = [n for n in _numbers(context.get("lap_range")) if 1 <= n <= total]
    compounds = [c for c in _strings(context.get("compounds"), upper=True) if c in COMPOUNDS]
    channel = str(context.get("channel") or "").lower()
    channel = channel if channel in CHANNELS else "speed"
    many = len(codes) > 4
    return {
        "race": f"{race.event.season} {race.event.name} {race.session.name.lower()}",
        "drivers": "the drivers" if many or not codes else _and([_named(known[c]) for c in codes]),
        "driver_codes": _codes_text(codes) if codes and not many else "all drivers",
        "laps": _laps_text(laps, span, total),
        "compounds": ", ".join(c.lower() for c in compounds) or "all compounds",
        "channel": channel,
        "channel_title": channel.capitalize(),
    }


def _race(key) -> selectors.RaceRef:
    if not isinstance(key, str) or not key:
        latest = selectors.race_latest()
        if latest is None:
            raise InvalidInput("No race is loaded: there is no chart to ask about.")
        return latest
    try:
        return selectors.race_get(key=key)
    except UnknownRace:
        raise InvalidInput(f"There is no race {key[:80]!r} here: reload the page.") from None


def _strings(value, *, upper: bool = False) -> list[str]:
    items = value if isinstance(value, list) else []
    return [str(v)[:20].upper() if upper else str(v)[:20] for v in items[:30] if isinstance(v, str)]


def _numbers(value) -> list[int]:
    items = value if isinstance(value, list) else []
    return [int(v) for v in items[:100] if isinstance(v, int) and not isinstance(v, bool)]


def _codes_text(codes: list[str]) -> str:
    return (" vs " if len(codes) == 2 else ", ").join(codes)


def _named(driver: dict) -> str:
    return f"{driver['name']} ({driver['code']})"


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _laps_text(laps: list[int], span: list[int], total: int) -> str:
    if laps:
        return ("lap " if len(laps) == 1 else "laps ") + _and([str(n) for n in laps])
    if len(span) == 2:
        return f"laps {min(span)} to {max(span)}"
    return f"all {total} laps"


def templates_register() -> None:
    for chart_type, (prompt, title) in PROMPTS.items():
        ask_about_template_register(
            chart_type,
            AskAboutTemplate(
                prompt=prompt, title=title, universe=UNIVERSE, resolve=chart_labels, keep=KEEP
            ),
        )
