"""Provider.stream's retries: what is retried, how often, and what is not waited for."""

from __future__ import annotations

from chat.providers.base import (
    ErrorKind,
    GenerationOptions,
    ModelInfo,
    Provider,
    ProviderError,
    StreamEvent,
)
from tests.chat.providers.collect import collect


class FailingThenAnswering(Provider):
    """Raise the queued errors, one per attempt, then answer."""

    name = "scripted"

    def __init__(self, errors: list[ProviderError], **kwargs) -> None:
        super().__init__(backoff_base=0.01, **kwargs)
        self.errors = errors
        self.attempts = 0

    async def _stream(self, *, model, messages, options: GenerationOptions):
        self.attempts += 1
        if self.errors:
            raise self.errors.pop(0)
        yield StreamEvent(type="token", text="ok")

    async def list_models(self) -> list[ModelInfo]:
        return []


def rate_limited(retry_after: float) -> ProviderError:
    return ProviderError(
        "slow down", kind=ErrorKind.RATE_LIMITED, retryable=True, retry_after=retry_after
    )


async def test_a_short_retry_after_is_waited_for_then_retried():
    provider = FailingThenAnswering([rate_limited(0.2)], max_retries=1)

    result = await collect(provider, model="m")

    assert result.error is None and result.text == "ok"
    assert provider.attempts == 2
    assert result.elapsed >= 0.2


async def test_a_retry_after_beyond_backoff_max_is_raised_at_once():
    provider = FailingThenAnswering([rate_limited(30)], max_retries=3, backoff_max=8.0)

    result = await collect(provider, model="m")

    assert result.error.retry_after == 30
    assert provider.attempts == 1
    assert result.elapsed < 1


async def test_a_non_retryable_error_is_raised_at_once():
    provider = FailingThenAnswering(
        [ProviderError("no", kind=ErrorKind.AUTHENTICATION)], max_retries=3
    )

    result = await collect(provider, model="m")

    assert result.error.kind is ErrorKind.AUTHENTICATION
    assert provider.attempts == 1
