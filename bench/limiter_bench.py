"""How many rate-limit checks per second chat.guards.limits does, in process and on a real Redis.

    .venv/bin/python bench/limiter_bench.py [--tasks 50] [--seconds 2] [--redis-url URL]

For each backend, N concurrent asyncio tasks call `rate_limit_hit` in a loop for a few seconds,
in two shapes: each task its own key (mostly allowed: prune, count, record) and all tasks on
one key (mostly refused: prune, count, read the oldest). Prints a table, then one JSON line.
Bounded: 2 backends x 2 shapes x `--seconds`, plus set-up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _setup_django(redis_url: str) -> None:
    os.environ["DJANGO_ENV_FILE"] = ""  # never the developer's .env
    os.environ.setdefault("DJANGO_SECRET_KEY", "limiter-bench")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("CHAT_PROVIDER", "offline")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["REDIS_URL"] = redis_url
    import django

    django.setup()


async def _run_shape(*, tasks: int, seconds: float, shared: bool, tag: str) -> dict:
    from chat.guards.limits import rate_limit_hit

    latencies: list[float] = []
    allowed = 0
    deadline = time.perf_counter() + seconds

    async def worker(index: int) -> None:
        nonlocal allowed
        keys = [f"visitor:bench-{tag}-{'shared' if shared else index}"]
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            decision = await rate_limit_hit(keys=keys)
            latencies.append(time.perf_counter() - started)
            allowed += decision.allowed
            # The in-process path never suspends: yield, or one task would run alone.
            await asyncio.sleep(0)

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(tasks)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "checks": len(latencies),
        "checks_per_s": round(len(latencies) / elapsed),
        "allowed": allowed,
        "p50_ms": round(statistics.median(latencies) * 1000, 3),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 3),
    }


async def _bench_backend(*, backend: str, tasks: int, seconds: float, redis_url: str) -> dict:
    from django.conf import settings

    from chat import redis_pool
    from chat.guards.limits import local_limits_clear

    settings.REDIS_URL = redis_url if backend == "redis" else ""
    local_limits_clear()
    redis_pool.redis_reset()
    results = {}
    tag = uuid.uuid4().hex[:12]
    for shape, shared, rate in (
        ("own_key", False, "1000/second"),
        ("shared_key", True, "10/minute"),
    ):
        settings.CHAT_RATE_LIMIT = rate
        results[shape] = await _run_shape(tasks=tasks, seconds=seconds, shared=shared, tag=tag)
    if backend == "redis":
        if not redis_pool.redis_available():
            raise SystemExit(f"Redis at {redis_url} failed during the run: numbers are not Redis's")
        client = await redis_pool.get_redis()
        async for key in client.scan_iter(match=f"concierge:rl:visitor:bench-{tag}-*"):
            await client.delete(key)
        await redis_pool.redis_close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=50, help="concurrent tasks (default 50)")
    parser.add_argument("--seconds", type=float, default=2.0, help="per measurement (default 2)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    _setup_django(args.redis_url)

    import redis

    try:
        redis.Redis.from_url(args.redis_url, socket_connect_timeout=2).ping()
        backends = ["memory", "redis"]
    except redis.RedisError as exc:
        print(f"Redis not reachable at {args.redis_url} ({exc}): in-process only")
        backends = ["memory"]

    report = {"tasks": args.tasks, "seconds": args.seconds, "python": sys.version.split()[0]}
    print(f"{'backend':8} {'shape':11} {'checks/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'allowed':>8}")
    for backend in backends:
        report[backend] = asyncio.run(
            _bench_backend(
                backend=backend, tasks=args.tasks, seconds=args.seconds, redis_url=args.redis_url
            )
        )
        for shape, row in report[backend].items():
            print(
                f"{backend:8} {shape:11} {row['checks_per_s']:>9} {row['p50_ms']:>8} "
                f"{row['p99_ms']:>8} {row['allowed']:>8}"
            )
    print(json.dumps(report))


if __name__ == "__main__":
    main()
