"""What a race question names: drivers (codes, names with or without accents, nicknames, teams),
laps, sectors, compounds, stints, and which kinds of facts it needs.

Plain rules over the words of the question: they are certain where they match, and a question
they do not understand still gets the race summary and the general facts.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from telemetry.book import RaceBook

ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6}
NICKNAMES = {"checo": "PER", "nando": "ALO", "kmag": "MAG", "hulk": "HUL", "alex": "ALB"}
# First names that are also ordinary words in race questions ("max speed").
AMBIGUOUS_FIRST_NAMES = {"max": r"max(?!\s*(?:speed|rpm|throttle|gear|imum|\.|$))"}
COMPOUNDS = {
    "SOFT": r"softs?",
    "MEDIUM": r"mediums?",
    "HARD": r"hards?",
    "INTERMEDIATE": r"inter(?:mediate)?s?",
    "WET": r"wets?|full wets?",
}
KINDS = {
    "lap_times": r"lap ?times?|fastest lap|quickest lap|best lap|slowest|pace|lap record|"
    r"how fast|consisten|average lap|median|purple lap|fastest|quickest",
    "sectors": r"sectors?\b|\bs[123]\b|mini.?sector",
    "comparison": r"compar|\bvs\.?\b|versus|faster than|slower than|quicker than|gap between|"
    r"difference between|against|beat|head.to.head|ahead of|behind",
    "strategy": r"stops?\b|stopped|pit|tyres?|tires?|compounds?|stints?|strateg|undercut|overcut|"
    r"softs?\b|mediums?\b|hards?\b|degradation|\bdeg\b|wear",
    "current": r"\bnow\b|right now|currently|current|\blive\b|at the moment|this session|"
    r"which session|what session|today|latest|happening",
    "technical": r"speed|throttle|brak|\bdrs\b|\brpm\b|gears?\b|telemetry|trap|engine|"
    r"straight|corner|downforce|acceleration|top speed",
    "historical": r"histor|last year|previous (?:year|race|season)|record|\bever\b|all.time|"
    r"championship|standings|season|won (?:here|it) before|career|title|other races?|next race",
    "weather": r"weather|temperature|\btemp|rain|wind|humid|\bhot\b|\bcool|conditions",
    "incidents": r"safety car|\bvsc\b|yellow|flag|retire|\bdnf|crash|incident|penalt|deleted|"
    r"track limits|mechanical|failure|out of the race|didn.t finish",
    "qualifying": r"qualif|pole|\bq[123]\b|grid|started from|starting position",
    "general": r"\bwon\b|\bwin|winner|podium|result|points|finish|classification|position|"
    r"\bp\d+\b|who came|top \d+|top ten|standings|places|positions gained",
}
# Places and events that are not loaded: a question about them gets the honest note.
OTHER_EVENTS = (
    r"monaco|monza|silverstone|\bspa\b|jeddah|saudi|australia|melbourne|miami|imola|barcelona|"
    r"spanish|spain|canad|montreal|austria|hungar|zandvoort|dutch|singapore|suzuka|japan|qatar|"
    r"lusail|austin|\bcota\b|mexic|brazil|interlagos|las vegas|abu dhabi|yas marina|baku|"
    r"azerbaijan|chin(?:a|ese)|shanghai|british|italian|belgian|emilia|\busa\b|united states|"
    r"practice|\bfp[123]\b|sprint|testing|pre-season"
)


def fold(text: str) -> str:
    """Lower case without accents: "Pérez" and "Perez", "Hülkenberg" and "Hulkenberg" match."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


@dataclass
class Query:
    drivers: list[str] = field(default_factory=list)  # codes, in the order named
    teams: list[str] = field(default_factory=list)
    laps: list[int] = field(default_factory=list)
    lap_range: tuple[int, int] | None = None
    sectors: list[int] = field(default_factory=list)
    compounds: list[str] = field(default_factory=list)
    stints: list[int] = field(default_factory=list)
    kinds: set[str] = field(default_factory=set)
    unloaded: list[str] = field(default_factory=list)  # what it asks about that is not loaded


