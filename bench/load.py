"""Concierge under load, as visitors see it: N widgets ask at the same moment, against N direct
streams from the same upstream, in the same run.

    .venv/bin/python bench/load.py [--configs sqlite,pg] [--concurrency 1,20,50,200]
        [--processes 1] [--sustained 50 --sustained-seconds 30] [--idle 2000]
        [--before REF] [--profile DIR --profile-at 50,200] [--peers]

What runs (all started and stopped by the benchmark):
- an OpenAI-compatible upstream (bench/load/upstream.py): each answer after 200 ms, 40 tokens at
  50 tokens/s;
- real daphne processes (`manage.py serve`), 1 to 4 (`--processes`), on SQLite without Redis
  (`sqlite`) or PostgreSQL + Redis (`pg`: `--pg-url`, `--redis-url`), the demo knowledge base
  seeded (`seed_knowledge knowledge/demo/site.yaml knowledge/demo/helpcenter`) so retrieval is
  part of every question; rate limits, quotas and the response cache off; the default router;
- visitors speaking PROTOCOL.md over real WebSockets (`websockets`): `hello`, then, all at once,
  `message`; time to first token (TTFT) is taken when the first `token` frame arrives, total
  time at `done`. Before each burst through daphne, the same number of direct streams (a plain
  HTTP client reading the upstream's SSE) gives the baseline of the same moment;
- sustained mode: V visitors ask in a loop (question, answer, a pause of 0-4 s), for a while,
  then the same V loops directly against the upstream;
- 2,000 idle widgets (`hello`, then nothing): the daphne process's memory before and after.

Every variant runs committed code (HEAD, exported from git), never the working tree. `--before
REF` runs everything a second time on HEAD with its performance files (chat/db.py,
chat/live/streams.py) from git revision REF and PostgreSQL's pool off (DATABASE_POOL=false,
CONN_MAX_AGE 0): before and after, on the same machine in the same run. `--proposed PATCH,...`
(and `--proposed-env K=V,...`) adds a variant of HEAD with changes not yet made (patches under
bench/load/proposals/). `--baseline REF` adds the whole tree of revision REF, as it was.
`--profile DIR` records the daphne process with py-spy (installed by the benchmark in a
throwaway virtualenv under /tmp) during the bursts of `--profile-at` on PostgreSQL + Redis, and
prints each profile's top functions. `--peers` drives the same load through Gradio's
ChatInterface and Chainlit relaying the same upstream (bench/load/peers.py; each installed in a
throwaway virtualenv under /tmp, never in the project's).

Prints a table per configuration; the last line is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent / "load"
sys.path.insert(0, str(HERE))
PYTHON = str(ROOT / ".venv" / "bin" / "python")
WORK = Path(tempfile.gettempdir()) / "concierge-bench"
# The files whose `--before REF` version is measured against the working tree's.
PERF_FILES = ("chat/db.py", "chat/live/streams.py")
QUESTIONS = [
    "What is Concierge?",
    "How much does the guided setup session cost?",
    "Can I talk to a human?",
    "How do I host Concierge myself?",
    "What happens when the model is offline?",
    "Where do I find my chat history?",
    "What are the message limits?",
    "Is my data private?",
    "How do I import my help center?",
    "What does priority support include?",
    "The answer was wrong, what can I do?",
    "How do I open the chat bubble?",
    "Which pages does the site have?",
    "How do I delete my account?",
    "What do the telemetry dashboards show?",
    "Which services do you sell?",
]
TTFT_TIMEOUT = 180.0


# --- small helpers ---------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def log(*parts) -> None:
    print(time.strftime("%H:%M:%S"), *parts, file=sys.stderr, flush=True)


# --- the upstream ----------------------------------------------------------------------------
def upstream_start(args) -> tuple[subprocess.Popen, int]:
    process = subprocess.Popen(
        [sys.executable, str(HERE / "upstream.py"), "--port", "0", "--delay", str(args.delay),
         "--tokens", str(args.tokens), "--rate", str(args.rate)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    line = process.stdout.readline()
    if not line.startswith("PORT "):
        raise SystemExit(f"the upstream did not start: {line!r}")
    return process, int(line.split()[1])


async def direct_stream(port: int, text: str) -> tuple[float | None, float, int]:
    """One streamed completion straight from the upstream: (ttft, total, tokens)."""
    body = json.dumps(
        {"model": "bench-model", "stream": True, "messages": [{"role": "user", "content": text}]}
    ).encode()
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=2**20)
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json"
        + f"\r\ncontent-length: {len(body)}\r\n\r\n".encode()
        + body
    )
    ttft, tokens = None, 0
    try:
        await reader.readuntil(b"\r\n\r\n")
        while True:
            size = int((await reader.readline()).strip() or b"0", 16)
            if size == 0:
                break
            data = await reader.readexactly(size + 2)
            if b'"content"' in data:
                tokens += 1
                if ttft is None:
                    ttft = time.perf_counter() - started
    finally:
        writer.close()
    return ttft, time.perf_counter() - started, tokens


# --- visitors --------------------------------------------------------------------------------
@dataclass
class Answer:
    ttft: float | None = None
    total: float | None = None
    tokens: int = 0
    frames: int = 0
    error: str = ""


class Visitor:
    """One widget: a WebSocket that said `hello` and asks when told."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.ws = None

    async def open(self) -> None:
        from websockets.asyncio.client import connect

        self.ws = await connect(
            f"ws://127.0.0.1:{self.port}/ws/chat/",
            origin=f"http://127.0.0.1:{self.port}",
            compression=None,
            ping_interval=None,
            open_timeout=120,
            close_timeout=2,
            max_size=2**24,
        )
        await self.ws.send(json.dumps({"type": "hello", "session": None,
                                       "page": {"url": "/help/", "title": "Help"}}))  # fmt: skip
        while json.loads(await self.ws.recv())["type"] != "ready":
            pass

    async def ask(self, text: str) -> Answer:
        answer = Answer()
        started = time.perf_counter()
        await self.ws.send(json.dumps({"type": "message", "id": str(uuid.uuid4()), "text": text}))
        try:
            async with asyncio.timeout(TTFT_TIMEOUT):
                while True:
                    event = json.loads(await self.ws.recv())
                    kind = event["type"]
                    if kind == "token":
                        answer.frames += 1
                        answer.tokens += len(event["text"].split())
                        if answer.ttft is None:
                            answer.ttft = time.perf_counter() - started
                    elif kind == "done":
                        answer.total = time.perf_counter() - started
                        if event.get("status") != "complete":
                            answer.error = f"status {event.get('status')}"
                        return answer
                    elif kind == "error":
                        answer.error = event.get("code", "error")
        except TimeoutError:
            answer.error = "timeout"
        except Exception as exc:  # noqa: BLE001 - a dropped socket is a result, not a crash
            answer.error = type(exc).__name__
        return answer

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()


