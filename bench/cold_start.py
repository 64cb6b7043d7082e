"""A new daphne process: its memory before visitors, and how soon it answers its first question.

    .venv/bin/python bench/cold_start.py [--python /path/to/venv/bin/python] [--processes 3]
                                         [--runs 5]

Migrates a temporary SQLite database and seeds the demo help center (`seed_knowledge`), starts
bench/load/upstream.py (an OpenAI-compatible model answering at once, so the figures are the
site's, not a model's), then:

- memory: starts `--processes` `manage.py serve` processes at once, waits until all accept
  connections, lets them settle 3 s, and reads RSS, PSS and USS (private pages) from
  /proc/PID/smaps_rollup. Processes of one machine share the read-only pages of the MiniLM file
  and of the libraries: PSS splits those between them, USS is what one more process costs.
- first question: `--runs` times, starts one process, polls its port every 10 ms, and as soon as
  it accepts opens the chat WebSocket (`hello`), asks, and times accept -> first token and
  accept -> done.

`--python` runs the site under another virtualenv's interpreter (a runtime-only one, say); the
client side needs `websockets` (requirements-dev.txt). The last line is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "How do I host Concierge myself?"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def accepting(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def memory_mb(pid: int) -> dict[str, float]:
    """RSS, PSS and USS (private clean + dirty) of a process, in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":", 1)
        fields[name] = int(value.split()[0]) / 1024
    uss = fields["Private_Clean"] + fields["Private_Dirty"]
    return {"rss": round(fields["Rss"], 1), "pss": round(fields["Pss"], 1), "uss": round(uss, 1)}


def site_env(work: Path, upstream: int) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "bench-" + "x" * 50,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SECURE_COOKIES": "false",
        "DATABASE_URL": f"sqlite:///{work / 'db.sqlite3'}",
        "REDIS_URL": "",
        "LOG_LEVEL": "WARNING",
        "CHAT_PROVIDER": "openai",
        "OPENAI_BASE_URL": f"http://127.0.0.1:{upstream}/v1",
        "OPENAI_API_KEY": "",
        "CHAT_MODEL": "bench-model",
        "CHAT_CACHE_TTL": "0",
        "PROMETHEUS_MULTIPROC_DIR": str(work / "prometheus"),
    }


def serve(python: str, env: dict, port: int, log: Path) -> subprocess.Popen:
    out = log.open("w")
    return subprocess.Popen(  # noqa: S603
        [python, "manage.py", "serve", "-b", "127.0.0.1", "-p", str(port)],
        cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
    )  # fmt: skip


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def wait_accepting(port: int, process: subprocess.Popen, timeout: float = 180) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"daphne on port {port} exited with {process.returncode}")
        if accepting(port):
            return time.monotonic()
        time.sleep(0.01)
    raise SystemExit(f"daphne on port {port} did not listen within {timeout} s")


async def first_question(port: int, accepted: float) -> tuple[float, float]:
    """Open the widget's socket, ask once: seconds from `accepted` to first token and to done."""
    from websockets.asyncio.client import connect

    first = None
    origin = f"http://127.0.0.1:{port}"
    async with connect(f"ws://127.0.0.1:{port}/ws/chat/", origin=origin, open_timeout=60) as ws:
        hello = {"type": "hello", "session": None, "page": {"url": "/help/", "title": "Help"}}
        await ws.send(json.dumps(hello))
        while json.loads(await ws.recv())["type"] != "ready":
            pass
        await ws.send(json.dumps({"type": "message", "id": str(uuid.uuid4()), "text": QUESTION}))
        while True:
            event = json.loads(await ws.recv())
            if event["type"] == "token" and first is None:
                first = time.monotonic() - accepted
            elif event["type"] == "done":
                if event.get("status") != "complete":
                    raise SystemExit(f"the first question ended {event.get('status')}")
                return first, time.monotonic() - accepted


def prepare(python: str, env: dict, work: Path) -> None:
    (work / "prometheus").mkdir()
    for argv in (
        ["migrate", "--noinput"],
        ["seed_knowledge", "knowledge/demo/site.yaml", "knowledge/demo/helpcenter"],
    ):
        subprocess.run(  # noqa: S603
            [python, "manage.py", *argv], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL
        )


def memory_phase(python: str, env: dict, work: Path, count: int) -> list[dict]:
    ports = [free_port() for _ in range(count)]
    processes = [serve(python, env, port, work / f"mem-{port}.log") for port in ports]
    try:
        for port, process in zip(ports, processes, strict=True):
            wait_accepting(port, process)
        time.sleep(3)
        return [memory_mb(p.pid) for p in processes]
    finally:
        stop(processes)


def question_phase(python: str, env: dict, work: Path, runs: int) -> list[dict]:
    results = []
    for run in range(runs):
        port = free_port()
        spawned = time.monotonic()
        process = serve(python, env, port, work / f"q-{run}.log")
        try:
            accepted = wait_accepting(port, process)
            first, done = asyncio.run(first_question(port, accepted))
            results.append(
                {
                    "spawn_to_accept_s": round(accepted - spawned, 2),
                    "accept_to_first_token_s": round(first, 3),
                    "accept_to_done_s": round(done, 3),
                    "after_one_question": memory_mb(process.pid),
                }
            )
        finally:
            stop([process])
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable, help="the site's interpreter")
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cold-start-"))
    upstream = subprocess.Popen(  # noqa: S603
        [sys.executable, str(ROOT / "bench/load/upstream.py"), "--port", "0", "--delay", "0"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        upstream_port = int(upstream.stdout.readline().split()[1])
        env = site_env(work, upstream_port)
        prepare(args.python, env, work)
        load_before = [round(x, 2) for x in os.getloadavg()]
        memory = memory_phase(args.python, env, work, args.processes)
        for i, row in enumerate(memory):
            print(f"process {i + 1}/{args.processes} before visitors: {row} MB")
        questions = question_phase(args.python, env, work, args.runs)
        for row in questions:
            print(f"first question: {row}")
        firsts = [row["accept_to_first_token_s"] for row in questions]
        summary = {
            "python": args.python,
            "processes": args.processes,
            "memory_before_visitors_mb": memory,
            "accept_to_first_token_s": {"median": statistics.median(firsts), "max": max(firsts)},
            "spawn_to_accept_s": statistics.median(r["spawn_to_accept_s"] for r in questions),
            "load_average": [load_before, [round(x, 2) for x in os.getloadavg()]],
        }
        print(json.dumps(summary))
    finally:
        upstream.terminate()
        upstream.wait()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
