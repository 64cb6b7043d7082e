"""What analytics recording costs a reply: time to first token with and without the listeners.

    .venv/bin/python bench/analytics_recording.py [--runs 200] [--rounds 4] [--postgres URL]

Through the real ASGI stack (bench/consumer_ttft.py's set-up: SQLite in a temporary file, a
zero-delay scripted model), replies are timed to their first token with the analytics receivers
connected, then disconnected, alternating in rounds so that the machine's load hits both alike.
The recording of reply N runs on a worker thread while reply N+1 starts, as in production. Also
times `reply_record` itself per reply. `--postgres postgres://postgres@127.0.0.1:5432` runs on a
scratch PostgreSQL database instead (created and dropped). Prints p50/p95; the last line is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
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


def _record_times(runs: int) -> list[float]:
    from analytics.services.recording import reply_record
    from tests.analytics.factories import finished_reply

    session = "5e1f3c52-4a8e-4a8e-9d8e-2b7a9b6c1a01"
    times = []
    for _ in range(runs):
        reply = finished_reply(session_id=session)
        started = time.perf_counter()
        reply_record(reply=reply)
        times.append((time.perf_counter() - started) * 1000)
    return times


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--postgres", default="", help="server URL, e.g. postgres://...:5432")
    args = parser.parse_args()
    if args.postgres:
        _on_postgres(args.postgres)
    per_round = max(args.runs // args.rounds, 1)
    with_listeners: list[float] = []
    without: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        consumer_ttft.setup_django(Path(tmp) / "bench.sqlite3")
        from django.conf import settings

        settings.ANALYTICS_EMBEDDER = ""  # gaps group by words: no model to load here
        asyncio.run(consumer_ttft.through_consumer(10))  # warm
        for _ in range(args.rounds):
            _receivers(True)
            with_listeners += asyncio.run(consumer_ttft.through_consumer(per_round))
            _receivers(False)
            without += asyncio.run(consumer_ttft.through_consumer(per_round))
        _receivers(True)
        record = _record_times(args.runs)
    result = {
        "runs": len(with_listeners),
        "ttft_with_analytics": _summary(with_listeners),
        "ttft_without_analytics": _summary(without),
        "reply_record": _summary(record),
    }
    for name in ("ttft_with_analytics", "ttft_without_analytics", "reply_record"):
        print(f"{name}: p50 {result[name]['p50_ms']} ms, p95 {result[name]['p95_ms']} ms")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
