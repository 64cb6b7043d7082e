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
import heapq
import itertools
import math
import queue
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from typing import ParamSpec, TypeVar

from asgiref.sync import AsyncToSync
from channels.db import DatabaseSyncToAsync
from django.conf import settings

P = ParamSpec("P")
R = TypeVar("R")

_executor: ThreadPoolExecutor | None = None

# When the question a piece of work is for arrived (time.monotonic()); unset: not for a question.
_arrival: ContextVar[float | None] = ContextVar("chat_question_arrival", default=None)


def question_arrived() -> None:
    """Mark the work this task (and the tasks it starts) submits as its question's, from now."""
    _arrival.set(time.monotonic())


class _ByArrival(queue.PriorityQueue):
    """Jobs ordered by when their question arrived (other work by when it was submitted).

    A plain queue interleaves a burst's questions round-robin: each waits for every other's
    first query before its second, so they all reach the model near the end of the burst.
    In arrival order the first question asked is the first answered, and a burst's median
    first token comes about halfway through instead of near the end.
    """

    def __init__(self) -> None:
        super().__init__()
        self._order = itertools.count()

    def _put(self, item) -> None:  # submit's thread, in the submitting task's context
        rank = math.inf if item is None else (_arrival.get() or time.monotonic())  # None: stop
        heapq.heappush(self.queue, (rank, next(self._order), item))

    def _get(self):
        return heapq.heappop(self.queue)[2]


class ArrivalOrderedExecutor(ThreadPoolExecutor):
    """A thread pool that runs the oldest question's work first (see `_ByArrival`)."""

    def __init__(self, max_workers: int, thread_name_prefix: str = "") -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix=thread_name_prefix)
        self._work_queue = _ByArrival()  # before any thread starts (they start on submit)


def db_executor() -> ThreadPoolExecutor:
    """The threads database calls run on (made on first use: threads start lazily)."""
    global _executor
    if _executor is None:
        _executor = ArrivalOrderedExecutor(
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
