"""chat.db: database calls from async code run on a pool of threads, not behind one thread."""

from __future__ import annotations

import asyncio
import threading

import pytest
from asgiref.sync import async_to_sync

from chat.db import db_async

pytestmark = [pytest.mark.django_db(transaction=True)]


async def test_two_database_calls_run_at_the_same_time(settings):
    # Each call waits for the other inside the worker thread: behind one thread (asgiref's
    # thread-sensitive executor) the first would wait for ever and the barrier would break.
    settings.CHAT_DB_THREADS = 4
    barrier = threading.Barrier(2, timeout=5)

    def meet() -> str:
        barrier.wait()
        return threading.current_thread().name

    ameet = db_async(meet)
    names = await asyncio.wait_for(asyncio.gather(ameet(), ameet()), timeout=10)
    assert len(set(names)) == 2
    assert all(name.startswith("db") for name in names)


async def test_a_call_returns_what_the_service_returns_and_raises_what_it_raises():
    def read(*, value: int) -> int:
        if value < 0:
            raise ValueError("negative")
        return value * 2

    aread = db_async(read)
    assert aread.__name__ == "aread"
    assert await aread(value=21) == 42
    with pytest.raises(ValueError, match="negative"):
        await aread(value=-1)


def test_under_a_sync_caller_the_call_runs_on_the_callers_thread():
    # A sync caller (a view, a test) may hold an open transaction: its calls stay on its thread.
    def where() -> int:
        return threading.get_ident()

    awhere = db_async(where)

    async def ask() -> int:
        return await awhere()

    assert async_to_sync(ask)() == threading.get_ident()
