"""Database round trips and process CPU per question, through the real consumer (issue 10).

    .venv/bin/python bench/question_cpu.py [--questions 200] [--per-conversation 5]
                                           [--baseline /tmp/h1-base] [--after DIR] [--repeat 2]

Each variant (this tree or `--after`, and `--baseline`: other checkouts of the project, `git
worktree add /tmp/h1-base <rev>`, so that uncommitted work in this tree is not measured) runs
in a child process of its own, with this virtualenv, against a fresh PostgreSQL database
(`--database-url`, default postgres://postgres@127.0.0.1:5432/; the probe creates and drops
`question_cpu_<variant>`) and, when `--redis-url` is given, Redis. One anonymous visitor asks
`--questions` questions one after another over one WebSocket, in conversations of
`--per-conversation` questions, to a scripted model that answers at once: no knowledge base,
no title; daily quotas on (high enough), analytics batched as in production.

Counted per question, on every thread: statements sent (`CursorWrapper`, so savepoints too) and
transactions (each a BEGIN and a COMMIT round trip, which no cursor sends), before the model is
called and in all; the listeners' (analytics) apart. CPU: `time.process_time()` of the whole
process (every thread) across the questions, after a warm-up. Variants alternate `--repeat`
times; the last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WARM_UP = 10


def child(args) -> dict:
    sys.path.insert(0, args.tree)
    os.chdir(args.tree)
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": args.database_url,
            "CHAT_RATE_LIMIT": "",
            "CHAT_RATE_LIMIT_IP": "",
            "CHAT_QUOTA_ANON_MESSAGES": "1000000",  # on, as in production, never reached
            "CHAT_QUOTA_ANON_IP_MESSAGES": "0",
            "CHAT_CACHE_TTL": "0",
            "CHAT_RETRIEVER": "",
            "CHAT_SOCKET_FRAMES_PER_SECOND": "100000",
            "ANALYTICS_FLUSH_MS": "2000",
            "LOG_LEVEL": "ERROR",
        }
    )
    if args.redis_url:
        os.environ["REDIS_URL"] = args.redis_url
    import django
    from django.core.management import call_command

    django.setup()
    from django.conf import settings

    settings.CHAT_PROVIDERS["fake"] = "tests.chat.fakes.FakeProvider"
    settings.CHAT_PROVIDER = "fake"
    settings.CHAT_MODEL = "fake-model"
    call_command("migrate", verbosity=0)
    import asyncio

    return asyncio.run(_ask_all(args))


class Counter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.phase = "ask"
        self.counts: dict[str, int] = {}

    def add(self, kind: str) -> None:
        listener = threading.current_thread().name.startswith(("signals", "analytics"))
        key = f"{'listener' if listener else self.phase}_{kind}"
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + 1


def _install(counter: Counter) -> None:
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.backends.utils import CursorWrapper
    from psycopg.pq import TransactionStatus

    from tests.chat.fakes import FakeProvider

    execute = CursorWrapper._execute_with_wrappers
    commit, rollback = BaseDatabaseWrapper._commit, BaseDatabaseWrapper._rollback
    stream = FakeProvider._stream

    def counted_execute(self, sql, params, many, executor):
        counter.add("statements")
        return execute(self, sql, params, many, executor)

    def counted(end):
        def _end(self):
            raw = self.connection
            if raw is not None and raw.info.transaction_status != TransactionStatus.IDLE:
                counter.add("transactions")
            return end(self)

        return _end

    def provider_stream(self, **kwargs):
        counter.phase = "model"
        return stream(self, **kwargs)

    CursorWrapper._execute_with_wrappers = counted_execute
    BaseDatabaseWrapper._commit = counted(commit)
    BaseDatabaseWrapper._rollback = counted(rollback)
    FakeProvider._stream = provider_stream


async def _ask_all(args) -> dict:
    from bench.wsclient import visitor_connect
    from chat.reply.lifecycle import replies_wait_idle

    ws = await visitor_connect(timeout=10)
    counter = Counter()

    async def ask(i: int) -> None:
        if i and i % args.per_conversation == 0:  # a new conversation
            await ws.send_to(text_data=json.dumps({"type": "hello", "session": None, "page": {}}))
            await ws.receive_from(timeout=10)
        counter.phase = "ask"
        frame = {"type": "message", "id": str(uuid.uuid4()), "text": f"Question {i}?"}
        await ws.send_to(text_data=json.dumps(frame))
        while True:
            event = json.loads(await ws.receive_from(timeout=10))
            if event["type"] == "done":
                assert event["status"] == "complete", event
                break
        await replies_wait_idle()

    for i in range(WARM_UP):
        await ask(i)
    _install(counter)
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(WARM_UP, WARM_UP + args.questions):
        await ask(i)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    await ws.disconnect()
    return _figures(counter.counts, questions=args.questions, cpu=cpu, wall=wall)


def _figures(c: dict, *, questions: int, cpu: float, wall: float) -> dict:
    """Per question: CPU and wall time, statements and round trips (BEGIN and COMMIT count as
    one each), before the model is called and in all."""
    n = questions

    def per(*keys: str) -> float:
        return round(sum(c.get(k, 0) for k in keys) / n, 2)

    return {
        "cpu_ms_per_question": round(cpu * 1000 / n, 2),
        "wall_ms_per_question": round(wall * 1000 / n, 2),
        "statements_before_model": per("ask_statements"),
        "transactions_before_model": per("ask_transactions"),
        "round_trips_before_model": round(per("ask_statements") + 2 * per("ask_transactions"), 2),
        "statements": per("ask_statements", "model_statements"),
        "round_trips": round(
            per("ask_statements", "model_statements")
            + 2 * per("ask_transactions", "model_transactions"),
            2,
        ),
        "listener_statements": per("listener_statements"),
    }


def run_variant(name: str, tree: str, args) -> dict:
    base = args.database_url.rstrip("/")
    database = f"question_cpu_{name}"
    _psql(base, f"DROP DATABASE IF EXISTS {database}")
    _psql(base, f"CREATE DATABASE {database}")
    try:
        out = subprocess.run(  # noqa: S603 - our own interpreter and script
            [sys.executable, __file__, "--child", "--tree", tree,
             "--database-url", f"{base}/{database}", "--redis-url", args.redis_url or "",
             "--questions", str(args.questions), "--per-conversation", str(args.per_conversation)],
            capture_output=True, text=True, timeout=1800, check=False,
        )  # fmt: skip
    finally:
        _psql(base, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
    if out.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _psql(base: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--per-conversation", type=int, default=5)
    parser.add_argument("--baseline", default="")
    parser.add_argument("--after", default=str(ROOT), help="the tree measured as `after`")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/")
    parser.add_argument("--redis-url", default="")
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--tree", default=str(ROOT))
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return
    variants = [("after", args.after)] + ([("before", args.baseline)] if args.baseline else [])
    results: dict[str, list[dict]] = {name: [] for name, _ in variants}
    load = os.getloadavg()[0]
    for round_ in range(args.repeat):
        for name, tree in variants if round_ % 2 == 0 else variants[::-1]:
            result = run_variant(name, tree, args)
            results[name].append(result)
            print(f"{name:7} run {round_ + 1}: {result}", flush=True)
    summary = {"questions": args.questions, "per_conversation": args.per_conversation,
               "redis": bool(args.redis_url), "load_at_start": round(load, 2)}  # fmt: skip
    for name, runs in results.items():
        summary[name] = {
            key: statistics.median(r[key] for r in runs) for key in runs[0]
        }  # medians of the runs
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
