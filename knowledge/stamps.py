"""Version stamps of the knowledge base: cheap reads that change whenever its content does.

The search index rebuilds when `entries_version` changes; chat's response cache keys on
`kb_version`. Both search and the selectors read them, so they live below both.
"""

from __future__ import annotations

from django.db.models import Max

from knowledge.models import KnowledgeBaseEntry, NavigationHelp, Service


def model_stamp(model) -> str:
    # Two queries on purpose: together in one aggregate, SQLite scans the whole table.
    count = model.objects.count()
    latest = model.objects.aggregate(latest=Max("updated_at"))["latest"]
    return f"{count}.{latest.timestamp() if latest else 0:.6f}"


def entries_version() -> str:
    """Change whenever an entry is added, edited, (de)activated or deleted (count + latest edit)."""
    return model_stamp(KnowledgeBaseEntry)


def kb_version() -> str:
    """A cheap stamp of everything the assistant knows: entries, services, navigation help.

    Chat's response cache keys on it, so any edit makes cached answers miss.
    """
    return "-".join(model_stamp(model) for model in (KnowledgeBaseEntry, Service, NavigationHelp))
