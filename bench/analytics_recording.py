"""What analytics recording costs a reply: time to first token with and without the listeners.

    .venv/bin/python bench/analytics_recording.py [--runs 200] [--rounds 4] [--flush-ms 1000]
        [--batch 50] [--postgres URL]

Through the real ASGI stack (bench/consumer_ttft.py's set-up: SQLite in a temporary file, a
zero-delay scripted model), replies are timed to their first token in three modes, alternating
in rounds so that the machine's load hits all alike: the analytics receivers connected with the
batching writer (`batched`: ANALYTICS_FLUSH_MS=--flush-ms), connected recording each reply in
place in its own transaction (`in_place`: ANALYTICS_FLUSH_MS=0, as before the writer), and
disconnected (`without`). The recording of reply N runs on a worker thread (or the writer's)
while reply N+1 starts, as in production. Also times the recording itself per reply: one per
transaction, and `--batch` per transaction; and checks that every reply was recorded once.
`--postgres postgres://postgres@127.0.0.1:5432` runs on a scratch PostgreSQL database instead
(created and dropped). Prints p50/p95; the last line is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import consumer_ttft  # noqa: E402 - the set-up and the timed loop of the consumer benchmark


def _receivers(connect: bool) -> None:
    from analytics import receivers
    from chat import signals

    pairs = [(signals.reply_finished, receivers.on_reply_finished),
             (signals.conversation_rated, receivers.on_conversation_rated),
             (signals.conversation_escalated, receivers.on_conversation_escalated)]  # fmt: skip
    for signal, receiver in pairs:
        uid = f"analytics.{receiver.__name__}"
        if connect:
            signal.connect(receiver, dispatch_uid=uid)
        else:
            signal.disconnect(dispatch_uid=uid)


def _record_times(runs: int, *, batch: int) -> tuple[list[float], list[float], list[float]]:
    """Milliseconds per reply recorded one per transaction, per reply recorded `batch` per
    transaction, and per batch (how long a batch holds the write lock)."""
    from analytics.services.events import ReplyEvent
    from analytics.services.recording import events_record, reply_record
    from tests.analytics.factories import finished_reply

    sessions = [str(uuid.uuid4()) for _ in range(10)]  # a batch spans a few conversations
    alone = []
    for index in range(runs):
        reply = finished_reply(session_id=sessions[index % 10])
        started = time.perf_counter()
        reply_record(reply=reply)
        alone.append((time.perf_counter() - started) * 1000)
    per_reply, per_batch = [], []
    for _ in range(max(runs // batch, 1)):
        replies = [finished_reply(session_id=sessions[i % 10]) for i in range(batch)]
        events = [ReplyEvent(reply=reply) for reply in replies]
        started = time.perf_counter()
        events_record(events)
        per_batch.append((time.perf_counter() - started) * 1000)
        per_reply.append(per_batch[-1] / batch)
    return alone, per_reply, per_batch


async def _round(mode: str, runs: int, flush_ms: int) -> list[float]:
    from django.conf import settings

    from analytics.services.writer import writer_stop

    settings.ANALYTICS_FLUSH_MS = flush_ms if mode == "batched" else 0
    _receivers(mode != "without")
    try:
        return await consumer_ttft.through_consumer(runs)
    finally:
        from chat.signals import signals_wait_idle

        await signals_wait_idle()
        await asyncio.to_thread(writer_stop)  # what is queued is recorded before the next mode


def _on_postgres(server: str) -> None:
    """Point consumer_ttft's set-up at a fresh scratch database on `server`."""
    import atexit
    import os

    import psycopg

    admin = server.replace("postgres://", "postgresql://") + "/postgres"
    name = "concierge_analytics_recording_bench"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    atexit.register(drop)
    # consumer_ttft's set-up writes a SQLite URL into the environment: keep ours instead.
    original = consumer_ttft.setup_django

    def setup_django(db_path) -> None:
        update = os.environ.update
        os.environ.update = lambda values=(), **more: update(
            {**dict(values), **more, "DATABASE_URL": f"{server}/{name}"}
        )
        try:
            original(db_path)
        finally:
            del os.environ.update  # back to the class's method

    consumer_ttft.setup_django = setup_django


def _summary(values: list[float]) -> dict[str, float]:
    return {"p50_ms": round(statistics.median(values), 2),
            "p95_ms": round(consumer_ttft.percentile(values, 0.95), 2)}  # fmt: skip


MODES = ("batched", "in_place", "without")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--flush-ms", type=int, default=1000, help="the batched mode's interval")
    parser.add_argument("--batch", type=int, default=50, help="replies per timed batch")
    parser.add_argument("--postgres", default="", help="server URL, e.g. postgres://...:5432")
    args = parser.parse_args()
    if args.postgres:
        _on_postgres(args.postgres)
    per_round = max(args.runs // args.rounds, 1)
    ttft: dict[str, list[float]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory() as tmp:
        consumer_ttft.setup_django(Path(tmp) / "bench.sqlite3")
        from django.conf import settings

        from analytics.models import ReplyFact

        settings.ANALYTICS_EMBEDDER = ""  # gaps group by words: no model to load here
        asyncio.run(_round("in_place", 10, 0))  # warm
        for index in range(args.rounds):
            for mode in MODES[index % 3 :] + MODES[: index % 3]:  # no mode always goes first
                ttft[mode] += asyncio.run(_round(mode, per_round, args.flush_ms))
        recorded = ReplyFact.objects.count() - 10
        alone, in_batch, batches = _record_times(args.runs, batch=args.batch)
    result = {
        "runs": len(ttft["batched"]),
        "flush_ms": args.flush_ms,
        **{f"ttft_{mode}": _summary(values) for mode, values in ttft.items()},
        "recorded": recorded,
        "expected": len(ttft["batched"]) + len(ttft["in_place"]),
        "record_per_reply_alone": _summary(alone),
        f"record_per_reply_in_batch_of_{args.batch}": _summary(in_batch),
        f"record_batch_of_{args.batch}": _summary(batches),
    }
    for name, value in result.items():
        if isinstance(value, dict):
            print(f"{name}: p50 {value['p50_ms']} ms, p95 {value['p95_ms']} ms")
    print(f"replies recorded: {recorded} of {result['expected']}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
