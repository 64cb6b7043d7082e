"""Resumable reply streams: every event of a reply, kept while it is generated and a while after.

A reply's events (`start`, `token` with `seq`, `sources`, `usage`, `error`, `done`) are published
once, by the task that generates the reply, and read by any number of subscribers: the socket that
asked, a socket that reconnected (`hello` with `resume`), the SSE response. Readers on the same
process read the in-memory stream. With Redis, the generating process also copies the events to a
Redis stream (`XADD`), so a reconnect that lands on another daphne process replays and follows
the reply from there. A stop request from another process travels through Redis too (a key the
flusher checks on every flush).

One flusher per process (and event loop) copies every running reply at once: every
`FLUSH_INTERVAL` it sends one pipeline with the new events of all replies that have some, and
once a second it refreshes the time to live of the quiet ones and looks for their stop requests.
With one flusher per reply, 200 replies made 4,000 Redis round trips a second; now 20.

Nothing here touches the database: the reply row is written once, when the reply ends.
"""

from __future__ import annotations

import asyncio
import json
import time
import weakref
from collections.abc import AsyncIterator
from typing import Any

import structlog
from django.conf import settings
from redis.exceptions import RedisError

from chat import events
from chat.redis_pool import get_redis, redis_failed

log = structlog.get_logger(__name__)

FLUSH_INTERVAL = 0.05  # seconds: how long token events may wait before the Redis copy
ALIVE_TTL_MS = 15_000  # a running reply's Redis stream outlives its last flush by this much
FINAL_FLUSH_TRIES = 30  # a finished reply's last events are retried (1 s apart) while Redis is away
FINAL_TYPES = frozenset({"done"})
COALESCE_MAX_PIECES = 64  # most token pieces joined into one frame for a reader that lags

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
        self._times: list[float] = []  # when each event was published (time.monotonic())
        self.finished = False
        self.stop_requested = False
        self._changed = asyncio.Event()
        self._flushed = 0  # events[:_flushed] are in Redis
        self._final_tries = 0
        self._drained: asyncio.Event | None = None  # set once the last event is in Redis

    def notify(self) -> None:
        """Wake everyone waiting on this stream (new event, finished, or stop requested)."""
        self._changed.set()
        self._changed = asyncio.Event()

    # --- writing (the generating task only) ---------------------------------------------------
    def publish(self, event: dict[str, Any]) -> None:
        """Append an event; wake local readers; schedule the Redis copy. Never blocks."""
        self.events.append(event)
        self._times.append(time.monotonic())
        if event["type"] in FINAL_TYPES:
            self.finished = True
        self.notify()
        if settings.REDIS_URL:
            _flusher().mark(self)

    async def announce(self) -> None:
        """Copy what was published so far to Redis now (not at the next batch)."""
        if settings.REDIS_URL:
            await _flush_batch([self])

    async def close(self) -> None:
        """Wait for the last Redis copy; forget the stream after the retention period."""
        if settings.REDIS_URL and self._flushed < len(self.events):
            self._drained = self._drained or asyncio.Event()
            _flusher().mark(self)
            try:
                await asyncio.wait_for(self._drained.wait(), timeout=5)
            except TimeoutError:
                log.warning("reply_stream_flush_slow", message=self.message_id)
        asyncio.get_running_loop().call_later(
            settings.CHAT_STREAM_RETENTION, _local.pop, self.message_id, None
        )

    def _flushed_to(self, end: int, *, stop: bool) -> None:
        """Redis has events[:end] (and says whether a stop was asked from another process)."""
        self._flushed = max(self._flushed, end)
        if stop and not self.stop_requested:
            self.stop_requested = True
            self.notify()
        if self._drained is not None and self._flushed >= len(self.events):
            self._drained.set()

    # --- reading ---------------------------------------------------------------------------------
    async def subscribe(
        self, *, after_seq: int | None = None, coalesce: bool = True
    ) -> AsyncIterator[dict[str, Any]]:
        """Every event `after_seq` asks for; tokens joined for a reader that lags, unless
        `coalesce` is False (a reader that filters the events itself)."""
        index = 0
        while True:
            while index < len(self.events):
                event = self.events[index]
                index += 1
                if wanted(event, after_seq):
                    # A resumed reader gets the very pieces it asked for, one frame each.
                    if (
                        coalesce
                        and after_seq is None
                        and event["type"] == "token"
                        and self._behind(index - 1)
                    ):
                        event, index = self._coalesced(event, index)
                    yield event
                if event["type"] in FINAL_TYPES:
                    return
            changed = self._changed
            if index < len(self.events):
                continue
            await changed.wait()

    def _behind(self, index: int) -> bool:
        """Whether a reader at `index` of a reply still being written lags the writer by more
        than the coalescing threshold (and a next token is already there to join). A replay of
        a finished reply keeps its pieces as they were stored."""
        lag = settings.CHAT_STREAM_COALESCE_MS / 1000
        return (
            lag > 0
            and not self.finished
            and index + 1 < len(self.events)
            and self.events[index + 1]["type"] == "token"
            and time.monotonic() - self._times[index] > lag
        )

    def _coalesced(self, first: dict[str, Any], index: int) -> tuple[dict[str, Any], int]:
        """`first` joined with the tokens right after it, as one `token` event whose `seq` is
        the last one's: the same text, in fewer frames, for a reader that fell behind. A client
        keeps the highest `seq` it has (PROTOCOL.md), so resuming from it stays exact."""
        pieces, last = [first["text"]], first
        while (
            index < len(self.events)
            and self.events[index]["type"] == "token"
            and len(pieces) < COALESCE_MAX_PIECES
        ):
            last = self.events[index]
            pieces.append(last["text"])
            index += 1
        return events.token(
            message_id=last["message"], seq=last["seq"], text="".join(pieces)
        ), index

    async def wait_stop(self) -> None:
        """Return when a stop was requested (locally or, through Redis, from another process)."""
        while not self.stop_requested:
            changed = self._changed
            await changed.wait()


