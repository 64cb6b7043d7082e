"""The `anthropic` provider: Claude through the streaming Messages API.

The Messages API differs from Chat Completions in ways this module absorbs: the system prompt is
a separate field, turns must alternate user/assistant, images are base64 blocks, `max_tokens` is
required, and an error can arrive as an SSE `error` event after HTTP 200 (e.g. `overloaded_error`).
Retries belong to `Provider.stream`: the SDK gets `max_retries=0`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anthropic
import httpx2
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

DEFAULT_BASE_URL = "https://api.anthropic.com"
DEFAULT_MAX_TOKENS = 1024
# Extras the Messages API understands; others (repeat_penalty, min_p...) are for local servers.
_KNOWN_EXTRAS = ("top_k",)
# `error.type` of an SSE error event -> (kind, retryable).
_STREAM_ERRORS = {
    "overloaded_error": (ErrorKind.UNAVAILABLE, True),
    "api_error": (ErrorKind.UNAVAILABLE, True),
    "rate_limit_error": (ErrorKind.RATE_LIMITED, True),
    "timeout_error": (ErrorKind.TIMEOUT, True),
}


class AnthropicProvider(Provider):
    name = "anthropic"

    def __init__(self, *, api_key: str, base_url: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.vendor = Vendor(
            label="Anthropic",
            url=base_url or DEFAULT_BASE_URL,
            key_setting="ANTHROPIC_API_KEY",
            unreachable_hint="check the network connection (and ANTHROPIC_BASE_URL if set).",
            url_hint=" (ANTHROPIC_BASE_URL: leave it empty for Anthropic itself)",
        )
        self.client = anthropic.AsyncAnthropic(
            api_key=api_key,
            base_url=base_url or None,
            timeout=sdk_timeout(self.timeouts),
            max_retries=0,
        )

    @classmethod
    def from_settings(cls, *, api_key: str = "", base_url: str = "") -> AnthropicProvider:
        """Build from settings; the operator's key or base URL (if given) win."""
        return cls(
            # The environment's key goes only to the environment's server, never to another
            # base URL the operator typed in the admin.
            api_key=api_key
            or (
                settings.ANTHROPIC_API_KEY if base_url in ("", settings.ANTHROPIC_BASE_URL) else ""
            ),
            base_url=base_url or settings.ANTHROPIC_BASE_URL or None,
            timeouts=Timeouts(**settings.CHAT_TIMEOUTS),
            max_retries=settings.CHAT_MAX_RETRIES,
        )

    async def _stream(
        self, *, model: str, messages: list[PromptMessage], options: GenerationOptions
    ) -> AsyncIterator[StreamEvent]:
        system, turns = split_messages(messages)
        try:
            stream = await self.client.messages.create(
                model=model,
                messages=turns,
                stream=True,
                **({"system": system} if system else {}),
                **_option_params(options),
            )
        except (anthropic.AnthropicError, httpx2.HTTPError) as exc:
            raise self._error(exc, model) from exc
        counter = _UsageCounter()
        try:
            async for event in stream:
                counter.see(event)
                if event.type == "content_block_delta" and event.delta.type == "text_delta":
                    if event.delta.text:
                        yield StreamEvent(type="token", text=event.delta.text)
        except (anthropic.AnthropicError, httpx2.HTTPError) as exc:
            raise self._error(exc, model) from exc
        finally:
            await stream.close()
        yield StreamEvent(type="usage", usage=counter.usage(messages))

    async def list_models(self) -> list[ModelInfo]:
        try:
            return [
                ModelInfo(id=model.id, owned_by="anthropic")
                async for model in self.client.models.list()
            ]
        except (anthropic.AnthropicError, httpx2.HTTPError) as exc:
            raise self._error(exc, model="") from exc

    async def aclose(self) -> None:
        await self.client.close()

    def _error(self, exc: Exception, model: str) -> ProviderError:
        """Turn an SDK (or transport) exception into a ProviderError a person can act on."""
        if isinstance(exc, anthropic.APITimeoutError | httpx2.TimeoutException):
            return unreachable_error(self.vendor, timed_out=True)
        if isinstance(exc, anthropic.APIConnectionError | httpx2.TransportError):
            return unreachable_error(self.vendor, timed_out=False)
        if isinstance(exc, anthropic.APIStatusError) and exc.status_code < 400:
            return _stream_error(exc)
        if isinstance(exc, anthropic.APIStatusError):
            if exc.status_code == 529:  # overloaded: Anthropic's own, not a standard 5xx meaning
                return ProviderError(
                    "Anthropic is overloaded (HTTP 529): try again shortly.",
                    kind=ErrorKind.UNAVAILABLE,
                    retryable=True,
                )
            return status_error(
                exc.status_code,
                detail=_detail(exc),
                vendor=self.vendor,
                model=model,
                headers=exc.response.headers,
            )
        return ProviderError(f"Anthropic failed: {exc}", kind=ErrorKind.UPSTREAM)


