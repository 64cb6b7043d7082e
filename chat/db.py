"""The one bridge from async code to the ORM.

Selectors and services are sync (Django's ORM is); async callers use their `a...` twins, made
here with `db_async`, as `contrib.sessions` offers `aget`/`asave`. The choice of thread is made
in this one place.

Why not plain `database_sync_to_async`: it is thread-sensitive, so every database call of every
reply in the process waits for one thread (asgiref's single sync thread). Profiled under 50
questions at once on PostgreSQL (bench/README.md), that one thread was busy ~40% of the
samples, a third of it opening connections, and time to first token grew by seconds per
twenty questions. Here, calls run on a pool of `CHAT_DB_THREADS` threads; each call is a whole
unit of work (a selector or a service, with its own `transaction.atomic`), so no call needs the
thread of another. Connections are checked around each call as channels does (stale or broken
ones dropped; with PostgreSQL's pool, handed back to it).

One exception keeps thread-sensitivity: a call made under a sync caller (`async_to_sync`, as a
sync test or view does) runs on that caller's thread, so that it sees the caller's open
transaction, exactly as `database_sync_to_async` would.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from asgiref.sync import AsyncToSync
from channels.db import DatabaseSyncToAsync
from django.conf import settings

P = ParamSpec("P")
R = TypeVar("R")

_executor: ThreadPoolExecutor | None = None


def db_executor() -> ThreadPoolExecutor:
    """The threads database calls run on (made on first use: threads start lazily)."""
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(
            max_workers=max(1, settings.CHAT_DB_THREADS), thread_name_prefix="db"
        )
    return _executor


def _under_sync_caller(loop) -> bool:
    """Whether this coroutine runs for a sync caller whose thread holds its transaction."""
    return bool(getattr(AsyncToSync.executors, "current", None)) or (
        loop in AsyncToSync.loop_thread_executors
    )


def db_async(function: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """The async twin of a sync selector or service."""
    sensitive = DatabaseSyncToAsync(function)
    pooled: list[DatabaseSyncToAsync] = []  # made on the first call, when settings are final

    @functools.wraps(function)
    async def twin(*args: P.args, **kwargs: P.kwargs) -> R:
        if _under_sync_caller(asyncio.get_running_loop()):
            return await sensitive(*args, **kwargs)
        if not pooled:
            pooled.append(
                DatabaseSyncToAsync(function, thread_sensitive=False, executor=db_executor())
            )
        return await pooled[0](*args, **kwargs)

    twin.__name__ = f"a{function.__name__}"
    twin.__qualname__ = twin.__name__
    return twin
