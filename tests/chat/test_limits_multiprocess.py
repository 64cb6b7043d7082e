"""Two OS processes share one rate-limit budget through Redis.

Each worker is this module run as a script: it sets Django up, says "ready", waits for "go" on
stdin (so both start together), fires its burst concurrently and prints what it was allowed.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.services import require_redis

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 25
PER_PROCESS = 40


def _start_worker(*, key: str, redis_url: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "REDIS_URL": redis_url,
        "CHAT_RATE_LIMIT": f"{LIMIT}/minute",
        "REDIS_SOCKET_TIMEOUT": "3",  # a loaded machine is not an outage: no fallback here
        "PYTHONPATH": str(ROOT),
        # The workers need Redis only. Under pytest, DATABASE_URL names a database pytest never
        # creates (it makes test_<name>): the operator's overlay would wait on it for a pool.
        "DATABASE_URL": "sqlite:///:memory:",
    }
    return subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "tests.chat.test_limits_multiprocess", key, str(PER_PROCESS)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.services
def test_two_processes_hammering_one_key_get_exactly_the_limit_between_them():
    redis_url = require_redis()
    key = f"visitor:multiprocess-{uuid.uuid4().hex}"
    workers = [_start_worker(key=key, redis_url=redis_url) for _ in range(2)]
    try:
        for worker in workers:
            line = worker.stdout.readline()
            assert line.strip() == "ready", worker.stderr.read()
        for worker in workers:
            worker.stdin.write("go\n")
            worker.stdin.flush()
        results = []
        for worker in workers:
            out, err = worker.communicate(timeout=60)
            assert worker.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
        import redis

        client = redis.Redis.from_url(redis_url)
        client.delete(f"concierge:rl:{key}")
        client.close()
    assert sum(result["allowed"] for result in results) == LIMIT
    assert all(result["refused"] > 0 for result in results)  # both really competed
    assert all(result["redis_available"] for result in results)  # no in-process fallback


async def _burst(key: str, count: int) -> dict:
    from chat import redis_pool
    from chat.guards.limits import rate_limit_hit

    decisions = await asyncio.gather(*(rate_limit_hit(keys=[key]) for _ in range(count)))
    allowed = sum(decision.allowed for decision in decisions)
    available = redis_pool.redis_available()
    await redis_pool.redis_close()
    return {"allowed": allowed, "refused": count - allowed, "redis_available": available}


def _worker_main(key: str, count: int) -> None:
    import django

    django.setup()
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        sys.exit(2)
    print(json.dumps(asyncio.run(_burst(key, count))), flush=True)


if __name__ == "__main__":
    _worker_main(sys.argv[1], int(sys.argv[2]))
