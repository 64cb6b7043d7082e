"""Resumable reply streams: every event of a reply, kept while it is generated and a while after.

A reply's events (`start`, `token` with `seq`, `sources`, `usage`, `error`, `done`) are published
once, by the task that generates the reply, and read by any number of subscribers: the socket that
asked, a socket that reconnected (`hello` with `resume`), the SSE response. Readers on the same
process read the in-memory stream. With Redis, the generating process also copies the events to a
Redis stream (`XADD`, batched every `FLUSH_INTERVAL`, never one call per token), so a reconnect
that lands on another daphne process replays and follows the reply from there. A stop request
from another process travels through Redis too (a key the flusher checks on every flush).

Nothing here touches the database: the reply row is written once, when the reply ends.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import structlog
from django.conf import settings
from redis.exceptions import RedisError

from chat.redis_pool import get_redis, redis_failed

log = structlog.get_logger(__name__)

FLUSH_INTERVAL = 0.05  # seconds: how long token events may wait before the Redis copy
ALIVE_TTL_MS = 15_000  # a running reply's Redis stream outlives its last flush by this much
FINAL_FLUSH_TRIES = 30  # a finished reply's last events are retried (1 s apart) while Redis is away
FINAL_TYPES = frozenset({"done"})

_local: dict[str, ReplyStream] = {}


def _key(message_id: str) -> str:
    return f"concierge:reply:{message_id}"


def _stop_key(message_id: str) -> str:
    return f"concierge:reply:{message_id}:stop"


def wanted(event: dict[str, Any], after_seq: int | None) -> bool:
    """Whether a reader that already has tokens up to `after_seq` (None: nothing) needs `event`."""
    if after_seq is None:
        return True
    if event["type"] == "start":
        return False
    return event["type"] != "token" or event["seq"] > after_seq


class ReplyStream:
    """The events of one reply in this process, with its copy to Redis when configured."""

    def __init__(self, message_id: str) -> None:
        self.message_id = message_id
        self.events: list[dict[str, Any]] = []
        self.finished = False
        self.stop_requested = False
        self._changed = asyncio.Event()
        self._flushed = 0
        self._flusher: asyncio.Task | None = None
        self._dirty = asyncio.Event()

    def notify(self) -> None:
        """Wake everyone waiting on this stream (new event, finished, or stop requested)."""
        self._changed.set()
        self._changed = asyncio.Event()

    # --- writing (the generating task only) ---------------------------------------------------
    def publish(self, event: dict[str, Any]) -> None:
        """Append an event; wake local readers; schedule the Redis copy. Never blocks."""
        self.events.append(event)
        if event["type"] in FINAL_TYPES:
            self.finished = True
        self.notify()
        self._dirty.set()
        if self._flusher is None and settings.REDIS_URL:
            self._flusher = asyncio.create_task(self._flush_loop(), name=f"flush-{self.message_id}")

    async def announce(self) -> None:
        """Copy what was published so far to Redis now (not at the next batch)."""
        if settings.REDIS_URL:
            await self._flush()

    async def close(self) -> None:
        """Wait for the last Redis copy; forget the stream after the retention period."""
        if self._flusher is not None:
            self._dirty.set()
            try:
                await asyncio.wait_for(asyncio.shield(self._flusher), timeout=5)
            except TimeoutError:
                log.warning("reply_stream_flush_slow", message=self.message_id)
        asyncio.get_running_loop().call_later(
            settings.CHAT_STREAM_RETENTION, _local.pop, self.message_id, None
        )

    async def _flush_loop(self) -> None:
        """Copy new events to Redis in batches; pick up stop requests from other processes."""
        while True:
            try:
                await asyncio.wait_for(self._dirty.wait(), timeout=1.0)
                await asyncio.sleep(FLUSH_INTERVAL)
            except TimeoutError:
                pass  # a quiet model: still refresh the TTL and look for a stop request
            self._dirty.clear()
            finished = self.finished
            flushed = await self._flush()
            if finished:
                break
        # The end must reach Redis, or followers on other processes never see `done`.
        for _ in range(FINAL_FLUSH_TRIES):
            if flushed:
                return
            await asyncio.sleep(1.0)
            flushed = await self._flush()
        log.warning("reply_stream_final_flush_failed", message=self.message_id)

    async def _flush(self) -> bool:
        """Copy the events not yet in Redis. Each event's stream id is its index, so a batch
        sent again after a timeout is refused by Redis instead of repeated."""
        redis = await get_redis()
        if redis is None:
            return False
        end = len(self.events)
        ttl_ms = settings.CHAT_STREAM_RETENTION * 1000 if self.finished else ALIVE_TTL_MS
        try:
            async with redis.pipeline(transaction=False) as pipe:
                for index in range(self._flushed, end):
                    fields = {"e": json.dumps(self.events[index])}
                    pipe.xadd(_key(self.message_id), fields, id=f"{index + 1}-0")
                pipe.pexpire(_key(self.message_id), ttl_ms)
                pipe.exists(_stop_key(self.message_id))
                results = await pipe.execute(raise_on_error=False)
        except (RedisError, OSError) as exc:
            redis_failed(exc)
            return False
        self._flushed = end
        if results[-1] == 1:  # EXISTS on the stop key
            if not self.stop_requested:
                self.stop_requested = True
                self.notify()
        return True

    # --- reading ---------------------------------------------------------------------------------
    async def subscribe(self, *, after_seq: int | None = None) -> AsyncIterator[dict[str, Any]]:
        index = 0
        while True:
            while index < len(self.events):
                event = self.events[index]
                index += 1
                if wanted(event, after_seq):
                    yield event
                if event["type"] in FINAL_TYPES:
                    return
            changed = self._changed
            if index < len(self.events):
                continue
            await changed.wait()

    async def wait_stop(self) -> None:
        """Return when a stop was requested (locally or, through Redis, from another process)."""
        while not self.stop_requested:
            changed = self._changed
            await changed.wait()


def stream_open(message_id: str) -> ReplyStream:
    stream = ReplyStream(str(message_id))
    _local[stream.message_id] = stream
    return stream


async def stream_request_stop(message_id: str) -> bool:
    """Ask the reply to stop, wherever it runs. Return False when no running reply was found."""
    message_id = str(message_id)
    stream = _local.get(message_id)
    if stream is not None:
        if stream.finished:
            return False
        stream.stop_requested = True
        stream.notify()
        return True
    redis = await get_redis()
    if redis is None:
        return False
    try:
        if not await redis.exists(_key(message_id)):
            return False
        await redis.set(_stop_key(message_id), "1", ex=settings.CHAT_STREAM_RETENTION)
    except (RedisError, OSError) as exc:
        redis_failed(exc)
        return False
    return True


async def stream_exists(message_id: str) -> bool | None:
    """Whether any process still holds the reply's events (None: unknown, Redis is down)."""
    if str(message_id) in _local:
        return True
    if not settings.REDIS_URL:
        return False
    redis = await get_redis()
    if redis is None:
        return None
    try:
        return bool(await redis.exists(_key(str(message_id))))
    except (RedisError, OSError) as exc:
        redis_failed(exc)
        return None


