"""The same load through peers: Gradio's ChatInterface and Chainlit, relaying the same upstream.

Each peer is installed by the benchmark in a throwaway virtualenv under the system's temporary
folder (never in the project's .venv), started as its own server, and driven with its own client
(`drive_peer.py`, run inside that virtualenv): N visitors connected first, then asking at once.
A peer that cannot be installed, started or driven here gives a row that says why.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PEERS = {
    # name: (pip requirements, how to start it: argv after the venv's bin/)
    "gradio": (["gradio==6.31.0", "openai"], None),
    "chainlit": (["chainlit==2.12.0", "openai"], None),
}


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def venv_ready(name: str, work: Path) -> Path:
    """The peer's virtualenv, made and installed on first use."""
    venv = work / "peers" / name
    marker = venv / ".installed"
    if marker.exists():
        return venv
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *PEERS[name][0]], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    marker.write_text("ok")
    return venv


def peer_start(name: str, venv: Path, port: int, upstream: int, work: Path) -> subprocess.Popen:
    upstream_url = f"http://127.0.0.1:{upstream}/v1"
    log = open(work / "logs" / f"peer-{name}.log", "w")  # noqa: SIM115 - closed with the process
    env = {**os.environ, "BENCH_UPSTREAM": upstream_url, "GRADIO_ANALYTICS_ENABLED": "False",
           "CHAINLIT_TELEMETRY_ENABLED": "false"}  # fmt: skip
    if name == "gradio":
        argv = [str(venv / "bin" / "python"), str(HERE / "peer_gradio.py"), str(port), upstream_url]
    else:
        argv = [str(venv / "bin" / "chainlit"), "run", str(HERE / "peer_chainlit.py"),
                "--headless", "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    return subprocess.Popen(argv, cwd=work / "peers", env=env, stdout=log, stderr=subprocess.STDOUT)


def _wait_listening(port: int, process: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode} before listening")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                time.sleep(2)  # let the app finish starting behind the socket
                return
        time.sleep(0.3)
    raise RuntimeError(f"did not listen within {timeout} s")


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


async def peer_burst(name: str, venv: Path, port: int, n: int, pid: int) -> dict:
    url = f"http://127.0.0.1:{port}/"
    cpu = _cpu_s(pid)
    driver = await asyncio.create_subprocess_exec(
        str(venv / "bin" / "python"), str(HERE / "drive_peer.py"), name, url, str(n),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await driver.communicate()
    if driver.returncode != 0:
        raise RuntimeError(err.decode().strip().splitlines()[-1] if err else "driver failed")
    result = json.loads(out.decode().strip().splitlines()[-1])
    result["cpu_s"] = _cpu_s(pid) - cpu
    return result


async def peers_run(*, upstream: int, n: int, work: Path, direct) -> list[dict]:
    """One row per peer for `n` visitors at once, with `direct` (a Burst measured just before)."""
    rows = []
    for name in PEERS:
        row = {"peer": name, "n": n}
        process = None
        try:
            venv = venv_ready(name, work)
            port = _free_port()
            process = peer_start(name, venv, port, upstream, work)
            _wait_listening(port, process)
            rss_before = _rss_mb(process.pid)
            result = await peer_burst(name, venv, port, n, process.pid)
            ttft = result["ttft"]
            d50, d95 = _pct(direct.direct_ttft, 0.5), _pct(direct.direct_ttft, 0.95)
            if ttft:
                t50, t95 = _pct(ttft, 0.5), _pct(ttft, 0.95)
                row["direct"] = f"{d50 * 1000:.0f} / {d95 * 1000:.0f}"
                row["ttft"] = f"{t50 * 1000:.0f} / {t95 * 1000:.0f}"
                row["added"] = f"{(t50 - d50) * 1000:.0f} / {(t95 - d95) * 1000:.0f}"
                row["added_p50_ms"] = round((t50 - d50) * 1000, 1)
                row["added_p95_ms"] = round((t95 - d95) * 1000, 1)
            row["total"] = f"{result['wall']:.2f} ({direct.direct_wall:.2f})"
            row["rss_mb"] = f"{rss_before} -> {_rss_mb(process.pid)}"
            row["cpu_ms_per_answer"] = round(result["cpu_s"] * 1000 / max(1, len(ttft)), 1)
            row["answered"] = len(ttft)
            row["note"] = (
                f"errors {result['errors']}" if result["errors"] else
                f"{len(ttft)}/{n} answered; CPU {row['cpu_ms_per_answer']} ms an answer"
            )  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - a peer that cannot run is a row saying why
            row["note"] = f"could not run here: {type(exc).__name__}: {exc}"[:300]
        finally:
            if process is not None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
        rows.append(row)
    return rows
