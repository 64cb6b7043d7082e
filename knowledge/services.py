"""Writes: entries with their search data, services, navigation help, and imports.

Every write of an entry's text also writes its search data in the same transaction: the vector
(computed before the rows change, so a search never sees an entry without one) and, on
PostgreSQL, the stored tsvector.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from knowledge import embeddings, importers
from knowledge.exceptions import MalformedRecord
from knowledge.models import KnowledgeBaseEntry, NavigationHelp, Service
from knowledge.search.index import mark_stale
from knowledge.search.postgres import search_vector_expression

log = structlog.get_logger(__name__)

EMBED_CHUNK = 512
WRITE_BATCH = 500
ENTRY_TEXT_FIELDS = ("category", "title", "body", "keywords", "url", "attribution", "is_active")


@dataclass
class ImportResult:
    """Counts of one import, and the rows it refused (each names its file and line)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    pruned: int = 0
    errors: list[MalformedRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, other: ImportResult) -> None:
        for name in ("created", "updated", "unchanged", "pruned"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


# --- search data ------------------------------------------------------------------------------
def _embed(entries: Sequence[KnowledgeBaseEntry]) -> None:
    """Set `embedding` on the entries in place, in batches (no-op without the model)."""
    for start in range(0, len(entries), EMBED_CHUNK):
        chunk = entries[start : start + EMBED_CHUNK]
        vectors = embeddings.encode_entries([(e.title, e.body, e.keywords) for e in chunk])
        if vectors is None:  # no model: mark the old vectors stale, the index will redo them
            for entry in entries:
                entry.embedding, entry.embedding_model = None, ""
            return
        for entry, vector in zip(chunk, vectors, strict=True):
            entry.embedding = embeddings.to_bytes(vector)
            entry.embedding_model = embeddings.RECIPE


def _search_data_changed() -> None:
    """Make this process's search index check the version stamp once the write commits."""
    transaction.on_commit(mark_stale)


def _update_search_vectors(ids: Iterable[int]) -> None:
    """Refresh the stored tsvector of these entries (PostgreSQL only)."""
    if connection.vendor != "postgresql":
        return
    ids = list(ids)
    for start in range(0, len(ids), WRITE_BATCH):
        KnowledgeBaseEntry.objects.filter(pk__in=ids[start : start + WRITE_BATCH]).update(
            search_vector=search_vector_expression()
        )


def entry_save(*, entry: KnowledgeBaseEntry) -> KnowledgeBaseEntry:
    """Save an entry (new or edited) with fresh search data."""
    entries_save(entries=[entry])
    log.info("knowledge_entry_saved", entry_id=entry.pk, source=entry.source)
    return entry


def entries_save(*, entries: Sequence[KnowledgeBaseEntry]) -> list[KnowledgeBaseEntry]:
    """Save several entries with fresh search data, embedding them in batches."""
    _embed(entries)
    with transaction.atomic():
        for entry in entries:
            entry.save()
        _update_search_vectors(e.pk for e in entries)
        _search_data_changed()
    return list(entries)


def entries_set_active(*, ids: Sequence[int], active: bool) -> int:
    """(De)activate entries; bumps `updated_at` so the search index notices."""
    with transaction.atomic():
        _search_data_changed()
        return KnowledgeBaseEntry.objects.filter(pk__in=ids).update(
            is_active=active, updated_at=timezone.now()
        )


def entries_embed_stale() -> int:
    """Embed active entries whose vector is missing or from another model; return how many."""
    stale = list(
        KnowledgeBaseEntry.objects.filter(is_active=True)
        .filter(Q(embedding__isnull=True) | ~Q(embedding_model=embeddings.RECIPE))
        .only("pk", "title", "body", "keywords")
    )
    if not stale or not embeddings.available():
        return 0
    _embed(stale)
    KnowledgeBaseEntry.objects.bulk_update(
        stale, ["embedding", "embedding_model"], batch_size=WRITE_BATCH
    )
    log.info("knowledge_entries_embedded", entries=len(stale))
    return len(stale)


def entries_reindex() -> int:
    """Recompute every entry's search data (after a model change or a database move)."""
    entries = list(KnowledgeBaseEntry.objects.only("pk", "title", "body", "keywords"))
    _embed(entries)
    with transaction.atomic():
        if embeddings.available():
            KnowledgeBaseEntry.objects.bulk_update(
                entries, ["embedding", "embedding_model"], batch_size=WRITE_BATCH
            )
        _update_search_vectors(e.pk for e in entries)
        # A new stamp makes every process rebuild its index.
        KnowledgeBaseEntry.objects.filter(pk__in=[e.pk for e in entries[:1]]).update(
            updated_at=timezone.now()
        )
        _search_data_changed()
    return len(entries)


# --- import -----------------------------------------------------------------------------------
def knowledge_import(
    *, paths: Sequence[Path], source: str = "", attribution: str = "", prune: bool = False
) -> ImportResult:
    """Import entries, services and navigation help from files; idempotent.

    A re-import updates changed rows and leaves the others alone. With `prune`, rows of the
    imported sets that are no longer in the files are deleted, unless some rows were malformed
    (a broken row must not delete the entry it was meant to update).
    """
    batch = importers.read_paths(list(paths), source=source, attribution=attribution)
    result = ImportResult(errors=list(batch.errors))
    prune = prune and _prune_allowed(batch, result)
    with transaction.atomic():
        result.add(services_upsert(records=batch.services, prune=prune and batch.has_services))
        result.add(
            navigation_upsert(records=batch.navigation, prune=prune and batch.has_navigation)
        )
    # Outside the transaction above: embedding takes seconds, and must not hold the write lock.
    entries = entries_upsert(records=batch.entries, sources=batch.sources, prune=prune)
    result.add(entries)
    result.notes.extend(entries.notes)
    log.info(
        "knowledge_imported",
        paths=[str(p) for p in paths],
        created=result.created,
        updated=result.updated,
        unchanged=result.unchanged,
        pruned=result.pruned,
        errors=len(result.errors),
    )
    return result


def _prune_allowed(batch: importers.Batch, result: ImportResult) -> bool:
    if batch.errors:
        result.notes.append("--prune skipped: fix the malformed rows first")
        return False
    return True


def _entry_hash(values: dict) -> str:
    payload = json.dumps(values, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def _entry_values(record: importers.EntryRecord, services: dict[str, Service]) -> dict:
    service = services.get(record.service) if record.service else None
    return {
        "category": record.category,
        "title": record.title,
        "body": record.body,
        "keywords": record.keywords,
        "url": record.url,
        "attribution": record.attribution,
        "is_active": record.is_active,
        "service_id": service.pk if service else None,
    }


def entries_upsert(
    *, records: Sequence[importers.EntryRecord], sources: set[str], prune: bool = False
) -> ImportResult:
    """Create or update entries keyed by (source, external_id); return the counts."""
    result = ImportResult()
    services = {s.slug: s for s in Service.objects.all()}
    existing = {
        (e.source, e.external_id): e
        for e in KnowledgeBaseEntry.objects.filter(source__in=sources | {r.source for r in records})
        .exclude(external_id="")
        .defer("embedding", "search_vector")
    }
    records = _last_per_key(records)
    to_create, to_update = [], []
    for record in records:
        if record.service and record.service not in services:
            result.notes.append(f"{record.origin}: unknown service {record.service!r}, not linked")
        values = _entry_values(record, services)
        digest = _entry_hash(values)
        entry = existing.get((record.source, record.external_id))
        if entry is not None and entry.content_hash == digest:
            result.unchanged += 1
            continue
        if entry is None:
            entry = KnowledgeBaseEntry(source=record.source, external_id=record.external_id)
            to_create.append(entry)
        else:
            to_update.append(entry)
        for name, value in values.items():
            setattr(entry, name, value)
        entry.content_hash = digest
    _embed(to_create + to_update)
    with transaction.atomic():
        _search_data_changed()
        _entries_write(to_create, to_update)
        result.created, result.updated = len(to_create), len(to_update)
        if prune:
            seen = {(r.source, r.external_id) for r in records}
            gone = [e.pk for key, e in existing.items() if key[0] in sources and key not in seen]
            result.pruned = KnowledgeBaseEntry.objects.filter(pk__in=gone).delete()[0]
    return result


def _last_per_key(records: Sequence[importers.EntryRecord]) -> list[importers.EntryRecord]:
    """A key seen twice in one import keeps its last row (as a re-import would)."""
    return list({(r.source, r.external_id): r for r in records}.values())


def _entries_write(to_create: list, to_update: list) -> None:
    now = timezone.now()
    for entry in to_update:
        entry.updated_at = now  # bulk_update does not apply auto_now
    KnowledgeBaseEntry.objects.bulk_create(to_create, batch_size=WRITE_BATCH)
    fields = [*ENTRY_TEXT_FIELDS, "service_id", "content_hash", "updated_at"]
    fields += ["embedding", "embedding_model"]
    KnowledgeBaseEntry.objects.bulk_update(to_update, fields, batch_size=WRITE_BATCH)
    _update_search_vectors(e.pk for e in to_create + to_update)


def services_upsert(
    *, records: Sequence[importers.ServiceRecord], prune: bool = False
) -> ImportResult:
    result = ImportResult()
    for record in records:
        values = {
            name: getattr(record, name)
            for name in (
                "name",
                "description",
                "price",
                "currency",
                "duration",
                "availability",
                "url",
                "is_active",
                "position",
            )
        }
        _upsert(Service, {"slug": record.slug}, values, result)
    if prune:
        keep = [r.slug for r in records]
        result.pruned += Service.objects.exclude(slug__in=keep).delete()[0]
    return result


def navigation_upsert(
    *, records: Sequence[importers.NavigationRecord], prune: bool = False
) -> ImportResult:
    result = ImportResult()
    for record in records:
        values = {
            "title": record.title,
            "description": record.description,
            "is_active": record.is_active,
        }
        _upsert(NavigationHelp, {"url_pattern": record.url_pattern}, values, result)
    if prune:
        keep = [r.url_pattern for r in records]
        result.pruned += NavigationHelp.objects.exclude(url_pattern__in=keep).delete()[0]
    return result


def _upsert(model, key: dict, values: dict, result: ImportResult) -> None:
    obj = model.objects.filter(**key).first()
    if obj is None:
        model.objects.create(**key, **values)
        result.created += 1
    elif any(getattr(obj, name) != value for name, value in values.items()):
        for name, value in values.items():
            setattr(obj, name, value)
        obj.save()
        result.updated += 1
    else:
        result.unchanged += 1
