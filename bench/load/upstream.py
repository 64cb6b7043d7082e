"""An OpenAI-compatible upstream for the load benchmark: every answer after a fixed delay, at a
fixed token rate, at most the `max_tokens` asked for (as a real server stops there).

    python bench/load/upstream.py --port 0 [--delay 0.2] [--tokens 40] [--rate 50]

Speaks Chat Completions' streaming format (`data: {chat.completion.chunk}` lines, a usage chunk
when `stream_options.include_usage` is asked for, `data: [DONE]`) over HTTP/1.1 with keep-alive
and chunked transfer encoding, and `GET /v1/models`. Plain asyncio, no dependency: it must cost
little CPU, since it shares the machine with what is measured. Each token is sent at its own
deadline (start + delay + i / rate), so a late wake-up never shifts the tokens after it.
Prints `PORT <n>` on its first line once it listens.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

MODEL = "bench-model"
# Plain words, as most of a model's answer is: no digit, link or address, which the reply path's
# link guard would hold back until it can judge them.
WORDS = (
    "the assistant answers from the help center and the page you are reading so that every "
    "visitor gets a grounded reply quickly and politely with sources when there are some"
).split()


def chunk(body: dict) -> bytes:
    data = f"data: {json.dumps(body, separators=(',', ':'))}\n\n".encode()
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def token_chunk(index: int, created: int, text: str) -> bytes:
    return chunk(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": created,
            "model": MODEL,
            "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
        }
    )


class Upstream:
    def __init__(self, *, delay: float, tokens: int, rate: float) -> None:
        self.delay, self.tokens, self.rate = delay, tokens, rate
        self.streams = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                method, path, headers = parse_head(head)
                length = int(headers.get("content-length", "0") or 0)
                body = await reader.readexactly(length) if length else b""
                if method == "POST" and path.rstrip("/").endswith("/chat/completions"):
                    await self.complete(writer, json.loads(body or b"{}"))
                elif method == "GET" and path.rstrip("/").endswith("/models"):
                    models = [{"id": MODEL, "object": "model", "created": 0, "owned_by": "bench"}]
                    send_json(writer, {"object": "list", "data": models})
                else:
                    send_json(writer, {"error": {"message": "no such path"}}, status=404)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def complete(self, writer: asyncio.StreamWriter, request: dict) -> None:
        started = time.monotonic()
        self.streams += 1
        created = int(time.time())
        # As a real server, at most `max_tokens` (a title asks for 20).
        tokens = min(self.tokens, int(request.get("max_tokens") or self.tokens))
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        for index in range(tokens):
            await sleep_until(started + self.delay + index / self.rate)
            word = WORDS[index % len(WORDS)]
            writer.write(token_chunk(index, created, f" {word}" if index else word.capitalize()))
            await writer.drain()
        if (request.get("stream_options") or {}).get("include_usage"):
            writer.write(
                chunk(
                    {
                        "id": "chatcmpl-bench",
                        "object": "chat.completion.chunk",
                        "created": created,
                        "model": MODEL,
                        "choices": [],
                        "usage": {
                            "prompt_tokens": 100,
                            "completion_tokens": tokens,
                            "total_tokens": 100 + tokens,
                        },
                    }
                )
            )
        data = b"data: [DONE]\n\n"
        writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n0\r\n\r\n")


def parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    method, path, _version = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return method, path, headers


def send_json(writer: asyncio.StreamWriter, body: dict, status: int = 200) -> None:
    data = json.dumps(body).encode()
    writer.write(
        f"HTTP/1.1 {status} OK\r\ncontent-type: application/json\r\n"
        f"content-length: {len(data)}\r\n\r\n".encode()
        + data
    )


async def sleep_until(deadline: float) -> None:
    wait = deadline - time.monotonic()
    if wait > 0:
        await asyncio.sleep(wait)


async def serve(args: argparse.Namespace) -> None:
    upstream = Upstream(delay=args.delay, tokens=args.tokens, rate=args.rate)
    server = await asyncio.start_server(upstream.handle, "127.0.0.1", args.port, backlog=4096)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.2, help="seconds before the first token")
    parser.add_argument("--tokens", type=int, default=40)
    parser.add_argument("--rate", type=float, default=50.0, help="tokens a second")
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
