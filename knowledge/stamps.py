"""Version stamps of the knowledge base: cheap reads that change whenever its content does.

The search index rebuilds when `entries_version` changes; chat's response cache keys on
`kb_version`. Both search and the selectors read them, so they live below both.

`kb_version` is read for every question, and it is six queries: each process keeps it for
`KNOWLEDGE_INDEX_CHECK_SECONDS` (as the search index keeps `entries_version`), and forgets it at
once when this process saves or deletes an entry, a service or a navigation entry
(`stamps_forget`, connected in KnowledgeConfig.ready) or writes in bulk (services, through
`index.mark_stale`). Another process's edit is seen within that interval. When it expires, one
thread reads it again and the others keep the previous stamp meanwhile.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.db import connection, transaction
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


STAMPED_MODELS = (KnowledgeBaseEntry, Service, NavigationHelp)

_kb_memo: dict[str, tuple[float, str]] = {}  # database alias -> (read at, stamp)
_kb_refreshing: dict[str, threading.Lock] = {}  # database alias -> held while one thread reads
_kb_generation = [0]  # counts the forgets: a stamp read across one is not kept
_kb_lock = threading.Lock()  # the generation and the memo's store change together


def kb_version() -> str:
    """A cheap stamp of everything the assistant knows: entries, services, navigation help.

    Chat's response cache keys on it, so any edit makes cached answers miss.
    """
    alias = connection.alias
    memo = _kb_memo.get(alias)
    if memo is not None and time.monotonic() - memo[0] < settings.KNOWLEDGE_INDEX_CHECK_SECONDS:
        return memo[1]
    # Expired: one thread reads it again while the others keep the stamp of a moment ago (in a
    # burst, every question arriving in that moment used to read it: six queries each). Once
    # forgotten (an edit) there is no stamp to keep, and every caller reads.
    refreshing = _kb_refreshing.setdefault(alias, threading.Lock())
    if memo is not None and not refreshing.acquire(blocking=False):
        return memo[1]
    try:
        generation = _kb_generation[0]
        stamp = "-".join(model_stamp(model) for model in STAMPED_MODELS)
        with _kb_lock:  # against a forget between the check and the store
            if generation == _kb_generation[0]:  # not forgotten (an edit) while it was read
                _kb_memo[alias] = (time.monotonic(), stamp)
    finally:
        if memo is not None:
            refreshing.release()
    return stamp


def stamps_forget(*args, **kwargs) -> None:
    """Read the stamps again next time (a receiver of post_save and post_delete too): now, and
    again once the write commits (a question on another thread may read the old stamp in
    between and keep it)."""
    _kb_forget()
    if connection.in_atomic_block:  # in autocommit the write is already committed
        transaction.on_commit(_kb_forget)


def _kb_forget() -> None:
    with _kb_lock:
        _kb_generation[0] += 1
        _kb_memo.clear()


def kb_cached(read: Callable[[], list]) -> Callable[[], list]:
    """`read()` done once per knowledge-base stamp (a copy of the list each call): for the
    small per-question reads of the knowledge base (services, page guides), which change only
    when the stamp does."""
    memo: dict[tuple[str, str], list] = {}
    lock = threading.Lock()

    @functools.wraps(read)
    def cached() -> list:
        key = (connection.alias, kb_version())
        rows = memo.get(key)
        if rows is None:
            rows = list(read())
            with lock:
                memo.clear()  # only the current stamp is kept
                memo[key] = rows
        return list(rows)

    return cached
