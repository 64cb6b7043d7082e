"""Drive N visitors at once through a peer (Gradio or Chainlit), with the peer's own client,
inside the peer's throwaway virtualenv (bench/load/peers.py runs it):

    python drive_peer.py gradio|chainlit URL N

Each visitor connects first; then all ask at the same moment. Prints one JSON line:
{"ttft": [seconds...], "total": [seconds...], "wall": seconds, "errors": {...}}.
"""

import asyncio
import json
import sys
import threading
import time
import uuid
from datetime import UTC, datetime

QUESTION = "What is Concierge? ({i})"


def drive_gradio(url: str, n: int) -> dict:
    from gradio_client import Client

    client = Client(url, verbose=False)
    barrier = threading.Barrier(n + 1)
    ttft, total, errors = [], [], {}

    def visitor(i: int) -> None:
        barrier.wait()
        started = time.perf_counter()
        first = None
        try:
            job = client.submit(QUESTION.format(i=i), api_name="/respond")
            for output in job:
                if first is None and output:
                    first = time.perf_counter() - started
            job.result()
            ttft.append(first)
            total.append(time.perf_counter() - started)
        except Exception as exc:  # noqa: BLE001 - counted, not raised
            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1

    threads = [threading.Thread(target=visitor, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    return {"ttft": [t for t in ttft if t], "total": total,
            "wall": time.perf_counter() - started, "errors": errors}


async def drive_chainlit(url: str, n: int) -> dict:
    import socketio

    ttft, total, errors = [], [], {}

    async def visitor(i: int, go: asyncio.Event, ready: list) -> None:
        sio = socketio.AsyncClient(reconnection=False)
        first = asyncio.Event()
        finished = asyncio.Event()
        marks = {}

        @sio.on("stream_token")
        async def on_token(data):
            if "ttft" not in marks:
                marks["ttft"] = time.perf_counter() - marks["sent"]
                first.set()

        @sio.on("task_end")
        async def on_end(data):
            if "ttft" in marks:
                finished.set()

        try:
            await sio.connect(url, socketio_path="/ws/socket.io", transports=["websocket"],
                              auth={"clientType": "webapp", "sessionId": str(uuid.uuid4()),
                                    "threadId": None, "userEnv": "{}", "chatProfile": None})
            await sio.emit("connection_successful")
            ready.append(i)
            await go.wait()
            marks["sent"] = time.perf_counter()
            now = datetime.now(UTC).isoformat()
            await sio.emit("client_message", {"message": {
                "id": str(uuid.uuid4()), "threadId": "", "output": QUESTION.format(i=i),
                "name": "User", "type": "user_message", "createdAt": now}, "fileReferences": None})
            await asyncio.wait_for(finished.wait(), 180)
            ttft.append(marks["ttft"])
            total.append(time.perf_counter() - marks["sent"])
        except Exception as exc:  # noqa: BLE001 - counted, not raised
            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
        finally:
            await sio.disconnect()

    go, ready = asyncio.Event(), []
    tasks = [asyncio.create_task(visitor(i, go, ready)) for i in range(n)]
    while len(ready) < n and not all(t.done() for t in tasks):
        await asyncio.sleep(0.05)
        if sum(t.done() for t in tasks) + len(ready) >= n:
            break
    started = time.perf_counter()
    go.set()
    await asyncio.gather(*tasks)
    return {"ttft": ttft, "total": total, "wall": time.perf_counter() - started, "errors": errors}


def main() -> None:
    kind, url, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if kind == "gradio":
        result = drive_gradio(url, n)
    else:
        result = asyncio.run(drive_chainlit(url, n))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
