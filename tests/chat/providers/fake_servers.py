"""Local HTTP servers that speak OpenAI's and Anthropic's streaming wire formats.

The provider tests run the real SDKs against these, so what is tested is the bytes on the wire:
`data: {chat.completion.chunk}` lines ending in `data: [DONE]` for OpenAI, and `event: ...`
frames (message_start ... message_stop, or `error`) for Anthropic.

Each POST takes the next queued `Reply`; every request is recorded (method, path, headers, JSON
body) so a test can count attempts and read what the SDK sent. A reply streams its frames with
chunked transfer encoding, flushing each one, and may `Pause` between frames (to test timeouts)
or `drop` the connection without finishing (a network failure mid-answer). The part that is no
vendor's (`LocalServer`, `RecordingHandler`) also serves tests/operator/fake_ollama.py.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


@dataclass(frozen=True)
class Pause:
    """Send nothing for `seconds` (cut short when the server stops)."""

    seconds: float


@dataclass
class Reply:
    """One HTTP response: a JSON `body`, or a stream of SSE `frames` (strings and Pauses)."""

    status: int = 200
    body: Any = None
    frames: list[str | Pause] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # before the status line: a server that accepted but does not answer
    drop: bool = False  # end the stream without its final chunk: a dropped connection


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class RecordingHandler(BaseHTTPRequestHandler):
    """Quiet HTTP/1.1 that records each request on its server (`fake`) and can answer in
    chunks; a fake's own subclass says what to answer."""

    protocol_version = "HTTP/1.1"
    fake: LocalServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # keep test output clean

    def read_json(self, empty: Any = None) -> Any:
        """The request's JSON body (`empty` when it has none)."""
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw) if raw else empty

    def record(self, body: Any) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.fake.requests.append(Recorded(self.command, self.path, headers, body))

    def send_chunk(self, data: bytes) -> None:
        """One chunk of a `transfer-encoding: chunked` body, flushed at once."""
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def end_chunks(self, *, drop: bool = False) -> None:
        """The final chunk; with `drop`, none: the connection closes mid-body."""
        if drop:
            self.close_connection = True
            return
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class LocalServer:
    """A threaded HTTP server on a free local port, started and stopped by the test; every
    request is recorded in `requests`, and answered by the class's `handler`."""

    handler: type[RecordingHandler]

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.stopping = threading.Event()
        # The stdlib builds a handler per request and hands it only the HTTP server: a subclass
        # per fake is how the handler reaches this object.
        bound = type(self.handler.__name__, (self.handler,), {"fake": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), bound)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class _VendorHandler(RecordingHandler):
    fake: FakeVendorServer

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        self.record(None)
        if self.path.split("?")[0].rstrip("/") == self.fake.models_path:
            self._send_json(Reply(body=self.fake.models_body()))
        else:
            self._send_json(Reply(status=404, body={"error": {"message": "no such path"}}))

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        self.record(self.read_json())
        reply = self.fake.next_reply()
        if reply.delay and self.fake.stopping.wait(reply.delay):
            return
        try:
            if reply.frames:
                self._send_stream(reply)
            else:
                self._send_json(reply)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test): nothing to answer

    def _send_json(self, reply: Reply) -> None:
        data = json.dumps(reply.body if reply.body is not None else {}).encode()
        self.send_response(reply.status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self._send_extra_headers(reply)
        self.end_headers()
        self.wfile.write(data)

    def _send_stream(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("cache-control", "no-cache")
        self._send_extra_headers(reply)
        self.end_headers()
        self.wfile.flush()
        for frame in reply.frames:
            if isinstance(frame, Pause):
                if self.fake.stopping.wait(frame.seconds):
                    return
                continue
            self.send_chunk(frame.encode())
            self.fake.sent.append((time.monotonic(), frame))
        self.end_chunks(drop=reply.drop)

    def _send_extra_headers(self, reply: Reply) -> None:
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("x-request-id", f"req_{uuid.uuid4().hex[:12]}")


class FakeVendorServer(LocalServer):
    """A vendor's API: each POST takes the next queued `Reply`; GET `models_path` lists the
    models."""

    models_path = "/v1/models"
    handler = _VendorHandler

    def __init__(self, *, models: list[str] | None = None) -> None:
        super().__init__()
        self.models = models or []
        self.sent: list[tuple[float, str]] = []  # (time.monotonic(), frame) as each frame left
        self._replies: list[Reply] = []
        self._lock = threading.Lock()

    def enqueue(self, *replies: Reply) -> None:
        with self._lock:
            self._replies.extend(replies)

    def next_reply(self) -> Reply:
        with self._lock:
            if self._replies:
                return self._replies.pop(0)
        return Reply(status=500, body={"error": {"message": "the test queued no reply"}})

    def sent_at(self, text: str) -> float:
        """When the first frame containing `text` was sent (same clock as time.monotonic())."""
        return next(when for when, frame in self.sent if text in frame)

    @property
    def posts(self) -> list[Recorded]:
        """The generation requests (POST), in order: one per attempt."""
        return [r for r in self.requests if r.method == "POST"]

    def models_body(self) -> Any:
        raise NotImplementedError


class OpenAIServer(FakeVendorServer):
    """Speaks Chat Completions (POST /v1/chat/completions) and GET /v1/models."""

    def models_body(self) -> Any:
        return {
            "object": "list",
            "data": [
                {"id": m, "object": "model", "created": 0, "owned_by": "test"} for m in self.models
            ],
        }


class AnthropicServer(FakeVendorServer):
    """Speaks the Messages API (POST /v1/messages) and GET /v1/models."""

    def models_body(self) -> Any:
        data = [
            {"id": m, "type": "model", "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
            for m in self.models
        ]
        return {
            "data": data,
            "has_more": False,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }


# --- OpenAI wire format -----------------------------------------------------------------------


def openai_chunk(
    *, model: str, content: str | None = None, role: str | None = None, finish: str | None = None
) -> dict[str, Any]:
    delta: dict[str, Any] = {}
    if role:
        delta["role"] = role
    if content is not None:
        delta["content"] = content
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }


def openai_frame(payload: Any) -> str:
    return f"data: {json.dumps(payload)}\n\n"


def openai_stream(
    tokens: list[str],
    *,
    model: str = "gpt-test",
    usage: tuple[int, int] | None = None,
    pause: float = 0.0,
    done: bool = True,
) -> list[str | Pause]:
    """Frames of a streamed completion: role, one chunk per token, finish, usage, [DONE]."""
    frames: list[str | Pause] = [
        openai_frame(openai_chunk(model=model, role="assistant", content=""))
    ]
    for token in tokens:
        if pause:
            frames.append(Pause(pause))
        frames.append(openai_frame(openai_chunk(model=model, content=token)))
    if not done:
        return frames
    frames.append(openai_frame(openai_chunk(model=model, finish="stop")))
    if usage is not None:
        prompt, completion = usage
        final = {**openai_chunk(model=model), "choices": []}
        final["usage"] = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        frames.append(openai_frame(final))
    frames.append("data: [DONE]\n\n")
    return frames


def openai_error(message: str, *, type: str, code: str | None = None) -> dict[str, Any]:  # noqa: A002
    return {"error": {"message": message, "type": type, "param": None, "code": code}}


# --- Anthropic wire format --------------------------------------------------------------------


def anthropic_frame(event: str, payload: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(payload)}\n\n"


def anthropic_start(*, model: str, input_tokens: int | None) -> str:
    message: dict[str, Any] = {
        "id": "msg_test",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
    }
    if input_tokens is not None:
        message["usage"] = {"input_tokens": input_tokens, "output_tokens": 1}
    return anthropic_frame("message_start", {"type": "message_start", "message": message})


def anthropic_stream(
    tokens: list[str],
    *,
    model: str = "claude-test",
    usage: tuple[int, int] | None = (10, 5),
    pause: float = 0.0,
    done: bool = True,
) -> list[str | Pause]:
    """Frames of a streamed message: start, one text delta per token, delta with usage, stop."""
    frames: list[str | Pause] = [
        anthropic_start(model=model, input_tokens=usage[0] if usage else None),
        anthropic_frame(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        anthropic_frame("ping", {"type": "ping"}),
    ]
    for token in tokens:
        if pause:
            frames.append(Pause(pause))
        delta = {"type": "text_delta", "text": token}
        frames.append(
            anthropic_frame(
                "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}
            )
        )
    if not done:
        return frames
    frames.append(anthropic_frame("content_block_stop", {"type": "content_block_stop", "index": 0}))
    message_delta: dict[str, Any] = {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
    }
    if usage is not None:
        message_delta["usage"] = {"output_tokens": usage[1]}
    frames.append(anthropic_frame("message_delta", message_delta))
    frames.append(anthropic_frame("message_stop", {"type": "message_stop"}))
    return frames


def anthropic_error(type: str, message: str) -> dict[str, Any]:  # noqa: A002
    return {"type": "error", "error": {"type": type, "message": message}}


def anthropic_error_event(type: str, message: str) -> str:  # noqa: A002
    return anthropic_frame("error", anthropic_error(type, message))