async def visitors_open(ports: list[int], count: int, *, at_once: int = 64) -> list[Visitor]:
    gate = asyncio.Semaphore(at_once)
    visitors = [Visitor(ports[i % len(ports)]) for i in range(count)]

    async def one(visitor: Visitor) -> None:
        async with gate:
            await visitor.open()

    await asyncio.gather(*(one(v) for v in visitors))
    return visitors


async def visitors_close(visitors: list[Visitor]) -> None:
    await asyncio.gather(*(v.close() for v in visitors), return_exceptions=True)


def question(i: int) -> str:
    return f"{QUESTIONS[i % len(QUESTIONS)]} ({i})"


# --- one burst -------------------------------------------------------------------------------
@dataclass
class Burst:
    n: int
    direct_ttft: list[float] = field(default_factory=list)
    direct_wall: float = 0.0
    ttft: list[float] = field(default_factory=list)
    wall: float = 0.0
    tokens: int = 0
    frames: int = 0
    errors: dict = field(default_factory=dict)
    cpu_s: float = 0.0

    def row(self) -> dict:
        def ms(v):
            return None if v is None else round(v * 1000, 1)

        added = {
            q: (ms(pct(self.ttft, x) - pct(self.direct_ttft, x)) if self.ttft else None)
            for q, x in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))
        }
        return {
            "n": self.n,
            "direct_ttft_ms": {q: ms(pct(self.direct_ttft, x)) for q, x in QS},
            "ttft_ms": {q: ms(pct(self.ttft, x)) for q, x in QS},
            "added_ttft_ms": added,
            "direct_total_s": round(self.direct_wall, 3),
            "total_s": round(self.wall, 3),
            "total_vs_direct": round(self.wall / self.direct_wall, 3) if self.direct_wall else None,
            "tokens_per_s": round(self.tokens / self.wall, 1) if self.wall else None,
            "frames_per_token": round(self.frames / self.tokens, 3) if self.tokens else None,
            "cpu_ms_per_token": round(self.cpu_s * 1000 / self.tokens, 3) if self.tokens else None,
            "errors": self.errors,
        }


