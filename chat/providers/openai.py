"""The `openai` provider: OpenAI itself and every OpenAI-compatible server, told apart by base URL.

LM Studio (:1234/v1), Ollama (:11434/v1), vLLM, llama.cpp and OPEA speak the same Chat Completions
protocol, so one class serves them all (as simonw/llm does). A local server needs no key; the SDK
insists on one, so a placeholder is sent. Retries belong to `Provider.stream`: the SDK gets
`max_retries=0`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlparse

import httpx2
import openai
import structlog
from django.conf import settings

from chat.providers.base import (
    ErrorKind,
    GenerationOptions,
    ModelInfo,
    PromptMessage,
    Provider,
    ProviderError,
    StreamEvent,
    Timeouts,
    Usage,
    estimate_tokens,
)
from chat.providers.http import Vendor, sdk_timeout, status_error, unreachable_error

log = structlog.get_logger(__name__)

PLACEHOLDER_KEY = "not-needed"
_SAMPLING = ("temperature", "top_p", "max_tokens", "seed")
_REQUEST_KEYS = ("model", "messages", "stream", "stream_options")  # never an extra's to change
# Errors a server may put in the stream after HTTP 200, by `error.type`/`code`.
_RETRYABLE_STREAM_ERRORS = ("server_error", "overloaded", "rate_limit", "timeout", "unavailable")


class OpenAIProvider(Provider):
    name = "openai"

    def __init__(self, *, api_key: str = "", base_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.base_url = base_url.rstrip("/")
        self.vendor = _vendor(self.base_url)
        self.client = openai.AsyncOpenAI(
            api_key=api_key or PLACEHOLDER_KEY,
            base_url=self.base_url,
            timeout=sdk_timeout(self.timeouts),
            max_retries=0,
        )
        # Some servers refuse `stream_options`; once one has, stop sending it.
        self.send_stream_options = True

    @classmethod
    def from_settings(cls, *, api_key: str = "", base_url: str = "") -> OpenAIProvider:
        """Build from settings; the operator's key or base URL (if given) win."""
        return cls(
            # The environment's key goes only to the environment's server, never to another
            # base URL the operator typed in the admin.
            api_key=api_key
            or (settings.OPENAI_API_KEY if base_url in ("", settings.OPENAI_BASE_URL) else ""),
            base_url=base_url or settings.OPENAI_BASE_URL,
            timeouts=Timeouts(**settings.CHAT_TIMEOUTS),
            max_retries=settings.CHAT_MAX_RETRIES,
        )

    async def _stream(
        self, *, model: str, messages: list[PromptMessage], options: GenerationOptions
    ) -> AsyncIterator[StreamEvent]:
        stream = await self._open(model=model, messages=messages, options=options)
        pieces: list[str] = []
        usage: Usage | None = None
        chunks = 0
        try:
            async for chunk in stream:
                chunks += 1
                if not isinstance(chunk, dict):
                    continue
                usage = _reported_usage(chunk.get("usage")) or usage
                for text in _delta_texts(chunk):
                    pieces.append(text)
                    yield StreamEvent(type="token", text=text)
        except (openai.OpenAIError, httpx2.HTTPError) as exc:
            raise self._error(exc, model) from exc
        except ValueError as exc:  # a data line that is not JSON
            raise self._not_a_stream(f"sent a line that is not JSON ({exc})") from exc
        finally:
            await stream.close()
        if not chunks:  # a 200 whose body has no server-sent events (plain JSON, HTML...)
            raise self._not_a_stream(
                f"answered with {stream.response.headers.get('content-type') or 'no content type'}"
                ", not a stream of events"
            )
        if usage is None:
            usage = Usage(
                sum(estimate_tokens(m.content) for m in messages),
                estimate_tokens("".join(pieces)),
                estimated=True,
            )
        yield StreamEvent(type="usage", usage=usage)

    async def _open(
        self, *, model: str, messages: list[PromptMessage], options: GenerationOptions
    ) -> openai.AsyncStream:
        """Start the stream; retry once without `stream_options` if the server refuses them.

        Through the SDK's `post` with the body as plain JSON and the chunks as dicts
        (`cast_to=object`): `chat.completions.create` walks the whole request through its
        typed transform (~3 ms a request) and builds pydantic objects for every chunk (13% of the
        event loop under load, bench/README.md). The SDK still sends,
        retries nothing (max_retries=0), decodes the SSE and raises the errors a stream carries.
        """
        body = {
            "model": model,
            "messages": [_message_param(m) for m in messages],
            "stream": True,
            **_option_params(options, hosted=self.vendor.label == "OpenAI"),
        }
        try:
            if self.send_stream_options:
                try:
                    return await self._post({**body, "stream_options": {"include_usage": True}})
                except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
                    if "stream_options" not in _detail(exc):
                        raise
                    self.send_stream_options = False
                    log.info(
                        "provider_stream_options_refused", provider=self.name, url=self.base_url
                    )
            return await self._post(body)
        except (openai.OpenAIError, httpx2.HTTPError) as exc:
            raise self._error(exc, model) from exc

    async def _post(self, body: dict[str, Any]) -> openai.AsyncStream:
        return await self.client.post(
            "/chat/completions",
            body=body,
            cast_to=object,
            stream=True,
            stream_cls=openai.AsyncStream[object],
        )

    async def list_models(self) -> list[ModelInfo]:
        try:
            page = await self.client.models.list()
        except (openai.OpenAIError, httpx2.HTTPError) as exc:
            raise self._error(exc, model="") from exc
        return [ModelInfo(id=m.id, owned_by=getattr(m, "owned_by", None) or "") for m in page.data]

    async def aclose(self) -> None:
        await self.client.close()

    def _not_a_stream(self, what: str) -> ProviderError:
        return ProviderError(
            f"{self.vendor.label} {what}: is {self.base_url} an OpenAI-compatible server "
            "that streams Chat Completions? Check OPENAI_BASE_URL.",
            kind=ErrorKind.UPSTREAM,
        )

    def _error(self, exc: Exception, model: str) -> ProviderError:
        """Turn an SDK (or transport) exception into a ProviderError a person can act on."""
        if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException):
            return unreachable_error(self.vendor, timed_out=True)
        if isinstance(exc, openai.APIConnectionError | httpx2.TransportError):
            return unreachable_error(self.vendor, timed_out=False)
        if isinstance(exc, openai.APIStatusError):
            return status_error(
                exc.status_code,
                detail=_detail(exc),
                vendor=self.vendor,
                model=model,
                headers=exc.response.headers,
            )
        return _stream_error(self.vendor, exc)