class _UsageCounter:
    """Input tokens arrive with `message_start`, the output count with `message_delta`."""

    def __init__(self) -> None:
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.text: list[str] = []

    def see(self, event: Any) -> None:
        # getattr: an Anthropic-compatible proxy may leave usage out altogether.
        usage = getattr(event, "usage", None)
        if event.type == "message_start":
            usage = getattr(event.message, "usage", None)
            if usage is not None and usage.input_tokens is not None:
                self.input_tokens = _input_tokens(usage)
        elif event.type == "message_delta" and usage is not None:
            self.output_tokens = usage.output_tokens
            if getattr(usage, "input_tokens", None) is not None:
                self.input_tokens = _input_tokens(usage)
        elif event.type == "content_block_delta" and event.delta.type == "text_delta":
            self.text.append(event.delta.text)

    def usage(self, messages: list[PromptMessage]) -> Usage:
        if self.input_tokens is not None and self.output_tokens is not None:
            return Usage(self.input_tokens, self.output_tokens)
        return Usage(
            self.input_tokens
            if self.input_tokens is not None
            else sum(estimate_tokens(m.content) for m in messages),
            estimate_tokens("".join(self.text)),
            estimated=True,
        )


def split_messages(messages: list[PromptMessage]) -> tuple[str, list[dict[str, Any]]]:
    """Return (system prompt, turns): system messages joined, same-role neighbours merged."""
    system = "\n\n".join(m.content for m in messages if m.role == "system" and m.content)
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            continue
        blocks = _content_blocks(message)
        if not blocks:
            continue
        if turns and turns[-1]["role"] == message.role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": message.role, "content": blocks})
    # The first turn must be the user's; a leading assistant greeting carries no question.
    while turns and turns[0]["role"] == "assistant":
        turns.pop(0)
    return system, turns


def _content_blocks(message: PromptMessage) -> list[dict[str, Any]]:
    # Images first: Anthropic documents better results when the image precedes the question.
    blocks: list[dict[str, Any]] = [
        {
            "type": "image",
            "source": {"type": "base64", "media_type": image.media_type, "data": image.data_base64},
        }
        for image in message.images
    ]
    if message.content.strip():  # the API refuses empty text blocks
        blocks.append({"type": "text", "text": message.content})
    return blocks


def _option_params(options: GenerationOptions) -> dict[str, Any]:
    params: dict[str, Any] = {"max_tokens": options.max_tokens or DEFAULT_MAX_TOKENS}
    if options.stop:
        params["stop_sequences"] = list(options.stop)
    # This SDK has no typed sampling arguments: they travel in the body. Recent Claude models
    # refuse temperature and top_p together, so top_p goes only when temperature is unset.
    sampling: dict[str, Any] = {}
    if options.temperature is not None:
        sampling["temperature"] = options.temperature
    elif options.top_p is not None:
        sampling["top_p"] = options.top_p
    sampling.update({k: v for k, v in options.extra.items() if k in _KNOWN_EXTRAS})
    ignored = sorted(set(options.extra) - set(_KNOWN_EXTRAS))
    if ignored:
        log.debug("provider_options_ignored", provider="anthropic", options=ignored)
    if sampling:
        params["extra_body"] = sampling
    return params


def _stream_error(exc: anthropic.APIStatusError) -> ProviderError:
    """An `error` event inside a stream that began with HTTP 200."""
    kind, retryable = _STREAM_ERRORS.get(exc.type or "", (ErrorKind.UPSTREAM, False))
    message = exc.api_message or exc.type or "unknown error"
    return ProviderError(
        f"Anthropic failed while answering ({exc.type}): {message}",
        kind=kind,
        retryable=retryable,
    )


def _detail(exc: anthropic.APIStatusError) -> str:
    parts = [part for part in (exc.type, exc.api_message, exc.error_code) if part]
    return " ".join(parts) if parts else str(exc)


def _input_tokens(usage: Any) -> int:
    return (
        (usage.input_tokens or 0)
        + (getattr(usage, "cache_creation_input_tokens", None) or 0)
        + (getattr(usage, "cache_read_input_tokens", None) or 0)
    )