QS = (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))


async def burst_direct(upstream: int, n: int, burst: Burst) -> None:
    started = time.perf_counter()
    results = await asyncio.gather(*(direct_stream(upstream, question(i)) for i in range(n)))
    burst.direct_wall = time.perf_counter() - started
    burst.direct_ttft = [r[0] for r in results if r[0] is not None]


async def burst_through(ports: list[int], pids: list[int], n: int, burst: Burst, profiler=None):
    visitors = await visitors_open(ports, n)
    await asyncio.sleep(0.5)  # let the handshakes' work settle
    cpu_before = sum(cpu_seconds(p) for p in pids)
    if profiler:
        profiler.start()
    started = time.perf_counter()
    answers = await asyncio.gather(*(v.ask(question(i)) for i, v in enumerate(visitors)))
    burst.wall = time.perf_counter() - started
    if profiler:
        profiler.stop()
    burst.cpu_s = sum(cpu_seconds(p) for p in pids) - cpu_before
    await visitors_close(visitors)
    burst.ttft = [a.ttft for a in answers if a.ttft is not None]
    burst.tokens = sum(a.tokens for a in answers)
    burst.frames = sum(a.frames for a in answers)
    for a in answers:
        if a.error:
            burst.errors[a.error] = burst.errors.get(a.error, 0) + 1


# --- sustained -------------------------------------------------------------------------------
async def sustained(ask_once, visitors: int, seconds: float) -> dict:
    """`visitors` loops of (pause 0-4 s, ask, wait for the answer) for `seconds`."""
    rng = random.Random(7)
    ttfts: list[float] = []
    answered = 0
    errors = 0
    deadline = time.perf_counter() + seconds

    async def loop(i: int) -> None:
        nonlocal answered, errors
        k = 0
        while True:
            await asyncio.sleep(rng.uniform(0, 4))
            if time.perf_counter() >= deadline:
                return
            ttft, ok = await ask_once(i, k)
            k += 1
            if time.perf_counter() > deadline:
                return  # finished after the window: not counted
            if ok and ttft is not None:
                answered += 1
                ttfts.append(ttft)
            else:
                errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(loop(i) for i in range(visitors)))
    elapsed = min(seconds, time.perf_counter() - started)
    return {
        "visitors": visitors,
        "seconds": round(elapsed, 1),
        "answers_per_s": round(answered / elapsed, 2),
        "ttft_p50_ms": round((pct(ttfts, 0.5) or 0) * 1000, 1),
        "ttft_p95_ms": round((pct(ttfts, 0.95) or 0) * 1000, 1),
        "errors": errors,
    }


async def sustained_through(ports: list[int], visitors: int, seconds: float) -> dict:
    opened = await visitors_open(ports, visitors)

    async def ask_once(i: int, k: int):
        answer = await opened[i].ask(question(i * 1000 + k))
        return answer.ttft, not answer.error

    try:
        return await sustained(ask_once, visitors, seconds)
    finally:
        await visitors_close(opened)


async def sustained_direct(upstream: int, visitors: int, seconds: float) -> dict:
    async def ask_once(i: int, k: int):
        ttft, _total, _tokens = await direct_stream(upstream, question(i * 1000 + k))
        return ttft, True

    return await sustained(ask_once, visitors, seconds)


