"""chat.live.streams under load: token frames joined for a reader that fell behind, and one
Redis pipeline for every running reply of the process."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest

from chat import events
from chat.live import streams
from chat.redis_pool import get_redis
from tests.services import require_redis


def _tokens(stream: streams.ReplyStream, pieces: list[str]) -> None:
    for seq, text in enumerate(pieces):
        stream.publish(events.token(message_id=stream.message_id, seq=seq, text=text))


async def _read_until(iterator, count: int) -> list[dict]:
    got = []
    async for event in iterator:
        got.append(event)
        if len(got) == count:
            break
    return got


async def test_a_reader_that_lags_gets_the_waiting_tokens_in_one_frame(settings):
    settings.REDIS_URL = ""
    settings.CHAT_STREAM_COALESCE_MS = 100
    stream = streams.stream_open(str(uuid.uuid4()))
    _tokens(stream, ["The ", "shop ", "opens"])
    stream._times = [time.monotonic() - 1.0] * 3  # published a second ago: the reader is late
    [joined] = await _read_until(stream.subscribe(), 1)
    assert joined == events.token(message_id=stream.message_id, seq=2, text="The shop opens")


async def test_a_reader_that_keeps_up_gets_every_piece(settings):
    settings.REDIS_URL = ""
    settings.CHAT_STREAM_COALESCE_MS = 100
    stream = streams.stream_open(str(uuid.uuid4()))
    _tokens(stream, ["a", "b"])
    got = await _read_until(stream.subscribe(), 2)
    assert [(e["seq"], e["text"]) for e in got] == [(0, "a"), (1, "b")]


async def test_a_finished_reply_is_replayed_piece_by_piece(settings):
    settings.REDIS_URL = ""
    settings.CHAT_STREAM_COALESCE_MS = 100
    stream = streams.stream_open(str(uuid.uuid4()))
    _tokens(stream, ["one ", "two ", "three"])
    stream.publish({"type": "done", "message": stream.message_id, "status": "complete"})
    stream._times = [time.monotonic() - 1.0] * 4
    got = [e async for e in stream.subscribe(after_seq=0)]
    assert [(e.get("seq"), e.get("text")) for e in got[:-1]] == [(1, "two "), (2, "three")]


async def test_resuming_after_a_joined_frame_misses_and_repeats_nothing(settings):
    settings.REDIS_URL = ""
    settings.CHAT_STREAM_COALESCE_MS = 100
    stream = streams.stream_open(str(uuid.uuid4()))
    _tokens(stream, ["a", "b", "c"])
    stream._times = [time.monotonic() - 1.0] * 3
    [joined] = await _read_until(stream.subscribe(), 1)
    later = ["d", "e"]
    for offset, text in enumerate(later, start=3):
        stream.publish(events.token(message_id=stream.message_id, seq=offset, text=text))
    resumed = await _read_until(stream.subscribe(after_seq=joined["seq"]), 2)
    assert joined["text"] + "".join(e["text"] for e in resumed) == "abcde"


@pytest.fixture
def redis_settings(settings):
    url = require_redis().rsplit("/", 1)[0] + "/11"
    settings.REDIS_URL = url
    return settings


async def test_every_running_reply_reaches_redis_and_hears_a_stop_from_elsewhere(redis_settings):
    replies = [streams.stream_open(str(uuid.uuid4())) for _ in range(3)]
    for stream in replies:
        _tokens(stream, ["x", "y"])
    redis = await get_redis()
    await redis.set(streams._stop_key(replies[1].message_id), "1")  # another process asks
    await asyncio.wait_for(replies[1].wait_stop(), timeout=5)
    for stream in replies:
        stored = await redis.xrange(streams._key(stream.message_id))
        assert [json.loads(fields[b"e"])["text"] for _id, fields in stored] == ["x", "y"]
    assert not replies[0].stop_requested
    for stream in replies:
        stream.publish({"type": "done", "message": stream.message_id, "status": "complete"})
        await stream.close()
        await redis.delete(streams._key(stream.message_id), streams._stop_key(stream.message_id))
