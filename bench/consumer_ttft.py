"""What the consumer adds to the time to first token, against calling the provider directly.

    .venv/bin/python bench/consumer_ttft.py [--runs 200] [--late-source 0.3]

A zero-delay scripted provider answers; the same prompt is streamed (a) straight from the provider
and (b) through the real ASGI stack: WebSocket `message` -> validation, rate limit, quota, two
database writes, prompt building, the reply task, the stream -> the first `token` frame at the
client. SQLite in a temporary file, in-process cache and channel layer, no knowledge base. Prints
p50/p95 of both and the difference; the last line is JSON.

`--late-source S` registers a context source that sleeps S seconds, past the context deadline
(CHAT_CONTEXT_DEADLINE, 0.2 s here): time to first token should grow by the deadline, no more.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup_django(db_path: Path) -> None:
    from bench.wsclient import UNLIMITED_ENV

    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": f"sqlite:///{db_path}",
            **UNLIMITED_ENV,
            "CHAT_QUOTA_ANON_IP_MESSAGES": "0",
            "CHAT_SOCKET_FRAMES_PER_SECOND": "100000",  # one socket asks back to back
            "CHAT_RETRIEVER": "",
            "LOG_LEVEL": "ERROR",
        }
    )
    import django
    from django.core.management import call_command

    django.setup()
    from django.conf import settings

    settings.CHAT_PROVIDERS["fake"] = "tests.chat.fakes.FakeProvider"
    settings.CHAT_PROVIDER = "fake"
    settings.CHAT_MODEL = "fake-model"
    call_command("migrate", verbosity=0)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def direct(runs: int) -> list[float]:
    from chat.providers import GenerationOptions, PromptMessage
    from tests.chat.fakes import FakeProvider

    provider = FakeProvider.from_settings()
    prompt = [PromptMessage(role="user", content="Hello?")]
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        async for event in provider.stream(model="m", messages=prompt, options=GenerationOptions()):
            if event.type == "token":
                times.append((time.perf_counter() - started) * 1000)
                break
    return times


async def through_consumer(runs: int) -> list[float]:
    from bench.wsclient import visitor_connect
    from chat.reply.lifecycle import replies_wait_idle

    ws = await visitor_connect(timeout=10)
    times = []
    for i in range(runs):
        frame = {"type": "message", "id": str(uuid.uuid4()), "text": f"Hello {i}?"}
        started = time.perf_counter()
        await ws.send_to(text_data=json.dumps(frame))
        while True:
            event = json.loads(await ws.receive_from(timeout=10))
            if event["type"] == "token" and "first" not in locals():
                times.append((time.perf_counter() - started) * 1000)
                first = True
            if event["type"] == "done":
                del first
                break
        await replies_wait_idle()
    await ws.disconnect()
    return times


def register_late_source(seconds: float) -> None:
    from django.conf import settings

    from chat.reply.universes import context_source_register

    settings.CHAT_CONTEXT_DEADLINE = 0.2
    context_source_register("bench.late", lambda request: time.sleep(seconds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--late-source", type=float, default=0.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        setup_django(Path(tmp) / "bench.sqlite3")
        if args.late_source:
            register_late_source(args.late_source)
        plain = asyncio.run(direct(args.runs))
        full = asyncio.run(through_consumer(args.runs))
    result = {
        "runs": args.runs,
        "late_source_s": args.late_source,
        "direct_p50_ms": round(statistics.median(plain), 3),
        "direct_p95_ms": round(percentile(plain, 0.95), 3),
        "consumer_p50_ms": round(statistics.median(full), 3),
        "consumer_p95_ms": round(percentile(full, 0.95), 3),
    }
    result["added_p50_ms"] = round(result["consumer_p50_ms"] - result["direct_p50_ms"], 3)
    result["added_p95_ms"] = round(result["consumer_p95_ms"] - result["direct_p95_ms"], 3)
    print(f"time to first token over {args.runs} runs (zero-delay scripted model):")
    for label, key in (
        ("provider directly", "direct"),
        ("through the consumer", "consumer"),
        ("added by the consumer", "added"),
    ):
        print(f"  {label}: p50 {result[key + '_p50_ms']} ms, p95 {result[key + '_p95_ms']} ms")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