async def idle_widgets(ports: list[int], pids: list[int], count: int) -> dict:
    before = sum(rss_mb(p) for p in pids)
    visitors = await visitors_open(ports, count, at_once=100)
    await asyncio.sleep(2)
    after = sum(rss_mb(p) for p in pids)
    await visitors_close(visitors)
    return {
        "widgets": count,
        "rss_before_mb": round(before, 1),
        "rss_after_mb": round(after, 1),
        "kb_per_widget": round((after - before) * 1024 / count, 1),
    }


# --- the site under test ---------------------------------------------------------------------
@dataclass
class Config:
    name: str  # "sqlite" or "pg"
    env: dict


def config_env(name: str, args, upstream: int, sqlite_path: Path) -> dict:
    env = {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "bench-" + "x" * 50,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SECURE_COOKIES": "false",
        "LOG_LEVEL": "WARNING",
        "CHAT_PROVIDER": "openai",
        "OPENAI_BASE_URL": f"http://127.0.0.1:{upstream}/v1",
        "OPENAI_API_KEY": "",
        "CHAT_MODEL": "bench-model",
        "CHAT_MAX_RETRIES": "0",
        "CHAT_TIMEOUT_FIRST_TOKEN": "120",
        "CHAT_TIMEOUT_CONNECT": "60",
        "CHAT_RATE_LIMIT": "",
        "CHAT_RATE_LIMIT_IP": "",
        "CHAT_CACHE_TTL": "0",
        "CHAT_SOCKET_FRAMES_PER_SECOND": "100000",
        "CHAT_SOCKET_FRAME_BURST": "100000",
        "CHAT_SOCKET_SEND_BYTES_PER_MINUTE": str(2**30),
        "CHAT_BREAKER_FAILURES": "1000000",
        "SERVE_HANDSHAKE_TIMEOUT": "120",
    }
    for who in ("USER", "ANON", "ANON_IP"):
        for what in ("MESSAGES", "INPUT_TOKENS", "OUTPUT_TOKENS"):
            env[f"CHAT_QUOTA_{who}_{what}"] = "0"
    if name == "pg":
        env["DATABASE_URL"] = args.pg_url
        env["REDIS_URL"] = args.redis_url
    else:
        env["DATABASE_URL"] = f"sqlite:///{sqlite_path}"
        env["REDIS_URL"] = ""
    return env