async def stream_subscribe(
    message_id: str, *, after_seq: int | None = None
) -> AsyncIterator[dict[str, Any]] | None:
    """Return an iterator over a reply's events, or None when no process holds them any more."""
    stream = _local.get(str(message_id))
    if stream is not None:
        return stream.subscribe(after_seq=after_seq)
    redis = await get_redis()
    if redis is None:
        return None
    try:
        if not await redis.exists(_key(str(message_id))):
            return None
    except (RedisError, OSError) as exc:
        redis_failed(exc)
        return None
    return _redis_subscribe(str(message_id), after_seq=after_seq)


async def _redis_subscribe(message_id: str, *, after_seq: int | None) -> AsyncIterator[dict]:
    """Follow a reply generated by another process. Ends at `done`, or when the stream vanishes
    (its process died: the reader then sees no `done` and the caller decides)."""
    last_id = "0-0"
    last_seq = -1 if after_seq is None else after_seq
    # Block for less than the socket timeout: a quiet model is not a Redis outage.
    block_ms = max(100, int(settings.REDIS_SOCKET_TIMEOUT * 1000 * 0.6))
    while True:
        redis = await get_redis()
        if redis is None:
            return
        try:
            response = await redis.xread({_key(message_id): last_id}, block=block_ms)
            if not response and not await redis.exists(_key(message_id)):
                return
        except (RedisError, OSError) as exc:
            redis_failed(exc)
            return
        for _key_name, entries in response or []:
            for entry_id, fields in entries:
                last_id = entry_id
                event = json.loads(fields[b"e"])
                if event["type"] == "token":
                    if event["seq"] <= last_seq:
                        continue  # never repeat a token
                    last_seq = event["seq"]
                if wanted(event, after_seq):
                    yield event
                if event["type"] in FINAL_TYPES:
                    return


def monotonic_ms(start: float) -> int:
    return int((time.monotonic() - start) * 1000)
