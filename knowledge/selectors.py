"""Reads: the knowledge base as the assistant and the pages need it."""

from __future__ import annotations

from fnmatch import fnmatchcase
from urllib.parse import urlsplit

from django.db.models import Count, Min, Q
from django.shortcuts import get_object_or_404

from knowledge import search
from knowledge.models import KnowledgeBaseEntry, NavigationHelp, Service
from knowledge.stamps import entries_version, kb_cached, kb_version  # noqa: F401 - chat reads kb_version here


def entry_search(query: str, *, category: str | None = None, limit: int = 5):
    """Search the active entries (hybrid; see knowledge.search). Returns SearchHit objects."""
    return search.entry_search(query, category=category, limit=limit)


def entry_get_public(*, pk: int) -> KnowledgeBaseEntry:
    """The active entry `pk`, or Http404."""
    return get_object_or_404(
        KnowledgeBaseEntry.objects.select_related("service"), pk=pk, is_active=True
    )


def category_list() -> list[str]:
    return list(
        KnowledgeBaseEntry.objects.filter(is_active=True)
        .exclude(category="")
        .order_by("category")
        .values_list("category", flat=True)
        .distinct()
    )


def faq_list(*, category: str | None = None, source: str | None = None, limit: int = 50):
    """Active entries in help-center order, optionally for one category or import set."""
    entries = KnowledgeBaseEntry.objects.filter(is_active=True)
    if category:
        entries = entries.filter(category__iexact=category)
    if source:
        entries = entries.filter(source=source)
    return list(entries.order_by("category", "title", "pk")[:limit])


@kb_cached
def service_list() -> list[Service]:
    """The active services (read again when the knowledge base's stamp changes)."""
    return list(Service.objects.filter(is_active=True))


def service_get(*, name_or_slug: str) -> Service | None:
    """The active service with this slug or name (case-insensitive), or None."""
    text = name_or_slug.strip()
    if not text:
        return None
    return (
        Service.objects.filter(is_active=True)
        .filter(Q(slug__iexact=text) | Q(name__iexact=text))
        .first()
    )


def service_info(*, name_or_slug: str) -> dict | None:
    """Price, duration and availability of a service, ready for a prompt or a page."""
    service = service_get(name_or_slug=name_or_slug)
    if service is None:
        return None
    return {
        "name": service.name,
        "slug": service.slug,
        "description": service.description,
        "price": service.price_display,
        "duration": service.duration_display,
        "availability": service.availability,
        "url": service.url,
    }


def navigation_help_for(url: str) -> NavigationHelp | None:
    """What a visitor can do on the page at `url`: the most specific matching pattern wins."""
    path = urlsplit(url).path or "/"
    candidates = [help_ for help_ in _navigation_help() if _matches(help_.url_pattern, path)]
    return max(candidates, key=lambda h: len(h.url_pattern.rstrip("*")), default=None)


@kb_cached
def _navigation_help() -> list[NavigationHelp]:
    return list(NavigationHelp.objects.filter(is_active=True))


def _matches(pattern: str, path: str) -> bool:
    if any(ch in pattern for ch in "*?["):
        return fnmatchcase(path, pattern)
    return path == pattern or path.rstrip("/") == pattern.rstrip("/")


def entry_other_answers(*, entry: KnowledgeBaseEntry, limit: int = 10) -> list[KnowledgeBaseEntry]:
    """Other active answers to the same question (same set, same title)."""
    return list(
        KnowledgeBaseEntry.objects.filter(
            is_active=True, source=entry.source, title__iexact=entry.title
        )
        .exclude(pk=entry.pk)
        .order_by("pk")[:limit]
    )


def category_counts() -> list[dict]:
    """The help center's categories, A to Z, each with its number of questions (entries that
    share a title are answers to one question)."""
    return list(
        KnowledgeBaseEntry.objects.filter(is_active=True)
        .exclude(category="")
        .values("category")
        .annotate(questions=Count("title", distinct=True))
        .order_by("category")
    )


def category_questions(*, category: str) -> list[KnowledgeBaseEntry]:
    """One entry per question of `category` (the first-imported answer: StackFAQ imports the
    best-ranked one first), by title."""
    active = KnowledgeBaseEntry.objects.filter(is_active=True, category=category)
    firsts = active.values("title").annotate(first=Min("pk")).values_list("first", flat=True)
    return list(active.filter(pk__in=list(firsts)).order_by("title", "pk"))