def manage(tree: Path, env: dict, *argv: str) -> None:
    subprocess.run([PYTHON, "manage.py", *argv], cwd=tree, env={**os.environ, **env}, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip


def database_prepare(config: Config, args) -> None:
    if config.name == "pg":
        import psycopg

        url = args.pg_url.rsplit("/", 1)
        with psycopg.connect(url[0] + "/postgres", autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (url[1],))
            if exists.fetchone() is None:
                conn.execute(f'CREATE DATABASE "{url[1]}"')
    log("migrate + seed", config.name)
    manage(WORK / "after", config.env, "migrate", "--noinput")
    manage(WORK / "after", config.env, "seed_knowledge", "knowledge/demo/site.yaml",
           "knowledge/demo/helpcenter")  # fmt: skip


def redis_flush(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


class Site:
    """`processes` daphne processes of one tree and configuration."""

    def __init__(self, tree: Path, config: Config, processes: int, extra_env: dict) -> None:
        self.tree, self.config, self.count, self.extra_env = tree, config, processes, extra_env
        self.ports = [free_port() for _ in range(processes)]
        self.procs: list[subprocess.Popen] = []

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def start(self) -> None:
        env = {**os.environ, **self.config.env, **self.extra_env}
        logs = WORK / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for port in self.ports:
            out = open(logs / f"daphne-{port}.log", "w")  # noqa: SIM115 - closed with the process
            self.procs.append(
                subprocess.Popen([PYTHON, "manage.py", "serve", "-b", "127.0.0.1", "-p", str(port)],
                                 cwd=self.tree, env=env, stdout=out, stderr=subprocess.STDOUT)
            )  # fmt: skip
        for port in self.ports:
            wait_listening(port)

    def stop(self) -> None:
        for p in self.procs:
            p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()


def wait_listening(port: int, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise SystemExit(f"daphne on port {port} did not listen within {timeout} s")


# --- profiling -------------------------------------------------------------------------------
def py_spy() -> str:
    found = shutil.which("py-spy")
    if found:
        return found
    venv = WORK / "tools"
    binary = venv / "bin" / "py-spy"
    if not binary.exists():
        log("installing py-spy in", venv)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "py-spy==0.4.3"], check=True)
    return str(binary)


class Profiler:
    """py-spy record of one process, in collapsed-stack form, while a burst runs; with
    `dump_every`, also `py-spy dump` (every thread's stack, waiting ones too) every so often,
    to see what a stalled process waits for."""

    def __init__(self, pid: int, out: Path, dump_every: float = 0, gil: bool = False) -> None:
        self.pid, self.out, self.process = pid, out, None
        self.dump_every, self.gil = dump_every, gil
        self.dumper: asyncio.Task | None = None

    async def _dump_loop(self) -> None:
        with open(self.out.with_suffix(".dumps"), "w") as out:
            while True:
                await asyncio.sleep(self.dump_every)
                dump = await asyncio.create_subprocess_exec(
                    py_spy(), "dump", "--pid", str(self.pid), "--nonblocking",
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
                )  # fmt: skip
                text, _ = await dump.communicate()
                out.write(f"=== {time.strftime('%H:%M:%S')}\n{text.decode()}\n")
                out.flush()

    def start(self) -> None:
        if self.dump_every:
            self.dumper = asyncio.get_running_loop().create_task(self._dump_loop())
        self.process = subprocess.Popen(
            [py_spy(), "record", "--pid", str(self.pid), "--rate", "97", "--nonblocking",
             "--threads", "--format", "raw", "-o", str(self.out), *(["--gil"] * self.gil)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(0.3)

    def stop(self) -> None:
        if self.dumper is not None:
            self.dumper.cancel()
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


INTERESTING = ("chat/", "knowledge/", "psycopg", "openai/", "autobahn/", "daphne/", "redis/",
               "json/", "httpx", "django/db/", "channels/")  # fmt: skip


def profile_top(path: Path, limit: int = 20) -> tuple[list, list]:
    """From a collapsed-stack file: the functions with most samples on top of the stack (self %),
    and the project's or its main libraries' functions with most samples anywhere (incl %)."""
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines() if path.exists() else []:
        stack, _, count = line.rpartition(" ")
        frames = [f for f in stack.split(";")[1:] if f]  # the first frame names the thread
        if not frames:
            continue
        n = int(count)
        total += n
        own[frames[-1]] = own.get(frames[-1], 0) + n
        for f in set(frames):
            if any(mark in f for mark in INTERESTING):
                inclusive[f] = inclusive.get(f, 0) + n

    def top(counts: dict[str, int]) -> list[tuple[str, float]]:
        ranked = sorted(counts.items(), key=lambda kv: -kv[1])[:limit]
        return [(f, round(100 * n / max(total, 1), 1)) for f, n in ranked]

    return top(own), top(inclusive)


def thread_shares(path: Path) -> dict[str, float]:
    """The share of samples per thread name (py-spy --threads)."""
    counts: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines() if path.exists() else []:
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        thread = stack.split(";", 1)[0]
        name = thread.split('"')[1] if '"' in thread else thread
        name = name.rstrip("0123456789_-")
        counts[name] = counts.get(name, 0) + int(count)
        total += int(count)
    return {k: round(100 * v / total, 1) for k, v in sorted(counts.items(), key=lambda kv: -kv[1])}


# --- trees ---------------------------------------------------------------------------------
# Every variant runs committed code, exported from git: never the working tree, where other
# work in progress would be measured too.
def tree_export(name: str, ref: str = "HEAD") -> Path:
    tree = WORK / name
    if tree.exists():
        shutil.rmtree(tree)
    tree.mkdir(parents=True)
    git = shutil.which("git") or "git"
    archive = subprocess.run([git, "archive", "--format=tar", ref], cwd=ROOT, check=True,
                             capture_output=True).stdout  # fmt: skip
    subprocess.run([shutil.which("tar") or "tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def before_tree(ref: str) -> Path:
    """HEAD with PERF_FILES as they were at `ref`."""
    tree = tree_export("before")
    for path in PERF_FILES:
        old = subprocess.run([shutil.which("git") or "git", "show", f"{ref}:{path}"], cwd=ROOT,
                             check=True, capture_output=True).stdout  # fmt: skip
        (tree / path).write_bytes(old)
    return tree


def proposed_tree(patches: list[str]) -> Path:
    """HEAD with `patches` (unified diffs, paths from the tree's root) applied: changes proposed
    for files the benchmark's owner does not own, measured before they land."""
    tree = tree_export("proposed")
    for patch in patches:
        subprocess.run([shutil.which("patch") or "patch", "-p1", "-i", str(Path(patch).resolve())],
                       cwd=tree, check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    return tree


def env_pairs(text: str) -> dict:
    return dict(pair.split("=", 1) for pair in text.split(",") if "=" in pair)


# --- a whole variant -------------------------------------------------------------------------
async def burst_row(label: str, site: Site, config: Config, args, upstream: int, n: int) -> dict:
    """N direct streams, then N visitors at once through the site (profiled if asked)."""
    burst = Burst(n)
    await burst_direct(upstream, n, burst)
    await asyncio.sleep(0.5)
    profiler = None
    if args.profile and config.name == "pg" and n in args.profile_at:
        out = Path(args.profile) / f"{config.name}-{label}-{n}.txt"
        out.parent.mkdir(parents=True, exist_ok=True)
        profiler = Profiler(site.pids[0], out, args.dump_every, args.profile_gil)
    await burst_through(site.ports, site.pids, n, burst, profiler)
    row = burst.row()
    if profiler:
        row["profile"] = str(profiler.out)
    log(f"[{config.name}/{label}] n={n}", json.dumps(row))
    await asyncio.sleep(1.0)
    return row


async def variant_run(label: str, tree: Path, config: Config, args, upstream: int,
                      extra_env: dict) -> dict:  # fmt: skip
    if config.name == "pg":
        redis_flush(args.redis_url)
    site = Site(tree, config, args.processes, extra_env)
    log(f"[{config.name}/{label}] starting {args.processes} daphne")
    site.start()
    result: dict = {"config": config.name, "variant": label, "processes": args.processes}
    try:
        result["rss_start_mb"] = round(sum(rss_mb(p) for p in site.pids), 1)
        warm = await visitors_open(site.ports, len(site.ports))  # one per process
        answers = await asyncio.gather(*(v.ask("What is Concierge? (warm-up)") for v in warm))
        result["first_question_s"] = round(max(a.total or 0 for a in answers), 2)
        await visitors_close(warm)
        # A second question on a warm process: what one visitor alone waits.
        result["rss_warm_mb"] = round(sum(rss_mb(p) for p in site.pids), 1)
        result["bursts"] = [
            await burst_row(label, site, config, args, upstream, n) for n in args.concurrency
        ]
        result["rss_after_bursts_mb"] = round(sum(rss_mb(p) for p in site.pids), 1)
        extras = not args.extras_variants or label in args.extras_variants.split(",")
        if args.sustained and extras:
            direct = await sustained_direct(upstream, args.sustained, args.sustained_seconds)
            through = await sustained_through(site.ports, args.sustained, args.sustained_seconds)
            result["sustained"] = {"direct": direct, "through": through}
            log(f"[{config.name}/{label}] sustained", json.dumps(result["sustained"]))
        if args.idle and extras:
            result["idle"] = await idle_widgets(site.ports, site.pids, args.idle)
            log(f"[{config.name}/{label}] idle", json.dumps(result["idle"]))
        result["load_average"] = load_average()
    finally:
        site.stop()
    return result


# --- output ----------------------------------------------------------------------------------
def variant_name(result: dict) -> str:
    return result["variant"] + (f" (round {result['round']})" if "round" in result else "")


def table(results: list[dict]) -> str:
    lines = [
        "| config | variant | n | direct TTFT p50/p95 ms | TTFT p50/p95/p99 ms "
        "| added p50/p95/p99 ms | total s (direct) | tokens/s | CPU ms/token | errors |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        for b in r.get("bursts", []):
            d, t, a = b["direct_ttft_ms"], b["ttft_ms"], b["added_ttft_ms"]
            lines.append(
                f"| {r['config']} | {variant_name(r)} | {b['n']} | {d['p50']} / {d['p95']} "
                f"| {t['p50']} / {t['p95']} / {t['p99']} | {a['p50']} / {a['p95']} / {a['p99']} "
                f"| {b['total_s']} ({b['direct_total_s']}) | {b['tokens_per_s']} "
                f"| {b['cpu_ms_per_token']} | {sum(b['errors'].values()) or ''} |"
            )
    lines.append("")
    lines.append("| config | variant | RSS start / warm / after MB | first question s | sustained "
                 "answers/s, TTFT p50/p95 ms (direct) | idle widgets KB each |")  # fmt: skip
    lines.append("| --- | --- | --- | --- | --- | --- |")
    for r in results:
        s = r.get("sustained")
        sus = ""
        if s:
            th, di = s["through"], s["direct"]
            sus = (f"{th['visitors']} visitors: {th['answers_per_s']}/s, {th['ttft_p50_ms']} / "
                   f"{th['ttft_p95_ms']} ({di['answers_per_s']}/s, {di['ttft_p50_ms']} / "
                   f"{di['ttft_p95_ms']})")  # fmt: skip
        idle = r.get("idle", {})
        lines.append(
            f"| {r['config']} | {variant_name(r)} | {r['rss_start_mb']} / {r['rss_warm_mb']} / "
            f"{r.get('rss_after_bursts_mb')} | {r['first_question_s']} | {sus} | "
            f"{idle.get('kb_per_widget', '')} ({idle.get('widgets', '')}) |"
        )
    return "\n".join(lines)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ints = lambda s: [int(x) for x in s.split(",") if x]  # noqa: E731
    parser.add_argument("--configs", default="sqlite,pg")
    parser.add_argument("--concurrency", type=ints, default=[1, 20, 50, 200])
    parser.add_argument("--processes", type=int, default=1, choices=[1, 2, 3, 4])
    parser.add_argument("--sustained", type=int, default=50, help="visitors (0: skip)")
    parser.add_argument("--sustained-seconds", type=float, default=30)
    parser.add_argument("--idle", type=int, default=2000, help="idle widgets (0: skip)")
    parser.add_argument("--extras-variants", default="", help="sustained and idle only for these")
    parser.add_argument("--before", default="", help="git revision of the 'before' variant")
    parser.add_argument("--baseline", default="", help="git revision run whole, as it was")
    parser.add_argument("--variants", default="", help="run only these (before,after,proposed)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="run the variants this many times, the order reversed each round")
    parser.add_argument("--proposed", default="", help="patches for a 'proposed' variant")
    parser.add_argument("--proposed-env", default="", help="K=V,... for the 'proposed' variant")
    parser.add_argument("--profile", default="", help="folder for py-spy profiles")
    parser.add_argument("--profile-at", type=ints, default=[50, 200])
    parser.add_argument("--profile-gil", action="store_true",
                        help="sample only the thread holding the GIL (where the CPU goes)")
    parser.add_argument("--dump-every", type=float, default=0, help="seconds between py-spy dumps")
    parser.add_argument("--peers", action="store_true")
    parser.add_argument("--peers-at", type=ints, default=[], help="(default: --concurrency)")
    parser.add_argument("--delay", type=float, default=0.2)
    parser.add_argument("--tokens", type=int, default=40)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--pg-url", default=os.environ.get(
        "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/concierge_ld"))  # fmt: skip
    parser.add_argument("--redis-url", default=os.environ.get(
        "BENCH_REDIS_URL", "redis://127.0.0.1:6379/11"))  # fmt: skip
    return parser.parse_args()


def variants_of(args) -> list[tuple[str, Path, dict]]:
    """(label, exported tree, extra environment) of each variant the arguments ask for."""
    variants = [("after", tree_export("after"), {})]
    if args.baseline:  # the whole tree as it was at that revision, with its own settings
        variants.insert(0, ("baseline", tree_export("baseline", args.baseline), {}))
    if args.before:
        variants.insert(
            0, ("before", before_tree(args.before),
                {"DATABASE_POOL": "false", "DATABASE_CONN_MAX_AGE": "0"}),
        )  # fmt: skip
    if args.proposed or args.proposed_env:
        patches = [p for p in args.proposed.split(",") if p]
        tree = proposed_tree(patches) if patches else tree_export("proposed")
        variants.append(("proposed", tree, env_pairs(args.proposed_env)))
    if args.variants:
        variants = [v for v in variants if v[0] in args.variants.split(",")]
    return variants


async def main_async(args) -> dict:
    WORK.mkdir(parents=True, exist_ok=True)
    upstream_proc, upstream = upstream_start(args)
    results, peers = [], []
    started = time.time()
    load_start = load_average()
    try:
        variants = variants_of(args)
        for name in [c for c in args.configs.split(",") if c]:
            sqlite_path = WORK / "sqlite" / "bench.sqlite3"
            sqlite_path.parent.mkdir(parents=True, exist_ok=True)
            config = Config(name, config_env(name, args, upstream, sqlite_path))
            database_prepare(config, args)
            # Round 1 runs the variants in the order given, round 2 in reverse, and so on: the
            # variant run second pays for what the first left behind (about 7% measured), so a
            # comparison is read over rounds of both orders.
            for round_no in range(1, args.rounds + 1):
                order = variants if round_no % 2 else variants[::-1]
                for label, tree, extra in order:
                    result = await variant_run(label, tree, config, args, upstream, extra)
                    if args.rounds > 1:
                        result["round"] = round_no
                    results.append(result)
        if args.peers:
            import peers as peer_runner

            for n in args.peers_at or args.concurrency:
                burst = Burst(n)
                await burst_direct(upstream, n, burst)
                peers.extend(await peer_runner.peers_run(upstream=upstream, n=n, work=WORK,
                                                         direct=burst))  # fmt: skip
    finally:
        upstream_proc.terminate()
    return {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "seconds": round(time.time() - started, 1),
        "cpus": os.cpu_count(),
        "load_average_start": load_start,
        "load_average_end": load_average(),
        "upstream": {"delay_s": args.delay, "tokens": args.tokens, "tokens_per_s": args.rate},
        "results": results,
        "peers": peers,
    }


def main() -> None:
    args = parse_args()
    report = asyncio.run(main_async(args))
    print(table(report["results"]))
    if report["peers"]:
        print()
        print("| peer | n | direct TTFT p50/p95 ms | TTFT p50/p95 ms | added p50/p95 ms | total s "
              "(direct) | RSS MB | note |")  # fmt: skip
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for p in report["peers"]:
            print(f"| {p['peer']} | {p.get('n', '')} | {p.get('direct', '')} | {p.get('ttft', '')} "
                  f"| {p.get('added', '')} | {p.get('total', '')} | {p.get('rss_mb', '')} "
                  f"| {p.get('note', '')} |")  # fmt: skip
    if args.profile:
        for path in sorted(Path(args.profile).glob("*.txt")):
            print(f"\n{path.name}: threads {thread_shares(path)}")
            own, inclusive = profile_top(path)
            print("  self:")
            for fn, share in own:
                print(f"  {share:5.1f}%  {fn}")
            print("  inclusive (project and main libraries):")
            for fn, share in inclusive:
                print(f"  {share:5.1f}%  {fn}")
    print(f"load average (1, 5, 15 min): start {report['load_average_start']}, "
          f"end {report['load_average_end']}")  # fmt: skip
    print(json.dumps(report))


if __name__ == "__main__":
    main()