def _vendor(base_url: str) -> Vendor:
    if urlparse(base_url).hostname == "api.openai.com":
        return Vendor(
            label="OpenAI",
            url=base_url,
            key_setting="OPENAI_API_KEY",
            unreachable_hint="check the network connection.",
            url_hint=" (OPENAI_BASE_URL)",
        )
    return Vendor(
        label=f"The model server at {base_url}",
        url=base_url,
        key_setting="OPENAI_API_KEY",
        unreachable_hint=(
            "is `make run` (or your LM Studio, Ollama or vLLM server) running? "
            "Check OPENAI_BASE_URL."
        ),
        url_hint=" (OPENAI_BASE_URL; an OpenAI-compatible server's usually ends in /v1)",
    )


def _stream_error(vendor: Vendor, exc: Exception) -> ProviderError:
    """An error the server sent inside a stream that had started with HTTP 200."""
    detail = _detail(exc)
    body = getattr(exc, "body", None)
    kind_text = ""
    if isinstance(body, dict):
        kind_text = f"{body.get('type') or ''} {body.get('code') or ''}"
    retryable = any(marker in kind_text.lower() for marker in _RETRYABLE_STREAM_ERRORS)
    return ProviderError(
        f"{vendor.label} failed while answering: {detail}",
        kind=ErrorKind.RATE_LIMITED if "rate_limit" in kind_text else ErrorKind.UPSTREAM,
        retryable=retryable,
    )


def _detail(exc: Exception) -> str:
    """The vendor's own words: `error.message` from the body, else the exception text."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        parts = [str(body.get(k)) for k in ("message", "code", "type") if body.get(k)]
        if parts:
            return " ".join(parts)
    if isinstance(body, str) and body:
        return body
    return str(exc)


def _message_param(message: PromptMessage) -> dict[str, Any]:
    if not message.images:
        return {"role": message.role, "content": message.content}
    parts: list[dict[str, Any]] = [{"type": "text", "text": message.content}]
    parts += [{"type": "image_url", "image_url": {"url": i.data_url}} for i in message.images]
    return {"role": message.role, "content": parts}


def _option_params(options: GenerationOptions, *, hosted: bool = False) -> dict[str, Any]:
    params: dict[str, Any] = {
        name: getattr(options, name) for name in _SAMPLING if getattr(options, name) is not None
    }
    if options.stop:
        params["stop"] = list(options.stop)
    if options.extra and not hosted:
        # top_k, repeat_penalty, min_p...: not in the OpenAI schema, understood by local servers;
        # OpenAI itself refuses a request that carries them (400), so they are not sent there.
        params.update((k, v) for k, v in options.extra.items() if k not in _REQUEST_KEYS)
    return params


def _reported_usage(usage: Any) -> Usage | None:
    """The chunk's `usage`, when it is one (compatible servers are loose with the schema)."""
    if not isinstance(usage, dict):
        return None
    counts = [usage.get("prompt_tokens"), usage.get("completion_tokens")]
    if not all(isinstance(n, int) or n is None for n in counts):
        return None
    return Usage(counts[0] or 0, counts[1] or 0)


def _delta_texts(chunk: dict) -> list[str]:
    texts = []
    # Compatible servers are loose with the schema (a missing index, a null delta).
    choices = chunk.get("choices")
    for choice in choices if isinstance(choices, list) else ():
        if not isinstance(choice, dict) or choice.get("index", 0) != 0:
            continue
        delta = choice.get("delta")
        content = delta.get("content") if isinstance(delta, dict) else None
        if content and isinstance(content, str):
            texts.append(content)
    return texts
