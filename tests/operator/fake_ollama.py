"""A local HTTP server that speaks Ollama's model-management API in its real wire format.

Ollama's binary is not to be had here, so the model manager is tested against this, on the same
local server as the hosted vendors' fakes (tests/chat/providers/fake_servers.py): real sockets,
real HTTP/1.1, chunked NDJSON (`application/x-ndjson`) for `/api/pull`, errors as
`{"error": "..."}` with Ollama's statuses (404 for an unknown model), and, for a pull that fails
after it started, an `{"error": ...}` line inside the 200 stream (what Ollama's `streamResponse`
writes once content has gone out).

    with FakeOllama() as ollama:
        ollama.add_model("llama3.2:latest", size=2_019_393_189, family="llama")
        ollama.script_pull("qwen2.5:0.5b", pull_lines("qwen2.5:0.5b", layers=[...]))
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.chat.providers.fake_servers import LocalServer, RecordingHandler

DIGEST = "sha256:" + "6a0746a1ec1aef3e7ec53868f220ff6e389f6f8ef87a01d77c96807de94ca2aa"


@dataclass
class PullScript:
    """What `/api/pull` streams for one model: NDJSON objects, `delay` seconds apart.

    `status` other than 200 answers at once with `{"error": ...}` (a refusal before any
    content); `drop` cuts the connection after the lines (no final chunk)."""

    lines: list[dict[str, Any]]
    delay: float = 0.0
    status: int = 200
    drop: bool = False
    size: int = 0
    family: str = "qwen2"


def pull_lines(
    model: str,
    *,
    layers: list[int],
    steps: int = 10,
    fail_after: int | None = None,
    error: str = "max retries exceeded: unexpected EOF",
) -> list[dict[str, Any]]:
    """Ollama's progress objects for a pull of `layers` (sizes in bytes), in order.

    With `fail_after`, the stream stops with `{"error": error}` after that many progress lines
    (a pull that fails halfway)."""
    lines: list[dict[str, Any]] = [{"status": "pulling manifest"}]
    sent = 0
    for index, total in enumerate(layers):
        digest = f"sha256:{index:02d}" + DIGEST[9 + 2 :]
        short = digest[7:19]
        lines.append({"status": f"pulling {short}", "digest": digest, "total": total})
        for step in range(1, steps + 1):
            if fail_after is not None and sent >= fail_after:
                return [*lines, {"error": error}]
            completed = total * step // steps
            lines.append(
                {
                    "status": f"pulling {short}",
                    "digest": digest,
                    "total": total,
                    "completed": completed,
                }
            )
            sent += 1
    return [
        *lines,
        {"status": "verifying sha256 digest"},
        {"status": "writing manifest"},
        {"status": "removing any unused layers"},
        {"status": "success"},
    ]


@dataclass
class _Model:
    name: str
    size: int
    family: str
    parameter_size: str = "494.03M"
    quantization: str = "Q4_K_M"
    modified_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    def tags_row(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.name,
            "modified_at": self.modified_at,
            "size": self.size,
            "digest": DIGEST[7:],
            "details": {
                "parent_model": "",
                "format": "gguf",
                "family": self.family,
                "families": [self.family],
                "parameter_size": self.parameter_size,
                "quantization_level": self.quantization,
            },
        }


class _OllamaHandler(RecordingHandler):
    fake: FakeOllama

    def _body(self) -> Any:
        body = self.read_json(empty={})
        self.record(body)
        return body

    def do_GET(self) -> None:  # noqa: N802
        self._body()
        routes = {"/api/tags": self.fake.tags, "/api/ps": self.fake.ps}
        handler = routes.get(self.path)
        if handler is None:
            self._json(404, "404 page not found", raw=True)
        else:
            self._json(*handler())

    def do_POST(self) -> None:  # noqa: N802
        body = self._body()
        if self.path == "/api/pull":
            self._pull(body)
        elif self.path == "/api/show":
            self._json(*self.fake.show(body))
        elif self.path == "/api/generate":
            self._json(*self.fake.generate(body))
        else:
            self._json(404, "404 page not found", raw=True)

    def do_DELETE(self) -> None:  # noqa: N802
        body = self._body()
        if self.path == "/api/delete":
            self._json(*self.fake.delete(body))
        else:
            self._json(404, "404 page not found", raw=True)

    def _json(self, status: int, body: Any, raw: bool = False) -> None:
        data = (body.encode() if raw else json.dumps(body).encode()) if body is not None else b""
        self.send_response(status)
        self.send_header("content-type", "text/plain" if raw else "application/json; charset=utf-8")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _pull(self, body: dict) -> None:
        name = _full(body.get("model", ""))
        script = self.fake.pulls.get(name)
        if script is None:
            self._json(500, {"error": "pull model manifest: file does not exist"})
            return
        if script.status != 200:
            self._json(script.status, script.lines[0])
            return
        self.send_response(200)
        self.send_header("content-type", "application/x-ndjson")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        try:
            self._stream(name, script)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _stream(self, name: str, script: PullScript) -> None:
        for line in script.lines:
            if script.delay and self.fake.stopping.wait(script.delay):
                return
            # Noted before it leaves: the client may read it (and the test look) before a note
            # made after the send.
            self.fake.pull_sent.append((time.monotonic(), line))
            self.send_chunk(json.dumps(line).encode() + b"\n")
            if line.get("status") == "success":
                size = script.size or sum(
                    item.get("total", 0) for item in script.lines if "completed" not in item
                )
                self.fake.add_model(name, size=size, family=script.family)
        self.end_chunks(drop=script.drop)


class FakeOllama(LocalServer):
    """Ollama's API on a free local port: tags, ps, show, delete, generate (load/unload), pull."""

    handler = _OllamaHandler

    def __init__(self) -> None:
        super().__init__()
        self.models: dict[str, _Model] = {}
        self.running: dict[str, str] = {}  # name -> expires_at
        self.pulls: dict[str, PullScript] = {}
        self.pull_sent: list[tuple[float, dict]] = []  # (time.monotonic(), line) as each left

    def add_model(self, name: str, *, size: int, family: str = "llama", **details: str) -> None:
        self.models[_full(name)] = _Model(_full(name), size, family, **details)

    def script_pull(self, name: str, script: PullScript) -> None:
        self.pulls[_full(name)] = script

    def bodies(self, method: str, path: str) -> list[Any]:
        return [r.body for r in self.requests if r.method == method and r.path == path]

    # --- the API, one method per endpoint: (status, body) or a stream -----------------------
    def tags(self) -> tuple[int, Any]:
        return 200, {"models": [m.tags_row() for m in self.models.values()]}

    def ps(self) -> tuple[int, Any]:
        rows = []
        for name, expires in self.running.items():
            model = self.models[name]
            rows.append({**model.tags_row(), "expires_at": expires, "size_vram": model.size})
        return 200, {"models": rows}

    def show(self, body: dict) -> tuple[int, Any]:
        model = self.models.get(_full(body.get("model", "")))
        if model is None:
            return 404, {"error": f"model '{body.get('model')}' not found"}
        return 200, {
            "modelfile": f'# Modelfile generated by "ollama show"\nFROM {model.name}\n',
            "parameters": 'stop                           "<|im_end|>"',
            "template": "{{ .System }}\n{{ .Prompt }}",
            "details": model.tags_row()["details"],
            "model_info": {
                "general.architecture": model.family,
                "general.parameter_count": 494032768,
                f"{model.family}.context_length": 32768,
            },
            "capabilities": ["completion"],
        }

    def delete(self, body: dict) -> tuple[int, Any]:
        name = _full(body.get("model", ""))
        if name not in self.models:
            return 404, {"error": f"model '{body.get('model')}' not found"}
        del self.models[name]
        self.running.pop(name, None)
        return 200, None

    def generate(self, body: dict) -> tuple[int, Any]:
        name = _full(body.get("model", ""))
        if name not in self.models:
            return 404, {"error": f'model "{body.get("model")}" not found, try pulling it first'}
        reply = {"model": body["model"], "created_at": _now(), "response": "", "done": True}
        if body.get("keep_alive") in (0, "0", "0s"):
            self.running.pop(name, None)
            return 200, {**reply, "done_reason": "unload"}
        self.running[name] = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
        return 200, {**reply, "done_reason": "load"}


def _full(name: str) -> str:
    return name if ":" in name else f"{name}:latest"


def _now() -> str:
    return datetime.now(UTC).isoformat()
