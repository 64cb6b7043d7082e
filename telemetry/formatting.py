"""How race numbers are written, the same on the pages and in the assistant's prompt."""

from __future__ import annotations


def lap_time(seconds: float | None) -> str:
    """93.996 -> "1:33.996"; under a minute "42.414"; None -> "–"."""
    if seconds is None:
        return "–"
    minutes, millis = divmod(round(seconds * 1000), 60_000)
    return f"{minutes}:{millis / 1000:06.3f}" if minutes else f"{millis / 1000:.3f}"


def race_time(seconds: float | None) -> str:
    """5636.736 -> "1:33:56.736"."""
    if seconds is None:
        return "–"
    hours, rest = divmod(round(seconds * 1000), 3_600_000)
    minutes, millis = divmod(rest, 60_000)
    return f"{hours}:{minutes:02d}:{millis / 1000:06.3f}"


def gap(seconds: float | None) -> str:
    """11.987 -> "+11.987s"."""
    return "–" if seconds is None else f"+{seconds:.3f}s"


def seconds(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}s"


def signed(value: float, digits: int = 3) -> str:
    return f"{value:+.{digits}f}s"
