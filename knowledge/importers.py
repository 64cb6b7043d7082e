"""Read knowledge-base sources into plain records; no database here.

Formats:
- JSONL, one entry per line: `{id, title, body, category?, keywords?, url?, service?,
  attribution?, source?, active?}` (extra fields such as StackFAQ's `thread_id` are ignored).
- CSV with a header row and the same column names.
- A folder of Markdown files with YAML front matter (`title`, `category`, `keywords`, `url`,
  `service`, `id`, `active`); the id defaults to the file's path in the folder, the title to the
  first `# heading`.
- A YAML site file with `services:` and `navigation:` lists.
Every malformed row becomes a `MalformedRecord` naming its file and line; the others still load.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from knowledge.exceptions import ImportSourceError, MalformedRecord

ENTRY_FIELDS = ("category", "title", "body", "keywords", "url", "service", "attribution")
MARKDOWN_SUFFIXES = {".md", ".markdown"}
FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*\r?\n?", re.DOTALL)
HEADING = re.compile(r"^#\s+(.+?)\s*#*\s*$", re.MULTILINE)


@dataclass(frozen=True)
class EntryRecord:
    source: str
    external_id: str
    title: str
    body: str
    origin: str
    category: str = ""
    keywords: str = ""
    url: str = ""
    service: str = ""  # a service slug
    attribution: str = ""
    is_active: bool = True


@dataclass(frozen=True)
class ServiceRecord:
    slug: str
    name: str
    origin: str
    description: str = ""
    price: Decimal | None = None
    currency: str = "USD"
    duration: timedelta | None = None
    availability: str = ""
    url: str = ""
    is_active: bool = True
    position: int = 0


@dataclass(frozen=True)
class NavigationRecord:
    url_pattern: str
    title: str
    description: str
    origin: str
    is_active: bool = True


@dataclass
class Batch:
    """Everything read from the given paths, and what could not be read."""

    entries: list[EntryRecord] = field(default_factory=list)
    services: list[ServiceRecord] = field(default_factory=list)
    navigation: list[NavigationRecord] = field(default_factory=list)
    errors: list[MalformedRecord] = field(default_factory=list)
    sources: set[str] = field(default_factory=set)  # entry sets these paths define
    has_services: bool = False
    has_navigation: bool = False


def read_paths(paths: list[Path], *, source: str = "", attribution: str = "") -> Batch:
    batch = Batch()
    for path in paths:
        read_path(Path(path), batch, source=source, attribution=attribution)
    return batch


def read_path(path: Path, batch: Batch, *, source: str = "", attribution: str = "") -> None:
    """Add what `path` holds to `batch`. Raise ImportSourceError when it cannot be read at all."""
    defaults = {"source": source, "attribution": attribution}
    if path.is_dir():
        defaults["source"] = source or path.name
        batch.sources.add(defaults["source"])
        rows = _markdown_folder(path)
    elif not path.is_file():
        raise ImportSourceError(f"{path}: no such file or folder")
    elif path.suffix in (".yaml", ".yml"):
        _site_file(path, batch)
        return
    elif path.suffix in (".jsonl", ".csv"):
        defaults["source"] = source or path.stem
        batch.sources.add(defaults["source"])
        rows = _jsonl(path) if path.suffix == ".jsonl" else _csv(path)
    else:
        raise ImportSourceError(f"{path}: unknown format (use .jsonl, .csv, .yaml or a folder)")
    for origin, row in rows:
        try:
            if isinstance(row, MalformedRecord):
                raise row
            batch.entries.append(entry_record(row, origin=origin, **defaults))
        except MalformedRecord as exc:
            batch.errors.append(exc)


def entry_record(row: Any, *, origin: str, source: str, attribution: str = "") -> EntryRecord:
    """Validate one row (a mapping) into an EntryRecord, or raise MalformedRecord."""
    if not isinstance(row, dict):
        raise MalformedRecord(origin, "expected an object with id, title and body")
    values = {name: _text(row.get(name), origin, name) for name in ENTRY_FIELDS}
    external_id = _text(row.get("id", row.get("external_id")), origin, "id")
    missing = [n for n, v in (("id", external_id), ("title", values["title"])) if not v]
    if not values["body"]:
        missing.append("body")
    if missing:
        raise MalformedRecord(origin, f"missing {', '.join(missing)}")
    if len(values["title"]) > 300 or len(external_id) > 200:
        raise MalformedRecord(origin, "title (300) or id (200) too long")
    return EntryRecord(
        source=_text(row.get("source"), origin, "source") or source,
        external_id=external_id,
        origin=origin,
        is_active=_bool(row.get("active", True), origin),
        **{**values, "attribution": values["attribution"] or attribution},
    )


def _text(value: Any, origin: str, name: str) -> str:
    if value is None:
        return ""
    if isinstance(value, list) and name == "keywords":
        return ", ".join(str(v).strip() for v in value if str(v).strip())
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value).strip()
    raise MalformedRecord(origin, f"{name} must be text")


def _bool(value: Any, origin: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "y", ""):
        return True
    if text in ("0", "false", "no", "n"):
        return False
    raise MalformedRecord(origin, f"active must be true or false, not {value!r}")


def _jsonl(path: Path) -> Iterator[tuple[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            origin = f"{path}:{number}"
            if not line.strip():
                continue
            try:
                yield origin, json.loads(line)
            except json.JSONDecodeError as exc:
                yield origin, MalformedRecord(origin, f"invalid JSON ({exc.msg})")


def _csv(path: Path) -> Iterator[tuple[str, Any]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        start = 2
        for row in reader:
            origin = f"{path}:{start}"
            start = reader.line_num + 1
            if None in row or None in row.values():
                yield origin, MalformedRecord(origin, "wrong number of columns")
            else:
                yield origin, row


def _markdown_folder(folder: Path) -> Iterator[tuple[str, Any]]:
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in MARKDOWN_SUFFIXES)
    for path in files:
        origin = f"{path}:1"
        try:
            meta, body = split_front_matter(path.read_text(encoding="utf-8"), origin=str(path))
        except MalformedRecord as exc:
            yield exc.origin, exc
            continue
        row = {"id": path.relative_to(folder).with_suffix("").as_posix(), **meta, "body": body}
        if not row.get("title"):
            heading = HEADING.search(body)
            if heading:
                row["title"] = heading.group(1)
                row["body"] = (body[: heading.start()] + body[heading.end() :]).strip()
        yield origin, row


def split_front_matter(text: str, *, origin: str) -> tuple[dict, str]:
    """Split `---` YAML front matter from a Markdown body."""
    match = FRONT_MATTER.match(text)
    if not match:
        return {}, text.strip()
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", 0) + 2  # after the `---`
        raise MalformedRecord(f"{origin}:{line}", "invalid front matter") from exc
    if not isinstance(meta, dict):
        raise MalformedRecord(f"{origin}:2", "front matter must be a mapping")
    return meta, text[match.end() :].strip()


class _LineLoader(yaml.SafeLoader):
    """A safe loader that remembers the line of every mapping (`__line__`)."""

    def construct_mapping(self, node, deep=False):
        mapping = super().construct_mapping(node, deep=deep)
        mapping["__line__"] = node.start_mark.line + 1
        return mapping


def _site_file(path: Path, batch: Batch) -> None:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader) or {}  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", 0) + 1
        raise ImportSourceError(f"{path}:{line}: invalid YAML") from exc
    if not isinstance(data, dict):
        raise ImportSourceError(f"{path}: expected `services:` and/or `navigation:` lists")
    for key, parse, target in (
        ("services", service_record, batch.services),
        ("navigation", navigation_record, batch.navigation),
    ):
        if key not in data:
            continue
        setattr(batch, f"has_{key}", True)
        for item in data[key] or []:
            origin = f"{path}:{item.get('__line__', 1) if isinstance(item, dict) else 1}"
            try:
                target.append(parse(item, origin=origin))
            except MalformedRecord as exc:
                batch.errors.append(exc)


def service_record(item: Any, *, origin: str) -> ServiceRecord:
    if not isinstance(item, dict) or not item.get("slug") or not item.get("name"):
        raise MalformedRecord(origin, "a service needs slug and name")
    try:
        price = None if item.get("price") in (None, "") else Decimal(str(item["price"]))
        minutes = item.get("duration_minutes")
        duration = None if minutes in (None, "") else timedelta(minutes=int(minutes))
    except (InvalidOperation, ValueError, TypeError) as exc:
        raise MalformedRecord(origin, "price and duration_minutes must be numbers") from exc
    return ServiceRecord(
        slug=str(item["slug"]).strip(),
        name=str(item["name"]).strip(),
        origin=origin,
        description=str(item.get("description") or "").strip(),
        price=price,
        currency=str(item.get("currency") or "USD").upper()[:3],
        duration=duration,
        availability=str(item.get("availability") or "").strip(),
        url=str(item.get("url") or "").strip(),
        is_active=_bool(item.get("active", True), origin),
        position=int(item.get("position") or 0),
    )


def navigation_record(item: Any, *, origin: str) -> NavigationRecord:
    if not isinstance(item, dict) or not all(item.get(k) for k in ("pattern", "title", "help")):
        raise MalformedRecord(origin, "a navigation item needs pattern, title and help")
    return NavigationRecord(
        url_pattern=str(item["pattern"]).strip(),
        title=str(item["title"]).strip(),
        description=str(item["help"]).strip(),
        origin=origin,
        is_active=_bool(item.get("active", True), origin),
    )