def query_parse(question: str, book: RaceBook, *, seasons: set[int]) -> Query:
    """What `question` names in the race `book`."""
    text = fold(question)
    query = Query()
    query.kinds = {kind for kind, pattern in KINDS.items() if _has(pattern, text)}
    query.drivers, query.teams = _drivers(question, text, book)
    _laps(text, book, query)
    query.sectors = _sectors(text)
    query.compounds = [name for name, pattern in COMPOUNDS.items() if _has(pattern, text)]
    query.stints = _stints(text, book)
    if len(query.drivers) >= 2:
        query.kinds.add("comparison")
    if query.sectors:
        query.kinds.add("sectors")
    query.unloaded = _unloaded(text, seasons)
    return query


def _has(pattern: str, text: str) -> bool:
    return re.search(pattern, text) is not None


def _drivers(question: str, text: str, book: RaceBook) -> tuple[list[str], list[str]]:
    found: list[tuple[int, str]] = []
    teams: list[str] = []
    for code, d in book.drivers.items():
        spots = [m.start() for m in re.finditer(rf"\b{code}\b", question)]  # codes: upper case
        for name in (d.last_name, d.name):
            spots += [m.start() for m in re.finditer(rf"\b{re.escape(fold(name))}\b", text)]
        first = fold(d.first_name)
        pattern = AMBIGUOUS_FIRST_NAMES.get(first, re.escape(first))
        spots += [m.start() for m in re.finditer(rf"\b{pattern}\b", text)] if first else []
        if spots:
            found.append((min(spots), code))
    for nickname, code in NICKNAMES.items():
        match = re.search(rf"\b{nickname}\b", text)
        if match and code in book.drivers:
            found.append((match.start(), code))
    for team, codes in book.teams.items():
        match = _team_match(team, text)
        if match is not None:
            teams.append(team)
            found += [(match + 0.5 + i / 100, c) for i, c in enumerate(codes)]
    ordered = []
    for _, code in sorted(found):
        if code not in ordered:
            ordered.append(code)
    return ordered, teams


def _team_match(team: str, text: str) -> int | None:
    name = fold(team)
    short = re.sub(r"\s+(racing|f1 team|team)$", "", name)
    for alias in {name, short, short.replace(" ", "")}:
        match = re.search(rf"\b{re.escape(alias)}\b", text)
        if match:
            return match.start()
    return None


def _laps(text: str, book: RaceBook, query: Query) -> None:
    total = book.total_laps
    for m in re.finditer(
        r"\blaps?\s+(\d{1,3})(?:\s*(?:-|–|to|and|through)\s*(?:lap\s*)?(\d{1,3}))?", text
    ):
        first, last = int(m.group(1)), int(m.group(2)) if m.group(2) else None
        if last is not None and "and" not in m.group(0):
            query.lap_range = (min(first, last), max(first, last))
        else:
            query.laps += [n for n in (first, last) if n is not None]
    for m in re.finditer(r"\b(\d{1,3})(?:st|nd|rd|th) lap\b", text):
        query.laps.append(int(m.group(1)))
    if re.search(r"\b(first|opening) lap\b|\blap one\b|\bthe start\b", text):
        query.laps.append(1)
    if re.search(r"\b(last|final) lap\b", text):
        query.laps.append(total)
    query.laps = sorted({n for n in query.laps if 1 <= n <= total})
    if query.laps or query.lap_range:
        query.kinds.add("lap_times")


def _sectors(text: str) -> list[int]:
    found = {int(a or b) for a, b in re.findall(r"\bsector\s*([123])\b|\bs([123])\b", text)}
    for word, n in (("first", 1), ("second", 2), ("middle", 2), ("third", 3), ("final", 3),
                    ("last", 3)):  # fmt: skip
        if re.search(rf"\b{word} sector\b", text):
            found.add(n)
    return sorted(found)


def _stints(text: str, book: RaceBook) -> list[int]:
    found = {int(n) for n in re.findall(r"\bstint\s*(\d)\b", text)}
    for word, n in ORDINALS.items():
        if re.search(rf"\b{word} stint\b", text):
            found.add(n)
    return sorted(found)


def _unloaded(text: str, seasons: set[int]) -> list[str]:
    found = [m.group(0) for m in re.finditer(OTHER_EVENTS, text)]
    years = {int(y) for y in re.findall(r"\b(19[5-9]\d|20\d\d)\b", text)}
    found += [str(y) for y in sorted(years - seasons)]
    return found
