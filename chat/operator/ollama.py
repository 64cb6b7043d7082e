"""A small async client for Ollama's own API (model management), in its wire format.

`GET /api/tags` (local models), `GET /api/ps` (loaded models), `POST /api/show` (details),
`DELETE /api/delete`, `POST /api/pull` (NDJSON progress: `{"status", "digest", "total",
"completed"}` lines, ending with `{"status": "success"}`, or an `{"error": ...}` line when it
fails after it started), and `POST /api/generate` with an empty prompt and `keep_alive` to load
(`"5m"`, or `-1` for ever) or unload (`0`) a model. Ollama's errors are `{"error": "..."}` with an
HTTP status; they reach the operator in Ollama's own words (`ModelServerError`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import structlog

from chat.operator.exceptions import ModelServerError

log = structlog.get_logger(__name__)

TIMEOUT = httpx2.Timeout(10.0, connect=3.0)
# A pull may stay silent while Ollama verifies a large layer.
PULL_TIMEOUT = httpx2.Timeout(connect=3.0, read=300.0, write=10.0, pool=10.0)
LOAD_TIMEOUT = httpx2.Timeout(connect=3.0, read=300.0, write=10.0, pool=10.0)


class OllamaClient:
    """Ollama at `base_url` (e.g. http://127.0.0.1:11434, without /v1)."""

    def __init__(self, *, base_url: str) -> None:
        self.base_url = base_url.rstrip("/").removesuffix("/v1")

    async def models(self) -> list[dict[str, Any]]:
        body = await self._call("GET", "/api/tags")
        return [_model_row(m) for m in body.get("models") or []]

    async def running(self) -> list[dict[str, Any]]:
        body = await self._call("GET", "/api/ps")
        return [
            {
                **_model_row(m),
                "expires_at": m.get("expires_at", ""),
                "size_vram": m.get("size_vram"),
            }
            for m in body.get("models") or []
        ]

    async def show(self, *, model: str) -> dict[str, Any]:
        body = await self._call("POST", "/api/show", json={"model": model})
        info = body.get("model_info") or {}
        return {
            "model": model,
            "details": body.get("details") or {},
            "parameters": body.get("parameters") or "",
            "template": body.get("template") or "",
            "capabilities": body.get("capabilities") or [],
            "license": (body.get("license") or "")[:2000],
            "context_length": next(
                (v for k, v in info.items() if k.endswith(".context_length")), None
            ),
            "parameter_count": info.get("general.parameter_count"),
        }

    async def delete(self, *, model: str) -> None:
        await self._call("DELETE", "/api/delete", json={"model": model})

    async def load(self, *, model: str, keep_alive: str | int = "5m") -> dict[str, Any]:
        """Load `model` into memory (an empty generate request), kept for `keep_alive`."""
        body = {"model": model, "keep_alive": keep_alive, "stream": False}
        return await self._call("POST", "/api/generate", json=body, timeout=LOAD_TIMEOUT)

    async def unload(self, *, model: str) -> dict[str, Any]:
        body = {"model": model, "keep_alive": 0, "stream": False}
        return await self._call("POST", "/api/generate", json=body, timeout=LOAD_TIMEOUT)

    async def pull(self, *, model: str) -> AsyncIterator[dict[str, Any]]:
        """Yield Ollama's progress objects as they arrive; raise ModelServerError on its error
        (before or during the stream) or when the stream ends before `success`."""
        url = self.base_url + "/api/pull"
        started = False
        try:
            async with (
                httpx2.AsyncClient(timeout=PULL_TIMEOUT) as client,
                client.stream("POST", url, json={"model": model, "stream": True}) as response,
            ):
                if response.status_code >= 400:
                    await response.aread()
                    raise _status_error(response)
                async for line in response.aiter_lines():
                    item = _json_line(line)
                    if item is None:
                        continue
                    if "error" in item:
                        raise ModelServerError(str(item["error"]), status=response.status_code)
                    started = True
                    yield item
                    if item.get("status") == "success":
                        return
        except httpx2.HTTPError as exc:
            if not started:
                raise self._transport_error(exc) from exc
            raise ModelServerError(
                f"The connection to Ollama broke during the pull of {model} "
                f"({type(exc).__name__}) before it reported success; pull again to resume "
                "(Ollama keeps what it downloaded)."
            ) from exc
        raise ModelServerError(
            f"Ollama closed the pull of {model} before it reported success; pull again to "
            "resume (Ollama keeps what it downloaded)."
        )

    async def _call(
        self, method: str, path: str, *, json: Any = None, timeout: httpx2.Timeout = TIMEOUT
    ) -> dict[str, Any]:
        try:
            async with httpx2.AsyncClient(timeout=timeout) as client:
                response = await client.request(method, self.base_url + path, json=json)
        except httpx2.HTTPError as exc:
            raise self._transport_error(exc) from exc
        if response.status_code >= 400:
            raise _status_error(response)
        try:
            body = response.json() if response.content else {}
        except ValueError:
            raise ModelServerError(
                f"Ollama at {self.base_url} answered {path} with something that is not JSON: "
                "is that URL really Ollama (OLLAMA_BASE_URL)?",
                status=response.status_code,
            ) from None
        return body if isinstance(body, dict) else {}

    def _transport_error(self, exc: Exception) -> ModelServerError:
        if isinstance(exc, httpx2.TimeoutException):
            return ModelServerError(f"Ollama at {self.base_url} did not answer in time.")
        return ModelServerError(
            f"Ollama is not reachable at {self.base_url} ({type(exc).__name__}): is `ollama "
            "serve` running? Check OLLAMA_BASE_URL."
        )


def _status_error(response: httpx2.Response) -> ModelServerError:
    """Ollama's own `{"error": "..."}`, or the status line when the body has none."""
    message = ""
    try:
        body = response.json()
        if isinstance(body, dict):
            message = str(body.get("error") or "")
    except ValueError:
        message = response.text[:300]
    return ModelServerError(
        message or f"Ollama answered HTTP {response.status_code}.", status=response.status_code
    )


def _json_line(line: str) -> dict[str, Any] | None:
    line = line.strip()
    if not line:
        return None
    try:
        item = json.loads(line)
    except ValueError:
        log.warning("ollama_bad_line", chars=len(line))
        return None
    return item if isinstance(item, dict) else None


def _model_row(model: dict[str, Any]) -> dict[str, Any]:
    details = model.get("details") or {}
    return {
        "name": model.get("name") or model.get("model") or "",
        "size": model.get("size") or 0,
        "digest": (model.get("digest") or "")[:12],
        "modified_at": model.get("modified_at", ""),
        "family": details.get("family") or "",
        "parameter_size": details.get("parameter_size") or "",
        "quantization": details.get("quantization_level") or "",
        "format": details.get("format") or "",
    }


class PullProgress:
    """Sums Ollama's per-layer progress into one bar (layers arrive one after another)."""

    def __init__(self) -> None:
        self.layers: dict[str, tuple[int, int]] = {}

    def see(self, item: dict[str, Any]) -> dict[str, Any]:
        """The event for the browser: Ollama's status, and overall bytes done and to do."""
        digest = item.get("digest")
        if digest and item.get("total"):
            self.layers[digest] = (int(item.get("completed") or 0), int(item["total"]))
        done = sum(c for c, _ in self.layers.values())
        total = sum(t for _, t in self.layers.values())
        return {"status": str(item.get("status") or ""), "completed": done, "total": total}