class _Flusher:
    """Copies the events of every running reply of this event loop to Redis, in one pipeline
    per `FLUSH_INTERVAL`; once a second also the quiet ones (time to live, stop requests)."""

    def __init__(self) -> None:
        self.dirty: dict[str, ReplyStream] = {}
        self.running: dict[str, ReplyStream] = {}
        self.wake = asyncio.Event()
        self.task = asyncio.create_task(self._loop(), name="reply-streams-flush")

    def mark(self, stream: ReplyStream) -> None:
        self.dirty[stream.message_id] = stream
        if not stream.finished:
            self.running[stream.message_id] = stream
        self.wake.set()

    async def _loop(self) -> None:
        last_sweep = time.monotonic()
        while True:
            try:
                await asyncio.wait_for(self.wake.wait(), timeout=1.0)
                await asyncio.sleep(FLUSH_INTERVAL)
            except TimeoutError:
                pass  # quiet models: still refresh their TTL and look for stop requests
            self.wake.clear()
            batch = self.dirty
            self.dirty = {}
            if time.monotonic() - last_sweep >= 1.0:
                last_sweep = time.monotonic()
                batch = {**self.running, **batch}
            for stream in batch.values():
                if stream.finished:
                    self.running.pop(stream.message_id, None)
            if batch:
                await self._flush(list(batch.values()))

    async def _flush(self, batch: list[ReplyStream]) -> None:
        try:
            flushed = await _flush_batch(batch)
        except Exception:  # noqa: BLE001 - the flusher must outlive any one bad batch
            log.exception("reply_stream_flush_failed")
            flushed = False
        if flushed:
            return
        # Redis is away: try again later; a finished reply's end is retried, 1 s apart, a while.
        for stream in batch:
            if stream.finished:
                stream._final_tries += 1
                if stream._final_tries > FINAL_FLUSH_TRIES:
                    log.warning("reply_stream_final_flush_failed", message=stream.message_id)
                    continue
            self.dirty.setdefault(stream.message_id, stream)
        await asyncio.sleep(1.0)
        self.wake.set()


_flushers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Flusher] = (
    weakref.WeakKeyDictionary()
)


def _flusher() -> _Flusher:
    loop = asyncio.get_running_loop()
    flusher = _flushers.get(loop)
    if flusher is None or flusher.task.done():
        flusher = _flushers[loop] = _Flusher()
    return flusher


async def _flush_batch(batch: list[ReplyStream]) -> bool:
    """Copy the events not yet in Redis of every stream in `batch`, in one pipeline. Each
    event's stream id is its index, so a batch sent again after a timeout is refused by Redis
    instead of repeated. False when Redis is unavailable."""
    redis = await get_redis()
    if redis is None:
        return False
    spans = []
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for stream in batch:
                start, end = stream._flushed, len(stream.events)
                key = _key(stream.message_id)
                for index in range(start, end):
                    pipe.xadd(key, {"e": json.dumps(stream.events[index])}, id=f"{index + 1}-0")
                ttl_ms = settings.CHAT_STREAM_RETENTION * 1000 if stream.finished else ALIVE_TTL_MS
                pipe.pexpire(key, ttl_ms)
                pipe.exists(_stop_key(stream.message_id))
                spans.append((start, end))
            results = await pipe.execute(raise_on_error=False)
    except (RedisError, OSError) as exc:
        redis_failed(exc)
        return False
    position = 0
    for stream, (start, end) in zip(batch, spans, strict=True):
        position += end - start + 2
        stream._flushed_to(end, stop=results[position - 1] == 1)  # EXISTS on the stop key
    return True


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
    message_id: str, *, after_seq: int | None = None, coalesce: bool = True
) -> AsyncIterator[dict[str, Any]] | None:
    """Return an iterator over a reply's events, or None when no process holds them any more."""
    stream = _local.get(str(message_id))
    if stream is not None:
        return stream.subscribe(after_seq=after_seq, coalesce=coalesce)
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
