"""The provider contract, and the timeouts and retries every provider gets for free.

A provider turns a list of `PromptMessage` into an async stream of `StreamEvent`: `token` events
in order, at most one `usage`, then `done`. Any failure is a `ProviderError` whose `kind` says what
went wrong and whose `retryable` says whether asking again could help. Subclasses implement
`_stream` (one attempt, no retries) and `list_models`; `stream` wraps `_stream` with the connect,
first-token and silence timeouts and with retries that only happen before the first token.
"""

from __future__ import annotations

import asyncio
import enum
import random
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import structlog

log = structlog.get_logger(__name__)


class ErrorKind(enum.StrEnum):
    AUTHENTICATION = "authentication"
    UNKNOWN_MODEL = "unknown_model"
    RATE_LIMITED = "rate_limited"
    CONTEXT_TOO_LONG = "context_too_long"
    UNAVAILABLE = "unavailable"
    TIMEOUT = "timeout"
    BAD_REQUEST = "bad_request"
    UPSTREAM = "upstream"


class ProviderError(Exception):
    """A provider failed. `retryable` says whether the same request may succeed later.

    `partial` is set by `Provider.stream` when tokens had already been yielded: the caller keeps
    them (the reply is `interrupted`), and the request is never retried automatically.
    """

    def __init__(
        self,
        message: str,
        *,
        kind: ErrorKind = ErrorKind.UPSTREAM,
        retryable: bool = False,
        retry_after: float | None = None,
        partial: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = ErrorKind(kind)
        self.retryable = retryable
        self.retry_after = retry_after
        self.partial = partial

    def __repr__(self) -> str:
        return (
            f"ProviderError({self.message!r}, kind={self.kind.value}, "
            f"retryable={self.retryable}, retry_after={self.retry_after}, partial={self.partial})"
        )


@dataclass(frozen=True)
class Usage:
    input_tokens: int
    output_tokens: int
    estimated: bool = False


@dataclass(frozen=True)
class StreamEvent:
    """One thing the model said: a token, the usage, or the end."""

    type: Literal["token", "usage", "done"]
    text: str = ""
    usage: Usage | None = None


@dataclass(frozen=True)
class ImageInput:
    """An image sent with a message, already validated: raw bytes and their media type."""

    media_type: Literal["image/png", "image/jpeg", "image/webp"]
    data_base64: str

    @property
    def data_url(self) -> str:
        return f"data:{self.media_type};base64,{self.data_base64}"


@dataclass(frozen=True)
class PromptMessage:
    role: Literal["system", "user", "assistant"]
    content: str
    images: tuple[ImageInput, ...] = ()


@dataclass(frozen=True)
class GenerationOptions:
    """Sampling options. `extra` carries provider-specific ones (top_k, repeat_penalty, ...)."""

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data = {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "stop": list(self.stop),
            "seed": self.seed,
            **dict(self.extra),
        }
        return {k: v for k, v in data.items() if v not in (None, [])}


@dataclass(frozen=True)
class Timeouts:
    connect: float = 5.0
    first_token: float = 30.0
    idle: float = 20.0


@dataclass(frozen=True)
class ModelInfo:
    id: str
    owned_by: str = ""


@dataclass(frozen=True)
class ProviderHealth:
    reachable: bool
    models_available: int = 0
    detail: str = ""


def estimate_tokens(text: str) -> int:
    """Roughly count tokens (about four characters each) when a server reports no usage."""
    return max(1, (len(text) + 3) // 4) if text else 0


class Provider(ABC):
    """A source of streamed completions. Subclasses set `name` and implement `_stream`."""

    name: ClassVar[str]

    def __init__(
        self,
        *,
        timeouts: Timeouts | None = None,
        max_retries: int = 2,
        backoff_base: float = 0.5,
        backoff_max: float = 8.0,
    ) -> None:
        self.timeouts = timeouts or Timeouts()
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max

    @abstractmethod
    def _stream(
        self, *, model: str, messages: list[PromptMessage], options: GenerationOptions
    ) -> AsyncIterator[StreamEvent]:
        """Make one attempt. Yield tokens, then usage if known. Raise ProviderError on failure."""

    @abstractmethod
    async def list_models(self) -> list[ModelInfo]:
        """Return the models this provider offers. Raise ProviderError when unreachable."""

    async def health(self) -> ProviderHealth:
        try:
            models = await asyncio.wait_for(self.list_models(), timeout=self.timeouts.connect + 1)
        except ProviderError as exc:
            return ProviderHealth(reachable=False, detail=exc.message)
        except TimeoutError:
            return ProviderHealth(reachable=False, detail="timed out")
        return ProviderHealth(reachable=True, models_available=len(models))

    @classmethod
    def from_settings(cls, *, api_key: str = "", base_url: str = "") -> Provider:
        """Build the provider from Django settings (keys, base URLs, timeouts); providers that
        take a key or a base URL let the given ones override the settings'."""
        from django.conf import settings

        return cls(
            timeouts=Timeouts(**settings.CHAT_TIMEOUTS), max_retries=settings.CHAT_MAX_RETRIES
        )

    async def aclose(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release connections. Safe to call more than once."""

    async def stream(
        self, *, model: str, messages: list[PromptMessage], options: GenerationOptions
    ) -> AsyncIterator[StreamEvent]:
        """Yield events in order, ending with `done`. Raise ProviderError on any failure.

        A failure before the first token is retried (exponential backoff with full jitter, at
        most `max_retries` times) when the error is retryable and any `retry_after` it asks
        for is within `backoff_max`; after the first token it is raised with `partial=True`.
        """
        attempt = 0
        while True:
            sent_token = False
            try:
                async for event in self._guarded(model=model, messages=messages, options=options):
                    if event.type == "token":
                        sent_token = True
                    yield event
                yield StreamEvent(type="done")
                return
            except ProviderError as exc:
                if sent_token:
                    exc.partial = True
                    raise
                if not exc.retryable or attempt >= self.max_retries:
                    raise
                if exc.retry_after is not None and exc.retry_after > self.backoff_max:
                    # Waiting that long in silence would look like a hang: the caller tells
                    # the person when to come back (rate_limited with retry_after) instead.
                    raise
                delay = self._backoff(attempt, exc.retry_after)
                log.warning(
                    "provider_retry",
                    provider=self.name,
                    model=model,
                    attempt=attempt + 1,
                    kind=exc.kind.value,
                    delay_s=round(delay, 3),
                )
                attempt += 1
                await asyncio.sleep(delay)

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        ceiling = min(self.backoff_max, self.backoff_base * (2**attempt))
        delay = random.uniform(0, ceiling)  # noqa: S311 - jitter, not cryptography
        if retry_after is not None:
            delay = max(delay, retry_after)
        return delay

    async def _guarded(
        self, *, model: str, messages: list[PromptMessage], options: GenerationOptions
    ) -> AsyncIterator[StreamEvent]:
        """Run one attempt under the first-token and silence timeouts."""
        events = aiter(self._stream(model=model, messages=messages, options=options))
        started = time.monotonic()
        first = True
        try:
            while True:
                limit = self.timeouts.first_token if first else self.timeouts.idle
                try:
                    # asyncio.timeout, not wait_for: no task created for every token.
                    async with asyncio.timeout(limit):
                        event = await anext(events)
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    what = "the first token" if first else "the next token"
                    raise ProviderError(
                        f"{self.name} sent nothing for {limit:g} s while waiting for {what}.",
                        kind=ErrorKind.TIMEOUT,
                        retryable=True,
                    ) from None
                if event.type == "token":
                    first = False
                yield event
        finally:
            await _aclose(events)
            log.debug("provider_attempt_closed", provider=self.name, s=time.monotonic() - started)


async def _aclose(iterator: Any) -> None:
    close = getattr(iterator, "aclose", None)
    if close is not None:
        try:
            await close()
        except Exception:  # noqa: BLE001 - closing a broken stream must not mask the real error
            log.debug("provider_stream_close_failed", exc_info=True)
